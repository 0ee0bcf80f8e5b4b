/*
 * bench_messages.h: the messages of the Pipe workloads, shared by bench_connection.c
 * (libprocessing) and raw_connection.c (the socketpair floor), so both move exactly the
 * same bytes and check them the same way. libc only.
 */
#ifndef BENCH_MESSAGES_H
#define BENCH_MESSAGES_H

#include <stdint.h>
#include <string.h>

#include "bench_common.h"

#define PINGPONG_SIZE 64
#define THROUGHPUT_SIZE (1024 * 1024)
#define STAMP_EVERY (64 * 1024)

static inline void put_i64(uint8_t *at, int64_t v)
{
    memcpy(at, &v, sizeof v);
}

static inline int64_t get_i64(const uint8_t *at)
{
    int64_t v;
    memcpy(&v, at, sizeof v);
    return v;
}

/* Writes message number `seq` into a throughput message's stamps. */
static inline void stamp(uint8_t *buf, int64_t seq)
{
    for (size_t at = 0; at < THROUGHPUT_SIZE; at += STAMP_EVERY)
        put_i64(buf + at, seq);
    put_i64(buf + THROUGHPUT_SIZE - 8, seq);
}

/* Checks that a received throughput message is message number `seq`. */
static inline void check_stamps(const uint8_t *buf, size_t len, int64_t seq)
{
    BENCH_CHECK(len == THROUGHPUT_SIZE, "message %lld: %zu bytes", (long long)seq, len);
    for (size_t at = 0; at < THROUGHPUT_SIZE; at += STAMP_EVERY)
        BENCH_CHECK(get_i64(buf + at) == seq, "message %lld: byte %zu says %lld",
                    (long long)seq, at, (long long)get_i64(buf + at));
    BENCH_CHECK(get_i64(buf + THROUGHPUT_SIZE - 8) == seq, "message %lld: wrong tail",
                (long long)seq);
}

#endif /* BENCH_MESSAGES_H */
