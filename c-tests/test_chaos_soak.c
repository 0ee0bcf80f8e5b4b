/*
 * test_chaos_soak.c: a queue, a lock, a pool and a manager under load while a chaos
 * thread SIGKILLs and SIGSTOP/SIGCONTs random producers, consumers, lock holders,
 * manager clients (pc_process children) and pool workers, for 60 s (`test_chaos_soak
 * --seconds N`, or PC_SOAK_SECONDS, for longer). Then, by the header's rules:
 *  - every message put (pc_queue_put returned PC_OK) is got exactly once, except at most
 *    one per consumer killed inside its get; one whose producer died inside its put is
 *    got at most once; none is got twice;
 *  - a counter incremented under the lock is exact: a holder logs its increment first,
 *    and the next acquirer, told PC_ERR_OWNER_DEAD, redoes a logged one;
 *  - every pool task returns its result or PC_ERR_WORKER_DIED;
 *  - the manager's server keeps serving: a fresh client's round trip succeeds after each
 *    client killed; a client's key in the managed dict holds what it last set (or, after
 *    a kill, what its killed predecessor was setting), and its managed queue gives back
 *    what it put; the objects return to the baseline when the clients are gone;
 *  - nothing is left: no child, fd, mapping or /dev/shm name.
 *
 * ctest-timeout: 120
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "manager_common.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define PRODUCERS 2
#define CONSUMERS 2
#define HOLDERS 2
#define CLIENTS 2
#define SLOTS (PRODUCERS + CONSUMERS + HOLDERS + CLIENTS)
#define MAX_SEQ (1 << 23)

/* What the test and its children share (MAP_SHARED, made before they start). */
struct soak {
    atomic_int stop;
    /* Producers: the next sequence number of each producer slot, and per message id
     * (slot * MAX_SEQ + seq) whether its put returned PC_OK, and how often it was got. */
    atomic_int next_seq[PRODUCERS];
    atomic_uchar put_ok[PRODUCERS * MAX_SEQ];
    atomic_uchar got[PRODUCERS * MAX_SEQ];
    /* Consumers: set around a get until the message is counted. */
    atomic_int getting[CONSUMERS];
    /* The lock's counter, each holder slot's increments, and the redo log of the one
     * under way (log_slot -1: none). */
    volatile long counter;
    volatile long done[HOLDERS];
    volatile long log_counter, log_done;
    volatile int log_slot;
    /* Manager clients: the server's address, and per client slot the value whose set
     * returned PC_OK last and the one being set (a killed client's set may have landed). */
    char address[128];
    atomic_long set_ok[CLIENTS];
    atomic_long setting[CLIENTS];
};

static struct soak *S;
static pc_queue *Q;
static pc_lock *L;

static int producer_main(void *arg)
{
    int slot = (int)(intptr_t)arg;
    while (!atomic_load(&S->stop)) {
        int seq = atomic_fetch_add(&S->next_seq[slot], 1);
        if (seq >= MAX_SEQ) { /* out of ids: idle until the stop */
            while (!atomic_load(&S->stop))
                usleep(10000);
            return 0;
        }
        uint32_t id = (uint32_t)(slot * MAX_SEQ + seq);
        int st;
        do
            st = pc_queue_put(Q, &id, sizeof id, 0.2);
        while (st == PC_ERR_FULL && !atomic_load(&S->stop));
        if (st == PC_OK)
            atomic_store(&S->put_ok[id], 1);
        else if (st != PC_ERR_FULL)
            return 2;
    }
    return 0;
}

static int consumer_main(void *arg)
{
    int slot = (int)(intptr_t)arg;
    while (!atomic_load(&S->stop)) {
        atomic_store(&S->getting[slot], 1);
        pc_bytes b;
        int st = pc_queue_get(Q, 0.2, &b);
        if (st == PC_OK) {
            uint32_t id;
            if (b.len != sizeof id)
                return 3;
            memcpy(&id, b.data, sizeof id);
            atomic_fetch_add(&S->got[id], 1);
            pc_bytes_free(&b);
        } else if (st != PC_ERR_EMPTY) {
            return 2;
        }
        atomic_store(&S->getting[slot], 0);
    }
    return 0;
}

/* Redoes the increment a dead holder logged (idempotent). */
static void redo_logged(void)
{
    if (S->log_slot >= 0) {
        S->counter = S->log_counter;
        S->done[S->log_slot] = S->log_done;
        S->log_slot = -1;
    }
}

static int holder_main(void *arg)
{
    int slot = (int)(intptr_t)arg;
    while (!atomic_load(&S->stop)) {
        int st = pc_lock_acquire(L, 0.5);
        if (st == PC_ERR_TIMEOUT)
            continue;
        if (st != PC_OK && st != PC_ERR_OWNER_DEAD)
            return 2;
        redo_logged(); /* only a dead holder leaves a log */
        S->log_counter = S->counter + 1;
        S->log_done = S->done[slot] + 1;
        S->log_slot = slot;
        long c = S->counter;
        usleep(100); /* a lost update shows if the lock fails to exclude */
        S->counter = c + 1;
        S->done[slot] = S->log_done;
        S->log_slot = -1;
        if (pc_lock_release(L) != PC_OK)
            return 2;
    }
    return 0;
}

/* Whether `d[slot]` is what the client slot last set, or was setting when killed. */
static bool dict_holds_last(pc_dict *d, int slot)
{
    pc_item v;
    int st = pc_dict_get(d, pc_item_int(slot), &v);
    if (st == PC_ERR_KEY)
        return atomic_load(&S->set_ok[slot]) == 0;
    if (st != PC_OK)
        return false;
    bool ok = v.kind == PC_KIND_INT &&
              (v.i == atomic_load(&S->set_ok[slot]) || v.i == atomic_load(&S->setting[slot]));
    pc_item_release(&v);
    return ok;
}

/* A manager client: its own key in the shared dict "soak", set then got, and its own
 * anonymous managed queue (an object the server must drop when the client is killed). */
static int client_main(void *arg)
{
    int slot = (int)(intptr_t)arg;
    pc_manager *m = connected(S->address);
    pc_dict *d = new_dict(m, "soak");
    pc_queue *q;
    CHECK_OK(pc_manager_queue(m, NULL, 0, &q));
    if (!dict_holds_last(d, slot))
        return 3;
    while (!atomic_load(&S->stop)) {
        long v = atomic_load(&S->set_ok[slot]) + 1;
        atomic_store(&S->setting[slot], v);
        if (pc_dict_set(d, pc_item_int(slot), pc_item_int(v)) != PC_OK)
            return 2;
        atomic_store(&S->set_ok[slot], v);
        if (!dict_holds_last(d, slot))
            return 3;
        pc_bytes b;
        if (pc_queue_put(q, &v, sizeof v, 1.0) != PC_OK || pc_queue_get(q, 1.0, &b) != PC_OK)
            return 2;
        bool same = b.len == sizeof v && memcmp(b.data, &v, sizeof v) == 0;
        pc_bytes_free(&b);
        if (!same)
            return 3;
    }
    pc_queue_free(q);
    pc_dict_free(d);
    pc_manager_free(m);
    return 0;
}

/* ---- the test process: slots, chaos, pool, manager ---- */

struct slot {
    pc_process *p;
    pid_t pid;
};

static struct slot slots[SLOTS];
static pthread_mutex_t slots_mutex = PTHREAD_MUTEX_INITIALIZER;

struct figures {
    int kills, stops, pool_kills, respawns, consumer_losses, producer_losses;
    int client_kills, server_checks;
    long messages, tasks, tasks_died, client_sets;
};
static struct figures F;

static pc_target_fn slot_target(int i, intptr_t *arg)
{
    if (i < PRODUCERS) {
        *arg = i;
        return producer_main;
    }
    if (i < PRODUCERS + CONSUMERS) {
        *arg = i - PRODUCERS;
        return consumer_main;
    }
    if (i < PRODUCERS + CONSUMERS + HOLDERS) {
        *arg = i - PRODUCERS - CONSUMERS;
        return holder_main;
    }
    *arg = i - PRODUCERS - CONSUMERS - HOLDERS;
    return client_main;
}

static void slot_start(int i)
{
    intptr_t arg;
    pc_target_fn fn = slot_target(i, &arg);
    slots[i].p = start(fn, (void *)arg);
    slots[i].pid = pc_process_pid(slots[i].p);
}

/* Joins a slot's process that ended; a killed consumer inside its get may have taken a
 * message with it. Fails on an exit status other than 0 or a SIGKILL. */
static void slot_reap(int i)
{
    int code = finish(slots[i].p, 10.0);
    if (code != 0 && code != -SIGKILL)
        FAIL("slot %d's process ended with %d", i, code);
    int c = i - PRODUCERS;
    if (code == -SIGKILL && c >= 0 && c < CONSUMERS && atomic_exchange(&S->getting[c], 0))
        F.consumer_losses++;
    slots[i].p = NULL;
}

/* Restarts the slots whose process was killed (until the stop). */
static void respawn_dead(void)
{
    pthread_mutex_lock(&slots_mutex);
    for (int i = 0; i < SLOTS; i++) {
        if (pc_process_is_alive(slots[i].p))
            continue;
        slot_reap(i);
        slot_start(i);
        F.respawns++;
    }
    pthread_mutex_unlock(&slots_mutex);
}

static pid_t server_pid; /* the manager's: no pool worker */

static bool is_slot_pid(pid_t pid)
{
    for (int i = 0; i < SLOTS; i++)
        if (slots[i].pid == pid)
            return true;
    return false;
}

/* A random live child that is not a slot's: a pool worker (0 when none). */
static pid_t pool_worker(void)
{
    pid_t kids[64];
    int n = list_children(kids, 64), live = 0;
    for (int i = 0; i < n; i++)
        if (!is_slot_pid(kids[i]) && kids[i] != server_pid && pid_running(kids[i]))
            kids[live++] = kids[i];
    return live ? kids[rand() % live] : 0;
}

static atomic_int chaos_stop;

static void *chaos_main(void *arg)
{
    (void)arg;
    while (!atomic_load(&chaos_stop)) {
        sleep_s(0.05 + (rand() % 100) / 1000.0);
        pthread_mutex_lock(&slots_mutex);
        int slot = rand() % SLOTS;
        pid_t victim = slots[slot].pid;
        bool pool = rand() % 4 == 0;
        if (pool)
            victim = pool_worker();
        if (victim > 0 && rand() % 2 == 0) {
            kill(victim, SIGKILL);
            pool ? F.pool_kills++ : F.kills++;
            if (!pool && slot >= SLOTS - CLIENTS)
                F.client_kills++;
        } else if (victim > 0) {
            kill(victim, SIGSTOP);
            pthread_mutex_unlock(&slots_mutex);
            sleep_s((rand() % 50) / 1000.0);
            pthread_mutex_lock(&slots_mutex);
            kill(victim, SIGCONT);
            F.stops++;
        }
        pthread_mutex_unlock(&slots_mutex);
    }
    return NULL;
}

static int task_echo(const void *arg, size_t len, pc_buffer *result)
{
    usleep(2000);
    return pc_buffer_write(result, arg, len) == PC_OK ? 0 : 1;
}

/* Submits a batch of tasks; each returns its argument or PC_ERR_WORKER_DIED. */
static void pool_batch(pc_pool *pool)
{
    enum { BATCH = 16 };
    pc_async_result *r[BATCH];
    for (uint32_t i = 0; i < BATCH; i++)
        CHECK_OK(pc_pool_apply_async(pool, task_echo, &i, sizeof i, NULL, NULL, &r[i]));
    for (uint32_t i = 0; i < BATCH; i++) {
        pc_bytes b;
        int st = pc_async_result_get(r[i], 30.0, &b, 1);
        if (st == PC_OK) {
            CHECK(b.len == sizeof i && memcmp(b.data, &i, sizeof i) == 0);
            pc_bytes_free(&b);
        } else if (st == PC_ERR_WORKER_DIED) {
            F.tasks_died++;
        } else {
            FAIL("pool task %u returned %s", i, pc_status_str(st));
        }
        F.tasks++;
        pc_async_result_free(r[i]);
    }
}

/* A fresh client's round trip to the manager's server; fails if its objects stay above
 * `most` for 10 s (a killed client's are released once the server sees it gone). */
static void check_server(size_t most)
{
    pc_manager *m = connected(S->address);
    double deadline = now() + 10.0;
    size_t n;
    while ((n = objects(m)) > most && now() < deadline)
        sleep_s(0.02);
    if (n > most)
        FAIL("the manager holds %zu objects, at most %zu expected", n, most);
    pc_manager_free(m);
    F.server_checks++;
}

/* Checks the queue's rule for every message id; returns how many were got. */
static long check_messages(void)
{
    long got = 0, lost = 0;
    for (int p = 0; p < PRODUCERS; p++) {
        int n = atomic_load(&S->next_seq[p]);
        for (int seq = 0; seq < n && seq < MAX_SEQ; seq++) {
            int id = p * MAX_SEQ + seq;
            int g = atomic_load(&S->got[id]);
            if (g > 1)
                FAIL("message %d was got %d times", id, g);
            got += g;
            if (g == 0 && atomic_load(&S->put_ok[id]))
                lost++;
            if (g == 0 && !atomic_load(&S->put_ok[id]))
                F.producer_losses++;
        }
    }
    if (lost > F.consumer_losses)
        FAIL("%ld messages put were never got; consumers killed inside a get: %d", lost,
             F.consumer_losses);
    return got;
}

static double soak_seconds(int argc, char **argv)
{
    const char *env = getenv("PC_SOAK_SECONDS");
    double s = env ? atof(env) : 60.0;
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "--seconds") == 0)
            s = atof(argv[i + 1]);
    return s > 0 ? s : 60.0;
}

int main(int argc, char **argv)
{
    double seconds = soak_seconds(argc, argv);
    tu_init(argv[0], (unsigned)seconds + 50);
    srand((unsigned)getpid());
    /* The library's process-wide fds (made at first use) are not the soak's. */
    pc_pool_options opts = {.processes = 2};
    pc_pool *pool;
    CHECK_OK(pc_pool_new(&opts, &pool));
    pool_batch(pool);
    CHECK_OK(pc_pool_terminate(pool));
    pc_pool_free(pool);
    CHECK(finish(start(target_return, NULL), 10.0) == 0);
    pc_manager_free(started(NULL, NULL));
    F.tasks = 0;
    struct tu_resources before;
    resources_before(&before);

    S = shared_new(sizeof *S);
    S->log_slot = -1;
    CHECK_OK(pc_queue_new(64, &Q));
    CHECK_OK(pc_lock_new(&L));
    CHECK_OK(pc_pool_new(&opts, &pool));
    pc_manager *m = started(NULL, &server_pid);
    snprintf(S->address, sizeof S->address, "%s", pc_manager_address(m));
    pc_dict *d = new_dict(m, "soak");
    size_t baseline = objects(m);
    pthread_mutex_lock(&slots_mutex);
    for (int i = 0; i < SLOTS; i++)
        slot_start(i);
    pthread_mutex_unlock(&slots_mutex);

    pthread_t chaos;
    CHECK(pthread_create(&chaos, NULL, chaos_main, NULL) == 0);
    double end = now() + seconds;
    int client_kills = 0;
    while (now() < end) {
        pool_batch(pool);
        respawn_dead();
        pthread_mutex_lock(&slots_mutex);
        bool killed = F.client_kills > client_kills;
        client_kills = F.client_kills;
        pthread_mutex_unlock(&slots_mutex);
        if (killed) /* each live client holds one object, its queue */
            check_server(baseline + CLIENTS);
    }
    atomic_store(&chaos_stop, 1);
    CHECK(pthread_join(chaos, NULL) == 0);

    atomic_store(&S->stop, 1);
    for (int i = 0; i < SLOTS; i++)
        slot_reap(i);
    pc_bytes b;
    while (pc_queue_get(Q, 0.5, &b) == PC_OK) {
        uint32_t id;
        CHECK(b.len == sizeof id);
        memcpy(&id, b.data, sizeof id);
        atomic_fetch_add(&S->got[id], 1);
        pc_bytes_free(&b);
    }
    F.messages = check_messages();
    redo_logged();
    long sum = 0;
    for (int h = 0; h < HOLDERS; h++)
        sum += S->done[h];
    if (S->counter != sum)
        FAIL("the counter is %ld, its holders made %ld increments", S->counter, sum);
    for (int c = 0; c < CLIENTS; c++) {
        CHECK(dict_holds_last(d, c));
        F.client_sets += atomic_load(&S->set_ok[c]);
    }
    check_server(baseline);
    CHECK(objects(m) == baseline);
    pc_dict_free(d);
    pc_manager_free(m);

    CHECK_OK(pc_pool_terminate(pool));
    pc_pool_free(pool);
    pc_queue_free(Q);
    pc_lock_free(L);
    shared_free(S, sizeof *S);
    CHECK(wait_no_children(10.0));
    check_resources_after(&before, 1, "soak objects");
    fprintf(stderr,
            "   %.0f s: %d kills, %d stops, %d pool worker kills, %d respawns, %ld messages, "
            "0 duplicated, %d lost with killed consumers, %d absent after cut-short puts, "
            "%ld increments exact, %ld tasks (%ld worker died), %ld managed sets exact, "
            "%d manager clients killed, %d fresh round trips, objects back to %zu, "
            "0 leaked\n",
            seconds, F.kills, F.stops, F.pool_kills, F.respawns, F.messages,
            F.consumer_losses, F.producer_losses, sum, F.tasks, F.tasks_died, F.client_sets,
            F.client_kills, F.server_checks, baseline);
    return tu_done();
}
