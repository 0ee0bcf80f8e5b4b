/*
 * raw_sync.c: the floors of the synchronization workloads (bench_sync.c), in plain libc,
 * pthread and futex calls on MAP_SHARED | MAP_ANONYMOUS memory, children made by fork.
 *
 * lock_uncontended          a robust process-shared pthread mutex (the floor: the lib's
 *                           Lock too survives a holder's death), lock + unlock.
 * lock_uncontended_plain    the same with a plain (not robust) process-shared mutex.
 * lock_increment            two processes each add 1 to an int N times under one robust
 *                           process-shared mutex; time from "go" to the last finish / 2N.
 * lock_increment_plain      the same under a plain process-shared mutex.
 * event_pingpong            two futex words: A stores ping = 1 and FUTEX_WAKEs, then
 *                           FUTEX_WAITs while pong == 0 and clears it; B the mirror image.
 *                           Non-private futex operations, as memory shared by processes
 *                           needs. Per round trip.
 * semaphore_pingpong        two POSIX semaphores, sem_init(pshared = 1) in shared memory:
 *                           A sem_post(ping) + sem_wait(pong); B the reverse.
 * condition_pingpong        a process-shared pthread_cond + pthread_mutex and a turn
 *                           number: each side locks, waits while it is not its turn,
 *                           advances it, signals, unlocks. Per round trip.
 *
 * Every mode checks what bench_sync.c checks; each pthread call's result is checked too.
 */
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_common.h"

/* Zeroed shared memory for `size` bytes, inherited by children forked afterwards. */
static void *shared_alloc(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    BENCH_CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
    return p;
}

static void shared_free(void *p, size_t size)
{
    munmap(p, size);
}

/* Forks a child that runs fn(arg) and _exits with its result. */
static pid_t fork_child(int (*fn)(long), long arg)
{
    fflush(NULL);
    pid_t pid = fork();
    BENCH_CHECK(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        bench_child_setup();
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

/* A process-shared mutex in `m` (in shared memory), robust or not. */
static void mutex_init(pthread_mutex_t *m, int robust)
{
    pthread_mutexattr_t a;
    BENCH_CHECK(pthread_mutexattr_init(&a) == 0, "mutexattr_init");
    BENCH_CHECK(pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED) == 0, "setpshared");
    if (robust)
        BENCH_CHECK(pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST) == 0, "setrobust");
    BENCH_CHECK(pthread_mutex_init(m, &a) == 0, "mutex_init");
    pthread_mutexattr_destroy(&a);
}

/* ---- lock_uncontended ------------------------------------------------------------- */

static double uncontended(long iters, int robust)
{
    pthread_mutex_t *m = shared_alloc(sizeof *m);
    mutex_init(m, robust);
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < iters; i++) {
        int a = pthread_mutex_lock(m);
        int r = pthread_mutex_unlock(m);
        if (__builtin_expect(a != 0 || r != 0, 0))
            BENCH_CHECK(0, "lock: %d, unlock: %d", a, r);
    }
    double ns = (double)(bench_now_ns() - t0) / (double)iters;
    BENCH_CHECK(pthread_mutex_trylock(m) == 0, "mutex left locked");
    pthread_mutex_unlock(m);
    pthread_mutex_destroy(m);
    shared_free(m, sizeof *m);
    return ns;
}

static double lock_uncontended(long iters)
{
    return uncontended(iters, 1);
}

static double lock_uncontended_plain(long iters)
{
    return uncontended(iters, 0);
}

/* ---- lock_increment --------------------------------------------------------------- */

struct inc_shared {
    pthread_mutex_t m;
    int counter;          /* guarded by m */
    atomic_int ready;     /* workers waiting for go */
    atomic_int go;        /* the clock started */
    int64_t end_ns[2];    /* when each worker finished */
};

static struct inc_shared *inc;
static long inc_n;

static int increment_worker(long me)
{
    atomic_fetch_add(&inc->ready, 1);
    while (!atomic_load(&inc->go))
        sched_yield();
    for (long i = 0; i < inc_n; i++) {
        int a = pthread_mutex_lock(&inc->m);
        ++inc->counter;
        int r = pthread_mutex_unlock(&inc->m);
        if (__builtin_expect(a != 0 || r != 0, 0))
            BENCH_CHILD_CHECK(0, "lock: %d, unlock: %d", a, r);
    }
    inc->end_ns[me] = (int64_t)bench_now_ns();
    return 0;
}

static double increment(long iters, int robust)
{
    BENCH_CHECK(iters <= 1000000000L, "at most 1e9 iterations per worker (an int counts 2N)");
    inc = shared_alloc(sizeof *inc);
    inc_n = iters;
    mutex_init(&inc->m, robust);
    pid_t w[2];
    for (long i = 0; i < 2; i++)
        w[i] = fork_child(increment_worker, i);
    while (atomic_load(&inc->ready) < 2)
        sched_yield();
    uint64_t t0 = bench_now_ns();
    atomic_store(&inc->go, 1);
    for (int i = 0; i < 2; i++)
        wait_child(w[i]);
    BENCH_CHECK(inc->counter == 2 * iters, "counter %d, expected %ld", inc->counter, 2 * iters);
    int64_t end = inc->end_ns[0] > inc->end_ns[1] ? inc->end_ns[0] : inc->end_ns[1];
    BENCH_CHECK(end > (int64_t)t0, "end times not recorded");
    pthread_mutex_destroy(&inc->m);
    shared_free(inc, sizeof *inc);
    return (double)(end - (int64_t)t0) / (double)(2 * iters);
}

static double lock_increment(long iters)
{
    return increment(iters, 1);
}

static double lock_increment_plain(long iters)
{
    return increment(iters, 0);
}

/* ---- ping-pong -------------------------------------------------------------------- */

/* The sequence numbers each side writes before signalling and the other checks. */
struct pingpong {
    _Atomic int64_t seq[2];
    long rounds;
};

static long futex(atomic_uint *word, int op, unsigned val)
{
    return syscall(SYS_futex, (unsigned *)word, op, val, NULL, NULL, 0);
}

struct event_shared {
    struct pingpong pp;
    atomic_uint ping, pong;
};

static struct event_shared *ev;

/* Event set: the flag, then a wake (no waiter count: the floor just calls the kernel). */
static void flag_set(atomic_uint *w)
{
    atomic_store(w, 1);
    futex(w, FUTEX_WAKE, INT32_MAX);
}

/* Event wait: sleep while the flag is 0. */
static void flag_wait(atomic_uint *w)
{
    while (atomic_load(w) == 0)
        futex(w, FUTEX_WAIT, 0);
}

static int event_b(long unused)
{
    (void)unused;
    for (long i = 0; i <= ev->pp.rounds; i++) {
        flag_wait(&ev->ping);
        atomic_store(&ev->ping, 0);
        BENCH_CHILD_CHECK(ev->pp.seq[0] == i, "B: round %ld saw A's %lld", i,
                          (long long)ev->pp.seq[0]);
        ev->pp.seq[1] = i;
        flag_set(&ev->pong);
    }
    return 0;
}

static void event_a_round(long i)
{
    ev->pp.seq[0] = i;
    flag_set(&ev->ping);
    flag_wait(&ev->pong);
    atomic_store(&ev->pong, 0);
    BENCH_CHECK(ev->pp.seq[1] == i, "A: round %ld saw B's %lld", i, (long long)ev->pp.seq[1]);
}

static double event_pingpong(long iters)
{
    ev = shared_alloc(sizeof *ev);
    ev->pp.rounds = iters;
    ev->pp.seq[0] = ev->pp.seq[1] = -1;
    pid_t b = fork_child(event_b, 0);
    event_a_round(0);
    uint64_t t0 = bench_now_ns();
    for (long i = 1; i <= iters; i++)
        event_a_round(i);
    double ns = (double)(bench_now_ns() - t0) / (double)iters;
    wait_child(b);
    shared_free(ev, sizeof *ev);
    return ns;
}

struct sem_shared {
    struct pingpong pp;
    sem_t ping, pong;
};

static struct sem_shared *sm;

static int sem_wait_retry(sem_t *s)
{
    int r;
    while ((r = sem_wait(s)) != 0 && errno == EINTR)
        ;
    return r;
}

static int semaphore_b(long unused)
{
    (void)unused;
    for (long i = 0; i <= sm->pp.rounds; i++) {
        BENCH_CHILD_CHECK(sem_wait_retry(&sm->ping) == 0, "sem_wait: %s", strerror(errno));
        BENCH_CHILD_CHECK(sm->pp.seq[0] == i, "B: round %ld saw A's %lld", i,
                          (long long)sm->pp.seq[0]);
        sm->pp.seq[1] = i;
        BENCH_CHILD_CHECK(sem_post(&sm->pong) == 0, "sem_post: %s", strerror(errno));
    }
    return 0;
}

static void semaphore_a_round(long i)
{
    sm->pp.seq[0] = i;
    BENCH_CHECK(sem_post(&sm->ping) == 0, "sem_post: %s", strerror(errno));
    BENCH_CHECK(sem_wait_retry(&sm->pong) == 0, "sem_wait: %s", strerror(errno));
    BENCH_CHECK(sm->pp.seq[1] == i, "A: round %ld saw B's %lld", i, (long long)sm->pp.seq[1]);
}

static double semaphore_pingpong(long iters)
{
    sm = shared_alloc(sizeof *sm);
    sm->pp.rounds = iters;
    sm->pp.seq[0] = sm->pp.seq[1] = -1;
    BENCH_CHECK(sem_init(&sm->ping, 1, 0) == 0 && sem_init(&sm->pong, 1, 0) == 0,
                "sem_init: %s", strerror(errno));
    pid_t b = fork_child(semaphore_b, 0);
    semaphore_a_round(0);
    uint64_t t0 = bench_now_ns();
    for (long i = 1; i <= iters; i++)
        semaphore_a_round(i);
    double ns = (double)(bench_now_ns() - t0) / (double)iters;
    wait_child(b);
    int left[2] = {-1, -1};
    sem_getvalue(&sm->ping, &left[0]);
    sem_getvalue(&sm->pong, &left[1]);
    BENCH_CHECK(left[0] == 0 && left[1] == 0, "semaphores left at %d, %d", left[0], left[1]);
    sem_destroy(&sm->ping);
    sem_destroy(&sm->pong);
    shared_free(sm, sizeof *sm);
    return ns;
}

struct cond_shared {
    pthread_mutex_t m;
    pthread_cond_t c;
    int64_t turn; /* guarded by m: A moves it from even to odd, B from odd to even */
    long rounds;
};

static struct cond_shared *cs;

/* One turn: under the mutex, wait until the turn number is `want`, advance it, signal. */
static int take_turn(int64_t want)
{
    int e = pthread_mutex_lock(&cs->m);
    if (e != 0)
        return e;
    while (e == 0 && cs->turn != want)
        e = pthread_cond_wait(&cs->c, &cs->m);
    if (e == 0) {
        cs->turn = want + 1;
        e = pthread_cond_signal(&cs->c);
    }
    int u = pthread_mutex_unlock(&cs->m);
    return e != 0 ? e : u;
}

static int condition_b(long unused)
{
    (void)unused;
    for (long i = 0; i <= cs->rounds; i++) {
        int e = take_turn(2 * i + 1);
        BENCH_CHILD_CHECK(e == 0, "B: turn %ld: %s", 2 * i + 1, strerror(e));
    }
    return 0;
}

static double condition_pingpong(long iters)
{
    cs = shared_alloc(sizeof *cs);
    cs->rounds = iters;
    mutex_init(&cs->m, 0);
    pthread_condattr_t ca;
    BENCH_CHECK(pthread_condattr_init(&ca) == 0, "condattr_init");
    BENCH_CHECK(pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED) == 0, "setpshared");
    BENCH_CHECK(pthread_cond_init(&cs->c, &ca) == 0, "cond_init");
    pthread_condattr_destroy(&ca);
    pid_t b = fork_child(condition_b, 0);
    BENCH_CHECK(take_turn(0) == 0 && take_turn(2) == 0, "A: first turns");
    uint64_t t0 = bench_now_ns();
    for (long i = 2; i <= iters + 1; i++) {
        int e = take_turn(2 * i);
        BENCH_CHECK(e == 0, "A: turn %ld: %s", 2 * i, strerror(e));
    }
    double ns = (double)(bench_now_ns() - t0) / (double)iters;
    wait_child(b);
    BENCH_CHECK(cs->turn == 2 * iters + 3, "turn %lld, expected %ld", (long long)cs->turn,
                2 * iters + 3);
    pthread_cond_destroy(&cs->c);
    pthread_mutex_destroy(&cs->m);
    shared_free(cs, sizeof *cs);
    return ns;
}

static const bench_mode modes[] = {
    {"lock_uncontended", BENCH_NS_PER_OP, lock_uncontended, 20000000},
    {"lock_uncontended_plain", BENCH_NS_PER_OP, lock_uncontended_plain, 20000000},
    {"lock_increment", BENCH_NS_PER_OP, lock_increment, 1000000},
    {"lock_increment_plain", BENCH_NS_PER_OP, lock_increment_plain, 1000000},
    {"event_pingpong", BENCH_NS_PER_OP, event_pingpong, 50000},
    {"semaphore_pingpong", BENCH_NS_PER_OP, semaphore_pingpong, 50000},
    {"condition_pingpong", BENCH_NS_PER_OP, condition_pingpong, 50000},
};

int main(int argc, char **argv)
{
    return BENCH_MAIN(argc, argv, modes);
}
