/*
 * test_queue_faults_kill.c: queues (include/processing.h: pc_queue_*) when a process
 * dies: a producer SIGKILLed in the middle of its puts (no partial message, the others
 * neither hang nor lose a message, qsize stays exact); a consumer SIGKILLed in the middle
 * of its gets (no message twice, at most the one it was taking missing); a child killed
 * while it filled a bounded queue and waited for a slot, or while it waited for a message
 * (no slot leaks); a producer that crashes in a put. The kill tests repeat at random
 * moments.
 *
 * The contract in one process and across processes without faults is in
 * test_queue_{args,api,lifecycle,concurrency}.c.
 *
 * `test_queue_faults_kill NAME…` runs only the named subtests.
 *
 * ctest-timeout: 70
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

/* Stamped messages, for the kill tests: `len` (>= STAMP_MIN) bytes of a reference
 * pattern per producer, with a stamp {magic, producer, seq, len} at the start of every
 * 4 KiB and in the last 16 bytes. A record whose copy was cut short, or that mixes two
 * messages, has a stale or zero stamp somewhere (the last one at the latest); checking
 * is a few memcmp, so gigabytes per second. */
#define STAMP_MAGIC 0x51554555u /* "QUEU" */

#define STAMP_EVERY (4 * KIB)

#define STAMP_SIZE 16

#define STAMP_MIN 32

struct stamp {
    uint32_t magic, producer, seq, len;
};

/* The stamps of a `len`-byte message: at every multiple of STAMP_EVERY that leaves room
 * before the last one, and the last 16 bytes. Writes `s` there (or, with s NULL, the
 * reference pattern back). */
static void put_stamps(uint8_t *buf, size_t len, const struct stamp *s, uint32_t producer)
{
    size_t last = len - STAMP_SIZE;
    for (size_t off = 0; off + STAMP_SIZE <= last; off += STAMP_EVERY)
        memcpy(buf + off, s ? (const void *)s : ref_pattern[producer] + off, STAMP_SIZE);
    memcpy(buf + last, s ? (const void *)s : ref_pattern[producer] + last, STAMP_SIZE);
}

/* Turns `buf`, holding len bytes of ref_pattern[producer], into message (producer, seq). */
static void stamp_message(uint8_t *buf, size_t len, uint32_t producer, uint32_t seq)
{
    struct stamp s = {STAMP_MAGIC, producer, seq, (uint32_t)len};
    put_stamps(buf, len, &s, producer);
}

/* And back into len bytes of the reference pattern. */
static void unstamp_message(uint8_t *buf, size_t len, uint32_t producer)
{
    put_stamps(buf, len, NULL, producer);
}

/* Makes a fresh copy of message (producer, seq) (malloc'ed). */
static uint8_t *new_message(size_t len, uint32_t producer, uint32_t seq)
{
    uint8_t *buf = malloc(len);
    if (!buf)
        return NULL;
    memcpy(buf, ref_pattern[producer], len);
    stamp_message(buf, len, producer, seq);
    return buf;
}

/* Checks a stamped message; returns NULL when it is whole, else what is wrong (static
 * text). No CHECK: children use it. *producer and *seq get its stamp. */
static const char *check_message(const uint8_t *m, size_t len, uint32_t *producer,
                                 uint32_t *seq)
{
    struct stamp s;
    if (len < STAMP_MIN)
        return "shorter than a stamped message";
    size_t last = len - STAMP_SIZE;
    memcpy(&s, m + last, STAMP_SIZE);
    if (s.magic != STAMP_MAGIC || s.producer >= 4)
        return "no stamp at the end (a partial message?)";
    if (s.len != len)
        return "its length differs from the one stamped";
    *producer = s.producer;
    *seq = s.seq;
    const uint8_t *ref = ref_pattern[s.producer];
    size_t pos = 0; /* checked up to here */
    for (size_t off = 0; off + STAMP_SIZE <= last; off += STAMP_EVERY) {
        if (off > pos && memcmp(m + pos, ref + pos, off - pos) != 0)
            return "bytes differ from the pattern (a partial or mixed-up message)";
        if (memcmp(m + off, &s, STAMP_SIZE) != 0)
            return "a stale or foreign stamp inside (a partial or mixed-up message)";
        pos = off + STAMP_SIZE;
    }
    if (last > pos && memcmp(m + pos, ref + pos, last - pos) != 0)
        return "bytes differ from the pattern (a partial or mixed-up message)";
    return NULL;
}

/* Gets one stamped message and checks it whole (FAIL otherwise). Returns the status. */
static int get_checked(pc_queue *q, double timeout, uint32_t *producer, uint32_t *seq)
{
    pc_bytes m = {NULL, 0};
    int st = pc_queue_get(q, timeout, &m);
    if (st != PC_OK)
        return st;
    const char *bad = check_message(m.data, m.len, producer, seq);
    if (bad)
        FAIL("a %zu-byte message got from the queue is not whole: %s", m.len, bad);
    pc_bytes_free(&m);
    tu_checks++;
    return PC_OK;
}

/* After a fault: a put and a get still work, within a bounded time (a dead holder of a
 * side lock is taken over). */
static void check_round_trip(pc_queue *q)
{
    double t0 = now();
    CHECK_OK(pc_queue_put(q, "alive?", 6, 5.0));
    pc_bytes m = {NULL, 0};
    CHECK_OK(pc_queue_get(q, 5.0, &m));
    CHECK(m.len == 6 && memcmp(m.data, "alive?", 6) == 0);
    pc_bytes_free(&m);
    double took = now() - t0;
    if (took > 5.0)
        FAIL("a put and a get after the fault took %.2f s", took);
}

static void no_core_files(void)
{
    struct rlimit none = {0, 0};
    setrlimit(RLIMIT_CORE, &none);
}

/* ---- a producer killed in the middle of its puts ---- */
#define KILL_ROUNDS 5

/* The sizes a killed producer cycles through: large ones (the copy takes milliseconds,
 * so the kill lands inside it most of the time) and ones for the small ring. */
static const size_t victim_sizes[] = {8 * MIB, 150 * KIB + 8, 4 * MIB + 40, 256 * KIB,
                                      200 * KIB + 16, 8 * MIB - 8, 64};

#define N_VICTIM_SIZES (sizeof victim_sizes / sizeof victim_sizes[0])

struct kp_shared {
    pc_queue *q;
    atomic_int started;
    atomic_int completed; /* the victim's puts that returned PC_OK */
    atomic_int in_put;    /* 1 while the victim is inside pc_queue_put */
    atomic_int survivor_puts;
    atomic_int stop_survivor;
    atomic_int max_puts; /* the victim stops (and sleeps) after that many */
};

/* Puts stamped messages of victim_sizes in a loop until killed. */
static int target_victim_producer(void *arg)
{
    struct kp_shared *sh = arg;
    uint8_t *buf = malloc(REF_MAX);
    if (!buf)
        return 1;
    memcpy(buf, ref_pattern[0], REF_MAX);
    atomic_store(&sh->started, 1);
    for (uint32_t seq = 0; (int)seq < atomic_load(&sh->max_puts); seq++) {
        size_t len = victim_sizes[seq % N_VICTIM_SIZES];
        stamp_message(buf, len, 0, seq);
        atomic_store(&sh->in_put, 1);
        int st = pc_queue_put(sh->q, buf, len, 20.0);
        atomic_store(&sh->in_put, 0);
        if (st != PC_OK)
            return 2;
        atomic_store(&sh->completed, (int)seq + 1);
        unstamp_message(buf, len, 0);
    }
    sleep_s(20.0); /* until killed */
    return 3;
}

/* Puts small stamped messages (producer 1) until told to stop. */
static int target_survivor_producer(void *arg)
{
    struct kp_shared *sh = arg;
    uint8_t buf[2 * STAMP_EVERY];
    for (uint32_t seq = 0; !atomic_load(&sh->stop_survivor); seq++) {
        size_t len = 32 + (seq * 37) % (sizeof buf - 32);
        memcpy(buf, ref_pattern[1], len);
        stamp_message(buf, len, 1, seq);
        int st = pc_queue_put(sh->q, buf, len, 20.0);
        unstamp_message(buf, len, 1);
        if (st != PC_OK)
            return 1;
        atomic_store(&sh->survivor_puts, (int)seq + 1);
        if (seq % 8 == 7)
            sleep_s(0.001);
    }
    return 0;
}

struct drained {
    uint32_t next[2]; /* the next seq expected of each producer */
};

/* Takes and checks every message there is now (timeout 0 once empty). Every message
 * must be whole and the next one of its producer. */
static void drain_in_order(pc_queue *q, struct drained *d, double first_timeout)
{
    double timeout = first_timeout;
    for (;;) {
        uint32_t p = 99, seq = 0;
        int st = get_checked(q, timeout, &p, &seq);
        if (st == PC_ERR_EMPTY)
            return;
        CHECK_OK(st);
        CHECK(p < 2);
        if (seq != d->next[p])
            FAIL("producer %u's message %u came when %u was expected (lost or repeated)", p,
                 seq, d->next[p]);
        d->next[p]++;
        timeout = 0;
    }
}

static void kill_producer_round(int round)
{
    bool bounded = round % 2 == 1;
    struct kp_shared *sh = shared_new(sizeof *sh);
    CHECK_OK(pc_queue_new(bounded ? 4 : 0, &sh->q));
    /* Unbounded and nobody taking: the victim stops after 24 puts (about 100 MiB). */
    atomic_store(&sh->max_puts, bounded ? 1000000 : 24);
    struct drained d = {{0, 0}};

    pc_process *victim = start(target_victim_producer, sh);
    pc_process *survivor = start(target_survivor_producer, sh);
    CHECK(wait_flag(&sh->started, 1, 10.0));
    double kill_at = now() + uniform(0.001, bounded ? 0.25 : 0.03);
    while (now() < kill_at) {
        if (bounded)
            drain_in_order(sh->q, &d, 0.01); /* take while it puts */
        else
            sleep_s(0.001);
    }
    CHECK_OK(pc_process_kill(victim));
    CHECK(finish(victim, 10.0) == -SIGKILL);
    int in_put = atomic_load(&sh->in_put);
    int completed = atomic_load(&sh->completed);
    int survivor_at_kill = atomic_load(&sh->survivor_puts);

    /* The survivor goes on putting: the side lock is not lost with the victim. Keep
     * draining meanwhile (a bounded queue). */
    double until = now() + 0.4;
    while (now() < until || atomic_load(&sh->survivor_puts) <= survivor_at_kill + 8) {
        if (now() > until + 10.0)
            FAIL("the surviving producer made no progress after the other was killed "
                 "(%d puts then, %d now)",
                 survivor_at_kill, atomic_load(&sh->survivor_puts));
        drain_in_order(sh->q, &d, 0.01);
    }
    atomic_store(&sh->stop_survivor, 1);
    CHECK(finish(survivor, 10.0) == 0);
    drain_in_order(sh->q, &d, 0);

    fprintf(stderr, "   round %d (%s): killed after %d puts%s; %u of its messages got, "
                    "%u of the survivor's\n",
            round, bounded ? "maxsize 4, taken meanwhile" : "unbounded", completed,
            in_put ? ", inside a put" : "", d.next[0], d.next[1]);
    /* Every put that returned is there; the one cut short is there whole or not at all. */
    if ((int)d.next[0] < completed || (int)d.next[0] > completed + 1)
        FAIL("got %u of the killed producer's messages; it completed %d puts", d.next[0],
             completed);
    if ((int)d.next[1] != atomic_load(&sh->survivor_puts))
        FAIL("got %u of the survivor's messages; it put %d", d.next[1],
             atomic_load(&sh->survivor_puts));
    check_queue_counts(sh->q, 0, false);
    check_round_trip(sh->q);
    check_queue_counts(sh->q, 0, false);
    /* Another producer process and another consumer process still work. */
    atomic_store(&sh->stop_survivor, 0);
    atomic_store(&sh->survivor_puts, 0);
    survivor = start(target_survivor_producer, sh);
    d.next[1] = 0;
    until = now() + 10.0;
    while (atomic_load(&sh->survivor_puts) < 5 && now() < until)
        drain_in_order(sh->q, &d, 0.01);
    CHECK(atomic_load(&sh->survivor_puts) >= 5);
    atomic_store(&sh->stop_survivor, 1);
    until = now() + 10.0;
    while (pc_process_is_alive(survivor) && now() < until)
        drain_in_order(sh->q, &d, 0.01);
    CHECK(finish(survivor, 10.0) == 0);
    drain_in_order(sh->q, &d, 0);
    CHECK((int)d.next[1] == atomic_load(&sh->survivor_puts));
    if (bounded) {
        for (int i = 0; i < 4; i++)
            CHECK_OK(pc_queue_put(sh->q, "slot", 4, 0));
        check_queue_counts(sh->q, 4, true);
        CHECK_STATUS(pc_queue_put(sh->q, "slot", 4, 0), PC_ERR_FULL);
        for (int i = 0; i < 4; i++) {
            pc_bytes m = {NULL, 0};
            CHECK_OK(pc_queue_get(sh->q, 0, &m));
            pc_bytes_free(&m);
        }
    }
    check_queue_counts(sh->q, 0, false);
    pc_queue_free(sh->q);
    shared_free(sh, sizeof *sh);
}

static void test_producer_killed(void)
{
    double t0 = now();
    for (int round = 0; round < KILL_ROUNDS && now() - t0 < 20.0; round++)
        kill_producer_round(round);
}

/* ---- a consumer killed in the middle of its gets ---- */
#define KC_MESSAGES 24

struct kc_shared {
    pc_queue *q;
    atomic_int started[2];
    atomic_int got[KC_MESSAGES]; /* by seq: how many times a consumer completed it */
    atomic_int taken_by[2];
    atomic_int in_get[2];
    atomic_int bad[2]; /* a consumer saw a partial or unexpected message */
};

struct kc_arg {
    struct kc_shared *sh;
    int id;
    bool use_get_into;
    double idle; /* it ends when the queue stays empty that long */
};

/* Gets and checks messages until the queue stays empty for a->idle seconds. */
static int target_consumer(void *arg)
{
    const struct kc_arg *a = arg;
    struct kc_shared *sh = a->sh;
    uint8_t *buf = a->use_get_into ? malloc(REF_MAX) : NULL;
    if (a->use_get_into && !buf)
        return 1;
    atomic_store(&sh->started[a->id], 1);
    for (;;) {
        pc_bytes m = {NULL, 0};
        size_t len = 0;
        atomic_store(&sh->in_get[a->id], 1);
        int st = a->use_get_into ? pc_queue_get_into(sh->q, buf, REF_MAX, &len, a->idle)
                                 : pc_queue_get(sh->q, a->idle, &m);
        atomic_store(&sh->in_get[a->id], 0);
        if (st == PC_ERR_EMPTY)
            break;
        if (st != PC_OK)
            return 2;
        const uint8_t *data = a->use_get_into ? buf : m.data;
        if (!a->use_get_into)
            len = m.len;
        /* Report it at once (from its last stamp), so that a kill between the get and
         * the report is rare; then check it whole. */
        struct stamp last = {0, 0, 0, 0};
        if (len >= STAMP_MIN)
            memcpy(&last, data + len - STAMP_SIZE, STAMP_SIZE);
        if (last.magic != STAMP_MAGIC || last.producer != 0 || last.seq >= KC_MESSAGES) {
            atomic_store(&sh->bad[a->id], 1);
            return 3;
        }
        atomic_fetch_add(&sh->got[last.seq], 1);
        atomic_fetch_add(&sh->taken_by[a->id], 1);
        uint32_t p = 99, seq = 0;
        const char *bad = check_message(data, len, &p, &seq);
        if (bad || p != 0 || seq != last.seq) {
            atomic_store(&sh->bad[a->id], 1);
            return 4;
        }
        pc_bytes_free(&m);
    }
    free(buf);
    return 0;
}

static size_t kc_size(int seq)
{
    static const size_t sizes[] = {4 * MIB, 200 * KIB, 8 * MIB, 1 * KIB, 2 * MIB + 8, 256 * KIB};
    return sizes[seq % 6];
}

static void kill_consumer_round(int round)
{
    bool with_survivor = round % 2 == 0;
    struct kc_shared *sh = shared_new(sizeof *sh);
    CHECK_OK(pc_queue_new(round == 3 ? KC_MESSAGES : 0, &sh->q));
    for (int seq = 0; seq < KC_MESSAGES; seq++) {
        uint8_t *m = new_message(kc_size(seq), 0, (uint32_t)seq);
        CHECK(m != NULL);
        CHECK_OK(pc_queue_put(sh->q, m, kc_size(seq), 0));
        free(m);
    }
    check_queue_counts(sh->q, KC_MESSAGES, round == 3);

    /* The one to kill never ends by itself before it is killed (within 60 ms). */
    struct kc_arg va = {sh, 0, round % 3 == 1, 10.0}, sa = {sh, 1, round % 3 != 1, 0.3};
    pc_process *victim = start(target_consumer, &va);
    pc_process *survivor = NULL;
    if (with_survivor)
        survivor = start(target_consumer, &sa);
    CHECK(wait_flag(&sh->started[0], 1, 10.0));
    sleep_s(uniform(0.001, with_survivor ? 0.06 : 0.02));
    CHECK_OK(pc_process_kill(victim));
    int code = finish(victim, 10.0);
    int in_get = atomic_load(&sh->in_get[0]);
    CHECK(atomic_load(&sh->bad[0]) == 0);
    if (code != -SIGKILL)
        FAIL("the consumer to kill ended with %d before it was killed (took %d)", code,
             atomic_load(&sh->taken_by[0]));
    if (survivor) {
        int scode = finish(survivor, 20.0);
        if (scode != 0)
            FAIL("the surviving consumer ended with %d (bad message: %d)", scode,
                 atomic_load(&sh->bad[1]));
    }
    /* What the consumers reported (a consumer may die between its get and its report:
     * that message then counts as missing, the one allowed). Alone, the killed one took
     * a prefix. */
    int reported = 0;
    for (int seq = 0; seq < KC_MESSAGES; seq++)
        reported += atomic_load(&sh->got[seq]);
    if (!survivor) {
        for (int seq = 0; seq < KC_MESSAGES; seq++) {
            if (atomic_load(&sh->got[seq]) != (seq < reported))
                FAIL("the killed consumer, alone, did not take messages in order: message "
                     "%d taken %d times, %d taken in all",
                     seq, atomic_load(&sh->got[seq]), reported);
        }
    }
    /* The parent takes what is left: whole, in order. */
    int parent_got = 0, first_left = -1;
    for (;;) {
        uint32_t p = 99, seq = 0;
        int st = get_checked(sh->q, 0, &p, &seq);
        if (st == PC_ERR_EMPTY)
            break;
        CHECK_OK(st);
        CHECK(p == 0 && seq < KC_MESSAGES);
        if (first_left < 0)
            first_left = (int)seq;
        atomic_fetch_add(&sh->got[seq], 1);
        parent_got++;
    }
    int missing = 0, missing_seq = -1;
    for (int seq = 0; seq < KC_MESSAGES; seq++) {
        int n = atomic_load(&sh->got[seq]);
        if (n > 1)
            FAIL("message %d was delivered %d times", seq, n);
        if (n == 0) {
            missing++;
            missing_seq = seq;
        }
    }
    fprintf(stderr, "   round %d: the killed consumer took %d%s, %s%d, the parent %d; %d missing%s\n",
            round, atomic_load(&sh->taken_by[0]), in_get ? " (killed inside a get)" : "",
            survivor ? "the survivor " : "", survivor ? atomic_load(&sh->taken_by[1]) : 0,
            parent_got, missing, missing ? " (the one being taken)" : "");
    if (missing > 1)
        FAIL("%d messages are missing (at most the one being taken may be)", missing);
    if (missing == 1 && !survivor && missing_seq != reported)
        FAIL("message %d is missing, but the killed consumer was taking message %d",
             missing_seq, reported);
    if (!survivor && first_left >= 0 && first_left != reported + missing)
        FAIL("the first message left is %d; the killed consumer had taken %d", first_left,
             reported);
    check_queue_counts(sh->q, 0, false);
    check_round_trip(sh->q);
    /* Another consumer process still works. */
    uint8_t *m = new_message(kc_size(0), 0, 0);
    CHECK(m != NULL);
    CHECK_OK(pc_queue_put(sh->q, m, kc_size(0), 5.0));
    free(m);
    memset((void *)sh->got, 0, sizeof sh->got);
    atomic_store(&sh->taken_by[1], 0);
    CHECK(finish(start(target_consumer, &sa), 20.0) == 0);
    CHECK(atomic_load(&sh->taken_by[1]) == 1 && atomic_load(&sh->got[0]) == 1);
    check_queue_counts(sh->q, 0, false);
    pc_queue_free(sh->q);
    shared_free(sh, sizeof *sh);
}

static void test_consumer_killed(void)
{
    double t0 = now();
    for (int round = 0; round < KILL_ROUNDS && now() - t0 < 20.0; round++)
        kill_consumer_round(round);
}

/* ---- killed while waiting: no slot leaks ---- */
struct fk_shared {
    pc_queue *q;
    atomic_int waiting;
    atomic_int got;
};

/* Fills a Queue(4), says so, then blocks on a 5th put. */
static int target_fill_then_block(void *arg)
{
    struct fk_shared *sh = arg;
    char msg[8];
    for (int i = 0; i < 4; i++) {
        snprintf(msg, sizeof msg, "m%d", i);
        if (pc_queue_put(sh->q, msg, strlen(msg), 5.0) != PC_OK)
            return 1;
    }
    atomic_store(&sh->waiting, 1);
    pc_queue_put(sh->q, "m4", 2, PC_FOREVER);
    return 2; /* not reached: killed while blocked */
}

/* Blocks in a get (with a task of a JoinableQueue taken before, never marked done). */
static int target_take_then_block(void *arg)
{
    struct fk_shared *sh = arg;
    pc_bytes m = {NULL, 0};
    if (pc_queue_get(sh->q, 5.0, &m) != PC_OK)
        return 1;
    pc_bytes_free(&m);
    atomic_store(&sh->got, 1);
    atomic_store(&sh->waiting, 1);
    pc_queue_get(sh->q, PC_FOREVER, &m);
    return 2;
}

static void test_killed_while_waiting(void)
{
    struct fk_shared *sh = shared_new(sizeof *sh);
    char msg[8];
    for (int round = 0; round < 3; round++) {
        atomic_store(&sh->waiting, 0);
        CHECK_OK(pc_queue_new(4, &sh->q));
        pc_process *p = start(target_fill_then_block, sh);
        CHECK(wait_flag(&sh->waiting, 1, 10.0));
        sleep_s(uniform(0.0, 0.1));
        CHECK_OK(pc_process_kill(p));
        CHECK(finish(p, 10.0) == -SIGKILL);
        check_queue_counts(sh->q, 4, true);
        for (int i = 0; i < 4; i++) {
            snprintf(msg, sizeof msg, "m%d", i);
            pc_bytes m = {NULL, 0};
            CHECK_OK(pc_queue_get(sh->q, 0, &m));
            CHECK(m.len == strlen(msg) && memcmp(m.data, msg, m.len) == 0);
            pc_bytes_free(&m);
        }
        check_queue_counts(sh->q, 0, false); /* the blocked put left nothing */
        for (int i = 0; i < 4; i++)
            CHECK_OK(pc_queue_put(sh->q, "again", 5, 0));
        check_queue_counts(sh->q, 4, true);
        CHECK_STATUS(pc_queue_put(sh->q, "fifth", 5, 0), PC_ERR_FULL);
        for (int i = 0; i < 4; i++) {
            pc_bytes m = {NULL, 0};
            CHECK_OK(pc_queue_get(sh->q, 0, &m));
            CHECK(m.len == 5 && memcmp(m.data, "again", 5) == 0);
            pc_bytes_free(&m);
        }
        check_queue_counts(sh->q, 0, false);
        check_round_trip(sh->q);
        pc_queue_free(sh->q);
    }

    /* A consumer killed while it waited for a message takes none of the later ones; a
     * JoinableQueue keeps its task unfinished (as in Python: nobody marked it done). */
    atomic_store(&sh->waiting, 0);
    CHECK_OK(pc_joinable_queue_new(0, &sh->q));
    CHECK_OK(pc_queue_put(sh->q, "task", 4, 0));
    pc_process *p = start(target_take_then_block, sh);
    CHECK(wait_flag(&sh->waiting, 1, 10.0));
    sleep_s(0.05);
    CHECK_OK(pc_process_kill(p));
    CHECK(finish(p, 10.0) == -SIGKILL);
    CHECK(atomic_load(&sh->got) == 1);
    check_queue_counts(sh->q, 0, false);
    CHECK_STATUS(pc_queue_join(sh->q, 0.05), PC_ERR_TIMEOUT);
    CHECK_OK(pc_queue_put(sh->q, "later", 5, 0));
    pc_bytes m = {NULL, 0};
    CHECK_OK(pc_queue_get(sh->q, 1.0, &m));
    CHECK(m.len == 5 && memcmp(m.data, "later", 5) == 0);
    pc_bytes_free(&m);
    CHECK_OK(pc_queue_task_done(sh->q));
    CHECK_OK(pc_queue_task_done(sh->q));
    CHECK_OK(pc_queue_join(sh->q, 0));
    CHECK_STATUS(pc_queue_task_done(sh->q), PC_ERR_VALUE);
    pc_queue_free(sh->q);
    shared_free(sh, sizeof *sh);
}

/* ---- a process that dies by a crash (not a kill) in the middle of a put ---- */

/* Puts large messages, and crashes from another thread at a random moment. */
struct crash_arg {
    pc_queue *q;
    double after;
    atomic_int *puts;
};

static void *crash_thread(void *arg)
{
    const struct crash_arg *a = arg;
    sleep_s(a->after);
    raise(SIGSEGV);
    return NULL;
}

static int target_crash_in_put(void *arg)
{
    const struct crash_arg *a = arg;
    no_core_files();
    signal(SIGSEGV, SIG_DFL);
    uint8_t *buf = malloc(REF_MAX);
    if (!buf)
        return 1;
    memcpy(buf, ref_pattern[0], REF_MAX);
    pthread_t th;
    if (pthread_create(&th, NULL, crash_thread, (void *)a) != 0)
        return 2;
    for (uint32_t seq = 0; seq < 12; seq++) {
        stamp_message(buf, 8 * MIB, 0, seq);
        int st = pc_queue_put(a->q, buf, 8 * MIB, 20.0);
        unstamp_message(buf, 8 * MIB, 0);
        if (st != PC_OK)
            return 3;
        atomic_store(a->puts, (int)seq + 1);
    }
    sleep_s(20.0);
    return 4;
}

static void test_producer_crashed(void)
{
    atomic_int *puts = shared_new(sizeof *puts);
    for (int round = 0; round < 2; round++) {
        pc_queue *q;
        CHECK_OK(pc_queue_new(0, &q));
        atomic_store(puts, 0);
        struct crash_arg a = {q, uniform(0.005, 0.04), puts};
        pc_process *p = start(target_crash_in_put, &a);
        int code = finish(p, 20.0);
        if (code != -SIGSEGV)
            FAIL("the crashing producer ended with %d", code);
        int completed = atomic_load(puts);
        uint32_t next = 0;
        for (;;) {
            uint32_t prod = 99, seq = 0;
            int st = get_checked(q, 0, &prod, &seq);
            if (st == PC_ERR_EMPTY)
                break;
            CHECK_OK(st);
            CHECK(prod == 0 && seq == next);
            next++;
        }
        fprintf(stderr, "   crashed after %d puts; %u messages got\n", completed, next);
        CHECK((int)next >= completed && (int)next <= completed + 1);
        check_queue_counts(q, 0, false);
        check_round_trip(q);
        pc_queue_free(q);
    }
    shared_free(puts, sizeof *puts);
}

int main(int argc, char **argv)
{
    tu_init("test_queue_faults_kill", 65);
    tu_select(argc, argv);
    make_refs();
    RUN(test_producer_killed);
    RUN(test_consumer_killed);
    RUN(test_killed_while_waiting);
    RUN(test_producer_crashed);
    free_refs();
    return tu_done();
}
