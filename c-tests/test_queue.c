/*
 * test_queue.c: pc_queue_* and pc_joinable_queue_new (API.md §4), the contract in one
 * process, in threads and across processes: bad arguments to every function (NULL,
 * wrong-typed and freed handles, NULL buffers and out-pointers, NaN timeouts, maxsize
 * above PC_QUEUE_MAX_SIZE); FIFO order and timeouts (never early); the maxsize contract
 * (full, blocked puts woken by a get in another process) and an unbounded queue that
 * never blocks; get_into (exact fit, too short keeps the message, empty buffer); 0-byte,
 * 16 MiB and ring-boundary sizes, also through a child; a child that puts 10 MiB and
 * exits without anyone draining; close (per process, not inherited); JoinableQueue
 * across processes; pc_interrupt() on blocked get, put and join; several threads at
 * once; a handle freed while other processes use the queue; nothing left behind.
 * pc_queue_put_item/pc_queue_get_item on a local queue: BYTES items are messages, other
 * kinds PC_ERR_TYPE, and their bad arguments (an unknown kind, a STR item that is not
 * UTF-8 or has NULL data).
 *
 * Killed producers and consumers, and many processes at once, are in
 * test_queue_faults.c.
 *
 * ctest-timeout: 120
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

#define KIB ((size_t)1 << 10)
#define MIB ((size_t)1 << 20)

/* ---- helpers ---- */

static void put_str(pc_queue *q, const char *s)
{
    CHECK_OK(pc_queue_put(q, s, strlen(s), 0));
}

static void get_str(pc_queue *q, const char *s)
{
    pc_bytes m = {NULL, 0};
    CHECK_OK(pc_queue_get(q, 0, &m));
    tu_checks++;
    if (m.len != strlen(s) || (m.len > 0 && memcmp(m.data, s, m.len) != 0))
        FAIL("got \"%.*s\" (%zu bytes), expected \"%s\"", (int)(m.len < 60 ? m.len : 60),
             m.data ? (const char *)m.data : "", m.len, s);
    pc_bytes_free(&m);
}

/* A message of `len` bytes of fill_pattern(seed). */
static void put_pattern(pc_queue *q, size_t len, unsigned seed, double timeout)
{
    uint8_t *buf = malloc(len ? len : 1);
    CHECK(buf != NULL);
    fill_pattern(buf, len, seed);
    CHECK_OK(pc_queue_put(q, buf, len, timeout));
    free(buf);
}

/* No CHECK: child targets use it. True when `m` is `len` bytes of fill_pattern(seed). */
static bool is_pattern(const pc_bytes *m, size_t len, unsigned seed)
{
    return m->len == len && (len == 0 || m->data != NULL) &&
           pattern_mismatch(m->data, len, seed) == len;
}

static void get_pattern(pc_queue *q, size_t len, unsigned seed, double timeout)
{
    pc_bytes m = {NULL, 0};
    CHECK_OK(pc_queue_get(q, timeout, &m));
    tu_checks++;
    if (m.len != len)
        FAIL("got %zu bytes, expected %zu (pattern %u)", m.len, len, seed);
    size_t at = len ? pattern_mismatch(m.data, len, seed) : 0;
    if (at != len)
        FAIL("a %zu-byte message differs from pattern %u at byte %zu", len, seed, at);
    pc_bytes_free(&m);
}

static double elapsed_since(double t0)
{
    return now() - t0;
}

/* A timed wait that cannot succeed: not before `timeout`, not much after. */
static void check_waited(double t0, double timeout, const char *what)
{
    double took = elapsed_since(t0);
    if (took < timeout - 0.0005 || took > timeout + 2.0)
        FAIL("%s(timeout %.3f) returned after %.3f s", what, timeout, took);
}

/* Adapters for check_interrupted (tu_wait_fn). */
static pc_status queue_get_wait(void *q, double timeout)
{
    pc_bytes m = {NULL, 0};
    pc_status st = pc_queue_get(q, timeout, &m);
    if (st == PC_OK)
        pc_bytes_free(&m);
    return st;
}

static pc_status queue_get_into_wait(void *q, double timeout)
{
    char buf[64];
    size_t len = 0;
    return pc_queue_get_into(q, buf, sizeof buf, &len, timeout);
}

static pc_status queue_put_wait(void *q, double timeout)
{
    return pc_queue_put(q, "interrupted put", 15, timeout);
}

static pc_status queue_join_wait(void *q, double timeout)
{
    return pc_queue_join(q, timeout);
}

static pc_status queue_get_item_wait(void *q, double timeout)
{
    pc_item it = pc_item_none();
    pc_status st = pc_queue_get_item(q, timeout, &it);
    pc_item_release(&it);
    return st;
}

static pc_status queue_put_item_wait(void *q, double timeout)
{
    return pc_queue_put_item(q, pc_item_bytes("interrupted put", 15), timeout);
}

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

/* ---- one process: FIFO, timeouts ---- */

struct delayed_put {
    pc_queue *q;
    double delay;
    double at;
    int status;
};

static void *delayed_put_main(void *arg)
{
    struct delayed_put *d = arg;
    sleep_s(d->delay);
    d->at = now();
    d->status = pc_queue_put(d->q, "late", 4, PC_FOREVER);
    return NULL;
}

static void test_fifo_and_timeouts(void)
{
    pc_queue *q;
    CHECK_OK(pc_queue_new(0, &q));
    check_queue_counts(q, 0, false);

    const double timeouts[] = {0, 0.5, PC_FOREVER, -3.0, INFINITY};
    char s[64];
    for (int i = 0; i < 100; i++) {
        int len = snprintf(s, sizeof s, "message %d", i);
        CHECK_OK(pc_queue_put(q, s, (size_t)len, timeouts[i % 5]));
        CHECK(queue_qsize(q) == (size_t)i + 1);
    }
    check_queue_counts(q, 100, false);
    for (int i = 0; i < 100; i++) {
        int len = snprintf(s, sizeof s, "message %d", i);
        pc_bytes m = {NULL, 0};
        CHECK_OK(pc_queue_get(q, timeouts[(i + 2) % 5], &m));
        CHECK(m.len == (size_t)len && memcmp(m.data, s, m.len) == 0);
        pc_bytes_free(&m);
        CHECK(m.data == NULL && m.len == 0);
    }
    check_queue_counts(q, 0, false);

    /* Empty: timeout 0 at once, a timeout never early. */
    pc_bytes m = {NULL, 777};
    double t0 = now();
    CHECK_STATUS(pc_queue_get(q, 0, &m), PC_ERR_EMPTY);
    CHECK(elapsed_since(t0) < 0.5); /* at once (generous for a loaded machine) */
    CHECK_ERRMSG("pc_queue_get");
    CHECK_ERRMSG("empty");
    CHECK(m.data == NULL && m.len == 777);
    t0 = now();
    CHECK_STATUS(pc_queue_get(q, 0.2, &m), PC_ERR_EMPTY);
    check_waited(t0, 0.2, "pc_queue_get");
    CHECK_ERRMSG("empty");
    t0 = now();
    CHECK_STATUS(pc_queue_get(q, 0.01, &m), PC_ERR_EMPTY);
    check_waited(t0, 0.01, "pc_queue_get");
    char buf[16];
    size_t n = 777;
    t0 = now();
    CHECK_STATUS(pc_queue_get_into(q, buf, sizeof buf, &n, 0), PC_ERR_EMPTY);
    CHECK(elapsed_since(t0) < 0.5); /* at once (generous for a loaded machine) */
    t0 = now();
    CHECK_STATUS(pc_queue_get_into(q, buf, sizeof buf, &n, 0.2), PC_ERR_EMPTY);
    check_waited(t0, 0.2, "pc_queue_get_into");
    CHECK_ERRMSG("pc_queue_get_into");
    CHECK(n == 777);
    CHECK(m.len == 777);

    /* A get blocked without limit is woken by a put from another thread. */
    struct delayed_put d = {q, 0.2, 0, -100};
    pthread_t th;
    t0 = now();
    CHECK(pthread_create(&th, NULL, delayed_put_main, &d) == 0);
    m = (pc_bytes){NULL, 0};
    CHECK_OK(pc_queue_get(q, PC_FOREVER, &m));
    double got_at = now();
    CHECK(pthread_join(th, NULL) == 0);
    CHECK_STATUS(d.status, PC_OK);
    CHECK(got_at - t0 >= 0.2 - 0.0005);
    CHECK(got_at - d.at < 2.0);
    CHECK(m.len == 4 && memcmp(m.data, "late", 4) == 0);
    pc_bytes_free(&m);
    /* And one with a timeout. */
    d = (struct delayed_put){q, 0.1, 0, -100};
    CHECK(pthread_create(&th, NULL, delayed_put_main, &d) == 0);
    n = 0;
    CHECK_OK(pc_queue_get_into(q, buf, sizeof buf, &n, 10.0));
    CHECK(pthread_join(th, NULL) == 0);
    CHECK(n == 4 && memcmp(buf, "late", 4) == 0);
    check_queue_counts(q, 0, false);

    /* A JoinableQueue is a queue too. */
    pc_queue *jq;
    CHECK_OK(pc_joinable_queue_new(2, &jq));
    put_str(jq, "j1");
    put_str(jq, "j2");
    check_queue_counts(jq, 2, true);
    CHECK_STATUS(pc_queue_put(jq, "j3", 2, 0), PC_ERR_FULL);
    get_str(jq, "j1");
    get_str(jq, "j2");
    check_queue_counts(jq, 0, false);
    pc_queue_free(jq);
    pc_queue_free(q);
}

/* ---- maxsize ---- */

struct child_get {
    pc_queue *q;
    double delay;   /* before the get */
    double timeout; /* of the get */
    const char *want;
    atomic_int *started;
    double *got_at; /* shared memory: when the get returned */
};

/* Waits `delay`, then gets one message and checks it is `want`. */
static int target_get_one(void *arg)
{
    const struct child_get *a = arg;
    if (a->started)
        atomic_store(a->started, 1);
    sleep_s(a->delay);
    pc_bytes m = {NULL, 0};
    int st = pc_queue_get(a->q, a->timeout, &m);
    if (a->got_at)
        *a->got_at = now();
    if (st != PC_OK)
        return 1;
    bool same = m.len == strlen(a->want) && memcmp(m.data, a->want, m.len) == 0;
    pc_bytes_free(&m);
    return same ? 0 : 2;
}

struct child_put {
    pc_queue *q;
    const char *msg;
    double timeout;
    atomic_int *started;
    double *put_at; /* shared memory: when the put returned */
};

static int target_put_one(void *arg)
{
    const struct child_put *a = arg;
    if (a->started)
        atomic_store(a->started, 1);
    int st = pc_queue_put(a->q, a->msg, strlen(a->msg), a->timeout);
    if (a->put_at)
        *a->put_at = now();
    return st == PC_OK ? 0 : 1;
}

static void test_maxsize(void)
{
    struct shared {
        atomic_int started;
        double at;
    } *sh = shared_new(sizeof *sh);
    pc_queue *q;
    CHECK_OK(pc_queue_new(3, &q));
    check_queue_counts(q, 0, false);
    put_str(q, "m0");
    check_queue_counts(q, 1, false);
    put_str(q, "m1");
    check_queue_counts(q, 2, false);
    put_str(q, "m2");
    check_queue_counts(q, 3, true);

    double t0 = now();
    CHECK_STATUS(pc_queue_put(q, "m3", 2, 0), PC_ERR_FULL);
    CHECK(elapsed_since(t0) < 0.5); /* at once (generous for a loaded machine) */
    CHECK_ERRMSG("pc_queue_put");
    CHECK_ERRMSG("full");
    check_queue_counts(q, 3, true);
    t0 = now();
    CHECK_STATUS(pc_queue_put(q, "m3", 2, 0.2), PC_ERR_FULL);
    check_waited(t0, 0.2, "pc_queue_put");
    CHECK_ERRMSG("full");
    CHECK_STATUS(pc_queue_put(q, "", 0, 0.01), PC_ERR_FULL); /* 0 bytes count too */
    check_queue_counts(q, 3, true);

    /* A child gets one after 0.3 s: the parent's put without limit waits for it. */
    struct child_get g = {q, 0.3, 10.0, "m0", NULL, &sh->at};
    t0 = now();
    pc_process *p = start(target_get_one, &g);
    CHECK_OK(pc_queue_put(q, "m3", 2, PC_FOREVER));
    double put_at = now();
    CHECK(put_at - t0 >= 0.3 - 0.0005);
    CHECK(finish(p, 10.0) == 0);
    CHECK(put_at - sh->at < 2.0);
    check_queue_counts(q, 3, true);

    /* The other way round: a child blocked in put, the parent gets. */
    struct child_put cp = {q, "m4", 10.0, &sh->started, &sh->at};
    sh->at = 0;
    p = start(target_put_one, &cp);
    CHECK(wait_flag(&sh->started, 1, 5.0));
    sleep_s(0.2);
    CHECK(pc_process_is_alive(p)); /* still blocked */
    check_queue_counts(q, 3, true);
    double got_at = now();
    get_str(q, "m1");
    CHECK(finish(p, 10.0) == 0);
    CHECK(sh->at >= got_at && sh->at - got_at < 2.0);
    check_queue_counts(q, 3, true);
    /* A child's put with a timeout on a full queue: FULL, not earlier. */
    cp = (struct child_put){q, "never", 0.2, NULL, &sh->at};
    t0 = now();
    p = start(target_put_one, &cp);
    CHECK(finish(p, 10.0) == 1);
    CHECK(sh->at - t0 >= 0.2 - 0.0005);
    check_queue_counts(q, 3, true);

    get_str(q, "m2");
    check_queue_counts(q, 2, false);
    get_str(q, "m3");
    get_str(q, "m4");
    check_queue_counts(q, 0, false);
    CHECK_STATUS(pc_queue_get(q, 0, &(pc_bytes){NULL, 0}), PC_ERR_EMPTY);

    /* Slots are reused many times over: the count never drifts. */
    for (int round = 0; round < 1000; round++) {
        for (int i = 0; i < 3; i++)
            CHECK_OK(pc_queue_put(q, &round, sizeof round, 0));
        if (!pc_queue_full(q))
            FAIL("round %d: not full after 3 puts", round);
        CHECK_STATUS(pc_queue_put(q, &round, sizeof round, 0), PC_ERR_FULL);
        for (int i = 0; i < 3; i++) {
            int v = -1;
            size_t n = 0;
            CHECK_OK(pc_queue_get_into(q, &v, sizeof v, &n, 0));
            CHECK(n == sizeof v && v == round);
        }
    }
    check_queue_counts(q, 0, false);
    pc_queue_free(q);

    /* Queue(1). */
    CHECK_OK(pc_queue_new(1, &q));
    put_str(q, "only");
    check_queue_counts(q, 1, true);
    CHECK_STATUS(pc_queue_put(q, "more", 4, 0), PC_ERR_FULL);
    get_str(q, "only");
    check_queue_counts(q, 0, false);
    pc_queue_free(q);
    shared_free(sh, sizeof *sh);
}

static void test_unbounded_never_blocks(void)
{
    pc_queue *q;
    CHECK_OK(pc_queue_new(0, &q));
    enum { N = 100000 };
    for (uint32_t i = 0; i < N; i++) {
        uint64_t v = (uint64_t)i * 2654435761u;
        int st = pc_queue_put(q, &v, sizeof v, 0);
        if (st != PC_OK)
            FAIL("put %u of %d into an unbounded queue: %s", i, N, pc_status_str(st));
        if (i % 10000 == 0)
            CHECK(!pc_queue_full(q));
    }
    check_queue_counts(q, N, false);
    for (uint32_t i = 0; i < N; i++) {
        uint64_t v = 0;
        size_t n = 0;
        int st = pc_queue_get_into(q, &v, sizeof v, &n, 0);
        if (st != PC_OK || n != sizeof v || v != (uint64_t)i * 2654435761u)
            FAIL("get %u: %s, %zu bytes, value %llu", i, pc_status_str(st), n,
                 (unsigned long long)v);
    }
    check_queue_counts(q, 0, false);

    /* Far more bytes than the small ring holds (it spills): still never blocks. */
    for (unsigned i = 0; i < 300; i++)
        put_pattern(q, 100 * KIB + i, i, 0);
    check_queue_counts(q, 300, false);
    for (unsigned i = 0; i < 300; i++)
        get_pattern(q, 100 * KIB + i, i, 0);
    check_queue_counts(q, 0, false);
    pc_queue_free(q);
}

/* ---- get_into ---- */

static void test_get_into(void)
{
    pc_queue *q;
    CHECK_OK(pc_queue_new(0, &q));
    char buf[32];
    size_t n;

    /* Exact fit; the bytes after the message are untouched. */
    put_str(q, "0123456789");
    memset(buf, '#', sizeof buf);
    n = 0;
    CHECK_OK(pc_queue_get_into(q, buf, 10, &n, 0));
    CHECK(n == 10 && memcmp(buf, "0123456789", 10) == 0);
    CHECK(buf[10] == '#');
    put_str(q, "short");
    memset(buf, '#', sizeof buf);
    CHECK_OK(pc_queue_get_into(q, buf, sizeof buf, &n, 0));
    CHECK(n == 5 && memcmp(buf, "short", 5) == 0);
    for (size_t i = 5; i < sizeof buf; i++)
        CHECK(buf[i] == '#');

    /* Too short: the size needed, the message stays (also across several tries). */
    put_str(q, "a longer message");
    put_str(q, "next");
    n = 0;
    CHECK_STATUS(pc_queue_get_into(q, buf, 15, &n, 0), PC_ERR_BUFFER_TOO_SHORT);
    CHECK(n == 16);
    CHECK_ERRMSG("pc_queue_get_into");
    CHECK_ERRMSG("16");
    check_queue_counts(q, 2, false);
    n = 0;
    CHECK_STATUS(pc_queue_get_into(q, buf, 1, &n, PC_FOREVER), PC_ERR_BUFFER_TOO_SHORT);
    CHECK(n == 16);
    n = 0;
    CHECK_STATUS(pc_queue_get_into(q, NULL, 0, &n, 0), PC_ERR_BUFFER_TOO_SHORT);
    CHECK(n == 16);
    check_queue_counts(q, 2, false);
    get_str(q, "a longer message"); /* a following get returns it */
    CHECK_OK(pc_queue_get_into(q, buf, 4, &n, 0));
    CHECK(n == 4 && memcmp(buf, "next", 4) == 0);
    check_queue_counts(q, 0, false);

    /* Empty messages fit an empty buffer, NULL or not. */
    CHECK_OK(pc_queue_put(q, NULL, 0, 0));
    CHECK_OK(pc_queue_put(q, "ignored", 0, 0));
    put_str(q, "x");
    n = 777;
    CHECK_OK(pc_queue_get_into(q, NULL, 0, &n, 0));
    CHECK(n == 0);
    n = 777;
    CHECK_OK(pc_queue_get_into(q, buf, 0, &n, 0));
    CHECK(n == 0);
    n = 0;
    CHECK_STATUS(pc_queue_get_into(q, buf, 0, &n, 0), PC_ERR_BUFFER_TOO_SHORT);
    CHECK(n == 1);
    CHECK_OK(pc_queue_get_into(q, buf, 1, &n, 0));
    CHECK(n == 1 && buf[0] == 'x');
    check_queue_counts(q, 0, false);

    /* Large messages (the small ring's largest, and spilled ones) too. */
    const size_t sizes[] = {256 * KIB, 256 * KIB + 1, 3 * MIB};
    for (size_t i = 0; i < 3; i++)
        put_pattern(q, sizes[i], 40 + (unsigned)i, 0);
    uint8_t *big = malloc(3 * MIB);
    CHECK(big != NULL);
    for (size_t i = 0; i < 3; i++) {
        n = 0;
        CHECK_STATUS(pc_queue_get_into(q, big, sizes[i] - 1, &n, 0), PC_ERR_BUFFER_TOO_SHORT);
        CHECK(n == sizes[i]);
        CHECK(queue_qsize(q) == 3 - i);
        n = 0;
        CHECK_OK(pc_queue_get_into(q, big, sizes[i], &n, 0));
        CHECK(n == sizes[i]);
        CHECK(pattern_mismatch(big, n, 40 + (unsigned)i) == n);
    }
    check_queue_counts(q, 0, false);
    free(big);

    /* A bounded queue: a too-short get frees no slot. */
    pc_queue *b;
    CHECK_OK(pc_queue_new(1, &b));
    put_str(b, "slot");
    CHECK_STATUS(pc_queue_get_into(b, buf, 2, &n, 0), PC_ERR_BUFFER_TOO_SHORT);
    check_queue_counts(b, 1, true);
    CHECK_STATUS(pc_queue_put(b, "y", 1, 0), PC_ERR_FULL);
    get_str(b, "slot");
    pc_queue_free(b);
    pc_queue_free(q);
}

/* ---- items ---- */

/* A local queue carries bytes: BYTES items are its messages, any other kind is refused. */
static void test_items(void)
{
    pc_queue *q;
    CHECK_OK(pc_queue_new(0, &q));

    /* A BYTES item is a message, whichever way it goes in and comes out. */
    CHECK_OK(pc_queue_put_item(q, pc_item_bytes("abc", 3), 0));
    check_queue_counts(q, 1, false);
    get_str(q, "abc");
    put_str(q, "xyz");
    pc_item it = pc_item_none();
    CHECK_OK(pc_queue_get_item(q, 0, &it));
    CHECK(it.kind == PC_KIND_BYTES && it.len == 3 && memcmp(it.data, "xyz", 3) == 0);
    pc_item_release(&it);
    CHECK(it.kind == PC_KIND_NONE && it.data == NULL);
    CHECK_OK(pc_queue_put_item(q, pc_item_bytes(NULL, 0), PC_FOREVER));
    CHECK_OK(pc_queue_put_item(q, pc_item_bytes("ignored", 0), 0));
    CHECK_OK(pc_queue_get_item(q, PC_FOREVER, &it));
    CHECK(it.kind == PC_KIND_BYTES && it.len == 0);
    pc_item_release(&it);
    get_str(q, "");
    /* A large one (it spills), read by get_item. */
    uint8_t *big = malloc(3 * MIB);
    CHECK(big != NULL);
    fill_pattern(big, 3 * MIB, 7);
    CHECK_OK(pc_queue_put_item(q, pc_item_bytes(big, 3 * MIB), 0));
    free(big);
    CHECK_OK(pc_queue_get_item(q, 0, &it));
    CHECK(it.kind == PC_KIND_BYTES && it.len == 3 * MIB);
    CHECK(pattern_mismatch(it.data, it.len, 7) == it.len);
    pc_item_release(&it);

    /* Any other kind: PC_ERR_TYPE, and nothing put. */
    static const uint8_t pickle_none[] = {0x80, 4, 'N', '.'};
    pc_item pickle = pc_item_bytes(pickle_none, sizeof pickle_none);
    pickle.kind = PC_KIND_PICKLE;
    const pc_item others[] = {pc_item_none(), pc_item_bool(true), pc_item_int(7),
                              pc_item_float(1.5), pc_item_str("text"), pickle};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        CHECK_STATUS(pc_queue_put_item(q, others[i], 0), PC_ERR_TYPE);
        CHECK_ERRMSG("pc_queue_put_item");
        CHECK_ERRMSG("a local queue carries bytes");
        CHECK_ERRMSG("a managed queue carries any item");
    }
    CHECK_ERRMSG("of type object"); /* the kind it met */
    check_queue_counts(q, 0, false);

    /* Empty, as pc_queue_get: at once, or after the timeout; the item untouched. */
    it = pc_item_int(777);
    CHECK_STATUS(pc_queue_get_item(q, 0, &it), PC_ERR_EMPTY);
    CHECK_ERRMSG("pc_queue_get_item");
    double t0 = now();
    CHECK_STATUS(pc_queue_get_item(q, 0.05, &it), PC_ERR_EMPTY);
    check_waited(t0, 0.05, "pc_queue_get_item");
    CHECK(it.kind == PC_KIND_INT && it.i == 777);
    check_interrupted(queue_get_item_wait, q, PC_FOREVER, "pc_queue_get_item");

    /* Full and closed, as pc_queue_put. */
    pc_queue *b;
    CHECK_OK(pc_queue_new(1, &b));
    CHECK_OK(pc_queue_put_item(b, pc_item_bytes("one", 3), 0));
    t0 = now();
    CHECK_STATUS(pc_queue_put_item(b, pc_item_bytes("two", 3), 0.05), PC_ERR_FULL);
    check_waited(t0, 0.05, "pc_queue_put_item");
    CHECK_ERRMSG("pc_queue_put_item");
    check_interrupted(queue_put_item_wait, b, PC_FOREVER, "pc_queue_put_item");
    check_queue_counts(b, 1, true);
    get_str(b, "one");
    CHECK_OK(pc_queue_close(b));
    CHECK_STATUS(pc_queue_put_item(b, pc_item_bytes("late", 4), 0), PC_ERR_CLOSED);
    CHECK_ERRMSG("pc_queue_put_item");
    check_queue_counts(b, 0, false);
    pc_queue_free(b);
    pc_queue_free(q);
}

/* ---- sizes ---- */

static const size_t boundary_sizes[] = {
    0, 1, 7, 8, 9, 4095, 4096, 4097, 65536,
    256 * KIB - 9, 256 * KIB - 8, 256 * KIB - 1, 256 * KIB, 256 * KIB + 1, 256 * KIB + 8,
    512 * KIB, MIB - 16, MIB - 9, MIB - 8, MIB - 1, MIB, MIB + 1, 2 * MIB + 3, 16 * MIB,
};
#define N_BOUNDARY (sizeof boundary_sizes / sizeof boundary_sizes[0])

static void test_sizes(void)
{
    pc_queue *q;
    CHECK_OK(pc_queue_new(0, &q));

    /* Every size in one go (small ones and spilled ones mixed), then in reverse. */
    for (size_t i = 0; i < N_BOUNDARY; i++) {
        put_pattern(q, boundary_sizes[i], 100 + (unsigned)i, 0);
        put_str(q, "between");
    }
    check_queue_counts(q, 2 * N_BOUNDARY, false);
    for (size_t i = 0; i < N_BOUNDARY; i++) {
        get_pattern(q, boundary_sizes[i], 100 + (unsigned)i, 0);
        get_str(q, "between");
    }
    for (size_t i = N_BOUNDARY; i-- > 0;)
        put_pattern(q, boundary_sizes[i], 200 + (unsigned)i, 0);
    for (size_t i = N_BOUNDARY; i-- > 0;)
        get_pattern(q, boundary_sizes[i], 200 + (unsigned)i, 0);
    check_queue_counts(q, 0, false);

    /* One at a time: each alone in the queue. */
    for (size_t i = 0; i < N_BOUNDARY; i++) {
        put_pattern(q, boundary_sizes[i], 300 + (unsigned)i, 0);
        check_queue_counts(q, 1, false);
        get_pattern(q, boundary_sizes[i], 300 + (unsigned)i, 0);
    }

    /* A window of a few outstanding messages of awkward sizes: the small ring wraps
     * (records padded at its end) and puts switch to the spill ring and back many times. */
    const size_t cycle[] = {100 * KIB + 8, 3, 256 * KIB, 200 * KIB + 5, 0, 50 * KIB + 1,
                            300 * KIB, 17, 256 * KIB - 8, 180 * KIB};
    const size_t nc = sizeof cycle / sizeof cycle[0];
    unsigned next_get = 0;
    for (unsigned i = 0; i < 500; i++) {
        put_pattern(q, cycle[i % nc] + (i % 7) * 8, 1000 + i, 0);
        size_t window = 2 + i % 5;
        while (queue_qsize(q) > window) {
            get_pattern(q, cycle[next_get % nc] + (next_get % 7) * 8, 1000 + next_get, 0);
            next_get++;
        }
    }
    while (next_get < 500) {
        get_pattern(q, cycle[next_get % nc] + (next_get % 7) * 8, 1000 + next_get, 0);
        next_get++;
    }
    check_queue_counts(q, 0, false);

    /* Zero-byte messages only. */
    for (int i = 0; i < 1000; i++)
        CHECK_OK(pc_queue_put(q, i % 2 ? "" : NULL, 0, 0));
    check_queue_counts(q, 1000, false);
    for (int i = 0; i < 1000; i++) {
        pc_bytes m = {(uint8_t *)1, 777};
        CHECK_OK(pc_queue_get(q, 0, &m));
        CHECK(m.len == 0);
        pc_bytes_free(&m);
    }
    check_queue_counts(q, 0, false);
    pc_queue_free(q);
}

struct echo {
    pc_queue *in, *out;
};

/* Gets messages from `in` and puts each back into `out`, until a 4-byte "stop". */
static int target_echo(void *arg)
{
    const struct echo *e = arg;
    for (;;) {
        pc_bytes m = {NULL, 0};
        if (pc_queue_get(e->in, 20.0, &m) != PC_OK)
            return 1;
        if (m.len == 4 && memcmp(m.data, "stop", 4) == 0) {
            pc_bytes_free(&m);
            return 0;
        }
        int st = pc_queue_put(e->out, m.data, m.len, 20.0);
        pc_bytes_free(&m);
        if (st != PC_OK)
            return 2;
    }
}

struct produce {
    pc_queue *q;
    const size_t *sizes;
    size_t n;
    unsigned seed;
};

/* Puts messages of sizes[i] bytes of fill_pattern(seed + i). */
static int target_produce(void *arg)
{
    const struct produce *a = arg;
    for (size_t i = 0; i < a->n; i++) {
        uint8_t *buf = malloc(a->sizes[i] ? a->sizes[i] : 1);
        if (!buf)
            return 1;
        fill_pattern(buf, a->sizes[i], a->seed + (unsigned)i);
        int st = pc_queue_put(a->q, buf, a->sizes[i], 20.0);
        free(buf);
        if (st != PC_OK)
            return 2;
    }
    return 0;
}

/* Gets n messages, checking each is sizes[i] bytes of fill_pattern(seed + i). */
static int target_consume(void *arg)
{
    const struct produce *a = arg;
    for (size_t i = 0; i < a->n; i++) {
        pc_bytes m = {NULL, 0};
        if (pc_queue_get(a->q, 20.0, &m) != PC_OK)
            return 1;
        bool ok = is_pattern(&m, a->sizes[i], a->seed + (unsigned)i);
        pc_bytes_free(&m);
        if (!ok)
            return 10 + (int)(i < 100 ? i : 100);
    }
    return 0;
}

static void test_sizes_across_processes(void)
{
    pc_queue *in, *out;
    CHECK_OK(pc_queue_new(0, &in));
    CHECK_OK(pc_queue_new(0, &out));

    /* Every size through a child and back. */
    struct echo e = {in, out};
    pc_process *p = start(target_echo, &e);
    for (size_t i = 0; i < N_BOUNDARY; i++)
        put_pattern(in, boundary_sizes[i], 500 + (unsigned)i, 0);
    for (size_t i = 0; i < N_BOUNDARY; i++)
        get_pattern(out, boundary_sizes[i], 500 + (unsigned)i, 20.0);
    put_str(in, "stop");
    CHECK(finish(p, 20.0) == 0);
    check_queue_counts(in, 0, false);
    check_queue_counts(out, 0, false);

    /* Put by a child, got by the parent; put by the parent, got by a child. */
    struct produce a = {out, boundary_sizes, N_BOUNDARY, 700};
    p = start(target_produce, &a);
    for (size_t i = 0; i < N_BOUNDARY; i++)
        get_pattern(out, boundary_sizes[i], 700 + (unsigned)i, 20.0);
    CHECK(finish(p, 20.0) == 0);
    a = (struct produce){in, boundary_sizes, N_BOUNDARY, 800};
    p = start(target_consume, &a);
    for (size_t i = 0; i < N_BOUNDARY; i++)
        put_pattern(in, boundary_sizes[i], 800 + (unsigned)i, 0);
    CHECK(finish(p, 20.0) == 0);
    check_queue_counts(in, 0, false);
    check_queue_counts(out, 0, false);
    pc_queue_free(in);
    pc_queue_free(out);
}

/* ---- a child puts 10 MiB and exits before anyone gets anything ---- */

static const size_t ten_mib_sizes[] = {MIB, MIB, MIB, MIB, MIB, MIB, MIB, MIB, MIB, MIB,
                                       10 * MIB, 0, 1};

static int sub_produce(void *arg)
{
    return target_produce(arg);
}

static void test_child_puts_then_exits(void)
{
    pc_queue *q;
    CHECK_OK(pc_queue_new(0, &q));
    const size_t n = sizeof ten_mib_sizes / sizeof ten_mib_sizes[0];
    struct produce a = {q, ten_mib_sizes, n, 900};

    /* A library child: joined (bounded) before the parent gets anything. */
    pc_process *p = start(target_produce, &a);
    double t0 = now();
    CHECK_OK(pc_process_join(p, 10.0));
    CHECK(elapsed_since(t0) < 10.0);
    CHECK(finish(p, 0) == 0);
    check_queue_counts(q, n, false); /* exact: every put is in the queue */
    for (size_t i = 0; i < n; i++)
        get_pattern(q, ten_mib_sizes[i], 900 + (unsigned)i, 0);
    check_queue_counts(q, 0, false);

    /* A plain fork()ed child that exit()s (atexit handlers run) likewise. */
    a.seed = 950;
    pid_t pid = fork_sub(sub_produce, &a);
    check_sub_ok(pid, 10.0, "a plain child putting 20 MiB");
    check_queue_counts(q, n, false);
    for (size_t i = 0; i < n; i++)
        get_pattern(q, ten_mib_sizes[i], 950 + (unsigned)i, 0);
    check_queue_counts(q, 0, false);
    pc_queue_free(q);
}

/* ---- close ---- */

struct close_child {
    pc_queue *q;
    bool close_first;
};

/* Checks that the queue is open here (not inherited), puts "from the child", then
 * optionally closes its own side and checks that. */
static int target_after_close(void *arg)
{
    const struct close_child *a = arg;
    if (pc_queue_join_thread(a->q) != PC_ERR_WRONG_STATE)
        return 1;
    if (pc_queue_put(a->q, "from the child", 14, 5.0) != PC_OK)
        return 2;
    if (a->close_first) {
        if (pc_queue_close(a->q) != PC_OK)
            return 3;
        if (pc_queue_put(a->q, "no", 2, 0) != PC_ERR_CLOSED)
            return 4;
        if (pc_queue_join_thread(a->q) != PC_OK)
            return 5;
    }
    return 0;
}

static int sub_after_close(void *arg)
{
    return target_after_close(arg);
}

struct thread_put {
    pc_queue *q;
    int status;
};

static void *thread_put_main(void *arg)
{
    struct thread_put *t = arg;
    t->status = pc_queue_put(t->q, "thread", 6, 0);
    return NULL;
}

static void test_close(void)
{
    pc_queue *q;
    CHECK_OK(pc_queue_new(2, &q));
    put_str(q, "before");
    CHECK_STATUS(pc_queue_join_thread(q), PC_ERR_WRONG_STATE);
    CHECK_ERRMSG("pc_queue_join_thread");
    CHECK_ERRMSG("close");
    CHECK_OK(pc_queue_cancel_join_thread(q));
    CHECK_OK(pc_queue_close(q));
    CHECK_OK(pc_queue_close(q)); /* twice is harmless */
    CHECK_OK(pc_queue_join_thread(q));
    CHECK_OK(pc_queue_cancel_join_thread(q));

    CHECK_STATUS(pc_queue_put(q, "after", 5, 0), PC_ERR_CLOSED);
    CHECK_ERRMSG("pc_queue_put");
    CHECK_ERRMSG("closed");
    CHECK_STATUS(pc_queue_put(q, NULL, 0, PC_FOREVER), PC_ERR_CLOSED);
    check_queue_counts(q, 1, false); /* nothing put */
    /* Per process: another thread of this process is closed too. */
    struct thread_put t = {q, -100};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, thread_put_main, &t) == 0);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK_STATUS(t.status, PC_ERR_CLOSED);

    /* A full closed queue: CLOSED at once, even when asked to wait. */
    pc_queue *full;
    CHECK_OK(pc_queue_new(1, &full));
    put_str(full, "f");
    CHECK_OK(pc_queue_close(full));
    double t0 = now();
    CHECK_STATUS(pc_queue_put(full, "g", 1, PC_FOREVER), PC_ERR_CLOSED);
    CHECK(elapsed_since(t0) < 1.0);
    get_str(full, "f");
    pc_queue_free(full);

    /* Getting still works. */
    get_str(q, "before");
    CHECK_STATUS(pc_queue_get(q, 0.01, &(pc_bytes){NULL, 0}), PC_ERR_EMPTY);

    /* Children forked after the close may put (library child, then a plain fork). */
    struct close_child c = {q, false};
    CHECK(finish(start(target_after_close, &c), 10.0) == 0);
    get_str(q, "from the child");
    c.close_first = true;
    CHECK(finish(start(target_after_close, &c), 10.0) == 0);
    get_str(q, "from the child");
    pid_t pid = fork_sub(sub_after_close, &c);
    check_sub_ok(pid, 10.0, "a plain child of a closed queue's process");
    get_str(q, "from the child");
    check_queue_counts(q, 0, false);
    /* The parent stays closed. */
    CHECK_STATUS(pc_queue_put(q, "x", 1, 0), PC_ERR_CLOSED);
    pc_queue_free(q);

    /* A child closing its side leaves the parent's open. */
    CHECK_OK(pc_queue_new(0, &q));
    c = (struct close_child){q, true};
    CHECK(finish(start(target_after_close, &c), 10.0) == 0);
    CHECK_STATUS(pc_queue_join_thread(q), PC_ERR_WRONG_STATE);
    put_str(q, "parent");
    get_str(q, "from the child");
    get_str(q, "parent");
    pc_queue_free(q);
}

/* ---- JoinableQueue ---- */

struct worker {
    pc_queue *q;
    atomic_int *done; /* shared: tasks done by all */
    atomic_int *mine; /* shared: tasks done by this one */
    double delay;     /* per task */
};

/* Gets tasks until the queue stays empty for 0.5 s; task_done after each. */
static int target_worker(void *arg)
{
    const struct worker *w = arg;
    for (;;) {
        pc_bytes m = {NULL, 0};
        int st = pc_queue_get(w->q, 0.5, &m);
        if (st == PC_ERR_EMPTY)
            return 0;
        if (st != PC_OK)
            return 1;
        int task = -1;
        if (m.len == sizeof task)
            memcpy(&task, m.data, sizeof task);
        pc_bytes_free(&m);
        if (task < 0)
            return 2;
        sleep_s(w->delay);
        atomic_fetch_add(w->done, 1);
        atomic_fetch_add(w->mine, 1);
        if (pc_queue_task_done(w->q) != PC_OK)
            return 3;
    }
}

struct late_task_done {
    pc_queue *q;
    double delay;
    double *at;
};

static int target_late_task_done(void *arg)
{
    const struct late_task_done *a = arg;
    pc_bytes m = {NULL, 0};
    if (pc_queue_get(a->q, 5.0, &m) != PC_OK)
        return 1;
    pc_bytes_free(&m);
    sleep_s(a->delay);
    *a->at = now();
    return pc_queue_task_done(a->q) == PC_OK ? 0 : 2;
}

static void test_joinable(void)
{
    struct shared {
        atomic_int done;
        atomic_int mine[2];
        double at;
    } *sh = shared_new(sizeof *sh);
    pc_queue *q;
    CHECK_OK(pc_joinable_queue_new(0, &q));

    /* Nothing put: join returns at once; task_done is one too many. */
    CHECK_OK(pc_queue_join(q, 0));
    CHECK_OK(pc_queue_join(q, PC_FOREVER));
    CHECK_STATUS(pc_queue_task_done(q), PC_ERR_VALUE);
    CHECK_ERRMSG("pc_queue_task_done");

    enum { N = 40 };
    for (int i = 0; i < N; i++)
        CHECK_OK(pc_queue_put(q, &i, sizeof i, 0));
    double t0 = now();
    CHECK_STATUS(pc_queue_join(q, 0), PC_ERR_TIMEOUT);
    CHECK(elapsed_since(t0) < 0.5); /* at once (generous for a loaded machine) */
    CHECK_ERRMSG("pc_queue_join");
    t0 = now();
    CHECK_STATUS(pc_queue_join(q, 0.2), PC_ERR_TIMEOUT);
    check_waited(t0, 0.2, "pc_queue_join");

    struct worker w[2] = {{q, &sh->done, &sh->mine[0], 0.002},
                          {q, &sh->done, &sh->mine[1], 0.002}};
    pc_process *ps[2] = {start(target_worker, &w[0]), start(target_worker, &w[1])};
    t0 = now();
    CHECK_OK(pc_queue_join(q, 10.0));
    CHECK(elapsed_since(t0) < 10.0);
    CHECK(atomic_load(&sh->done) == N); /* every task_done came after its work */
    check_queue_counts(q, 0, false);
    for (int i = 0; i < 2; i++)
        CHECK(finish(ps[i], 10.0) == 0);
    fprintf(stderr, "   the workers did %d and %d tasks\n", atomic_load(&sh->mine[0]),
            atomic_load(&sh->mine[1]));
    CHECK(atomic_load(&sh->mine[0]) + atomic_load(&sh->mine[1]) == N);
    CHECK_OK(pc_queue_join(q, 0));
    CHECK_STATUS(pc_queue_task_done(q), PC_ERR_VALUE); /* one too many */
    CHECK_ERRMSG("pc_queue_task_done");
    CHECK_OK(pc_queue_join(q, 0)); /* and it changed nothing */

    /* A join blocked in the parent ends with the child's task_done, not earlier. */
    put_str(q, "task");
    struct late_task_done l = {q, 0.3, &sh->at};
    t0 = now();
    pc_process *p = start(target_late_task_done, &l);
    CHECK_OK(pc_queue_join(q, 10.0));
    double joined = now();
    CHECK(finish(p, 10.0) == 0);
    CHECK(joined - t0 >= 0.3 - 0.0005);
    CHECK(joined >= sh->at && joined - sh->at < 2.0);

    /* As in Python, task_done counts against puts, not gets: a message put and marked
     * done may still be in the queue. */
    put_str(q, "undone");
    CHECK_STATUS(pc_queue_join(q, 0), PC_ERR_TIMEOUT);
    CHECK_OK(pc_queue_task_done(q));
    CHECK_OK(pc_queue_join(q, 0));
    check_queue_counts(q, 1, false);
    get_str(q, "undone");
    CHECK_STATUS(pc_queue_task_done(q), PC_ERR_VALUE);

    /* Bounded joinable. */
    pc_queue *b;
    CHECK_OK(pc_joinable_queue_new(2, &b));
    put_str(b, "1");
    put_str(b, "2");
    check_queue_counts(b, 2, true);
    get_str(b, "1");
    CHECK_OK(pc_queue_task_done(b));
    CHECK_STATUS(pc_queue_join(b, 0.05), PC_ERR_TIMEOUT);
    get_str(b, "2");
    CHECK_OK(pc_queue_task_done(b));
    CHECK_OK(pc_queue_join(b, 0));
    pc_queue_free(b);

    /* A plain queue. */
    pc_queue *plain;
    CHECK_OK(pc_queue_new(0, &plain));
    put_str(plain, "p");
    CHECK_STATUS(pc_queue_task_done(plain), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("joinable");
    CHECK_STATUS(pc_queue_join(plain, 1.0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("joinable");
    check_queue_counts(plain, 1, false);
    pc_queue_free(plain);

    pc_queue_free(q);
    shared_free(sh, sizeof *sh);
}

/* ---- pc_interrupt() ---- */

static void test_interrupt(void)
{
    pc_queue *q;
    CHECK_OK(pc_queue_new(0, &q));
    /* A get on an empty queue, without limit and with a timeout. */
    check_interrupted(queue_get_wait, q, PC_FOREVER, "pc_queue_get");
    check_queue_counts(q, 0, false);
    check_interrupted(queue_get_wait, q, 5.0, "pc_queue_get");
    check_interrupted(queue_get_into_wait, q, PC_FOREVER, "pc_queue_get_into");
    check_queue_counts(q, 0, false);
    /* Nothing was taken: a message put now is there for the next get. */
    put_str(q, "after");
    check_queue_counts(q, 1, false);
    get_str(q, "after");

    /* A put on a full bounded queue: nothing put. */
    pc_queue *b;
    CHECK_OK(pc_queue_new(2, &b));
    put_str(b, "b1");
    put_str(b, "b2");
    check_interrupted(queue_put_wait, b, PC_FOREVER, "pc_queue_put");
    check_queue_counts(b, 2, true);
    check_interrupted(queue_put_wait, b, 5.0, "pc_queue_put");
    check_queue_counts(b, 2, true);
    get_str(b, "b1");
    get_str(b, "b2");
    check_queue_counts(b, 0, false);
    pc_queue_free(b);

    /* A join with an unfinished task: nothing marked done. */
    pc_queue *j;
    CHECK_OK(pc_joinable_queue_new(0, &j));
    put_str(j, "task");
    check_interrupted(queue_join_wait, j, PC_FOREVER, "pc_queue_join");
    check_interrupted(queue_join_wait, j, 5.0, "pc_queue_join");
    CHECK_STATUS(pc_queue_join(j, 0), PC_ERR_TIMEOUT);
    check_queue_counts(j, 1, false);
    get_str(j, "task");
    CHECK_OK(pc_queue_task_done(j));
    CHECK_OK(pc_queue_join(j, 0));
    pc_queue_free(j);

    /* A pending interrupt: calls that need not block succeed (or fail at once) and leave
     * it pending; the next one that blocks consumes it at once. */
    pc_interrupt();
    put_str(q, "x");
    CHECK_OK(pc_queue_put(q, "y", 1, PC_FOREVER)); /* an unbounded put never blocks */
    get_str(q, "x");
    pc_bytes m = {NULL, 0};
    CHECK_OK(pc_queue_get(q, PC_FOREVER, &m)); /* a message is there: no block */
    pc_bytes_free(&m);
    CHECK_STATUS(pc_queue_get(q, 0, &m), PC_ERR_EMPTY);
    double t0 = now();
    CHECK_STATUS(pc_queue_get(q, 5.0, &m), PC_ERR_INTERRUPTED);
    CHECK(elapsed_since(t0) < 1.0);
    CHECK_ERRMSG("interrupt");
    t0 = now();
    CHECK_STATUS(pc_queue_get(q, 0.1, &m), PC_ERR_EMPTY); /* consumed */
    check_waited(t0, 0.1, "pc_queue_get");
    check_queue_counts(q, 0, false);
    pc_queue_free(q);
}

/* ---- threads ---- */

#define T_PRODUCERS 4
#define T_CONSUMERS 3
#define T_PER_PRODUCER 3000

struct tmsg {
    uint32_t producer;
    uint32_t seq;
};

static size_t tmsg_size(uint32_t producer, uint32_t seq)
{
    uint32_t x = producer * 7919u + seq * 104729u;
    if (seq % 500 == 7)
        return 300 * KIB + x % 1000; /* spilled */
    if (seq % 50 == 3)
        return 70 * KIB + x % 4096;
    return sizeof(struct tmsg) + x % 2000;
}

struct tshared {
    pc_queue *q;
    atomic_int received[T_PRODUCERS][T_PER_PRODUCER];
    atomic_int errors;
    char first_error[160];
    atomic_int error_claimed;
};

static void terror(struct tshared *t, const char *what, uint32_t p, uint32_t s)
{
    if (atomic_fetch_add(&t->error_claimed, 1) == 0)
        snprintf(t->first_error, sizeof t->first_error, "%s (producer %u, seq %u)", what, p, s);
    atomic_fetch_add(&t->errors, 1);
}

struct tproducer {
    struct tshared *t;
    uint32_t id;
};

static void *tproducer_main(void *arg)
{
    struct tproducer *a = arg;
    uint8_t *buf = malloc(400 * KIB);
    for (uint32_t s = 0; s < T_PER_PRODUCER; s++) {
        size_t len = tmsg_size(a->id, s);
        struct tmsg h = {a->id, s};
        memcpy(buf, &h, sizeof h);
        fill_pattern(buf + sizeof h, len - sizeof h, a->id * 100000u + s);
        int st = pc_queue_put(a->t->q, buf, len, 20.0);
        if (st != PC_OK) {
            terror(a->t, pc_status_str(st), a->id, s);
            break;
        }
    }
    free(buf);
    return NULL;
}

static void *tconsumer_main(void *arg)
{
    struct tshared *t = arg;
    int32_t last[T_PRODUCERS];
    for (int i = 0; i < T_PRODUCERS; i++)
        last[i] = -1;
    for (;;) {
        pc_bytes m = {NULL, 0};
        int st = pc_queue_get(t->q, 20.0, &m);
        if (st != PC_OK) {
            terror(t, pc_status_str(st), 0, 0);
            return NULL;
        }
        if (m.len == 0) /* stop */
            return NULL;
        struct tmsg h = {UINT32_MAX, UINT32_MAX};
        if (m.len >= sizeof h)
            memcpy(&h, m.data, sizeof h);
        if (h.producer >= T_PRODUCERS || h.seq >= T_PER_PRODUCER) {
            terror(t, "a message with a bad header", h.producer, h.seq);
        } else if (m.len != tmsg_size(h.producer, h.seq) ||
                   pattern_mismatch(m.data + sizeof h, m.len - sizeof h,
                                    h.producer * 100000u + h.seq) != m.len - sizeof h) {
            terror(t, "a corrupt message", h.producer, h.seq);
        } else {
            if ((int32_t)h.seq <= last[h.producer])
                terror(t, "out of order for one consumer", h.producer, h.seq);
            last[h.producer] = (int32_t)h.seq;
            atomic_fetch_add(&t->received[h.producer][h.seq], 1);
        }
        pc_bytes_free(&m);
    }
}

static void threads_round(size_t maxsize)
{
    fprintf(stderr, "   maxsize %zu\n", maxsize);
    struct tshared *t = calloc(1, sizeof *t);
    CHECK(t != NULL);
    CHECK_OK(pc_queue_new(maxsize, &t->q));
    pthread_t prod[T_PRODUCERS], cons[T_CONSUMERS];
    struct tproducer pa[T_PRODUCERS];
    for (int i = 0; i < T_CONSUMERS; i++)
        CHECK(pthread_create(&cons[i], NULL, tconsumer_main, t) == 0);
    for (int i = 0; i < T_PRODUCERS; i++) {
        pa[i] = (struct tproducer){t, (uint32_t)i};
        CHECK(pthread_create(&prod[i], NULL, tproducer_main, &pa[i]) == 0);
    }
    for (int i = 0; i < T_PRODUCERS; i++)
        CHECK(pthread_join(prod[i], NULL) == 0);
    for (int i = 0; i < T_CONSUMERS; i++)
        CHECK_OK(pc_queue_put(t->q, NULL, 0, 20.0));
    for (int i = 0; i < T_CONSUMERS; i++)
        CHECK(pthread_join(cons[i], NULL) == 0);
    if (atomic_load(&t->errors) != 0)
        FAIL("%d errors, the first: %s", atomic_load(&t->errors), t->first_error);
    for (int p = 0; p < T_PRODUCERS; p++) {
        for (int s = 0; s < T_PER_PRODUCER; s++) {
            if (atomic_load(&t->received[p][s]) != 1)
                FAIL("producer %d's message %d was received %d times", p, s,
                     atomic_load(&t->received[p][s]));
        }
    }
    tu_checks++;
    check_queue_counts(t->q, 0, false);
    pc_queue_free(t->q);
    free(t);
}

static void test_threads(void)
{
    threads_round(0);
    threads_round(8);
}

/* ---- timeouts on a busy machine ---- */

static void *put_after_a_tenth(void *q)
{
    sleep_s(0.1);
    int v = 7;
    return (void *)(intptr_t)pc_queue_put(q, &v, sizeof v, 5.0);
}

/* A get that gives the CPU away before it sleeps still ends at its deadline when every
 * yield lasts another thread's time slice (fifty of them, a quarter of a second): EMPTY,
 * not the item put 0.1 s later. */
static void test_timeouts_under_load(void)
{
    pc_queue *q = NULL;
    CHECK_OK(pc_queue_new(0, &q));
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    tu_cpu_load_start(cpus > 0 && cpus < 16 ? (int)cpus * 4 : 64);
    pthread_t putter;
    CHECK(pthread_create(&putter, NULL, put_after_a_tenth, q) == 0);
    pc_bytes b = {NULL, 0};
    CHECK_STATUS(pc_queue_get(q, 0.02, &b), PC_ERR_EMPTY);
    tu_cpu_load_stop();
    void *put = NULL;
    CHECK(pthread_join(putter, &put) == 0);
    CHECK_STATUS((int)(intptr_t)put, PC_OK);
    CHECK_OK(pc_queue_get(q, 5.0, &b));
    CHECK(b.len == sizeof(int));
    pc_bytes_free(&b);
    pc_queue_free(q);
}

/* ---- a handle freed while others use the queue ---- */

/* Puts 1 MiB of pattern 60, frees its handle, then makes sure the queue still works for
 * the others by returning. */
static int target_put_and_free(void *arg)
{
    pc_queue *q = arg;
    uint8_t *buf = malloc(MIB);
    if (!buf)
        return 1;
    fill_pattern(buf, MIB, 60);
    int st = pc_queue_put(q, buf, MIB, 5.0);
    free(buf);
    pc_queue_free(q);
    return st == PC_OK ? 0 : 2;
}

static void test_free_while_used(void)
{
    struct shared {
        atomic_int started;
        double at;
    } *sh = shared_new(sizeof *sh);
    pc_queue *q;
    CHECK_OK(pc_queue_new(0, &q));
    /* A child blocked in get; the parent puts and frees its handle at once. */
    struct child_get g = {q, 0, 10.0, "parting gift", &sh->started, &sh->at};
    pc_process *p = start(target_get_one, &g);
    CHECK(wait_flag(&sh->started, 1, 5.0));
    sleep_s(0.1);
    put_str(q, "parting gift");
    double t0 = now();
    pc_queue_free(q); /* never waits */
    CHECK(elapsed_since(t0) < 0.5);
    CHECK(finish(p, 10.0) == 0);

    /* A child frees its copy: the parent's is unaffected. */
    CHECK_OK(pc_queue_new(1, &q));
    p = start(target_put_and_free, q);
    CHECK(finish(p, 10.0) == 0);
    get_pattern(q, MIB, 60, 0);
    put_str(q, "still here");
    check_queue_counts(q, 1, true);
    get_str(q, "still here");
    pc_queue_free(q);
    shared_free(sh, sizeof *sh);
}

/* ---- nothing left behind ---- */

static int target_use_queue(void *arg)
{
    pc_queue *q = arg;
    pc_bytes m = {NULL, 0};
    if (pc_queue_get(q, 5.0, &m) != PC_OK)
        return 1;
    int st = pc_queue_put(q, m.data, m.len, 5.0);
    pc_bytes_free(&m);
    pc_queue *mine;
    if (st != PC_OK || pc_queue_new(0, &mine) != PC_OK)
        return 2;
    st = pc_queue_put(mine, "child's own", 11, 0);
    pc_queue_free(mine); /* with a message left in it */
    pc_queue_free(q);
    return st == PC_OK ? 0 : 3;
}

static int sub_use_queue(void *arg)
{
    return target_use_queue(arg);
}

static void test_nothing_left(void)
{
    pc_queue *warm;
    CHECK_OK(pc_queue_new(0, &warm));
    put_str(warm, "warm");
    get_str(warm, "warm");
    pc_queue_free(warm);
    pc_process *wp = start(NULL, NULL);
    CHECK(finish(wp, 10.0) == 0);

    struct tu_resources before;
    resources_before(&before);
    int fds = count_open_fds();

    /* Many, one after the other, used and freed (some with messages left in them). */
    for (int i = 0; i < 1000; i++) {
        pc_queue *q;
        int st = (i & 1) ? pc_joinable_queue_new((size_t)(i % 5), &q) : pc_queue_new(0, &q);
        if (st != PC_OK)
            FAIL("queue %d: %s", i, pc_status_str(st));
        CHECK_OK(pc_queue_put(q, &i, sizeof i, 0));
        if (i % 3 != 0) {
            int v = -1;
            size_t n = 0;
            CHECK_OK(pc_queue_get_into(q, &v, sizeof v, &n, 0));
            CHECK(v == i);
        }
        if (i % 100 == 0)
            put_pattern(q, 300 * KIB, (unsigned)i, 0); /* spilled */
        pc_queue_free(q);
    }
    /* Many alive at once. */
    enum { ALIVE = 64 };
    pc_queue *qs[ALIVE];
    for (int i = 0; i < ALIVE; i++) {
        CHECK_OK(pc_queue_new(0, &qs[i]));
        put_pattern(qs[i], (i % 4 == 0) ? 300 * KIB : 100, (unsigned)i, 0);
    }
    for (int i = 0; i < ALIVE; i++)
        pc_queue_free(qs[i]);
    /* Used by children (library and plain), which free their copies and exit. */
    pc_queue *q;
    CHECK_OK(pc_queue_new(0, &q));
    for (int i = 0; i < 5; i++) {
        put_str(q, "round trip");
        CHECK(finish(start(target_use_queue, q), 10.0) == 0);
        get_str(q, "round trip");
    }
    put_str(q, "round trip");
    check_sub_ok(fork_sub(sub_use_queue, q), 10.0, "a plain child using a queue");
    get_str(q, "round trip");
    pc_queue_free(q);

    if (count_open_fds() != fds)
        FAIL("%d fds open after the queues, %d before", count_open_fds(), fds);
    check_resources_after(&before, 1000 + ALIVE + 1, "queues");
    CHECK(wait_no_children(2.0));
}

/* ---- put_many / get_many ---- */

enum { MANY = 600 };

/* Message i of the batch tests: a pattern whose size varies (never 0, so two producers'
 * messages never look alike), every 50th spilled. */
static size_t many_size(int i)
{
    return (i % 50 == 49) ? 300 * KIB : (size_t)(i * 7 % 200) + 1;
}

/* Gets `n` messages with pc_queue_get_many (at most `max` a call) and checks them in
 * order against many_size/pattern(i + first). No CHECK: child targets use it. */
static int get_many_checked(pc_queue *q, int first, int n, size_t max, double timeout)
{
    pc_bytes *out = calloc(max, sizeof *out);
    if (!out)
        return 10;
    int seen = 0, bad = 0;
    while (seen < n && !bad) {
        size_t got = 0;
        if (pc_queue_get_many(q, timeout, out, max, &got) != PC_OK || got == 0 || got > max)
            bad = 11;
        for (size_t k = 0; k < got; k++, seen++) {
            int i = first + seen;
            if (!bad && (seen >= n || !is_pattern(&out[k], many_size(i), (unsigned)i)))
                bad = 12;
            pc_bytes_free(&out[k]);
        }
    }
    free(out);
    return bad;
}

/* Puts messages first..first+n-1 with one pc_queue_put_many; returns the status. */
static pc_status put_many_patterns(pc_queue *q, int first, int n, double timeout, size_t *put)
{
    pc_slice *m = calloc((size_t)n, sizeof *m);
    uint8_t **bufs = calloc((size_t)n, sizeof *bufs);
    if (!m || !bufs)
        return PC_ERR_NO_MEMORY;
    for (int k = 0; k < n; k++) {
        size_t len = many_size(first + k);
        bufs[k] = malloc(len ? len : 1);
        fill_pattern(bufs[k], len, (unsigned)(first + k));
        m[k] = (pc_slice){bufs[k], len};
    }
    pc_status st = pc_queue_put_many(q, m, (size_t)n, timeout, put);
    for (int k = 0; k < n; k++)
        free(bufs[k]);
    free(bufs);
    free(m);
    return st;
}

struct many_child {
    pc_queue *q;
    int first, n;
    size_t max;
};

static int target_get_many(void *arg)
{
    const struct many_child *a = arg;
    return get_many_checked(a->q, a->first, a->n, a->max, 10.0);
}

static int target_put_many(void *arg)
{
    const struct many_child *a = arg;
    size_t put = 0;
    pc_status st = put_many_patterns(a->q, a->first, a->n, 10.0, &put);
    return st == PC_OK && put == (size_t)a->n ? 0 : 1;
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

static void test_many(void)
{
    /* In one process: batches in, batches out, in order, mixed with single calls. */
    pc_queue *q;
    CHECK_OK(pc_queue_new(0, &q));
    size_t put = 0;
    CHECK_OK(put_many_patterns(q, 0, MANY / 2, 0, &put));
    CHECK(put == MANY / 2);
    put_pattern(q, many_size(MANY / 2), MANY / 2, 0);
    CHECK_OK(put_many_patterns(q, MANY / 2 + 1, MANY / 2 - 1, 0, &put));
    CHECK(put == MANY / 2 - 1);
    check_queue_counts(q, MANY, false);
    get_pattern(q, many_size(0), 0, 0);
    CHECK(get_many_checked(q, 1, MANY - 1, 64, 0) == 0);
    check_queue_counts(q, 0, false);

    /* Across processes: a child's batches, got in batches of every size. */
    for (size_t max = 1; max <= 1024; max *= 4) {
        struct many_child c = {q, 0, MANY, 0};
        pc_process *p = start(target_put_many, &c);
        CHECK(get_many_checked(q, 0, MANY, max, 10.0) == 0);
        CHECK(finish(p, 10.0) == 0);
    }
    check_queue_counts(q, 0, false);
    pc_queue_free(q);

    /* Bounded: a batch fills the room it has, then waits for the consumer. */
    CHECK_OK(pc_queue_new(3, &q));
    CHECK_STATUS(put_many_patterns(q, 0, 5, 0, &put), PC_ERR_FULL);
    CHECK_ERRMSG("full");
    CHECK(put == 3);
    check_queue_counts(q, 3, true);
    CHECK(get_many_checked(q, 0, 3, 8, 0) == 0);
    struct many_child c = {q, 0, MANY, 2};
    pc_process *p = start(target_get_many, &c);
    CHECK_OK(put_many_patterns(q, 0, MANY, 10.0, &put));
    CHECK(put == MANY);
    CHECK(finish(p, 10.0) == 0);
    check_queue_counts(q, 0, false);
    pc_queue_free(q);

    /* Two producers' batches and two consumers: each producer's messages in order. */
    CHECK_OK(pc_queue_new(0, &q));
    struct many_child a = {q, 0, MANY, 0}, b = {q, MANY, MANY, 0};
    pc_process *pa = start(target_put_many, &a), *pb = start(target_put_many, &b);
    CHECK(finish(pa, 10.0) == 0);
    CHECK(finish(pb, 10.0) == 0);
    pc_bytes out[16];
    int next[2] = {0, MANY};
    for (int total = 0; total < 2 * MANY;) {
        size_t got = 0;
        CHECK_OK(pc_queue_get_many(q, 0, out, 16, &got));
        for (size_t k = 0; k < got; k++, total++) {
            /* Which producer: the message is that producer's next one. */
            int which =
                next[0] < MANY && is_pattern(&out[k], many_size(next[0]), (unsigned)next[0]) ? 0 : 1;
            tu_checks++;
            if (!is_pattern(&out[k], many_size(next[which]), (unsigned)next[which]))
                FAIL("message %d is neither producer's next (%d, %d)", total, next[0], next[1]);
            next[which]++;
            pc_bytes_free(&out[k]);
        }
    }
    CHECK(next[0] == MANY && next[1] == 2 * MANY);
    pc_queue_free(q);
}

int main(int argc, char **argv)
{
    tu_select(argc, argv);
    tu_init("test_queue", 100);
    RUN(test_bad_arguments);
    RUN(test_wrong_handles);
    RUN(test_freed_handle);
    RUN(test_too_large);
    RUN(test_fifo_and_timeouts);
    RUN(test_maxsize);
    RUN(test_unbounded_never_blocks);
    RUN(test_get_into);
    RUN(test_items);
    RUN(test_sizes);
    RUN(test_sizes_across_processes);
    RUN(test_child_puts_then_exits);
    RUN(test_close);
    RUN(test_joinable);
    RUN(test_interrupt);
    RUN(test_threads);
    RUN(test_timeouts_under_load);
    RUN(test_many_bad_arguments);
    RUN(test_many);
    RUN(test_free_while_used);
    RUN(test_nothing_left);
    return tu_done();
}
