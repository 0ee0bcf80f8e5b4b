#!/bin/sh
# exported_symbols: the C API is the pc_ names alone.
# 1. Every dynamic symbol libprocessing.so defines starts with pc_.
# 2. Every name include/processing.h declares (each #define, typedef, struct, enum and its
#    constants, function) starts with PC_ or pc_, besides the include guard PROCESSING_H;
#    a line of another kind at file level fails too, so no new kind of name slips by.
# Usage: exported_symbols.sh <nm> <libprocessing.so> [<processing.h>]
set -eu
nm=${1:-nm}
lib=$2
header=${3:-$(dirname "$0")/../../include/processing.h}
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

# Prints "<line>: <name>" for each declared name, "<line>: ?<text>" for a line not understood.
names=$(awk '
    # Comments out: /* ... */ (possibly over several lines) and // to the end of the line.
    {
        line = $0
        out = ""
        while (line != "") {
            if (in_comment) {
                end = index(line, "*/")
                if (end == 0) { line = "" } else { line = substr(line, end + 2); in_comment = 0 }
            } else {
                start = index(line, "/*")
                slash = index(line, "//")
                if (slash > 0 && (start == 0 || slash < start)) {
                    out = out substr(line, 1, slash - 1); line = ""
                } else if (start > 0) {
                    out = out substr(line, 1, start - 1); line = substr(line, start + 2)
                    in_comment = 1
                } else {
                    out = out line; line = ""
                }
            }
        }
        sub(/[ \t]+$/, "", out)
    }
    out == "" { next }
    body != "" {                               # inside a typedef struct/enum { ... }
        if (out ~ /^}/) {
            name = out; sub(/^}[ \t]*/, "", name); sub(/;$/, "", name)
            print NR ": " name; body = ""
        } else if (body == "enum") {
            name = out; sub(/^[ \t]+/, "", name); sub(/[ \t=,].*$/, "", name)
            print NR ": " name
        }
        next
    }
    out ~ /^#(ifndef|define|endif)[ \t]+PROCESSING_H/ || out ~ /^#endif/ { next }
    out ~ /^#include <[a-z]+\.h>$/ || out ~ /^#ifdef __cplusplus$/ { next }
    out ~ /^extern "C" {$/ || out ~ /^}$/ { next }
    out ~ /^#define / { name = out; sub(/^#define /, "", name); sub(/[ (].*$/, "", name)
                        print NR ": " name; next }
    out ~ /^typedef (struct|enum) {$/ { body = out; sub(/^typedef /, "", body)
                                         sub(/ {$/, "", body); next }
    out ~ /^typedef (struct|enum) [A-Za-z_0-9]+ [A-Za-z_0-9]+;$/ {
        split(out, w, /[ ;]/); print NR ": " w[3]; print NR ": " w[4]; next }
    out ~ /^typedef .*\(\*[A-Za-z_0-9]+\)\(/ { name = out; sub(/^[^(]*\(\*/, "", name)
                                               sub(/\).*$/, "", name); print NR ": " name; next }
    out ~ /^typedef .* [A-Za-z_0-9]+;$/ { name = out; sub(/;$/, "", name)
                                          sub(/^.*[ *]/, "", name); print NR ": " name; next }
    out ~ /^[A-Za-z_][^(]*[ *][A-Za-z_0-9]+\(.*\);$/ { name = out; sub(/\(.*$/, "", name)
                                                       sub(/^.*[ *]/, "", name)
                                                       print NR ": " name; next }
    { print NR ": ?" out }
' "$header")
count=$(printf '%s\n' "$names" | grep -c . || true)
bad=$(printf '%s\n' "$names" | grep -v ': \(PC_\|pc_\)' || true)
if [ -n "$bad" ]; then
    echo "FAIL: $header declares names that are not PC_*/pc_* (?: a line not understood):"
    printf '%s\n' "$bad" | sed 's/^/  line /'
    exit 1
fi
if [ "$count" -eq 0 ]; then
    echo "FAIL: found no declaration in $header"
    exit 1
fi
echo "ok: all $count names $header declares start with PC_ or pc_"
