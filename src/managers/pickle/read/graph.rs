//! The graph a pickle builds: an arena of shared, mutable nodes, the machine's stack of
//! node ids, and Python's memo.

use std::collections::BTreeMap;

use super::Reader;
use crate::error::Result;
use crate::managers::pickle::Value;

/// An index into the reader's arena of nodes.
pub(super) type Id = usize;

/// What a composite node becomes in the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Tuple,
    List,
    /// Children are keys and values alternately.
    Dict,
    Set,
    FrozenSet,
    Reduce,
    NewObj,
    NewObjEx,
    Build,
}

/// One object of the graph a pickle builds.
pub(super) enum Node {
    /// A scalar or a class reference, or a composite already unfolded that is referenced
    /// again; with its size in units.
    Done(Value, usize),
    /// A container or object node whose children may still change (`APPENDS`, …).
    Composite(Kind, Vec<Id>),
    /// Being unfolded: meeting it again means the structure contains itself.
    Busy,
    /// Moved into the result after its last reference.
    Gone,
}

pub(super) struct Slot {
    pub(super) node: Node,
    /// How many times the node is referenced as a child (or as the result). Unfolding
    /// copies a node for every reference but the last, which takes it.
    pub(super) refs: usize,
}

/// Python's memo, a dict from int keys to objects. The keys that `MEMOIZE` and any sane
/// writer use (below the input's length) index a vector; others go to a map.
#[derive(Default)]
pub(super) struct Memo {
    dense: Vec<Option<Id>>,
    sparse: BTreeMap<u64, Id>,
    pub(super) len: u64,
}

impl Memo {
    fn put(&mut self, key: u64, id: Id, dense_limit: usize) {
        let old = match usize::try_from(key) {
            Ok(k) if k < dense_limit => {
                if k >= self.dense.len() {
                    self.dense.resize(k + 1, None);
                }
                self.dense[k].replace(id)
            }
            _ => self.sparse.insert(key, id),
        };
        if old.is_none() {
            self.len += 1;
        }
    }

    fn get(&self, key: u64) -> Option<Id> {
        match usize::try_from(key) {
            Ok(k) if k < self.dense.len() => self.dense[k],
            _ => self.sparse.get(&key).copied(),
        }
    }
}

impl Reader<'_> {
    fn add(&mut self, node: Node) -> Id {
        if let Node::Composite(_, children) = &node {
            for &child in children {
                self.slots[child].refs += 1;
            }
        }
        self.slots.push(Slot { node, refs: 0 });
        self.slots.len() - 1
    }

    fn push(&mut self, node: Node) {
        let id = self.add(node);
        self.stack.push(id);
    }

    pub(super) fn push_value(&mut self, value: Value) {
        let size = scalar_size(&value);
        self.push(Node::Done(value, size));
    }

    pub(super) fn push_composite(&mut self, kind: Kind, children: Vec<Id>) {
        self.push(Node::Composite(kind, children));
    }

    /// The stack's bottom as the innermost `MARK` left it: opcodes never reach below.
    pub(super) fn floor(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    pub(super) fn pop(&mut self) -> Result<Id> {
        if self.stack.len() > self.floor() {
            if let Some(id) = self.stack.pop() {
                return Ok(id);
            }
        }
        Err(self.error("stack underflow"))
    }

    pub(super) fn top(&self) -> Result<Id> {
        match self.stack.last() {
            Some(&id) if self.stack.len() > self.floor() => Ok(id),
            _ => Err(self.error("stack underflow")),
        }
    }

    /// The top `n` values, in stack order.
    pub(super) fn pop_n(&mut self, n: usize) -> Result<Vec<Id>> {
        if self.stack.len().saturating_sub(self.floor()) < n {
            return Err(self.error("stack underflow"));
        }
        Ok(self.stack.split_off(self.stack.len() - n))
    }

    /// The values above the innermost `MARK`, which is closed.
    pub(super) fn pop_mark(&mut self) -> Result<Vec<Id>> {
        match self.marks.pop() {
            Some(mark) if mark <= self.stack.len() => Ok(self.stack.split_off(mark)),
            _ => Err(self.error("no MARK")),
        }
    }

    pub(super) fn kind(&self, id: Id) -> Option<Kind> {
        match self.slots[id].node {
            Node::Composite(kind, _) => Some(kind),
            _ => None,
        }
    }

    /// Adds `items` to the container at the top of the stack, which must be a `kind`.
    pub(super) fn extend_top(&mut self, kind: Kind, items: Vec<Id>, what: &str) -> Result<()> {
        let target = self.top()?;
        if self.kind(target) != Some(kind) {
            return Err(self.error(&format!("not on a {what}")));
        }
        if kind == Kind::Dict && items.len() % 2 != 0 {
            return Err(self.error("odd number of keys and values"));
        }
        for &item in &items {
            self.slots[item].refs += 1;
        }
        if let Node::Composite(_, children) = &mut self.slots[target].node {
            children.extend(items);
        }
        Ok(())
    }

    pub(super) fn memo_get(&mut self, key: u64) -> Result<()> {
        match self.memo.get(key) {
            Some(id) => {
                self.stack.push(id);
                Ok(())
            }
            None => Err(self.error(&format!("memo key {key} missing"))),
        }
    }

    pub(super) fn memo_put(&mut self, key: u64) -> Result<()> {
        let id = self.top()?;
        self.memo.put(key, id, self.input.len());
        Ok(())
    }
}

/// The size in units of a value without children.
fn scalar_size(value: &Value) -> usize {
    1 + match value {
        Value::BigInt(data) | Value::Bytes(data) | Value::ByteArray(data) => data.len(),
        Value::Str(text) => text.len(),
        Value::Global { module, name } => module.len() + name.len(),
        _ => 0,
    }
}
