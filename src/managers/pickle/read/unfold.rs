//! Unfolding the graph into a [`Value`] tree at `STOP`: without recursion, under the size
//! budget and the depth limit, refusing structures that contain themselves. A node
//! referenced more than once is copied for every reference but the last.

use std::mem;

use super::graph::{Id, Kind, Node};
use super::{Reader, MAX_DEPTH};
use crate::error::Result;
use crate::managers::pickle::Value;

/// A composite node being unfolded into a [`Value`].
struct Frame {
    id: Id,
    kind: Kind,
    children: Vec<Id>,
    done: Vec<Value>,
    /// Size in units of the node and its children unfolded so far.
    size: usize,
}

impl Reader<'_> {
    /// Unfolds the graph from `root` into a tree, with an explicit stack of frames.
    pub(super) fn unfold(&mut self, root: Id) -> Result<Value> {
        self.slots[root].refs += 1;
        let mut frames: Vec<Frame> = Vec::new();
        let mut finished = self.visit(root, &mut frames)?;
        loop {
            if let Some((value, size)) = finished.take() {
                let Some(parent) = frames.last_mut() else {
                    return Ok(value);
                };
                parent.done.push(value);
                parent.size = parent.size.saturating_add(size);
            }
            let Some(frame) = frames.last_mut() else {
                return Err(self.error("internal: nothing to unfold"));
            };
            if let Some(&child) = frame.children.get(frame.done.len()) {
                finished = self.visit(child, &mut frames)?;
            } else if let Some(frame) = frames.pop() {
                finished = Some(self.release(frame)?);
            }
        }
    }

    /// Starts unfolding node `id`: a finished value, or a new frame for a composite.
    fn visit(&mut self, id: Id, frames: &mut Vec<Frame>) -> Result<Option<(Value, usize)>> {
        match &self.slots[id].node {
            Node::Done(_, size) => {
                let size = *size;
                self.charge(size)?;
                let slot = &mut self.slots[id];
                slot.refs = slot.refs.saturating_sub(1);
                if slot.refs > 0 {
                    if let Node::Done(value, _) = &slot.node {
                        return Ok(Some((value.clone(), size)));
                    }
                } else if let Node::Done(value, _) = mem::replace(&mut slot.node, Node::Gone) {
                    return Ok(Some((value, size)));
                }
                Err(self.error("internal: node lost"))
            }
            Node::Composite(..) => {
                if frames.len() >= MAX_DEPTH {
                    return Err(self.error(&format!("nesting deeper than {MAX_DEPTH}")));
                }
                self.charge(1)?;
                let Node::Composite(kind, children) =
                    mem::replace(&mut self.slots[id].node, Node::Busy)
                else {
                    return Err(self.error("internal: node lost"));
                };
                frames.push(Frame {
                    id,
                    kind,
                    done: Vec::with_capacity(children.len()),
                    children,
                    size: 1,
                });
                Ok(None)
            }
            Node::Busy => Err(self.error("recursive structure")),
            Node::Gone => Err(self.error("internal: node used after its last reference")),
        }
    }

    /// Finishes a frame; a node referenced again keeps a copy for those references.
    fn release(&mut self, frame: Frame) -> Result<(Value, usize)> {
        let value = assemble(frame.kind, frame.done)
            .ok_or_else(|| self.error("internal: wrong number of children"))?;
        let slot = &mut self.slots[frame.id];
        slot.refs = slot.refs.saturating_sub(1);
        slot.node = if slot.refs > 0 {
            Node::Done(value.clone(), frame.size)
        } else {
            Node::Gone
        };
        Ok((value, frame.size))
    }
}

/// The value of a composite node from its unfolded children.
fn assemble(kind: Kind, children: Vec<Value>) -> Option<Value> {
    let mut items = children.into_iter();
    match kind {
        Kind::Tuple => return Some(Value::Tuple(items.collect())),
        Kind::List => return Some(Value::List(items.collect())),
        Kind::Set => return Some(Value::Set(items.collect())),
        Kind::FrozenSet => return Some(Value::FrozenSet(items.collect())),
        Kind::Dict => {
            let mut pairs = Vec::with_capacity(items.len() / 2);
            while let (Some(key), Some(value)) = (items.next(), items.next()) {
                pairs.push((key, value));
            }
            return Some(Value::Dict(pairs));
        }
        _ => {}
    }
    let mut next = || items.next().map(Box::new);
    Some(match kind {
        Kind::Reduce => Value::Reduce(next()?, next()?),
        Kind::NewObj => Value::NewObj(next()?, next()?),
        Kind::NewObjEx => Value::NewObjEx(next()?, next()?, next()?),
        _ => Value::Build(next()?, next()?),
    })
}
