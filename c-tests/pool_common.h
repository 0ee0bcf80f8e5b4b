/* pool_common.h: tasks, shared memory and helpers of the test_pool_*.c tests. */
#ifndef POOL_COMMON_H
#define POOL_COMMON_H

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
#include <sys/resource.h>
#include <unistd.h>

/* ---- memory shared with the workers (made before any pool) ---- */
#define PID_SLOTS 64

struct shared {
    atomic_int init_calls;       /* initializer runs */
    atomic_int ran;              /* side effects of tasks */
    atomic_int started;          /* tasks that started */
    atomic_int pids[PID_SLOTS];  /* pids noted by tasks */
};

extern struct shared *S;

/* The ctx of elem_double (map_array copies it for each call). */
struct array_ctx {
    double factor;
    double offset;
};

extern struct array_ctx array_ctx;

/* ---- tasks (run in the workers: no CHECK) ---- */

/* Writes its argument back. */
int task_echo(const void *arg, size_t len, pc_buffer *result);

/* Argument: an int64; result: its square. 13 fails with code 13 after writing
 * "unlucky 13"; every other item counts itself in S->ran. */
int task_square(const void *arg, size_t len, pc_buffer *result);

struct sleep_arg {
    double seconds;
    int slot;    /* S->pids slot for its pid, or -1 */
    int32_t value;
};

/* Notes its pid, sleeps, then writes its value. */
int task_sleep(const void *arg, size_t len, pc_buffer *result);

/* Fails with the code in its argument after writing "boom-<code>". */
int task_fail(const void *arg, size_t len, pc_buffer *result);

/* ---- map_array element functions ---- */
int elem_double(const void *in, void *out, const void *ctx);

/* ---- helpers ---- */
pc_pool *new_pool(size_t processes);

struct sleep_arg sleep_arg(double seconds, int slot, int32_t value);

/* Checks pc_pool_apply on `p`: task_echo of "hello", then of 3 MiB of a pattern, then
 * task_square of 7. */
void check_apply(pc_pool *p);

int32_t bytes_i32(const pc_bytes *b);

int64_t bytes_i64(const pc_bytes *b);

/* Items of the map tests: every fifth one empty, the others hold their index and a
 * pattern, of varying sizes (up to ~600 bytes). */
struct items {
    size_t n;
    pc_slice *s;
    uint8_t **buf;
};

void free_results(pc_bytes *res, size_t n);

/* Records what a callback got: calls, thread, pid, status, a copy of its results and
 * pc_last_error() on that thread. */
struct cb_rec {
    atomic_int calls;
    pthread_t thread;
    pid_t pid;
    int status;
    size_t count;
    pc_bytes *copies;
    char err[512];
};

void cb_record(void *ctx, pc_status status, const pc_bytes *results, size_t count);

void cb_rec_free(struct cb_rec *r);

/* Waits for exactly one call (and checks that no second one comes soon after). */
void cb_wait_once(struct cb_rec *r, const char *what);

#endif
