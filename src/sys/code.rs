//! Code addresses that cross `exec`: a function of the program, or of a shared library it
//! loaded, named by its module and its offset from where the module was loaded. A process
//! started by `exec` loads the same modules elsewhere (address-space randomisation), so a
//! bare function pointer means nothing there; the module and offset find the same
//! function again.

use std::ffi::{c_int, c_void, CStr, CString};
use std::io;
use std::os::unix::ffi::OsStrExt;

/// A function as another process of the same program finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CodeRef {
    /// The shared library's path as the loader names it; empty for the program itself.
    pub(crate) module: CString,
    /// The address less the module's load address.
    pub(crate) offset: u64,
}

/// One loaded module, as `dl_iterate_phdr` describes it.
struct Module<'a> {
    name: &'a CStr,
    /// What the module's addresses are offset by.
    base: usize,
    /// Whether it is the program itself (the loader lists it first).
    program: bool,
    /// Its loaded segments, as `[start, end)` address ranges, and whether each is code.
    segments: Vec<(usize, usize, bool)>,
}

/// Calls `visit` for each loaded module until it returns `Some`.
fn find_module<T>(mut visit: impl FnMut(&Module<'_>) -> Option<T>) -> Option<T> {
    struct State<'f, T> {
        visit: &'f mut dyn FnMut(&Module<'_>) -> Option<T>,
        first: bool,
        found: Option<T>,
    }
    unsafe extern "C" fn each<T>(
        info: *mut libc::dl_phdr_info,
        _size: usize,
        data: *mut c_void,
    ) -> c_int {
        // SAFETY: `data` is the `State` passed below, alive for the whole iteration, and
        // the loader passes a valid `info` for the duration of this call.
        let (state, info) = unsafe { (&mut *data.cast::<State<'_, T>>(), &*info) };
        let program = std::mem::replace(&mut state.first, false);
        let name = match info.dlpi_name.is_null() {
            true => c"",
            // SAFETY: the loader's NUL-terminated name of the module.
            false => unsafe { CStr::from_ptr(info.dlpi_name) },
        };
        let headers = match info.dlpi_phdr.is_null() {
            true => &[][..],
            // SAFETY: the loader gives `dlpi_phnum` program headers at `dlpi_phdr`.
            false => unsafe {
                std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum))
            },
        };
        let base = info.dlpi_addr as usize;
        let segments = headers
            .iter()
            .filter(|h| h.p_type == libc::PT_LOAD)
            .map(|h| {
                let start = base.wrapping_add(h.p_vaddr as usize);
                let code = h.p_flags & libc::PF_X != 0;
                (start, start.wrapping_add(h.p_memsz as usize), code)
            })
            .collect();
        let module = Module {
            name,
            base,
            program,
            segments,
        };
        state.found = (state.visit)(&module);
        c_int::from(state.found.is_some())
    }
    let mut state = State {
        visit: &mut visit,
        first: true,
        found: None,
    };
    // SAFETY: `each::<T>` reads `data` as the `State<T>` given here, which outlives the call.
    unsafe { libc::dl_iterate_phdr(Some(each::<T>), (&raw mut state).cast()) };
    state.found
}

/// Where the function at `addr` lies, for another process of this program.
pub(crate) fn locate(addr: usize) -> io::Result<CodeRef> {
    find_module(|module| {
        let inside = module
            .segments
            .iter()
            .any(|&(start, end, code)| code && (start..end).contains(&addr));
        inside.then(|| CodeRef {
            module: match module.program {
                true => CString::default(),
                false => module.name.to_owned(),
            },
            offset: addr.wrapping_sub(module.base) as u64,
        })
    })
    .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "in no loaded module's code"))
}

/// The address of `code` in this process, loading its library if this process has not.
pub(crate) fn resolve(code: &CodeRef) -> io::Result<usize> {
    let find = || {
        find_module(|module| {
            let same = match code.module.is_empty() {
                true => module.program,
                false => !module.program && module.name == code.module.as_c_str(),
            };
            same.then(|| {
                let addr = module.base.wrapping_add(code.offset as usize);
                let inside = module
                    .segments
                    .iter()
                    .any(|&(start, end, code)| code && (start..end).contains(&addr));
                inside.then_some(addr)
            })
        })
    };
    if let Some(found) = find() {
        return found.ok_or_else(|| outside(code));
    }
    if code.module.is_empty() {
        return Err(io::Error::new(io::ErrorKind::NotFound, "no program module"));
    }
    // Loaded for good: the function must stay while anything may call it.
    // SAFETY: a NUL-terminated path; dlopen runs the library's constructors, as the
    // parent's did when it loaded it.
    let handle = unsafe { libc::dlopen(code.module.as_ptr(), libc::RTLD_NOW) };
    if handle.is_null() {
        return Err(io::Error::new(io::ErrorKind::NotFound, dl_error()));
    }
    find().flatten().ok_or_else(|| outside(code))
}

/// The directory of the module this library's code lies in: the shared library's, or the
/// program's when the library is linked statically. Plugins are looked for there first.
pub(crate) fn own_directory() -> Option<std::path::PathBuf> {
    let own = locate(own_directory as fn() -> Option<std::path::PathBuf> as usize).ok()?;
    let path = match own.module.is_empty() {
        true => std::fs::read_link("/proc/self/exe").ok()?,
        false => std::path::PathBuf::from(std::ffi::OsStr::from_bytes(own.module.as_bytes())),
    };
    path.parent().map(std::path::Path::to_path_buf)
}

/// Loads the library `path` for good (`RTLD_GLOBAL`: a library such as MPI loads modules
/// of its own that expect its symbols to be global) and returns the address of `symbol`.
pub(crate) fn load_symbol(path: &CStr, symbol: &CStr) -> io::Result<usize> {
    // SAFETY: NUL-terminated strings; dlopen runs the library's constructors.
    let handle = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
    if handle.is_null() {
        return Err(io::Error::new(io::ErrorKind::NotFound, dl_error()));
    }
    // SAFETY: a handle dlopen returned, never closed; a NUL-terminated name.
    let at = unsafe { libc::dlsym(handle, symbol.as_ptr()) };
    match at.is_null() {
        true => Err(io::Error::new(io::ErrorKind::NotFound, dl_error())),
        false => Ok(at as usize),
    }
}

fn outside(code: &CodeRef) -> io::Error {
    let module = std::ffi::OsStr::from_bytes(code.module.as_bytes());
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "offset {:#x} is outside the code of {} (not the same build?)",
            code.offset,
            match code.module.is_empty() {
                true => "the program".into(),
                false => module.to_string_lossy(),
            }
        ),
    )
}

/// `dlerror()`'s text.
fn dl_error() -> String {
    // SAFETY: dlerror returns NULL or a NUL-terminated message valid until the next dl call
    // on this thread, which is after the copy.
    let message = unsafe { libc::dlerror() };
    match message.is_null() {
        true => "dlopen failed".into(),
        // SAFETY: as above.
        false => unsafe { CStr::from_ptr(message) }
            .to_string_lossy()
            .into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    extern "C" fn a_function() -> i32 {
        7
    }

    #[test]
    fn a_function_round_trips_through_its_module_and_offset() {
        let addr = a_function as *const () as usize;
        let code = locate(addr).unwrap();
        assert_eq!(resolve(&code).unwrap(), addr);
        let libc_fn = libc::getpid as *const () as usize;
        let code = locate(libc_fn).unwrap();
        assert!(!code.module.is_empty(), "getpid is in libc: {code:?}");
        assert_eq!(resolve(&code).unwrap(), libc_fn);
    }

    #[test]
    fn data_and_foreign_offsets_are_refused() {
        static DATA: u8 = 0;
        assert!(locate(&DATA as *const u8 as usize).is_err());
        let far = CodeRef {
            module: CString::default(),
            offset: 1 << 46,
        };
        assert!(resolve(&far).is_err());
        let missing = CodeRef {
            module: c"/nonexistent/libnothing.so".into(),
            offset: 0,
        };
        assert!(resolve(&missing).is_err());
    }
}
