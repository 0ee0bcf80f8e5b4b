//! The server's objects: id → object, with the reference counts that keep them alive.
//!
//! A reference is either global (Python clients incref and decref over one-shot
//! connections, so nothing ties it to a client) or owned by one connection (this
//! library's clients incref on their session connection): when that connection ends,
//! however its process ended, its references are dropped. Named objects live until the
//! server ends, whatever their counts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::builtin::Referent;
use super::registry::TypeInfo;

/// One object the server holds.
pub(crate) struct Object {
    pub id: String,
    pub info: Arc<TypeInfo>,
    pub referent: Arc<dyn Referent>,
}

struct Slot {
    object: Arc<Object>,
    refs: usize,
    named: bool,
}

#[derive(Default)]
struct Objects {
    slots: HashMap<String, Slot>,
    /// name → id of the named objects.
    names: HashMap<String, String>,
    made: u64,
}

/// The object table. Ids are never reused: a random prefix per server run and a counter,
/// so a proxy that outlived its object (or its server) gets a clean `KeyError`.
pub(crate) struct Table {
    objects: Mutex<Objects>,
    prefix: String,
}

/// Why a named object could not be given.
pub(crate) enum NamedError<E> {
    /// The name is taken by an object of another typeid (named here).
    OtherType(String),
    /// Making the object failed.
    Make(E),
}

impl Table {
    pub fn new() -> Table {
        let mut random = [0u8; 3];
        // Without random bytes the pid still tells runs apart.
        let _ = getrandom::fill(&mut random);
        let prefix = format!(
            "{:x}{}",
            crate::sys::process::getpid(),
            random
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        Table {
            objects: Mutex::new(Objects::default()),
            prefix,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Objects> {
        self.objects.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds an object with one reference (its creator's).
    pub fn insert(&self, info: Arc<TypeInfo>, referent: Arc<dyn Referent>) -> Arc<Object> {
        let mut objects = self.lock();
        let object = self.new_object(&mut objects, info, referent);
        objects.slots.insert(
            object.id.clone(),
            Slot {
                object: Arc::clone(&object),
                refs: 1,
                named: false,
            },
        );
        object
    }

    fn new_object(
        &self,
        objects: &mut Objects,
        info: Arc<TypeInfo>,
        referent: Arc<dyn Referent>,
    ) -> Arc<Object> {
        objects.made += 1;
        Arc::new(Object {
            id: format!("{}-{:x}", self.prefix, objects.made),
            info,
            referent,
        })
    }

    /// The object named `name`, made by `make` on first use, with one more reference.
    pub fn named<E>(
        &self,
        name: &str,
        info: &Arc<TypeInfo>,
        make: impl FnOnce() -> Result<Arc<dyn Referent>, E>,
    ) -> Result<Arc<Object>, NamedError<E>> {
        let mut objects = self.lock();
        if let Some(id) = objects.names.get(name).cloned() {
            let slot = objects.slots.get_mut(&id).expect("named objects stay");
            if slot.object.info.typeid != info.typeid {
                return Err(NamedError::OtherType(slot.object.info.typeid.clone()));
            }
            slot.refs += 1;
            return Ok(Arc::clone(&slot.object));
        }
        // Made under the lock, so two first users cannot make two objects.
        let referent = make().map_err(NamedError::Make)?;
        let object = self.new_object(&mut objects, Arc::clone(info), referent);
        objects.names.insert(name.to_owned(), object.id.clone());
        objects.slots.insert(
            object.id.clone(),
            Slot {
                object: Arc::clone(&object),
                refs: 1,
                named: true,
            },
        );
        Ok(object)
    }

    pub fn get(&self, id: &str) -> Option<Arc<Object>> {
        self.lock().slots.get(id).map(|s| Arc::clone(&s.object))
    }

    /// One more reference; `false` for an unknown id.
    pub fn incref(&self, id: &str) -> bool {
        match self.lock().slots.get_mut(id) {
            Some(slot) => {
                slot.refs += 1;
                true
            }
            None => false,
        }
    }

    /// `n` references fewer; the object goes with its last unless it is named. `false`
    /// for an unknown id or more references than it has.
    pub fn decref(&self, id: &str, n: usize) -> bool {
        let dropped = {
            let mut objects = self.lock();
            let Some(slot) = objects.slots.get_mut(id) else {
                return false;
            };
            if slot.refs < n {
                return false;
            }
            slot.refs -= n;
            if slot.refs > 0 || slot.named {
                return true;
            }
            objects.slots.remove(id)
        };
        // The object's own destruction (a C type's destroy) runs outside the table's lock.
        drop(dropped);
        true
    }

    /// Python's `number_of_objects`.
    pub fn len(&self) -> usize {
        self.lock().slots.len()
    }

    /// Python's `debug_info`: each object's id, references and repr.
    pub fn debug_info(&self) -> String {
        let objects = self.lock();
        let mut lines: Vec<String> = objects
            .slots
            .values()
            .map(|s| {
                let repr: String = s.object.referent.repr().chars().take(75).collect();
                format!("  {}:       refcount={}\n    {}", s.object.id, s.refs, repr)
            })
            .collect();
        lines.sort();
        lines.join("\n")
    }

    /// Drops every object (the server is ending): their destructors run now, in order.
    pub fn clear(&self) {
        let slots = std::mem::take(&mut self.lock().slots);
        drop(slots);
    }
}
