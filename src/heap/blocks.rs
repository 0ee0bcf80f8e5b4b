//! Blocks: runs of 2^k pages, from a buddy allocator kept as a tree of bytes.
//!
//! The heap's `2^depth` pages are the leaves of a complete binary tree; node `n` (the
//! root is 1, the children of `n` are `2n` and `2n + 1`) stands for the block of
//! `2^order` pages below it. Each node holds one byte: how far its subtree is from
//! wholly free, so that the heap's zero pages are a wholly free tree that costs nothing
//! until used, and only the paths that allocations take are ever touched (two bytes per
//! page of the heap at most: 512 MiB of address space for a 1 TiB heap, a few pages of
//! memory for a program of a few blocks). A node's "free order" is that of the largest
//! free block below it, plus one (0: none).
//!
//! Allocating walks down from the root to a free node of the order asked for, choosing
//! the child with the smaller sufficient free order (best fit, which keeps large blocks
//! whole), marks it taken and updates its ancestors; freeing marks it free and updates
//! them, merging buddies that are both wholly free. No free lists: nothing is stored in
//! the free blocks themselves, which are given back to the kernel (`MADV_REMOVE`) and
//! cost no memory. Each step changes at most `depth + 1` bytes, through the journal.

use super::Meta;

/// The tree of a heap of `2^depth` pages, its node bytes at heap offset `at` (node `n`
/// at `at + n`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Tree {
    at: u64,
    depth: u32,
}

impl Tree {
    pub(super) fn new(at: u64, depth: u32) -> Tree {
        Tree { at, depth }
    }

    /// The log2 of the number of pages.
    pub(super) fn depth(&self) -> u32 {
        self.depth
    }

    /// Bytes the nodes of a tree of `2^depth` leaves take (node 0 is unused).
    pub(super) fn bytes(depth: u32) -> u64 {
        2 << depth
    }

    fn level(n: u64) -> u32 {
        63 - n.leading_zeros()
    }

    /// The free order of a wholly free node `n`.
    fn whole(&self, n: u64) -> u8 {
        (self.depth - Tree::level(n) + 1) as u8
    }

    /// The free order of node `n` (the byte holds how much less than whole it is).
    fn free_order(&self, meta: &Meta, n: u64) -> u8 {
        self.whole(n).saturating_sub(meta.byte(self.at + n))
    }

    fn set_free_order(&self, meta: &Meta, n: u64, order: u8) {
        meta.set_byte(self.at + n, self.whole(n) - order);
    }

    /// Takes a free block of `2^order` pages; its first page, or `None` if there is none.
    pub(super) fn alloc(&self, meta: &Meta, order: u32) -> Option<u64> {
        let need = u8::try_from(order + 1).ok()?;
        if order > self.depth || self.free_order(meta, 1) < need {
            return None;
        }
        let mut n = 1;
        for _ in order..self.depth {
            let (left, right) = (2 * n, 2 * n + 1);
            let (l, r) = (self.free_order(meta, left), self.free_order(meta, right));
            n = match (l >= need, r >= need) {
                (true, true) if r < l => right,
                (true, _) => left,
                (false, true) => right,
                // The parent said one of them had room: never, unless the tree is corrupt.
                (false, false) => return None,
            };
        }
        self.set_free_order(meta, n, 0);
        self.update_ancestors(meta, n);
        Some((n - (1 << Tree::level(n))) << order)
    }

    /// Whether the block of `2^order` pages at `page` is one that [`alloc`](Tree::alloc)
    /// gave and that is not free yet: its node is taken, and wholly free below (a node
    /// taken because its children are has taken children).
    pub(super) fn is_taken(&self, meta: &Meta, page: u64, order: u32) -> bool {
        let Some(n) = self.node(page, order) else {
            return false;
        };
        self.free_order(meta, n) == 0
            && (order == 0
                || (self.free_order(meta, 2 * n) == self.whole(2 * n)
                    && self.free_order(meta, 2 * n + 1) == self.whole(2 * n + 1)))
    }

    /// Frees a block [`is_taken`](Tree::is_taken) says was allocated.
    pub(super) fn free(&self, meta: &Meta, page: u64, order: u32) {
        if let Some(n) = self.node(page, order) {
            self.set_free_order(meta, n, self.whole(n));
            self.update_ancestors(meta, n);
        }
    }

    /// The node of the block of `2^order` pages at `page`, if that is a block.
    fn node(&self, page: u64, order: u32) -> Option<u64> {
        let level = self.depth.checked_sub(order)?;
        let index = page >> order;
        (page % (1 << order) == 0 && index < 1 << level).then_some((1 << level) + index)
    }

    /// Recomputes the free orders above `n`, up to the first that does not change.
    fn update_ancestors(&self, meta: &Meta, mut n: u64) {
        while n > 1 {
            let parent = n / 2;
            let (left, right) = (2 * parent, 2 * parent + 1);
            let (l, r) = (self.free_order(meta, left), self.free_order(meta, right));
            let whole = self.whole(left);
            let order = match l == whole && r == whole {
                true => self.whole(parent),
                false => l.max(r),
            };
            if self.free_order(meta, parent) == order {
                return;
            }
            self.set_free_order(meta, parent, order);
            n = parent;
        }
    }

    /// For tests: whether every node agrees with its children.
    #[cfg(test)]
    pub(super) fn check(&self, meta: &Meta) {
        for n in (1..1u64 << self.depth).rev() {
            let (l, r) = (
                self.free_order(meta, 2 * n),
                self.free_order(meta, 2 * n + 1),
            );
            let whole = self.whole(2 * n);
            let order = self.free_order(meta, n);
            let merged = match l == whole && r == whole {
                true => self.whole(n),
                false => l.max(r),
            };
            // A taken block's node is 0 above its (wholly free) children.
            let taken = order == 0 && l == whole && r == whole;
            assert!(
                order == merged || taken,
                "node {n}: {order}, children {l} {r}"
            );
        }
    }
}
