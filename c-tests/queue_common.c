/* queue_common.c: the helpers declared in queue_common.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
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
#include "queue_common.h"

void put_str(pc_queue *q, const char *s)
{
    CHECK_OK(pc_queue_put(q, s, strlen(s), 0));
}

void get_str(pc_queue *q, const char *s)
{
    pc_bytes m = {NULL, 0};
    CHECK_OK(pc_queue_get(q, 0, &m));
    tu_checks++;
    if (m.len != strlen(s) || (m.len > 0 && memcmp(m.data, s, m.len) != 0))
        FAIL("got \"%.*s\" (%zu bytes), expected \"%s\"", (int)(m.len < 60 ? m.len : 60),
             m.data ? (const char *)m.data : "", m.len, s);
    pc_bytes_free(&m);
}

void put_pattern(pc_queue *q, size_t len, unsigned seed, double timeout)
{
    uint8_t *buf = malloc(len ? len : 1);
    CHECK(buf != NULL);
    fill_pattern(buf, len, seed);
    CHECK_OK(pc_queue_put(q, buf, len, timeout));
    free(buf);
}

void get_pattern(pc_queue *q, size_t len, unsigned seed, double timeout)
{
    pc_bytes m = {NULL, 0};
    CHECK_OK(pc_queue_get(q, timeout, &m));
    tu_checks++;
    if (m.len != len)
        FAIL("got %zu bytes, expected %zu (pattern %u)", m.len, len, seed);
    size_t at = len ? pattern_mismatch(m.data, len, seed) : 0;
    if (at != len)
        FAIL("a %zu-byte message differs from pattern %u at byte %zu", len, seed, at);
    pc_bytes_free(&m);
}

double elapsed_since(double t0)
{
    return now() - t0;
}

void check_waited(double t0, double timeout, const char *what)
{
    double took = elapsed_since(t0);
    if (took < timeout - 0.0005 || took > timeout + 2.0)
        FAIL("%s(timeout %.3f) returned after %.3f s", what, timeout, took);
}

int target_get_one(void *arg)
{
    const struct child_get *a = arg;
    if (a->started)
        atomic_store(a->started, 1);
    sleep_s(a->delay);
    pc_bytes m = {NULL, 0};
    int st = pc_queue_get(a->q, a->timeout, &m);
    if (a->got_at)
        *a->got_at = now();
    if (st != PC_OK)
        return 1;
    bool same = m.len == strlen(a->want) && memcmp(m.data, a->want, m.len) == 0;
    pc_bytes_free(&m);
    return same ? 0 : 2;
}
