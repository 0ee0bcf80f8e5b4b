/*
 * test_pipe.c: pc_pipe and pc_connection_* (include/processing.h) between threads and processes:
 * message boundaries (empty messages too), order, both directions at once, one-way
 * misuse, EOF (a closed, exited or killed peer; never SIGPIPE), recv_bytes_into (a
 * too-short buffer keeps the message; offsets), maxlength, a 16 MiB round trip through a
 * child, close and fileno.
 *
 * Waiting (poll, pc_connection_set_timeout, pc_wait, pc_wait_any, pc_interrupt) and
 * several threads at once are in test_pipe_wait.c; frames from a raw peer, bad arguments
 * and "nothing left behind" in test_pipe_frames.c; listeners and clients in
 * test_listener*.c; Python peers in test_connection_interop.c.
 *
 * ctest-timeout: 120
 */
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
#include <unistd.h>

/* ---- child targets (no CHECK in them: they report through exit codes) ---- */

struct ends {
    pc_connection *mine;  /* the end the child uses */
    pc_connection *other; /* the parent's end: the child closes its copy */
    int n;
};

/* Receives messages and sends each back until EOF. */
static int target_echo(void *arg)
{
    const struct ends *e = arg;
    pc_connection_close(e->other);
    for (;;) {
        pc_bytes m = {NULL, 0};
        int st = pc_connection_recv_bytes(e->mine, 0, &m);
        if (st == PC_ERR_EOF)
            return 0;
        if (st != PC_OK)
            return 1;
        st = pc_connection_send_bytes(e->mine, m.data, m.len);
        pc_bytes_free(&m);
        if (st != PC_OK)
            return 2;
    }
}

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* Receives one message, sends back its FNV-1a checksum, then the message itself. */
static int target_checksum(void *arg)
{
    const struct ends *e = arg;
    pc_connection_close(e->other);
    pc_bytes m = {NULL, 0};
    if (pc_connection_recv_bytes(e->mine, 0, &m) != PC_OK)
        return 1;
    uint64_t sum = fnv1a(m.data, m.len);
    if (pc_connection_send_bytes(e->mine, &sum, sizeof sum) != PC_OK)
        return 2;
    if (pc_connection_send_bytes(e->mine, m.data, m.len) != PC_OK)
        return 3;
    pc_bytes_free(&m);
    return 0;
}

/* Sends n messages: message i holds i (4 bytes) and i % 50 bytes of pattern i. */
static int target_send_seq(void *arg)
{
    const struct ends *e = arg;
    pc_connection_close(e->other);
    uint8_t buf[64];
    for (int i = 0; i < e->n; i++) {
        memcpy(buf, &i, 4);
        fill_pattern(buf + 4, (size_t)(i % 50), (unsigned)i);
        if (pc_connection_send_bytes(e->mine, buf, 4 + (size_t)(i % 50)) != PC_OK)
            return 1;
    }
    return 0;
}

/* Receives n messages sent as target_send_seq sends them, checking each, then EOF. */
static int target_recv_seq(void *arg)
{
    const struct ends *e = arg;
    pc_connection_close(e->other);
    for (int i = 0; i < e->n; i++) {
        pc_bytes m = {NULL, 0};
        if (pc_connection_recv_bytes(e->mine, 0, &m) != PC_OK)
            return 1;
        int seq = -1;
        if (m.len >= 4)
            memcpy(&seq, m.data, 4);
        if (seq != i || m.len != 4 + (size_t)(i % 50) ||
            pattern_mismatch(m.data + 4, m.len - 4, (unsigned)i) != m.len - 4)
            return 2;
        pc_bytes_free(&m);
    }
    pc_bytes m = {NULL, 0};
    return pc_connection_recv_bytes(e->mine, 0, &m) == PC_ERR_EOF ? 0 : 3;
}

/* Both sides send n messages before either receives; then receives the parent's n. */
static int target_send_then_recv(void *arg)
{
    const struct ends *e = arg;
    pc_connection_close(e->other);
    char buf[64];
    for (int i = 0; i < e->n; i++) {
        int len = snprintf(buf, sizeof buf, "from the child %d", i);
        if (pc_connection_send_bytes(e->mine, buf, (size_t)len) != PC_OK)
            return 1;
    }
    for (int i = 0; i < e->n; i++) {
        pc_bytes m = {NULL, 0};
        if (pc_connection_recv_bytes(e->mine, 0, &m) != PC_OK)
            return 2;
        int len = snprintf(buf, sizeof buf, "from the parent %d", i);
        if (m.len != (size_t)len || memcmp(m.data, buf, m.len) != 0)
            return 3;
        pc_bytes_free(&m);
    }
    return 0;
}

/* Says "ready", then sleeps until killed. */
static int target_ready_then_sleep(void *arg)
{
    const struct ends *e = arg;
    pc_connection_close(e->other);
    if (pc_connection_send_bytes(e->mine, "ready", 5) != PC_OK)
        return 1;
    sleep_s(20.0);
    return 2;
}

/* Starts `fn` with the child using `mine`, and closes this process's copy of `mine`. */
static pc_process *start_with(pc_target_fn fn, struct ends *e)
{
    pc_process *p = start(fn, e);
    CHECK_OK(pc_connection_close(e->mine));
    return p;
}

/* ---- message boundaries, order, directions ---- */

static void test_message_boundaries(void)
{
    pc_connection *a, *b;
    new_pipe(true, &a, &b);
    /* Sent before any is received: the bytes pile up in the socket, the boundaries stay. */
    const char *msgs[] = {"abc", "", "x", "", "", "hello, world", "", "12345678"};
    const int n = (int)(sizeof msgs / sizeof msgs[0]);
    for (int i = 0; i < n; i++) {
        size_t len = strlen(msgs[i]);
        CHECK_OK(pc_connection_send_bytes(a, len ? msgs[i] : NULL, len)); /* (NULL, 0) */
    }
    CHECK_OK(pc_connection_send_bytes(a, "not sent", 0)); /* a pointer with length 0 */
    for (int i = 0; i < n; i++) {
        pc_bytes m = {(uint8_t *)1, 99};
        CHECK_OK(pc_connection_recv_bytes(b, 0, &m));
        CHECK(m.len == strlen(msgs[i]));
        CHECK(m.len == 0 || memcmp(m.data, msgs[i], m.len) == 0);
        pc_bytes_free(&m);
        CHECK(m.data == NULL && m.len == 0);
    }
    size_t len = 99;
    CHECK_OK(pc_connection_recv_bytes_into(b, NULL, 0, 0, &len)); /* the last, empty one */
    CHECK(len == 0);
    CHECK_STATUS(pc_connection_poll(b, 0), PC_ERR_TIMEOUT);

    /* Sizes around the 16 KiB single-write limit and past the socket's buffer, from a
     * child (so the sender blocks while this side reads), in both directions. */
    const size_t sizes[] = {0, 1, 16379, 16380, 16383, 16384, 16385, 65536, 300000, 1 << 20, 0};
    pc_process *p = start_with(target_echo, &(struct ends){.mine = b, .other = a});
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        void *buf = malloc(sizes[i] + 1);
        CHECK(buf != NULL);
        fill_pattern(buf, sizes[i], (unsigned)i);
        CHECK_OK(pc_connection_send_bytes(a, buf, sizes[i]));
        recv_pattern(a, sizes[i], (unsigned)i);
        free(buf);
    }
    CHECK_OK(pc_connection_close(a));
    CHECK(finish(p, 10.0) == 0);
    free_pipe(a, b);
}

static void test_many_in_order(void)
{
    const int n = 20000;
    /* Child to parent, on a duplex pipe. */
    pc_connection *a, *b;
    new_pipe(true, &a, &b);
    pc_process *p = start_with(target_send_seq, &(struct ends){.mine = b, .other = a, .n = n});
    for (int i = 0; i < n; i++) {
        pc_bytes m = {NULL, 0};
        CHECK_OK(pc_connection_recv_bytes(a, 0, &m));
        int seq = -1;
        memcpy(&seq, m.data, 4);
        if (seq != i || m.len != 4 + (size_t)(i % 50) ||
            pattern_mismatch(m.data + 4, m.len - 4, (unsigned)i) != m.len - 4)
            FAIL("message %d: seq %d, %zu bytes", i, seq, m.len);
        pc_bytes_free(&m);
    }
    tu_checks++;
    pc_bytes m = {NULL, 0};
    CHECK_STATUS(pc_connection_recv_bytes(a, 0, &m), PC_ERR_EOF);
    CHECK(finish(p, 30.0) == 0);
    free_pipe(a, b);

    /* Parent to child, on a one-way pipe (r receives, w sends). */
    pc_connection *r, *w;
    new_pipe(false, &r, &w);
    p = start_with(target_recv_seq, &(struct ends){.mine = r, .other = w, .n = n});
    uint8_t buf[64];
    for (int i = 0; i < n; i++) {
        memcpy(buf, &i, 4);
        fill_pattern(buf + 4, (size_t)(i % 50), (unsigned)i);
        CHECK_OK(pc_connection_send_bytes(w, buf, 4 + (size_t)(i % 50)));
    }
    CHECK_OK(pc_connection_close(w));
    CHECK(finish(p, 30.0) == 0);
    free_pipe(r, w);
}

static void test_duplex(void)
{
    const int n = 200;
    pc_connection *a, *b;
    new_pipe(true, &a, &b);
    pc_process *p = start_with(target_send_then_recv, &(struct ends){.mine = b, .other = a, .n = n});
    char buf[64];
    for (int i = 0; i < n; i++) {
        int len = snprintf(buf, sizeof buf, "from the parent %d", i);
        CHECK_OK(pc_connection_send_bytes(a, buf, (size_t)len));
    }
    for (int i = 0; i < n; i++) {
        int len = snprintf(buf, sizeof buf, "from the child %d", i);
        recv_expect(a, buf, (size_t)len);
    }
    CHECK(finish(p, 10.0) == 0);
    free_pipe(a, b);

    /* In one process: each end sends and receives. */
    new_pipe(true, &a, &b);
    CHECK(pc_connection_readable(a) && pc_connection_writable(a));
    CHECK(pc_connection_readable(b) && pc_connection_writable(b));
    send_str(a, "a->b");
    send_str(b, "b->a");
    recv_str(a, "b->a");
    recv_str(b, "a->b");
    free_pipe(a, b);
}

/* CPython: test_duplex_false, test_connection (readable, writable) */
static void test_one_way(void)
{
    pc_connection *r, *w;
    new_pipe(false, &r, &w);
    CHECK(pc_connection_readable(r) && !pc_connection_writable(r));
    CHECK(!pc_connection_readable(w) && pc_connection_writable(w));
    /* Misuse: refused, and nothing happens to the pipe. */
    CHECK_STATUS(pc_connection_send_bytes(r, "x", 1), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_connection_send_bytes");
    CHECK_ERRMSG("only receives");
    CHECK_STATUS(pc_connection_send_bytes(r, NULL, 0), PC_ERR_INVALID_ARGUMENT);
    pc_bytes m = {NULL, 0};
    CHECK_STATUS(pc_connection_recv_bytes(w, 0, &m), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_connection_recv_bytes");
    CHECK_ERRMSG("only sends");
    CHECK(m.data == NULL && m.len == 0);
    char buf[16];
    size_t len = 12345;
    CHECK_STATUS(pc_connection_recv_bytes_into(w, buf, sizeof buf, 0, &len),
                 PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("only sends");
    CHECK(len == 12345);
    CHECK_STATUS(pc_connection_poll(w, 0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_connection_poll");
    bool ready[2] = {false, false};
    pc_connection *both[2] = {r, w};
    CHECK_STATUS(pc_wait(both, 2, 0, ready), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_wait");
    pc_waitable items[1] = {{.conn = w, .fd = -1, .ready = false}};
    CHECK_STATUS(pc_wait_any(items, 1, 0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_wait_any");

    /* The right way round works, with a poll on the receiving end. */
    CHECK_STATUS(pc_connection_poll(r, 0), PC_ERR_TIMEOUT);
    send_str(w, "one way");
    CHECK_OK(pc_connection_poll(r, 0));
    recv_str(r, "one way");
    /* The read end closed: the write end's send is EOF. */
    CHECK_OK(pc_connection_close(r));
    CHECK_STATUS(pc_connection_send_bytes(w, "x", 1), PC_ERR_EOF);
    /* The direction is the end's, closed or not (as Python's properties). */
    CHECK(pc_connection_readable(r) && !pc_connection_writable(r));
    free_pipe(r, w);

    /* Across processes: the child writes, exits; the parent reads, then EOF. */
    new_pipe(false, &r, &w);
    pc_process *p = start_with(target_send_seq, &(struct ends){.mine = w, .other = r, .n = 3});
    for (int i = 0; i < 3; i++) {
        CHECK_OK(pc_connection_recv_bytes(r, 0, &m));
        CHECK(m.len == 4 + (size_t)i);
        pc_bytes_free(&m);
    }
    CHECK_STATUS(pc_connection_recv_bytes(r, 0, &m), PC_ERR_EOF);
    CHECK(finish(p, 10.0) == 0);
    free_pipe(r, w);
}

/* ---- EOF ---- */

static void test_eof(void)
{
    pc_connection *a, *b;
    new_pipe(true, &a, &b);
    send_str(b, "first");
    send_str(b, "");
    CHECK_OK(pc_connection_close(b));
    /* What was sent before the close is received, then EOF at the boundary (again and
     * again); the connection itself stays open. */
    recv_str(a, "first");
    recv_str(a, "");
    pc_bytes m = {NULL, 0};
    CHECK_STATUS(pc_connection_recv_bytes(a, 0, &m), PC_ERR_EOF);
    CHECK_ERRMSG("pc_connection_recv_bytes");
    CHECK_ERRMSG("closed");
    CHECK_STATUS(pc_connection_recv_bytes(a, 0, &m), PC_ERR_EOF);
    char buf[8];
    size_t len = 0;
    CHECK_STATUS(pc_connection_recv_bytes_into(a, buf, sizeof buf, 0, &len), PC_ERR_EOF);
    CHECK_OK(pc_connection_poll(a, 0));
    CHECK(pc_connection_fileno(a) >= 0);
    CHECK_STATUS(pc_connection_send_bytes(a, "x", 1), PC_ERR_EOF);
    CHECK_ERRMSG("pc_connection_send_bytes");
    CHECK_STATUS(pc_connection_send_bytes(a, NULL, 0), PC_ERR_EOF);
    free_pipe(a, b);

    /* Freeing the peer's handle closes it too. */
    new_pipe(true, &a, &b);
    pc_connection_free(b);
    CHECK_STATUS(pc_connection_recv_bytes(a, 0, &m), PC_ERR_EOF);
    pc_connection_free(a);

    /* A child that held the other end and exited. */
    new_pipe(true, &a, &b);
    pc_process *p = start_with(target_send_seq, &(struct ends){.mine = b, .other = a, .n = 1});
    CHECK(finish(p, 10.0) == 0);
    CHECK_OK(pc_connection_recv_bytes(a, 0, &m));
    pc_bytes_free(&m);
    CHECK_STATUS(pc_connection_recv_bytes(a, 0, &m), PC_ERR_EOF);
    CHECK_STATUS(pc_connection_send_bytes(a, "x", 1), PC_ERR_EOF);
    free_pipe(a, b);
}

/* The peer process is killed: EOF for receives and sends, never SIGPIPE (its default
 * action would end this test process). With `unread`, this side had sent a message the
 * peer never read (the kernel then reports ECONNRESET, which is still the peer's EOF). */
static void peer_killed(bool unread)
{
    fprintf(stderr, "   %s\n", unread ? "with a message it did not read" : "idle");
    pc_connection *a, *b;
    new_pipe(true, &a, &b);
    pc_process *p = start_with(target_ready_then_sleep, &(struct ends){.mine = b, .other = a});
    recv_str(a, "ready");
    if (unread)
        send_str(a, "never read");
    CHECK_OK(pc_process_kill(p));
    CHECK(finish(p, 10.0) == -SIGKILL);
    pc_bytes m = {NULL, 0};
    CHECK_STATUS(pc_connection_recv_bytes(a, 0, &m), PC_ERR_EOF);
    static char big[1 << 20];
    for (int i = 0; i < 3; i++) {
        CHECK_STATUS(pc_connection_send_bytes(a, "x", 1), PC_ERR_EOF);
        CHECK_STATUS(pc_connection_send_bytes(a, big, sizeof big), PC_ERR_EOF);
    }
    CHECK_STATUS(pc_connection_recv_bytes(a, 0, &m), PC_ERR_EOF);
    free_pipe(a, b);
}

static void test_peer_killed(void)
{
    signal(SIGPIPE, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    peer_killed(false);
}

/* A peer that closed or died while a message this side sent was still unread in its
 * socket: the kernel reports ECONNRESET rather than a plain end of file. It is still the
 * peer's EOF (include/processing.h: PC_ERR_EOF from pc_connection_recv_bytes at a message
 * boundary and from pc_connection_send_bytes). Last, as it may fail (see the report). */
static void test_peer_reset(void)
{
    peer_killed(true);

    /* Closed by a receive past maxlength: the refused body stays unread. */
    pc_connection *a, *b;
    new_pipe(true, &a, &b);
    CHECK_OK(pc_connection_send_bytes(a, "0123456789", 10));
    pc_bytes m = {NULL, 0};
    CHECK_STATUS(pc_connection_recv_bytes(b, 5, &m), PC_ERR_TOO_LARGE);
    CHECK_STATUS(pc_connection_recv_bytes(a, 0, &m), PC_ERR_EOF);
    CHECK_STATUS(pc_connection_send_bytes(a, "x", 1), PC_ERR_EOF);
    free_pipe(a, b);

    /* Closed with a message unread, in one process. */
    new_pipe(true, &a, &b);
    send_str(a, "unread");
    CHECK_OK(pc_connection_close(b));
    CHECK_STATUS(pc_connection_recv_bytes(a, 0, &m), PC_ERR_EOF);
    CHECK_STATUS(pc_connection_send_bytes(a, "x", 1), PC_ERR_EOF);
    free_pipe(a, b);
}

/* ---- recv_bytes_into ---- */

static void test_recv_into(void)
{
    pc_connection *a, *b;
    new_pipe(true, &a, &b);
    char buf[64];
    size_t len = 0;

    /* Too short: BUFFER_TOO_SHORT with the size, and the message stays, whole. */
    send_str(a, "hello world");
    send_str(a, "next");
    memset(buf, '#', sizeof buf);
    CHECK_STATUS(pc_connection_recv_bytes_into(b, buf, 5, 0, &len), PC_ERR_BUFFER_TOO_SHORT);
    CHECK(len == 11);
    CHECK_ERRMSG("pc_connection_recv_bytes_into");
    CHECK_ERRMSG("11 bytes");
    len = 0;
    CHECK_STATUS(pc_connection_recv_bytes_into(b, buf, 20, 10, &len), PC_ERR_BUFFER_TOO_SHORT);
    CHECK(len == 11);
    CHECK_STATUS(pc_connection_recv_bytes_into(b, buf, 10, 10, &len), PC_ERR_BUFFER_TOO_SHORT);
    CHECK(len == 11);
    /* The kept message counts as ready. */
    CHECK_OK(pc_connection_poll(b, 0));
    bool ready[1] = {false};
    CHECK_OK(pc_wait(&b, 1, 0, ready));
    CHECK(ready[0]);
    /* Exactly enough room at an offset: the bytes before it are untouched. */
    len = 0;
    CHECK_OK(pc_connection_recv_bytes_into(b, buf, 21, 10, &len));
    CHECK(len == 11);
    CHECK(memcmp(buf, "##########hello world", 21) == 0);
    CHECK(buf[21] == '#');
    recv_str(b, "next"); /* the order is kept */

    /* offset == cap is allowed: an empty message fits, a 1-byte one does not. */
    CHECK_OK(pc_connection_send_bytes(a, NULL, 0));
    len = 99;
    CHECK_OK(pc_connection_recv_bytes_into(b, buf, 16, 16, &len));
    CHECK(len == 0);
    send_str(a, "Z");
    CHECK_STATUS(pc_connection_recv_bytes_into(b, buf, 16, 16, &len), PC_ERR_BUFFER_TOO_SHORT);
    CHECK(len == 1);
    CHECK_STATUS(pc_connection_recv_bytes_into(b, NULL, 0, 0, &len), PC_ERR_BUFFER_TOO_SHORT);
    /* offset > cap: refused, and the kept message is still there. */
    len = 7;
    CHECK_STATUS(pc_connection_recv_bytes_into(b, buf, 16, 17, &len), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("offset");
    CHECK(len == 7);
    CHECK_STATUS(pc_connection_recv_bytes_into(b, buf, 0, SIZE_MAX, &len), PC_ERR_INVALID_ARGUMENT);
    /* recv_bytes takes a kept message too. */
    recv_str(b, "Z");
    CHECK_STATUS(pc_connection_poll(b, 0), PC_ERR_TIMEOUT);

    /* A big message into a small buffer, then a big enough one. */
    size_t big = 3u << 20;
    uint8_t *bigbuf = malloc(big + 100);
    CHECK(bigbuf != NULL);
    fill_pattern(bigbuf, big, 77);
    pc_process *p = start_with(target_echo, &(struct ends){.mine = a, .other = b});
    CHECK_OK(pc_connection_send_bytes(b, bigbuf, big));
    memset(bigbuf, 0, big + 100);
    CHECK_STATUS(pc_connection_recv_bytes_into(b, bigbuf, 1000, 0, &len), PC_ERR_BUFFER_TOO_SHORT);
    CHECK(len == big);
    CHECK_STATUS(pc_connection_recv_bytes_into(b, bigbuf, big + 100, 101, &len),
                 PC_ERR_BUFFER_TOO_SHORT);
    CHECK(len == big);
    CHECK_OK(pc_connection_recv_bytes_into(b, bigbuf, big + 100, 100, &len));
    CHECK(len == big);
    CHECK(pattern_mismatch(bigbuf + 100, big, 77) == big);
    /* Exactly fitting straight from the socket (nothing kept). */
    fill_pattern(bigbuf, big, 78);
    CHECK_OK(pc_connection_send_bytes(b, bigbuf, big));
    memset(bigbuf, 0, big);
    CHECK_OK(pc_connection_recv_bytes_into(b, bigbuf, big, 0, &len));
    CHECK(len == big);
    CHECK(pattern_mismatch(bigbuf, big, 78) == big);
    free(bigbuf);
    CHECK_OK(pc_connection_close(b));
    CHECK(finish(p, 10.0) == 0);
    free_pipe(a, b);
}

/* ---- maxlength ---- */

static void test_maxlength(void)
{
    pc_connection *a, *b;
    new_pipe(true, &a, &b);
    char msg[100];
    fill_pattern(msg, sizeof msg, 5);
    pc_bytes m = {NULL, 0};
    /* maxlength equal to the size is fine. */
    CHECK_OK(pc_connection_send_bytes(a, msg, sizeof msg));
    CHECK_OK(pc_connection_recv_bytes(b, sizeof msg, &m));
    CHECK(m.len == sizeof msg);
    pc_bytes_free(&m);
    /* One byte over: TOO_LARGE, and the connection is closed. */
    CHECK_OK(pc_connection_send_bytes(a, msg, sizeof msg));
    CHECK_STATUS(pc_connection_recv_bytes(b, sizeof msg - 1, &m), PC_ERR_TOO_LARGE);
    CHECK_ERRMSG("pc_connection_recv_bytes");
    CHECK_ERRMSG("maxlength");
    CHECK(m.data == NULL && m.len == 0);
    CHECK(pc_connection_fileno(b) == -1);
    CHECK_STATUS(pc_connection_recv_bytes(b, 0, &m), PC_ERR_CLOSED);
    CHECK_ERRMSG("closed");
    CHECK_STATUS(pc_connection_send_bytes(b, "x", 1), PC_ERR_CLOSED);
    CHECK_STATUS(pc_connection_poll(b, 0), PC_ERR_CLOSED);
    CHECK_OK(pc_connection_close(b));
    CHECK_STATUS(pc_connection_send_bytes(a, "x", 1), PC_ERR_EOF);
    free_pipe(a, b);

    /* A message kept by a too-short recv_bytes_into is held to maxlength too. */
    new_pipe(true, &a, &b);
    CHECK_OK(pc_connection_send_bytes(a, msg, sizeof msg));
    size_t len = 0;
    CHECK_STATUS(pc_connection_recv_bytes_into(b, msg, 10, 0, &len), PC_ERR_BUFFER_TOO_SHORT);
    CHECK_STATUS(pc_connection_recv_bytes(b, 50, &m), PC_ERR_TOO_LARGE);
    CHECK_STATUS(pc_connection_recv_bytes(b, 0, &m), PC_ERR_CLOSED);
    free_pipe(a, b);
}

/* ---- 16 MiB through a child ---- */

static void test_big_message(void)
{
    const size_t size = 16u << 20;
    uint8_t *buf = malloc(size);
    CHECK(buf != NULL);
    fill_pattern(buf, size, 1616);
    uint64_t sum = fnv1a(buf, size);
    pc_connection *a, *b;
    new_pipe(true, &a, &b);
    pc_process *p = start_with(target_checksum, &(struct ends){.mine = b, .other = a});
    CHECK_OK(pc_connection_send_bytes(a, buf, size));
    recv_expect(a, &sum, sizeof sum);
    recv_pattern(a, size, 1616);
    pc_bytes m = {NULL, 0};
    CHECK_STATUS(pc_connection_recv_bytes(a, 0, &m), PC_ERR_EOF);
    CHECK(finish(p, 30.0) == 0);
    free_pipe(a, b);
    free(buf);
}

/* ---- close and fileno ---- */

struct blocked_call {
    pc_connection *c;
    int op; /* 0: recv, 1: send 4 MiB */
    atomic_int started;
    int status;
    double returned;
};

static void *blocked_call_main(void *arg)
{
    struct blocked_call *bc = arg;
    atomic_store(&bc->started, 1);
    if (bc->op == 0) {
        pc_bytes m = {NULL, 0};
        bc->status = pc_connection_recv_bytes(bc->c, 0, &m);
        pc_bytes_free(&m);
    } else {
        static char big[4 << 20];
        bc->status = pc_connection_send_bytes(bc->c, big, sizeof big);
    }
    bc->returned = now();
    return NULL;
}

static void test_close(void)
{
    pc_connection *a, *b;
    new_pipe(true, &a, &b);
    CHECK(pc_connection_fileno(a) != pc_connection_fileno(b));
    CHECK_OK(pc_connection_close(a));
    CHECK(pc_connection_fileno(a) == -1);
    CHECK_OK(pc_connection_close(a)); /* twice is fine */
    CHECK(pc_connection_fileno(a) == -1);
    pc_bytes m = {NULL, 0};
    size_t len = 0;
    char buf[8];
    CHECK_STATUS(pc_connection_send_bytes(a, "x", 1), PC_ERR_CLOSED);
    CHECK_ERRMSG("pc_connection_send_bytes");
    CHECK_STATUS(pc_connection_recv_bytes(a, 0, &m), PC_ERR_CLOSED);
    CHECK_STATUS(pc_connection_recv_bytes_into(a, buf, sizeof buf, 0, &len), PC_ERR_CLOSED);
    CHECK_STATUS(pc_connection_poll(a, 0), PC_ERR_CLOSED);
    CHECK_STATUS(pc_connection_poll(a, 1.0), PC_ERR_CLOSED);
    bool ready[2];
    pc_connection *both[2] = {b, a};
    CHECK_STATUS(pc_wait(both, 2, 0, ready), PC_ERR_CLOSED);
    CHECK_OK(pc_connection_set_timeout(a, 1.0));
    CHECK_STATUS(pc_connection_recv_bytes(b, 0, &m), PC_ERR_EOF);
    free_pipe(a, b);

    /* A close from another thread ends a blocked receive and a blocked send. */
    for (int op = 0; op < 2; op++) {
        new_pipe(true, &a, &b);
        struct blocked_call bc = {.c = a, .op = op, .status = 12345};
        pthread_t t;
        CHECK(pthread_create(&t, NULL, blocked_call_main, &bc) == 0);
        CHECK(wait_flag(&bc.started, 1, 5.0));
        sleep_s(0.2);
        double closed = now();
        CHECK_OK(pc_connection_close(a));
        CHECK(pthread_join(t, NULL) == 0);
        CHECK_STATUS(bc.status, PC_ERR_CLOSED);
        if (bc.returned - closed > 1.0)
            FAIL("the blocked %s returned %.3f s after the close", op ? "send" : "recv",
                 bc.returned - closed);
        CHECK(pc_connection_fileno(a) == -1);
        free_pipe(a, b);
    }
}

int main(void)
{
    tu_init("test_pipe", 100);
    RUN(test_message_boundaries);
    RUN(test_many_in_order);
    RUN(test_duplex);
    RUN(test_one_way);
    RUN(test_eof);
    RUN(test_recv_into);
    RUN(test_maxlength);
    RUN(test_big_message);
    RUN(test_close);
    RUN(test_peer_killed);
    RUN(test_peer_reset);
    return tu_done();
}
