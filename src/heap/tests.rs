use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;

use super::journal::STOP_AFTER;
use super::*;

const MIB: usize = 1 << 20;

/// A heap of its own for one test (the lineage's is shared by all tests of the process).
fn heap(len: usize) -> Heap {
    Heap::new(len).unwrap()
}

impl Heap {
    /// Asserts that the block tree and the slab lists agree with themselves.
    fn check(&self) {
        self.update(|meta| {
            self.tree.check(meta);
            slabs::check(meta);
            Ok(())
        })
        .unwrap();
    }

    /// Every byte after the lock and the journal: what an undone update must leave as it
    /// found.
    fn snapshot(&self) -> Vec<u8> {
        let from = offset_of!(Header, slabs_with_room);
        // SAFETY: the whole mapping, read while no update runs.
        unsafe { std::slice::from_raw_parts(self.ptr(from as u64), self.len() - from) }.to_vec()
    }
}

/// Runs `child` in a forked child, which leaves by `_exit` with what it returns.
fn fork(child: impl FnOnce() -> i32) -> libc::pid_t {
    // SAFETY: the child runs `child` and leaves at once.
    match unsafe { libc::fork() } {
        0 => {
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(child)).unwrap_or(99);
            // SAFETY: leave the forked test child at once.
            unsafe { libc::_exit(code) }
        }
        pid => pid,
    }
}

/// Waits for `pid` to end or stop; its wait status.
fn wait(pid: libc::pid_t) -> libc::c_int {
    let mut status = 0;
    assert_eq!(
        // SAFETY: our own child.
        unsafe { libc::waitpid(pid, &mut status, libc::WUNTRACED) },
        pid
    );
    status
}

fn exited_ok(status: libc::c_int) -> bool {
    libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
}

fn fill(heap: &Heap, offset: u64, len: usize, byte: u8) {
    // SAFETY: a block or object of at least `len` bytes this test owns.
    unsafe { heap.ptr(offset).write_bytes(byte, len) };
}

fn is_all(heap: &Heap, offset: u64, len: usize, byte: u8) -> bool {
    // SAFETY: as in `fill`.
    unsafe { std::slice::from_raw_parts(heap.ptr(offset), len) }
        .iter()
        .all(|b| *b == byte)
}

#[test]
fn blocks_are_aligned_zeroed_disjoint_and_reused() {
    let heap = heap(64 * MIB);
    let page = shm::page_size();
    let lens = [1, page, page + 1, 3 * page, 64 << 10, MIB, 5 * MIB];
    let take = |stamp: u8| -> BTreeMap<u64, (usize, usize)> {
        let mut taken = BTreeMap::new();
        for len in lens {
            let offset = heap.alloc(len).unwrap();
            let size = len.div_ceil(page).next_power_of_two() * page;
            assert_eq!(offset % size as u64, 0, "{len} bytes at {offset:#x}");
            assert!(is_all(&heap, offset, size, 0), "a new block is zeroed");
            fill(&heap, offset, len, stamp);
            taken.insert(offset, (len, size));
        }
        let mut end = 0;
        for (offset, (len, size)) in &taken {
            assert!(*offset >= end, "blocks overlap at {offset:#x}");
            assert!(is_all(&heap, *offset, *len, stamp));
            end = offset + *size as u64;
        }
        heap.check();
        taken
    };
    let first = take(1);
    for (offset, (len, _)) in &first {
        heap.free(*offset, *len).unwrap();
    }
    heap.check();
    let again = take(2);
    assert_eq!(
        first.keys().collect::<Vec<_>>(),
        again.keys().collect::<Vec<_>>(),
        "reused"
    );
    for (offset, (_, size)) in again {
        heap.free(offset, size).unwrap();
    }
    heap.check();
    // Everything merged back: the half after the metadata's is one free block.
    assert_eq!(heap.alloc(32 * MIB).unwrap(), 32 * MIB as u64);
}

#[test]
fn bad_frees_and_a_full_heap_are_errors() {
    let heap = heap(16 * MIB);
    let page = shm::page_size();
    let offset = heap.alloc(2 * page).unwrap();
    for (at, len) in [
        (offset, page),
        (offset + page as u64, page),
        (offset + 1, 2 * page),
    ] {
        let err = heap.free(at, len).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    }
    assert_eq!(
        heap.free(1 << 40, page).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    heap.free(offset, 2 * page).unwrap();
    let err = heap.free(offset, 2 * page).unwrap_err();
    assert!(err.message().contains("no block of"), "{err}");

    let err = heap.alloc(32 * MIB).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoMemory);
    assert!(
        err.message()
            .contains("has no free block of 33554432 bytes"),
        "{err}"
    );
    let slab = slabs::SLAB as usize;
    let mut blocks = Vec::new();
    let err = loop {
        match heap.alloc(slab) {
            Ok(offset) => blocks.push(offset),
            Err(err) => break err,
        }
    };
    assert_eq!(err.kind(), ErrorKind::NoMemory, "{err}");
    assert_eq!(blocks.len(), 16 * MIB / slab - 1, "all but the metadata's");
    let err = heap.alloc_small(slabs::MIN_CLASS).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoMemory, "{err}");
    for offset in blocks {
        heap.free(offset, slab).unwrap();
    }
    heap.check();
}

#[test]
fn small_objects_fill_slabs_and_give_them_back() {
    let heap = heap(16 * MIB);
    for class in slabs::MIN_CLASS..=slabs::MAX_CLASS {
        let size = 1u64 << class;
        let count = 2 * (slabs::SLAB / size) as usize + 3;
        let objects: Vec<u64> = (0..count)
            .map(|_| heap.alloc_small(class).unwrap())
            .collect();
        let mut sorted = objects.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), count);
        for pair in sorted.windows(2) {
            assert!(pair[1] - pair[0] >= size, "class {class}: objects overlap");
        }
        for (i, offset) in objects.iter().enumerate() {
            assert_eq!(offset % size, 0, "class {class}: aligned to its size");
            assert!(is_all(&heap, *offset, size as usize, 0));
            fill(&heap, *offset, size as usize, i as u8 | 1);
        }
        heap.check();
        // A freed object is zeroed and is the next one given.
        heap.free_small(objects[5], class).unwrap();
        assert_eq!(heap.alloc_small(class).unwrap(), objects[5]);
        assert!(is_all(&heap, objects[5], size as usize, 0));
        let err = heap.free_small(objects[0] + 8, class).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
        for offset in &objects {
            heap.free_small(*offset, class).unwrap();
        }
        assert_eq!(
            heap.free_small(objects[1], class).unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
        heap.check();
    }
    // Each class keeps at most its one empty slab; every other block went back.
    let slabs = 16 * MIB / slabs::SLAB as usize - 1 - slabs::CLASSES;
    let blocks: Vec<u64> = (0..slabs)
        .map(|_| heap.alloc(slabs::SLAB as usize).unwrap())
        .collect();
    for offset in blocks {
        heap.free(offset, slabs::SLAB as usize).unwrap();
    }
    heap.check();
}

#[test]
fn processes_allocate_and_free_each_others_blocks() {
    let heap = heap(64 * MIB);
    let page = shm::page_size();
    // The parent's blocks, then a block where the child leaves the offsets of its own.
    let parents: Vec<u64> = (0..20)
        .map(|i| heap.alloc((i % 4 + 1) * page).unwrap())
        .collect();
    let list = heap.alloc(page).unwrap();
    let pid = fork(|| {
        for (i, offset) in parents.iter().enumerate().step_by(2) {
            heap.free(*offset, (i % 4 + 1) * page).unwrap();
        }
        let out = heap.ptr(list).cast::<u64>();
        for i in 0..64 {
            let offset = match i % 2 {
                0 => heap.alloc_small(slabs::MIN_CLASS + i % 7).unwrap(),
                _ => heap.alloc(3 * page).unwrap(),
            };
            // SAFETY: inside the list's page.
            unsafe { out.add(i as usize).write(offset) };
        }
        0
    });
    assert!(exited_ok(wait(pid)));
    for (i, offset) in parents.iter().enumerate().skip(1).step_by(2) {
        heap.free(*offset, (i % 4 + 1) * page).unwrap();
    }
    for i in 0..64u32 {
        // SAFETY: written by the child.
        let offset = unsafe { heap.ptr(list).cast::<u64>().add(i as usize).read() };
        match i % 2 {
            0 => heap.free_small(offset, slabs::MIN_CLASS + i % 7).unwrap(),
            _ => heap.free(offset, 3 * page).unwrap(),
        }
    }
    heap.free(list, page).unwrap();
    heap.check();
}

#[test]
fn processes_and_threads_allocate_at_once_without_overlap() {
    let heap = heap(64 * MIB);
    // Each worker stamps its objects and blocks and checks the stamp before freeing them.
    let work = |stamp: u8| {
        let page = shm::page_size();
        let mut held = Vec::new();
        for round in 0..2000usize {
            let (offset, len) = match round % 3 {
                0 => (heap.alloc(page * (round % 5 + 1)).unwrap(), page),
                _ => (
                    heap.alloc_small(slabs::MIN_CLASS + (round % 4) as u32)
                        .unwrap(),
                    64,
                ),
            };
            fill(&heap, offset, len, stamp);
            held.push((round, offset, len));
            if round % 4 == 3 {
                for (round, offset, len) in held.drain(..) {
                    assert!(is_all(&heap, offset, len, stamp), "overwritten by another");
                    match round % 3 {
                        0 => heap.free(offset, page * (round % 5 + 1)).unwrap(),
                        _ => heap
                            .free_small(offset, slabs::MIN_CLASS + (round % 4) as u32)
                            .unwrap(),
                    }
                }
            }
        }
    };
    let child = fork(|| {
        std::thread::scope(|s| {
            s.spawn(|| work(3));
            work(4);
        });
        0
    });
    std::thread::scope(|s| {
        s.spawn(|| work(1));
        work(2);
    });
    assert!(exited_ok(wait(child)));
    heap.check();
}

/// Stops a child at each step of `op` (one update, after `setup` in a fresh heap) in
/// turn, kills it there, and checks that the parent finds the heap as it was before `op`
/// and can still do `op` itself.
fn survives_a_kill_at_every_step<T: Copy>(setup: impl Fn(&Heap) -> T, op: impl Fn(&Heap, T)) {
    let heap = heap(16 * MIB);
    let arg = setup(&heap);
    let before = heap.snapshot();
    for step in 1.. {
        let pid = fork(|| {
            STOP_AFTER.store(step, Relaxed);
            op(&heap, arg);
            0
        });
        let status = wait(pid);
        if exited_ok(status) {
            assert!(step > 3, "the update took {} steps", step - 1);
            return;
        }
        assert!(libc::WIFSTOPPED(status), "step {step}: status {status:#x}");
        // SAFETY: our own stopped child.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        assert!(libc::WIFSIGNALED(wait(pid)));
        heap.check();
        assert!(heap.snapshot() == before, "step {step}: the heap changed");
        op(&heap, arg);
        heap.check();
        restore(&heap, &before);
    }
}

/// Puts `snapshot` back (while no update runs).
fn restore(heap: &Heap, snapshot: &[u8]) {
    let from = offset_of!(Header, slabs_with_room) as u64;
    // SAFETY: the range `snapshot` was read from.
    unsafe { std::ptr::copy_nonoverlapping(snapshot.as_ptr(), heap.ptr(from), snapshot.len()) };
}

#[test]
fn a_kill_while_making_a_slab_leaves_the_heap_whole() {
    survives_a_kill_at_every_step(
        |_| (),
        |heap, ()| {
            heap.alloc_small(slabs::MIN_CLASS).unwrap();
        },
    );
}

#[test]
fn a_kill_while_giving_a_slab_back_leaves_the_heap_whole() {
    // A full slab and an empty one (kept: the only one with room). Freeing from the full
    // one lists it and gives the empty one back.
    let capacity = (slabs::SLAB / 64 - 4) as usize;
    survives_a_kill_at_every_step(
        |heap| {
            let objects: Vec<u64> = (0..=capacity)
                .map(|_| heap.alloc_small(slabs::MIN_CLASS).unwrap())
                .collect();
            heap.free_small(objects[capacity], slabs::MIN_CLASS)
                .unwrap();
            objects[0]
        },
        |heap, object| heap.free_small(object, slabs::MIN_CLASS).unwrap(),
    );
}

#[test]
fn a_kill_while_taking_a_block_leaves_the_heap_whole() {
    survives_a_kill_at_every_step(
        |heap| {
            heap.alloc(MIB).unwrap();
        },
        |heap, ()| {
            heap.alloc(3 * MIB).unwrap();
        },
    );
}

#[test]
fn a_kill_while_freeing_a_block_leaves_the_heap_whole() {
    survives_a_kill_at_every_step(
        |heap| heap.alloc(3 * MIB).unwrap(),
        |heap, offset| heap.free(offset, 3 * MIB).unwrap(),
    );
}

#[test]
fn the_deepest_heap_fits_its_updates_in_the_journal() {
    // 1 TiB of address space, touched only along the paths used.
    let heap = heap(MOST);
    let page = shm::page_size();
    let small: Vec<u64> = (0..1100)
        .map(|_| heap.alloc_small(slabs::MIN_CLASS).unwrap())
        .collect();
    let block = heap.alloc(page).unwrap();
    // The last slab empties first and stays; the first slab's first free lists it and
    // gives the empty one back.
    for offset in small.iter().rev() {
        heap.free_small(*offset, slabs::MIN_CLASS).unwrap();
    }
    heap.free(block, page).unwrap();
    let most = journal::MOST.load(Relaxed) as usize;
    assert!(
        most <= journal::CAPACITY,
        "{most} entries at depth {}",
        heap.tree.depth()
    );
}
