//! The C API's [`Item`]s to and from pickled [`Value`]s: the kinds C reads stay as they
//! are, anything else travels as its whole pickle, unchanged.

use super::pickle::{self, Value};
use crate::error::{Error, ErrorKind, Result};
use crate::item::Item;

/// The item C gets for a value.
pub(crate) fn to_item(value: Value) -> Item {
    match value {
        Value::None => Item::None,
        Value::Bool(b) => Item::Bool(b),
        Value::Int(i) => Item::Int(i),
        Value::Float(f) => Item::Float(f),
        Value::Bytes(b) => Item::Bytes(b),
        Value::Str(s) => Item::Str(s),
        other => Item::Pickle(pickle::dumps(&other)),
    }
}

/// The value an item stands for; a `Pickle` item must hold one whole, valid pickle.
pub(crate) fn to_value(item: Item) -> Result<Value> {
    Ok(match item {
        Item::None => Value::None,
        Item::Bool(b) => Value::Bool(b),
        Item::Int(i) => Value::Int(i),
        Item::Float(f) => Value::Float(f),
        Item::Bytes(b) => Value::Bytes(b),
        Item::Str(s) => Value::Str(s),
        Item::Pickle(p) => decode(&p)?,
    })
}

/// The value a `PICKLE` item's bytes hold; `InvalidArgument` when they are not one.
pub(crate) fn decode(bytes: &[u8]) -> Result<Value> {
    pickle::loads(bytes).map_err(|e| {
        Error::new(
            ErrorKind::InvalidArgument,
            format!("a PICKLE item is not a valid pickle: {}", e.message()),
        )
    })
}

/// Items to values, stopping at the first bad one.
pub(crate) fn to_values(items: Vec<Item>) -> Result<Vec<Value>> {
    items.into_iter().map(to_value).collect()
}
