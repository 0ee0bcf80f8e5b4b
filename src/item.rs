//! A Python value as a C program reads and writes it (`pc_item`): what managed containers
//! and queues hold. Areas that talk to a manager (the queue, the locks) speak `Item`s and
//! know nothing of pickles; `managers` converts them to and from the wire.

/// One Python value: the kinds C reads directly, or a whole pickle of any other value
/// (a tuple, a dict, a big int, an object), kept and handed back unchanged.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Bytes(Vec<u8>),
    Str(String),
    /// A complete pickle (`PROTO` … `STOP`) of a value of another kind.
    Pickle(Vec<u8>),
}

impl Item {
    /// Python's name for the item's type, for messages (`PC_ERR_TYPE`).
    pub fn type_name(&self) -> &'static str {
        match self {
            Item::None => "NoneType",
            Item::Bool(_) => "bool",
            Item::Int(_) => "int",
            Item::Float(_) => "float",
            Item::Bytes(_) => "bytes",
            Item::Str(_) => "str",
            Item::Pickle(_) => "object",
        }
    }
}
