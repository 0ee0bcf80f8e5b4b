/*
 * test_pipe_frames.c: a connection fed raw bytes (written with write(2) into the other
 * end's fd) as a broken or hostile peer would send them: truncated headers and bodies,
 * negative lengths, the 64-bit length form, lying 4 GiB headers (refused at once past
 * maxlength; without it, memory grows only with the bytes that came), a timeout or an
 * interrupt in the middle of a message. Then NULL and invalid arguments for every
 * function of pc_pipe, pc_connection_…, pc_wait and pc_wait_any, and nothing left behind
 * after many pipes.
 *
 * ctest-timeout: 120
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "testutil.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- helpers ---- */

/* Writes raw bytes into connection c's socket: its peer reads them as frames. */
static void raw_write(pc_connection *c, const void *p, size_t n)
{
    CHECK(write_all(pc_connection_fileno(c), p, n));
}

/* A 4-byte big-endian header. */
static void raw_header(pc_connection *c, int32_t len)
{
    uint32_t v = (uint32_t)len;
    uint8_t h[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    raw_write(c, h, 4);
}

/* The 64-bit form: -1, then an 8-byte big-endian length. */
static void raw_long_header(pc_connection *c, uint64_t len)
{
    uint8_t h[12] = {0xff, 0xff, 0xff, 0xff};
    for (int i = 0; i < 8; i++)
        h[4 + i] = (uint8_t)(len >> (56 - 8 * i));
    raw_write(c, h, 12);
}

/* The connection was closed by the library after a broken frame. */
static void check_closed_after(pc_connection *c)
{
    CHECK(pc_connection_fileno(c) == -1);
    pc_bytes m = {NULL, 0};
    CHECK_STATUS(pc_connection_recv_bytes(c, 0, &m), PC_ERR_CLOSED);
    CHECK_STATUS(pc_connection_send_bytes(c, "x", 1), PC_ERR_CLOSED);
}

/* The peak resident size of this process (VmHWM), in KiB. */
static long vm_hwm_kib(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    CHECK(f != NULL);
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
            break;
    }
    fclose(f);
    CHECK(kib > 0);
    return kib;
}

/* ---- broken frames ---- */

static void test_truncated(void)
{
    pc_connection *a, *b;
    pc_bytes m = {NULL, 0};

    /* The header says 10, 3 bytes come, then the peer closes. */
    new_pipe(true, &a, &b);
    raw_header(b, 10);
    raw_write(b, "abc", 3);
    CHECK_OK(pc_connection_close(b));
    CHECK_STATUS(pc_connection_recv_bytes(a, 0, &m), PC_ERR_PROTOCOL);
    CHECK_ERRMSG("pc_connection_recv_bytes");
    CHECK_ERRMSG("middle of a message");
    CHECK(m.data == NULL && m.len == 0);
    check_closed_after(a);
    free_pipe(a, b);

    /* The same through recv_bytes_into, with room and without. */
    for (int room = 0; room < 2; room++) {
        new_pipe(true, &a, &b);
        raw_header(b, 10);
        raw_write(b, "abc", 3);
        CHECK_OK(pc_connection_close(b));
        char buf[64];
        size_t len = 777;
        CHECK_STATUS(pc_connection_recv_bytes_into(a, buf, room ? sizeof buf : 4, 0, &len),
                     PC_ERR_PROTOCOL);
        check_closed_after(a);
        free_pipe(a, b);
    }

    /* Half a header. */
    new_pipe(true, &a, &b);
    raw_write(b, "\0\0", 2);
    CHECK_OK(pc_connection_close(b));
    CHECK_STATUS(pc_connection_recv_bytes(a, 0, &m), PC_ERR_PROTOCOL);
    check_closed_after(a);
    free_pipe(a, b);

    /* The 64-bit form cut inside its length. */
    new_pipe(true, &a, &b);
    raw_write(b, "\xff\xff\xff\xff\0\0\0\0", 8);
    CHECK_OK(pc_connection_close(b));
    CHECK_STATUS(pc_connection_recv_bytes(a, 0, &m), PC_ERR_PROTOCOL);
    check_closed_after(a);
    free_pipe(a, b);

    /* A whole message, then a cut one: the first still arrives. */
    new_pipe(true, &a, &b);
    raw_header(b, 2);
    raw_write(b, "ok", 2);
    raw_header(b, 5);
    raw_write(b, "x", 1);
    CHECK_OK(pc_connection_close(b));
    recv_expect(a, "ok", 2);
    CHECK_STATUS(pc_connection_recv_bytes(a, 0, &m), PC_ERR_PROTOCOL);
    free_pipe(a, b);
}

static void test_negative_length(void)
{
    const int32_t bad[] = {-5, -2, INT32_MIN, -1000000};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pc_connection *a, *b;
        new_pipe(true, &a, &b);
        raw_header(b, bad[i]);
        pc_bytes m = {NULL, 0};
        double t0 = now();
        /* The peer stays open: refused at once, not taken for an empty message. */
        CHECK_STATUS(pc_connection_recv_bytes(a, 0, &m), PC_ERR_PROTOCOL);
        CHECK(now() - t0 < 1.0);
        CHECK_ERRMSG("negative");
        check_closed_after(a);
        free_pipe(a, b);
    }
    /* Also through recv_bytes_into. */
    pc_connection *a, *b;
    new_pipe(true, &a, &b);
    raw_header(b, -5);
    char buf[16];
    size_t len = 0;
    CHECK_STATUS(pc_connection_recv_bytes_into(a, buf, sizeof buf, 0, &len), PC_ERR_PROTOCOL);
    check_closed_after(a);
    free_pipe(a, b);
}

static void test_long_form(void)
{
    pc_connection *a, *b;
    new_pipe(true, &a, &b);
    /* -1 and an 8-byte length is accepted for any size, small ones too. */
    raw_long_header(b, 5);
    raw_write(b, "hello", 5);
    raw_long_header(b, 0);
    raw_header(b, 3);
    raw_write(b, "end", 3);
    recv_expect(a, "hello", 5);
    recv_expect(a, "", 0);
    recv_expect(a, "end", 3);
    raw_long_header(b, 4);
    raw_write(b, "into", 4);
    char buf[8];
    size_t len = 0;
    CHECK_OK(pc_connection_recv_bytes_into(a, buf, sizeof buf, 0, &len));
    CHECK(len == 4 && memcmp(buf, "into", 4) == 0);
    /* The connection stays in step: normal messages both ways. */
    CHECK_OK(pc_connection_send_bytes(b, "normal", 6));
    recv_expect(a, "normal", 6);
    CHECK_OK(pc_connection_send_bytes(a, "back", 4));
    recv_expect(b, "back", 4);
    free_pipe(a, b);
}

/* A header announcing more than maxlength is refused at once: no wait for the body,
 * which never comes (the peer stays open). */
static void test_huge_header_with_maxlength(void)
{
    const uint64_t sizes[] = {4ull << 30, 0x7fffffff, 1025, UINT64_MAX};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        pc_connection *a, *b;
        new_pipe(true, &a, &b);
        if (sizes[i] <= 0x7fffffff)
            raw_header(b, (int32_t)sizes[i]);
        else
            raw_long_header(b, sizes[i]);
        pc_bytes m = {NULL, 0};
        double t0 = now();
        CHECK_STATUS(pc_connection_recv_bytes(a, 1024, &m), PC_ERR_TOO_LARGE);
        if (now() - t0 > 1.0)
            FAIL("a %llu-byte header past maxlength was refused after %.3f s",
                 (unsigned long long)sizes[i], now() - t0);
        CHECK_ERRMSG("maxlength");
        check_closed_after(a);
        free_pipe(a, b);
    }
}

struct liar {
    pc_connection *c;
    uint64_t announced;
    size_t body; /* bytes of body actually sent before closing */
};

static void *liar_main(void *arg)
{
    struct liar *l = arg;
    if (l->announced > 0x7fffffff)
        raw_long_header(l->c, l->announced);
    else
        raw_header(l->c, (int32_t)l->announced);
    static char chunk[65536];
    for (size_t sent = 0; sent < l->body; sent += sizeof chunk)
        raw_write(l->c, chunk, sizeof chunk);
    CHECK_OK(pc_connection_close(l->c));
    return NULL;
}

/* Without maxlength, a lying header (4 GiB, or 2 GiB in the 4-byte form) followed by
 * 1 MiB and a close: PROTOCOL soon, and memory grew with the bytes that came, not with
 * the announced length. */
static void test_lying_header(void)
{
    const uint64_t announced[] = {4ull << 30, 0x7fffffff, 1ull << 40};
    for (int into = 0; into < 2; into++) {
        for (size_t i = 0; i < sizeof announced / sizeof announced[0]; i++) {
            long hwm0 = vm_hwm_kib();
            pc_connection *a, *b;
            new_pipe(true, &a, &b);
            struct liar l = {b, announced[i], 1u << 20};
            pthread_t t;
            CHECK(pthread_create(&t, NULL, liar_main, &l) == 0);
            double t0 = now();
            if (into) {
                char buf[256];
                size_t len = 0;
                CHECK_STATUS(pc_connection_recv_bytes_into(a, buf, sizeof buf, 0, &len),
                             PC_ERR_PROTOCOL);
            } else {
                pc_bytes m = {NULL, 0};
                CHECK_STATUS(pc_connection_recv_bytes(a, 0, &m), PC_ERR_PROTOCOL);
            }
            double took = now() - t0;
            CHECK(pthread_join(t, NULL) == 0);
            long grew = vm_hwm_kib() - hwm0;
            fprintf(stderr, "   %s, %llu bytes announced: PROTOCOL after %.3f s, peak +%ld KiB\n",
                    into ? "recv_bytes_into" : "recv_bytes", (unsigned long long)announced[i],
                    took, grew);
            if (took > 5.0)
                FAIL("the lying header took %.3f s to be refused", took);
            if (grew > 200 * 1024)
                FAIL("the peak memory grew by %ld KiB for a lying %llu-byte header", grew,
                     (unsigned long long)announced[i]);
            check_closed_after(a);
            free_pipe(a, b);
        }
    }
}

/* A receive past the connection's timeout in the middle of a message: TIMEOUT, and the
 * connection is closed (the rest of the message could not be told from the next one). */
static void test_timeout_mid_message(void)
{
    pc_connection *a, *b;
    new_pipe(true, &a, &b);
    raw_header(b, 10);
    raw_write(b, "abc", 3);
    CHECK_OK(pc_connection_set_timeout(a, 0.3));
    pc_bytes m = {NULL, 0};
    double t0 = now();
    CHECK_STATUS(pc_connection_recv_bytes(a, 0, &m), PC_ERR_TIMEOUT);
    double took = now() - t0;
    if (took < 0.29 || took > 2.0)
        FAIL("the mid-message timeout of 0.3 s came after %.3f s", took);
    CHECK_ERRMSG("middle of a message");
    check_closed_after(a);
    free_pipe(a, b);
}

struct late_rest {
    pc_connection *c;
};

static void *late_rest_main(void *arg)
{
    struct late_rest *lr = arg;
    sleep_s(0.2);
    pc_interrupt();
    sleep_s(0.3);
    raw_write(lr->c, "defghij", 7);
    return NULL;
}

/* pc_interrupt() while a message is under way does not break it: the message is
 * completed, and the interrupt stays pending for the next blocking call. */
static void test_interrupt_mid_message(void)
{
    pc_connection *a, *b;
    new_pipe(true, &a, &b);
    raw_header(b, 10);
    raw_write(b, "abc", 3);
    struct late_rest lr = {b};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, late_rest_main, &lr) == 0);
    recv_expect(a, "abcdefghij", 10);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(pc_connection_fileno(a) >= 0);
    double t0 = now();
    CHECK_STATUS(pc_connection_poll(a, 5.0), PC_ERR_INTERRUPTED); /* the pending one */
    CHECK(now() - t0 < 0.5);
    CHECK_STATUS(pc_connection_poll(a, 0.01), PC_ERR_TIMEOUT);    /* consumed */
    CHECK_OK(pc_connection_send_bytes(b, "next", 4));
    recv_expect(a, "next", 4);
    free_pipe(a, b);
}

/* ---- bad arguments ---- */

static void test_bad_arguments(void)
{
    int fds = count_open_fds();
    pc_connection *a = NULL, *b = NULL;
    CHECK_STATUS(pc_pipe(true, NULL, &b), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_pipe");
    CHECK_ERRMSG("c1 is NULL");
    CHECK(b == NULL);
    CHECK_STATUS(pc_pipe(false, &a, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("c2 is NULL");
    CHECK(a == NULL);
    CHECK_STATUS(pc_pipe(true, NULL, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK(count_open_fds() == fds); /* nothing made */

    new_pipe(true, &a, &b);
    pc_bytes m = {NULL, 0};
    char buf[16];
    size_t len = 4242;
    bool ready[2] = {false, false};

    /* NULL handles. */
    CHECK_STATUS(pc_connection_send_bytes(NULL, "x", 1), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_connection_send_bytes");
    CHECK_ERRMSG("c is NULL");
    CHECK_STATUS(pc_connection_recv_bytes(NULL, 0, &m), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("c is NULL");
    CHECK_STATUS(pc_connection_recv_bytes_into(NULL, buf, sizeof buf, 0, &len),
                 PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("c is NULL");
    CHECK_STATUS(pc_connection_poll(NULL, 0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_connection_poll");
    CHECK_STATUS(pc_connection_set_timeout(NULL, 1.0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_connection_set_timeout");
    CHECK(pc_connection_fileno(NULL) == -1);
    CHECK_ERRMSG("pc_connection_fileno");
    CHECK(!pc_connection_readable(NULL));
    CHECK_ERRMSG("pc_connection_readable: c is NULL");
    CHECK(!pc_connection_writable(NULL));
    CHECK_ERRMSG("pc_connection_writable: c is NULL");
    CHECK_STATUS(pc_connection_close(NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_connection_close");
    pc_connection_free(NULL); /* a no-op */

    /* NULL buffers and out-pointers. */
    CHECK_STATUS(pc_connection_send_bytes(a, NULL, 1), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("buf is NULL");
    CHECK_STATUS(pc_connection_send_bytes(a, buf, SIZE_MAX), PC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(pc_connection_recv_bytes(a, 0, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_connection_recv_bytes_into(a, buf, sizeof buf, 0, NULL),
                 PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("len is NULL");
    CHECK_STATUS(pc_connection_recv_bytes_into(a, NULL, 8, 0, &len), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("buf is NULL");
    CHECK_STATUS(pc_connection_recv_bytes_into(a, buf, 8, 9, &len), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("offset");
    CHECK(len == 4242);
    /* None of them sent or took anything. */
    CHECK_STATUS(pc_connection_poll(a, 0), PC_ERR_TIMEOUT);
    CHECK_STATUS(pc_connection_poll(b, 0), PC_ERR_TIMEOUT);

    /* NaN timeouts. */
    CHECK_STATUS(pc_connection_poll(a, NAN), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("timeout");
    CHECK_ERRMSG("NaN");
    CHECK_STATUS(pc_connection_set_timeout(a, NAN), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("NaN");
    CHECK_STATUS(pc_wait(&a, 1, NAN, ready), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("NaN");
    pc_waitable item = {.conn = a, .fd = -1};
    CHECK_STATUS(pc_wait_any(&item, 1, NAN), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("NaN");
    /* NaN with a message ready is still refused. */
    CHECK_OK(pc_connection_send_bytes(b, "r", 1));
    CHECK_STATUS(pc_connection_poll(a, NAN), PC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(pc_wait(&a, 1, -NAN, ready), PC_ERR_INVALID_ARGUMENT);
    recv_expect(a, "r", 1);

    /* pc_wait and pc_wait_any: NULL arrays, NULL entries, bad fds. */
    CHECK_STATUS(pc_wait(NULL, 1, 0, ready), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("conns");
    CHECK_STATUS(pc_wait(&a, 1, 0, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("ready");
    pc_connection *with_null[2] = {a, NULL};
    CHECK_STATUS(pc_wait(with_null, 2, 0, ready), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("conns[1]");
    CHECK_STATUS(pc_wait(NULL, 0, 0, NULL), PC_ERR_TIMEOUT); /* nothing to wait for */
    CHECK_STATUS(pc_wait_any(NULL, 1, 0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("items");
    CHECK_STATUS(pc_wait_any(NULL, 0, 0), PC_ERR_TIMEOUT);
    pc_waitable bad_fd[2] = {{.conn = a, .fd = -1}, {.conn = NULL, .fd = -3}};
    CHECK_STATUS(pc_wait_any(bad_fd, 2, 0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("items[1]");

    /* Wrong-typed handles: a listener, a lock and an event passed as connections. */
    pc_listener *l;
    CHECK_OK(pc_listener_new(NULL, 1, NULL, 0, &l));
    pc_lock *lock;
    CHECK_OK(pc_lock_new(&lock));
    pc_connection *wrong[2] = {(pc_connection *)l, (pc_connection *)lock};
    for (int i = 0; i < 2; i++) {
        pc_connection *w = wrong[i];
        CHECK_STATUS(pc_connection_send_bytes(w, "x", 1), PC_ERR_INVALID_ARGUMENT);
        CHECK_ERRMSG("is not a pc_connection");
        CHECK_STATUS(pc_connection_recv_bytes(w, 0, &m), PC_ERR_INVALID_ARGUMENT);
        CHECK_ERRMSG("is not a pc_connection");
        CHECK_STATUS(pc_connection_recv_bytes_into(w, buf, sizeof buf, 0, &len),
                     PC_ERR_INVALID_ARGUMENT);
        CHECK_STATUS(pc_connection_poll(w, 0), PC_ERR_INVALID_ARGUMENT);
        CHECK_STATUS(pc_connection_set_timeout(w, 1.0), PC_ERR_INVALID_ARGUMENT);
        CHECK(pc_connection_fileno(w) == -1);
        CHECK_ERRMSG("is not a pc_connection");
        CHECK(!pc_connection_readable(w) && !pc_connection_writable(w));
        CHECK_ERRMSG("is not a pc_connection");
        CHECK_STATUS(pc_connection_close(w), PC_ERR_INVALID_ARGUMENT);
        pc_connection *ws[2] = {a, w};
        CHECK_STATUS(pc_wait(ws, 2, 0, ready), PC_ERR_INVALID_ARGUMENT);
        CHECK_ERRMSG("conns[1]");
        CHECK_ERRMSG("is not a pc_connection");
        pc_waitable wi = {.conn = w, .fd = 0};
        CHECK_STATUS(pc_wait_any(&wi, 1, 0), PC_ERR_INVALID_ARGUMENT);
        CHECK_ERRMSG("is not a pc_connection");
        pc_connection_free(w); /* refused, reported, nothing freed */
        CHECK_ERRMSG("pc_connection_free");
        CHECK_ERRMSG("is not a pc_connection");
    }
    /* The listener and the lock are intact. */
    CHECK(pc_listener_address(l) != NULL);
    pc_connection *client;
    CHECK_OK(pc_client_connect(pc_listener_address(l), NULL, 0, &client));
    pc_connection *server;
    CHECK_OK(pc_listener_accept(l, 5.0, &server));
    CHECK_OK(pc_connection_send_bytes(client, "fine", 4));
    recv_expect(server, "fine", 4);
    pc_connection_free(client);
    pc_connection_free(server);
    pc_listener_free(l);
    CHECK_OK(pc_lock_acquire(lock, 0));
    CHECK_OK(pc_lock_release(lock));
    pc_lock_free(lock);
    /* And a connection is no lock. */
    CHECK_STATUS(pc_lock_acquire((pc_lock *)a, 0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("is not a pc_lock");

    /* The pipe is intact after all that. */
    CHECK_OK(pc_connection_send_bytes(a, "intact", 6));
    recv_expect(b, "intact", 6);
    free_pipe(a, b);
    CHECK(count_open_fds() == fds);
}

/* ---- nothing left behind ---- */

static int target_use_pipes(void *arg)
{
    pc_connection **ends = arg; /* pairs: [2i] the parent's, [2i+1] ours */
    for (int i = 0; i < 50; i++) {
        pc_connection_close(ends[2 * i]);
        if (pc_connection_send_bytes(ends[2 * i + 1], "c", 1) != PC_OK)
            return 1;
    }
    return 0;
}

static void test_nothing_left(void)
{
    pc_connection *a, *b;
    new_pipe(true, &a, &b); /* warm up */
    free_pipe(a, b);

    struct tu_resources before;
    resources_before(&before);
    const int many = 3000;
    for (int i = 0; i < many; i++) {
        CHECK_OK(pc_pipe(i & 1, &a, &b));
        int st = pc_connection_send_bytes(b, "m", 1);
        pc_bytes m = {NULL, 0};
        if (st == PC_OK)
            st = pc_connection_recv_bytes(a, 0, &m);
        if (st != PC_OK || m.len != 1)
            FAIL("pipe %d: %s", i, pc_status_str(st));
        pc_bytes_free(&m);
        if (i % 3 == 0)
            CHECK_OK(pc_connection_close(a));
        free_pipe(a, b);
    }
    tu_checks++;
    /* Many alive at once, some used by a child. */
    static pc_connection *ends[400];
    for (int i = 0; i < 200; i++)
        CHECK_OK(pc_pipe(true, &ends[2 * i], &ends[2 * i + 1]));
    CHECK(finish(start(target_use_pipes, ends), 10.0) == 0);
    for (int i = 0; i < 50; i++)
        recv_expect(ends[2 * i], "c", 1);
    for (int i = 0; i < 400; i++)
        pc_connection_free(ends[i]);
    check_resources_after(&before, many + 200, "pipes");
    CHECK(wait_no_children(2.0));
}

int main(void)
{
    tu_init("test_pipe_frames", 100);
    RUN(test_truncated);
    RUN(test_negative_length);
    RUN(test_long_form);
    RUN(test_huge_header_with_maxlength);
    RUN(test_lying_header);
    RUN(test_timeout_mid_message);
    RUN(test_interrupt_mid_message);
    RUN(test_bad_arguments);
    RUN(test_nothing_left);
    return tu_done();
}
