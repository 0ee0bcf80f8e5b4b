//! Unfolding the graph into a [`Value`] tree at `STOP`: without recursion, under the size
//! budget and the depth limit, refusing structures that contain themselves. A node
//! referenced more than once is copied for every reference but the last, which takes it:
//! a graph without sharing is moved into the tree, never copied.

use std::mem;

use super::graph::{Id, Kind, Node};
use super::{Reader, MAX_DEPTH};
use crate::error::Result;
use crate::managers::pickle::Value;

/// A composite node being unfolded: its children unfolded so far are the values above
/// `base` on the one value stack that every frame shares (so a node costs no vector of
/// its own until it becomes a [`Value`]).
pub(super) struct Frame {
    id: Id,
    kind: Kind,
    children: Vec<Id>,
    base: usize,
    /// Size in units of the node and its children unfolded so far.
    size: usize,
}

impl Reader<'_> {
    /// Unfolds the graph from `root` into a tree, with explicit stacks of frames and values.
    pub(super) fn unfold(&mut self, root: Id) -> Result<Value> {
        self.slots[root].refs += 1;
        // The size of the value `visit` or `release` just pushed, if it pushed one.
        let mut pushed = self.visit(root)?;
        while let Some(frame) = self.frames.last_mut() {
            if let Some(size) = pushed {
                frame.size = frame.size.saturating_add(size);
            }
            pushed = match frame.children.get(self.values.len() - frame.base).copied() {
                Some(child) => self.visit(child)?,
                None => Some(self.release()?),
            };
        }
        match (self.values.pop(), self.values.is_empty()) {
            (Some(value), true) => Ok(value),
            _ => Err(self.error("internal: not one value unfolded")),
        }
    }

    /// Starts unfolding node `id`: pushes its value and returns its size, or opens a frame.
    fn visit(&mut self, id: Id) -> Result<Option<usize>> {
        match &self.slots[id].node {
            Node::Done(_, size) => {
                let size = *size;
                self.charge(size)?;
                let slot = &mut self.slots[id];
                slot.refs = slot.refs.saturating_sub(1);
                let value = match &slot.node {
                    Node::Done(value, _) if slot.refs > 0 => value.clone(),
                    _ => match mem::replace(&mut slot.node, Node::Gone) {
                        Node::Done(value, _) => value,
                        _ => return Err(self.error("internal: node lost")),
                    },
                };
                self.values.push(value);
                Ok(Some(size))
            }
            Node::Composite(..) => {
                if self.frames.len() >= MAX_DEPTH {
                    return Err(self.error(&format!("nesting deeper than {MAX_DEPTH}")));
                }
                self.charge(1)?;
                let Node::Composite(kind, children) =
                    mem::replace(&mut self.slots[id].node, Node::Busy)
                else {
                    return Err(self.error("internal: node lost"));
                };
                self.frames.push(Frame {
                    id,
                    kind,
                    children,
                    base: self.values.len(),
                    size: 1,
                });
                Ok(None)
            }
            Node::Busy => Err(self.error("recursive structure")),
            Node::Gone => Err(self.error("internal: node used after its last reference")),
        }
    }

    /// Finishes the innermost frame: its children's values become its value, pushed in
    /// their place; a node referenced again keeps a copy for those references. Returns
    /// its size.
    fn release(&mut self) -> Result<usize> {
        let frame = self
            .frames
            .pop()
            .ok_or_else(|| self.error("internal: no frame"))?;
        let value = assemble(frame.kind, self.values, frame.base)
            .ok_or_else(|| self.error("internal: wrong number of children"))?;
        self.give_back(frame.children);
        let slot = &mut self.slots[frame.id];
        slot.refs = slot.refs.saturating_sub(1);
        slot.node = if slot.refs > 0 {
            Node::Done(value.clone(), frame.size)
        } else {
            Node::Gone
        };
        self.values.push(value);
        Ok(frame.size)
    }
}

/// The value of a composite node from its children's values, taken off `values` above
/// `base`.
fn assemble(kind: Kind, values: &mut Vec<Value>, base: usize) -> Option<Value> {
    Some(match kind {
        Kind::Tuple => Value::Tuple(split_exact(values, base)),
        Kind::List => Value::List(split_exact(values, base)),
        Kind::Set => Value::Set(split_exact(values, base)),
        Kind::FrozenSet => Value::FrozenSet(split_exact(values, base)),
        Kind::Dict => {
            let mut items = values.drain(base..);
            let mut pairs = Vec::with_capacity(items.len() / 2);
            while let (Some(key), Some(value)) = (items.next(), items.next()) {
                pairs.push((key, value));
            }
            Value::Dict(pairs)
        }
        Kind::Reduce | Kind::NewObj | Kind::NewObjEx | Kind::Build => {
            let mut items = values.drain(base..);
            let mut next = || items.next().map(Box::new);
            match kind {
                Kind::Reduce => Value::Reduce(next()?, next()?),
                Kind::NewObj => Value::NewObj(next()?, next()?),
                Kind::NewObjEx => Value::NewObjEx(next()?, next()?, next()?),
                _ => Value::Build(next()?, next()?),
            }
        }
    })
}

/// The values above `base`, moved into a vector of their exact size.
fn split_exact(values: &mut Vec<Value>, base: usize) -> Vec<Value> {
    if base > 0 {
        return values.split_off(base);
    }
    // `split_off(0)` would hand over the whole buffer, room and all.
    let mut all = Vec::with_capacity(values.len());
    all.append(values);
    all
}
