/*
 * test_pipe_wait.c: waiting on connections (include/processing.h): pc_connection_poll (0, timed,
 * without limit, data from a child, EOF), pc_connection_set_timeout (receives and sends
 * that time out, the connection still usable), pc_wait over several pipes, pc_wait_any
 * mixing connections, plain fds and a process sentinel, pc_interrupt() breaking blocked
 * receives, polls, waits and sends with nothing lost; and several threads sending or
 * receiving on one connection at once (messages never interleave).
 *
 * ctest-timeout: 120
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "testutil.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- adapters for check_timeouts and check_interrupted ---- */

static pc_status poll_wait(void *c, double timeout)
{
    return pc_connection_poll(c, timeout);
}

/* A receive under a per-call timeout (pc_connection_set_timeout). */
static pc_status recv_timed(void *c, double timeout)
{
    CHECK_OK(pc_connection_set_timeout(c, timeout));
    pc_bytes b = {NULL, 0};
    pc_status st = pc_connection_recv_bytes(c, 0, &b);
    pc_bytes_free(&b);
    return st;
}

static pc_status recv_into_timed(void *c, double timeout)
{
    CHECK_OK(pc_connection_set_timeout(c, timeout));
    char buf[64];
    size_t len = 0;
    return pc_connection_recv_bytes_into(c, buf, sizeof buf, 0, &len);
}

static pc_status wait_one(void *c, double timeout)
{
    pc_connection *conns[1] = {c};
    bool ready[1] = {false};
    return pc_wait(conns, 1, timeout, ready);
}

static pc_status send_timed(void *c, double timeout)
{
    CHECK_OK(pc_connection_set_timeout(c, timeout));
    return pc_connection_send_bytes(c, "z", 1);
}

/* ---- a child that sends late ---- */

struct ends {
    pc_connection *mine;  /* the end the child uses */
    pc_connection *other; /* the parent's end: the child closes its copy */
    double delay;
};

/* Sleeps `delay`, sends "late", then waits for EOF. */
static int target_delayed_send(void *arg)
{
    const struct ends *e = arg;
    pc_connection_close(e->other);
    sleep_s(e->delay);
    if (pc_connection_send_bytes(e->mine, "late", 4) != PC_OK)
        return 1;
    pc_bytes m = {NULL, 0};
    return pc_connection_recv_bytes(e->mine, 0, &m) == PC_ERR_EOF ? 0 : 2;
}

/* Starts `fn` with the child using `mine`, and closes this process's copy of `mine`. */
static pc_process *start_with(pc_target_fn fn, struct ends *e)
{
    pc_process *p = start(fn, e);
    CHECK_OK(pc_connection_close(e->mine));
    return p;
}

/* ---- poll ---- */

static void test_poll(void)
{
    pc_connection *a, *b;
    new_pipe(true, &a, &b);
    check_timeouts(poll_wait, a, "pc_connection_poll");
    double t0 = now();
    CHECK_STATUS(pc_connection_poll(a, -0.0), PC_ERR_TIMEOUT); /* -0.0 is 0, not negative */
    CHECK(now() - t0 < 0.1);
    free_pipe(a, b);

    /* Data from a child 0.3 s later: a timed poll and a poll without limit see it. */
    const double timeouts[] = {5.0, PC_FOREVER};
    for (int i = 0; i < 2; i++) {
        new_pipe(true, &a, &b);
        t0 = now();
        pc_process *p =
            start_with(target_delayed_send, &(struct ends){.mine = b, .other = a, .delay = 0.3});
        CHECK_OK(pc_connection_poll(a, timeouts[i]));
        double took = now() - t0;
        if (took < 0.25 || took > 3.0)
            FAIL("poll(%g) saw the child's message after %.3f s, expected about 0.3 s",
                 timeouts[i], took);
        CHECK_OK(pc_connection_poll(a, 0)); /* poll does not consume the message */
        CHECK_OK(pc_connection_poll(a, 1.0));
        recv_str(a, "late");
        CHECK_STATUS(pc_connection_poll(a, 0), PC_ERR_TIMEOUT);
        CHECK_OK(pc_connection_close(a)); /* the child sees EOF and ends */
        CHECK(finish(p, 10.0) == 0);
        free_pipe(a, b);
    }

    /* EOF counts as ready. */
    new_pipe(true, &a, &b);
    CHECK_OK(pc_connection_close(b));
    t0 = now();
    CHECK_OK(pc_connection_poll(a, 5.0));
    CHECK(now() - t0 < 0.5);
    free_pipe(a, b);
}

/* ---- per-call timeout ---- */

static void test_set_timeout(void)
{
    pc_connection *a, *b;
    new_pipe(true, &a, &b);
    /* Receives with nothing to receive time out (0 at once, 0.2 not early); the
     * connection still works afterwards. */
    check_timeouts(recv_timed, a, "pc_connection_recv_bytes");
    check_timeouts(recv_into_timed, a, "pc_connection_recv_bytes_into");
    CHECK(pc_connection_fileno(a) >= 0);
    send_str(b, "still works");
    recv_str(a, "still works");
    /* A timeout does not end a receive whose message is there. */
    CHECK_OK(pc_connection_set_timeout(a, 0));
    send_str(b, "there");
    recv_str(a, "there");
    /* Negative: no limit again; a message 0.3 s later arrives. */
    CHECK_OK(pc_connection_set_timeout(a, -1.0));
    CHECK_OK(pc_connection_set_timeout(a, PC_FOREVER));
    pc_process *p =
        start_with(target_delayed_send, &(struct ends){.mine = b, .other = a, .delay = 0.3});
    recv_str(a, "late");
    CHECK_OK(pc_connection_close(a));
    CHECK(finish(p, 10.0) == 0);
    free_pipe(a, b);

    /* Sends time out when the peer does not read. The one that times out either had not
     * started (the connection stays usable) or had (the connection is closed): never a
     * half message for the peer. */
    new_pipe(true, &a, &b);
    CHECK_OK(pc_connection_set_timeout(a, 0.05));
    static char chunk[10000];
    int sent = 0;
    int st;
    while ((st = pc_connection_send_bytes(a, chunk, sizeof chunk)) == PC_OK && sent < 10000)
        sent++;
    CHECK_STATUS(st, PC_ERR_TIMEOUT);
    CHECK(sent > 0);
    bool intact = pc_connection_fileno(a) >= 0;
    for (int i = 0; i < sent; i++)
        recv_expect(b, chunk, sizeof chunk);
    pc_bytes m = {NULL, 0};
    if (intact) {
        CHECK_STATUS(pc_connection_poll(b, 0), PC_ERR_TIMEOUT);
        send_str(a, "after the timeout");
        recv_str(b, "after the timeout");
    } else {
        CHECK_ERRMSG("middle of a message");
        CHECK_STATUS(pc_connection_recv_bytes(b, 0, &m), PC_ERR_PROTOCOL);
    }
    fprintf(stderr, "   %d sends went through, then a timeout %s\n", sent,
            intact ? "before the message started" : "in the middle of it");
    free_pipe(a, b);

    /* A send that waits for room on a full socket: timeout 0 at once, 0.2 not early. */
    new_pipe(true, &a, &b);
    CHECK_OK(pc_connection_set_timeout(a, 0));
    while (pc_connection_send_bytes(a, "z", 1) == PC_OK) {
    }
    check_timeouts(send_timed, a, "pc_connection_send_bytes");
    CHECK(pc_connection_fileno(a) >= 0);
    free_pipe(a, b);
}

/* ---- pc_wait, pc_wait_any ---- */

static void test_wait(void)
{
    enum { N = 3 };
    pc_connection *r[N], *s[N];
    for (int i = 0; i < N; i++)
        new_pipe(true, &r[i], &s[i]);
    bool ready[N] = {true, true, true};
    /* None ready: TIMEOUT, and `ready` is left alone. */
    double t0 = now();
    CHECK_STATUS(pc_wait(r, N, 0, ready), PC_ERR_TIMEOUT);
    CHECK(now() - t0 < 0.1);
    CHECK_ERRMSG("pc_wait");
    CHECK(ready[0] && ready[1] && ready[2]);
    t0 = now();
    CHECK_STATUS(pc_wait(r, N, 0.2, ready), PC_ERR_TIMEOUT);
    double took = now() - t0;
    CHECK(took >= 0.19 && took < 1.0);

    send_str(s[1], "one");
    CHECK_OK(pc_wait(r, N, 0, ready));
    CHECK(!ready[0] && ready[1] && !ready[2]);
    CHECK_OK(pc_connection_close(s[2])); /* EOF is ready too */
    CHECK_OK(pc_wait(r, N, 5.0, ready));
    CHECK(!ready[0] && ready[1] && ready[2]);
    recv_str(r[1], "one");
    CHECK_OK(pc_wait(r, N, 5.0, ready));
    CHECK(!ready[0] && !ready[1] && ready[2]);
    /* A subset, and the same connection twice. */
    pc_connection *twice[2] = {r[0], r[0]};
    CHECK_STATUS(pc_wait(twice, 2, 0.01, ready), PC_ERR_TIMEOUT);

    /* A child's message 0.3 s later ends a wait without limit. */
    pc_process *p =
        start_with(target_delayed_send, &(struct ends){.mine = s[0], .other = r[0], .delay = 0.3});
    t0 = now();
    pc_connection *first_two[2] = {r[0], r[1]};
    CHECK_OK(pc_wait(first_two, 2, PC_FOREVER, ready));
    took = now() - t0;
    CHECK(ready[0] && !ready[1]);
    if (took < 0.25 || took > 3.0)
        FAIL("pc_wait saw the child's message after %.3f s", took);
    recv_str(r[0], "late");
    CHECK_OK(pc_connection_close(r[0]));
    CHECK(finish(p, 10.0) == 0);
    for (int i = 0; i < N; i++)
        free_pipe(r[i], s[i]);
}

static void test_wait_any(void)
{
    pc_connection *a, *b, *c, *d;
    new_pipe(true, &a, &b);
    new_pipe(false, &c, &d);
    double nap = 0.3;
    pc_process *p = start(target_sleep, &nap);
    int sentinel = pc_process_sentinel(p);
    CHECK(sentinel >= 0);
    int raw[2];
    CHECK(pipe(raw) == 0);
    pc_waitable items[4] = {
        {.conn = a, .fd = -1}, {.conn = NULL, .fd = sentinel}, {.conn = c, .fd = 12345},
        {.conn = NULL, .fd = raw[0]}};
    CHECK_STATUS(pc_wait_any(items, 4, 0), PC_ERR_TIMEOUT);
    CHECK_ERRMSG("pc_wait_any");
    /* The child ends 0.3 s in: its sentinel is ready, nothing else. */
    double t0 = now();
    CHECK_OK(pc_wait_any(items, 4, 10.0));
    double took = now() - t0;
    if (took > 3.0)
        FAIL("pc_wait_any saw the child's end after %.3f s", took);
    CHECK(!items[0].ready && items[1].ready && !items[2].ready && !items[3].ready);
    CHECK(finish(p, 10.0) == 0);
    /* Connections and fds together. */
    send_str(d, "to c");
    CHECK(write(raw[1], "r", 1) == 1);
    CHECK_OK(pc_wait_any(items, 4, 0));
    CHECK(!items[0].ready && items[2].ready && items[3].ready);
    send_str(b, "to a");
    CHECK_OK(pc_wait_any(items, 1, PC_FOREVER));
    CHECK(items[0].ready);
    recv_str(a, "to a");
    recv_str(c, "to c");
    items[0].ready = items[1].ready = true;
    CHECK_STATUS(pc_wait_any(items, 1, 0.01), PC_ERR_TIMEOUT);
    CHECK(items[0].ready); /* written on PC_OK only */
    close(raw[0]);
    close(raw[1]);
    free_pipe(a, b);
    free_pipe(c, d);
}

/* ---- pc_interrupt() ---- */

static void test_interrupt(void)
{
    pc_connection *a, *b;
    new_pipe(true, &a, &b);
    check_interrupted(recv_timed, a, PC_FOREVER, "pc_connection_recv_bytes");
    check_interrupted(recv_timed, a, 5.0, "pc_connection_recv_bytes");
    check_interrupted(recv_into_timed, a, PC_FOREVER, "pc_connection_recv_bytes_into");
    check_interrupted(poll_wait, a, PC_FOREVER, "pc_connection_poll");
    check_interrupted(poll_wait, a, 5.0, "pc_connection_poll");
    check_interrupted(wait_one, a, PC_FOREVER, "pc_wait");
    CHECK_OK(pc_connection_set_timeout(a, PC_FOREVER));
    /* Nothing lost and the connection usable. */
    CHECK(pc_connection_fileno(a) >= 0);
    send_str(b, "after the interrupts");
    recv_str(a, "after the interrupts");

    /* A send blocked on a full socket: interrupted before any byte left; every message
     * the peer gets is whole, and the connection goes on. */
    CHECK_OK(pc_connection_set_timeout(a, 0));
    int sent = 0;
    while (pc_connection_send_bytes(a, "z", 1) == PC_OK)
        sent++;
    check_interrupted(send_timed, a, PC_FOREVER, "pc_connection_send_bytes");
    CHECK(pc_connection_fileno(a) >= 0);
    for (int i = 0; i < sent; i++)
        recv_str(b, "z");
    CHECK_STATUS(pc_connection_poll(b, 0), PC_ERR_TIMEOUT);
    CHECK_OK(pc_connection_set_timeout(a, PC_FOREVER));
    send_str(a, "end");
    recv_str(b, "end");
    free_pipe(a, b);
}

/* ---- several threads at once ---- */

#define THREADS 4
#define PER_THREAD 400

/* Message (t, i): its header (t, i) and then a pattern of a size that varies from 0 to
 * 70000 bytes (past the single-write limit and the socket's buffer: partial writes). */
static size_t thread_msg_size(int t, int i)
{
    return 8 + (size_t)((i * 7919 + t * 104729) % 70000);
}

struct sender {
    pc_connection *c;
    int t;
    int status;
};

static void *sender_main(void *arg)
{
    struct sender *s = arg;
    uint8_t *buf = malloc(8 + 70000);
    s->status = buf ? PC_OK : PC_ERR_NO_MEMORY;
    for (int i = 0; i < PER_THREAD && s->status == PC_OK; i++) {
        size_t n = thread_msg_size(s->t, i);
        memcpy(buf, &s->t, 4);
        memcpy(buf + 4, &i, 4);
        fill_pattern(buf + 8, n - 8, (unsigned)(s->t * 100000 + i));
        s->status = pc_connection_send_bytes(s->c, buf, n);
    }
    free(buf);
    return NULL;
}

/* Checks one message of the threads' test; returns its (t, i) or fails. */
static void check_thread_msg(const pc_bytes *m, int *t, int *i)
{
    *t = *i = -1;
    if (m->len >= 8) {
        memcpy(t, m->data, 4);
        memcpy(i, m->data + 4, 4);
    }
    if (*t < 0 || *t >= THREADS || *i < 0 || *i >= PER_THREAD || m->len != thread_msg_size(*t, *i) ||
        pattern_mismatch(m->data + 8, m->len - 8, (unsigned)(*t * 100000 + *i)) != m->len - 8)
        FAIL("a mixed-up message: %zu bytes, thread %d, number %d", m->len, *t, *i);
}

struct receiver {
    pc_connection *c;
    atomic_int *seen; /* THREADS * PER_THREAD flags */
    int got;
    int status;
};

static void *receiver_main(void *arg)
{
    struct receiver *r = arg;
    for (;;) {
        pc_bytes m = {NULL, 0};
        r->status = pc_connection_recv_bytes(r->c, 0, &m);
        if (r->status != PC_OK || m.len == 0) /* an empty message: stop */
            return NULL;
        int t, i;
        check_thread_msg(&m, &t, &i);
        atomic_fetch_add(&r->seen[t * PER_THREAD + i], 1);
        r->got++;
        pc_bytes_free(&m);
    }
}

static void test_threads(void)
{
    pc_connection *a, *b;
    new_pipe(true, &a, &b);
    /* THREADS senders on one end; this thread receives: every message whole, each
     * thread's in its order. */
    struct sender s[THREADS];
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++) {
        s[t] = (struct sender){.c = a, .t = t, .status = 12345};
        CHECK(pthread_create(&th[t], NULL, sender_main, &s[t]) == 0);
    }
    int next[THREADS] = {0};
    for (int k = 0; k < THREADS * PER_THREAD; k++) {
        pc_bytes m = {NULL, 0};
        CHECK_OK(pc_connection_recv_bytes(b, 0, &m));
        int t, i;
        check_thread_msg(&m, &t, &i);
        if (i != next[t])
            FAIL("thread %d's message %d came when %d was due", t, i, next[t]);
        next[t]++;
        pc_bytes_free(&m);
    }
    tu_checks++;
    for (int t = 0; t < THREADS; t++) {
        CHECK(pthread_join(th[t], NULL) == 0);
        CHECK_OK(s[t].status);
    }
    CHECK_STATUS(pc_connection_poll(b, 0), PC_ERR_TIMEOUT);

    /* THREADS receivers on one end, THREADS senders on the other: each message is
     * received exactly once, whole. */
    atomic_int *seen = calloc(THREADS * PER_THREAD, sizeof *seen);
    CHECK(seen != NULL);
    struct receiver r[THREADS];
    pthread_t rt[THREADS];
    for (int t = 0; t < THREADS; t++) {
        r[t] = (struct receiver){.c = b, .seen = seen, .status = 12345};
        CHECK(pthread_create(&rt[t], NULL, receiver_main, &r[t]) == 0);
    }
    for (int t = 0; t < THREADS; t++) {
        s[t] = (struct sender){.c = a, .t = t, .status = 12345};
        CHECK(pthread_create(&th[t], NULL, sender_main, &s[t]) == 0);
    }
    for (int t = 0; t < THREADS; t++) {
        CHECK(pthread_join(th[t], NULL) == 0);
        CHECK_OK(s[t].status);
    }
    for (int t = 0; t < THREADS; t++)
        CHECK_OK(pc_connection_send_bytes(a, NULL, 0)); /* one stop per receiver */
    int total = 0;
    for (int t = 0; t < THREADS; t++) {
        CHECK(pthread_join(rt[t], NULL) == 0);
        CHECK_OK(r[t].status);
        total += r[t].got;
    }
    CHECK(total == THREADS * PER_THREAD);
    for (int k = 0; k < THREADS * PER_THREAD; k++) {
        if (atomic_load(&seen[k]) != 1)
            FAIL("message %d was received %d times", k, atomic_load(&seen[k]));
    }
    tu_checks++;
    free(seen);
    free_pipe(a, b);
}

int main(void)
{
    tu_init("test_pipe_wait", 100);
    RUN(test_poll);
    RUN(test_set_timeout);
    RUN(test_wait);
    RUN(test_wait_any);
    RUN(test_interrupt);
    RUN(test_threads);
    return tu_done();
}
