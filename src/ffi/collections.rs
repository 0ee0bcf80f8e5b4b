//! Managed containers: `pc_dict_*`, `pc_list_*`, `pc_namespace_*` (Python's `DictProxy`,
//! `ListProxy`, `NamespaceProxy`). The rules every function here follows are on `pc_dict`,
//! so that they reach the header.

use std::ffi::c_char;

use super::handle;
use super::item::{owning_array, pc_item};
use super::status::pc_status;
use crate::managers::collections::{Dict, List, Namespace};

/// A managed `dict` (`pc_manager_dict`).
///
/// Each call on a managed container (`pc_dict`, `pc_list`, `pc_namespace`) is one round
/// trip to the manager's server; values are `pc_item`s. Any thread may use the handle, and
/// so may children forked after it was made (each process then holds its own reference).
/// Every function on them returns `PC_ERR_EOF` when the server is gone (shut down, killed),
/// `PC_ERR_REMOTE` for any other failure the server reports, and `PC_ERR_INVALID_ARGUMENT`
/// for an item that is not valid (an unknown kind, NULL data with a length, invalid UTF-8
/// in a `PC_KIND_STR`, a `PC_KIND_PICKLE` that is not a whole pickle).
pub struct pc_dict {
    _private: [u8; 0],
}
impl_handle!(pc_dict => Dict, b"mdic");

/// A managed `list` (`pc_manager_list`); threads, fork and statuses as `pc_dict`.
pub struct pc_list {
    _private: [u8; 0],
}
impl_handle!(pc_list => List, b"mlst");

/// A managed `Namespace` (`pc_manager_namespace`): named attributes; threads, fork and
/// statuses as `pc_dict`.
pub struct pc_namespace {
    _private: [u8; 0],
}
impl_handle!(pc_namespace => Namespace, b"mnsp");

/// Reads an item parameter.
macro_rules! arg_item {
    ($p:ident) => {
        $p.to_item(handle::param_name(stringify!($p)))?
    };
}

/// Reads an array of `n` items.
fn items_in(items: *const pc_item, n: usize, param: &str) -> crate::Result<Vec<crate::item::Item>> {
    handle::array(items, n, param)?
        .iter()
        .enumerate()
        .map(|(i, item)| item.to_item(&format!("{param}[{i}]")))
        .collect()
}

/// `d[key] = val`. The items are copied.
#[no_mangle]
pub extern "C" fn pc_dict_set(d: *mut pc_dict, key: pc_item, val: pc_item) -> pc_status {
    ffi_status!({ arg_handle!(d).set(arg_item!(key), arg_item!(val)) })
}

/// `*out = d[key]` (release it with `pc_item_release`). `PC_ERR_KEY` when the key is
/// missing (Python's `KeyError`); `PC_ERR_TYPE` for an unhashable key (a list, dict or set
/// in a `PC_KIND_PICKLE`).
#[no_mangle]
pub extern "C" fn pc_dict_get(d: *mut pc_dict, key: pc_item, out: *mut pc_item) -> pc_status {
    ffi_status!({
        let out = arg_out!(out);
        let value = arg_handle!(d).get(arg_item!(key))?;
        out.write(pc_item::owning(value));
        Ok(())
    })
}

/// `del d[key]`; `PC_ERR_KEY` when the key is missing.
#[no_mangle]
pub extern "C" fn pc_dict_del(d: *mut pc_dict, key: pc_item) -> pc_status {
    ffi_status!({ arg_handle!(d).del(arg_item!(key)) })
}

/// `*out = d.pop(key)`: removes the key and gives its value (release it with
/// `pc_item_release`); `PC_ERR_KEY` when the key is missing.
#[no_mangle]
pub extern "C" fn pc_dict_pop(d: *mut pc_dict, key: pc_item, out: *mut pc_item) -> pc_status {
    ffi_status!({
        let out = arg_out!(out);
        let value = arg_handle!(d).pop(arg_item!(key))?;
        out.write(pc_item::owning(value));
        Ok(())
    })
}

/// `*out = key in d`.
#[no_mangle]
pub extern "C" fn pc_dict_contains(d: *mut pc_dict, key: pc_item, out: *mut bool) -> pc_status {
    ffi_status!({
        let out = arg_out!(out);
        out.write(arg_handle!(d).contains(arg_item!(key))?);
        Ok(())
    })
}

/// `*out = len(d)`.
#[no_mangle]
pub extern "C" fn pc_dict_len(d: *mut pc_dict, out: *mut usize) -> pc_status {
    ffi_status!({
        let out = arg_out!(out);
        out.write(arg_handle!(d).len()?);
        Ok(())
    })
}

/// One snapshot of the dict, in its order: `*count` keys in `*keys` and their values in
/// `*vals` (two arrays the caller releases with `pc_items_release(keys, count)` and
/// `pc_items_release(vals, count)`; NULL when the dict is empty).
#[no_mangle]
pub extern "C" fn pc_dict_items(
    d: *mut pc_dict,
    keys: *mut *mut pc_item,
    vals: *mut *mut pc_item,
    count: *mut usize,
) -> pc_status {
    ffi_status!({
        let (keys, vals, count) = (arg_out!(keys), arg_out!(vals), arg_out!(count));
        let (k, v) = arg_handle!(d).items()?;
        let (k, n) = owning_array(k);
        let (v, _) = owning_array(v);
        keys.write(k);
        vals.write(v);
        count.write(n);
        Ok(())
    })
}

/// Sets `n` pairs (`keys[i]` to `vals[i]`) in one round trip (`d.update(...)`); the dict
/// is unchanged if an item is invalid.
#[no_mangle]
pub extern "C" fn pc_dict_update(
    d: *mut pc_dict,
    keys: *const pc_item,
    vals: *const pc_item,
    n: usize,
) -> pc_status {
    ffi_status!({
        let d = arg_handle!(d);
        d.update(items_in(keys, n, "keys")?, items_in(vals, n, "vals")?)
    })
}

/// Removes every key.
#[no_mangle]
pub extern "C" fn pc_dict_clear(d: *mut pc_dict) -> pc_status {
    ffi_status!({ arg_handle!(d).clear() })
}

/// Releases the handle (and this process's reference to the dict: the server drops the
/// dict with its last reference, unless it is named). NULL is a no-op; never blocks on
/// another process beyond one message to the server.
#[no_mangle]
pub extern "C" fn pc_dict_free(d: *mut pc_dict) {
    ffi_free!(d)
}

/// `l.append(val)`.
#[no_mangle]
pub extern "C" fn pc_list_append(l: *mut pc_list, val: pc_item) -> pc_status {
    ffi_status!({ arg_handle!(l).append(arg_item!(val)) })
}

/// `l.insert(index, val)` (Python's rules: a negative index counts from the end, one past
/// either end inserts there).
#[no_mangle]
pub extern "C" fn pc_list_insert(l: *mut pc_list, index: isize, val: pc_item) -> pc_status {
    ffi_status!({ arg_handle!(l).insert(index as i64, arg_item!(val)) })
}

/// `l[index] = val`; a negative index counts from the end; `PC_ERR_INDEX` out of range.
#[no_mangle]
pub extern "C" fn pc_list_set(l: *mut pc_list, index: isize, val: pc_item) -> pc_status {
    ffi_status!({ arg_handle!(l).set(index as i64, arg_item!(val)) })
}

/// `l.extend(items)`: appends `n` items in one round trip.
#[no_mangle]
pub extern "C" fn pc_list_extend(l: *mut pc_list, items: *const pc_item, n: usize) -> pc_status {
    ffi_status!({
        let l = arg_handle!(l);
        l.extend(items_in(items, n, "items")?)
    })
}

/// `*out = l[index]` (release it with `pc_item_release`); a negative index counts from the
/// end; `PC_ERR_INDEX` out of range.
#[no_mangle]
pub extern "C" fn pc_list_get(l: *mut pc_list, index: isize, out: *mut pc_item) -> pc_status {
    ffi_status!({
        let out = arg_out!(out);
        out.write(pc_item::owning(arg_handle!(l).get(index as i64)?));
        Ok(())
    })
}

/// `*out = l.pop(index)` (-1: the last); `PC_ERR_INDEX` out of range or empty.
#[no_mangle]
pub extern "C" fn pc_list_pop(l: *mut pc_list, index: isize, out: *mut pc_item) -> pc_status {
    ffi_status!({
        let out = arg_out!(out);
        out.write(pc_item::owning(arg_handle!(l).pop(index as i64)?));
        Ok(())
    })
}

/// `*out = len(l)`.
#[no_mangle]
pub extern "C" fn pc_list_len(l: *mut pc_list, out: *mut usize) -> pc_status {
    ffi_status!({
        let out = arg_out!(out);
        out.write(arg_handle!(l).len()?);
        Ok(())
    })
}

/// Removes every item.
#[no_mangle]
pub extern "C" fn pc_list_clear(l: *mut pc_list) -> pc_status {
    ffi_status!({ arg_handle!(l).clear() })
}

/// One snapshot of every item: `*count` items in `*items` (release the array with
/// `pc_items_release(items, count)`; NULL when the list is empty).
#[no_mangle]
pub extern "C" fn pc_list_items(
    l: *mut pc_list,
    items: *mut *mut pc_item,
    count: *mut usize,
) -> pc_status {
    ffi_status!({
        let (items, count) = (arg_out!(items), arg_out!(count));
        let (array, n) = owning_array(arg_handle!(l).items()?);
        items.write(array);
        count.write(n);
        Ok(())
    })
}

/// Releases the handle, as `pc_dict_free`.
#[no_mangle]
pub extern "C" fn pc_list_free(l: *mut pc_list) {
    ffi_free!(l)
}

/// `setattr(ns, attr, val)`; `attr` is NUL-terminated UTF-8.
#[no_mangle]
pub extern "C" fn pc_namespace_set(
    ns: *mut pc_namespace,
    attr: *const c_char,
    val: pc_item,
) -> pc_status {
    ffi_status!({ arg_handle!(ns).set(arg_str!(attr), arg_item!(val)) })
}

/// `*out = getattr(ns, attr)` (release it with `pc_item_release`); `PC_ERR_KEY` when the
/// attribute is missing (Python's `AttributeError`).
#[no_mangle]
pub extern "C" fn pc_namespace_get(
    ns: *mut pc_namespace,
    attr: *const c_char,
    out: *mut pc_item,
) -> pc_status {
    ffi_status!({
        let out = arg_out!(out);
        out.write(pc_item::owning(arg_handle!(ns).get(arg_str!(attr))?));
        Ok(())
    })
}

/// `delattr(ns, attr)`; `PC_ERR_KEY` when the attribute is missing.
#[no_mangle]
pub extern "C" fn pc_namespace_del(ns: *mut pc_namespace, attr: *const c_char) -> pc_status {
    ffi_status!({ arg_handle!(ns).del(arg_str!(attr)) })
}

/// Releases the handle, as `pc_dict_free`.
#[no_mangle]
pub extern "C" fn pc_namespace_free(ns: *mut pc_namespace) {
    ffi_free!(ns)
}
