/*
 * bench_sync.c: libprocessing's synchronization workloads (see bench/run.py for the table).
 * The floors are in raw_sync.c, the Python peers in peers.py.
 *
 * lock_uncontended    pc_lock_acquire(l, PC_FOREVER) + pc_lock_release, one process:
 *                     the price of a Lock nobody else wants. ns per acquire+release.
 * lock_increment      two processes each add 1 to a shared int N times, each time under
 *                     one Lock (a pc_raw_value_new('i') reached by pc_value_ptr). Time
 *                     from "go" until the last one finishes, over 2N. ns per increment.
 * event_pingpong      two Events: A sets ping and waits for pong; B waits for ping,
 *                     clears it and sets pong. Per round trip.
 * semaphore_pingpong  two Semaphores(0): A releases one and acquires the other; B the
 *                     reverse. Per round trip.
 * condition_pingpong  two processes take turns on one Condition (on its own RLock, as
 *                     Python's Condition()) with a shared turn number: each, under the
 *                     lock, waits for its turn (pc_condition_wait_for), advances the turn
 *                     and notifies. Per round trip (one turn each).
 *
 * The ping-pong workloads are meant to run on one CPU (the runner uses taskset -c 0).
 * Each program checks its results: the counter ends at 2N, every round trip carries a
 * sequence number the partner checks, children must exit with 0. Children are started
 * with pc_process_* before the clock starts and are daemonic, so a failing parent takes
 * them down; each also has its own alarm (bench_child_setup).
 */
#include <stdatomic.h>

#include "bench_lib.h"


/* Starts a daemonic child running target(arg). */
static pc_process *start_child(pc_target_fn target, void *arg)
{
    pc_process *p = NULL;
    PC_CHECK(pc_process_new(target, arg, &p));
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

/* ---- lock_uncontended ------------------------------------------------------------- */

static double lock_uncontended(long iters)
{
    pc_lock *l = NULL;
    PC_CHECK(pc_lock_new(&l));
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < iters; i++) {
        pc_status a = pc_lock_acquire(l, PC_FOREVER);
        pc_status r = pc_lock_release(l);
        if (__builtin_expect(a != PC_OK || r != PC_OK, 0))
            BENCH_CHECK(0, "acquire: %s, release: %s (%s)", pc_status_str(a),
                        pc_status_str(r), pc_last_error());
    }
    double ns = (double)(bench_now_ns() - t0) / (double)iters;
    /* Released as often as acquired: free now, so a try-acquire succeeds. */
    PC_CHECK(pc_lock_acquire(l, 0));
    PC_CHECK(pc_lock_release(l));
    pc_lock_free(l);
    return ns;
}

/* ---- lock_increment --------------------------------------------------------------- */

/* Everything the workers share, set up by the parent before it starts them. */
static struct {
    long n;               /* increments per worker */
    pc_lock *lock;        /* guards *counter */
    int *counter;         /* in shared memory (a RawValue 'i') */
    pc_semaphore *ready;  /* each worker releases it once, before waiting for go */
    pc_event *go;         /* set by the parent when both are ready: the clock starts */
    int64_t *end_ns;      /* [2], shared: when each worker finished */
} inc;

static int increment_worker(void *arg)
{
    bench_child_setup();
    long me = (long)(intptr_t)arg;
    PC_CHILD_CHECK(pc_semaphore_release(inc.ready));
    PC_CHILD_CHECK(pc_event_wait(inc.go, PC_FOREVER));
    for (long i = 0; i < inc.n; i++) {
        pc_status a = pc_lock_acquire(inc.lock, PC_FOREVER);
        ++*inc.counter;
        pc_status r = pc_lock_release(inc.lock);
        if (__builtin_expect(a != PC_OK || r != PC_OK, 0))
            BENCH_CHILD_CHECK(0, "acquire: %s, release: %s", pc_status_str(a),
                              pc_status_str(r));
    }
    inc.end_ns[me] = (int64_t)bench_now_ns();
    return 0;
}

static double lock_increment(long iters)
{
    BENCH_CHECK(iters <= 1000000000L, "at most 1e9 iterations per worker (an int counts 2N)");
    pc_value *counter = NULL;
    pc_array *ends = NULL;
    inc.n = iters;
    PC_CHECK(pc_lock_new(&inc.lock));
    PC_CHECK(pc_raw_value_new('i', NULL, &counter));
    PC_CHECK(pc_semaphore_new(0, &inc.ready));
    PC_CHECK(pc_event_new(&inc.go));
    PC_CHECK(pc_raw_array_new('q', 2, NULL, &ends));
    inc.counter = pc_value_ptr(counter);
    inc.end_ns = pc_array_ptr(ends);
    BENCH_CHECK(inc.counter && inc.end_ns, "no shared memory: %s", pc_last_error());

    pc_process *w[2];
    for (long i = 0; i < 2; i++)
        w[i] = start_child(increment_worker, (void *)(intptr_t)i);
    for (int i = 0; i < 2; i++)
        PC_CHECK(pc_semaphore_acquire(inc.ready, PC_FOREVER));
    uint64_t t0 = bench_now_ns();
    PC_CHECK(pc_event_set(inc.go));
    for (int i = 0; i < 2; i++)
        join_child(w[i]);

    BENCH_CHECK(*inc.counter == 2 * iters, "counter %d, expected %ld", *inc.counter,
                2 * iters);
    int64_t end = inc.end_ns[0] > inc.end_ns[1] ? inc.end_ns[0] : inc.end_ns[1];
    BENCH_CHECK(end > (int64_t)t0, "end times not recorded");
    pc_event_free(inc.go);
    pc_semaphore_free(inc.ready);
    pc_array_free(ends);
    pc_value_free(counter);
    pc_lock_free(inc.lock);
    return (double)(end - (int64_t)t0) / (double)(2 * iters);
}

/* ---- ping-pong: events, semaphores, condition --------------------------------------- */

/* What a ping-pong pair shares: the round count and the sequence numbers each side
 * writes before signalling and the other checks after waking (in a raw shared array). */
typedef struct {
    long rounds;      /* round trips, after one untimed first round trip */
    int64_t *seq;     /* [2]: seq[0] written by A before its signal, seq[1] by B */
} pingpong;

static pingpong pp;

static pc_event *ev_ping, *ev_pong;

static int event_b(void *arg)
{
    (void)arg;
    bench_child_setup();
    for (long i = 0; i <= pp.rounds; i++) {
        PC_CHILD_CHECK(pc_event_wait(ev_ping, PC_FOREVER));
        PC_CHILD_CHECK(pc_event_clear(ev_ping));
        BENCH_CHILD_CHECK(pp.seq[0] == i, "B: round %ld saw A's %lld", i, (long long)pp.seq[0]);
        pp.seq[1] = i;
        PC_CHILD_CHECK(pc_event_set(ev_pong));
    }
    return 0;
}

/* A's side of round i: ping, wait for pong, check B's sequence number. */
static void event_a_round(long i)
{
    pp.seq[0] = i;
    PC_CHECK(pc_event_set(ev_ping));
    PC_CHECK(pc_event_wait(ev_pong, PC_FOREVER));
    PC_CHECK(pc_event_clear(ev_pong));
    BENCH_CHECK(pp.seq[1] == i, "A: round %ld saw B's %lld", i, (long long)pp.seq[1]);
}

/* Sets up the shared sequence numbers for `rounds` timed round trips. */
static pc_array *pingpong_setup(long rounds)
{
    pc_array *seq = NULL;
    PC_CHECK(pc_raw_array_new('q', 2, NULL, &seq));
    pp.rounds = rounds;
    pp.seq = pc_array_ptr(seq);
    pp.seq[0] = pp.seq[1] = -1;
    return seq;
}

static double event_pingpong(long iters)
{
    pc_array *seq = pingpong_setup(iters);
    PC_CHECK(pc_event_new(&ev_ping));
    PC_CHECK(pc_event_new(&ev_pong));
    pc_process *b = start_child(event_b, NULL);
    event_a_round(0); /* B is running: start the clock */
    uint64_t t0 = bench_now_ns();
    for (long i = 1; i <= iters; i++)
        event_a_round(i);
    double ns = (double)(bench_now_ns() - t0) / (double)iters;
    join_child(b);
    pc_event_free(ev_ping);
    pc_event_free(ev_pong);
    pc_array_free(seq);
    return ns;
}

static pc_semaphore *sem_ping, *sem_pong;

static int semaphore_b(void *arg)
{
    (void)arg;
    bench_child_setup();
    for (long i = 0; i <= pp.rounds; i++) {
        PC_CHILD_CHECK(pc_semaphore_acquire(sem_ping, PC_FOREVER));
        BENCH_CHILD_CHECK(pp.seq[0] == i, "B: round %ld saw A's %lld", i, (long long)pp.seq[0]);
        pp.seq[1] = i;
        PC_CHILD_CHECK(pc_semaphore_release(sem_pong));
    }
    return 0;
}

static void semaphore_a_round(long i)
{
    pp.seq[0] = i;
    PC_CHECK(pc_semaphore_release(sem_ping));
    PC_CHECK(pc_semaphore_acquire(sem_pong, PC_FOREVER));
    BENCH_CHECK(pp.seq[1] == i, "A: round %ld saw B's %lld", i, (long long)pp.seq[1]);
}

static double semaphore_pingpong(long iters)
{
    pc_array *seq = pingpong_setup(iters);
    PC_CHECK(pc_semaphore_new(0, &sem_ping));
    PC_CHECK(pc_semaphore_new(0, &sem_pong));
    pc_process *b = start_child(semaphore_b, NULL);
    semaphore_a_round(0);
    uint64_t t0 = bench_now_ns();
    for (long i = 1; i <= iters; i++)
        semaphore_a_round(i);
    double ns = (double)(bench_now_ns() - t0) / (double)iters;
    join_child(b);
    int32_t left[2] = {-1, -1};
    PC_CHECK(pc_semaphore_value(sem_ping, &left[0]));
    PC_CHECK(pc_semaphore_value(sem_pong, &left[1]));
    BENCH_CHECK(left[0] == 0 && left[1] == 0, "semaphores left at %d, %d", left[0], left[1]);
    pc_semaphore_free(sem_ping);
    pc_semaphore_free(sem_pong);
    pc_array_free(seq);
    return ns;
}

/* The condition's turn number (a RawValue 'q'): A moves it from even to odd, B from odd
 * to even; after round i (from 0) it is 2i + 2. */
static pc_condition *cond;
static int64_t *turn;

typedef struct {
    int64_t want;
} turn_is;

static bool turn_is_mine(void *ctx)
{
    return *turn == ((turn_is *)ctx)->want;
}

/* One turn: under the lock, wait until the turn number is `want`, advance it, notify. */
static pc_status take_turn(int64_t want)
{
    turn_is pred = {want};
    pc_status st = pc_condition_acquire(cond, PC_FOREVER);
    if (st != PC_OK)
        return st;
    st = pc_condition_wait_for(cond, turn_is_mine, &pred, PC_FOREVER);
    if (st == PC_OK) {
        *turn = want + 1;
        st = pc_condition_notify(cond, 1);
    }
    pc_status rel = pc_condition_release(cond);
    return st != PC_OK ? st : rel;
}

static int condition_b(void *arg)
{
    (void)arg;
    bench_child_setup();
    for (long i = 0; i <= pp.rounds; i++)
        PC_CHILD_CHECK(take_turn(2 * i + 1));
    return 0;
}

static double condition_pingpong(long iters)
{
    pc_value *t = NULL;
    pp.rounds = iters;
    PC_CHECK(pc_condition_new(NULL, &cond));
    PC_CHECK(pc_raw_value_new('q', NULL, &t));
    turn = pc_value_ptr(t);
    BENCH_CHECK(turn != NULL, "no shared memory: %s", pc_last_error());
    pc_process *b = start_child(condition_b, NULL);
    PC_CHECK(take_turn(0));
    PC_CHECK(take_turn(2)); /* B took its first turn: it runs. Start the clock. */
    uint64_t t0 = bench_now_ns();
    for (long i = 2; i <= iters + 1; i++)
        PC_CHECK(take_turn(2 * i));
    double ns = (double)(bench_now_ns() - t0) / (double)iters;
    join_child(b);
    /* A took iters + 2 turns, B iters + 1: */
    BENCH_CHECK(*turn == 2 * iters + 3, "turn %lld, expected %ld", (long long)*turn,
                2 * iters + 3);
    pc_condition_free(cond);
    pc_value_free(t);
    return ns;
}

static const bench_mode modes[] = {
    {"lock_uncontended", BENCH_NS_PER_OP, lock_uncontended, 20000000},
    {"lock_increment", BENCH_NS_PER_OP, lock_increment, 1000000},
    {"event_pingpong", BENCH_NS_PER_OP, event_pingpong, 50000},
    {"semaphore_pingpong", BENCH_NS_PER_OP, semaphore_pingpong, 50000},
    {"condition_pingpong", BENCH_NS_PER_OP, condition_pingpong, 50000},
};

int main(int argc, char **argv)
{
    return BENCH_MAIN(argc, argv, modes);
}
