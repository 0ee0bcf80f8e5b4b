#!/bin/sh
# header_fresh: the checked-in include/processing.h is what the current sources generate.
# build.rs rewrites the header whenever it is stale, so after a build any difference
# from git's copy shows up in `git diff`. Exit 77 (ctest: skipped) outside a git checkout.
# Usage: header_fresh.sh <source dir>
set -eu
cd "$1"
if ! command -v git >/dev/null 2>&1; then
    echo "SKIP: git is not installed; cannot compare include/processing.h with git's copy"
    exit 77
fi
if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    echo "SKIP: $1 is not a git checkout (or git refuses it); cannot check include/processing.h"
    exit 77
fi
if git diff --exit-code -- include/processing.h; then
    echo "ok: include/processing.h is what the sources generate"
else
    echo "FAIL: include/processing.h is stale: the sources generate the diff above."
    echo "      Commit the regenerated header with the change that caused it."
    exit 1
fi
