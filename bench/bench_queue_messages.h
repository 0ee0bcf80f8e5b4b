/*
 * bench_queue_messages.h: the messages of the Queue workloads, shared by bench_queue.c
 * (libprocessing) and raw_queue.c (the floors, and the Boost peer built from it), so that
 * all move the same bytes and check them the same way. libc only.
 *
 * A message of `size` bytes (QUEUE_SMALL or QUEUE_LARGE) is a fixed pattern with three
 * stamps: its sequence number (per producer) in bytes 0-7, its producer's number in bytes
 * 8-15, and the sequence number again in its last 8 bytes, so a torn or mixed-up message
 * shows. The 2 → 2 workloads end with one stop message per producer (sequence number
 * QUEUE_STOP): each consumer takes messages until it gets one, tallying the rest
 * (queue_tally), and writes its tally to shared memory (queue_result) for the parent.
 */
#ifndef BENCH_QUEUE_MESSAGES_H
#define BENCH_QUEUE_MESSAGES_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "bench_messages.h" /* put_i64, get_i64 */

#define QUEUE_SMALL 64
#define QUEUE_LARGE (64 * 1024)
#define QUEUE_STOP INT64_C(-1)
/* Producers and consumers of the 2 → 2 workloads. */
#define QUEUE_PAIRS 2

/* The pattern every message starts from (written once per buffer). */
static inline void queue_msg_init(uint8_t *buf, size_t size)
{
    for (size_t k = 0; k < size; k++)
        buf[k] = (uint8_t)(k * 7 + 1);
}

/* Makes `buf` message number `seq` of producer `producer`. */
static inline void queue_msg_stamp(uint8_t *buf, size_t size, int64_t producer, int64_t seq)
{
    put_i64(buf, seq);
    put_i64(buf + 8, producer);
    put_i64(buf + size - 8, seq);
}

/* Reads a received message's stamps; false if it is not a well-formed message of `size`
 * bytes (wrong length, a tail that disagrees with the head, an unknown producer). */
static inline bool queue_msg_parse(const uint8_t *buf, size_t len, size_t size,
                                   int64_t *producer, int64_t *seq)
{
    if (len != size)
        return false;
    *seq = get_i64(buf);
    *producer = get_i64(buf + 8);
    return get_i64(buf + size - 8) == *seq && *producer >= 0 && *producer < QUEUE_PAIRS;
}

/* What one consumer of a 2 → 2 run took, before the stop message. */
typedef struct {
    int64_t count, sum;
    int64_t last[QUEUE_PAIRS]; /* the last sequence number seen from each producer */
} queue_tally;

static inline void queue_tally_init(queue_tally *t)
{
    memset(t, 0, sizeof *t);
    for (int p = 0; p < QUEUE_PAIRS; p++)
        t->last[p] = -1;
}

/* Counts a message; false if it does not come after the last one from its producer
 * (each producer's messages must arrive in order, to whichever consumer). */
static inline bool queue_tally_add(queue_tally *t, int64_t producer, int64_t seq)
{
    if (seq <= t->last[producer])
        return false;
    t->last[producer] = seq;
    t->count++;
    t->sum += seq;
    return true;
}

/* A consumer's report, in shared memory: three int64 (a RawArray 'q' works). */
typedef struct {
    int64_t count, sum; /* from its tally */
    int64_t end_ns;     /* bench_now_ns() when it got its stop message */
} queue_result;

/* Checks the reports of QUEUE_PAIRS consumers after QUEUE_PAIRS producers each put
 * `per_producer` messages (numbered from 0): every message arrived, and only once (the
 * counts and the sums of sequence numbers add up). Returns the last end time, or -1. */
static inline int64_t queue_results_check(const queue_result *r, int64_t per_producer)
{
    int64_t count = 0, sum = 0, end = 0;
    for (int c = 0; c < QUEUE_PAIRS; c++) {
        count += r[c].count;
        sum += r[c].sum;
        end = r[c].end_ns > end ? r[c].end_ns : end;
    }
    bool all = count == QUEUE_PAIRS * per_producer &&
               sum == QUEUE_PAIRS * (per_producer * (per_producer - 1) / 2);
    return all ? end : -1;
}

#endif /* BENCH_QUEUE_MESSAGES_H */
