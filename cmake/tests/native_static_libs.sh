#!/bin/sh
# native_static_libs: the system libraries rustc says the staticlib needs are exactly
# those processing.pc's Libs.private and processing::static list (PC_NATIVE_STATIC_LIBS
# in CMakeLists.txt). Builds in its own target dir so the extra rustc flag does not
# invalidate the library the other tests use.
# Usage: native_static_libs.sh <cargo> <source dir> <target dir> "<expected libs>" [--release]
set -eu
cargo=$1 src=$2 target=$3 expected=$4
shift 4
cd "$src"
out=$(CARGO_TARGET_DIR="$target" "$cargo" rustc --quiet --lib --crate-type staticlib "$@" \
        -- --print native-static-libs 2>&1) || { printf '%s\n' "$out"; exit 1; }
actual=$(printf '%s\n' "$out" | sed -n 's/.*native-static-libs: *//p' | tail -n 1)
if [ -z "$actual" ]; then
    printf '%s\n' "$out"
    echo "FAIL: rustc printed no native-static-libs line"
    exit 1
fi
if [ "$actual" != "$expected" ]; then
    echo "FAIL: rustc says the staticlib needs: $actual"
    echo "      CMakeLists.txt PC_NATIVE_STATIC_LIBS: $expected"
    echo "      Update PC_NATIVE_STATIC_LIBS (Libs.private and processing::static use it)."
    exit 1
fi
echo "ok: native-static-libs = Libs.private = $actual"
