//! The graph a pickle builds: an arena of shared, mutable nodes, the machine's stack of
//! node ids, and Python's memo, in vectors each thread keeps from one decode to the next.

use std::cell::RefCell;
use std::collections::BTreeMap;

use super::unfold::Frame;
use super::Reader;
use crate::error::Result;
use crate::managers::pickle::Value;

/// An index into the reader's arena of nodes.
pub(super) type Id = usize;

/// The room a thread keeps in each vector of its [`Scratch`] between decodes.
const KEEP: usize = 256;
/// How many lists of children a thread keeps for reuse, and the most room each may have.
const SPARE_LISTS: usize = 32;
const SPARE_ROOM: usize = 64;

/// The vectors a reader works in. Each thread keeps its own from one decode to the next,
/// so a small pickle costs no allocation but those of the value it holds.
#[derive(Default)]
pub(super) struct Scratch {
    pub(super) slots: Vec<Slot>,
    pub(super) stack: Vec<Id>,
    pub(super) marks: Vec<usize>,
    pub(super) memo: Memo,
    pub(super) frames: Vec<Frame>,
    pub(super) values: Vec<Value>,
    /// Lists of children that finished nodes gave back, kept (not emptied) for reuse.
    pub(super) spare: Vec<Vec<Id>>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::default();
}

impl Scratch {
    /// Runs `decode` in this thread's scratch, then empties it. A thread's last destructors
    /// may decode after its scratch is gone: they start afresh.
    pub(super) fn with<R>(decode: impl Fn(&mut Scratch) -> R) -> R {
        let run = |scratch: &mut Scratch| {
            let result = decode(scratch);
            scratch.clear();
            result
        };
        SCRATCH
            .try_with(|kept| kept.try_borrow_mut().ok().map(|mut kept| run(&mut kept)))
            .ok()
            .flatten()
            .unwrap_or_else(|| run(&mut Scratch::default()))
    }

    /// Empties it for the next decode, keeping at most [`KEEP`] entries of room a vector.
    fn clear(&mut self) {
        empty(&mut self.slots);
        empty(&mut self.stack);
        empty(&mut self.marks);
        empty(&mut self.memo.dense);
        self.memo.sparse.clear();
        self.memo.len = 0;
        empty(&mut self.frames);
        empty(&mut self.values);
    }
}

fn empty<T>(vec: &mut Vec<T>) {
    vec.clear();
    vec.shrink_to(KEEP);
}

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

    /// A new container of `kind`, empty until `APPENDS` and the like fill it.
    pub(super) fn push_empty(&mut self, kind: Kind) {
        let none = self.new_list();
        self.push_composite(kind, none);
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
        Ok(self.pop_above(self.stack.len() - n))
    }

    /// The values above the innermost `MARK`, which is closed.
    pub(super) fn pop_mark(&mut self) -> Result<Vec<Id>> {
        match self.marks.pop() {
            Some(mark) if mark <= self.stack.len() => Ok(self.pop_above(mark)),
            _ => Err(self.error("no MARK")),
        }
    }

    /// The stack above `at`, moved into a list for a node's children.
    fn pop_above(&mut self, at: usize) -> Vec<Id> {
        let mut list = self.new_list();
        list.extend_from_slice(&self.stack[at..]);
        self.stack.truncate(at);
        list
    }

    /// An empty list for a node's children: one a finished node gave back, if any.
    fn new_list(&mut self) -> Vec<Id> {
        self.spare.pop().unwrap_or_default()
    }

    /// Keeps a list of children no node needs any more, for the next node (of this decode
    /// or the thread's next).
    pub(super) fn give_back(&mut self, mut list: Vec<Id>) {
        if self.spare.len() < SPARE_LISTS && list.capacity() <= SPARE_ROOM {
            list.clear();
            self.spare.push(list);
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
            children.extend_from_slice(&items);
        }
        self.give_back(items);
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

#[cfg(test)]
mod tests {
    use crate::managers::pickle::{loads, Value};

    #[test]
    fn nothing_of_a_decode_reaches_the_threads_next() {
        // Fails with a list memoized, a MARK open and values on the stack.
        assert!(loads(b"\x80\x04]\x94(NN").is_err());
        let missing = loads(b"\x80\x04h\x00.").unwrap_err();
        assert!(missing.message().contains("memo key 0 missing"));
        assert_eq!(loads(b"\x80\x04N.").unwrap(), Value::None);
        // More nodes than a thread keeps room for, then small pickles again.
        let mut big = b"\x80\x04](".to_vec();
        big.extend([b'N'; 5000]);
        big.extend(b"e.");
        assert_eq!(loads(&big).unwrap(), Value::List(vec![Value::None; 5000]));
        let pairs = b"\x80\x04K\x01K\x02\x86K\x03)\x86\x86.";
        let want = Value::Tuple(vec![
            Value::Tuple(vec![Value::Int(1), Value::Int(2)]),
            Value::Tuple(vec![Value::Int(3), Value::Tuple(vec![])]),
        ]);
        assert_eq!(loads(pairs).unwrap(), want);
    }
}
