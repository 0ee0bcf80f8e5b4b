/*
 * test_queue_api.c: the queue contract (include/processing.h: pc_queue_put,
 * pc_queue_get, pc_queue_get_into, pc_queue_put_item, pc_queue_get_item, …): FIFO order
 * and timeouts (never early); the maxsize contract (full, blocked puts woken by a get in
 * another process) and an unbounded queue that never blocks; get_into (exact fit, too
 * short keeps the message, empty buffer); items on a local queue (BYTES items are
 * messages, other kinds PC_ERR_TYPE); 0-byte, 16 MiB and ring-boundary sizes.
 *
 * The rest of the contract is in the other test_queue_*.c; killed producers and
 * consumers, and many processes at once, are in test_queue_faults_*.c.
 *
 * `test_queue_api NAME…` runs only the named subtests.
 *
 * ctest-timeout: 30
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

int main(int argc, char **argv)
{
    tu_select(argc, argv);
    tu_init("test_queue_api", 25);
    RUN(test_fifo_and_timeouts);
    RUN(test_maxsize);
    RUN(test_unbounded_never_blocks);
    RUN(test_get_into);
    RUN(test_items);
    RUN(test_sizes);
    return tu_done();
}
