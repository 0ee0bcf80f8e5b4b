/*
 * test_queue_faults_load.c: queues (include/processing.h: pc_queue_*) under many
 * processes: 3 producer and 3 consumer processes passing messages of random sizes (every
 * message arrives once, intact, in order per producer); a process stopped (SIGSTOP) while
 * it copies a message: the others' timeouts still hold.
 *
 * The contract in one process and across processes without faults is in
 * test_queue_{args,api,lifecycle,concurrency}.c.
 *
 * `test_queue_faults_load NAME…` runs only the named subtests.
 *
 * ctest-timeout: 50
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
#include <sys/resource.h>
#include <unistd.h>
#include "queue_faults_common.h"

/* ---- many producers and consumers ---- */
#define MP_PRODUCERS 3

#define MP_CONSUMERS 3

#define MP_PER 200

/* Message (p, seq): a 12-byte header {p, seq, len} then fill_pattern(p * 100000 + seq). */
static size_t mp_size(uint32_t p, uint32_t seq)
{
    uint64_t h = mix((uint64_t)p * 1000003u + seq + 1);
    if (h % 40 == 0)
        return MIB + (size_t)((h >> 8) % (2 * MIB)); /* a few larger ones */
    if (h % 40 == 1)
        return 12; /* the header only */
    return 12 + (size_t)((h >> 8) % (300 * KIB));
}

struct mp_shared {
    pc_queue *q;
    atomic_int received[MP_PRODUCERS][MP_PER];
    atomic_int got_by[MP_CONSUMERS];
    atomic_int errors;
    atomic_int error_claimed;
    char first_error[200];
};

struct mp_arg {
    struct mp_shared *sh;
    uint32_t id;
};

static void mp_error(struct mp_shared *sh, const char *what, uint32_t p, uint32_t seq)
{
    if (atomic_fetch_add(&sh->error_claimed, 1) == 0)
        snprintf(sh->first_error, sizeof sh->first_error, "%s (producer %u, message %u)",
                 what, p, seq);
    atomic_fetch_add(&sh->errors, 1);
}

static int target_mp_producer(void *arg)
{
    const struct mp_arg *a = arg;
    uint8_t *buf = malloc(3 * MIB + 64);
    if (!buf)
        return 1;
    for (uint32_t seq = 0; seq < MP_PER; seq++) {
        uint32_t len = (uint32_t)mp_size(a->id, seq);
        uint32_t header[3] = {a->id, seq, len};
        memcpy(buf, header, sizeof header);
        fill_pattern(buf + 12, len - 12, a->id * 100000u + seq);
        int st = pc_queue_put(a->sh->q, buf, len, 30.0);
        if (st != PC_OK) {
            mp_error(a->sh, pc_status_str(st), a->id, seq);
            free(buf);
            return 2;
        }
    }
    free(buf);
    return 0;
}

static int target_mp_consumer(void *arg)
{
    const struct mp_arg *a = arg;
    struct mp_shared *sh = a->sh;
    int32_t last[MP_PRODUCERS] = {-1, -1, -1};
    for (;;) {
        pc_bytes m = {NULL, 0};
        int st = pc_queue_get(sh->q, 30.0, &m);
        if (st != PC_OK) {
            mp_error(sh, pc_status_str(st), 99, 99);
            return 1;
        }
        if (m.len == 0)
            return 0; /* stop */
        uint32_t header[3] = {99, 99, 0};
        if (m.len >= 12)
            memcpy(header, m.data, 12);
        uint32_t p = header[0], seq = header[1];
        if (p >= MP_PRODUCERS || seq >= MP_PER || header[2] != m.len) {
            mp_error(sh, "a message with a bad header", p, seq);
        } else if (m.len != mp_size(p, seq) ||
                   pattern_mismatch(m.data + 12, m.len - 12, p * 100000u + seq) != m.len - 12) {
            mp_error(sh, "a corrupt message", p, seq);
        } else {
            if ((int32_t)seq <= last[p])
                mp_error(sh, "out of order (one consumer saw a producer's messages go back)",
                         p, seq);
            last[p] = (int32_t)seq;
            atomic_fetch_add(&sh->received[p][seq], 1);
            atomic_fetch_add(&sh->got_by[a->id], 1);
        }
        pc_bytes_free(&m);
    }
}

static void mp_round(size_t maxsize)
{
    fprintf(stderr, "   %d producers, %d consumers, maxsize %zu\n", MP_PRODUCERS, MP_CONSUMERS,
            maxsize);
    struct mp_shared *sh = shared_new(sizeof *sh);
    CHECK_OK(pc_queue_new(maxsize, &sh->q));
    struct mp_arg pa[MP_PRODUCERS], ca[MP_CONSUMERS];
    pc_process *prod[MP_PRODUCERS], *cons[MP_CONSUMERS];
    for (uint32_t i = 0; i < MP_CONSUMERS; i++) {
        ca[i] = (struct mp_arg){sh, i};
        cons[i] = start(target_mp_consumer, &ca[i]);
    }
    for (uint32_t i = 0; i < MP_PRODUCERS; i++) {
        pa[i] = (struct mp_arg){sh, i};
        prod[i] = start(target_mp_producer, &pa[i]);
    }
    for (int i = 0; i < MP_PRODUCERS; i++) {
        int code = finish(prod[i], 60.0);
        if (code != 0)
            FAIL("producer %d ended with %d (%d errors, the first: %s)", i, code,
                 atomic_load(&sh->errors), sh->first_error);
    }
    for (int i = 0; i < MP_CONSUMERS; i++)
        CHECK_OK(pc_queue_put(sh->q, NULL, 0, 30.0));
    for (int i = 0; i < MP_CONSUMERS; i++) {
        int code = finish(cons[i], 60.0);
        if (code != 0)
            FAIL("consumer %d ended with %d (%d errors, the first: %s)", i, code,
                 atomic_load(&sh->errors), sh->first_error);
    }
    if (atomic_load(&sh->errors) != 0)
        FAIL("%d errors, the first: %s", atomic_load(&sh->errors), sh->first_error);
    for (int p = 0; p < MP_PRODUCERS; p++) {
        for (int s = 0; s < MP_PER; s++) {
            if (atomic_load(&sh->received[p][s]) != 1)
                FAIL("producer %d's message %d was received %d times", p, s,
                     atomic_load(&sh->received[p][s]));
        }
    }
    tu_checks++;
    fprintf(stderr, "   the consumers got %d, %d and %d\n", atomic_load(&sh->got_by[0]),
            atomic_load(&sh->got_by[1]), atomic_load(&sh->got_by[2]));
    check_queue_counts(sh->q, 0, false);
    pc_queue_free(sh->q);
    shared_free(sh, sizeof *sh);
}

static void test_many_producers_consumers(void)
{
    mp_round(0);
    mp_round(5);
}

/* ---- a process stopped while it holds a side lock: others' timeouts still hold ---- */
struct stopped_shared {
    pc_queue *q;
    atomic_int started;
    atomic_int stop;
    atomic_int rounds;
};

/* Takes the message there is and puts it back, over and over: nearly all its time is
 * spent copying 32 MiB under one side lock or the other. */
static int target_circulate(void *arg)
{
    struct stopped_shared *sh = arg;
    size_t cap = 40 * MIB;
    uint8_t *buf = malloc(cap);
    if (!buf)
        return 1;
    memset(buf, 1, cap);
    atomic_store(&sh->started, 1);
    while (!atomic_load(&sh->stop)) {
        size_t len = 0;
        int st = pc_queue_get_into(sh->q, buf, cap, &len, 0.5);
        if (st == PC_ERR_EMPTY)
            continue;
        if (st != PC_OK)
            return 2;
        if (pc_queue_put(sh->q, buf, len, 5.0) != PC_OK)
            return 3;
        atomic_fetch_add(&sh->rounds, 1);
    }
    free(buf);
    return 0;
}

struct watchdog {
    pthread_t thread;
    pid_t pid;
    double after;
    atomic_int done;
    atomic_int fired;
};

static void *watchdog_main(void *arg)
{
    struct watchdog *w = arg;
    double end = now() + w->after;
    while (!atomic_load(&w->done)) {
        if (now() >= end) {
            atomic_store(&w->fired, 1);
            kill(w->pid, SIGCONT);
            return NULL;
        }
        sleep_s(0.005);
    }
    return NULL;
}

/* One timed call made from its own thread while the child is stopped. */
struct timed_op {
    pthread_t thread;
    pc_queue *q;
    bool is_get;
    int status;
    double took;
    pc_bytes m;
};

static void *timed_op_main(void *arg)
{
    struct timed_op *op = arg;
    double t0 = now();
    op->status = op->is_get ? pc_queue_get(op->q, 0.3, &op->m) : pc_queue_put(op->q, "small", 5, 0.3);
    op->took = now() - t0;
    return NULL;
}

static void test_stopped_holder(void)
{
    struct stopped_shared *sh = shared_new(sizeof *sh);
    CHECK_OK(pc_queue_new(0, &sh->q));
    uint8_t *big = malloc(32 * MIB);
    CHECK(big != NULL);
    memset(big, 7, 32 * MIB);
    CHECK_OK(pc_queue_put(sh->q, big, 32 * MIB, 0));
    free(big);
    pc_process *p = start(target_circulate, sh);
    pid_t pid = pc_process_pid(p);
    CHECK(wait_flag(&sh->started, 1, 10.0));
    CHECK(wait_flag(&sh->rounds, 1, 10.0));

    /* Stop the child at random moments: nearly always inside a get (holding the
     * consumers' lock) or a put (the producers'). Then a get(timeout 0.3) and a put(0.3)
     * into this unbounded queue, at once from two threads, must each return within the
     * timeout plus a generous margin: a message or EMPTY, OK (or FULL, had the put to
     * wait for the producers' lock). A watchdog continues the child after 3 s. */
    int late_gets = 0, late_puts = 0, rounds = 0;
    double worst_get = 0, worst_put = 0;
    double t_end = now() + 10.0;
    for (; rounds < 12 && now() < t_end && late_gets + late_puts < 3; rounds++) {
        sleep_s(uniform(0.0, 0.03));
        CHECK(kill(pid, SIGSTOP) == 0);
        double t_stop = now();
        while (pid_state(pid, NULL) != 'T') {
            if (now() - t_stop > 5.0)
                FAIL("the child did not stop");
            sleep_s(0.001);
        }
        struct watchdog w = {0, pid, 3.0, 0, 0};
        CHECK(pthread_create(&w.thread, NULL, watchdog_main, &w) == 0);
        struct timed_op get = {0, sh->q, true, -100, 0, {NULL, 0}};
        struct timed_op put = {0, sh->q, false, -100, 0, {NULL, 0}};
        CHECK(pthread_create(&get.thread, NULL, timed_op_main, &get) == 0);
        CHECK(pthread_create(&put.thread, NULL, timed_op_main, &put) == 0);
        CHECK(pthread_join(get.thread, NULL) == 0);
        CHECK(pthread_join(put.thread, NULL) == 0);
        atomic_store(&w.done, 1);
        CHECK(pthread_join(w.thread, NULL) == 0);
        CHECK(kill(pid, SIGCONT) == 0);

        if (get.status != PC_OK && get.status != PC_ERR_EMPTY)
            FAIL("get(0.3) with a stopped peer: %s", pc_status_str(get.status));
        if (put.status != PC_OK && put.status != PC_ERR_FULL)
            FAIL("put(0.3) with a stopped peer: %s", pc_status_str(put.status));
        worst_get = get.took > worst_get ? get.took : worst_get;
        worst_put = put.took > worst_put ? put.took : worst_put;
        late_gets += get.took > 2.3;
        late_puts += put.took > 2.3;
        if (get.status == PC_OK) /* keep it circulating */
            CHECK_OK(pc_queue_put(sh->q, get.m.data, get.m.len, 5.0));
        pc_bytes_free(&get.m);
    }
    atomic_store(&sh->stop, 1);
    kill(pid, SIGCONT);
    CHECK(finish(p, 20.0) == 0);
    fprintf(stderr, "   %d stops: the longest get(0.3) took %.3f s, the longest put(0.3) "
                    "%.3f s\n", rounds, worst_get, worst_put);
    if (late_gets || late_puts)
        FAIL("with a peer stopped inside a get or a put, %d of %d get(timeout 0.3) and %d of "
             "%d put(timeout 0.3) calls took more than 2.3 s (until the peer was continued "
             "after 3 s): a side lock is waited for without the caller's timeout",
             late_gets, rounds, late_puts, rounds);
    pc_bytes m = {NULL, 0};
    while (pc_queue_get(sh->q, 0, &m) == PC_OK)
        pc_bytes_free(&m);
    check_queue_counts(sh->q, 0, false);
    pc_queue_free(sh->q);
    shared_free(sh, sizeof *sh);
}

int main(int argc, char **argv)
{
    tu_init("test_queue_faults_load", 45);
    tu_select(argc, argv);
    make_refs();
    RUN(test_many_producers_consumers);
    RUN(test_stopped_holder);
    free_refs();
    return tu_done();
}
