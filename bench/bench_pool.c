/*
 * bench_pool.c: libprocessing's Pool workloads (see bench/run.py for the table). The
 * floors are in raw_pool.c, the Python peers in peers.py; the tasks, the element function
 * and the map_array driver in bench_pool_tasks.h.
 *
 * Every workload uses one pool of POOL_WORKERS workers, made by the program's first run
 * (bench_main's untimed warm-up, which also gets the workers going) and closed and joined
 * at exit: no repetition pays for starting workers.
 *
 * pool_map_100k_default  pc_pool_map of 100k items, each an int64 x, the task returns
 *                        x + 1; chunksize 0 (Python's rule: 12.5k items per task message
 *                        with 2 workers). Tasks per second over N/100k maps, each timed
 *                        from the call until its results are checked and freed.
 * pool_map_10k_chunk1    the same with 10k items and chunksize 1: one task message and one
 *                        result message per item.
 * pool_apply_async_rtt   pc_pool_apply_async of one item, then pc_async_result_get, then
 *                        the next: nanoseconds per round trip (run.py also runs it on one
 *                        CPU).
 * pool_map_array_cpu     pc_pool_map_array of 100k doubles through pool_elem (a few hundred
 *                        nanoseconds of arithmetic each), chunksize 0. Elements per second,
 *                        the map call only (pool_array_run).
 * pool_map_array_cpu_spread  the same with each worker pinned to a CPU of its own by its
 *                        initializer (pin_worker): what the pool does when the scheduler
 *                        keeps the workers apart. These machines' kernel packs runnable
 *                        tasks onto as few vCPUs as it can (sched_vcpu_pack), so two busy
 *                        workers often share one vCPU for a while.
 * thread_pool_map_100k_default, thread_pool_map_10k_chunk1, thread_pool_apply_async_rtt
 *                        the first three on a thread pool (pc_pool_options.threads) of
 *                        POOL_WORKERS threads, made the same way (Python's peer:
 *                        multiprocessing.pool.ThreadPool).
 * pool_map_10k_chunk1_spawn  pool_map_10k_chunk1 on a pool whose workers were started by
 *                        spawn: each task message names its function by module and
 *                        offset, which the workers look up.
 * pool_lifecycle_fork, pool_lifecycle_spawn, pool_lifecycle_forkserver
 *                        a pool of POOL_WORKERS made by that start method, a map of
 *                        LIFECYCLE_TASKS tasks, close and join: microseconds per pool,
 *                        starting its workers included (the forkserver is started by the
 *                        warm-up, as Python's is by its first pool).
 * pool_map_10k_chunk1_mpi, pool_map_100k_default_mpi, pool_apply_async_rtt_mpi,
 * pool_map_array_cpu_mpi the first four on a pool whose workers are MPI ranks
 *                        (PC_POOL_MPI): run by `mpiexec -n 3` (rank 0 and POOL_WORKERS
 *                        worker ranks), as run.py does. Python's peer:
 *                        mpi4py.futures.MPIPoolExecutor; the floor: raw_mpi.c.
 */
#define _GNU_SOURCE /* bench_pin_cpu */
#include "bench_lib.h"
#include "bench_pool_tasks.h"

static pc_pool *pool;
static pc_pool *thread_pool;
static pc_pool *spawn_pool;
static pc_pool *mpi_pool;

/* The tasks of one pool_lifecycle_* iteration. */
#define LIFECYCLE_TASKS 100

/* What pin_worker shares with the parent (a RawArray, so the workers see it). */
typedef struct {
    int next;   /* workers pinned so far: the next one takes the next allowed CPU */
    int failed; /* a worker could not pin itself (errno) */
} spread_state;
static pc_array *spread_shm;

static void close_pool(pc_pool *p)
{
    pc_status st = pc_pool_close(p);
    if (st == PC_OK)
        st = pc_pool_join(p);
    if (st != PC_OK) {
        /* exit() may not be called again from an atexit handler. */
        fprintf(stderr, "closing the pool: %s: %s\n", pc_status_str(st), pc_last_error());
        _exit(1);
    }
    pc_pool_free(p);
}

static void close_pools(void)
{
    if (pool)
        close_pool(pool);
    if (thread_pool)
        close_pool(thread_pool);
    if (spawn_pool)
        close_pool(spawn_pool);
    if (mpi_pool)
        close_pool(mpi_pool);
    pc_array_free(spread_shm);
}

/* The pool of every workload, made on first use; `init` (NULL: none) is its workers'
 * initializer, with a zeroed spread_state in shared memory as its argument. */
static pc_pool *the_pool(pc_init_fn init)
{
    if (!pool) {
        pc_pool_options opts = {.processes = POOL_WORKERS, .initializer = init};
        if (init) {
            PC_CHECK(pc_raw_array_new_sized(sizeof(spread_state), 1, &spread_shm));
            opts.initarg = pc_array_ptr(spread_shm);
        }
        PC_CHECK(pc_pool_new(&opts, &pool));
        BENCH_CHECK(atexit(close_pools) == 0, "atexit");
    }
    return pool;
}

/* The thread pool of the thread_pool_* workloads, made on first use. */
static pc_pool *the_thread_pool(void)
{
    if (!thread_pool) {
        pc_pool_options opts = {.processes = POOL_WORKERS, .threads = true};
        PC_CHECK(pc_pool_new(&opts, &thread_pool));
        BENCH_CHECK(atexit(close_pools) == 0, "atexit");
    }
    return thread_pool;
}

/* The pool of pool_map_10k_chunk1_spawn, made on first use. */
static pc_pool *the_spawn_pool(void)
{
    if (!spawn_pool) {
        pc_pool_options opts = {.processes = POOL_WORKERS, .start_method = "spawn"};
        PC_CHECK(pc_pool_new(&opts, &spawn_pool));
        BENCH_CHECK(atexit(close_pools) == 0, "atexit");
    }
    return spawn_pool;
}

/* The pool of the *_mpi workloads, made on first use: every worker rank of the job. */
static pc_pool *the_mpi_pool(void)
{
    if (!mpi_pool) {
        pc_pool_options opts = {.backend = PC_POOL_MPI};
        PC_CHECK(pc_pool_new(&opts, &mpi_pool));
        BENCH_CHECK(atexit(close_pools) == 0, "atexit");
    }
    return mpi_pool;
}

/* A worker's initializer for pool_map_array_cpu_spread: pins the worker to one CPU, the
 * k-th it may use for the k-th worker (round robin), so that the workers never share a
 * CPU whatever the scheduler prefers. */
static void pin_worker(void *arg)
{
    spread_state *st = arg;
    int failed = bench_pin_cpu(__atomic_fetch_add(&st->next, 1, __ATOMIC_RELAXED));
    if (failed)
        st->failed = failed;
}

/* The trivial task (a pc_task_fn): an int64 in, pool_task of it out. */
static int increment(const void *arg, size_t len, pc_buffer *result)
{
    if (len != sizeof(int64_t))
        return 1;
    uint8_t out[sizeof(int64_t)];
    put_i64(out, pool_task(get_i64(arg)));
    return pc_buffer_write(result, out, sizeof out) == PC_OK ? 0 : 2;
}

/* Checks that `r` is the task's result for `x`, and frees it. */
static void take_result(pc_bytes *r, int64_t x)
{
    BENCH_CHECK(r->len == sizeof(int64_t) && get_i64(r->data) == pool_task(x),
                "the result for %lld: %zu bytes, %lld", (long long)x, r->len,
                r->len == sizeof(int64_t) ? (long long)get_i64(r->data) : -1LL);
    pc_bytes_free(r);
}

/* Tasks per second: `iters` tasks as pc_pool_map calls of `size` items each on `p` (new
 * inputs per map, so a stale result cannot pass). */
static double map_tasks(pc_pool *p, long iters, size_t size, size_t chunksize)
{
    long maps = pool_maps(iters, (long)size);
    int64_t *xs = malloc(size * sizeof *xs);
    pc_slice *items = malloc(size * sizeof *items);
    pc_bytes *results = calloc(size, sizeof *results);
    BENCH_CHECK(xs && items && results, "out of memory");
    for (size_t i = 0; i < size; i++)
        items[i] = (pc_slice){&xs[i], sizeof xs[i]};
    uint64_t ns = 0;
    for (long m = 0; m < maps; m++) {
        for (size_t i = 0; i < size; i++)
            xs[i] = m * (long)size + (long)i;
        uint64_t t0 = bench_now_ns();
        PC_CHECK(pc_pool_map(p, increment, items, size, chunksize, results));
        for (size_t i = 0; i < size; i++)
            take_result(&results[i], xs[i]);
        ns += bench_now_ns() - t0;
    }
    free(results);
    free(items);
    free(xs);
    return (double)(maps * (long)size) / ((double)ns * 1e-9);
}

static double pool_map_100k_default(long iters)
{
    return map_tasks(the_pool(NULL), iters, POOL_MAP_DEFAULT_TASKS, 0);
}

static double pool_map_10k_chunk1(long iters)
{
    return map_tasks(the_pool(NULL), iters, POOL_MAP_CHUNK1_TASKS, 1);
}

static double thread_pool_map_100k_default(long iters)
{
    return map_tasks(the_thread_pool(), iters, POOL_MAP_DEFAULT_TASKS, 0);
}

static double thread_pool_map_10k_chunk1(long iters)
{
    return map_tasks(the_thread_pool(), iters, POOL_MAP_CHUNK1_TASKS, 1);
}

/* Nanoseconds per apply_async + get on `p`, one task at a time. */
static double apply_async_rtt(pc_pool *p, long iters)
{
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < iters; i++) {
        int64_t x = i;
        pc_async_result *r = NULL;
        pc_bytes out = {0};
        PC_CHECK(pc_pool_apply_async(p, increment, &x, sizeof x, NULL, NULL, &r));
        PC_CHECK(pc_async_result_get(r, PC_FOREVER, &out, 1));
        take_result(&out, x);
        pc_async_result_free(r);
    }
    return (double)(bench_now_ns() - t0) / (double)iters;
}

static double pool_apply_async_rtt(long iters)
{
    return apply_async_rtt(the_pool(NULL), iters);
}

static double thread_pool_apply_async_rtt(long iters)
{
    return apply_async_rtt(the_thread_pool(), iters);
}

static void map_array(const double *in, double *out, size_t n)
{
    PC_CHECK(
        pc_pool_map_array(pool, pool_elem, NULL, 0, in, sizeof *in, out, sizeof *out, n, 0));
}

static void map_array_mpi(const double *in, double *out, size_t n)
{
    PC_CHECK(pc_pool_map_array(mpi_pool, pool_elem, NULL, 0, in, sizeof *in, out, sizeof *out,
                               n, 0));
}

static double pool_map_array_cpu(long iters)
{
    the_pool(NULL); /* made before the clock runs */
    return pool_array_run(iters, map_array);
}

static double pool_map_array_cpu_spread(long iters)
{
    the_pool(pin_worker);
    double rate = pool_array_run(iters, map_array);
    spread_state *st = pc_array_ptr(spread_shm);
    BENCH_CHECK(st->failed == 0, "a worker could not pin itself: %s", strerror(st->failed));
    return rate;
}

static double pool_map_10k_chunk1_spawn(long iters)
{
    return map_tasks(the_spawn_pool(), iters, POOL_MAP_CHUNK1_TASKS, 1);
}

static double pool_map_10k_chunk1_mpi(long iters)
{
    return map_tasks(the_mpi_pool(), iters, POOL_MAP_CHUNK1_TASKS, 1);
}

static double pool_map_100k_default_mpi(long iters)
{
    return map_tasks(the_mpi_pool(), iters, POOL_MAP_DEFAULT_TASKS, 0);
}

static double pool_apply_async_rtt_mpi(long iters)
{
    return apply_async_rtt(the_mpi_pool(), iters);
}

static double pool_map_array_cpu_mpi(long iters)
{
    the_mpi_pool(); /* made before the clock runs */
    return pool_array_run(iters, map_array_mpi);
}

/* Microseconds per pool made by `method`, LIFECYCLE_TASKS tasks mapped, closed, joined. */
static double pool_lifecycle(long iters, const char *method)
{
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < iters; i++) {
        pc_pool_options opts = {.processes = POOL_WORKERS, .start_method = method};
        pc_pool *p = NULL;
        PC_CHECK(pc_pool_new(&opts, &p));
        map_tasks(p, LIFECYCLE_TASKS, LIFECYCLE_TASKS, 1);
        close_pool(p);
    }
    return (double)(bench_now_ns() - t0) / (double)iters;
}

static double pool_lifecycle_fork(long iters)
{
    return pool_lifecycle(iters, "fork");
}

static double pool_lifecycle_spawn(long iters)
{
    return pool_lifecycle(iters, "spawn");
}

static double pool_lifecycle_forkserver(long iters)
{
    return pool_lifecycle(iters, "forkserver");
}

static const bench_mode modes[] = {
    {"pool_map_100k_default", BENCH_OPS_PER_S, pool_map_100k_default, 2000000},
    {"pool_map_10k_chunk1", BENCH_OPS_PER_S, pool_map_10k_chunk1, 200000},
    {"pool_apply_async_rtt", BENCH_NS_PER_OP, pool_apply_async_rtt, 10000},
    {"pool_map_array_cpu", BENCH_OPS_PER_S, pool_map_array_cpu, 2000000},
    {"pool_map_array_cpu_spread", BENCH_OPS_PER_S, pool_map_array_cpu_spread, 2000000},
    {"thread_pool_map_100k_default", BENCH_OPS_PER_S, thread_pool_map_100k_default, 2000000},
    {"thread_pool_map_10k_chunk1", BENCH_OPS_PER_S, thread_pool_map_10k_chunk1, 200000},
    {"thread_pool_apply_async_rtt", BENCH_NS_PER_OP, thread_pool_apply_async_rtt, 10000},
    {"pool_map_10k_chunk1_spawn", BENCH_OPS_PER_S, pool_map_10k_chunk1_spawn, 200000},
    {"pool_lifecycle_fork", BENCH_NS_PER_OP, pool_lifecycle_fork, 200},
    {"pool_lifecycle_spawn", BENCH_NS_PER_OP, pool_lifecycle_spawn, 100},
    {"pool_lifecycle_forkserver", BENCH_NS_PER_OP, pool_lifecycle_forkserver, 200},
    {"pool_map_10k_chunk1_mpi", BENCH_OPS_PER_S, pool_map_10k_chunk1_mpi, 200000},
    {"pool_map_100k_default_mpi", BENCH_OPS_PER_S, pool_map_100k_default_mpi, 2000000},
    {"pool_apply_async_rtt_mpi", BENCH_NS_PER_OP, pool_apply_async_rtt_mpi, 10000},
    {"pool_map_array_cpu_mpi", BENCH_OPS_PER_S, pool_map_array_cpu_mpi, 2000000},
};

int main(int argc, char **argv)
{
    pc_freeze_support(argc, argv);
    return BENCH_MAIN(argc, argv, modes);
}
