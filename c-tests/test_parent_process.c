/*
 * test_parent_process.c: pc_parent_process (include/processing.h), Python 3.8's
 * parent_process(): NULL in the main program; in a child (forked, spawned, or through
 * the forkserver) the parent's name and pid and whether it runs; a grandchild sees its
 * parent die (is_alive, a bounded join); a dummy process's thread has its process's
 * parent; the lent handle's rules (the same each time, not freed, no parent-only calls).
 *
 * ctest-timeout: 90
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "start_common.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What a child expects of its parent (copied to children started by exec). */
struct expect {
    int pid;
    char name[64];
};

/* Exit code 0 when the current process's parent is `*e` and runs; each failure its own
 * code. */
static int check_parent(void *arg)
{
    const struct expect *e = arg;
    const pc_process *parent = NULL, *again = NULL;
    if (pc_parent_process(&parent) != PC_OK || parent == NULL)
        return 10;
    if (pc_parent_process(&again) != PC_OK || again != parent)
        return 11;
    if (pc_process_pid(parent) != e->pid)
        return 12;
    if (strcmp(pc_process_name(parent), e->name) != 0)
        return 13;
    if (!pc_process_is_alive((pc_process *)parent))
        return 14;
    /* It still runs: a join times out. */
    if (pc_process_join((pc_process *)parent, 0.05) != PC_ERR_TIMEOUT)
        return 15;
    /* Only the parent starts, ends or closes it: here those are refused. */
    int code = 0;
    if (pc_process_exitcode(parent, &code) != PC_ERR_WRONG_STATE)
        return 16;
    if (pc_process_terminate((pc_process *)parent) != PC_ERR_WRONG_STATE)
        return 17;
    if (pc_process_kill((pc_process *)parent) != PC_ERR_WRONG_STATE)
        return 18;
    if (pc_process_close((pc_process *)parent) != PC_ERR_WRONG_STATE)
        return 19;
    if (pc_process_start((pc_process *)parent) != PC_ERR_WRONG_STATE)
        return 20;
    pc_process_free((pc_process *)parent); /* lent: refused, still valid */
    if (pc_process_pid(parent) != e->pid)
        return 21;
    return 0;
}

/* CPython: test_parent_process_attributes */
static void test_parent_process_attributes(void)
{
    const pc_process *parent = (const pc_process *)1;
    CHECK_OK(pc_parent_process(&parent));
    CHECK(parent == NULL); /* the main program has none */
    struct expect e = {.pid = getpid()};
    snprintf(e.name, sizeof e.name, "MainProcess");
    CHECK(finish(start(check_parent, &e), 10.0) == 0);

    /* Renamed: a child started afterwards sees the new name. */
    const pc_process *me;
    CHECK_OK(pc_current_process(&me));
    CHECK_OK(pc_process_set_name((pc_process *)me, "Renamed"));
    snprintf(e.name, sizeof e.name, "Renamed");
    CHECK(finish(start(check_parent, &e), 10.0) == 0);
    CHECK_OK(pc_process_set_name((pc_process *)me, "MainProcess"));
}

/* In a sub-process of its own (which owns the forkserver it starts): the same checks in
 * a child started by `method`. */
static int started_by(void *method)
{
    struct expect e = {.pid = getpid()};
    snprintf(e.name, sizeof e.name, "MainProcess");
    pc_process *p;
    if (pc_process_new_spawnable(check_parent, &e, sizeof e, &p) != PC_OK)
        return 100;
    if (pc_process_set_start_method(p, method) != PC_OK || pc_process_start(p) != PC_OK)
        return 101;
    return finish_quietly(p, 20.0);
}

/* The same checks in children started by spawn and by the forkserver. */
static void test_started_by_exec(void)
{
    by_methods(started_by, EXEC_METHODS);
}

/* ---- CPython: test_parent_process (a grandchild sees its parent die) ---- */

static void report(pc_connection *w, bool alive)
{
    const char *s = alive ? "alive" : "not alive";
    (void)pc_connection_send_bytes(w, s, strlen(s));
}

/* The grandchild: reports its parent alive, waits (bounded) for it to end, reports
 * again. */
static int report_parent_status(void *arg)
{
    pc_connection *w = arg;
    const pc_process *parent = NULL;
    if (pc_parent_process(&parent) != PC_OK || parent == NULL)
        return 10;
    report(w, pc_process_is_alive((pc_process *)parent));
    pc_status st = pc_process_join((pc_process *)parent, 20.0);
    report(w, pc_process_is_alive((pc_process *)parent));
    return st == PC_OK ? 0 : 11;
}

/* The child: starts the grandchild, then waits to be terminated. */
static int create_grandchild(void *arg)
{
    pc_process *g;
    if (pc_process_new(report_parent_status, arg, &g) != PC_OK || pc_process_start(g) != PC_OK)
        return 10;
    sleep_s(20.0);
    return 0;
}

static void recv_status(pc_connection *r, const char *want)
{
    CHECK_OK(pc_connection_poll(r, 20.0));
    recv_str(r, want);
}

static void test_parent_process(void)
{
    pc_connection *r, *w;
    new_pipe(false, &r, &w);
    pc_process *p = start(create_grandchild, w);
    CHECK_OK(pc_connection_close(w)); /* only the grandchild writes */
    recv_status(r, "alive");
    CHECK_OK(pc_process_terminate(p));
    CHECK_OK(pc_process_join(p, 10.0));
    recv_status(r, "not alive");
    /* The grandchild ended too: its end of the pipe is closed. */
    pc_bytes m = {NULL, 0};
    CHECK_OK(pc_connection_poll(r, 20.0));
    CHECK_STATUS(pc_connection_recv_bytes(r, 0, &m), PC_ERR_EOF);
    pc_process_free(p);
    free_pipe(r, w);
}

/* ---- a dummy process's thread ---- */

/* Exit code 0 when the thread's parent is `*(const pc_process **)arg`. */
static int dummy_sees(void *arg)
{
    const pc_process *parent = (const pc_process *)1;
    if (pc_parent_process(&parent) != PC_OK)
        return 1;
    return parent == *(const pc_process **)arg ? 0 : 2;
}

/* In a child: a dummy process's thread has the child's parent. */
static int child_with_dummy(void *arg)
{
    (void)arg;
    const pc_process *parent = NULL;
    if (pc_parent_process(&parent) != PC_OK || parent == NULL)
        return 10;
    pc_process *d;
    if (pc_dummy_process_new(dummy_sees, &parent, &d) != PC_OK || pc_process_start(d) != PC_OK)
        return 11;
    return finish_quietly(d, 10.0) == 0 ? 0 : 12;
}

static void test_dummy_process(void)
{
    /* In the main program: none, on the thread too. */
    const pc_process *none = NULL;
    pc_process *d;
    CHECK_OK(pc_dummy_process_new(dummy_sees, &none, &d));
    CHECK_OK(pc_process_start(d));
    CHECK(finish(d, 10.0) == 0);
    CHECK(finish(start(child_with_dummy, NULL), 10.0) == 0);
}

static void test_bad_arguments(void)
{
    CHECK_STATUS(pc_parent_process(NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_parent_process: out is NULL");
}

int main(int argc, char **argv)
{
    pc_freeze_support(argc, argv);
    tu_init(argv[0], 80);
    tu_select(argc, argv);
    RUN(test_parent_process_attributes);
    RUN(test_started_by_exec);
    RUN(test_parent_process);
    RUN(test_dummy_process);
    RUN(test_bad_arguments);
    return tu_done();
}
