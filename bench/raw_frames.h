/*
 * raw_frames.h: the library's framing written by hand on a blocking socket, for the
 * floors that send messages (raw_connection.c, raw_manager.c): a 4-byte big-endian
 * length, then the body. A message leaves with one writev (header and body together); a
 * receive reads the 4-byte header, then the body, each with read() until complete.
 * libc only.
 *
 * A failure ends the program: a child must _exit, the parent may exit, so the including
 * program sets `in_child` in its forked children.
 */
#ifndef RAW_FRAMES_H
#define RAW_FRAMES_H

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bench_common.h"

/* Which side's check fails: the child must _exit, the parent may exit. */
static int in_child;

#define CHECK(cond, ...)                          \
    do {                                          \
        if (in_child)                             \
            BENCH_CHILD_CHECK(cond, __VA_ARGS__); \
        else                                      \
            BENCH_CHECK(cond, __VA_ARGS__);       \
    } while (0)

/* Sends one message: header and body in one writev (resumed if the kernel takes less). */
static void send_msg(int fd, const void *body, uint32_t len)
{
    uint8_t hdr[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
                      (uint8_t)len};
    struct iovec iov[2] = {{hdr, 4}, {(void *)body, len}};
    struct iovec *v = iov;
    int n = 2;
    while (n > 0) {
        ssize_t w = writev(fd, v, n);
        if (w < 0 && errno == EINTR)
            continue;
        CHECK(w > 0, "writev: %s", w < 0 ? strerror(errno) : "wrote nothing");
        while (n > 0 && (size_t)w >= v->iov_len) {
            w -= (ssize_t)v->iov_len;
            v++;
            n--;
        }
        if (n > 0) {
            v->iov_base = (uint8_t *)v->iov_base + w;
            v->iov_len -= (size_t)w;
        }
    }
}

static void read_exact(int fd, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t r = read(fd, (uint8_t *)buf + got, len - got);
        if (r < 0 && errno == EINTR)
            continue;
        CHECK(r > 0, "read: %s", r < 0 ? strerror(errno) : "EOF");
        got += (size_t)r;
    }
}

/* Receives one message into buf (at most cap bytes); returns its length. */
static size_t recv_msg(int fd, void *buf, size_t cap)
{
    uint8_t hdr[4];
    read_exact(fd, hdr, 4);
    size_t len = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
    CHECK(len <= cap, "a message of %zu bytes", len);
    read_exact(fd, buf, len);
    return len;
}

#endif /* RAW_FRAMES_H */
