//! typeid → how its objects are made and which methods clients may call: SyncManager's
//! built-in types, C types (`pc_manager_register`) and typeids that give one named object
//! (`pc_manager_expose`, Python's `register('get_queue', callable=lambda: queue)`).

use std::collections::HashMap;
use std::sync::Arc;

use super::builtin::{self, Referent};
use super::custom::{CustomReferent, CustomType};
use super::pickle::Value;
use super::protocol::PyException;
use crate::error::{Error, Result};

/// Makes a built-in object from `create`'s arguments.
pub(crate) type BuiltinMaker =
    fn(Vec<Value>, Vec<(String, Value)>) -> std::result::Result<Arc<dyn Referent>, PyException>;

/// How a typeid's objects come to be.
pub(crate) enum Maker {
    Builtin(BuiltinMaker),
    Custom(Arc<dyn CustomType>),
    /// Always the object named `name`, of typeid `of`.
    Named {
        of: Arc<TypeInfo>,
        name: String,
    },
}

pub(crate) struct TypeInfo {
    pub typeid: String,
    /// `None`: only methods make them (a dict's iterator).
    pub maker: Option<Maker>,
    pub exposed: Vec<String>,
    /// Its objects are told when a caller's connection ends.
    pub tracks_callers: bool,
}

impl TypeInfo {
    pub fn exposes(&self, method: &str) -> bool {
        self.exposed.iter().any(|m| m == method)
    }

    /// Makes a new object (not for `Named` typeids, which the table resolves).
    pub fn make(
        &self,
        args: Vec<Value>,
        kwds: Vec<(String, Value)>,
    ) -> std::result::Result<Arc<dyn Referent>, PyException> {
        match &self.maker {
            Some(Maker::Builtin(make)) => make(args, kwds),
            Some(Maker::Custom(custom)) => CustomReferent::make(custom, &self.typeid, args, kwds),
            Some(Maker::Named { of, .. }) => of.make(args, kwds),
            None => Err(PyException::builtin(
                "TypeError",
                format!("{} objects are only returned by methods", self.typeid),
            )),
        }
    }
}

/// The typeids a server knows.
#[derive(Clone)]
pub(crate) struct Registry {
    types: HashMap<String, Arc<TypeInfo>>,
}

impl Registry {
    /// SyncManager's typeids.
    pub fn sync_manager() -> Registry {
        let types = builtin::types()
            .iter()
            .map(|t| {
                let info = TypeInfo {
                    typeid: t.typeid.to_owned(),
                    maker: t.create.map(Maker::Builtin),
                    exposed: t.exposed.iter().map(|m| (*m).to_owned()).collect(),
                    tracks_callers: t.tracks_callers,
                };
                (t.typeid.to_owned(), Arc::new(info))
            })
            .collect();
        Registry { types }
    }

    pub fn get(&self, typeid: &str) -> Option<&Arc<TypeInfo>> {
        self.types.get(typeid)
    }

    /// Adds (or replaces) a C type.
    pub fn register(&mut self, typeid: &str, custom: Arc<dyn CustomType>) -> Result<()> {
        check_typeid(typeid)?;
        let exposed = custom.exposed();
        self.types.insert(
            typeid.to_owned(),
            Arc::new(TypeInfo {
                typeid: typeid.to_owned(),
                maker: Some(Maker::Custom(custom)),
                exposed,
                tracks_callers: false,
            }),
        );
        Ok(())
    }

    /// Makes `typeid` give the object named `name` of the existing typeid `of`.
    pub fn expose(&mut self, typeid: &str, of: &str, name: &str) -> Result<()> {
        check_typeid(typeid)?;
        let target = self
            .types
            .get(of)
            .filter(|t| matches!(t.maker, Some(Maker::Builtin(_) | Maker::Custom(_))))
            .ok_or_else(|| Error::invalid_argument(format!("type {of:?} is not a known typeid")))?;
        let info = TypeInfo {
            typeid: typeid.to_owned(),
            exposed: target.exposed.clone(),
            tracks_callers: target.tracks_callers,
            maker: Some(Maker::Named {
                of: Arc::clone(target),
                name: name.to_owned(),
            }),
        };
        self.types.insert(typeid.to_owned(), Arc::new(info));
        Ok(())
    }
}

fn check_typeid(typeid: &str) -> Result<()> {
    if typeid.is_empty() || typeid.starts_with('#') {
        return Err(Error::invalid_argument(format!(
            "type_id {typeid:?} is empty or starts with '#'"
        )));
    }
    Ok(())
}
