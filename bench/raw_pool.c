/*
 * raw_pool.c: the floors of the Pool workloads (bench_pool.c), in plain libc: workers
 * made by fork, fed through pipes, with no serialization at all (an int64 is written as
 * its 8 bytes). The tasks and the element function are bench_pool_tasks.h's.
 *
 * The workers share one task pipe and one result pipe, as a pool's workers share its
 * queues: each reads one task (8 bytes: reads of a pipe shared by several readers return
 * whole writes of at most PIPE_BUF bytes), writes its result (8 bytes), and ends at EOF.
 *
 * pool_map_10k_chunk1   POOL_WORKERS workers; per map of 10k items the parent writes the
 *                       first MAP_WINDOW tasks, then reads one result and writes the next
 *                       task until every result is in (each worker always finds work; one
 *                       write and one read per task on each side, as chunksize 1 means one
 *                       message each way per item). Tasks per second. Results come in any
 *                       order: each must be the result of a task of this map, once.
 * pool_apply_async_rtt  one worker; the parent writes a task and reads its result, one at
 *                       a time: the raw two-process round trip. Nanoseconds per round trip.
 * pool_map_array_cpu    the single-process loop out[i] = pool_elem(in[i]) over the same
 *                       100k doubles (pool_array_run), calling the same element function
 *                       as the pool's workers. Elements per second.
 * pool_map_array_cpu_inlined  the same loop with the element's arithmetic inlined, which
 *                       the compiler vectorizes (not the floor of the target: another
 *                       machine code; shown beside it).
 */
#include <errno.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_pool_tasks.h"

/* Tasks in flight in a map: enough that no worker waits for the parent. */
#define MAP_WINDOW 64

/* The forked workers of a run. The parent keeps the task pipe's write end and the result
 * pipe's read end; each worker the other two. */
static struct {
    int task_rd, task_wr, result_rd, result_wr;
    pid_t pids[POOL_WORKERS];
    int n;
} w;

/* Writes or reads exactly one int64 on `fd` (EINTR retried); false at EOF or on error. */
static int put_int(int fd, int64_t v)
{
    ssize_t r;
    while ((r = write(fd, &v, sizeof v)) < 0 && errno == EINTR)
        ;
    return r == (ssize_t)sizeof v;
}

static int get_int(int fd, int64_t *v)
{
    ssize_t r;
    errno = 0; /* 0 after a read that returned EOF */
    while ((r = read(fd, v, sizeof *v)) < 0 && errno == EINTR)
        ;
    return r == (ssize_t)sizeof *v;
}

/* A worker: tasks until EOF. */
static int serve(void)
{
    int64_t x;
    while (get_int(w.task_rd, &x))
        BENCH_CHILD_CHECK(put_int(w.result_wr, pool_task(x)), "writing a result: %s",
                          strerror(errno));
    return 0;
}

static void start_workers(int n)
{
    int tasks[2], results[2];
    BENCH_CHECK(pipe(tasks) == 0 && pipe(results) == 0, "pipe: %s", strerror(errno));
    w.task_rd = tasks[0];
    w.task_wr = tasks[1];
    w.result_rd = results[0];
    w.result_wr = results[1];
    w.n = n;
    fflush(NULL);
    for (int k = 0; k < n; k++) {
        pid_t pid = fork();
        BENCH_CHECK(pid >= 0, "fork: %s", strerror(errno));
        if (pid == 0) {
            bench_child_setup();
            close(w.task_wr);
            close(w.result_rd);
            _exit(serve());
        }
        w.pids[k] = pid;
    }
    close(w.task_rd);
    close(w.result_wr);
}

/* Closes the task pipe: the workers end; checks that they exited with 0 and sent nothing
 * more. */
static void stop_workers(void)
{
    close(w.task_wr);
    for (int k = 0; k < w.n; k++) {
        int status = 0;
        BENCH_CHECK(waitpid(w.pids[k], &status, 0) == w.pids[k], "waitpid: %s",
                    strerror(errno));
        BENCH_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "worker status %#x",
                    status);
    }
    int64_t extra;
    BENCH_CHECK(!get_int(w.result_rd, &extra), "a result nobody asked for");
    close(w.result_rd);
}

static void put_task(int64_t x)
{
    BENCH_CHECK(put_int(w.task_wr, x), "writing a task: %s", strerror(errno));
}

static int64_t take_result(void)
{
    int64_t r;
    BENCH_CHECK(get_int(w.result_rd, &r), "reading a result: %s",
                errno ? strerror(errno) : "EOF");
    return r;
}

static double pool_map_10k_chunk1(long iters)
{
    const long size = POOL_MAP_CHUNK1_TASKS;
    long maps = pool_maps(iters, size);
    uint8_t *seen = malloc((size_t)size);
    BENCH_CHECK(seen != NULL, "out of memory");
    start_workers(POOL_WORKERS);
    uint64_t t0 = bench_now_ns();
    for (long m = 0; m < maps; m++) {
        int64_t base = m * size;
        long sent = 0;
        memset(seen, 0, (size_t)size);
        while (sent < MAP_WINDOW && sent < size)
            put_task(base + sent++);
        for (long got = 0; got < size; got++) {
            int64_t r = take_result(), i = r - pool_task(base);
            BENCH_CHECK(i >= 0 && i < size && !seen[i], "map %ld: result %lld", m,
                        (long long)r);
            seen[i] = 1;
            if (sent < size)
                put_task(base + sent++);
        }
    }
    double s = (double)(bench_now_ns() - t0) * 1e-9;
    stop_workers();
    free(seen);
    return (double)(maps * size) / s;
}

static double pool_apply_async_rtt(long iters)
{
    start_workers(1);
    put_task(-1); /* the first round trip, untimed: the worker runs */
    BENCH_CHECK(take_result() == pool_task(-1), "a wrong first result");
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < iters; i++) {
        put_task(i);
        int64_t r = take_result();
        BENCH_CHECK(r == pool_task(i), "task %ld: result %lld", i, (long long)r);
    }
    double ns = (double)(bench_now_ns() - t0) / (double)iters;
    stop_workers();
    return ns;
}

/* The single-process loop, calling the element function as the pool's workers do. */
static void single_loop(const double *in, double *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        pool_elem(&in[i], &out[i], NULL);
}

/* The same loop with the arithmetic inlined: the compiler vectorizes it (two elements per
 * SSE2 instruction), which no element function called through a pointer can match. */
static void inlined_loop(const double *in, double *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = pool_elem_value(in[i]);
}

static double pool_map_array_cpu(long iters)
{
    return pool_array_run(iters, single_loop);
}

static double pool_map_array_cpu_inlined(long iters)
{
    return pool_array_run(iters, inlined_loop);
}

static const bench_mode modes[] = {
    {"pool_map_10k_chunk1", BENCH_OPS_PER_S, pool_map_10k_chunk1, 200000},
    {"pool_apply_async_rtt", BENCH_NS_PER_OP, pool_apply_async_rtt, 10000},
    {"pool_map_array_cpu", BENCH_OPS_PER_S, pool_map_array_cpu, 1000000},
    {"pool_map_array_cpu_inlined", BENCH_OPS_PER_S, pool_map_array_cpu_inlined, 1000000},
};

int main(int argc, char **argv)
{
    return BENCH_MAIN(argc, argv, modes);
}
