/* queue_common.h: message and timing helpers of test_queue_{args,api,lifecycle,concurrency}.c. */
#ifndef QUEUE_COMMON_H
#define QUEUE_COMMON_H

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
#include <sys/wait.h>
#include <unistd.h>

#define KIB ((size_t)1 << 10)

#define MIB ((size_t)1 << 20)

/* ---- helpers ---- */
void put_str(pc_queue *q, const char *s);

void get_str(pc_queue *q, const char *s);

/* A message of `len` bytes of fill_pattern(seed). */
void put_pattern(pc_queue *q, size_t len, unsigned seed, double timeout);

void get_pattern(pc_queue *q, size_t len, unsigned seed, double timeout);

double elapsed_since(double t0);

/* A timed wait that cannot succeed: not before `timeout`, not much after. */
void check_waited(double t0, double timeout, const char *what);

/* ---- maxsize ---- */
struct child_get {
    pc_queue *q;
    double delay;   /* before the get */
    double timeout; /* of the get */
    const char *want;
    atomic_int *started;
    double *got_at; /* shared memory: when the get returned */
};

/* Waits `delay`, then gets one message and checks it is `want`. */
int target_get_one(void *arg);

/* ---- sizes ---- */
static const size_t boundary_sizes[] = {
    0, 1, 7, 8, 9, 4095, 4096, 4097, 65536,
    256 * KIB - 9, 256 * KIB - 8, 256 * KIB - 1, 256 * KIB, 256 * KIB + 1, 256 * KIB + 8,
    512 * KIB, MIB - 16, MIB - 9, MIB - 8, MIB - 1, MIB, MIB + 1, 2 * MIB + 3, 16 * MIB,
};

#define N_BOUNDARY (sizeof boundary_sizes / sizeof boundary_sizes[0])

#endif
