/*
 * ex_pool_mpi.c: the same pool program on one machine or over MPI, by one option.
 *
 * Started by mpiexec, its workers are the other MPI ranks (on as many hosts as mpiexec
 * was given); started alone, they are worker processes of this machine:
 *
 *     mpiexec -n 4 ./ex_pool_mpi     # rank 0 runs main, ranks 1-3 run the tasks
 *     ./ex_pool_mpi                  # 3 worker processes
 *
 * What MPI asks of the program, and nothing else changes:
 *
 *   - pc_freeze_support(argc, argv) first in main: under mpiexec, every rank but 0
 *     serves the pools from there and never returns (rank 0 returns and runs main);
 *   - task functions and the initializer are functions of the program (found again in
 *     each rank by module and offset), and their arguments and results are bytes, which
 *     they are anyway; the initializer's argument is given with its length;
 *   - map_array's inputs, outputs and context cross in messages, chunk by chunk.
 *
 * It computes the primes below LIMIT with apply_async, map, imap_unordered and map_array,
 * checks every answer against a sieve run here, and prints where the tasks ran.
 *
 * Build: cc ex_pool_mpi.c -lprocessing   (the MPI back end is a plugin of the library:
 * the program links no MPI)
 */
#include <processing.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LIMIT 200000
#define BLOCKS 50 /* the range [0, LIMIT) in blocks of LIMIT / BLOCKS */
#define WAIT 30.0

static int32_t block_size; /* set by the initializer, in each worker */

static void init_block_size(void *arg)
{
    memcpy(&block_size, arg, sizeof block_size);
}

static int is_prime(int64_t n)
{
    if (n < 2)
        return 0;
    for (int64_t d = 2; d * d <= n; d++)
        if (n % d == 0)
            return 0;
    return 1;
}

/* A task: the number of primes in block `arg` (an int32), as an int64. */
static int count_block(const void *arg, size_t len, pc_buffer *result)
{
    int32_t block;
    if (len != sizeof block)
        return 1;
    memcpy(&block, arg, sizeof block);
    int64_t count = 0;
    for (int64_t n = (int64_t)block * block_size; n < (int64_t)(block + 1) * block_size; n++)
        count += is_prime(n);
    return pc_buffer_write(result, &count, sizeof count) != PC_OK;
}

/* A task: the host and process it runs in. */
static int where(const void *arg, size_t len, pc_buffer *result)
{
    (void)arg;
    (void)len;
    char text[300];
    char host[256] = "?";
    gethostname(host, sizeof host - 1);
    int n = snprintf(text, sizeof text, "%s:%d", host, (int)getpid());
    return pc_buffer_write(result, text, (size_t)n) != PC_OK;
}

/* An element function of map_array: out = is_prime(in), over int64s. */
static int prime_flag(const void *in, void *out, const void *ctx)
{
    (void)ctx;
    *(int64_t *)out = is_prime(*(const int64_t *)in);
    return 0;
}

static int fail(const char *what, pc_status status)
{
    fprintf(stderr, "%s: %s (%s)\n", what, pc_status_str(status), pc_last_error());
    return 1;
}

#define TRY(call)                                                                            \
    do {                                                                                     \
        pc_status try_status_ = (call);                                                      \
        if (try_status_ != PC_OK)                                                            \
            return fail(#call, try_status_);                                                 \
    } while (0)

static int64_t get_i64(pc_bytes b)
{
    int64_t v = -1;
    if (b.len == sizeof v)
        memcpy(&v, b.data, sizeof v);
    return v;
}

int main(int argc, char **argv)
{
    pc_freeze_support(argc, argv);

    /* The one option: MPI ranks when mpiexec started us with some, else processes. */
    size_t ranks = 0;
    int32_t size = LIMIT / BLOCKS;
    pc_pool_options opts = {.initializer = init_block_size, .initarg = &size,
                            .initarg_len = sizeof size};
    if (pc_mpi_worker_ranks(&ranks) == PC_OK) {
        opts.backend = PC_POOL_MPI;
        printf("workers: the %zu other MPI ranks\n", ranks);
    } else {
        opts.processes = 3;
        printf("workers: 3 processes (started alone: %s)\n", pc_last_error());
    }
    pc_pool *pool = NULL;
    TRY(pc_pool_new(&opts, &pool));

    /* The answer, here. */
    char *composite = calloc(LIMIT, 1);
    if (!composite)
        return fail("calloc", PC_ERR_NO_MEMORY);
    int64_t want[BLOCKS] = {0}, total = 0;
    for (int64_t n = 2; n < LIMIT; n++) {
        if (composite[n])
            continue;
        want[n / size]++;
        total++;
        for (int64_t m = n * n; m < LIMIT; m += n)
            composite[m] = 1;
    }

    /* apply_async: one block. */
    int32_t blocks[BLOCKS];
    pc_slice items[BLOCKS];
    for (int32_t b = 0; b < BLOCKS; b++) {
        blocks[b] = b;
        items[b] = (pc_slice){&blocks[b], sizeof blocks[b]};
    }
    pc_async_result *r = NULL;
    pc_bytes one = {0};
    TRY(pc_pool_apply_async(pool, count_block, &blocks[7], sizeof blocks[7], NULL, NULL, &r));
    TRY(pc_async_result_get(r, WAIT, &one, 1));
    int ok = get_i64(one) == want[7];
    pc_bytes_free(&one);
    pc_async_result_free(r);

    /* map: every block, in order. */
    pc_bytes counts[BLOCKS];
    TRY(pc_pool_map(pool, count_block, items, BLOCKS, 1, counts));
    int64_t sum = 0;
    for (int b = 0; b < BLOCKS; b++) {
        ok &= get_i64(counts[b]) == want[b];
        sum += get_i64(counts[b]);
        pc_bytes_free(&counts[b]);
    }
    printf("map: %lld primes below %d\n", (long long)sum, LIMIT);

    /* imap_unordered: the same, as they come. */
    pc_iter *it = NULL;
    TRY(pc_pool_imap_unordered(pool, count_block, items, BLOCKS, 2, &it));
    int64_t unordered = 0;
    for (int b = 0; b < BLOCKS; b++) {
        TRY(pc_iter_next(it, WAIT, &one));
        unordered += get_i64(one);
        pc_bytes_free(&one);
    }
    pc_iter_free(it);
    ok &= unordered == total && sum == total;

    /* map_array: one flag per number, the numbers and flags crossing chunk by chunk. */
    int64_t *numbers = malloc(LIMIT * sizeof *numbers), *flags = malloc(LIMIT * sizeof *flags);
    if (!numbers || !flags)
        return fail("malloc", PC_ERR_NO_MEMORY);
    for (int64_t n = 0; n < LIMIT; n++)
        numbers[n] = n;
    TRY(pc_pool_map_array(pool, prime_flag, NULL, 0, numbers, sizeof *numbers, flags,
                          sizeof *flags, LIMIT, 0));
    int64_t flagged = 0;
    for (int64_t n = 0; n < LIMIT; n++) {
        flagged += flags[n];
        ok &= flags[n] == (n >= 2 && !composite[n]);
    }
    printf("map_array: %lld numbers flagged prime\n", (long long)flagged);

    /* Where the tasks ran. */
    pc_slice nothing[6] = {{NULL, 0}, {NULL, 0}, {NULL, 0}, {NULL, 0}, {NULL, 0}, {NULL, 0}};
    pc_bytes places[6];
    TRY(pc_pool_map(pool, where, nothing, 6, 1, places));
    printf("tasks ran in:");
    for (int i = 0; i < 6; i++) {
        printf(" %.*s", (int)places[i].len, (const char *)places[i].data);
        pc_bytes_free(&places[i]);
    }
    printf(" (this is %d)\n", (int)getpid());

    TRY(pc_pool_close(pool));
    TRY(pc_pool_join(pool));
    pc_pool_free(pool);
    free(numbers);
    free(flags);
    free(composite);
    printf(ok ? "all results checked\n" : "WRONG RESULTS\n");
    return ok ? 0 : 1;
}
