#!/bin/sh
# The Debian packages `cpack -G DEB` makes from a build dir (CMakeLists.txt, "Debian
# packages"), checked two ways:
#   contents  (the ctest deb_packages) builds them into a scratch dir, checks their
#             control fields and that each file is in the right package (dpkg-deb -c),
#             unpacks both into a scratch root (dpkg-deb -x) and builds
#             c-tests/consumer/consumer.c against that root through pkg-config (prefix
#             overridden) and through find_package (CMAKE_PREFIX_PATH), then runs it.
#   dpkg      (.ci/run, as root) installs both with dpkg -i, builds the consumer against
#             the system's copy and runs it without LD_LIBRARY_PATH, then purges both
#             and checks that none of their files is left.
# Where the build has the MPI back end's plugin, a third package, libprocessing-mpi, is
# checked too (its fields and file), and installed and purged with the others.
# Exit 77 (ctest: skipped) when dpkg-deb or pkg-config is missing.
# Usage: deb_packages.sh contents|dpkg <build dir> <source dir> <cmake> <cpack> <cc>
#                        <pkg-config> <libdir> <includedir> <version>
set -eu
mode=$1 build=$2 src=$3 cmake=$4 cpack=$5 cc=$6 pkgconfig=$7 libdir=$8 includedir=$9
shift 9
version=$1
major=${version%%.*}
runtime_pkg=libprocessing$major
dev_pkg=libprocessing-dev
mpi_pkg=libprocessing-mpi
consumer_src=$src/c-tests/consumer
cflags="-std=c11 -Wall -Wextra -Werror"

fail() { echo "FAIL (deb_packages $mode): $*"; exit 1; }
step() { echo "--- $*"; }

case $mode in contents|dpkg) ;; *) fail "unknown mode" ;; esac
for tool in dpkg-deb "$pkgconfig"; do
    if [ -z "$tool" ] || ! command -v "$tool" >/dev/null 2>&1; then
        echo "SKIP: ${tool:-pkg-config} is not installed"
        exit 77
    fi
done
case $libdir in /*) fail "absolute CMAKE_INSTALL_LIBDIR ($libdir): packages use /usr/<libdir>" ;; esac
case $includedir in /*) fail "absolute CMAKE_INSTALL_INCLUDEDIR ($includedir)" ;; esac
if [ "$mode" = dpkg ]; then
    [ "$(id -u)" -eq 0 ] || fail "dpkg mode installs packages: run it as root"
    for p in $runtime_pkg $dev_pkg $mpi_pkg; do
        if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
            fail "$p is installed already: this check will not replace it"
        fi
    done
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pc-deb.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

step "cpack -G DEB --config $build/CPackConfig.cmake"
"$cpack" -G DEB --config "$build/CPackConfig.cmake" -B "$tmp/out" >"$tmp/cpack.log" 2>&1 ||
    { cat "$tmp/cpack.log"; fail "cpack failed"; }
runtime_deb=$(ls "$tmp/out/${runtime_pkg}_${version}"-*.deb 2>/dev/null | head -n 1)
dev_deb=$(ls "$tmp/out/${dev_pkg}_${version}"-*.deb 2>/dev/null | head -n 1)
[ -n "$runtime_deb" ] || { ls "$tmp/out"; fail "no ${runtime_pkg}_${version}-*.deb"; }
[ -n "$dev_deb" ] || { ls "$tmp/out"; fail "no ${dev_pkg}_${version}-*.deb"; }
echo "$(basename "$runtime_deb") $(basename "$dev_deb")"
# The plugin is built beside the library (cargo's output dir) where CMake found an MPI.
mpi_deb=
if [ -n "$(find "$build/cargo" -maxdepth 2 -name libprocessing-mpi.so 2>/dev/null)" ]; then
    mpi_deb=$(ls "$tmp/out/${mpi_pkg}_${version}"-*.deb 2>/dev/null | head -n 1)
    [ -n "$mpi_deb" ] || { ls "$tmp/out"; fail "no ${mpi_pkg}_${version}-*.deb"; }
    echo "$(basename "$mpi_deb")"
fi

step "control fields"
field() { dpkg-deb -f "$1" "$2"; }
[ "$(field "$runtime_deb" Package)" = "$runtime_pkg" ] || fail "runtime package is not $runtime_pkg"
[ "$(field "$dev_deb" Package)" = "$dev_pkg" ] || fail "dev package is not $dev_pkg"
deb_version=$(field "$runtime_deb" Version)
case $deb_version in "$version"-*) ;; *) fail "runtime Version $deb_version is not $version-*" ;; esac
[ "$(field "$dev_deb" Version)" = "$deb_version" ] || fail "the packages' versions differ"
case $(field "$dev_deb" Depends) in
    *"$runtime_pkg (= $deb_version)"*) ;;
    *) fail "$dev_pkg does not depend on $runtime_pkg (= $deb_version): $(field "$dev_deb" Depends)" ;;
esac
case $(field "$runtime_deb" Depends) in *libc6*) ;; *) fail "$runtime_pkg does not depend on libc6" ;; esac
dpkg-deb --ctrl-tarfile "$runtime_deb" | tar -t | grep -q 'shlibs$' || fail "$runtime_pkg has no shlibs file"
for script in postinst postrm; do
    dpkg-deb --ctrl-tarfile "$runtime_deb" | tar -xO "./$script" 2>/dev/null | grep -q ldconfig ||
        fail "$runtime_pkg has no $script that runs ldconfig"
done
echo "ok: $runtime_pkg $deb_version, $dev_pkg depends on it (=)"
if [ -n "$mpi_deb" ]; then
    [ "$(field "$mpi_deb" Package)" = "$mpi_pkg" ] || fail "the MPI package is not $mpi_pkg"
    [ "$(field "$mpi_deb" Version)" = "$deb_version" ] || fail "the MPI package's version differs"
    case $(field "$mpi_deb" Depends) in
        *"$runtime_pkg (= $deb_version)"*) ;;
        *) fail "$mpi_pkg does not depend on $runtime_pkg (= $deb_version): $(field "$mpi_deb" Depends)" ;;
    esac
    echo "ok: $mpi_pkg depends on $(field "$mpi_deb" Depends)"
fi

step "file lists (dpkg-deb -c)"
# "<path>" for files, "<path> -> <target>" for links; directories left out.
list() {
    dpkg-deb -c "$1" | awk '$1 !~ /^d/ { $1 = $2 = $3 = $4 = $5 = ""; sub(/^ +/, ""); print }' |
        sed 's|^\./|/|' | sort
}
L=/usr/$libdir
I=/usr/$includedir
list "$runtime_deb" >"$tmp/runtime.list"
{
    echo "$L/libprocessing.so.$version"
    echo "$L/libprocessing.so.$major -> libprocessing.so.$version"
} | sort >"$tmp/runtime.expected"
list "$dev_deb" >"$tmp/dev.list"
{
    for h in "$src"/include/*.h "$src"/include/*.hpp; do
        [ -f "$h" ] && echo "$I/$(basename "$h")"
    done
    echo "$L/libprocessing.a"
    echo "$L/libprocessing.so -> libprocessing.so.$major"
    echo "$L/pkgconfig/processing.pc"
    echo "$L/cmake/processing/processingConfig.cmake"
    echo "$L/cmake/processing/processingConfigVersion.cmake"
} | sort >"$tmp/dev.expected"
packages="runtime dev"
if [ -n "$mpi_deb" ]; then
    packages="$packages mpi"
    list "$mpi_deb" >"$tmp/mpi.list"
    echo "$L/libprocessing-mpi.so" >"$tmp/mpi.expected"
else
    : >"$tmp/mpi.list"
fi
for p in $packages; do
    diff -u "$tmp/$p.expected" "$tmp/$p.list" || fail "the $p package's files are not the expected ones"
done
cat "$tmp/runtime.list" "$tmp/dev.list" "$tmp/mpi.list"

# needs <binary>: it has libprocessing.so.<major> as DT_NEEDED.
needs() {
    command -v readelf >/dev/null 2>&1 || return 0
    readelf -d "$1" | grep -q "NEEDED.*\[libprocessing\.so\.$major\]" ||
        fail "$1 does not need libprocessing.so.$major"
}
# run <binary> <lib dir>: runs it, checks it loaded libprocessing from <lib dir> and
# that its output names the version.
run() {
    if command -v ldd >/dev/null 2>&1; then
        loaded=$(ldd "$1" | sed -n "s/.*libprocessing\.so\.$major => \([^ ]*\).*/\1/p")
        # Real paths: with a merged /usr, the loader may name /lib for /usr/lib.
        [ -n "$loaded" ] && loaded=$(readlink -f "$loaded")
        case $loaded in
            "$(readlink -f "$2")"/*) ;;
            *) fail "$1 loads libprocessing.so.$major from '${loaded:-nowhere}', not from $2" ;;
        esac
    fi
    out=$("$1") || fail "$1 failed: $out"
    echo "$out"
    case $out in *"libprocessing $version"*) ;; *) fail "$1 did not print version $version" ;; esac
}

if [ "$mode" = contents ]; then
    root=$tmp/root
    step "dpkg-deb -x both into $root"
    dpkg-deb -x "$runtime_deb" "$root"
    dpkg-deb -x "$dev_deb" "$root"
    readelf -d "$root$L/libprocessing.so.$version" 2>/dev/null |
        grep -q "SONAME.*\[libprocessing\.so\.$major\]" || fail "the packaged library's SONAME is wrong"

    step "pkg-config with PKG_CONFIG_PATH=$root$L/pkgconfig, prefix=$root/usr"
    pc() { PKG_CONFIG_PATH="$root$L/pkgconfig" PKG_CONFIG_LIBDIR="$root$L/pkgconfig" \
        "$pkgconfig" --define-variable=prefix="$root/usr" "$@"; }
    v=$(pc --modversion processing) || fail "pkg-config does not find the packaged processing.pc"
    [ "$v" = "$version" ] || fail "pkg-config --modversion says $v, expected $version"
    flags=$(pc --cflags --libs processing)
    echo "$flags"
    case " $flags " in *" -I$root$I "*) ;; *) fail "--cflags does not point into $root" ;; esac
    case " $flags " in *" -L$root$L "*) ;; *) fail "--libs does not point into $root" ;; esac
    # shellcheck disable=SC2086
    "$cc" $cflags "$consumer_src/consumer.c" -o "$tmp/consumer_pc" $flags ||
        fail "compiling/linking with pkg-config failed"
    needs "$tmp/consumer_pc"
    LD_LIBRARY_PATH="$root$L" run "$tmp/consumer_pc" "$root$L"

    step "find_package(processing $version CONFIG) with CMAKE_PREFIX_PATH=$root/usr"
    env -u CMAKE_BUILD_TYPE -u CMAKE_PREFIX_PATH "$cmake" -S "$consumer_src" -B "$tmp/build" \
        -DCMAKE_C_COMPILER="$cc" -DCMAKE_PREFIX_PATH="$root/usr" \
        -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
        -DPC_REQUIRE_VERSION="$version" -DCMAKE_C_FLAGS="$cflags" \
        >"$tmp/configure.log" 2>&1 || { cat "$tmp/configure.log"; fail "configure failed"; }
    found=$(sed -n 's/^processing_DIR:PATH=//p' "$tmp/build/CMakeCache.txt")
    [ "$found" = "$root$L/cmake/processing" ] || fail "find_package found $found, not the packaged copy"
    "$cmake" --build "$tmp/build" >"$tmp/build.log" 2>&1 ||
        { cat "$tmp/build.log"; fail "build failed"; }
    needs "$tmp/build/consumer"
    run "$tmp/build/consumer" "$root$L"
    "$tmp/build/consumer_static" >/dev/null || fail "consumer_static (processing::static) failed"
    echo "ok: deb_packages"
    exit 0
fi

# dpkg: the system's copy, installed and removed for real.
files=$(cat "$tmp/runtime.list" "$tmp/dev.list" "$tmp/mpi.list" | sed 's/ -> .*//')
installed="$dev_pkg $runtime_pkg"
[ -z "$mpi_deb" ] || installed="$mpi_pkg $installed"
# shellcheck disable=SC2086
purge() { dpkg --purge $installed >"$tmp/purge.log" 2>&1; }
step "dpkg -i $(basename "$runtime_deb") $(basename "$dev_deb") ${mpi_deb:+$(basename "$mpi_deb")}"
# shellcheck disable=SC2086
dpkg -i "$runtime_deb" "$dev_deb" $mpi_deb || { purge || true; fail "dpkg -i failed"; }
trap 'purge || true; rm -rf "$tmp"' EXIT INT TERM
for f in $files; do [ -e "$f" ] || fail "$f is not installed"; done
step "cc consumer.c \$(pkg-config --cflags --libs processing), run without LD_LIBRARY_PATH"
# shellcheck disable=SC2046
"$cc" $cflags "$consumer_src/consumer.c" -o "$tmp/consumer" \
    $("$pkgconfig" --cflags --libs processing) || fail "building against the installed copy failed"
run "$tmp/consumer" "$L"
step "dpkg --purge $installed"
purge || { cat "$tmp/purge.log"; fail "dpkg --purge failed"; }
trap 'rm -rf "$tmp"' EXIT INT TERM
for f in $files; do
    if [ -e "$f" ] || [ -L "$f" ]; then fail "$f is left after dpkg --purge"; fi
done
for p in $installed; do
    if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'installed'; then
        fail "$p is still known to dpkg"
    fi
done
echo "ok: deb_packages dpkg (installed, used, purged)"
