/* queue_faults_common.c: the helpers declared in queue_faults_common.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
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
#include "queue_faults_common.h"

uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

double uniform(double lo, double hi)
{
    static uint64_t state = 0;
    if (state == 0)
        state = mix((uint64_t)getpid() ^ (uint64_t)(now() * 1e9)) | 1;
    state = mix(state + 0x9E3779B97F4A7C15ull);
    return lo + (hi - lo) * (double)(state >> 11) / (double)(1ull << 53);
}

uint8_t *ref_pattern[4]; /* made before any fork: children share them */

void make_refs(void)
{
    for (unsigned p = 0; p < 4; p++) {
        if (ref_pattern[p])
            continue;
        ref_pattern[p] = malloc(REF_MAX);
        CHECK(ref_pattern[p] != NULL);
        fill_pattern(ref_pattern[p], REF_MAX, 0xC0FFEE + p);
    }
}

void free_refs(void)
{
    for (unsigned p = 0; p < 4; p++) {
        free(ref_pattern[p]);
        ref_pattern[p] = NULL;
    }
}
