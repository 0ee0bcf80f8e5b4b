#!/bin/sh
# exported_symbols: every dynamic symbol libprocessing.so defines must be part of the C
# API, i.e. start with pc_. Usage: exported_symbols.sh <nm> <libprocessing.so>
set -eu
nm=${1:-nm}
lib=$2
[ -n "$nm" ] || nm=nm
syms=$("$nm" -D --defined-only "$lib" | awk 'NF >= 3 { print $3 }')
total=$(printf '%s\n' "$syms" | grep -c . || true)
bad=$(printf '%s\n' "$syms" | grep -v '^pc_' | grep . || true)
if [ -n "$bad" ]; then
    echo "FAIL: $lib exports symbols outside the C API (not pc_*):"
    printf '  %s\n' $bad
    exit 1
fi
if [ "$total" -eq 0 ]; then
    echo "FAIL: $lib exports no symbol at all"
    exit 1
fi
echo "ok: all $total defined dynamic symbols of $lib start with pc_"
