/*
 * test_queue_args.c: bad arguments to every queue function (include/processing.h:
 * pc_queue_*, pc_joinable_queue_new): NULL, wrong-typed and freed handles, NULL buffers
 * and out-pointers, NaN timeouts, maxsize above PC_QUEUE_MAX_SIZE, messages too large;
 * the bad arguments of pc_queue_put_item/pc_queue_get_item (an unknown kind, a STR item
 * that is not UTF-8 or has NULL data) and of the functions that move many messages.
 *
 * The rest of the contract is in the other test_queue_*.c; killed producers and
 * consumers, and many processes at once, are in test_queue_faults_*.c.
 *
 * `test_queue_args NAME…` runs only the named subtests.
 *
 * ctest-timeout: 20
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "testutil.h"

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include "queue_common.h"

/* ---- bad arguments ---- */
static void test_bad_arguments(void)
{
    pc_queue *q = NULL;
    CHECK_STATUS(pc_queue_new(0, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_queue_new");
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_joinable_queue_new(0, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_joinable_queue_new");
    CHECK_ERRMSG("out is NULL");

    /* maxsize above PC_QUEUE_MAX_SIZE. */
    const size_t too_large[] = {(size_t)PC_QUEUE_MAX_SIZE + 1, (size_t)UINT32_MAX,
                                (size_t)UINT32_MAX + 1, SIZE_MAX};
    for (size_t i = 0; i < sizeof too_large / sizeof too_large[0]; i++) {
        q = NULL;
        CHECK_STATUS(pc_queue_new(too_large[i], &q), PC_ERR_INVALID_ARGUMENT);
        CHECK_ERRMSG("pc_queue_new");
        CHECK_ERRMSG("maxsize");
        CHECK(q == NULL);
        CHECK_STATUS(pc_joinable_queue_new(too_large[i], &q), PC_ERR_INVALID_ARGUMENT);
        CHECK_ERRMSG("pc_joinable_queue_new");
        CHECK_ERRMSG("maxsize");
        CHECK(q == NULL);
    }
    /* The largest is fine. */
    CHECK_OK(pc_queue_new(PC_QUEUE_MAX_SIZE, &q));
    put_str(q, "x");
    check_queue_counts(q, 1, false);
    get_str(q, "x");
    pc_queue_free(q);

    /* A NULL handle, for every function. */
    pc_bytes m = {NULL, 777};
    size_t n = 777;
    char buf[16];
    CHECK_STATUS(pc_queue_put(NULL, "x", 1, 0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_queue_put");
    CHECK_ERRMSG("q is NULL");
    CHECK_STATUS(pc_queue_put(NULL, "x", 1, PC_FOREVER), PC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(pc_queue_get(NULL, 0, &m), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_queue_get");
    CHECK_ERRMSG("q is NULL");
    CHECK_STATUS(pc_queue_get(NULL, PC_FOREVER, &m), PC_ERR_INVALID_ARGUMENT);
    CHECK(m.data == NULL && m.len == 777); /* written on success only */
    CHECK_STATUS(pc_queue_get_into(NULL, buf, sizeof buf, &n, 0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_queue_get_into");
    CHECK_ERRMSG("q is NULL");
    CHECK(n == 777);
    CHECK_STATUS(pc_queue_qsize(NULL, &n), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_queue_qsize");
    CHECK_ERRMSG("q is NULL");
    CHECK(n == 777);
    CHECK(pc_queue_empty(NULL) == true);
    CHECK_ERRMSG("pc_queue_empty");
    CHECK_ERRMSG("q is NULL");
    CHECK(pc_queue_full(NULL) == false);
    CHECK_ERRMSG("pc_queue_full");
    CHECK_ERRMSG("q is NULL");
    CHECK_STATUS(pc_queue_close(NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_queue_close");
    CHECK_ERRMSG("q is NULL");
    CHECK_STATUS(pc_queue_join_thread(NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_queue_join_thread");
    CHECK_ERRMSG("q is NULL");
    CHECK_STATUS(pc_queue_cancel_join_thread(NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_queue_cancel_join_thread");
    CHECK_ERRMSG("q is NULL");
    CHECK_STATUS(pc_queue_task_done(NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_queue_task_done");
    CHECK_ERRMSG("q is NULL");
    CHECK_STATUS(pc_queue_join(NULL, 0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_queue_join");
    CHECK_ERRMSG("q is NULL");
    CHECK_STATUS(pc_queue_join(NULL, PC_FOREVER), PC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(pc_queue_join(NULL, NAN), PC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(pc_queue_put_item(NULL, pc_item_bytes("x", 1), 0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_queue_put_item");
    CHECK_ERRMSG("q is NULL");
    pc_item it = pc_item_int(777);
    CHECK_STATUS(pc_queue_get_item(NULL, 0, &it), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_queue_get_item");
    CHECK_ERRMSG("q is NULL");
    CHECK(it.kind == PC_KIND_INT && it.i == 777); /* written on success only */
    pc_queue_free(NULL); /* a no-op */

    /* Bad arguments with a valid handle: refused, nothing put or taken. */
    pc_queue *jq;
    CHECK_OK(pc_queue_new(0, &q));
    CHECK_OK(pc_joinable_queue_new(0, &jq));
    put_str(q, "kept");
    CHECK_STATUS(pc_queue_put(q, NULL, 1, 0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_queue_put");
    CHECK_ERRMSG("buf is NULL");
    CHECK_STATUS(pc_queue_put(q, NULL, 16 * MIB, PC_FOREVER), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("buf");
    CHECK_STATUS(pc_queue_put(q, "x", SIZE_MAX, 0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_queue_put");
    CHECK_STATUS(pc_queue_put(q, "x", 1, NAN), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_queue_put");
    CHECK_ERRMSG("timeout");
    CHECK_ERRMSG("NaN");
    CHECK_STATUS(pc_queue_put(q, "x", 1, -NAN), PC_ERR_INVALID_ARGUMENT);
    CHECK(queue_qsize(q) == 1);

    CHECK_STATUS(pc_queue_get(q, 0, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_queue_get");
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_queue_get(q, PC_FOREVER, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(pc_queue_get(q, NAN, &m), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_queue_get");
    CHECK_ERRMSG("timeout");
    CHECK_ERRMSG("NaN");
    CHECK(m.data == NULL && m.len == 777);
    CHECK(queue_qsize(q) == 1);

    n = 777;
    CHECK_STATUS(pc_queue_get_into(q, buf, sizeof buf, NULL, 0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_queue_get_into");
    CHECK_ERRMSG("len is NULL");
    CHECK_STATUS(pc_queue_get_into(q, NULL, 5, &n, 0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_queue_get_into");
    CHECK_ERRMSG("buf is NULL");
    CHECK(n == 777);
    CHECK_STATUS(pc_queue_get_into(q, buf, sizeof buf, &n, NAN), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_queue_get_into");
    CHECK_ERRMSG("timeout");
    CHECK(n == 777);
    CHECK(queue_qsize(q) == 1);

    CHECK_STATUS(pc_queue_qsize(q, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_queue_qsize");
    CHECK_ERRMSG("out is NULL");

    /* Items: a NULL out, a NaN timeout, an unknown kind, a STR item that is not UTF-8 or
     * has NULL data, BYTES with NULL data: refused before the kind is looked at. */
    CHECK_STATUS(pc_queue_get_item(q, 0, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_queue_get_item");
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_queue_get_item(q, NAN, &it), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_queue_get_item");
    CHECK_ERRMSG("timeout");
    CHECK(it.kind == PC_KIND_INT && it.i == 777);
    CHECK_STATUS(pc_queue_put_item(q, pc_item_bytes("x", 1), NAN), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_queue_put_item");
    CHECK_ERRMSG("timeout");
    pc_item unknown = pc_item_bytes("x", 1);
    unknown.kind = 99;
    CHECK_STATUS(pc_queue_put_item(q, unknown, 0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_queue_put_item");
    CHECK_ERRMSG("item has an unknown kind 99");
    unknown.kind = -1;
    CHECK_STATUS(pc_queue_put_item(q, unknown, 0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("unknown kind -1");
    CHECK_STATUS(pc_queue_put_item(q, pc_item_str("\xff\xfe"), 0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_queue_put_item");
    CHECK_ERRMSG("item is not valid UTF-8");
    CHECK_STATUS(pc_queue_put_item(q, pc_item_str(NULL), 0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_queue_put_item");
    CHECK_ERRMSG("item is NULL");
    CHECK_STATUS(pc_queue_put_item(q, pc_item_bytes(NULL, 3), 0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("item is NULL");
    CHECK(queue_qsize(q) == 1);

    /* task_done and join need a JoinableQueue. */
    CHECK_STATUS(pc_queue_task_done(q), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_queue_task_done");
    CHECK_ERRMSG("joinable");
    CHECK_STATUS(pc_queue_join(q, 0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_queue_join");
    CHECK_ERRMSG("joinable");
    CHECK_STATUS(pc_queue_join(q, PC_FOREVER), PC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(pc_queue_join(jq, NAN), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_queue_join");
    CHECK_ERRMSG("timeout");
    CHECK_OK(pc_queue_join(jq, 0));

    get_str(q, "kept");
    CHECK(queue_qsize(q) == 0);
    pc_queue_free(q);
    pc_queue_free(jq);
}

static void test_wrong_handles(void)
{
    pc_lock *l;
    pc_event *e;
    pc_queue *q;
    CHECK_OK(pc_lock_new(&l));
    CHECK_OK(pc_event_new(&e));
    CHECK_OK(pc_queue_new(0, &q));
    pc_queue *wl = (pc_queue *)l, *we = (pc_queue *)e;

    pc_bytes m = {NULL, 777};
    size_t n = 777;
    char buf[8];
    CHECK_STATUS(pc_queue_put(wl, "x", 1, 0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_queue_put");
    CHECK_ERRMSG("q is not a pc_queue");
    CHECK_STATUS(pc_queue_get(wl, 0, &m), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_queue_get");
    CHECK_ERRMSG("q is not a pc_queue");
    CHECK(m.len == 777);
    CHECK_STATUS(pc_queue_get_into(we, buf, sizeof buf, &n, 0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_queue_get_into");
    CHECK_ERRMSG("q is not a pc_queue");
    CHECK(n == 777);
    CHECK_STATUS(pc_queue_qsize(wl, &n), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_queue_qsize");
    CHECK_ERRMSG("q is not a pc_queue");
    CHECK(n == 777);
    CHECK(pc_queue_empty(wl) == true);
    CHECK_ERRMSG("pc_queue_empty");
    CHECK_ERRMSG("q is not a pc_queue");
    CHECK(pc_queue_full(we) == false);
    CHECK_ERRMSG("pc_queue_full");
    CHECK_ERRMSG("q is not a pc_queue");
    CHECK_STATUS(pc_queue_close(wl), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_queue_close");
    CHECK_ERRMSG("q is not a pc_queue");
    CHECK_STATUS(pc_queue_join_thread(wl), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_queue_join_thread");
    CHECK_ERRMSG("q is not a pc_queue");
    CHECK_STATUS(pc_queue_cancel_join_thread(we), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_queue_cancel_join_thread");
    CHECK_ERRMSG("q is not a pc_queue");
    CHECK_STATUS(pc_queue_task_done(wl), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_queue_task_done");
    CHECK_ERRMSG("q is not a pc_queue");
    CHECK_STATUS(pc_queue_join(we, 0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_queue_join");
    CHECK_ERRMSG("q is not a pc_queue");
    CHECK_STATUS(pc_queue_put_item(wl, pc_item_bytes("x", 1), 0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_queue_put_item");
    CHECK_ERRMSG("q is not a pc_queue");
    pc_item it = pc_item_int(777);
    CHECK_STATUS(pc_queue_get_item(we, 0, &it), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_queue_get_item");
    CHECK_ERRMSG("q is not a pc_queue");
    CHECK(it.kind == PC_KIND_INT && it.i == 777);
    pc_queue_free(wl); /* refused and reported, nothing freed */
    CHECK_ERRMSG("pc_queue_free");
    CHECK_ERRMSG("q is not a pc_queue");
    /* The lock and the event are intact. */
    CHECK_OK(pc_lock_acquire(l, 0));
    CHECK_OK(pc_lock_release(l));
    CHECK_OK(pc_event_set(e));
    CHECK(pc_event_is_set(e));

    /* And the other way round. */
    CHECK_STATUS(pc_lock_acquire((pc_lock *)q, 0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("is not a pc_lock");
    CHECK_STATUS(pc_event_set((pc_event *)q), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("is not a pc_event");
    pc_lock_free((pc_lock *)q);
    CHECK_ERRMSG("is not a pc_lock");
    put_str(q, "intact");
    get_str(q, "intact");
    check_queue_counts(q, 0, false);

    pc_lock_free(l);
    pc_event_free(e);
    pc_queue_free(q);
}

/* A queue handle used after its (only) free: refused while its memory lives, as the
 * library promises ("later use is detected while the memory lives"). In a sub-process,
 * so that a crash is reported as such. */
static int sub_freed_handle(void *arg)
{
    (void)arg;
    pc_queue *q;
    if (pc_queue_new(2, &q) != PC_OK)
        return 1;
    if (pc_queue_put(q, "x", 1, 0) != PC_OK)
        return 2;
    pc_queue_free(q);
    pc_bytes m = {NULL, 777};
    size_t n = 777;
    char buf[8];
    pc_item it = pc_item_int(777);
    struct {
        int status;
        int want;
    } calls[] = {
        {pc_queue_put(q, "x", 1, 0), PC_ERR_INVALID_ARGUMENT},
        {pc_queue_get(q, 0, &m), PC_ERR_INVALID_ARGUMENT},
        {pc_queue_get_into(q, buf, sizeof buf, &n, 0), PC_ERR_INVALID_ARGUMENT},
        {pc_queue_qsize(q, &n), PC_ERR_INVALID_ARGUMENT},
        {pc_queue_close(q), PC_ERR_INVALID_ARGUMENT},
        {pc_queue_join_thread(q), PC_ERR_INVALID_ARGUMENT},
        {pc_queue_cancel_join_thread(q), PC_ERR_INVALID_ARGUMENT},
        {pc_queue_task_done(q), PC_ERR_INVALID_ARGUMENT},
        {pc_queue_join(q, 0), PC_ERR_INVALID_ARGUMENT},
        {pc_queue_put_item(q, pc_item_bytes("x", 1), 0), PC_ERR_INVALID_ARGUMENT},
        {pc_queue_get_item(q, 0, &it), PC_ERR_INVALID_ARGUMENT},
    };
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        if (calls[i].status != calls[i].want) {
            fprintf(stderr, "   call %zu on a freed queue returned %d (%s)\n", i, calls[i].status,
                    pc_status_str(calls[i].status));
            return 10 + (int)i;
        }
    }
    if (!tu_contains(pc_last_error(), "already freed"))
        return 30;
    if (m.len != 777 || n != 777 || it.kind != PC_KIND_INT || it.i != 777)
        return 31;
    if (pc_queue_empty(q) != true || !tu_contains(pc_last_error(), "already freed"))
        return 32;
    if (pc_queue_full(q) != false || !tu_contains(pc_last_error(), "already freed"))
        return 33;
    pc_queue_free(q); /* a second free: reported, not a crash */
    if (!tu_contains(pc_last_error(), "pc_queue_free") ||
        !tu_contains(pc_last_error(), "already freed"))
        return 34;
    return 0;
}

static void test_freed_handle(void)
{
    pid_t pid = fork_sub(sub_freed_handle, NULL);
    check_sub_ok(pid, 10.0, "a freed queue handle used again");
}

/* Lengths beyond any queue: PC_ERR_TOO_LARGE, the buffer never read. The buffer is a
 * readable, never-committed 17 GiB mapping (the spill ring holds at most 16 GiB). */
static void test_too_large(void)
{
    size_t big = (size_t)17 << 30;
    void *buf = mmap(NULL, big, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (buf == MAP_FAILED) {
        fprintf(stderr, "   (no 17 GiB of address space: skipped)\n");
        return;
    }
    pc_queue *q;
    CHECK_OK(pc_queue_new(0, &q));
    double t0 = now();
    CHECK_STATUS(pc_queue_put(q, buf, big, PC_FOREVER), PC_ERR_TOO_LARGE);
    CHECK(elapsed_since(t0) < 5.0);
    CHECK_ERRMSG("pc_queue_put");
    check_queue_counts(q, 0, false);
    put_str(q, "still fine");
    get_str(q, "still fine");
    pc_queue_free(q);
    CHECK(munmap(buf, big) == 0);
}

static void test_many_bad_arguments(void)
{
    pc_queue *q;
    CHECK_OK(pc_queue_new(0, &q));
    size_t put = 99, got = 99;
    pc_bytes out[2] = {{NULL, 0}, {NULL, 0}};
    pc_slice ok[2] = {{"a", 1}, {"b", 1}};
    pc_slice holed[3] = {{"a", 1}, {NULL, 5}, {"c", 1}};

    CHECK_STATUS(pc_queue_put_many(NULL, ok, 2, 0, &put), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_queue_put_many");
    CHECK(put == 0);
    put = 99;
    CHECK_STATUS(pc_queue_put_many(q, NULL, 2, 0, &put), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("messages");
    CHECK(put == 0);
    put = 99;
    CHECK_STATUS(pc_queue_put_many(q, holed, 3, 0, &put), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("[1].data is NULL");
    CHECK(put == 0); /* none put: the batch is checked first */
    CHECK_STATUS(pc_queue_put_many(q, ok, 2, NAN, &put), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("timeout");
    check_queue_counts(q, 0, false);
    CHECK_OK(pc_queue_put_many(q, NULL, 0, 0, &put));
    CHECK(put == 0);
    CHECK_OK(pc_queue_put_many(q, ok, 2, 0, NULL)); /* the count is optional */
    check_queue_counts(q, 2, false);

    CHECK_STATUS(pc_queue_get_many(NULL, 0, out, 2, &got), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_queue_get_many");
    CHECK_STATUS(pc_queue_get_many(q, 0, out, 0, &got), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("max is 0");
    CHECK_STATUS(pc_queue_get_many(q, 0, NULL, 2, &got), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_queue_get_many(q, 0, out, 2, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("got");
    CHECK_STATUS(pc_queue_get_many(q, NAN, out, 2, &got), PC_ERR_INVALID_ARGUMENT);
    CHECK(got == 99); /* written on success only */
    check_queue_counts(q, 2, false);

    /* A message too large for any queue stops the batch there: those before it are in. */
    pc_slice huge[3] = {{"a", 1}, {"x", (size_t)1 << 40}, {"c", 1}};
    CHECK_STATUS(pc_queue_put_many(q, huge, 3, 0, &put), PC_ERR_TOO_LARGE);
    CHECK_ERRMSG("larger than a queue holds");
    CHECK(put == 1);
    CHECK_OK(pc_queue_get_many(q, 0, out, 2, &got));
    CHECK(got == 2);
    CHECK(out[0].len == 1 && out[0].data[0] == 'a' && out[1].len == 1 && out[1].data[0] == 'b');
    pc_bytes_free(&out[0]);
    pc_bytes_free(&out[1]);
    CHECK_OK(pc_queue_get_many(q, 0, out, 2, &got));
    CHECK(got == 1 && out[0].len == 1 && out[0].data[0] == 'a');
    pc_bytes_free(&out[0]);

    /* Empty: EMPTY after the timeout, nothing written. */
    got = 99;
    double t0 = now();
    CHECK_STATUS(pc_queue_get_many(q, 0.1, out, 2, &got), PC_ERR_EMPTY);
    check_waited(t0, 0.1, "pc_queue_get_many");
    CHECK_ERRMSG("empty");
    CHECK(got == 99);

    /* Closed in this process: nothing put. */
    CHECK_OK(pc_queue_close(q));
    CHECK_STATUS(pc_queue_put_many(q, ok, 2, 0, &put), PC_ERR_CLOSED);
    CHECK(put == 0);
    pc_queue_free(q);
    CHECK_STATUS(pc_queue_put_many(q, ok, 2, 0, &put), PC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(pc_queue_get_many(q, 0, out, 2, &got), PC_ERR_INVALID_ARGUMENT);
}

int main(int argc, char **argv)
{
    tu_select(argc, argv);
    tu_init("test_queue_args", 15);
    RUN(test_bad_arguments);
    RUN(test_wrong_handles);
    RUN(test_freed_handle);
    RUN(test_too_large);
    RUN(test_many_bad_arguments);
    return tu_done();
}
