#!/bin/sh
# consumer_*: installs the build into a fresh temporary prefix, checks the installed
# layout, then builds c-tests/consumer/consumer.c (and the README's C++ program,
# consumer.cpp, where a C++ compiler is given) against the installed copy and runs it:
#   pkgconfig         cc consumer.c $(pkg-config --cflags --libs processing), and
#                     c++ -std=c++17 consumer.cpp the same way
#   pkgconfig_static  the same with --static, libprocessing.a instead of the .so: only
#                     Libs.private supplies what the Rust staticlib needs
#   find_package      c-tests/consumer/CMakeLists.txt: find_package(processing CONFIG),
#                     processing::processing and processing::static
# The prefix is removed afterwards. Exit 77 (ctest: skipped) when pkg-config is missing.
# Usage: consumer.sh <mode> <build dir> <source dir> <cmake> <cc> <pkg-config> <libdir>
#                    <includedir> <version> <c++>
set -eu
mode=$1 build=$2 src=$3 cmake=$4 cc=$5 pkgconfig=$6 libdir=$7 includedir=$8 version=$9
cxx=${10}
major=${version%%.*}
consumer_src=$src/c-tests/consumer

fail() { echo "FAIL ($mode): $*"; exit 1; }
step() { echo "--- $*"; }

case $mode in
    pkgconfig|pkgconfig_static)
        if [ -z "$pkgconfig" ] || ! command -v "$pkgconfig" >/dev/null 2>&1; then
            echo "SKIP: pkg-config is not installed (apt-get install -y pkg-config)"
            exit 77
        fi ;;
    find_package) ;;
    *) fail "unknown mode" ;;
esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pc-consumer-$mode.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
prefix=$tmp/prefix
case $libdir in /*) fail "absolute CMAKE_INSTALL_LIBDIR ($libdir) cannot go to a temporary prefix" ;; esac
lib=$prefix/$libdir

step "cmake --install $build --prefix $prefix"
"$cmake" --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log"; fail "cmake --install failed"; }

step "installed layout"
expect_link() { # <path> <target>
    [ -L "$1" ] || fail "$1 is not a symlink"
    [ "$(readlink "$1")" = "$2" ] || fail "$1 -> $(readlink "$1"), expected -> $2"
}
expect_link "$lib/libprocessing.so" "libprocessing.so.$major"
expect_link "$lib/libprocessing.so.$major" "libprocessing.so.$version"
[ -f "$lib/libprocessing.so.$version" ] && [ ! -L "$lib/libprocessing.so.$version" ] ||
    fail "$lib/libprocessing.so.$version is not a regular file"
[ -f "$lib/libprocessing.a" ] || fail "no $lib/libprocessing.a"
[ -f "$prefix/$includedir/processing.h" ] || fail "no $prefix/$includedir/processing.h"
[ -f "$prefix/$includedir/processing.hpp" ] || fail "no $prefix/$includedir/processing.hpp"
[ -f "$lib/pkgconfig/processing.pc" ] || fail "no $lib/pkgconfig/processing.pc"
[ -f "$lib/cmake/processing/processingConfig.cmake" ] || fail "no processingConfig.cmake"
[ -f "$lib/cmake/processing/processingConfigVersion.cmake" ] || fail "no processingConfigVersion.cmake"
if command -v readelf >/dev/null 2>&1; then
    readelf -d "$lib/libprocessing.so.$version" | grep -q "SONAME.*\[libprocessing\.so\.$major\]" ||
        fail "the installed library's SONAME is not libprocessing.so.$major"
fi
echo "ok: libprocessing.so -> .so.$major -> .so.$version, .a, header, .pc, CMake package"

# needs <binary> yes|no: whether the binary has libprocessing.so.<major> as DT_NEEDED.
needs() {
    command -v readelf >/dev/null 2>&1 || return 0
    if readelf -d "$1" | grep -q "NEEDED.*\[libprocessing\.so\.$major\]"; then
        [ "$2" = yes ] || fail "$1 needs libprocessing.so.$major but should be static"
    else
        [ "$2" = no ] || fail "$1 does not need libprocessing.so.$major"
    fi
    if readelf -d "$1" | grep -q "NEEDED.*\[libprocessing\.so\]"; then
        fail "$1 needs libprocessing.so (no soname), not libprocessing.so.$major"
    fi
}
# run <binary>: runs it, checks its output names the version; with the .so, checks
# that the installed copy is the one loaded.
run() {
    if [ "$2" = yes ] && command -v ldd >/dev/null 2>&1; then
        loaded=$(ldd "$1" | sed -n "s/.*libprocessing\.so\.$major => \([^ ]*\).*/\1/p")
        case $loaded in
            "$lib"/*) ;;
            *) fail "$1 loads libprocessing.so.$major from '${loaded:-nowhere}', not from $lib" ;;
        esac
    fi
    out=$("$1") || fail "$1 failed: $out"
    echo "$out"
    case $out in *"libprocessing $version"*) ;; *) fail "$1 did not print version $version" ;; esac
}

cflags="-std=c11 -Wall -Wextra -Werror"
case $mode in
pkgconfig)
    export PKG_CONFIG_PATH="$lib/pkgconfig"
    step "pkg-config processing"
    v=$("$pkgconfig" --modversion processing) || fail "pkg-config does not find processing.pc"
    [ "$v" = "$version" ] || fail "pkg-config --modversion says $v, expected $version"
    libs=$("$pkgconfig" --libs processing)
    echo "--cflags: $("$pkgconfig" --cflags processing)"
    echo "--libs:   $libs"
    case " $libs " in *" -lprocessing "*) ;; *) fail "--libs lacks -lprocessing" ;; esac
    case " $libs " in *" -lpthread "*|*" -ldl "*) fail "--libs (not --static) lists Libs.private" ;; esac
    step "cc consumer.c \$(pkg-config --cflags --libs processing)"
    # shellcheck disable=SC2046
    "$cc" $cflags "$consumer_src/consumer.c" -o "$tmp/consumer" \
        $("$pkgconfig" --cflags --libs processing) || fail "compiling/linking failed"
    needs "$tmp/consumer" yes
    step "run with LD_LIBRARY_PATH=$lib"
    LD_LIBRARY_PATH="$lib" run "$tmp/consumer" yes
    step "c++ -std=c++17 consumer.cpp \$(pkg-config --cflags --libs processing)"
    # shellcheck disable=SC2046
    "$cxx" -std=c++17 -Wall -Wextra -Werror "$consumer_src/consumer.cpp" -o "$tmp/consumer_cpp" \
        $("$pkgconfig" --cflags --libs processing) || fail "compiling/linking C++ failed"
    needs "$tmp/consumer_cpp" yes
    LD_LIBRARY_PATH="$lib" run "$tmp/consumer_cpp" yes
    ;;
pkgconfig_static)
    export PKG_CONFIG_PATH="$lib/pkgconfig"
    static_libs=$("$pkgconfig" --static --libs processing) || fail "pkg-config --static failed"
    echo "--static --libs: $static_libs"
    # The same flags with the archive instead of the shared library: -l:libprocessing.a.
    # Every other library must come from Libs.private.
    libs=""
    for f in $static_libs; do
        [ "$f" = -lprocessing ] && f=-l:libprocessing.a
        libs="$libs $f"
    done
    case " $libs " in *" -l:libprocessing.a "*) ;; *) fail "--static --libs lacks -lprocessing" ;; esac
    step "cc consumer.c \$(pkg-config --cflags processing) $libs"
    # shellcheck disable=SC2046,SC2086
    "$cc" $cflags "$consumer_src/consumer.c" -o "$tmp/consumer_static" \
        $("$pkgconfig" --cflags processing) $libs || fail "static linking failed"
    needs "$tmp/consumer_static" no
    step "run (no LD_LIBRARY_PATH: libprocessing is linked in)"
    run "$tmp/consumer_static" no
    ;;
find_package)
    step "find_package(processing $version CONFIG REQUIRED) with CMAKE_PREFIX_PATH=$prefix"
    # The top project's CMAKE_* cache must not leak into the consumer's configure.
    env -u CMAKE_BUILD_TYPE -u CMAKE_PREFIX_PATH "$cmake" -S "$consumer_src" -B "$tmp/build" \
        -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_PREFIX_PATH="$prefix" \
        -DPC_REQUIRE_VERSION="$version" -DCMAKE_C_FLAGS="$cflags" \
        >"$tmp/configure.log" 2>&1 || { cat "$tmp/configure.log"; fail "configure failed"; }
    "$cmake" --build "$tmp/build" >"$tmp/build.log" 2>&1 ||
        { cat "$tmp/build.log"; fail "build failed"; }
    needs "$tmp/build/consumer" yes
    needs "$tmp/build/consumer_static" no
    step "run consumer (processing::processing, through its build RPATH)"
    run "$tmp/build/consumer" yes
    needs "$tmp/build/consumer_cpp" yes
    step "run consumer_cpp (the README's C++ program)"
    run "$tmp/build/consumer_cpp" yes
    step "run consumer_static (processing::static)"
    run "$tmp/build/consumer_static" no
    step "find_package(processing $((major + 1)).0) must fail (SameMajorVersion)"
    if "$cmake" -S "$consumer_src" -B "$tmp/build-next" -DCMAKE_C_COMPILER="$cc" \
        -DCMAKE_PREFIX_PATH="$prefix" -DPC_REQUIRE_VERSION="$((major + 1)).0" \
        >"$tmp/next.log" 2>&1; then
        fail "version $((major + 1)).0 was accepted by processingConfigVersion.cmake"
    fi
    grep -q "processingConfigVersion.cmake\|version" "$tmp/next.log" ||
        { cat "$tmp/next.log"; fail "configure failed for another reason"; }
    echo "ok: rejected"
    ;;
esac
echo "ok: consumer_$mode"
