//! The boundary macros every exported function uses. They keep each body a plain `fn`
//! for cbindgen, and name the failing function and parameter in `pc_last_error()`.

/// The body of an exported function returning `pc_status`: `Ok(())` is `PC_OK`, an error
/// or a panic becomes its status, with the message recorded for `pc_last_error()`.
macro_rules! ffi_status {
    ($body:block) => {{
        fn here() {}
        $crate::ffi::boundary::status(
            ::std::any::type_name_of_val(&here),
            move || -> $crate::error::Result<()> { $body },
        )
    }};
}

/// The body of an exported function returning a value directly: on error or panic it
/// returns `$fallback` and records the message for `pc_last_error()`.
macro_rules! ffi_value {
    ($fallback:expr, $body:block) => {{
        fn here() {}
        $crate::ffi::boundary::value(
            ::std::any::type_name_of_val(&here),
            $fallback,
            move || -> $crate::error::Result<_> { $body },
        )
    }};
}

/// Borrows the object behind a handle parameter: NULL, a wrong-typed or a freed handle is
/// `InvalidArgument` naming the parameter.
macro_rules! arg_handle {
    ($p:ident) => {
        $crate::ffi::handle::borrow($p, $crate::ffi::handle::param_name(stringify!($p)))?
    };
}

/// An out-parameter, checked for NULL; written only on success (`.write(v)` last).
macro_rules! arg_out {
    ($p:ident) => {
        $crate::ffi::handle::out($p, $crate::ffi::handle::param_name(stringify!($p)))?
    };
}

/// A NUL-terminated UTF-8 string parameter.
macro_rules! arg_str {
    ($p:ident) => {
        $crate::ffi::handle::c_str($p, $crate::ffi::handle::param_name(stringify!($p)))?
    };
}

/// A `(pointer, length)` pair of bytes; `(NULL, 0)` is the empty slice.
macro_rules! arg_bytes {
    ($p:ident, $len:expr) => {
        $crate::ffi::handle::bytes(
            $p.cast::<u8>(),
            $len,
            $crate::ffi::handle::param_name(stringify!($p)),
        )?
    };
}

/// A writable buffer of `len` bytes; `(NULL, 0)` is the empty buffer.
macro_rules! arg_bytes_mut {
    ($p:ident, $len:expr) => {
        $crate::ffi::handle::bytes_mut(
            $p.cast::<u8>(),
            $len,
            $crate::ffi::handle::param_name(stringify!($p)),
        )?
    };
}

/// A timeout in seconds, as a deadline (NaN is `InvalidArgument`).
macro_rules! arg_timeout {
    ($t:ident) => {
        $crate::deadline::Deadline::from_timeout($t)
            .map_err(|e| e.context($crate::ffi::handle::param_name(stringify!($t))))?
    };
}

/// The body of a constructor: checks the out-parameter `$out` first, then writes a new
/// handle owned by the caller for the object `$make` (a `Result<Arc<_>>`) makes.
macro_rules! ffi_new {
    ($out:ident, $make:expr) => {
        ffi_status!({
            let $out = arg_out!($out);
            $out.write($crate::ffi::handle::into_raw($make?)?);
            Ok(())
        })
    };
}

/// The body of a `_free`: releases the caller's handle `$p` (NULL is a no-op; errors reach
/// `pc_last_error()` only).
macro_rules! ffi_free {
    ($p:ident) => {
        ffi_value!((), {
            $crate::ffi::handle::release($p, $crate::ffi::handle::param_name(stringify!($p)))
        })
    };
}
