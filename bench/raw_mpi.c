/*
 * raw_mpi.c: the floor of the MPI pool workloads (bench_pool.c's *_mpi): the same tasks
 * in plain MPI, run by `mpiexec -n 3`: rank 0 times, ranks 1 and 2 (POOL_WORKERS) answer
 * each int64 task with pool_task of it, with blocking MPI_Recv and MPI_Send of the 8
 * bytes, no serialization at all.
 *
 * pool_map_10k_chunk1_mpi  per map of 10k items, rank 0 sends one task to each worker
 *                          rank, then receives any result and sends that rank the next
 *                          task until every result is in: one task in flight per rank,
 *                          as the pool's bridges keep. Tasks per second.
 * pool_apply_async_rtt_mpi rank 0 sends one task to rank 1 and receives its result, one
 *                          at a time. Nanoseconds per round trip.
 */
#include <mpi.h>

#include "bench_pool_tasks.h"

enum { TASK = 1, STOP = 2 };

static void serve(void)
{
    for (;;) {
        int64_t x;
        MPI_Status st;
        MPI_Recv(&x, 1, MPI_INT64_T, 0, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
        if (st.MPI_TAG == STOP)
            return;
        x = pool_task(x);
        MPI_Send(&x, 1, MPI_INT64_T, 0, TASK, MPI_COMM_WORLD);
    }
}

static double pool_map_10k_chunk1_mpi(long iters)
{
    long maps = pool_maps(iters, POOL_MAP_CHUNK1_TASKS);
    static char seen[POOL_MAP_CHUNK1_TASKS];
    uint64_t t0 = bench_now_ns();
    for (long m = 0; m < maps; m++) {
        int64_t base = m * POOL_MAP_CHUNK1_TASKS, next = 0;
        memset(seen, 0, sizeof seen);
        for (int r = 1; r <= POOL_WORKERS; r++, next++) {
            int64_t x = base + next;
            MPI_Send(&x, 1, MPI_INT64_T, r, TASK, MPI_COMM_WORLD);
        }
        for (long got = 0; got < POOL_MAP_CHUNK1_TASKS; got++) {
            int64_t y;
            MPI_Status st;
            MPI_Recv(&y, 1, MPI_INT64_T, MPI_ANY_SOURCE, TASK, MPI_COMM_WORLD, &st);
            int64_t i = y - 1 - base; /* pool_task is x + 1 */
            BENCH_CHECK(i >= 0 && i < POOL_MAP_CHUNK1_TASKS && !seen[i], "result %lld",
                        (long long)y);
            seen[i] = 1;
            if (next < POOL_MAP_CHUNK1_TASKS) {
                int64_t x = base + next++;
                MPI_Send(&x, 1, MPI_INT64_T, st.MPI_SOURCE, TASK, MPI_COMM_WORLD);
            }
        }
    }
    return (double)(maps * POOL_MAP_CHUNK1_TASKS) / ((double)(bench_now_ns() - t0) * 1e-9);
}

static double pool_apply_async_rtt_mpi(long iters)
{
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < iters; i++) {
        int64_t x = i, y;
        MPI_Send(&x, 1, MPI_INT64_T, 1, TASK, MPI_COMM_WORLD);
        MPI_Recv(&y, 1, MPI_INT64_T, 1, TASK, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        BENCH_CHECK(y == pool_task(x), "task %ld: %lld", i, (long long)y);
    }
    return (double)(bench_now_ns() - t0) / (double)iters;
}

static const bench_mode modes[] = {
    {"pool_map_10k_chunk1_mpi", BENCH_OPS_PER_S, pool_map_10k_chunk1_mpi, 200000},
    {"pool_apply_async_rtt_mpi", BENCH_NS_PER_OP, pool_apply_async_rtt_mpi, 10000},
};

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank = 0, size = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    BENCH_CHECK(size == POOL_WORKERS + 1, "run by mpiexec -n %d", POOL_WORKERS + 1);
    int code = 0;
    if (rank == 0) {
        code = BENCH_MAIN(argc, argv, modes);
        for (int r = 1; r < size; r++)
            MPI_Send(NULL, 0, MPI_INT64_T, r, STOP, MPI_COMM_WORLD);
    } else {
        serve();
    }
    MPI_Finalize();
    return code;
}
