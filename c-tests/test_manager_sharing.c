/*
 * test_manager_sharing.c: managed objects shared between processes and threads
 * (include/processing.h: pc_manager_*, pc_dict_*, pc_list_*): 4 processes writing at
 * once; a handle used in forked children and from threads; references handed over by
 * fork (and none taken by the server's fork); managed queues, locks, values and arrays;
 * reference counts: objects go with their last handle, with a SIGKILLed holder, and
 * 10 000 create/free cycles leave nothing (bounded by time, see test_refcount).
 *
 * The other parts of the manager API are in the other test_manager_*.c; Python on the
 * other end is in test_manager_interop.c.
 *
 * `test_manager_sharing NAME…` runs only the named subtests.
 *
 * ctest-timeout: 25
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "manager_common.h"


/* ---- several processes at once ---- */
enum { WRITERS = 4, WRITES = 500 };

static pc_dict *shared_dict;

static pc_list *shared_list;

static int target_writer(void *arg)
{
    int w = (int)(intptr_t)arg;
    for (int j = 0; j < WRITES; j++) {
        char key[32];
        snprintf(key, sizeof key, "w%d-%d", w, j);
        int st = pc_dict_set(shared_dict, pc_item_str(key), pc_item_int(w * 1000 + j));
        if (st == PC_OK)
            st = pc_list_append(shared_list, pc_item_int(w * 1000 + j));
        if (st != PC_OK) {
            fprintf(stderr, "   writer %d at %d: %s\n", w, j, pc_last_error());
            return 1;
        }
    }
    return 0;
}

static void test_many_processes(void)
{
    pc_manager *m = started(NULL, NULL);
    shared_dict = new_dict(m, NULL);
    shared_list = new_list(m, NULL);
    double t0 = now();
    pc_process *ps[WRITERS];
    for (int w = 0; w < WRITERS; w++)
        ps[w] = start(target_writer, (void *)(intptr_t)w);
    for (int w = 0; w < WRITERS; w++)
        CHECK(finish(ps[w], 60.0) == 0);
    fprintf(stderr, "   %d processes x %d dict sets + list appends: %.2f s\n", WRITERS, WRITES,
            now() - t0);

    CHECK(dict_len(shared_dict) == WRITERS * WRITES);
    static bool seen[WRITERS][WRITES];
    memset(seen, 0, sizeof seen);
    pc_item *keys = NULL, *vals = NULL;
    size_t count = 0;
    CHECK_OK(pc_dict_items(shared_dict, &keys, &vals, &count));
    CHECK(count == WRITERS * WRITES);
    for (size_t i = 0; i < count; i++) {
        int w = -1, j = -1;
        char key[32] = "";
        CHECK(keys[i].kind == PC_KIND_STR && keys[i].len < sizeof key);
        memcpy(key, keys[i].data, keys[i].len);
        if (sscanf(key, "w%d-%d", &w, &j) != 2 || w < 0 || w >= WRITERS || j < 0 || j >= WRITES)
            FAIL("unexpected key \"%s\"", key);
        if (seen[w][j])
            FAIL("key \"%s\" twice", key);
        seen[w][j] = true;
        CHECK_ITEM(vals[i], pc_item_int(w * 1000 + j));
    }
    pc_items_release(keys, count);
    pc_items_release(vals, count);

    /* The list: every number once, each writer's in its own order. */
    memset(seen, 0, sizeof seen);
    int last[WRITERS];
    for (int w = 0; w < WRITERS; w++)
        last[w] = -1;
    pc_item *items = NULL;
    CHECK_OK(pc_list_items(shared_list, &items, &count));
    CHECK(count == WRITERS * WRITES);
    for (size_t i = 0; i < count; i++) {
        CHECK(items[i].kind == PC_KIND_INT);
        int w = (int)(items[i].i / 1000), j = (int)(items[i].i % 1000);
        if (w < 0 || w >= WRITERS || j < 0 || j >= WRITES || seen[w][j])
            FAIL("list item %zu is %lld: out of range or twice", i, (long long)items[i].i);
        seen[w][j] = true;
        if (j <= last[w])
            FAIL("writer %d's %d came after its %d", w, j, last[w]);
        last[w] = j;
    }
    pc_items_release(items, count);
    pc_dict_free(shared_dict);
    pc_list_free(shared_list);
    CHECK(objects(m) == 0);
    pc_manager_free(m);
    CHECK(wait_no_children(2.0));
}

static int target_use_and_free(void *arg)
{
    pc_dict *d = arg;
    if (pc_dict_set(d, pc_item_str("freeing child"), pc_item_int(getpid())) != PC_OK)
        return 1;
    pc_dict_free(d); /* this process's reference only */
    return 0;
}

static int sub_use_forked(void *arg)
{
    return target_use_forked(arg);
}

static void test_fork_and_threads(void)
{
    pc_manager *m = started(NULL, NULL);
    pc_dict *d = new_dict(m, NULL);
    DSET(d, pc_item_str("parent"), pc_item_str("here"));
    CHECK(objects(m) == 1);

    /* A library child: its own connection and reference, 4 threads in it. */
    pc_process *p = start(target_use_forked, d);
    pid_t pid = (pid_t)pc_process_pid(p);
    CHECK(finish(p, 30.0) == 0);
    DGET_IS(d, pc_item_str("child"), pc_item_int(pid));
    CHECK(dict_len(d) == 2 + THREADS * THREAD_OPS);
    CHECK(wait_objects(m, 1, 2.0) == 1); /* its reference went with it; ours stays */

    /* A plain fork (exit() runs the atexit handlers there): the same. */
    pid_t sub = fork_sub(sub_use_forked, d);
    check_sub_ok(sub, 30.0, "a plain forked child using the dict");
    DGET_IS(d, pc_item_str("child"), pc_item_int(sub));
    CHECK(dict_len(d) == 2 + 2 * THREADS * THREAD_OPS);
    CHECK(wait_objects(m, 1, 2.0) == 1);

    /* A child that frees its copy frees only its own reference. */
    p = start(target_use_and_free, d);
    CHECK(finish(p, 20.0) == 0);
    CHECK(objects(m) == 1);
    DSET(d, pc_item_str("still"), pc_item_none());

    /* The parent's threads at once, with children using the dict meanwhile. */
    pc_process *busy = start(target_use_forked, d);
    CHECK(use_from_threads(d) == 0);
    CHECK(finish(busy, 30.0) == 0);
    CHECK(dict_len(d) == 4 + 4 * THREADS * THREAD_OPS);
    pc_dict_free(d);
    CHECK(wait_objects(m, 0, 2.0) == 0);
    pc_manager_free(m);
    CHECK(wait_no_children(2.0));
}

/* Waits until its parent freed the dict, then uses it: its own reference, taken for it
 * before the fork, kept the dict alive. */
static int target_use_after_parent_freed(void *arg)
{
    pc_dict *d = arg;
    sleep_s(0.3);
    pc_item got = pc_item_none();
    if (pc_dict_get(d, pc_item_str("k"), &got) != PC_OK || got.kind != PC_KIND_INT ||
        got.i != 7) {
        fprintf(stderr, "   child: %s\n", pc_last_error());
        return 1;
    }
    pc_dict_free(d);
    return 0;
}

/* A parent that frees its handle right after starting a child does not take the object
 * from under the child (Python's managers have that race); the child's reference goes
 * when the child ends. */
static void test_fork_hands_references_over(void)
{
    pc_manager *m = started(NULL, NULL);
    size_t base = objects(m);
    pc_dict *d = new_dict(m, NULL);
    DSET(d, pc_item_str("k"), pc_item_int(7));
    pc_process *p = start(target_use_after_parent_freed, d);
    pc_dict_free(d);
    CHECK(objects(m) == base + 1); /* the child holds it */
    CHECK(finish(p, 20.0) == 0);
    CHECK(wait_objects(m, base, 2.0) == base);
    pc_manager_free(m);
    CHECK(wait_no_children(2.0));
}

/* Starting a second manager gives its server no references to the first one's objects:
 * they still go when their handles are freed. */
static void test_server_fork_takes_no_references(void)
{
    pc_manager *a = started(NULL, NULL);
    size_t base = objects(a);
    pc_dict *d = new_dict(a, NULL);
    pc_manager *b = started(NULL, NULL);
    pc_dict_free(d);
    CHECK(wait_objects(a, base, 2.0) == base);
    pc_manager_free(b);
    pc_manager_free(a);
    CHECK(wait_no_children(2.0));
}

/* ---- managed queues, locks, values and arrays through the local functions ---- */

/* Where a child says it is ready (a pipe). */
static int report_fd = -1;

/* Takes the managed lock, says so, and waits to be killed. */
static int target_hold_lock(void *arg)
{
    pc_lock *l = arg;
    if (pc_lock_acquire(l, 5.0) != PC_OK)
        return 1;
    char c = 'x';
    if (write(report_fd, &c, 1) != 1)
        return 2;
    sleep_s(30);
    return 3;
}

static void test_managed_primitives(void)
{
    pid_t server;
    pc_manager *m = started(NULL, &server);

    /* Bad arguments of the typeid functions. */
    pc_queue *q = NULL;
    CHECK_STATUS(pc_manager_queue(NULL, NULL, 0, &q), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("m is NULL");
    CHECK_STATUS(pc_manager_queue(m, NULL, 0, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_manager_queue(m, NULL, (size_t)PC_QUEUE_MAX_SIZE + 1, &q),
                 PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("maxsize");
    pc_barrier *b = NULL;
    CHECK_STATUS(pc_manager_barrier(m, NULL, 0, &b), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("parties");
    pc_value *v = NULL;
    CHECK_STATUS(pc_manager_value(m, NULL, 'z', NULL, &v), PC_ERR_INVALID_ARGUMENT);
    CHECK(q == NULL && b == NULL && v == NULL);

    /* A queue: bytes through pc_queue_put/get, other kinds kept for get_item. */
    CHECK_OK(pc_manager_queue(m, NULL, 2, &q));
    CHECK_OK(pc_queue_put(q, "ab", 2, 1.0));
    CHECK_OK(pc_queue_put_item(q, pc_item_str("text"), 1.0));
    CHECK_STATUS(pc_queue_put(q, "c", 1, 0.05), PC_ERR_FULL);
    pc_bytes got = {0};
    CHECK_OK(pc_queue_get(q, 1.0, &got));
    CHECK(got.len == 2 && memcmp(got.data, "ab", 2) == 0);
    pc_bytes_free(&got);
    CHECK_STATUS(pc_queue_get(q, 1.0, &got), PC_ERR_TYPE);
    CHECK_ERRMSG("str");
    pc_item it;
    CHECK_OK(pc_queue_get_item(q, 1.0, &it));
    CHECK_ITEM(it, pc_item_str("text"));
    pc_item_release(&it);
    double t0 = now();
    CHECK_STATUS(pc_queue_get(q, 0.2, &got), PC_ERR_EMPTY);
    CHECK(now() - t0 >= 0.19 && now() - t0 < 5.0);

    /* A lock: a timed acquire that fails, and a holder killed while holding it. */
    pc_lock *l = NULL;
    CHECK_OK(pc_manager_lock(m, NULL, &l));
    int fds[2];
    CHECK(pipe2(fds, O_CLOEXEC) == 0);
    report_fd = fds[1];
    pc_process *holder = start(target_hold_lock, l);
    char c;
    CHECK(read_exact(fds[0], &c, 1, 20.0));
    close(fds[0]);
    close(fds[1]);
    report_fd = -1;
    CHECK_STATUS(pc_lock_acquire(l, 0.1), PC_ERR_TIMEOUT);
    CHECK_OK(pc_process_kill(holder));
    CHECK_OK(pc_process_join(holder, 5.0));
    pc_process_free(holder);
    CHECK_OK(pc_lock_acquire(l, 2.0)); /* the server released the dead holder's lock */
    CHECK_OK(pc_lock_release(l));
    CHECK_STATUS(pc_lock_release(l), PC_ERR_NOT_OWNER);

    /* A value and an array: typed get and set, a range write and read in one request. */
    int init = 41, out = 0;
    CHECK_OK(pc_manager_value(m, NULL, 'i', &init, &v));
    CHECK_OK(pc_value_get(v, &out));
    CHECK(out == 41);
    CHECK(pc_value_ptr(v) == NULL);
    CHECK_STATUS(pc_value_add(v, 1), PC_ERR_NOT_SUPPORTED);
    pc_array *a = NULL;
    double start_with[4] = {1, 2, 3, 4}, w[3] = {-1.5, 2.5, 1e300}, r[4] = {0};
    CHECK_OK(pc_manager_array(m, NULL, 'd', 4, start_with, &a));
    CHECK(pc_array_len(a) == 4);
    CHECK_OK(pc_array_write(a, 1, 3, w));
    CHECK_OK(pc_array_read(a, 0, 4, r));
    CHECK(r[0] == 1 && r[1] == -1.5 && r[2] == 2.5 && r[3] == 1e300);
    CHECK_STATUS(pc_array_write(a, 2, 3, w), PC_ERR_INDEX);

    /* The server killed: every call ends with PC_ERR_EOF, promptly. */
    CHECK(kill(server, SIGKILL) == 0);
    CHECK(server_gone_within(server, 2.0));
    t0 = now();
    CHECK_STATUS(pc_queue_get(q, -1.0, &got), PC_ERR_EOF);
    CHECK_STATUS(pc_lock_acquire(l, -1.0), PC_ERR_EOF);
    CHECK_STATUS(pc_value_get(v, &out), PC_ERR_EOF);
    CHECK_STATUS(pc_array_read(a, 0, 4, r), PC_ERR_EOF);
    CHECK(now() - t0 < 2.0);
    pc_queue_free(q);
    pc_lock_free(l);
    pc_value_free(v);
    pc_array_free(a);
    pc_manager_free(m);
    CHECK(wait_no_children(2.0));
}

/* ---- reference counts ---- */
static pc_manager *child_manager;

/* Makes a dict of its own, says so, and waits to be killed. */
static int target_make_and_wait(void *arg)
{
    (void)arg;
    pc_dict *d = NULL;
    if (pc_manager_dict(child_manager, NULL, &d) != PC_OK)
        return 1;
    if (pc_dict_set(d, pc_item_str("mine"), pc_item_int(1)) != PC_OK)
        return 2;
    if (!write_all(report_fd, "r", 1))
        return 3;
    sleep_s(20);
    return 4;
}

/* Uses the parent's dict (taking its own reference), says so, waits to be killed. */
static int target_use_and_wait(void *arg)
{
    pc_dict *d = arg;
    if (pc_dict_set(d, pc_item_str("used"), pc_item_int(1)) != PC_OK)
        return 2;
    if (!write_all(report_fd, "r", 1))
        return 3;
    sleep_s(20);
    return 4;
}

/* Makes objects and exits without freeing them. */
static int sub_make_and_exit(void *arg)
{
    pc_manager *m = arg;
    pc_dict *d = NULL;
    pc_list *l = NULL;
    if (pc_manager_dict(m, NULL, &d) != PC_OK || pc_manager_list(m, NULL, &l) != PC_OK)
        return 1;
    return 0;
}

static void killed_holder(pc_manager *m, pc_target_fn fn, void *arg, size_t during, size_t after)
{
    int fds[2];
    CHECK(pipe2(fds, O_CLOEXEC) == 0);
    report_fd = fds[1];
    pc_process *p = start(fn, arg);
    char c;
    if (!read_exact(fds[0], &c, 1, 20.0))
        FAIL("the child did not report (exit code %d)", finish(p, 5.0));
    close(fds[0]);
    close(fds[1]);
    report_fd = -1;
    CHECK(objects(m) == during);
    CHECK_OK(pc_process_kill(p));
    CHECK_OK(pc_process_join(p, 5.0));
    double t0 = now();
    size_t n = wait_objects(m, after, 2.0);
    if (n != after)
        FAIL("%zu objects 2 s after the holder was killed, expected %zu", n, after);
    fprintf(stderr, "   objects back to %zu %.3f s after the SIGKILL\n", after, now() - t0);
    pc_process_free(p);
}

static void test_refcount(void)
{
    pc_manager *m = started(NULL, NULL);
    size_t base = objects(m);
    CHECK(base == 0);

    pc_dict *d = new_dict(m, NULL);
    pc_list *l = new_list(m, NULL);
    pc_namespace *ns = new_namespace(m, NULL);
    pc_proxy *p = NULL;
    CHECK_OK(pc_manager_create(m, "dict", NULL, NULL, 0, &p));
    CHECK(objects(m) == base + 4);
    pc_dict_free(d);
    CHECK(objects(m) == base + 3);
    pc_list_free(l);
    pc_namespace_free(ns);
    pc_proxy_free(p);
    CHECK(objects(m) == base);

    /* A child holding the only handle is SIGKILLed: the object goes. */
    child_manager = m;
    killed_holder(m, target_make_and_wait, NULL, base + 1, base);
    /* A child holding a second reference is SIGKILLed: ours keeps the object. */
    d = new_dict(m, NULL);
    killed_holder(m, target_use_and_wait, d, base + 1, base + 1);
    DGET_IS(d, pc_item_str("used"), pc_item_int(1));
    pc_dict_free(d);
    CHECK(objects(m) == base);
    /* A plain child that exits without freeing what it made. */
    check_sub_ok(fork_sub(sub_make_and_exit, m), 20.0, "a child leaving its objects");
    CHECK(wait_objects(m, base, 2.0) == base);

    /* Many create/free cycles leave nothing behind. 10 000 is the goal; the loop stops
     * at a time budget so that the test stays bounded on a slow machine, and says how far
     * it got (at least 2 000). */
    int fds = count_open_fds();
    enum { CYCLES = 10000 };
    const double budget = 15.0;
    double t0 = now();
    int i;
    for (i = 0; i < CYCLES && now() - t0 < budget; i++) {
        pc_dict *c = NULL;
        int st = pc_manager_dict(m, NULL, &c);
        if (st != PC_OK)
            FAIL("cycle %d: pc_manager_dict: %s", i, pc_status_str(st));
        if (i % 100 == 0)
            DSET(c, pc_item_int(i), pc_item_int(i));
        pc_dict_free(c);
        if (i % 1000 == 999) {
            size_t n = objects(m);
            if (n != base)
                FAIL("%zu objects after %d create/free cycles, expected %zu", n, i + 1, base);
        }
    }
    double took = now() - t0;
    fprintf(stderr, "   %d dict create/free cycles in %.2f s (%.0f us each)%s\n", i, took,
            took / i * 1e6, i < CYCLES ? ": stopped by the time budget" : "");
    CHECK(i >= 2000);
    CHECK(objects(m) == base);
    CHECK(count_open_fds() == fds);
    pc_manager_free(m);
    CHECK(wait_no_children(2.0));
}

int main(int argc, char **argv)
{
    tu_init("test_manager_sharing", 20);
    tu_select(argc, argv);
    fill_pattern(big, MIB, 7);
    double t0 = now();
    RUN(test_many_processes);
    RUN(test_fork_and_threads);
    RUN(test_fork_hands_references_over);
    RUN(test_server_fork_takes_no_references);
    RUN(test_managed_primitives);
    RUN(test_refcount);
    fprintf(stderr, "test_manager_sharing: %.1f s\n", now() - t0);
    return tu_done();
}
