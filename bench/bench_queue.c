/*
 * bench_queue.c: libprocessing's Queue workloads (see bench/run.py for the table). The
 * floors are in raw_queue.c (and the Boost peer built from it), the Python peers in
 * peers.py; the messages and their checks in bench_queue_messages.h.
 *
 * queue_1to1_64b      a child puts N messages of 64 B into an unbounded pc_queue; the
 *                     parent takes them with pc_queue_get_into into a buffer on its stack.
 *                     Messages per second, from "go" to the last message taken.
 * queue_1to1_64b_get  the same, taken with pc_queue_get + pc_bytes_free (a fresh buffer
 *                     per message, as Python's get; not a row of the table: it shows what
 *                     that allocation costs).
 * queue_2to2_64b      two children each put N/2 messages of 64 B, then one stop message;
 *                     two children each take (get_into) until they get a stop message.
 *                     Messages per second, from "go" until both consumers stopped.
 * queue_1to1_64k      as queue_1to1_64b with 64 KiB messages, taken into one reused
 *                     buffer. Bytes per second.
 * queue_1to1_64k_get  the same with pc_queue_get + pc_bytes_free (not a row).
 * queue_1to1_64b_spread  as queue_1to1_64b with the producer and the consumer pinned to
 *                     CPUs of their own: every message crosses between two CPUs' caches.
 * queue_1to1_64b_batch   as queue_1to1_64b, put with pc_queue_put_many and taken with
 *                     pc_queue_get_many, QUEUE_BATCH messages a call (fresh pc_bytes,
 *                     freed after their check).
 *
 * Only the transfer is timed: every child is started (pc_process_*, daemonic, its own
 * alarm) and signals a semaphore; the parent waits for all of them, starts the clock and
 * sets the "go" event they wait for. Every message is checked: its length and stamps,
 * and its order (1 → 1: exactly 0..N-1; 2 → 2: in order per producer, and the consumers'
 * counts and sums of sequence numbers add up to every message exactly once).
 */
#define _GNU_SOURCE /* bench_pin_cpu */
#include "bench_lib.h"
#include "bench_queue_messages.h"

/* Messages a pc_queue_put_many or pc_queue_get_many call carries in the batch row. */
#define QUEUE_BATCH 64

/* The run under way, set up by the parent before it starts the children. */
static struct {
    pc_queue *q;
    size_t size;            /* bytes per message */
    long per_producer;      /* messages each producer puts (numbered from 0) */
    bool stop;              /* each producer ends with a stop message (2 → 2) */
    bool into;              /* take with pc_queue_get_into (else pc_queue_get) */
    bool spread;            /* 1 → 1: producer and consumer on CPUs of their own */
    bool batch;             /* 1 → 1: put_many and get_many, QUEUE_BATCH at a time */
    pc_semaphore *ready;    /* released once by every child before it waits for go */
    pc_event *go;           /* set when all are ready: the clock runs */
    pc_array *reports;      /* 2 → 2: the consumer children's queue_result, shared */
    queue_result *results;  /* [QUEUE_PAIRS], in `reports` */
} qb;

/* Which side's check fails: a child must _exit, the parent may exit. */
static bool in_child;

#define CHECK(cond, ...)                          \
    do {                                          \
        if (in_child)                             \
            BENCH_CHILD_CHECK(cond, __VA_ARGS__); \
        else                                      \
            BENCH_CHECK(cond, __VA_ARGS__);       \
    } while (0)

/* A pc_status check for the hot loops, in parent or child. */
#define CHECK_OK(st, what)                                                              \
    do {                                                                                \
        pc_status s_ = (st);                                                            \
        if (__builtin_expect(s_ != PC_OK, 0))                                           \
            CHECK(0, "%s: %s: %s", what, pc_status_str(s_), pc_last_error());           \
    } while (0)

/* Makes the queue and the start line of a run. */
static void setup(size_t size, long per_producer, bool stop, bool into)
{
    qb.size = size;
    qb.per_producer = per_producer;
    qb.stop = stop;
    qb.into = into;
    qb.spread = qb.batch = false;
    PC_CHECK(pc_queue_new(0, &qb.q));
    PC_CHECK(pc_semaphore_new(0, &qb.ready));
    PC_CHECK(pc_event_new(&qb.go));
    qb.reports = NULL;
    qb.results = NULL;
    if (stop) {
        PC_CHECK(pc_raw_array_new('q', 3 * QUEUE_PAIRS, NULL, &qb.reports));
        qb.results = pc_array_ptr(qb.reports);
        BENCH_CHECK(qb.results != NULL, "no shared memory: %s", pc_last_error());
    }
}

static void teardown(void)
{
    pc_array_free(qb.reports);
    pc_event_free(qb.go);
    pc_semaphore_free(qb.ready);
    pc_queue_free(qb.q);
}

/* Starts a daemonic child running target(arg). */
static pc_process *start_child(pc_target_fn target, long arg)
{
    pc_process *p = NULL;
    PC_CHECK(pc_process_new(target, (void *)(intptr_t)arg, &p));
    PC_CHECK(pc_process_set_daemon(p, true));
    PC_CHECK(pc_process_start(p));
    return p;
}

/* Joins a child and checks that it exited with 0; frees it. */
static void join_child(pc_process *p)
{
    int code = -1;
    PC_CHECK(pc_process_join(p, PC_FOREVER));
    PC_CHECK(pc_process_exitcode(p, &code));
    BENCH_CHECK(code == 0, "child exited with %d", code);
    pc_process_free(p);
}

/* In a child, first: its alarm, then ready, then wait for go. */
static void child_start(void)
{
    bench_child_setup();
    in_child = true;
    PC_CHILD_CHECK(pc_semaphore_release(qb.ready));
    PC_CHILD_CHECK(pc_event_wait(qb.go, PC_FOREVER));
}

/* In the parent: waits until `children` are ready, starts the clock, says go. */
static uint64_t start_clock(int children)
{
    for (int i = 0; i < children; i++)
        PC_CHECK(pc_semaphore_acquire(qb.ready, PC_FOREVER));
    uint64_t t0 = bench_now_ns();
    PC_CHECK(pc_event_set(qb.go));
    return t0;
}

/* Takes the next message (into `buf`, room for qb.size bytes, or as a fresh pc_bytes)
 * and reads its stamps. */
static void take(uint8_t *buf, int64_t *producer, int64_t *seq)
{
    bool ok;
    if (qb.into) {
        size_t len = 0;
        CHECK_OK(pc_queue_get_into(qb.q, buf, qb.size, &len, PC_FOREVER), "get_into");
        ok = queue_msg_parse(buf, len, qb.size, producer, seq);
    } else {
        pc_bytes m = {0};
        CHECK_OK(pc_queue_get(qb.q, PC_FOREVER, &m), "get");
        ok = queue_msg_parse(m.data, m.len, qb.size, producer, seq);
        pc_bytes_free(&m);
    }
    CHECK(ok, "a malformed message (after %lld of producer %lld)", (long long)*seq,
          (long long)*producer);
}

/* A buffer for one message: on the stack for 64 B (`small`), else on the heap. */
static uint8_t *message_buffer(uint8_t *small)
{
    if (qb.size <= QUEUE_SMALL)
        return small;
    uint8_t *buf = malloc(qb.size);
    CHECK(buf != NULL, "out of memory");
    return buf;
}

static void free_message_buffer(uint8_t *buf, uint8_t *small)
{
    if (buf != small)
        free(buf);
}

/* Pins this process to its CPU in the spread row (consumer 0, producer 1). */
static void pin_if_spread(int k)
{
    if (qb.spread) {
        int failed = bench_pin_cpu(k);
        CHECK(failed == 0, "pinning to CPU #%d: %s", k, strerror(failed));
    }
}

/* Puts messages first.. of producer `me` with pc_queue_put_many, QUEUE_BATCH a call. */
static void put_batches(int64_t me)
{
    static uint8_t bufs[QUEUE_BATCH][QUEUE_SMALL];
    pc_slice slices[QUEUE_BATCH];
    for (int k = 0; k < QUEUE_BATCH; k++) {
        queue_msg_init(bufs[k], qb.size);
        slices[k] = (pc_slice){bufs[k], qb.size};
    }
    for (long i = 0; i < qb.per_producer; i += QUEUE_BATCH) {
        long n = qb.per_producer - i < QUEUE_BATCH ? qb.per_producer - i : QUEUE_BATCH;
        for (long k = 0; k < n; k++)
            queue_msg_stamp(bufs[k], qb.size, me, i + k);
        size_t put = 0;
        CHECK_OK(pc_queue_put_many(qb.q, slices, (size_t)n, PC_FOREVER, &put), "put_many");
        CHECK(put == (size_t)n, "put_many put %zu of %ld", put, n);
    }
}

/* A producer child: puts its messages (and a stop message in 2 → 2). */
static int producer(void *arg)
{
    int64_t me = (intptr_t)arg;
    uint8_t small[QUEUE_SMALL];
    uint8_t *buf = message_buffer(small);
    queue_msg_init(buf, qb.size);
    pin_if_spread(1);
    child_start();
    if (qb.batch)
        put_batches(me);
    for (long i = 0; i < qb.per_producer && !qb.batch; i++) {
        queue_msg_stamp(buf, qb.size, me, i);
        CHECK_OK(pc_queue_put(qb.q, buf, qb.size, PC_FOREVER), "put");
    }
    if (qb.stop) {
        queue_msg_stamp(buf, qb.size, me, QUEUE_STOP);
        CHECK_OK(pc_queue_put(qb.q, buf, qb.size, PC_FOREVER), "put");
    }
    free_message_buffer(buf, small);
    return 0;
}

/* ---- 1 → 1: a producer child, the parent takes ------------------------------------- */

/* Takes the messages numbered from `i` with pc_queue_get_many; returns how many. */
static long take_batch(long i)
{
    pc_bytes out[QUEUE_BATCH];
    size_t got = 0;
    CHECK_OK(pc_queue_get_many(qb.q, PC_FOREVER, out, QUEUE_BATCH, &got), "get_many");
    for (size_t k = 0; k < got; k++) {
        int64_t from = -1, seq = -1;
        bool ok = queue_msg_parse(out[k].data, out[k].len, qb.size, &from, &seq);
        BENCH_CHECK(ok && from == 0 && seq == i + (long)k,
                    "message %ld: got %lld of producer %lld", i + (long)k, (long long)seq,
                    (long long)from);
        pc_bytes_free(&out[k]);
    }
    return (long)got;
}

/* Messages per second. */
static double one_to_one(long iters, size_t size, bool into, bool spread, bool batch)
{
    setup(size, iters, false, into);
    qb.spread = spread;
    qb.batch = batch;
    uint8_t small[QUEUE_SMALL];
    uint8_t *buf = message_buffer(small);
    memset(buf, 0, size); /* touched once, as a reused buffer is */
    pc_process *p = start_child(producer, 0);
    pin_if_spread(0);
    uint64_t t0 = start_clock(1);
    for (long i = 0; i < iters;) {
        if (batch) {
            i += take_batch(i);
            continue;
        }
        int64_t from = -1, seq = -1;
        take(buf, &from, &seq);
        BENCH_CHECK(from == 0 && seq == i, "message %ld: got %lld of producer %lld", i,
                    (long long)seq, (long long)from);
        i++;
    }
    double s = (double)(bench_now_ns() - t0) * 1e-9;
    join_child(p);
    BENCH_CHECK(pc_queue_empty(qb.q), "messages left in the queue");
    free_message_buffer(buf, small);
    teardown();
    return (double)iters / s;
}

static double queue_1to1_64b(long iters)
{
    return one_to_one(iters, QUEUE_SMALL, true, false, false);
}

static double queue_1to1_64b_get(long iters)
{
    return one_to_one(iters, QUEUE_SMALL, false, false, false);
}

static double queue_1to1_64b_spread(long iters)
{
    return one_to_one(iters, QUEUE_SMALL, true, true, false);
}

static double queue_1to1_64b_batch(long iters)
{
    return one_to_one(iters, QUEUE_SMALL, false, false, true);
}

static double queue_1to1_64k(long iters)
{
    return one_to_one(iters, QUEUE_LARGE, true, false, false) * QUEUE_LARGE;
}

static double queue_1to1_64k_get(long iters)
{
    return one_to_one(iters, QUEUE_LARGE, false, false, false) * QUEUE_LARGE;
}

/* ---- 2 → 2: two producer children, two consumer children --------------------------- */

/* A consumer child: takes until a stop message, then reports its tally. */
static int consumer(void *arg)
{
    long me = (long)(intptr_t)arg;
    uint8_t buf[QUEUE_SMALL];
    queue_tally t;
    queue_tally_init(&t);
    child_start();
    for (;;) {
        int64_t from = -1, seq = -1;
        take(buf, &from, &seq);
        if (seq == QUEUE_STOP)
            break;
        CHECK(queue_tally_add(&t, from, seq), "consumer %ld: %lld of producer %lld out of order",
              me, (long long)seq, (long long)from);
    }
    qb.results[me] = (queue_result){t.count, t.sum, (int64_t)bench_now_ns()};
    return 0;
}

static double queue_2to2_64b(long iters)
{
    long per = (iters + 1) / 2;
    setup(QUEUE_SMALL, per, true, true);
    pc_process *w[2 * QUEUE_PAIRS];
    for (long i = 0; i < QUEUE_PAIRS; i++) {
        w[i] = start_child(consumer, i);
        w[QUEUE_PAIRS + i] = start_child(producer, i);
    }
    uint64_t t0 = start_clock(2 * QUEUE_PAIRS);
    for (int i = 0; i < 2 * QUEUE_PAIRS; i++)
        join_child(w[i]);
    int64_t end = queue_results_check(qb.results, per);
    BENCH_CHECK(end > (int64_t)t0, "consumers took %lld + %lld messages (sums %lld, %lld)",
                (long long)qb.results[0].count, (long long)qb.results[1].count,
                (long long)qb.results[0].sum, (long long)qb.results[1].sum);
    BENCH_CHECK(pc_queue_empty(qb.q), "messages left in the queue");
    teardown();
    return (double)(QUEUE_PAIRS * per) / ((double)(end - (int64_t)t0) * 1e-9);
}

static const bench_mode modes[] = {
    {"queue_1to1_64b", BENCH_OPS_PER_S, queue_1to1_64b, 3000000},
    {"queue_1to1_64b_get", BENCH_OPS_PER_S, queue_1to1_64b_get, 3000000},
    {"queue_1to1_64b_spread", BENCH_OPS_PER_S, queue_1to1_64b_spread, 3000000},
    {"queue_1to1_64b_batch", BENCH_OPS_PER_S, queue_1to1_64b_batch, 3000000},
    {"queue_2to2_64b", BENCH_OPS_PER_S, queue_2to2_64b, 2000000},
    {"queue_1to1_64k", BENCH_OPS_PER_S, queue_1to1_64k, 20000},
    {"queue_1to1_64k_get", BENCH_OPS_PER_S, queue_1to1_64k_get, 20000},
};

int main(int argc, char **argv)
{
    return BENCH_MAIN(argc, argv, modes);
}
