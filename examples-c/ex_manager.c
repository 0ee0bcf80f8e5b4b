/*
 * ex_manager.c: every object a SyncManager serves, used from several processes through
 * one manager. The seed's "server process" example, and its ex_synchronize.py run with a
 * manager instead of shared memory:
 *
 *     def f(d, l):
 *         d[1] = '1'
 *         d['2'] = 2
 *         d[0.25] = None
 *         l.reverse()
 *
 *     manager = Manager()                  # starts the server process
 *     d = manager.dict()
 *     l = manager.list(range(10))
 *     p = Process(target=f, args=(d, l))
 *     p.start()
 *     p.join()
 *     print d
 *     print l
 *
 * and ex_synchronize.py's 'manager' mode, which runs its tests on the manager's objects
 * (manager.Lock(), manager.Semaphore(3), manager.Condition(), manager.Event(),
 * manager.Value('i', 0), manager.Queue(), ...) instead of shared memory:
 *
 *     namespace = processing.Manager()
 *     namespace.Process = processing.Process
 *
 * A manager is a server process that owns the objects; every other process holds
 * handles that send each call to it (one round trip per call). pc_manager_start forks the
 * server ("SyncManager-1") and connects to it; the handles made here are inherited by the
 * children forked afterwards, and each child opens its own connection to the server the
 * first time it uses one. So the pattern is Python's: make the objects, then start the
 * processes that use them.
 *
 * The sections, each with its own processes:
 *
 *   dict, list      4 processes set 20 keys and append 20 items;
 *   Namespace       the parent sets attributes, a child reads them, adds one, deletes one;
 *   Value, Lock     4 processes increment a counter 50 times each, each step under the
 *                   lock (a get then a set, two round trips: without the lock some
 *                   increments would be lost); the total must be exact;
 *   RLock           the parent takes it twice, a child cannot take it meanwhile, then a
 *                   child takes it twice;
 *   Semaphore(2)    6 processes, each counting itself in and out of a "running" Value
 *                   under the lock, keeping the maximum: it must never exceed 2;
 *   BoundedSemaphore(2)  releasing it above 2 fails with PC_ERR_VALUE, in any process;
 *   Condition       the parent waits (wait_for a flag), a child sets the flag and
 *                   notifies;
 *   Event           3 processes wait until the parent sets it;
 *   Barrier(3)      3 processes pass it together, with arrival indices 0, 1, 2;
 *   Queue           3 producers send 10 numbered messages each to the parent, which
 *                   receives each exactly once, in order per producer;
 *   JoinableQueue   2 workers take 12 tasks and mark each done; the parent's join
 *                   returns when the last one is;
 *   Array('d')      4 processes write the elements of a managed array of doubles.
 *
 * At the end, with every handle freed and every child gone, the server holds no object:
 * the parent's references went with pc_*_free, each child's with its connection.
 *
 * Managed values hold Python values: a dict, list, namespace or queue carries pc_items
 * (None, bool, int, float, bytes, str); a Value or an Array converts to and from its
 * typecode. A managed Value has no pc_value_add (no atomic step in the server: a get and
 * a set are two calls, hence the lock) and a managed Semaphore no pc_semaphore_value (a
 * Python proxy has none either); both are PC_ERR_NOT_SUPPORTED, checked below.
 *
 * Every result is checked, and every wait has a timeout, so a bug cannot hang the
 * example; real programs may pass PC_FOREVER. It exits with 0 only if every check held.
 *
 * Build: cc ex_manager.c -lprocessing
 */
#include <processing.h>

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TIMEOUT 10.0 /* seconds: the bound on every wait */
#define MAX_PROCS 6

/* ---- checking ---- */

/* The name of the running process ("MainProcess", "Process-3", ...). */
static const char *my_name(void)
{
    const pc_process *me;
    return pc_current_process(&me) == PC_OK ? pc_process_name(me) : "?";
}

/* Reports a failed check, with the process and the library's explanation; returns 1. */
static int fail(int line, const char *what, int status, int wanted)
{
    if (wanted == PC_OK)
        fprintf(stderr, "%s: line %d: %s: %s (%s)\n", my_name(), line, what,
                pc_status_str(status), pc_last_error());
    else
        fprintf(stderr, "%s: line %d: %s: %s instead of %s (%s)\n", my_name(), line, what,
                pc_status_str(status), pc_status_str(wanted), pc_last_error());
    return 1;
}

/* Runs a call that returns a pc_status; unless it is PC_OK, reports it and returns 1
 * from the calling function (in a child: its exit code). */
#define CHECK(call)                                                                       \
    do {                                                                                  \
        pc_status check_status_ = (call);                                                 \
        if (check_status_ != PC_OK)                                                       \
            return fail(__LINE__, #call, check_status_, PC_OK);                           \
    } while (0)

/* Runs a call that must fail with `want`. */
#define CHECK_STATUS(call, want)                                                          \
    do {                                                                                  \
        pc_status check_status_ = (call);                                                 \
        if (check_status_ != (want))                                                      \
            return fail(__LINE__, #call, check_status_, (want));                          \
    } while (0)

/* A condition that must hold. */
#define EXPECT(cond)                                                                      \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "%s: line %d: expected %s\n", my_name(), __LINE__, #cond);    \
            return 1;                                                                     \
        }                                                                                 \
    } while (0)

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

/* Whether `item` is the str `s`. */
static bool is_str(const pc_item *item, const char *s)
{
    return item->kind == PC_KIND_STR && item->len == strlen(s) &&
           memcmp(item->data, s, item->len) == 0;
}

/* ---- the managed objects, made before any child starts (children inherit them) ---- */

static pc_manager *manager;
static pc_dict *dict;
static pc_list *list, *indices, *results;
static pc_namespace *ns;
static pc_lock *lock, *rlock;
static pc_semaphore *sem, *bsem;
static pc_condition *cond;
static pc_event *event;
static pc_barrier *barrier;
static pc_queue *queue, *jqueue;
static pc_value *counter, *running, *max_running, *ready, *waiting;
static pc_array *array;

#define ARRAY_LEN 12

static int make_objects(void)
{
    int zero = 0;
    CHECK(pc_manager_dict(manager, NULL, &dict));
    CHECK(pc_manager_list(manager, NULL, &list));
    CHECK(pc_manager_list(manager, NULL, &indices));
    CHECK(pc_manager_list(manager, NULL, &results));
    CHECK(pc_manager_namespace(manager, NULL, &ns));
    CHECK(pc_manager_lock(manager, NULL, &lock));
    CHECK(pc_manager_rlock(manager, NULL, &rlock));
    CHECK(pc_manager_semaphore(manager, NULL, 2, &sem));
    CHECK(pc_manager_bounded_semaphore(manager, NULL, 2, &bsem));
    CHECK(pc_manager_condition(manager, NULL, &cond));
    CHECK(pc_manager_event(manager, NULL, &event));
    CHECK(pc_manager_barrier(manager, NULL, 3, &barrier));
    CHECK(pc_manager_queue(manager, NULL, 0, &queue));
    CHECK(pc_manager_joinable_queue(manager, NULL, 0, &jqueue));
    CHECK(pc_manager_value(manager, NULL, 'i', &zero, &counter));
    CHECK(pc_manager_value(manager, NULL, 'i', &zero, &running));
    CHECK(pc_manager_value(manager, NULL, 'i', &zero, &max_running));
    CHECK(pc_manager_value(manager, NULL, 'i', &zero, &ready));
    CHECK(pc_manager_value(manager, NULL, 'i', &zero, &waiting));
    CHECK(pc_manager_array(manager, NULL, 'd', ARRAY_LEN, NULL, &array));
    return 0;
}

static void free_objects(void)
{
    pc_dict_free(dict);
    pc_list_free(list);
    pc_list_free(indices);
    pc_list_free(results);
    pc_namespace_free(ns);
    pc_lock_free(lock);
    pc_lock_free(rlock);
    pc_semaphore_free(sem);
    pc_semaphore_free(bsem);
    pc_condition_free(cond);
    pc_event_free(event);
    pc_barrier_free(barrier);
    pc_queue_free(queue);
    pc_queue_free(jqueue);
    pc_value_free(counter);
    pc_value_free(running);
    pc_value_free(max_running);
    pc_value_free(ready);
    pc_value_free(waiting);
    pc_array_free(array);
}

/* ---- groups of processes ---- */

struct group {
    int n;
    pc_process *p[MAX_PROCS];
};

/* Each process's argument: its index in its group. */
static int index_of[MAX_PROCS] = {0, 1, 2, 3, 4, 5};

/* Starts `n` more processes running target(&index). */
static int start_group(struct group *g, int n, pc_target_fn target)
{
    for (int i = 0; i < n; i++) {
        CHECK(pc_process_new(target, &index_of[g->n], &g->p[g->n]));
        g->n++;
        CHECK(pc_process_start(g->p[g->n - 1]));
    }
    return 0;
}

/* Joins and frees every process of `g`; returns 1 if `failed` already, or if one did not
 * exit with 0. After a failure the processes are terminated first, so none is left. */
static int finish_group(struct group *g, int failed)
{
    int terminated = failed;
    for (int i = 0; i < g->n; i++) {
        pc_process *p = g->p[i];
        if (pc_process_pid(p) != 0) { /* started */
            if (terminated)
                pc_process_terminate(p);
            int code = -1;
            pc_status s = pc_process_join(p, 2 * TIMEOUT);
            if (s == PC_OK)
                s = pc_process_exitcode(p, &code);
            if (s != PC_OK) {
                failed |= fail(__LINE__, "joining a process", s, PC_OK);
                if (pc_process_kill(p) == PC_OK)
                    pc_process_join(p, TIMEOUT);
            } else if (code != 0 && !(terminated && code == -SIGTERM)) {
                fprintf(stderr, "%s exited with %d\n", pc_process_name(p), code);
                failed = 1;
            }
        }
        pc_process_free(p);
    }
    g->n = 0;
    return failed;
}

/* ---- dict and list ---- */

#define DL_PROCS 4
#define DL_EACH 5
#define DL_TOTAL (DL_PROCS * DL_EACH)

/* d[i] = i*i and l.append('item i') for this process's 5 values of i. */
static int dict_list_worker(void *arg)
{
    int k = *(int *)arg;
    for (int j = 0; j < DL_EACH; j++) {
        int i = k * DL_EACH + j;
        char text[32];
        snprintf(text, sizeof text, "item %d", i);
        CHECK(pc_dict_set(dict, pc_item_int(i), pc_item_int((int64_t)i * i)));
        CHECK(pc_list_append(list, pc_item_str(text)));
    }
    return 0;
}

static int check_dict_list(void)
{
    size_t len = 0;
    CHECK(pc_dict_len(dict, &len));
    EXPECT(len == DL_TOTAL);

    /* One snapshot of every pair: each key 0..19 once, with its square. */
    pc_item *keys = NULL, *vals = NULL;
    size_t count = 0;
    CHECK(pc_dict_items(dict, &keys, &vals, &count));
    int seen[DL_TOTAL] = {0};
    bool ok = count == DL_TOTAL;
    for (size_t i = 0; ok && i < count; i++) {
        ok = keys[i].kind == PC_KIND_INT && keys[i].i >= 0 && keys[i].i < DL_TOTAL &&
             seen[keys[i].i]++ == 0 && vals[i].kind == PC_KIND_INT &&
             vals[i].i == keys[i].i * keys[i].i;
    }
    pc_items_release(keys, count);
    pc_items_release(vals, count);
    EXPECT(ok);

    /* Single look-ups; a missing key is Python's KeyError. */
    pc_item v;
    CHECK(pc_dict_get(dict, pc_item_int(7), &v));
    EXPECT(v.kind == PC_KIND_INT && v.i == 49);
    pc_item_release(&v);
    bool has = true;
    CHECK(pc_dict_contains(dict, pc_item_int(DL_TOTAL), &has));
    EXPECT(!has);
    CHECK_STATUS(pc_dict_get(dict, pc_item_int(DL_TOTAL), &v), PC_ERR_KEY);

    /* The list: 20 str items, each 'item i' exactly once (in the order they came). */
    pc_item *items = NULL;
    CHECK(pc_list_items(list, &items, &count));
    int found[DL_TOTAL] = {0};
    ok = count == DL_TOTAL;
    for (size_t i = 0; ok && i < count; i++) {
        int n = -1;
        char text[32];
        ok = items[i].kind == PC_KIND_STR && items[i].len < sizeof text;
        if (ok) {
            memcpy(text, items[i].data, items[i].len);
            text[items[i].len] = '\0';
            ok = sscanf(text, "item %d", &n) == 1 && n >= 0 && n < DL_TOTAL && found[n]++ == 0;
        }
    }
    pc_items_release(items, count);
    EXPECT(ok);
    printf("dict: %d keys set by %d processes, d[7] = 49\n", DL_TOTAL, DL_PROCS);
    printf("list: %d items appended by %d processes, each once\n", DL_TOTAL, DL_PROCS);
    return 0;
}

static int test_dict_list(void)
{
    struct group g = {0};
    int failed = start_group(&g, DL_PROCS, dict_list_worker);
    if (finish_group(&g, failed))
        return 1;
    return check_dict_list();
}

/* ---- Namespace ---- */

/* Reads x and y, sets z = 2 * x and who = its name, deletes y. */
static int namespace_worker(void *arg)
{
    (void)arg;
    pc_item x, y;
    CHECK(pc_namespace_get(ns, "x", &x));
    CHECK(pc_namespace_get(ns, "y", &y));
    bool ok = x.kind == PC_KIND_INT && x.i == 10 && is_str(&y, "hello");
    pc_item_release(&y);
    EXPECT(ok);
    CHECK(pc_namespace_set(ns, "z", pc_item_int(2 * x.i)));
    CHECK(pc_namespace_set(ns, "who", pc_item_str(my_name())));
    CHECK(pc_namespace_del(ns, "y"));
    return 0;
}

static int test_namespace(void)
{
    CHECK(pc_namespace_set(ns, "x", pc_item_int(10)));
    CHECK(pc_namespace_set(ns, "y", pc_item_str("hello")));
    struct group g = {0};
    int failed = start_group(&g, 1, namespace_worker);
    if (finish_group(&g, failed))
        return 1;

    pc_item z, who;
    CHECK(pc_namespace_get(ns, "z", &z));
    EXPECT(z.kind == PC_KIND_INT && z.i == 20);
    CHECK_STATUS(pc_namespace_get(ns, "y", &z), PC_ERR_KEY); /* AttributeError */
    CHECK(pc_namespace_get(ns, "who", &who));
    EXPECT(who.kind == PC_KIND_STR);
    printf("Namespace: MainProcess set x=10 y='hello'; %.*s read them, set z=20, deleted y\n",
           (int)who.len, (const char *)who.data);
    pc_item_release(&who);
    return 0;
}

/* ---- Value under a Lock ---- */

#define COUNT_PROCS 4
#define INCREMENTS 50

static int counter_worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < INCREMENTS; i++) {
        int v = 0;
        CHECK(pc_lock_acquire(lock, TIMEOUT));
        /* Should a call fail here, the lock is not left held: the server releases the
         * locks of a process whose connection ends. */
        CHECK(pc_value_get(counter, &v));
        v++;
        CHECK(pc_value_set(counter, &v));
        CHECK(pc_lock_release(lock));
    }
    return 0;
}

static int test_value_lock(void)
{
    struct group g = {0};
    int failed = start_group(&g, COUNT_PROCS, counter_worker);
    if (finish_group(&g, failed))
        return 1;
    int v = -1;
    CHECK(pc_value_get(counter, &v));
    EXPECT(v == COUNT_PROCS * INCREMENTS);
    CHECK_STATUS(pc_value_add(counter, 1), PC_ERR_NOT_SUPPORTED);
    CHECK_STATUS(pc_lock_release(lock), PC_ERR_NOT_OWNER); /* not held */
    printf("Value: %d processes x %d increments under a managed Lock = %d\n", COUNT_PROCS,
           INCREMENTS, v);
    return 0;
}

/* ---- RLock ---- */

/* While the parent holds the RLock: it can neither take it nor release it. */
static int rlock_outsider(void *arg)
{
    (void)arg;
    CHECK_STATUS(pc_lock_acquire(rlock, 0), PC_ERR_TIMEOUT);
    CHECK_STATUS(pc_lock_acquire(rlock, 0.2), PC_ERR_TIMEOUT);
    CHECK_STATUS(pc_lock_release(rlock), PC_ERR_NOT_OWNER);
    return 0;
}

/* Once it is free: takes it twice, releases it twice, and no more. */
static int rlock_twice(void *arg)
{
    (void)arg;
    CHECK(pc_lock_acquire(rlock, TIMEOUT));
    CHECK(pc_lock_acquire(rlock, 0));
    CHECK(pc_lock_release(rlock));
    CHECK(pc_lock_release(rlock));
    CHECK_STATUS(pc_lock_release(rlock), PC_ERR_NOT_OWNER);
    return 0;
}

static int test_rlock(void)
{
    CHECK(pc_lock_acquire(rlock, TIMEOUT));
    CHECK(pc_lock_acquire(rlock, 0)); /* again: its owner does not wait */
    struct group g = {0};
    int failed = start_group(&g, 1, rlock_outsider);
    if (finish_group(&g, failed))
        return 1;
    CHECK(pc_lock_release(rlock));
    CHECK(pc_lock_release(rlock));
    CHECK_STATUS(pc_lock_release(rlock), PC_ERR_NOT_OWNER);
    failed = start_group(&g, 1, rlock_twice);
    if (finish_group(&g, failed))
        return 1;
    printf("RLock: MainProcess took it twice (another process could not), then a child "
           "did\n");
    return 0;
}

/* ---- Semaphore(2) ---- */

#define SEM_PROCS 6

/* Adds `delta` to `running` under the lock, and keeps the maximum. */
static int count_running(int delta)
{
    int r = 0, m = 0;
    CHECK(pc_lock_acquire(lock, TIMEOUT));
    CHECK(pc_value_get(running, &r));
    r += delta;
    CHECK(pc_value_set(running, &r));
    CHECK(pc_value_get(max_running, &m));
    if (r > m)
        CHECK(pc_value_set(max_running, &r));
    CHECK(pc_lock_release(lock));
    return 0;
}

static int semaphore_worker(void *arg)
{
    (void)arg;
    CHECK(pc_semaphore_acquire(sem, TIMEOUT));
    if (count_running(+1) != 0)
        return 1;
    sleep_s(0.05);
    if (count_running(-1) != 0)
        return 1;
    CHECK(pc_semaphore_release(sem));
    return 0;
}

static int test_semaphore(void)
{
    struct group g = {0};
    int failed = start_group(&g, SEM_PROCS, semaphore_worker);
    if (finish_group(&g, failed))
        return 1;
    int r = -1, m = -1;
    CHECK(pc_value_get(running, &r));
    CHECK(pc_value_get(max_running, &m));
    EXPECT(r == 0);
    EXPECT(m >= 1 && m <= 2);
    int32_t value;
    CHECK_STATUS(pc_semaphore_value(sem, &value), PC_ERR_NOT_SUPPORTED);
    printf("Semaphore(2): %d processes, at most %d held it at once\n", SEM_PROCS, m);
    return 0;
}

/* ---- BoundedSemaphore(2) ---- */

static int bounded_worker(void *arg)
{
    (void)arg;
    CHECK(pc_semaphore_acquire(bsem, TIMEOUT));
    CHECK(pc_semaphore_acquire(bsem, TIMEOUT));
    CHECK_STATUS(pc_semaphore_acquire(bsem, 0), PC_ERR_TIMEOUT); /* both units taken */
    CHECK(pc_semaphore_release(bsem));
    CHECK(pc_semaphore_release(bsem));
    CHECK_STATUS(pc_semaphore_release(bsem), PC_ERR_VALUE); /* a third: above 2 */
    return 0;
}

static int test_bounded_semaphore(void)
{
    struct group g = {0};
    int failed = start_group(&g, 1, bounded_worker);
    if (finish_group(&g, failed))
        return 1;
    CHECK_STATUS(pc_semaphore_release(bsem), PC_ERR_VALUE);
    /* Still at 2: the failed releases changed nothing. */
    CHECK(pc_semaphore_acquire(bsem, 0));
    CHECK(pc_semaphore_acquire(bsem, 0));
    CHECK_STATUS(pc_semaphore_acquire(bsem, 0), PC_ERR_TIMEOUT);
    CHECK(pc_semaphore_release(bsem));
    CHECK(pc_semaphore_release(bsem));
    printf("BoundedSemaphore(2): a release above 2 fails with PC_ERR_VALUE, in a child "
           "and in MainProcess\n");
    return 0;
}

/* ---- Condition ---- */

/* Takes the condition's lock (free once the parent waits), sets the flag, notifies. */
static int condition_worker(void *arg)
{
    (void)arg;
    int one = 1;
    CHECK(pc_condition_acquire(cond, TIMEOUT));
    CHECK(pc_value_set(ready, &one));
    CHECK(pc_condition_notify(cond, 1));
    CHECK(pc_condition_release(cond));
    return 0;
}

/* The predicate of the parent's wait_for, called with the condition's lock held. A
 * failed call ends the wait at once, and says so through `ctx`. */
static bool is_ready(void *ctx)
{
    int v = 0;
    pc_status s = pc_value_get(ready, &v);
    if (s != PC_OK) {
        fail(__LINE__, "pc_value_get(ready, &v)", s, PC_OK);
        *(bool *)ctx = true;
        return true;
    }
    return v == 1;
}

static int test_condition(void)
{
    /* The parent holds the lock before the child starts, so the child can take it only
     * once the parent waits (which releases it in the server). */
    CHECK(pc_condition_acquire(cond, TIMEOUT));
    struct group g = {0};
    int failed = start_group(&g, 1, condition_worker);
    if (!failed) {
        bool broken = false;
        pc_status s = pc_condition_wait_for(cond, is_ready, &broken, TIMEOUT);
        if (s != PC_OK)
            failed = fail(__LINE__, "pc_condition_wait_for(cond, is_ready, ...)", s, PC_OK);
        else if (broken)
            failed = 1;
    }
    /* A wait takes the lock again, whatever its result: release it in every case. */
    pc_status s = pc_condition_release(cond);
    if (s != PC_OK && !failed)
        failed = fail(__LINE__, "pc_condition_release(cond)", s, PC_OK);
    if (finish_group(&g, failed))
        return 1;
    CHECK_STATUS(pc_condition_notify(cond, 1), PC_ERR_NOT_OWNER); /* lock not held */
    printf("Condition: MainProcess waited, a child set the flag and notified it\n");
    return 0;
}

/* ---- Event ---- */

#define EVENT_PROCS 3

static int event_worker(void *arg)
{
    (void)arg;
    int n = 0;
    CHECK(pc_lock_acquire(lock, TIMEOUT));
    CHECK(pc_value_get(waiting, &n));
    n++;
    CHECK(pc_value_set(waiting, &n));
    CHECK(pc_lock_release(lock));
    CHECK(pc_event_wait(event, TIMEOUT));
    EXPECT(pc_event_is_set(event));
    return 0;
}

/* Waits until the 3 children are about to wait, then sets the event. */
static int release_waiters(void)
{
    double deadline = now() + TIMEOUT;
    int n = 0;
    for (;;) {
        CHECK(pc_value_get(waiting, &n));
        if (n == EVENT_PROCS)
            break;
        EXPECT(now() < deadline);
        sleep_s(0.01);
    }
    EXPECT(!pc_event_is_set(event));
    sleep_s(0.05);
    CHECK(pc_event_set(event));
    return 0;
}

static int test_event(void)
{
    struct group g = {0};
    int failed = start_group(&g, EVENT_PROCS, event_worker);
    if (!failed)
        failed = release_waiters();
    if (finish_group(&g, failed))
        return 1;
    CHECK(pc_event_clear(event));
    CHECK_STATUS(pc_event_wait(event, 0), PC_ERR_TIMEOUT);
    printf("Event: set by MainProcess, it released %d waiting processes\n", EVENT_PROCS);
    return 0;
}

/* ---- Barrier(3) ---- */

static int barrier_worker(void *arg)
{
    (void)arg;
    size_t index = 99;
    CHECK(pc_barrier_wait(barrier, TIMEOUT, &index));
    CHECK(pc_list_append(indices, pc_item_int((int64_t)index)));
    return 0;
}

static int test_barrier(void)
{
    struct group g = {0};
    int failed = start_group(&g, 3, barrier_worker);
    if (finish_group(&g, failed))
        return 1;
    pc_item *items = NULL;
    size_t count = 0;
    CHECK(pc_list_items(indices, &items, &count));
    int seen[3] = {0};
    bool ok = count == 3;
    for (size_t i = 0; ok && i < count; i++)
        ok = items[i].kind == PC_KIND_INT && items[i].i >= 0 && items[i].i < 3 &&
             seen[items[i].i]++ == 0;
    pc_items_release(items, count);
    EXPECT(ok);
    EXPECT(pc_barrier_parties(barrier) == 3);
    EXPECT(pc_barrier_n_waiting(barrier) == 0);
    EXPECT(!pc_barrier_broken(barrier));
    printf("Barrier(3): 3 processes passed it together, arrival indices 0, 1, 2\n");
    return 0;
}

/* ---- Queue ---- */

#define PRODUCERS 3
#define MESSAGES 10

/* Puts 100*k + i for i = 0..9: the producer and the message's number. */
static int producer(void *arg)
{
    int k = *(int *)arg;
    for (int i = 0; i < MESSAGES; i++)
        CHECK(pc_queue_put_item(queue, pc_item_int(100 * k + i), TIMEOUT));
    return 0;
}

/* Takes every message while the producers run. */
static int consume(void)
{
    int next[PRODUCERS] = {0}; /* the number expected next from each producer */
    for (int n = 0; n < PRODUCERS * MESSAGES; n++) {
        pc_item item;
        CHECK(pc_queue_get_item(queue, TIMEOUT, &item));
        EXPECT(item.kind == PC_KIND_INT);
        int k = (int)(item.i / 100), i = (int)(item.i % 100);
        EXPECT(k >= 0 && k < PRODUCERS && i == next[k]);
        next[k]++;
    }
    for (int k = 0; k < PRODUCERS; k++)
        EXPECT(next[k] == MESSAGES);
    return 0;
}

static int test_queue(void)
{
    struct group g = {0};
    int failed = start_group(&g, PRODUCERS, producer);
    if (!failed)
        failed = consume();
    if (finish_group(&g, failed))
        return 1;
    size_t left = 99;
    CHECK(pc_queue_qsize(queue, &left));
    EXPECT(left == 0 && pc_queue_empty(queue));
    pc_item item;
    CHECK_STATUS(pc_queue_get_item(queue, 0, &item), PC_ERR_EMPTY);
    printf("Queue: %d numbered messages from %d producers, each received once, in order "
           "per producer\n", PRODUCERS * MESSAGES, PRODUCERS);
    return 0;
}

/* ---- JoinableQueue ---- */

#define TASKS 12
#define JQ_WORKERS 2

/* Takes tasks until None: appends each task's square to `results`, then marks it done. */
static int jq_worker(void *arg)
{
    (void)arg;
    for (;;) {
        pc_item task;
        CHECK(pc_queue_get_item(jqueue, TIMEOUT, &task));
        if (task.kind == PC_KIND_NONE) {
            CHECK(pc_queue_task_done(jqueue));
            return 0;
        }
        EXPECT(task.kind == PC_KIND_INT);
        CHECK(pc_list_append(results, pc_item_int(task.i * task.i)));
        CHECK(pc_queue_task_done(jqueue));
    }
}

static int test_joinable_queue(void)
{
    int64_t want = 0;
    for (int i = 1; i <= TASKS; i++) {
        CHECK(pc_queue_put_item(jqueue, pc_item_int(i), TIMEOUT));
        want += (int64_t)i * i;
    }
    for (int i = 0; i < JQ_WORKERS; i++)
        CHECK(pc_queue_put_item(jqueue, pc_item_none(), TIMEOUT)); /* one stop each */
    CHECK_STATUS(pc_queue_join(jqueue, 0), PC_ERR_TIMEOUT); /* nothing done yet */

    struct group g = {0};
    int failed = start_group(&g, JQ_WORKERS, jq_worker);
    if (!failed) {
        pc_status s = pc_queue_join(jqueue, TIMEOUT);
        if (s != PC_OK)
            failed = fail(__LINE__, "pc_queue_join(jqueue, TIMEOUT)", s, PC_OK);
    }
    /* join returned: every task was marked done, so every result is in. Read them
     * before the workers are joined. */
    pc_item *items = NULL;
    size_t count = 0;
    if (!failed) {
        pc_status s = pc_list_items(results, &items, &count);
        if (s != PC_OK)
            failed = fail(__LINE__, "pc_list_items(results, ...)", s, PC_OK);
    }
    if (finish_group(&g, failed))
        return 1;
    int64_t sum = 0;
    bool ok = count == TASKS;
    for (size_t i = 0; ok && i < count; i++) {
        ok = items[i].kind == PC_KIND_INT;
        sum += items[i].i;
    }
    pc_items_release(items, count);
    EXPECT(ok && sum == want);
    CHECK_STATUS(pc_queue_task_done(jqueue), PC_ERR_VALUE); /* one too many */
    printf("JoinableQueue: %d tasks done by %d workers (squares summing to %lld), join "
           "returned once all were\n", TASKS, JQ_WORKERS, (long long)sum);
    return 0;
}

/* ---- Array('d') ---- */

#define ARRAY_PROCS 4

/* Writes the elements i with i % 4 == k: a[i] = i / 4. */
static int array_worker(void *arg)
{
    int k = *(int *)arg;
    for (size_t i = (size_t)k; i < ARRAY_LEN; i += ARRAY_PROCS) {
        double x = (double)i / 4;
        CHECK(pc_array_set(array, i, &x));
    }
    return 0;
}

static int test_array(void)
{
    struct group g = {0};
    int failed = start_group(&g, ARRAY_PROCS, array_worker);
    if (finish_group(&g, failed))
        return 1;
    double a[ARRAY_LEN];
    EXPECT(pc_array_len(array) == ARRAY_LEN && pc_array_typecode(array) == 'd');
    CHECK(pc_array_read(array, 0, ARRAY_LEN, a)); /* one request for the whole slice */
    for (int i = 0; i < ARRAY_LEN; i++)
        EXPECT(a[i] == (double)i / 4);
    EXPECT(pc_array_ptr(array) == NULL); /* its memory is in the server, not here */
    double x;
    CHECK_STATUS(pc_array_get(array, ARRAY_LEN, &x), PC_ERR_INDEX);
    printf("Array('d', %d): written by %d processes:", ARRAY_LEN, ARRAY_PROCS);
    for (int i = 0; i < ARRAY_LEN; i++)
        printf(" %g", a[i]);
    printf("\n");
    return 0;
}

/* ---- main ---- */

/* Once every handle is freed and every child is gone, the server holds nothing: each
 * child's references went with its connection. That happens as the server notices the
 * connections end, so poll for it a little. */
static int check_nothing_left(void)
{
    double deadline = now() + TIMEOUT;
    size_t n = 0;
    for (;;) {
        CHECK(pc_manager_number_of_objects(manager, &n));
        if (n == 0)
            break;
        if (now() >= deadline) {
            fprintf(stderr, "the manager still holds %zu objects\n", n);
            return 1;
        }
        sleep_s(0.01);
    }
    printf("objects left in the manager: %zu\n", n);
    return 0;
}

int main(void)
{
    static const struct {
        const char *name;
        int (*run)(void);
    } tests[] = {
        {"dict and list", test_dict_list},
        {"Namespace", test_namespace},
        {"Value and Lock", test_value_lock},
        {"RLock", test_rlock},
        {"Semaphore", test_semaphore},
        {"BoundedSemaphore", test_bounded_semaphore},
        {"Condition", test_condition},
        {"Event", test_event},
        {"Barrier", test_barrier},
        {"Queue", test_queue},
        {"JoinableQueue", test_joinable_queue},
        {"Array", test_array},
    };

    /* A private address (NULL: an abstract unix socket) and this process's authkey
     * (NULL), which the children inherit. */
    pc_status s = pc_manager_new(NULL, NULL, 0, &manager);
    if (s == PC_OK)
        s = pc_manager_start(manager);
    if (s != PC_OK)
        return fail(__LINE__, "starting the manager", s, PC_OK);
    printf("manager serving at %s\n", pc_manager_address(manager));

    int failed = make_objects();
    if (!failed) {
        size_t made = 0;
        s = pc_manager_number_of_objects(manager, &made);
        if (s == PC_OK)
            printf("%zu objects made\n", made);
        else
            failed = fail(__LINE__, "pc_manager_number_of_objects", s, PC_OK);
    }
    for (size_t t = 0; !failed && t < sizeof tests / sizeof tests[0]; t++) {
        if (tests[t].run() != 0) {
            fprintf(stderr, "%s failed\n", tests[t].name);
            failed = 1;
        }
    }
    free_objects();
    if (!failed)
        failed = check_nothing_left();

    s = pc_manager_shutdown(manager);
    if (s != PC_OK)
        failed = fail(__LINE__, "pc_manager_shutdown(manager)", s, PC_OK);
    pc_manager_free(manager);
    if (!failed)
        printf("all checks passed\n");
    return failed;
}
