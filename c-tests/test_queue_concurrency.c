/*
 * test_queue_concurrency.c: queues between processes and threads (include/processing.h:
 * pc_queue_*): sizes through a child; a child that puts 10 MiB and exits without anyone
 * draining; pc_interrupt() on blocked get, put and join; several threads at once;
 * timeouts under CPU load; many messages at once across processes.
 *
 * The rest of the contract is in the other test_queue_*.c; killed producers and
 * consumers, and many processes at once, are in test_queue_faults_*.c.
 *
 * `test_queue_concurrency NAME…` runs only the named subtests.
 *
 * ctest-timeout: 40
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

/* No CHECK: child targets use it. True when `m` is `len` bytes of fill_pattern(seed). */
static bool is_pattern(const pc_bytes *m, size_t len, unsigned seed)
{
    return m->len == len && (len == 0 || m->data != NULL) &&
           pattern_mismatch(m->data, len, seed) == len;
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
    tu_init("test_queue_concurrency", 35);
    RUN(test_sizes_across_processes);
    RUN(test_child_puts_then_exits);
    RUN(test_interrupt);
    RUN(test_threads);
    RUN(test_timeouts_under_load);
    RUN(test_many);
    return tu_done();
}
