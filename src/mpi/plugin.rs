//! The MPI plugin (`libprocessing-mpi.so`, built from `plugins/mpi/` where CMake found an
//! MPI): loaded with `dlopen` when a program runs under `mpiexec`, it is the only code
//! that calls MPI. Its table of functions is declared here as the plugin defines it.

use std::ffi::{c_char, c_int, c_uint, CStr, CString};
use std::path::PathBuf;

use crate::error::{Error, ErrorKind, Result};
use crate::sys::code;

/// The plugin's file name, looked for beside this library, then on the loader's path.
pub(crate) const FILE_NAME: &str = "libprocessing-mpi.so";
/// An environment variable that names the plugin's path instead.
pub(crate) const PATH_VARIABLE: &str = "PC_MPI_PLUGIN";

/// `struct pc_mpi_plugin` of `plugins/mpi/processing_mpi.c`, version 1.
#[repr(C)]
pub(crate) struct Table {
    version: c_uint,
    init: extern "C" fn(*mut c_int, *mut c_int, *mut c_int, *mut c_int) -> c_int,
    finalize: extern "C" fn() -> c_int,
    send: extern "C" fn(*const u8, c_int, c_int, c_int) -> c_int,
    probe: extern "C" fn(c_int, *mut c_int, *mut c_int, *mut c_int, *mut c_int) -> c_int,
    recv: extern "C" fn(*mut u8, c_int, c_int, c_int) -> c_int,
    error_text: extern "C" fn(c_int, *mut c_char, c_int),
    library: extern "C" fn(*mut c_char, c_int),
}

/// What `init` found: this process's rank, the job's size, and the thread level.
pub(crate) struct Membership {
    pub(crate) rank: i32,
    pub(crate) size: i32,
    /// MPI_THREAD_MULTIPLE: threads may call MPI at once.
    pub(crate) multiple: bool,
    /// At least MPI_THREAD_SERIALIZED: any thread may call MPI, one at a time.
    pub(crate) serialized: bool,
}

/// A probed message: its length, source and tag.
pub(crate) struct Probed {
    pub(crate) len: usize,
    pub(crate) from: i32,
    pub(crate) tag: i32,
}

/// The loaded plugin.
pub(crate) struct Plugin {
    table: &'static Table,
}

impl Plugin {
    /// Loads the plugin: from `$PC_MPI_PLUGIN`, else beside this library, else wherever
    /// the loader finds it. `NotSupported` (with every place tried) when none loads.
    pub(crate) fn load() -> Result<Plugin> {
        let mut tried = Vec::new();
        let mut candidates: Vec<PathBuf> = Vec::new();
        match std::env::var_os(PATH_VARIABLE) {
            Some(path) => candidates.push(path.into()),
            None => {
                if let Some(dir) = code::own_directory() {
                    candidates.push(dir.join(FILE_NAME));
                }
                candidates.push(FILE_NAME.into());
            }
        }
        for path in candidates {
            let c_path = CString::new(path.as_os_str().as_encoded_bytes())
                .map_err(|_| Error::invalid_argument(format!("{PATH_VARIABLE} holds a NUL")))?;
            match code::load_symbol(&c_path, c"pc_mpi_plugin_v1") {
                Ok(at) => {
                    // SAFETY: the plugin's `pc_mpi_plugin_v1` is a function without
                    // arguments returning a pointer to its static table.
                    let get = unsafe {
                        std::mem::transmute::<usize, extern "C" fn() -> *const Table>(at)
                    };
                    // SAFETY: a static table of the plugin, which is never unloaded.
                    let table = unsafe { &*get() };
                    if table.version != 1 {
                        return Err(Error::new(
                            ErrorKind::NotSupported,
                            format!(
                                "{}: plugin version {}, not 1",
                                path.display(),
                                table.version
                            ),
                        ));
                    }
                    return Ok(Plugin { table });
                }
                Err(err) => tried.push(err.to_string()),
            }
        }
        Err(Error::new(
            ErrorKind::NotSupported,
            format!(
                "the MPI back end is not available (libprocessing was built without MPI, or \
                 {FILE_NAME} is not installed): {}",
                tried.join("; ")
            ),
        ))
    }

    /// An MPI error as this library's error: `what` failed, with MPI's text.
    fn check(&self, what: &str, code: c_int) -> Result<()> {
        if code == 0 {
            return Ok(());
        }
        let mut text = [0 as c_char; 512];
        (self.table.error_text)(code, text.as_mut_ptr(), text.len() as c_int);
        // SAFETY: error_text NUL-terminates within the buffer's length.
        let text = unsafe { CStr::from_ptr(text.as_ptr()) }.to_string_lossy();
        Err(Error::new(
            ErrorKind::Os,
            format!("{what}: MPI error {code}: {text}"),
        ))
    }

    pub(crate) fn init(&self) -> Result<Membership> {
        let (mut rank, mut size, mut multiple, mut serialized) = (0, 0, 0, 0);
        let code = (self.table.init)(&mut rank, &mut size, &mut multiple, &mut serialized);
        self.check("MPI_Init_thread", code)?;
        Ok(Membership {
            rank,
            size,
            multiple: multiple != 0,
            serialized: serialized != 0,
        })
    }

    pub(crate) fn finalize(&self) -> Result<()> {
        self.check("MPI_Finalize", (self.table.finalize)())
    }

    pub(crate) fn send(&self, data: &[u8], dest: i32, tag: i32) -> Result<()> {
        let len = c_int::try_from(data.len()).map_err(|_| too_large(data.len()))?;
        self.check("MPI_Send", (self.table.send)(data.as_ptr(), len, dest, tag))
    }

    /// A message waiting from `source` (`None`: any), if any.
    pub(crate) fn probe(&self, source: Option<i32>) -> Result<Option<Probed>> {
        let (mut found, mut len, mut from, mut tag) = (0, 0, 0, 0);
        let source = source.unwrap_or(-1);
        let code = (self.table.probe)(source, &mut found, &mut len, &mut from, &mut tag);
        self.check("MPI_Iprobe", code)?;
        Ok((found != 0).then(|| Probed {
            len: usize::try_from(len).unwrap_or(0),
            from,
            tag,
        }))
    }

    /// Receives the message `probe` found.
    pub(crate) fn recv(&self, probed: &Probed) -> Result<Vec<u8>> {
        let mut data = vec![0u8; probed.len];
        let len = probed.len as c_int;
        let code = (self.table.recv)(data.as_mut_ptr(), len, probed.from, probed.tag);
        self.check("MPI_Recv", code)?;
        Ok(data)
    }

    /// The MPI library's name and version (its first line).
    pub(crate) fn library(&self) -> String {
        let mut text = [0 as c_char; 256];
        (self.table.library)(text.as_mut_ptr(), text.len() as c_int);
        // SAFETY: library NUL-terminates within the buffer's length.
        unsafe { CStr::from_ptr(text.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    }
}

fn too_large(len: usize) -> Error {
    Error::new(
        ErrorKind::TooLarge,
        format!(
            "a message of {len} bytes: MPI messages hold at most {} bytes",
            c_int::MAX
        ),
    )
}
