/*
 * raw_queue.c: the floors of the Queue workloads (bench_queue.c), in plain libc, futex
 * and POSIX calls, children made by fork. Every floor is a "channel" (below) driven by
 * the same code as the library's workloads: the same messages (bench_queue_messages.h),
 * the same checks, the same start line (children ready, then the clock starts and they
 * are told to go, through two futex words in shared memory).
 *
 * queue_1to1_64b       a shared-memory ring (MAP_SHARED | MAP_ANONYMOUS, 1 MiB) of
 *                      variable-length records for one producer and one consumer, the
 *                      library's record format ([u64 length][payload padded to 8]), with
 *                      a cursor on each side's cache line; a side that finds the ring
 *                      empty (full) spins a little, then sleeps on a futex word, flagged
 *                      so that only the other side's first change after that makes a
 *                      system call. A child puts N messages of 64 B; the parent takes
 *                      them. Messages per second.
 * queue_1to1_64b_mq    the same through a POSIX message queue (mq_open with a unique name,
 *                      unlinked at once; msgsize 64, maxmsg the system's msg_max).
 * queue_1to1_64b_boost the same through a Boost.Interprocess message_queue of 256
 *                      messages of 64 B (boost_queue.cpp): built only into the program
 *                      boost_queue (raw_queue.c compiled with PC_BENCH_BOOST), so that this
 *                      one stays libc-only.
 * queue_2to2_64b       one pipe: two children each write N/2 messages of 64 B (one write
 *                      each, atomic below PIPE_BUF), then a stop message; two children
 *                      each read exactly 64 B at a time until they read a stop message.
 * queue_1to1_64k       an AF_UNIX SOCK_STREAM socketpair: a child writes N messages of
 *                      64 KiB, the parent reads each whole into one reused buffer. Bytes
 *                      per second.
 * queue_1to1_64k_ring  the same through the shared-memory ring (not a floor of the
 *                      table: what shared memory could do for large messages).
 * queue_1to1_64b_spread, queue_1to1_64b_boost_spread
 *                      queue_1to1_64b and its Boost peer with the producer and the
 *                      consumer pinned to CPUs of their own.
 */
#define _GNU_SOURCE /* bench_pin_cpu */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <mqueue.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_queue_messages.h"

/* Which side's check fails: a child must _exit, the parent may exit. */
static int in_child;

#define CHECK(cond, ...)                          \
    do {                                          \
        if (in_child)                             \
            BENCH_CHILD_CHECK(cond, __VA_ARGS__); \
        else                                      \
            BENCH_CHECK(cond, __VA_ARGS__);       \
    } while (0)

/* Zeroed shared memory for `size` bytes, inherited by children forked afterwards. */
static void *shared_alloc(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    BENCH_CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
    return p;
}

/* Non-private futex operations: the words are shared between processes. */
static void futex_wait(atomic_uint *word, unsigned expected)
{
    syscall(SYS_futex, (unsigned *)word, FUTEX_WAIT, expected, NULL, NULL, 0);
}

static void futex_wake(atomic_uint *word)
{
    syscall(SYS_futex, (unsigned *)word, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
}

/* ---- channels ---------------------------------------------------------------------- */

/* What each process does with the channel after the forks. */
enum role { PRODUCER, CONSUMER, BYSTANDER /* the parent of a 2 → 2 run */ };

typedef struct {
    void (*open)(size_t size);   /* in the parent, before the forks: messages of `size` */
    void (*role)(enum role r);   /* in every process after the forks (may be NULL) */
    void (*send)(const uint8_t *msg, size_t len);
    size_t (*recv)(uint8_t *buf, size_t cap); /* one message into buf; its length */
    void (*close)(void);         /* in the parent, after the children exited */
} channel;

/* -- a shared-memory ring of records, one producer, one consumer (the library's format) -- */

#define RING_BYTES (1u << 20)
#define RING_PAD UINT64_MAX  /* header of the unused end of the ring: go back to 0 */
#define RING_SPINS 2000      /* checks before sleeping: a partner that keeps up costs no call */

/* The futex words: a count of changes (bumped by 2) whose low bit says that the other
 * side sleeps on it. Only the first change after the other side went to sleep makes a
 * system call; the next ones see the bit cleared (so a producer that runs on while its
 * consumer has not been scheduled yet pays nothing per message). */
#define RING_SLEEPING 1u

struct ring {
    _Alignas(128) atomic_uint_least64_t tail; /* bytes ever published (producer) */
    atomic_uint put_seq;                       /* futex of a consumer waiting for a put */
    _Alignas(128) atomic_uint_least64_t head; /* bytes ever consumed (consumer) */
    atomic_uint got_seq;                       /* futex of a producer waiting for room */
    _Alignas(128) uint8_t data[RING_BYTES];
};

static struct ring *ring;
static uint64_t ring_head_seen, ring_tail_seen; /* each side's copy of the other's cursor */

static void ring_open(size_t size)
{
    (void)size;
    ring = shared_alloc(sizeof *ring);
    ring_head_seen = ring_tail_seen = 0;
}

static void ring_close(void)
{
    munmap(ring, sizeof *ring);
}

/* Waits until ready(): RING_SPINS checks, then sleeps on `seq` with its sleeping bit set
 * (the compare-and-swap orders the bit before the next check of ready()). */
static void ring_wait(int (*ready)(void), atomic_uint *seq)
{
    for (int i = 0; i < RING_SPINS; i++) {
        if (ready())
            return;
        __builtin_ia32_pause();
    }
    for (;;) {
        unsigned v = atomic_load(seq);
        if (!(v & RING_SLEEPING) && !atomic_compare_exchange_strong(seq, &v, v | RING_SLEEPING))
            continue;
        v |= RING_SLEEPING;
        if (ready()) {
            /* Not sleeping after all: clear the bit, unless a wake did already. */
            atomic_compare_exchange_strong(seq, &v, v & ~RING_SLEEPING);
            return;
        }
        futex_wait(seq, v);
    }
}

/* After a change (a seq_cst store): wakes the other side if it sleeps, clearing the bit. */
static void ring_wake(atomic_uint *seq)
{
    unsigned v = atomic_load(seq);
    if (v & RING_SLEEPING) {
        /* The only waker of this word: a store will do. A waiter that set the bit again
         * meanwhile sees the new value or is woken by the wake below. */
        atomic_store(seq, (v & ~RING_SLEEPING) + 2);
        futex_wake(seq);
    }
}

static uint64_t ring_record(size_t len)
{
    return 8 + ((len + 7) & ~(size_t)7);
}

static size_t ring_want; /* room the producer waits for */

static int ring_has_room(void)
{
    ring_head_seen = atomic_load(&ring->head); /* seq_cst: after the sleeping bit */
    return atomic_load_explicit(&ring->tail, memory_order_relaxed) - ring_head_seen +
               ring_want <= RING_BYTES;
}

static int ring_has_message(void)
{
    ring_tail_seen = atomic_load(&ring->tail); /* seq_cst: after the sleeping bit */
    return ring_tail_seen != atomic_load_explicit(&ring->head, memory_order_relaxed);
}

static void ring_send(const uint8_t *msg, size_t len)
{
    uint64_t tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);
    uint64_t size = ring_record(len), offset = tail % RING_BYTES;
    uint64_t pad = offset + size > RING_BYTES ? RING_BYTES - offset : 0;
    ring_want = pad + size;
    if (tail - ring_head_seen + ring_want > RING_BYTES && !ring_has_room())
        ring_wait(ring_has_room, &ring->got_seq);
    if (pad) {
        memcpy(ring->data + offset, &(uint64_t){RING_PAD}, 8);
        offset = 0;
    }
    memcpy(ring->data + offset, &(uint64_t){len}, 8);
    memcpy(ring->data + offset + 8, msg, len);
    atomic_store(&ring->tail, tail + pad + size); /* seq_cst: then read put_seq */
    ring_wake(&ring->put_seq);
}

static size_t ring_recv(uint8_t *buf, size_t cap)
{
    uint64_t head = atomic_load_explicit(&ring->head, memory_order_relaxed);
    if (head == ring_tail_seen && !ring_has_message())
        ring_wait(ring_has_message, &ring->put_seq);
    uint64_t offset = head % RING_BYTES, len;
    memcpy(&len, ring->data + offset, 8);
    if (len == RING_PAD) {
        head += RING_BYTES - offset;
        offset = 0;
        memcpy(&len, ring->data, 8);
    }
    CHECK(len <= cap && offset + ring_record(len) <= RING_BYTES, "a record of %llu bytes",
          (unsigned long long)len);
    memcpy(buf, ring->data + offset + 8, len);
    atomic_store(&ring->head, head + ring_record(len));
    ring_wake(&ring->got_seq);
    return len;
}

static const channel ring_channel = {ring_open, NULL, ring_send, ring_recv, ring_close};

/* -- a POSIX message queue ------------------------------------------------------------ */

static mqd_t mq;

/* The most messages a queue may hold without privileges (usually 10). */
static long mq_msg_max(void)
{
    long max = 10;
    FILE *f = fopen("/proc/sys/fs/mqueue/msg_max", "r");
    if (f) {
        if (fscanf(f, "%ld", &max) != 1)
            max = 10;
        fclose(f);
    }
    return max;
}

static void mq_channel_open(size_t size)
{
    char name[64];
    snprintf(name, sizeof name, "/pc_bench_queue_%ld", (long)getpid());
    struct mq_attr attr = {.mq_maxmsg = mq_msg_max(), .mq_msgsize = (long)size};
    mq = mq_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600, &attr);
    BENCH_CHECK(mq != (mqd_t)-1, "mq_open(%s, maxmsg %ld): %s", name, attr.mq_maxmsg,
                strerror(errno));
    mq_unlink(name); /* the descriptors (and the children's copies) keep it */
}

static void mq_channel_send(const uint8_t *msg, size_t len)
{
    int r;
    while ((r = mq_send(mq, (const char *)msg, len, 0)) < 0 && errno == EINTR)
        ;
    CHECK(r == 0, "mq_send: %s", strerror(errno));
}

static size_t mq_channel_recv(uint8_t *buf, size_t cap)
{
    ssize_t r;
    while ((r = mq_receive(mq, (char *)buf, cap, NULL)) < 0 && errno == EINTR)
        ;
    CHECK(r >= 0, "mq_receive: %s", strerror(errno));
    return (size_t)r;
}

static void mq_channel_close(void)
{
    mq_close(mq);
}

static const channel mq_channel = {mq_channel_open, NULL, mq_channel_send, mq_channel_recv,
                                   mq_channel_close};

/* -- a byte stream: a pipe (2 → 2) or a socketpair (1 → 1) ---------------------------- */

/* fds[0] is read by consumers, fds[1] written by producers; each process closes the end
 * it does not use, so that a side that died is seen (EOF, EPIPE). */
static int fds[2];

static void pipe_open(size_t size)
{
    BENCH_CHECK(size <= PIPE_BUF, "%zu-byte writes to a pipe are not atomic", size);
    BENCH_CHECK(pipe(fds) == 0, "pipe: %s", strerror(errno));
}

static void socketpair_open(size_t size)
{
    (void)size;
    BENCH_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0,
                "socketpair: %s", strerror(errno));
}

static void stream_role(enum role r)
{
    if (r != PRODUCER) {
        close(fds[1]);
        fds[1] = -1;
    }
    if (r != CONSUMER) {
        close(fds[0]);
        fds[0] = -1;
    }
}

static void stream_send(const uint8_t *msg, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fds[1], msg + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        CHECK(w > 0, "write: %s", w < 0 ? strerror(errno) : "wrote nothing");
        done += (size_t)w;
    }
}

/* Reads exactly `cap` bytes, a whole message: every message of a run has that size. */
static size_t stream_recv(uint8_t *buf, size_t cap)
{
    size_t got = 0;
    while (got < cap) {
        ssize_t r = read(fds[0], buf + got, cap - got);
        if (r < 0 && errno == EINTR)
            continue;
        CHECK(r > 0, "read: %s", r < 0 ? strerror(errno) : "EOF");
        got += (size_t)r;
    }
    return got;
}

/* A pipe shared by two readers: a read must return one whole message, never part of
 * one (each write of at most PIPE_BUF bytes lands whole; a read takes what it asks). */
static size_t pipe_recv(uint8_t *buf, size_t cap)
{
    ssize_t r;
    while ((r = read(fds[0], buf, cap)) < 0 && errno == EINTR)
        ;
    CHECK(r == (ssize_t)cap, "read: %s", r < 0 ? strerror(errno) : "a short read");
    return (size_t)r;
}

/* In the parent: closes the end it kept, if any. */
static void stream_close(void)
{
    for (int i = 0; i < 2; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

static const channel pipe_channel = {pipe_open, stream_role, stream_send, pipe_recv,
                                     stream_close};
static const channel socketpair_channel = {socketpair_open, stream_role, stream_send,
                                           stream_recv, stream_close};

/* -- Boost.Interprocess message_queue (boost_queue.cpp), in the boost_queue program ---- */

#ifdef PC_BENCH_BOOST
#define BOOST_DEPTH 256
/* Defined in boost_queue.cpp; each returns 0 (or a length) or -1 after printing why. */
int boost_mq_open(size_t max_messages, size_t message_size);
int boost_mq_send(const void *buf, size_t len);
long boost_mq_receive(void *buf, size_t cap);
void boost_mq_close(void);

static void boost_channel_open(size_t size)
{
    BENCH_CHECK(boost_mq_open(BOOST_DEPTH, size) == 0, "boost message_queue");
}

static void boost_channel_send(const uint8_t *msg, size_t len)
{
    CHECK(boost_mq_send(msg, len) == 0, "message_queue::send");
}

static size_t boost_channel_recv(uint8_t *buf, size_t cap)
{
    long len = boost_mq_receive(buf, cap);
    CHECK(len >= 0, "message_queue::receive");
    return (size_t)len;
}

static const channel boost_channel = {boost_channel_open, NULL, boost_channel_send,
                                      boost_channel_recv, boost_mq_close};
#endif

/* ---- the workloads, over any channel ------------------------------------------------ */

/* The start line and the consumers' reports, in shared memory. */
struct control {
    atomic_uint ready;  /* children ready (futex: the parent waits for all) */
    atomic_uint go;     /* 1: the clock runs (futex: the children wait for it) */
    queue_result results[QUEUE_PAIRS];
};

static struct {
    const channel *ch;
    size_t size;
    long per_producer;
    int stop;   /* each producer ends with a stop message (2 → 2) */
    int spread; /* 1 → 1: producer and consumer pinned to CPUs of their own */
    struct control *ctl;
} run;

static void setup(const channel *ch, size_t size, long per_producer, int stop)
{
    run.ch = ch;
    run.size = size;
    run.per_producer = per_producer;
    run.stop = stop;
    run.ctl = shared_alloc(sizeof *run.ctl);
    ch->open(size);
}

static void teardown(void)
{
    run.ch->close();
    munmap(run.ctl, sizeof *run.ctl);
}

static void take_role(enum role r)
{
    if (run.ch->role)
        run.ch->role(r);
}

/* Pins this process to its CPU in the spread rows (consumer 0, producer 1). */
static void pin_if_spread(int k)
{
    if (run.spread) {
        int failed = bench_pin_cpu(k);
        CHECK(failed == 0, "pinning to CPU #%d: %s", k, strerror(failed));
    }
}

/* Forks a child that takes role `r` and runs fn(arg), then _exits with its result. */
static pid_t fork_child(enum role r, int (*fn)(long), long arg)
{
    fflush(NULL);
    pid_t pid = fork();
    BENCH_CHECK(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        in_child = 1;
        bench_child_setup();
        pin_if_spread(1);
        take_role(r);
        _exit(fn(arg));
    }
    return pid;
}

static void wait_child(pid_t pid)
{
    int status = 0;
    BENCH_CHECK(waitpid(pid, &status, 0) == pid, "waitpid: %s", strerror(errno));
    BENCH_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x", status);
}

/* In a child: ready, then wait for go. */
static void child_start(void)
{
    atomic_fetch_add(&run.ctl->ready, 1);
    futex_wake(&run.ctl->ready);
    while (!atomic_load(&run.ctl->go))
        futex_wait(&run.ctl->go, 0);
}

/* In the parent: waits until `children` are ready, starts the clock, says go. */
static uint64_t start_clock(unsigned children)
{
    unsigned ready;
    while ((ready = atomic_load(&run.ctl->ready)) < children)
        futex_wait(&run.ctl->ready, ready);
    uint64_t t0 = bench_now_ns();
    atomic_store(&run.ctl->go, 1);
    futex_wake(&run.ctl->go);
    return t0;
}

/* Takes the next message into buf and reads its stamps. */
static void take(uint8_t *buf, int64_t *producer, int64_t *seq)
{
    size_t len = run.ch->recv(buf, run.size);
    CHECK(queue_msg_parse(buf, len, run.size, producer, seq),
          "a malformed message of %zu bytes", len);
}

static int producer(long me)
{
    uint8_t *buf = malloc(run.size);
    CHECK(buf != NULL, "out of memory");
    queue_msg_init(buf, run.size);
    child_start();
    for (long i = 0; i < run.per_producer; i++) {
        queue_msg_stamp(buf, run.size, me, i);
        run.ch->send(buf, run.size);
    }
    if (run.stop) {
        queue_msg_stamp(buf, run.size, me, QUEUE_STOP);
        run.ch->send(buf, run.size);
    }
    free(buf);
    return 0;
}

/* 1 → 1: a producer child, the parent takes. Messages per second. */
static double one_to_one(const channel *ch, long iters, size_t size, int spread)
{
    setup(ch, size, iters, 0);
    run.spread = spread;
    uint8_t *buf = malloc(size);
    BENCH_CHECK(buf != NULL, "out of memory");
    memset(buf, 0, size);
    pid_t p = fork_child(PRODUCER, producer, 0);
    pin_if_spread(0);
    take_role(CONSUMER);
    uint64_t t0 = start_clock(1);
    for (long i = 0; i < iters; i++) {
        int64_t from = -1, seq = -1;
        take(buf, &from, &seq);
        BENCH_CHECK(from == 0 && seq == i, "message %ld: got %lld of producer %lld", i,
                    (long long)seq, (long long)from);
    }
    double s = (double)(bench_now_ns() - t0) * 1e-9;
    wait_child(p);
    free(buf);
    teardown();
    return (double)iters / s;
}

/* A 2 → 2 consumer child: takes until a stop message, then reports its tally. */
static int consumer(long me)
{
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
    run.ctl->results[me] = (queue_result){t.count, t.sum, (int64_t)bench_now_ns()};
    return 0;
}

/* 2 → 2: two producer children, two consumer children. Messages per second. */
static double two_to_two(const channel *ch, long iters)
{
    long per = (iters + 1) / 2;
    setup(ch, QUEUE_SMALL, per, 1);
    pid_t w[2 * QUEUE_PAIRS];
    for (long i = 0; i < QUEUE_PAIRS; i++) {
        w[i] = fork_child(CONSUMER, consumer, i);
        w[QUEUE_PAIRS + i] = fork_child(PRODUCER, producer, i);
    }
    take_role(BYSTANDER);
    uint64_t t0 = start_clock(2 * QUEUE_PAIRS);
    for (int i = 0; i < 2 * QUEUE_PAIRS; i++)
        wait_child(w[i]);
    queue_result *r = run.ctl->results;
    int64_t end = queue_results_check(r, per);
    BENCH_CHECK(end > (int64_t)t0, "consumers took %lld + %lld messages (sums %lld, %lld)",
                (long long)r[0].count, (long long)r[1].count, (long long)r[0].sum,
                (long long)r[1].sum);
    teardown();
    return (double)(QUEUE_PAIRS * per) / ((double)(end - (int64_t)t0) * 1e-9);
}

static double queue_1to1_64b(long iters)
{
    return one_to_one(&ring_channel, iters, QUEUE_SMALL, 0);
}

static double queue_1to1_64b_mq(long iters)
{
    return one_to_one(&mq_channel, iters, QUEUE_SMALL, 0);
}

static double queue_2to2_64b(long iters)
{
    return two_to_two(&pipe_channel, iters);
}

static double queue_1to1_64k(long iters)
{
    return one_to_one(&socketpair_channel, iters, QUEUE_LARGE, 0) * QUEUE_LARGE;
}

static double queue_1to1_64k_ring(long iters)
{
    return one_to_one(&ring_channel, iters, QUEUE_LARGE, 0) * QUEUE_LARGE;
}

static double queue_1to1_64b_spread(long iters)
{
    return one_to_one(&ring_channel, iters, QUEUE_SMALL, 1);
}

#ifdef PC_BENCH_BOOST
static double queue_1to1_64b_boost(long iters)
{
    return one_to_one(&boost_channel, iters, QUEUE_SMALL, 0);
}

static double queue_1to1_64b_boost_spread(long iters)
{
    return one_to_one(&boost_channel, iters, QUEUE_SMALL, 1);
}
#endif

static const bench_mode modes[] = {
    {"queue_1to1_64b", BENCH_OPS_PER_S, queue_1to1_64b, 3000000},
    {"queue_1to1_64b_mq", BENCH_OPS_PER_S, queue_1to1_64b_mq, 500000},
    {"queue_1to1_64b_spread", BENCH_OPS_PER_S, queue_1to1_64b_spread, 3000000},
    {"queue_2to2_64b", BENCH_OPS_PER_S, queue_2to2_64b, 1000000},
    {"queue_1to1_64k", BENCH_OPS_PER_S, queue_1to1_64k, 20000},
    {"queue_1to1_64k_ring", BENCH_OPS_PER_S, queue_1to1_64k_ring, 20000},
#ifdef PC_BENCH_BOOST
    {"queue_1to1_64b_boost", BENCH_OPS_PER_S, queue_1to1_64b_boost, 2000000},
    {"queue_1to1_64b_boost_spread", BENCH_OPS_PER_S, queue_1to1_64b_boost_spread, 2000000},
#endif
};

int main(int argc, char **argv)
{
    return BENCH_MAIN(argc, argv, modes);
}
