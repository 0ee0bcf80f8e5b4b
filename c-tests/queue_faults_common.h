/* queue_faults_common.h: stamped messages of random sizes for the test_queue_faults_*.c tests. */
#ifndef QUEUE_FAULTS_COMMON_H
#define QUEUE_FAULTS_COMMON_H

#include "testutil.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define KIB ((size_t)1 << 10)

#define MIB ((size_t)1 << 20)

/* ---- helpers ---- */
uint64_t mix(uint64_t x);

/* A uniform random number in [lo, hi] (tests pick their kill moments with it). */
double uniform(double lo, double hi);

#define REF_MAX (8 * MIB + 64 * KIB)

extern uint8_t *ref_pattern[4];

void make_refs(void);

void free_refs(void);

#endif
