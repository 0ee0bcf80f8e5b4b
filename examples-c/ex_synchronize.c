/*
 * ex_synchronize.c: the synchronization primitives shared between processes, the C
 * version of the seed's ex_synchronize.py:
 *
 *   1. a Value counter decremented under a Lock by 10 processes while the parent polls it;
 *   2. a Condition on a recursively acquired RLock: the parent waits, a child notifies;
 *   3. a Semaphore(3) letting at most 3 of 10 processes run at once, the count kept in a
 *      Value guarded by an RLock;
 *   4. join(timeout) in a polling loop;
 *   5. an Event releasing 5 waiting processes;
 *   6. a Barrier of 4 processes;
 *   7. Values and Arrays of several typecodes checked in a child.
 *
 * Every object is created before the children are started: a child forked afterwards
 * uses the very same lock, value or event. Each blocking call has a timeout here, so a bug
 * cannot hang the example; real programs may pass PC_FOREVER.
 *
 * Build: cc ex_synchronize.c -lprocessing
 */
#include <processing.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define TASKS 10

/* Prints the failing call with the library's explanation; returns 1 (an exit code). */
static int fail(const char *what, pc_status status)
{
    fprintf(stderr, "%s: %s (%s)\n", what, pc_status_str(status), pc_last_error());
    return 1;
}

/* Runs a call that returns a pc_status; on failure, reports it and returns 1. */
#define TRY(call)                                                                            \
    do {                                                                                     \
        pc_status try_status_ = (call);                                                      \
        if (try_status_ != PC_OK)                                                            \
            return fail(#call, try_status_);                                                 \
    } while (0)

/* The name of the running process ("MainProcess", "Process-3", ...). */
static const char *my_name(void)
{
    const pc_process *me;
    return pc_current_process(&me) == PC_OK ? pc_process_name(me) : "?";
}

/* Sleeps up to `max` seconds, a different time in each process. */
static void random_sleep(double max)
{
    static unsigned seed = 0;
    if (seed == 0)
        seed = (unsigned)getpid() ^ (unsigned)time(NULL);
    double s = max * (double)rand_r(&seed) / RAND_MAX;
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

/* Starts `n` processes running target(arg), joins them all, and returns 0 when each one
 * exited with 0. */
static int run_processes(int n, pc_target_fn target, void *arg)
{
    pc_process *ps[TASKS];
    for (int i = 0; i < n; i++) {
        TRY(pc_process_new(target, arg, &ps[i]));
        TRY(pc_process_start(ps[i]));
    }
    int failed = 0;
    for (int i = 0; i < n; i++) {
        int code = -1;
        TRY(pc_process_join(ps[i], 30.0));
        TRY(pc_process_exitcode(ps[i], &code));
        if (code != 0) {
            fprintf(stderr, "%s exited with %d\n", pc_process_name(ps[i]), code);
            failed = 1;
        }
        pc_process_free(ps[i]);
    }
    return failed;
}

/* ---- 1. a Value decremented under a Lock ---- */

struct value_args {
    pc_value *running; /* how many children still run */
    pc_lock *mutex;
};

static int value_func(void *arg)
{
    const struct value_args *a = arg;
    random_sleep(0.5);
    TRY(pc_lock_acquire(a->mutex, 10.0));
    int running;
    TRY(pc_value_get(a->running, &running));
    running -= 1;
    TRY(pc_value_set(a->running, &running));
    printf("\t\t\t%s has finished\n", my_name());
    fflush(stdout);
    TRY(pc_lock_release(a->mutex));
    return 0;
}

static int test_value(void)
{
    int tasks = TASKS;
    struct value_args a;
    TRY(pc_value_new('i', &tasks, &a.running));
    TRY(pc_lock_new(&a.mutex));

    pc_process *ps[TASKS];
    for (int i = 0; i < TASKS; i++) {
        TRY(pc_process_new(value_func, &a, &ps[i]));
        TRY(pc_process_start(ps[i]));
    }
    /* Poll the counter while the children count it down. */
    int running = TASKS;
    while (running > 0) {
        struct timespec ts = {0, 80 * 1000 * 1000};
        nanosleep(&ts, NULL);
        TRY(pc_lock_acquire(a.mutex, 10.0));
        TRY(pc_value_get(a.running, &running));
        printf("%d ", running);
        fflush(stdout);
        TRY(pc_lock_release(a.mutex));
    }
    printf("\nNo more running processes\n");
    for (int i = 0; i < TASKS; i++) {
        TRY(pc_process_join(ps[i], 10.0));
        pc_process_free(ps[i]);
    }
    pc_value_free(a.running);
    pc_lock_free(a.mutex);
    return 0;
}

/* ---- 2. a Condition ---- */

static int condition_func(void *arg)
{
    pc_condition *cond = arg;
    /* The parent holds the condition's lock until it waits: we get it then. */
    TRY(pc_condition_acquire(cond, 10.0));
    printf("\tchild has the lock\n");
    random_sleep(0.3);
    printf("\tchild is notifying\n");
    fflush(stdout);
    TRY(pc_condition_notify(cond, 1));
    TRY(pc_condition_release(cond));
    return 0;
}

static int test_condition(void)
{
    pc_lock *rlock;
    pc_condition *cond;
    TRY(pc_rlock_new(&rlock));
    TRY(pc_condition_new(rlock, &cond)); /* (NULL would make an RLock of its own) */

    /* Acquired twice: wait releases both levels and restores them when it returns. */
    TRY(pc_condition_acquire(cond, 10.0));
    TRY(pc_lock_acquire(rlock, 10.0));
    pc_process *p;
    TRY(pc_process_new(condition_func, cond, &p));
    TRY(pc_process_start(p));
    printf("main is waiting\n");
    fflush(stdout);
    TRY(pc_condition_wait(cond, 10.0));
    printf("main has woken up\n");
    TRY(pc_lock_release(rlock));
    TRY(pc_condition_release(cond));

    TRY(pc_process_join(p, 10.0));
    pc_process_free(p);
    pc_condition_free(cond);
    pc_lock_free(rlock);
    return 0;
}

/* ---- 3. a Semaphore ---- */

struct semaphore_args {
    pc_semaphore *sema;
    pc_lock *mutex;    /* an RLock, which also guards `running` */
    pc_value *running; /* how many are inside now */
};

static int semaphore_func(void *arg)
{
    const struct semaphore_args *a = arg;
    TRY(pc_semaphore_acquire(a->sema, 30.0));

    /* The RLock is held around pc_value_get/pc_value_set, which take it again. */
    TRY(pc_lock_acquire(a->mutex, 10.0));
    int running;
    TRY(pc_value_get(a->running, &running));
    running += 1;
    TRY(pc_value_set(a->running, &running));
    printf("%d tasks are running\n", running);
    fflush(stdout);
    TRY(pc_lock_release(a->mutex));
    if (running > 3) {
        fprintf(stderr, "the semaphore let %d processes in\n", running);
        return 1;
    }

    random_sleep(0.2);

    TRY(pc_lock_acquire(a->mutex, 10.0));
    TRY(pc_value_add(a->running, -1)); /* one step under the value's lock */
    printf("%s has finished\n", my_name());
    fflush(stdout);
    TRY(pc_lock_release(a->mutex));

    TRY(pc_semaphore_release(a->sema));
    return 0;
}

static int test_semaphore(void)
{
    struct semaphore_args a;
    TRY(pc_semaphore_new(3, &a.sema));
    TRY(pc_rlock_new(&a.mutex));
    TRY(pc_value_new_with_lock('i', NULL, a.mutex, &a.running));
    int failed = run_processes(TASKS, semaphore_func, &a);
    pc_value_free(a.running); /* it keeps the RLock alive until here */
    pc_lock_free(a.mutex);
    pc_semaphore_free(a.sema);
    return failed;
}

/* ---- 4. join with a timeout ---- */

static int join_timeout_func(void *arg)
{
    (void)arg;
    printf("\tchild sleeping\n");
    fflush(stdout);
    struct timespec ts = {0, 550 * 1000 * 1000};
    nanosleep(&ts, NULL);
    printf("\n\tchild terminating\n");
    return 0;
}

static int test_join_timeout(void)
{
    pc_process *p;
    TRY(pc_process_new(join_timeout_func, NULL, &p));
    TRY(pc_process_start(p));
    printf("waiting for process to finish\n");
    for (int polls = 0;; polls++) {
        pc_status s = pc_process_join(p, 0.1);
        if (s == PC_OK)
            break;
        if (s != PC_ERR_TIMEOUT || polls > 300)
            return fail("pc_process_join", s);
        printf(".");
        fflush(stdout);
    }
    printf("\n");
    pc_process_free(p);
    return 0;
}

/* ---- 5. an Event ---- */

static int event_func(void *arg)
{
    pc_event *event = arg;
    printf("\t%s is waiting\n", my_name());
    fflush(stdout);
    TRY(pc_event_wait(event, 10.0));
    printf("\t%s has woken up\n", my_name());
    return 0;
}

static int test_event(void)
{
    pc_event *event;
    TRY(pc_event_new(&event));
    pc_process *ps[5];
    for (int i = 0; i < 5; i++) {
        TRY(pc_process_new(event_func, event, &ps[i]));
        TRY(pc_process_start(ps[i]));
    }
    printf("main is sleeping\n");
    fflush(stdout);
    struct timespec ts = {0, 500 * 1000 * 1000};
    nanosleep(&ts, NULL);
    printf("main is setting event\n");
    fflush(stdout);
    TRY(pc_event_set(event)); /* wakes all five at once */
    int failed = 0;
    for (int i = 0; i < 5; i++) {
        int code = -1;
        TRY(pc_process_join(ps[i], 10.0));
        TRY(pc_process_exitcode(ps[i], &code));
        failed |= code != 0;
        pc_process_free(ps[i]);
    }
    pc_event_free(event);
    return failed;
}

/* ---- 6. a Barrier ---- */

static int barrier_func(void *arg)
{
    pc_barrier *barrier = arg;
    random_sleep(0.3); /* some work of different lengths */
    printf("\t%s is at the barrier\n", my_name());
    fflush(stdout);
    size_t index;
    TRY(pc_barrier_wait(barrier, 10.0, &index)); /* until all 4 are there */
    printf("\t%s passed the barrier, arrival index %zu\n", my_name(), index);
    return 0;
}

static int test_barrier(void)
{
    pc_barrier *barrier;
    TRY(pc_barrier_new(4, &barrier));
    int failed = run_processes(4, barrier_func, barrier);
    printf("all %zu processes passed the barrier\n", pc_barrier_parties(barrier));
    pc_barrier_free(barrier);
    return failed;
}

/* ---- 7. Values and Arrays ---- */

struct shared_values {
    pc_value *i, *h, *d;     /* Value('i', 10), Value('h', -2), Value('d', 1.25) */
    pc_array *ai, *ad, *aH;  /* Array('i', range(100)), Array('d', ...), Array('H', range(1000)) */
};

static int sharedvalues_func(void *arg)
{
    const struct shared_values *v = arg;
    int i;
    short h;
    double d;
    TRY(pc_value_get(v->i, &i));
    TRY(pc_value_get(v->h, &h));
    TRY(pc_value_get(v->d, &d));
    if (i != 10 || h != -2 || d != 1.25) {
        fprintf(stderr, "values differ: %d %d %g\n", i, h, d);
        return 1;
    }
    for (size_t k = 0; k < 100; k++) {
        int ai;
        double ad;
        TRY(pc_array_get(v->ai, k, &ai));
        TRY(pc_array_get(v->ad, k, &ad));
        if (ai != (int)k || ad != 0.25 * (double)k) {
            fprintf(stderr, "arrays differ at %zu\n", k);
            return 1;
        }
    }
    unsigned short aH[1000];
    TRY(pc_array_read(v->aH, 0, 1000, aH)); /* a slice, under the array's lock */
    for (int k = 0; k < 1000; k++) {
        if (aH[k] != k) {
            fprintf(stderr, "array 'H' differs at %d\n", k);
            return 1;
        }
    }
    printf("Tests passed\n");
    return 0;
}

static int test_sharedvalues(void)
{
    int i = 10;
    short h = -2;
    double d = 1.25;
    int ai[100];
    double ad[100];
    unsigned short aH[1000];
    for (int k = 0; k < 100; k++) {
        ai[k] = k;
        ad[k] = 0.25 * k;
    }
    for (int k = 0; k < 1000; k++)
        aH[k] = (unsigned short)k;

    struct shared_values v;
    TRY(pc_value_new('i', &i, &v.i));
    TRY(pc_value_new('h', &h, &v.h));
    TRY(pc_value_new('d', &d, &v.d));
    TRY(pc_array_new('i', 100, ai, &v.ai));
    TRY(pc_array_new('d', 100, ad, &v.ad));
    TRY(pc_array_new('H', 1000, aH, &v.aH));
    int failed = run_processes(1, sharedvalues_func, &v);
    pc_value_free(v.i);
    pc_value_free(v.h);
    pc_value_free(v.d);
    pc_array_free(v.ai);
    pc_array_free(v.ad);
    pc_array_free(v.aH);
    return failed;
}

int main(void)
{
    static const struct {
        const char *name;
        int (*run)(void);
    } tests[] = {
        {"value", test_value},         {"condition", test_condition},
        {"semaphore", test_semaphore}, {"join_timeout", test_join_timeout},
        {"event", test_event},         {"barrier", test_barrier},
        {"sharedvalues", test_sharedvalues},
    };
    for (size_t t = 0; t < sizeof tests / sizeof tests[0]; t++) {
        printf("\n\t######## test_%s\n\n", tests[t].name);
        fflush(stdout);
        if (tests[t].run() != 0) {
            fprintf(stderr, "test_%s failed\n", tests[t].name);
            return 1;
        }
    }
    printf("\nall done\n");
    return 0;
}
