#!/usr/bin/env python3
"""Generates the bad-input sweep (a C test) from include/processing.h.

    gen_sweep.py HEADER OUTPUT.c

Every exported function the header declares is called with, for each argument in turn,
a bad value of its C type (a NULL pointer, a handle of another kind, a freed handle, a NaN
or infinite timeout, a huge size, an invalid typecode or address, an item of an unknown
kind), every other argument being a live valid one made by the table VALID below. Each
call must fail as the header's conventions (its top comment) promise: an error status,
or the function's documented fallback, and a pc_last_error() that names the function (and
the parameter, for NULL and invalid handles). A function's cases run in a forked child,
so a crash or a hang names the function and the other functions still run.

A function whose parameter has a C type this script has no maker for is not skipped: the
generated test fails, naming it (add the type to VALID, and to BAD if it has bad values).
"""

import fnmatch
import os
import re
import sys

# ---------------------------------------------------------------------------------------
# Parsing the header
# ---------------------------------------------------------------------------------------


class Param:
    def __init__(self, ctype, name):
        self.ctype = ctype
        self.name = name


class Function:
    def __init__(self, doc, ret, name, params):
        self.doc = doc
        self.ret = ret
        self.name = name
        self.params = params


def normalize_type(text):
    text = re.sub(r"\s+", " ", text.strip())
    text = re.sub(r"\s*\*\s*", " *", text)
    return text.replace("* *", "**").replace(" *const", " *const").strip()


def parse_header(text):
    """The handle types and the functions of the header's extern "C" block."""
    handles = set(re.findall(r"^typedef struct (pc_\w+) \1;$", text, re.M))
    body = text[text.index('extern "C" {'):]
    decl = re.compile(r"/\*\*(?P<doc>.*?)\*/\s*\n(?P<ret>[A-Za-z_][\w ]*?\s*\**)\s*"
                      r"(?P<name>pc_\w+)\((?P<params>[^)]*)\);", re.S)
    functions = []
    for m in decl.finditer(body):
        doc = " ".join(line.strip().lstrip("*").strip() for line in m["doc"].splitlines())
        params = []
        if m["params"].strip() != "void":
            for raw in m["params"].split(","):
                pm = re.match(r"(.*?)(\w+)\s*$", raw.strip(), re.S)
                params.append(Param(normalize_type(pm[1]), pm[2]))
        functions.append(Function(doc.strip(), normalize_type(m["ret"]), m["name"], params))
    return handles, functions


# ---------------------------------------------------------------------------------------
# Valid argument makers, keyed by C type (a C expression; helpers are in PRELUDE)
# ---------------------------------------------------------------------------------------

# A handle type's maker is `make_<type>()` (in PRELUDE): a fresh live object per case, or
# for the costly ones (a started manager, a pool) one per forked child.
VALID = {
    "double": "0.0",
    "size_t": "1",
    "int": "1",
    "bool": "true",
    "char": "'i'",
    "unsigned int": "1",
    "uint32_t": "1",
    "int64_t": "1",
    "ptrdiff_t": "0",
    "pc_item": "pc_item_int(1)",
    "const char *": "\"sweep\"",
    "const void *": "sweep_in",
    "void *": "sweep_out",
    "char **": "sweep_argv",
    "size_t *": "sweep_sizes",
    "bool *": "sweep_flags",
    "int *": "sweep_ints",
    "int32_t *": "sweep_i32",
    "pc_bytes *": "sweep_bytes",
    "pc_item *": "sweep_items_out",
    "pc_item **": "sweep_item_arrays",
    "const pc_item *": "sweep_items_in",
    "const pc_slice *": "sweep_slices",
    "const uint8_t **": "sweep_key",
    "const pc_process **": "((const pc_process *[2]){NULL})",
    "const pc_pool_options *": "&sweep_pool_options",
    "const pc_type_vtable *": "&sweep_vtable",
    "pc_connection *const *": "make_conn_array()",
    "pc_waitable *": "make_waitables()",
    "pc_task_fn": "sweep_task",
    "pc_elem_fn": "sweep_elem",
    "pc_target_fn": "sweep_target",
    "pc_callback_fn": "sweep_callback",
    "pc_predicate_fn": "sweep_predicate",
    "pc_barrier_action_fn": "sweep_barrier_action",
    "pc_log_handler": "sweep_log_handler",
}

# Valid values that depend on the parameter's name rather than its type alone.
VALID_BY_NAME = {
    ("size_t", "offset"): "0",
    ("size_t", "maxsize"): "0",
    ("size_t", "maxlength"): "0",
    ("size_t", "chunksize"): "0",
    ("size_t", "nargs"): "0",
    ("const char *", "address"): "NULL",
    ("const char *", "type_id"): "\"dict\"",
    ("const char *", "type"): "\"dict\"",
    ("const char *", "method"): "\"keys\"",
    ("const char *", "format"): "\"%(message)s\"",
}

# Valid values for one function's parameter, where the type's maker does not fit it.
VALID_FOR = {
    # A connecting client with a key would wait 5 s for a handshake nobody answers.
    ("pc_client_connect", "address"): "make_listener_address()",
    ("pc_client_connect", "len"): "0",
    # Registering and exposing come before start.
    ("pc_manager_register", "m"): "make_unstarted_manager()",
    ("pc_manager_expose", "m"): "make_unstarted_manager()",
    ("pc_manager_register", "type_id"): "\"sweep_type\"",
    # The string functions take 'c' arrays only.
    ("pc_array_get_string", "a"): "make_char_array()",
    ("pc_array_set_string", "a"): "make_char_array()",
    # Only a joinable queue joins; an empty one returns at once.
    ("pc_queue_join", "q"): "make_joinable_queue()",
    ("pc_queue_task_done", "q"): "make_joinable_queue()",
    # A started child that ends at once: a join with any timeout returns.
    ("pc_process_join", "p"): "make_started_process()",
    # A vtable of that type; any other pointer is not one.
    ("pc_manager_create", "type_id"): "\"dict\"",
}

# Makers of a handle to free before the call, where make_<type>() is one per child.
FRESH = {"pc_manager": "make_unstarted_manager", "pc_pool": "make_fresh_pool"}

# Types that exist only during a library callback (a pool task, a custom type's call):
# the sweep has no live one, so it passes them bad only (NULL, another kind).
CALLBACK_ONLY = {"pc_buffer", "pc_item_builder"}

# ---------------------------------------------------------------------------------------
# Bad values, keyed by C type: (label, C expression, what is expected)
# ---------------------------------------------------------------------------------------

INVALID = "invalid"   # PC_ERR_INVALID_ARGUMENT (or the fallback) naming the parameter
ERROR = "error"       # any error status (or the fallback) naming the function
FOREVER = "forever"   # a valid "wait without limit": returns on an object that is ready

SIZE_BAD = [("SIZE_MAX", "SIZE_MAX", ERROR),
            ("huge", "(size_t)PTRDIFF_MAX + 1", ERROR)]
BAD = {
    "double timeout": [("NaN", "NAN", INVALID), ("+inf", "INFINITY", FOREVER),
                       ("-inf", "-INFINITY", FOREVER)],
    "size_t": SIZE_BAD,
    "int": [("-1", "-1", ERROR), ("INT_MAX", "INT_MAX", ERROR)],
    "ptrdiff_t": [("PTRDIFF_MIN", "PTRDIFF_MIN", ERROR), ("PTRDIFF_MAX", "PTRDIFF_MAX", ERROR)],
    "unsigned int": [("UINT_MAX", "UINT_MAX", ERROR)],
    "uint32_t": [("UINT32_MAX", "UINT32_MAX", ERROR)],
    "char typecode": [("'x'", "'x'", INVALID), ("'\\0'", "'\\0'", INVALID),
                      ("0x80", "(char)0x80", INVALID)],
    "const char * address": [
        ("garbage", "\"garbage\"", ERROR),
        ("no-scheme", "\"127.0.0.1:80\"", ERROR),
        ("long-unix", "sweep_long_unix", ERROR),
        ("long-abstract", "sweep_long_abstract", ERROR),
        ("port-99999", "\"tcp://127.0.0.1:99999\"", ERROR),
        ("port--1", "\"tcp://127.0.0.1:-1\"", ERROR),
        ("port-empty", "\"tcp://127.0.0.1:\"", ERROR),
        ("port-x", "\"tcp://127.0.0.1:x\"", ERROR),
        ("no-host", "\"tcp://\"", ERROR),
        ("bad-ipv6", "\"tcp://[::1:80\"", ERROR),
        ("not-utf8", "\"unix:\\xff\\xfe\"", ERROR),
    ],
    "pc_item": [("kind-99", "sweep_bad_item()", INVALID)],
}

# Where the header documents a bad-looking value as valid: the call must not fail
# (no error status naming the parameter, no crash). Each entry quotes the header.
ACCEPTED = {
    # NULL pointers the header allows.
    ("pc_process_new", "target", "NULL"): "A NULL `target` makes a process that runs nothing",
    ("pc_process_new", "arg", "NULL"): "`arg` is passed as is",
    ("pc_dummy_process_new", "target", "NULL"):
        "A NULL `target` makes a process that runs nothing",
    ("pc_dummy_process_new", "arg", "NULL"): "`arg` is passed as is",
    ("pc_process_run", "ret", "NULL"): "`ret` may be NULL",
    ("pc_freeze_support", "argv", "NULL"): "`argv` is `main`'s (NULL returns at once)",
    ("pc_set_executable", "path", "NULL"): "NULL: back to `/proc/self/exe`",
    ("pc_process_set_start_method", "method", "NULL"): "NULL: the default when it starts",
    ("pc_condition_new", "lock", "NULL"): "on a new RLock of its own when `lock` is NULL",
    ("pc_condition_wait_for", "ctx", "NULL"): "`ctx` is the caller's",
    ("pc_barrier_wait", "index", "NULL"): "`index` may be NULL",
    ("pc_barrier_wait_default", "index", "NULL"): "`index` may be NULL",
    ("pc_barrier_new_with", "action", "NULL"): "`action` (NULL: none)",
    ("pc_barrier_new_with", "ctx", "NULL"): "`action(ctx)`",
    ("pc_value_new", "init", "NULL"): "NULL for zero",
    ("pc_value_new_with_lock", "init", "NULL"): "NULL for zero",
    ("pc_raw_value_new", "init", "NULL"): "NULL for zero",
    ("pc_array_new", "init", "NULL"): "NULL for zeros",
    ("pc_array_new_with_lock", "init", "NULL"): "NULL for zeros",
    ("pc_raw_array_new", "init", "NULL"): "NULL for zeros",
    ("pc_manager_value", "init", "NULL"): "NULL: zero",
    ("pc_manager_array", "init", "NULL"): "NULL: zeros",
    ("pc_queue_put_many", "put", "NULL"): "`*put` (if `put` is not NULL)",
    ("pc_pool_new", "opts", "NULL"): "`opts` NULL: the CPU count",
    ("pc_pool_apply_async", "cb", "NULL"): "`cb` (if not NULL)",
    ("pc_pool_apply_async", "ctx", "NULL"): "passed to `cb`",
    ("pc_pool_map_async", "cb", "NULL"): "`cb` (if not NULL)",
    ("pc_pool_map_async", "ctx", "NULL"): "passed to `cb`",
    ("pc_manager_new", "address", "NULL"): "NULL gives a private unix socket",
    **{(fn, "name", "NULL"): "a new, anonymous one for a NULL `name`"
       for fn in ["pc_manager_dict", "pc_manager_list", "pc_manager_namespace",
                  "pc_manager_create", "pc_manager_queue", "pc_manager_joinable_queue",
                  "pc_manager_lock", "pc_manager_rlock", "pc_manager_semaphore",
                  "pc_manager_bounded_semaphore", "pc_manager_condition", "pc_manager_event",
                  "pc_manager_barrier", "pc_manager_value", "pc_manager_array"]},
    ("pc_manager_new", "authkey", "NULL"): "A NULL `authkey` means the process's key, "
                                           "whatever `len`",
    ("pc_listener_new", "address", "NULL"): "NULL for a fresh private unix name",
    ("pc_proxy_call", "result", "NULL"): "NULL: not wanted",
    ("pc_enable_logging", "handler", "NULL"): "to standard error … when `handler` is NULL",
    ("pc_enable_logging", "ctx", "NULL"): "`ctx` is the caller's",
    ("pc_enable_logging", "format", "NULL"): "NULL means `[%(levelname)s/…`",
    ("pc_item_bytes", "data", "NULL"): "an item the call using it refuses",
    ("pc_item_str", "s", "NULL"): "NULL gives an item the call using it refuses",
    # Sizes and counts the header gives no upper bound.
    ("pc_status_str", "status", "*"): "for any integer",
    ("pc_freeze_support", "argc", "*"): "Any arguments",
    ("pc_condition_notify", "n", "*"): "fewer if fewer wait",
    ("pc_connection_recv_bytes", "maxlength", "*"): "a longer message is refused",
    ("pc_enable_logging", "level", "INT_MAX"): "any non-negative number",
    ("pc_listener_new", "backlog", "INT_MAX"): "`backlog` is `listen`'s (the kernel caps it)",
    ("pc_log", "level", "*"): "at `level`: written when enabled at that level",
    ("pc_list_insert", "index", "*"): "one past either end inserts there",
    ("pc_item_bytes", "len", "*"): "the item borrows; the call using it checks",
    ("pc_pool_map", "chunksize", "*"): "`chunksize` items per task message",
    ("pc_pool_map_async", "chunksize", "*"): "as `pc_pool_map`",
    ("pc_pool_imap", "chunksize", "*"): "as `pc_pool_map`",
    ("pc_pool_imap_unordered", "chunksize", "*"): "as `pc_pool_map`",
    ("pc_pool_map_array", "chunksize", "*"): "`chunksize` elements per task",
    ("pc_manager_barrier", "parties", "*"): "`PC_ERR_INVALID_ARGUMENT` for 0 parties (only)",
    ("pc_manager_semaphore", "value", "*"): "starting at `value` (Python's has no bound)",
    ("pc_manager_bounded_semaphore", "value", "*"): "as `pc_manager_semaphore`",
}

# Cases that fail today for a reason outside the sweep's scope, each reported to its
# owner. They run each in a child of their own and must still fail; once one passes, the
# sweep fails until its entry is removed here (so it is swept as any other case).
KNOWN_DEFECTS = {}

# Calls the header makes undefined behaviour (as free() of a foreign pointer): not swept.
UNDEFINED = {
    ("pc_items_release", "*"): "takes only an array the library handed out, with its count",
    ("pc_bytes_free", "*"): "takes only a pc_bytes the library filled",
    ("pc_item_release", "*"): "takes only an item built by pc_item_* or filled by the library",
}

# ---------------------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------------------


def handle_of(ctype, handles):
    """The handle type of a `pc_x *` / `const pc_x *` parameter, else None."""
    m = re.fullmatch(r"(?:const )?(pc_\w+) \*", ctype)
    return m[1] if m and m[1] in handles else None


def valid_expr(fn, p, handles):
    if (fn.name, p.name) in VALID_FOR:
        return VALID_FOR[(fn.name, p.name)]
    h = handle_of(p.ctype, handles)
    if h:
        return None if h in CALLBACK_ONLY else f"make_{h}()"
    m = re.fullmatch(r"(pc_\w+) \*\*", p.ctype)
    if m and m[1] in handles:
        return f"(({m[1]} *[4]){{NULL}})"
    return VALID_BY_NAME.get((p.ctype, p.name), VALID.get(p.ctype))


def bad_values(p):
    for key in (f"{p.ctype} {p.name}", p.ctype):
        if key in BAD:
            return BAD[key]
    return []


def fallback_of(fn, param):
    """The value a value-returning function documents for a NULL or invalid `param`."""
    for sentence in re.split(r"(?<=[.;])\s", fn.doc):
        if re.search(r"NULL or invalid `" + re.escape(param) + "`", sentence):
            m = re.search(r"(?<![\w-])(NULL|-1|0|false|true|False)\b", sentence)
            if m:
                return {"False": "false"}.get(m[1], m[1])
    return None


def lookup(table, fn, p, label):
    """The entry of `table` for a case; keys are (function pattern, parameter, label or *)."""
    for (pattern, param, case), why in table.items():
        if fnmatch.fnmatchcase(fn.name, pattern) and param == p.name and case in (label, "*"):
            return why
    return None


def is_free(fn, handles):
    return (fn.ret == "void" and len(fn.params) == 1 and fn.name.endswith("_free")
            and handle_of(fn.params[0].ctype, handles) is not None)


def c_string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Generator:
    def __init__(self, handles, functions):
        self.handles = handles
        self.functions = functions
        self.frees = {handle_of(f.params[0].ctype, handles): f.name
                      for f in functions if is_free(f, handles)}
        self.out = []
        self.uncovered = []   # (function, reason)
        self.skipped = []     # (function, case, reason) written into the code
        self.swept = []       # names of the functions with a sweep routine
        self.known = []       # (case, reason, code) of KNOWN_DEFECTS

    def emit(self, line=""):
        self.out.append(line)

    def cases(self, fn):
        """(param index, label, C expression or None, expectation, freed type) per case."""
        for i, p in enumerate(fn.params):
            h = handle_of(p.ctype, self.handles)
            if (fn.name, "*") in UNDEFINED:
                continue
            if h:
                yield i, "NULL", "NULL", INVALID, None
                other = "pc_lock" if h == "pc_event" else "pc_event"
                yield i, "another kind", f"({p.ctype})make_{other}()", INVALID, None
                if h in self.frees:
                    yield i, "freed", None, INVALID, h
                continue
            if p.ctype.endswith("*") or p.ctype.endswith("_fn") or p.ctype == "pc_log_handler":
                yield i, "NULL", "NULL", INVALID, None
            for label, expr, expect in bad_values(p):
                yield i, label, expr, expect, None

    def gen_function(self, fn):
        valid = []
        for p in fn.params:
            v = valid_expr(fn, p, self.handles)
            h = handle_of(p.ctype, self.handles)
            if v is None and not (h and h in CALLBACK_ONLY):
                self.uncovered.append(
                    (fn.name, f"parameter `{p.name}` has type `{p.ctype}`, which the "
                              "sweep has no valid-argument maker for"))
                return
            valid.append(v)
        body = []
        for i, label, expr, expect, freed in self.cases(fn):
            p = fn.params[i]
            case = f"{p.name}={label}"
            missing = [q for j, q in enumerate(fn.params) if j != i and valid[j] is None]
            if missing:
                reason = (f"needs a live `{missing[0].ctype}` besides, which exists only "
                          "inside its callback")
                self.skipped.append((fn.name, case, reason))
                body.append(f"    /* {case}: not swept: {reason}. */")
                continue
            why = lookup(ACCEPTED, fn, p, label)
            if is_free(fn, self.handles) and label == "NULL":
                why = "a _free of NULL does nothing (the header's conventions)"
            if why is None and expect == FOREVER:
                why = "negative or infinite: without limit (the header's timeouts)"
            code = self.gen_case(fn, i, case, expr, expect, freed, valid, why)
            known = lookup(KNOWN_DEFECTS, fn, p, label)
            if known:
                self.known.append((f"{fn.name}({case})", known, code))
            else:
                body.append(code)
        self.swept.append(fn.name)
        self.emit(f"static void sweep_{fn.name}(void)")
        self.emit("{")
        if not body:
            self.emit("    /* No case: no parameter has a bad value, or the header makes every bad "
                      "value undefined (UNDEFINED). */")
        self.out.extend(body)
        self.emit("}")
        self.emit()

    def gen_case(self, fn, i, case, expr, expect, freed, valid, why):
        p = fn.params[i]
        lines = ["    {", f"        sweep_case({c_string(fn.name)}, {c_string(case)});"]
        for j, q in enumerate(fn.params):
            if j == i:
                continue
            value = valid[j]
            # NULL is bad only with a non-zero length: the length after it is then 1.
            if j == i + 1 and expr == "NULL" and q.ctype == "size_t":
                value = "1"
            lines.append(f"        {q.ctype} a{j} = {value};")
        if freed:
            maker = FRESH.get(freed, f"make_{freed}")
            lines.append(f"        {p.ctype} a{i} = ({p.ctype}){maker}();")
            lines.append(f"        {self.frees[freed]}(({freed} *)a{i});")
        else:
            lines.append(f"        {p.ctype} a{i} = {expr};")
        args = ", ".join(f"a{j}" for j in range(len(fn.params)))
        lines.append(f"        sweep_prime({c_string(fn.name)});")
        call = f"{fn.name}({args})"
        pname = c_string(p.name)
        if why is not None:
            lines.append(f"        /* Accepted: {why}. */")
            if fn.ret == "pc_status":
                lines.append(f"        sweep_accepted_status({call});")
            else:
                lines.append(f"        {'(void)' if fn.ret != 'void' else ''}{call};")
                lines.append("        sweep_accepted();")
        elif fn.ret == "pc_status":
            want = "PC_ERR_INVALID_ARGUMENT" if expect == INVALID else "0"
            name = pname if expect == INVALID else "NULL"
            lines.append(f"        sweep_status({call}, {want}, {name});")
        elif fn.ret == "void":
            name = pname if expect == INVALID else "NULL"
            lines.append(f"        {call};")
            lines.append(f"        sweep_message({name});")
        else:
            fallback = fallback_of(fn, p.name)
            if fallback is None:
                self.uncovered.append(
                    (fn.name, f"returns `{fn.ret}` but documents no fallback for a bad "
                              f"`{p.name}` (\"… for a NULL or invalid `{p.name}`\")"))
                fallback = "0"
            name = pname if expect == INVALID else "NULL"
            lines.append(f"        sweep_fallback({call} == {fallback}, {name});")
        lines.append("    }")
        return "\n".join(lines)

    def generate(self, header_path):
        self.emit(f"/* GENERATED by c-tests/sweep/gen_sweep.py from {header_path}: do not edit. */")
        self.emit(PRELUDE)
        for h in sorted(self.handles):
            if h in CALLBACK_ONLY:
                continue
            if h not in MAKERS:
                self.uncovered.append((h, f"handle type `{h}` has no maker in MAKERS"))
                continue
        for fn in self.functions:
            self.gen_function(fn)
        for k, (case, reason, code) in enumerate(self.known):
            self.emit(f"/* A known defect: {reason}. */")
            self.emit(f"static void sweep_known_{k}(void)")
            self.emit("{")
            self.emit(code)
            self.emit("}")
            self.emit()
        self.emit("static const struct sweep_entry sweep_entries[] = {")
        for name in self.swept:
            self.emit(f"    {{{c_string(name)}, sweep_{name}, NULL}},")
        self.emit("};")
        self.emit()
        self.emit("static const struct sweep_entry sweep_known[] = {")
        for k, (case, reason, _) in enumerate(self.known):
            self.emit(f"    {{{c_string(case)}, sweep_known_{k}, {c_string(reason)}}},")
        self.emit("    {NULL, NULL, NULL},")
        self.emit("};")
        self.emit()
        self.emit("static const char *const sweep_uncovered[] = {")
        for name, reason in self.uncovered:
            self.emit(f"    {c_string(name + ': ' + reason)},")
        self.emit("    NULL,")
        self.emit("};")
        self.emit()
        self.emit(MAIN)
        return "\n".join(self.out) + "\n"


# The makers of live handles, one per handle type (C, in PRELUDE): checked to be complete.
MAKERS = {
    "pc_array", "pc_async_result", "pc_barrier", "pc_condition", "pc_connection", "pc_dict",
    "pc_event", "pc_iter", "pc_list", "pc_listener", "pc_lock", "pc_manager",
    "pc_namespace", "pc_pool", "pc_process", "pc_proxy", "pc_queue", "pc_semaphore",
    "pc_value",
}

PRELUDE = r"""
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "processing.h"

#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/* What the forked children report to the parent. */
struct sweep_shared {
    int calls;
    int failures;
    char where[160];
};
static struct sweep_shared *sweep_sh;
static const char *sweep_fn = "";
static const char *sweep_label = "";

static void sweep_case(const char *fn, const char *label)
{
    sweep_fn = fn;
    sweep_label = label;
    snprintf(sweep_sh->where, sizeof sweep_sh->where, "%s(%s)", fn, label);
}

static void sweep_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sweep_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FAIL %s(%s): ", sweep_fn, sweep_label);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n    pc_last_error(): \"%s\"\n", pc_last_error());
    va_end(ap);
    sweep_sh->failures++;
}

/* Leaves a pc_last_error() that names another function than the one under test, and
 * counts the call under test that follows. */
static void sweep_prime(const char *fn)
{
    if (strcmp(fn, "pc_event_set") == 0)
        (void)pc_lock_release(NULL);
    else
        (void)pc_event_set(NULL);
    sweep_sh->calls++;
}

/* Whether pc_last_error() is "<function>: …". */
static bool sweep_names_function(void)
{
    const char *e = pc_last_error();
    size_t n = strlen(sweep_fn);
    return strncmp(e, sweep_fn, n) == 0 && e[n] == ':';
}

/* Whether `word` is in the text after the function's name, as a whole identifier. */
static bool sweep_names_param(const char *word)
{
    const char *e = pc_last_error() + strlen(sweep_fn) + 1;
    size_t n = strlen(word);
    for (const char *s = strstr(e, word); s; s = strstr(s + 1, word)) {
        bool start = s == e || !(s[-1] == '_' || (s[-1] >= 'a' && s[-1] <= 'z'));
        char end = s[n];
        if (start && !(end == '_' || (end >= 'a' && end <= 'z') || (end >= '0' && end <= '9')))
            return true;
    }
    return false;
}

/* After a call that must fail: pc_last_error() names the function (and `param`). */
static void sweep_message(const char *param)
{
    if (!sweep_names_function())
        sweep_fail("pc_last_error() does not name %s", sweep_fn);
    else if (param && !sweep_names_param(param))
        sweep_fail("pc_last_error() does not name the parameter `%s`", param);
}

/* A status call that must fail: with `want` (0: any error). */
static void sweep_status(pc_status got, pc_status want, const char *param)
{
    if ((want && got != want) || (!want && got >= 0))
        sweep_fail("returned %d (%s), expected %s", got, pc_status_str(got),
                   want ? pc_status_str(want) : "an error");
    else
        sweep_message(param);
}

/* A value call that must return its documented fallback. */
static void sweep_fallback(bool is_fallback, const char *param)
{
    if (!is_fallback)
        sweep_fail("did not return its documented fallback");
    else
        sweep_message(param);
}

/* A call whose argument the header documents as valid: it must not fail on it. */
static void sweep_accepted(void)
{
    if (sweep_names_function())
        sweep_fail("failed on an argument the header documents as valid");
}

static void sweep_accepted_status(pc_status got)
{
    if (got == PC_ERR_INVALID_ARGUMENT || got == PC_ERR_PANIC)
        sweep_fail("returned %d (%s) for an argument the header documents as valid", got,
                   pc_status_str(got));
}

/* A setup call that must succeed (the sweep's own objects). */
#define MUST(expr)                                                                           \
    do {                                                                                     \
        pc_status must_ = (expr);                                                            \
        if (must_ != PC_OK) {                                                                \
            fprintf(stderr, "FAIL %s(%s): setup %s returned %s: %s\n", sweep_fn, sweep_label, \
                    #expr, pc_status_str(must_), pc_last_error());                           \
            sweep_sh->failures++;                                                            \
            _exit(1);                                                                        \
        }                                                                                    \
    } while (0)

/* ---- plain valid arguments ---- */

static _Alignas(16) unsigned char sweep_in_bytes[256];
static _Alignas(16) unsigned char sweep_out_bytes[256];
static const void *const sweep_in = sweep_in_bytes;
static void *const sweep_out = sweep_out_bytes;
static char *sweep_argv[] = {"sweep", NULL};
static size_t sweep_sizes[8];
static bool sweep_flags[8];
static int sweep_ints[8];
static int32_t sweep_i32[8];
static pc_bytes sweep_bytes[8];
static pc_item sweep_items_out[8];
static pc_item *sweep_item_arrays[8];
static pc_item sweep_items_in[4];
static const pc_slice sweep_slices[4] = {{"x", 1}, {"y", 1}, {"z", 1}, {"w", 1}};
static const uint8_t *sweep_key[2];
static const pc_pool_options sweep_pool_options = {.processes = 1};
static char sweep_long_unix[300];
static char sweep_long_abstract[300];

static pc_item sweep_bad_item(void)
{
    pc_item item = pc_item_int(1);
    item.kind = 99;
    return item;
}

static int sweep_task(const void *arg, size_t len, pc_buffer *result)
{
    return pc_buffer_write(result, arg, len) == PC_OK ? 0 : 1;
}

static int sweep_elem(const void *input, void *output, const void *ctx)
{
    (void)ctx;
    memcpy(output, input, 1);
    return 0;
}

static int sweep_target(void *arg)
{
    (void)arg;
    return 0;
}

static void sweep_callback(void *ctx, pc_status status, const pc_bytes *results, size_t count)
{
    (void)ctx, (void)status, (void)results, (void)count;
}

static bool sweep_predicate(void *ctx)
{
    (void)ctx;
    return true;
}

static int sweep_barrier_action(void *ctx)
{
    (void)ctx;
    return 0;
}

static void sweep_log_handler(void *ctx, int level, const char *process_name, const char *line)
{
    (void)ctx, (void)level, (void)process_name, (void)line;
}

static void *sweep_create(const pc_item *args, size_t nargs, void *ctx)
{
    (void)args, (void)nargs;
    return ctx;
}

static int sweep_call(void *obj, const char *method, const pc_item *args, size_t nargs,
                      pc_item_builder *result, void *ctx)
{
    (void)obj, (void)method, (void)args, (void)nargs, (void)result, (void)ctx;
    return 0;
}

static const char *const sweep_exposed[] = {"get", NULL};
static const pc_type_vtable sweep_vtable = {
    .create = sweep_create, .call = sweep_call, .exposed = sweep_exposed};

/* ---- live handles: fresh per case, but one manager and one pool per child ---- */

static pc_manager *sweep_manager;
static pc_pool *sweep_pool;

static pc_lock *make_pc_lock(void)
{
    pc_lock *l = NULL;
    MUST(pc_lock_new(&l));
    return l;
}

static pc_event *make_pc_event(void)
{
    pc_event *e = NULL;
    MUST(pc_event_new(&e));
    MUST(pc_event_set(e)); /* a wait returns at once */
    return e;
}

static pc_semaphore *make_pc_semaphore(void)
{
    pc_semaphore *s = NULL;
    MUST(pc_semaphore_new(1, &s));
    return s;
}

static pc_condition *make_pc_condition(void)
{
    pc_condition *c = NULL;
    MUST(pc_condition_new(NULL, &c));
    return c;
}

static pc_barrier *make_pc_barrier(void)
{
    pc_barrier *b = NULL;
    MUST(pc_barrier_new(1, &b)); /* a wait returns at once */
    return b;
}

static pc_value *make_pc_value(void)
{
    pc_value *v = NULL;
    MUST(pc_value_new('i', NULL, &v));
    return v;
}

static pc_array *make_pc_array(void)
{
    pc_array *a = NULL;
    MUST(pc_array_new('i', 4, NULL, &a));
    return a;
}

static pc_array *make_char_array(void)
{
    pc_array *a = NULL;
    MUST(pc_array_new('c', 4, NULL, &a));
    return a;
}

/* An unbounded queue holding one message: a put or a get returns at once. */
static pc_queue *make_pc_queue(void)
{
    pc_queue *q = NULL;
    MUST(pc_queue_new(0, &q));
    MUST(pc_queue_put(q, "x", 1, 0));
    return q;
}

/* An empty joinable queue: a join returns at once. */
static pc_queue *make_joinable_queue(void)
{
    pc_queue *q = NULL;
    MUST(pc_joinable_queue_new(0, &q));
    return q;
}

static pc_process *make_pc_process(void)
{
    pc_process *p = NULL;
    MUST(pc_process_new(sweep_target, NULL, &p));
    return p;
}

static pc_process *make_started_process(void)
{
    pc_process *p = make_pc_process();
    MUST(pc_process_start(p));
    return p;
}

/* One end of a pipe with a message waiting (its peer stays open): a poll or a receive
 * returns at once. */
static pc_connection *make_pc_connection(void)
{
    pc_connection *a = NULL, *b = NULL;
    MUST(pc_pipe(true, &a, &b));
    MUST(pc_connection_send_bytes(b, "x", 1));
    return a;
}

static pc_connection *const *make_conn_array(void)
{
    static pc_connection *conns[1];
    conns[0] = make_pc_connection();
    return conns;
}

static pc_waitable *make_waitables(void)
{
    static pc_waitable items[1];
    items[0] = (pc_waitable){.conn = make_pc_connection(), .fd = -1};
    return items;
}

/* A listener with a client waiting: an accept returns at once. */
static pc_listener *make_pc_listener(void)
{
    pc_listener *l = NULL;
    pc_connection *client = NULL;
    MUST(pc_listener_new(NULL, 4, NULL, 0, &l));
    MUST(pc_client_connect(pc_listener_address(l), NULL, 0, &client));
    return l;
}

static const char *make_listener_address(void)
{
    pc_listener *l = NULL;
    MUST(pc_listener_new(NULL, 4, NULL, 0, &l));
    return pc_listener_address(l);
}

static pc_manager *make_unstarted_manager(void)
{
    pc_manager *m = NULL;
    MUST(pc_manager_new(NULL, NULL, 0, &m));
    return m;
}

static pc_manager *make_pc_manager(void)
{
    if (!sweep_manager) {
        sweep_manager = make_unstarted_manager();
        MUST(pc_manager_start(sweep_manager));
    }
    return sweep_manager;
}

static pc_dict *make_pc_dict(void)
{
    pc_dict *d = NULL;
    MUST(pc_manager_dict(make_pc_manager(), NULL, &d));
    return d;
}

static pc_list *make_pc_list(void)
{
    pc_list *l = NULL;
    MUST(pc_manager_list(make_pc_manager(), NULL, &l));
    return l;
}

static pc_namespace *make_pc_namespace(void)
{
    pc_namespace *ns = NULL;
    MUST(pc_manager_namespace(make_pc_manager(), NULL, &ns));
    return ns;
}

static pc_proxy *make_pc_proxy(void)
{
    pc_proxy *p = NULL;
    MUST(pc_manager_create(make_pc_manager(), "dict", NULL, NULL, 0, &p));
    return p;
}

static pc_pool *make_fresh_pool(void)
{
    pc_pool *p = NULL;
    MUST(pc_pool_new(&sweep_pool_options, &p));
    return p;
}

static pc_pool *make_pc_pool(void)
{
    if (!sweep_pool)
        sweep_pool = make_fresh_pool();
    return sweep_pool;
}

static pc_async_result *make_pc_async_result(void)
{
    pc_async_result *r = NULL;
    MUST(pc_pool_apply_async(make_pc_pool(), sweep_task, "x", 1, NULL, NULL, &r));
    return r;
}

static pc_iter *make_pc_iter(void)
{
    pc_iter *it = NULL;
    MUST(pc_pool_imap(make_pc_pool(), sweep_task, sweep_slices, 1, 0, &it));
    return it;
}

/* A freed handle's memory is the library's again: a sweep must not be fooled by a new
 * object reusing it, so each freed handle is made and freed right before its call. */

struct sweep_entry {
    const char *name;
    void (*run)(void);
    const char *known_defect; /* NULL, or why the case still fails (reported) */
};
"""

MAIN = r"""
/* Runs one function's cases in a forked child (at most `limit` seconds); false when the
 * child crashed, hung or reported a failure. */
static bool sweep_run(const struct sweep_entry *e, unsigned limit)
{
    int before = sweep_sh->failures;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(1);
    }
    if (pid == 0) {
        alarm(limit);
        if (e->known_defect) /* its panic's backtrace says nothing new */
            (void)freopen("/dev/null", "w", stderr);
        sweep_fn = e->name;
        e->run();
        if (sweep_pool)
            pc_pool_free(sweep_pool);
        if (sweep_manager)
            pc_manager_free(sweep_manager);
        fflush(stderr);
        _exit(0);
    }
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0)
        ;
    if (e->known_defect) {
        bool still = WIFSIGNALED(ws) || WEXITSTATUS(ws) != 0 || sweep_sh->failures != before;
        sweep_sh->failures = before;
        if (still) {
            fprintf(stderr, "known defect (reported, not counted): %s: %s\n", e->name,
                    e->known_defect);
            return true;
        }
        fprintf(stderr, "FAIL %s passes now: remove it from KNOWN_DEFECTS in gen_sweep.py\n",
                e->name);
        sweep_sh->failures++;
        return false;
    }
    if (WIFSIGNALED(ws)) {
        fprintf(stderr, "FAIL %s: %s at %s\n", e->name,
                WTERMSIG(ws) == SIGALRM ? "hung (no return within the limit)"
                                        : strsignal(WTERMSIG(ws)),
                sweep_sh->where);
        sweep_sh->failures++;
    } else if (WEXITSTATUS(ws) != 0 && sweep_sh->failures == before) {
        fprintf(stderr, "FAIL %s: exited with %d at %s\n", e->name, WEXITSTATUS(ws),
                sweep_sh->where);
        sweep_sh->failures++;
    }
    return sweep_sh->failures == before;
}

int main(int argc, char **argv)
{
    sweep_sh = mmap(NULL, sizeof *sweep_sh, PROT_READ | PROT_WRITE,
                    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sweep_sh == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    memcpy(sweep_long_unix, "unix:/tmp/", 10);
    memset(sweep_long_unix + 10, 'a', 200);
    memcpy(sweep_long_abstract, "unix:@", 6);
    memset(sweep_long_abstract + 6, 'a', 200);
    for (size_t i = 0; i < sizeof sweep_items_in / sizeof sweep_items_in[0]; i++)
        sweep_items_in[i] = pc_item_none();

    int uncovered = 0;
    for (const char *const *u = sweep_uncovered; *u; u++, uncovered++)
        fprintf(stderr, "FAIL not covered by the sweep: %s\n", *u);

    size_t n = sizeof sweep_entries / sizeof sweep_entries[0];
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        const struct sweep_entry *e = &sweep_entries[i];
        bool selected = argc < 2;
        for (int a = 1; a < argc; a++)
            selected |= strcmp(argv[a], e->name) == 0;
        if (selected && !sweep_run(e, 30))
            failed++;
    }
    int known = 0;
    for (const struct sweep_entry *e = sweep_known; e->name; e++, known++)
        if (argc < 2 && !sweep_run(e, 30))
            failed++;
    fprintf(stderr, "sweep: %zu functions swept, %d calls, %d failing functions, "
                    "%d failures, %d known defects, %d uncovered\n",
            n, sweep_sh->calls, failed, sweep_sh->failures, known, uncovered);
    return (sweep_sh->failures || uncovered) ? 1 : 0;
}
"""


def main(argv):
    if len(argv) != 3:
        sys.exit(f"usage: {argv[0]} HEADER OUTPUT.c")
    with open(argv[1], encoding="utf-8") as f:
        handles, functions = parse_header(f.read())
    if not functions:
        sys.exit(f"{argv[1]}: no function declarations found")
    code = Generator(handles, functions).generate("include/processing.h")
    os.makedirs(os.path.dirname(os.path.abspath(argv[2])), exist_ok=True)
    with open(argv[2], "w", encoding="utf-8") as f:
        f.write(code)


if __name__ == "__main__":
    main(sys.argv)
