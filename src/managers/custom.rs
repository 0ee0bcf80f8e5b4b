//! Objects of C types (`pc_manager_register`), run inside the server: the seed's
//! "customized managers". The C boundary implements [`CustomType`] over a vtable; this
//! module turns calls from the wire into calls of it.

use std::sync::{Arc, Mutex};

use super::builtin::{Caller, Outcome, Referent};
use super::items;
use super::pickle::Value;
use super::protocol::PyException;
use crate::item::Item;

/// A C type: makes objects and says which methods clients may call.
pub trait CustomType: Send + Sync {
    /// A new object from the creator's arguments; `Err` carries the reason.
    fn create(&self, args: Vec<Item>) -> Result<Box<dyn CustomObject>, String>;
    fn exposed(&self) -> Vec<String>;
}

/// One object of a C type. Calls come one at a time (the server serialises them), so a C
/// type need not be thread-safe.
pub trait CustomObject: Send {
    /// Runs `method`; `Err` carries the C callee's code and message.
    fn call(&mut self, method: &str, args: Vec<Item>) -> Result<Item, String>;
}

/// A C object served as a [`Referent`].
pub(crate) struct CustomReferent {
    typeid: String,
    object: Mutex<Box<dyn CustomObject>>,
}

impl CustomReferent {
    pub fn make(
        custom: &Arc<dyn CustomType>,
        typeid: &str,
        args: Vec<Value>,
        kwds: Vec<(String, Value)>,
    ) -> Result<Arc<dyn Referent>, PyException> {
        if !kwds.is_empty() {
            return Err(PyException::builtin(
                "TypeError",
                format!("{typeid}() takes no keyword arguments"),
            ));
        }
        let object = custom
            .create(args.into_iter().map(items::to_item).collect())
            .map_err(|why| PyException::builtin("RuntimeError", format!("{typeid}(): {why}")))?;
        Ok(Arc::new(CustomReferent {
            typeid: typeid.to_owned(),
            object: Mutex::new(object),
        }))
    }
}

impl Referent for CustomReferent {
    fn call(
        &self,
        _caller: &dyn Caller,
        method: &str,
        args: Vec<Value>,
        kwds: Vec<(String, Value)>,
    ) -> Result<Outcome, PyException> {
        if !kwds.is_empty() {
            return Err(PyException::builtin(
                "TypeError",
                format!("{}.{method}() takes no keyword arguments", self.typeid),
            ));
        }
        let args = args.into_iter().map(items::to_item).collect();
        let result = self
            .object
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .call(method, args)
            .map_err(|why| {
                PyException::builtin("RuntimeError", format!("{}.{method}: {why}", self.typeid))
            })?;
        let value = items::to_value(result).map_err(|e| {
            PyException::builtin(
                "RuntimeError",
                format!("{}.{method}: {}", self.typeid, e.message()),
            )
        })?;
        Ok(Outcome::Return(value))
    }

    fn repr(&self) -> String {
        format!("<{} object>", self.typeid)
    }
}
