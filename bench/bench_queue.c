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
 *
 * Only the transfer is timed: every child is started (pc_process_*, daemonic, its own
 * alarm) and signals a semaphore; the parent waits for all of them, starts the clock and
 * sets the "go" event they wait for. Every message is checked: its length and stamps,
 * and its order (1 → 1: exactly 0..N-1; 2 → 2: in order per producer, and the consumers'
 * counts and sums of sequence numbers add up to every message exactly once).
 */
#include "bench_lib.h"
#include "bench_queue_messages.h"

/* The run under way, set up by the parent before it starts the children. */
static struct {
    pc_queue *q;
    size_t size;            /* bytes per message */
    long per_producer;      /* messages each producer puts (numbered from 0) */
    bool stop;              /* each producer ends with a stop message (2 → 2) */
    bool into;              /* take with pc_queue_get_into (else pc_queue_get) */
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

/* A producer child: puts its messages (and a stop message in 2 → 2). */
static int producer(void *arg)
{
    int64_t me = (intptr_t)arg;
    uint8_t small[QUEUE_SMALL];
    uint8_t *buf = message_buffer(small);
    queue_msg_init(buf, qb.size);
    child_start();
    for (long i = 0; i < qb.per_producer; i++) {
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

/* Messages per second. */
static double one_to_one(long iters, size_t size, bool into)
{
    setup(size, iters, false, into);
    uint8_t small[QUEUE_SMALL];
    uint8_t *buf = message_buffer(small);
    memset(buf, 0, size); /* touched once, as a reused buffer is */
    pc_process *p = start_child(producer, 0);
    uint64_t t0 = start_clock(1);
    for (long i = 0; i < iters; i++) {
        int64_t from = -1, seq = -1;
        take(buf, &from, &seq);
        BENCH_CHECK(from == 0 && seq == i, "message %ld: got %lld of producer %lld", i,
                    (long long)seq, (long long)from);
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
    return one_to_one(iters, QUEUE_SMALL, true);
}

static double queue_1to1_64b_get(long iters)
{
    return one_to_one(iters, QUEUE_SMALL, false);
}

static double queue_1to1_64k(long iters)
{
    return one_to_one(iters, QUEUE_LARGE, true) * QUEUE_LARGE;
}

static double queue_1to1_64k_get(long iters)
{
    return one_to_one(iters, QUEUE_LARGE, false) * QUEUE_LARGE;
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
    {"queue_2to2_64b", BENCH_OPS_PER_S, queue_2to2_64b, 2000000},
    {"queue_1to1_64k", BENCH_OPS_PER_S, queue_1to1_64k, 20000},
    {"queue_1to1_64k_get", BENCH_OPS_PER_S, queue_1to1_64k_get, 20000},
};

int main(int argc, char **argv)
{
    return BENCH_MAIN(argc, argv, modes);
}
