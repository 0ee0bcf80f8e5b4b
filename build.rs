//! Build script: gives the shared library its soname and generates the C header.
//!
//! cbindgen generates the header from the sources into `$OUT_DIR/processing.h`; a build
//! script must not write into the source tree. The checked-in `include/processing.h` is
//! updated on purpose with `cmake --build <build dir> --target header`, and the ctest
//! `header_fresh` fails while the two differ (cmake/GeneratedHeader.cmake does both).

use std::env;
use std::path::PathBuf;

fn main() {
    let major = env::var("CARGO_PKG_VERSION_MAJOR").unwrap();
    let minor = env::var("CARGO_PKG_VERSION_MINOR").unwrap();
    let patch = env::var("CARGO_PKG_VERSION_PATCH").unwrap();

    // The soname carries the ABI version: programs link against libprocessing.so.<major>.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libprocessing.so.{major}");

    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=build.rs");

    let crate_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let mut config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("cbindgen.toml is readable and valid");
    config.after_includes = Some(format!(
        "\n/** Major version of this header; pc_version() gives the library's at run time. */\n\
         #define PC_VERSION_MAJOR {major}\n\
         /** Minor version of this header. */\n\
         #define PC_VERSION_MINOR {minor}\n\
         /** Patch version of this header. */\n\
         #define PC_VERSION_PATCH {patch}\n"
    ));

    let header = PathBuf::from(env::var("OUT_DIR").unwrap()).join("processing.h");
    cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header")
        .write_to_file(&header);
}
