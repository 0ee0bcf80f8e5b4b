//! Managers: `pc_manager_*` (Python's `BaseManager`/`SyncManager`), custom types
//! (`pc_type_vtable`, `pc_item_builder_*`) and `pc_proxy_*`.
//!
//! A manager is a server that owns shared objects; other processes, and other programs
//! on this or another host that know its address and authkey, use them through handles
//! (`pc_dict`, `pc_list`, … and `pc_proxy`). The wire is Python's own manager protocol:
//! a Python program can use a C manager's objects (`SyncManager(address,
//! authkey).connect()`), and a C program a Python manager's.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::{Arc, Mutex, MutexGuard};

use super::collections::{pc_dict, pc_list, pc_namespace};
use super::handle;
use super::item::pc_item;
use super::queue::pc_queue;
use super::sharedctypes::{pc_array, pc_value};
use super::status::pc_status;
use super::synchronize::{pc_barrier, pc_condition, pc_event, pc_lock, pc_semaphore};
use crate::error::{Error, Result};
use crate::item::Item;
use crate::managers::collections::{Dict, List, Namespace, Object};
use crate::managers::custom::{CustomObject, CustomType};
use crate::managers::Manager;

/// A manager: a server this process starts (`pc_manager_start`) or serves
/// (`pc_manager_serve_forever`), or one it connects to (`pc_manager_connect`).
pub struct pc_manager {
    _private: [u8; 0],
}
impl_handle!(pc_manager => Manager, b"mngr");

/// A proxy for an object of any typeid, custom ones above all (`pc_manager_create`).
pub struct pc_proxy {
    _private: [u8; 0],
}
impl_handle!(pc_proxy => Object, b"mprx");

/// Where a custom type's `call` puts its result (`pc_item_builder_set`) or the reason it
/// failed (`pc_item_builder_fail`). Valid only during that call.
pub struct pc_item_builder {
    _private: [u8; 0],
}
impl_handle!(pc_item_builder => Builder, b"ibld");

/// What a `pc_item_builder` handle names: a handle the library lends for one call.
#[derive(Default)]
pub(crate) struct Builder(Mutex<Built>);

/// What a custom type's `call` set.
#[derive(Default)]
pub(crate) struct Built {
    item: Option<Item>,
    error: Option<String>,
}

impl Builder {
    fn lock(&self) -> MutexGuard<'_, Built> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A custom type, run inside the manager's server (the seed's "customized managers").
/// The server calls `create` for each new object, `call` for each method call, and
/// `destroy` when the object's last reference goes (or the server ends). Calls on one
/// object come one at a time; different objects may be called from different threads at
/// once. The item arrays passed in are valid during the call only (their bytes are not
/// NUL-terminated).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct pc_type_vtable {
    /// Makes an object from the creator's `nargs` arguments; NULL: failed.
    pub create:
        Option<extern "C" fn(args: *const pc_item, nargs: usize, ctx: *mut c_void) -> *mut c_void>,
    /// Runs `method` (one of `exposed`) and sets its result with `pc_item_builder_set`
    /// (none set: `None`); returns 0 on success, any other value on failure (the caller
    /// gets `PC_ERR_REMOTE` with that code, and the text of `pc_item_builder_fail`).
    pub call: Option<
        extern "C" fn(
            obj: *mut c_void,
            method: *const c_char,
            args: *const pc_item,
            nargs: usize,
            result: *mut pc_item_builder,
            ctx: *mut c_void,
        ) -> c_int,
    >,
    /// Frees an object (may be NULL).
    pub destroy: Option<extern "C" fn(obj: *mut c_void, ctx: *mut c_void)>,
    /// The method names clients may call: a NULL-terminated array of NUL-terminated
    /// strings (copied by `pc_manager_register`). Other names are refused.
    pub exposed: *const *const c_char,
    /// Passed back to every function.
    pub ctx: *mut c_void,
}

/// A registered vtable: the server's [`CustomType`].
struct VtableType {
    vt: pc_type_vtable,
    exposed: Vec<String>,
}

// SAFETY: the library never touches `ctx` or the objects; the C type's contract
// (documented on pc_type_vtable) is that they may be used from the server's threads.
unsafe impl Send for VtableType {}
// SAFETY: as above.
unsafe impl Sync for VtableType {}

/// One object of a C type.
struct VtableObject {
    obj: *mut c_void,
    vt: pc_type_vtable,
}

// SAFETY: calls on one object are serialised by the server; see VtableType.
unsafe impl Send for VtableObject {}

/// Views of items for a callee: they borrow the items' bytes for the call.
fn views(items: &[Item]) -> Vec<pc_item> {
    items.iter().map(pc_item::viewing).collect()
}

impl CustomType for VtableType {
    fn create(&self, args: Vec<Item>) -> std::result::Result<Box<dyn CustomObject>, String> {
        let create = self.vt.create.ok_or("the type has no create function")?;
        let views = views(&args);
        let obj = create(views.as_ptr(), views.len(), self.vt.ctx);
        if obj.is_null() {
            return Err("create returned NULL".into());
        }
        Ok(Box::new(VtableObject { obj, vt: self.vt }))
    }

    fn exposed(&self) -> Vec<String> {
        self.exposed.clone()
    }
}

impl CustomObject for VtableObject {
    fn call(&mut self, method: &str, args: Vec<Item>) -> std::result::Result<Item, String> {
        let call = self.vt.call.ok_or("the type has no call function")?;
        let name = std::ffi::CString::new(method).map_err(|_| "a method name has a NUL byte")?;
        let views = views(&args);
        let builder = Arc::new(Builder::default());
        let handle =
            handle::lend::<pc_item_builder>(Arc::clone(&builder)).map_err(|e| e.to_string())?;
        let code = call(
            self.obj,
            name.as_ptr(),
            views.as_ptr(),
            views.len(),
            handle,
            self.vt.ctx,
        );
        // Refused from here on, wherever C kept it.
        handle::withdraw(handle);
        let built = std::mem::take(&mut *builder.lock());
        if code != 0 {
            let why = built.error.unwrap_or_default();
            return Err(format!("failed with code {code}: {why}"));
        }
        Ok(built.item.unwrap_or(Item::None))
    }
}

impl Drop for VtableObject {
    fn drop(&mut self) {
        if let Some(destroy) = self.vt.destroy {
            destroy(self.obj, self.vt.ctx);
        }
    }
}

/// The builder behind a `pc_item_builder` handle, while its call runs.
fn builder(b: *mut pc_item_builder) -> Result<handle::Borrowed<Builder>> {
    if b.is_null() {
        return Err(Error::invalid_argument("b is NULL"));
    }
    handle::borrow(b, "b")
        .map_err(|_| Error::invalid_argument("b is not a pc_item_builder of a running call"))
}

/// Sets the result of a custom type's `call` to a copy of `item`.
///
/// Returns `PC_OK`; `PC_ERR_INVALID_ARGUMENT` for a NULL builder, one whose call has
/// returned, or an invalid item.
#[no_mangle]
pub extern "C" fn pc_item_builder_set(b: *mut pc_item_builder, item: pc_item) -> pc_status {
    ffi_status!({
        let b = builder(b)?;
        let item = item.to_item("item")?;
        crate::managers::check_item(&item).map_err(|e| e.context("item"))?;
        b.lock().item = Some(item);
        Ok(())
    })
}

/// Says why a custom type's `call` fails (it then returns non-zero): the caller's
/// `pc_last_error()` shows `message` (NUL-terminated; copied).
///
/// Returns `PC_OK`; `PC_ERR_INVALID_ARGUMENT` for a NULL builder or message.
#[no_mangle]
pub extern "C" fn pc_item_builder_fail(
    b: *mut pc_item_builder,
    message: *const c_char,
) -> pc_status {
    ffi_status!({
        let b = builder(b)?;
        let message = String::from_utf8_lossy(handle::c_bytes(message, "message")?).into_owned();
        b.lock().error = Some(message);
        Ok(())
    })
}

/// Creates a manager for `address`: NULL gives a private unix socket (an abstract name:
/// no file), or `unix:PATH`, `unix:@NAME`, `tcp://HOST:PORT` (port 0: a free port, which
/// `pc_manager_address` reports after `pc_manager_start`). `authkey` (`len` bytes,
/// copied) authenticates every connection, as Python's handshake does; NULL uses this
/// process's authkey (`pc_process_authkey`), which children inherit. Nothing runs until
/// `pc_manager_start`, `pc_manager_connect` or `pc_manager_serve_forever`.
/// `*out` is a new handle owned by the caller (`pc_manager_free`).
///
/// Returns `PC_OK`; `PC_ERR_INVALID_ARGUMENT` for a malformed address or one that is not
/// UTF-8. (A NULL `authkey` means the process's key, whatever `len`.)
#[no_mangle]
pub extern "C" fn pc_manager_new(
    address: *const c_char,
    authkey: *const c_void,
    len: usize,
    out: *mut *mut pc_manager,
) -> pc_status {
    ffi_new!(out, {
        let address = handle::c_str_opt(address, "address")?;
        let key = if authkey.is_null() {
            None
        } else {
            Some(arg_bytes!(authkey, len))
        };
        Manager::new(address, key)
    })
}

/// Registers a custom type under `typeid` (its objects made with `pc_manager_create`),
/// before `pc_manager_start` or `pc_manager_serve_forever`. The vtable and its exposed
/// names are copied; its functions and `ctx` must stay valid while the server runs (a
/// started server is a forked child, which inherits them). Registering a typeid again
/// replaces it.
///
/// Returns `PC_OK`; `PC_ERR_INVALID_ARGUMENT` for a vtable without `create` or `call`, or an
/// empty typeid; `PC_ERR_WRONG_STATE` after start, connect or serve.
#[no_mangle]
pub extern "C" fn pc_manager_register(
    m: *mut pc_manager,
    type_id: *const c_char,
    vt: *const pc_type_vtable,
) -> pc_status {
    ffi_status!({
        let m = arg_handle!(m);
        let typeid = arg_str!(type_id);
        let vt = *handle::in_opt(vt).ok_or_else(|| Error::invalid_argument("vt is NULL"))?;
        if vt.create.is_none() || vt.call.is_none() {
            return Err(Error::invalid_argument(
                "vt needs a create and a call function",
            ));
        }
        let mut exposed = Vec::new();
        let mut at = vt.exposed;
        while !at.is_null() {
            // SAFETY: `exposed` is a NULL-terminated array of C strings, by contract.
            let name = unsafe { *at };
            if name.is_null() {
                break;
            }
            // SAFETY: each entry is a NUL-terminated string.
            let name = unsafe { CStr::from_ptr(name) };
            exposed.push(
                name.to_str()
                    .map_err(|_| Error::invalid_argument("an exposed name is not UTF-8"))?
                    .to_owned(),
            );
            // SAFETY: the array goes on until its NULL entry.
            at = unsafe { at.add(1) };
        }
        m.register(typeid, Arc::new(VtableType { vt, exposed }))
    })
}

/// Makes `typeid` give the object named `name` of the typeid `type` ("Queue", "dict", …
/// or a registered custom type), made on first use: Python's remote-manager recipe
/// `register('get_queue', callable=lambda: queue)`, served from C. A Python client then
/// runs `QueueManager.register('get_queue'); m.connect(); m.get_queue().put('hello')`.
/// Before start or serve.
///
/// Returns `PC_OK`; `PC_ERR_INVALID_ARGUMENT` for an unknown `type`; `PC_ERR_WRONG_STATE`
/// after start, connect or serve.
#[no_mangle]
pub extern "C" fn pc_manager_expose(
    m: *mut pc_manager,
    type_id: *const c_char,
    r#type: *const c_char,
    name: *const c_char,
) -> pc_status {
    ffi_status!({
        let m = arg_handle!(m);
        m.expose(arg_str!(type_id), arg_str!(r#type), arg_str!(name))
    })
}

/// Starts the server in a child process named "SyncManager-N" and connects to it. The
/// server serves many clients at once (a thread per connection), ignores SIGINT, and
/// exits when this process exits or dies; `pc_manager_shutdown` or `pc_manager_free`
/// stop it sooner.
///
/// Returns `PC_OK`; `PC_ERR_WRONG_STATE` if already started, connected or served, or called
/// from a daemonic process; `PC_ERR_OS` when the address cannot be bound (in use) or the
/// fork fails.
#[no_mangle]
pub extern "C" fn pc_manager_start(m: *mut pc_manager) -> pc_status {
    ffi_status!({ arg_handle!(m).start() })
}

/// Connects to a server already running at the manager's address: another program's,
/// on another host, or a Python manager's. Checks it answers (a `dummy` request).
///
/// Returns `PC_OK`; `PC_ERR_EOF` when nothing answers there; `PC_ERR_AUTH` for a wrong
/// authkey; `PC_ERR_INVALID_ARGUMENT` for a manager created without an address;
/// `PC_ERR_WRONG_STATE` if already started, connected or served.
#[no_mangle]
pub extern "C" fn pc_manager_connect(m: *mut pc_manager) -> pc_status {
    ffi_status!({ arg_handle!(m).connect() })
}

/// Serves from the calling thread until a client (or another thread, with
/// `pc_manager_shutdown`) shuts the server down.
///
/// Returns `PC_OK` after a shutdown; `PC_ERR_INTERRUPTED` after `pc_interrupt()` (the
/// server then stops); `PC_ERR_OS` when the address cannot be bound; `PC_ERR_WRONG_STATE`
/// if already started, connected or served.
#[no_mangle]
pub extern "C" fn pc_manager_serve_forever(m: *mut pc_manager) -> pc_status {
    ffi_status!({ arg_handle!(m).serve_forever() })
}

/// Stops the server: one this process started (waited for, terminated after 1 s if it
/// does not exit), one it connected to (asked to shut down, as Python's remote shutdown),
/// or one it serves (`pc_manager_serve_forever` returns). Every proxy's calls then
/// return `PC_ERR_EOF`. Twice is fine.
///
/// Returns `PC_OK`; `PC_ERR_WRONG_STATE` for a manager never started, connected or served;
/// `PC_ERR_EOF` when a connected server was already gone.
#[no_mangle]
pub extern "C" fn pc_manager_shutdown(m: *mut pc_manager) -> pc_status {
    ffi_status!({ arg_handle!(m).shutdown() })
}

/// The server's address (`tcp://HOST:PORT` with the port it got), valid while the handle
/// lives; NULL before start, connect or serve, and for a NULL or invalid `m`.
#[no_mangle]
pub extern "C" fn pc_manager_address(m: *const pc_manager) -> *const c_char {
    ffi_value!(std::ptr::null(), {
        let m = arg_handle!(m);
        Ok(m.address().map_or(std::ptr::null(), |a| a.as_ptr()))
    })
}

/// `*out` = how many objects the server holds (Python's `_number_of_objects()`): to see
/// that objects go when their last handle is freed or their process dies.
///
/// Returns `PC_OK`; `PC_ERR_WRONG_STATE` before start or connect; `PC_ERR_EOF` when the
/// server is gone.
#[no_mangle]
pub extern "C" fn pc_manager_number_of_objects(m: *mut pc_manager, out: *mut usize) -> pc_status {
    ffi_status!({
        let out = arg_out!(out);
        out.write(arg_handle!(m).number_of_objects()?);
        Ok(())
    })
}

/// Releases the handle; a server this process started is shut down first (waiting at
/// most about 1 s for it to exit, then terminating it). NULL is a no-op.
#[no_mangle]
pub extern "C" fn pc_manager_free(m: *mut pc_manager) {
    ffi_free!(m)
}

/// Writes a new handle for a managed object made by `make` from the manager.
macro_rules! managed {
    ($m:ident, $out:ident, |$mgr:ident| $make:expr) => {
        ffi_new!($out, {
            let $mgr = arg_handle!($m);
            $make
        })
    };
}

/// A managed `dict` in the manager's server: a new, anonymous one for a NULL `name` (it
/// lives while any process holds a handle to it), else the dict of that name, made on
/// first use (it lives until the server ends), so a program that only knows the address
/// finds its peers' dict. `*out` is a new handle (`pc_dict_free`).
///
/// Returns `PC_OK`; `PC_ERR_INVALID_ARGUMENT` for a name already used for an object of
/// another type; `PC_ERR_NOT_SUPPORTED` for a name on a Python manager (it has no named
/// objects); `PC_ERR_WRONG_STATE` before start or connect; `PC_ERR_CLOSED` after
/// `pc_manager_shutdown` on this handle; `PC_ERR_EOF` when the server is gone.
#[no_mangle]
pub extern "C" fn pc_manager_dict(
    m: *mut pc_manager,
    name: *const c_char,
    out: *mut *mut pc_dict,
) -> pc_status {
    managed!(m, out, |m| Dict::new(&m, handle::c_str_opt(name, "name")?))
}

/// A managed `list`, as `pc_manager_dict`. `*out` is a new handle (`pc_list_free`).
#[no_mangle]
pub extern "C" fn pc_manager_list(
    m: *mut pc_manager,
    name: *const c_char,
    out: *mut *mut pc_list,
) -> pc_status {
    managed!(m, out, |m| List::new(&m, handle::c_str_opt(name, "name")?))
}

/// A managed `Namespace`, as `pc_manager_dict`. `*out` is a new handle
/// (`pc_namespace_free`).
#[no_mangle]
pub extern "C" fn pc_manager_namespace(
    m: *mut pc_manager,
    name: *const c_char,
    out: *mut *mut pc_namespace,
) -> pc_status {
    managed!(m, out, |m| Namespace::new(
        &m,
        handle::c_str_opt(name, "name")?
    ))
}

/// A new object of `typeid` (a custom type, or any typeid of the server) made from `nargs`
/// arguments, or the one named `name` (as `pc_manager_dict`). `*out` is a new handle
/// (`pc_proxy_free`).
///
/// Returns `PC_OK`; `PC_ERR_REMOTE` when the server does not know `typeid` or its
/// `create` failed; otherwise as `pc_manager_dict`.
#[no_mangle]
pub extern "C" fn pc_manager_create(
    m: *mut pc_manager,
    type_id: *const c_char,
    name: *const c_char,
    args: *const pc_item,
    nargs: usize,
    out: *mut *mut pc_proxy,
) -> pc_status {
    ffi_new!(out, {
        let m = arg_handle!(m);
        let args = handle::array(args, nargs, "args")?
            .iter()
            .enumerate()
            .map(|(i, a)| a.to_item(&format!("args[{i}]")))
            .collect::<Result<Vec<_>>>()?;
        Object::new(
            &m,
            arg_str!(type_id),
            handle::c_str_opt(name, "name")?,
            args,
        )
    })
}

/// Calls `method` on the proxy's object with `nargs` arguments; `*result` gets what it
/// returned (release it with `pc_item_release`; NULL: not wanted).
///
/// Returns `PC_OK`; `PC_ERR_NOT_SUPPORTED` for a method the type does not expose;
/// `PC_ERR_REMOTE` when the method failed (a custom type's `call` returned non-zero:
/// `pc_last_error()` has its code and message); the status of a Python exception the method
/// raised (`PC_ERR_KEY`, `PC_ERR_INDEX`, …); `PC_ERR_EOF` when the server is gone.
#[no_mangle]
pub extern "C" fn pc_proxy_call(
    p: *mut pc_proxy,
    method: *const c_char,
    args: *const pc_item,
    nargs: usize,
    result: *mut pc_item,
) -> pc_status {
    ffi_status!({
        let p = arg_handle!(p);
        let args = handle::array(args, nargs, "args")?
            .iter()
            .enumerate()
            .map(|(i, a)| a.to_item(&format!("args[{i}]")))
            .collect::<Result<Vec<_>>>()?;
        let value = p.call(arg_str!(method), args)?;
        if let Some(result) = handle::out_opt(result) {
            result.write(pc_item::owning(value));
        }
        Ok(())
    })
}

/// Releases the handle, as `pc_dict_free`.
#[no_mangle]
pub extern "C" fn pc_proxy_free(p: *mut pc_proxy) {
    ffi_free!(p)
}

/// A managed `Queue` (`name` as in `pc_manager_dict`) holding at most `maxsize` items (0:
/// unbounded). It is used through the `pc_queue_*` functions, as a local queue:
/// `pc_queue_put`/`pc_queue_get` carry `bytes`, `pc_queue_put_item`/`pc_queue_get_item`
/// any item (a Python peer puts `str` and `int`). A wait is asked of the server in slices
/// of 0.1 s, so `pc_interrupt()` breaks it. `*out` is a new handle (`pc_queue_free`).
///
/// Returns as `pc_manager_dict`; `PC_ERR_INVALID_ARGUMENT` for `maxsize` above
/// `PC_QUEUE_MAX_SIZE`.
#[no_mangle]
pub extern "C" fn pc_manager_queue(
    m: *mut pc_manager,
    name: *const c_char,
    maxsize: usize,
    out: *mut *mut pc_queue,
) -> pc_status {
    managed!(m, out, |m| m.queue(
        handle::c_str_opt(name, "name")?,
        checked_maxsize(maxsize)?,
        false
    ))
}

/// A managed `JoinableQueue`, as `pc_manager_queue`, with `pc_queue_task_done` and
/// `pc_queue_join`.
#[no_mangle]
pub extern "C" fn pc_manager_joinable_queue(
    m: *mut pc_manager,
    name: *const c_char,
    maxsize: usize,
    out: *mut *mut pc_queue,
) -> pc_status {
    managed!(m, out, |m| m.queue(
        handle::c_str_opt(name, "name")?,
        checked_maxsize(maxsize)?,
        true
    ))
}

fn checked_maxsize(maxsize: usize) -> Result<usize> {
    if maxsize > crate::queue::MAX_SIZE {
        return Err(Error::invalid_argument(format!(
            "maxsize {maxsize} is above PC_QUEUE_MAX_SIZE"
        )));
    }
    Ok(maxsize)
}

/// A managed `Lock`, used through `pc_lock_acquire`/`pc_lock_release`. It has no owner
/// (any process may release it), as in Python; one thing more: when the connection of
/// the process (thread) that holds it ends, because that process died, the server
/// releases it. `*out` is a new handle (`pc_lock_free`). Returns as `pc_manager_dict`.
#[no_mangle]
pub extern "C" fn pc_manager_lock(
    m: *mut pc_manager,
    name: *const c_char,
    out: *mut *mut pc_lock,
) -> pc_status {
    managed!(m, out, |m| m.lock(handle::c_str_opt(name, "name")?, false))
}

/// A managed `RLock`: owned by the thread that acquired it (each thread has its own
/// connection to the server), released by the server if that thread's process dies.
/// Otherwise as `pc_manager_lock`.
#[no_mangle]
pub extern "C" fn pc_manager_rlock(
    m: *mut pc_manager,
    name: *const c_char,
    out: *mut *mut pc_lock,
) -> pc_status {
    managed!(m, out, |m| m.lock(handle::c_str_opt(name, "name")?, true))
}

/// A managed `Semaphore` starting at `value`, used through `pc_semaphore_acquire` and
/// `pc_semaphore_release` (`pc_semaphore_value` is `PC_ERR_NOT_SUPPORTED`: Python's
/// proxy has no such method). `*out` is a new handle (`pc_semaphore_free`).
#[no_mangle]
pub extern "C" fn pc_manager_semaphore(
    m: *mut pc_manager,
    name: *const c_char,
    value: u32,
    out: *mut *mut pc_semaphore,
) -> pc_status {
    managed!(m, out, |m| m.semaphore(
        handle::c_str_opt(name, "name")?,
        value,
        false
    ))
}

/// A managed `BoundedSemaphore`: a release above `value` is `PC_ERR_VALUE`. Otherwise as
/// `pc_manager_semaphore`.
#[no_mangle]
pub extern "C" fn pc_manager_bounded_semaphore(
    m: *mut pc_manager,
    name: *const c_char,
    value: u32,
    out: *mut *mut pc_semaphore,
) -> pc_status {
    managed!(m, out, |m| m.semaphore(
        handle::c_str_opt(name, "name")?,
        value,
        true
    ))
}

/// A managed `Condition` (with its own managed `RLock`), used through the
/// `pc_condition_*` functions. `*out` is a new handle (`pc_condition_free`).
#[no_mangle]
pub extern "C" fn pc_manager_condition(
    m: *mut pc_manager,
    name: *const c_char,
    out: *mut *mut pc_condition,
) -> pc_status {
    managed!(m, out, |m| m.condition(handle::c_str_opt(name, "name")?))
}

/// A managed `Event`, used through the `pc_event_*` functions. `*out` is a new handle
/// (`pc_event_free`).
#[no_mangle]
pub extern "C" fn pc_manager_event(
    m: *mut pc_manager,
    name: *const c_char,
    out: *mut *mut pc_event,
) -> pc_status {
    managed!(m, out, |m| m.event(handle::c_str_opt(name, "name")?))
}

/// A managed `Barrier` for `parties` waiters, used through the `pc_barrier_*` functions
/// (a wait is one call to the server, with its timeout). `*out` is a new handle
/// (`pc_barrier_free`). `PC_ERR_INVALID_ARGUMENT` for 0 parties.
#[no_mangle]
pub extern "C" fn pc_manager_barrier(
    m: *mut pc_manager,
    name: *const c_char,
    parties: usize,
    out: *mut *mut pc_barrier,
) -> pc_status {
    managed!(m, out, |m| m
        .barrier(handle::c_str_opt(name, "name")?, parties))
}

/// A managed `Value` of `typecode` (as `pc_value_new`) starting at `*init` (one C element;
/// NULL: zero), used through `pc_value_get`/`pc_value_set` (`pc_value_ptr` and
/// `pc_value_lock` give NULL, `pc_value_add` is `PC_ERR_NOT_SUPPORTED`: use a managed lock
/// around get and set). `*out` is a new handle (`pc_value_free`).
/// `PC_ERR_INVALID_ARGUMENT` for an unknown typecode.
#[no_mangle]
pub extern "C" fn pc_manager_value(
    m: *mut pc_manager,
    name: *const c_char,
    typecode: c_char,
    init: *const c_void,
    out: *mut *mut pc_value,
) -> pc_status {
    managed!(m, out, |m| {
        let code = typecode as u8;
        let size = crate::sharedctypes::ElemType::from_typecode(code)?.size();
        let init = if init.is_null() {
            None
        } else {
            Some(arg_bytes!(init, size))
        };
        m.value(handle::c_str_opt(name, "name")?, code, init)
    })
}

/// A managed `Array` of `len` elements of `typecode` (`array.array` in the server, which
/// has no `'c'`), from `init` (`len` C elements; NULL: zeros), used through the
/// `pc_array_*` functions (`pc_array_ptr`/`pc_array_lock` give NULL). `*out` is a new
/// handle (`pc_array_free`).
#[no_mangle]
pub extern "C" fn pc_manager_array(
    m: *mut pc_manager,
    name: *const c_char,
    typecode: c_char,
    len: usize,
    init: *const c_void,
    out: *mut *mut pc_array,
) -> pc_status {
    managed!(m, out, |m| {
        let code = typecode as u8;
        let size = crate::sharedctypes::ElemType::from_typecode(code)?.size();
        let bytes = size
            .checked_mul(len)
            .ok_or_else(|| Error::invalid_argument(format!("len {len} is too large")))?;
        let init = if init.is_null() {
            None
        } else {
            Some(arg_bytes!(init, bytes))
        };
        m.array(handle::c_str_opt(name, "name")?, code, len, init)
    })
}
