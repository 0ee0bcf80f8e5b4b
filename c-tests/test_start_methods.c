/*
 * test_start_methods.c: the spawn and forkserver start methods (children that do not
 * fork the parent), pc_freeze_support, passing handles to them, and the warning when a
 * threaded program forks.
 *
 * pc_freeze_support is main's first call: a spawned child (this same program) runs its
 * target there and never returns. The forkserver is a child of the process that uses it
 * until that process exits, so the cases run in sub-processes (start_common.h).
 *
 * ctest-timeout: 120
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "start_common.h"
#include "testutil.h"

/* ---- targets (they report through their exit code) ---- */

typedef struct {
    int32_t add;
    char text[16];
} sum_arg;

static int target_sum(void *p)
{
    const sum_arg *a = p;
    return (int)strlen(a->text) + a->add;
}

/* Every kind of handle that can be passed, used by the child. */
typedef struct {
    pc_lock *lock;
    pc_lock *rlock;
    pc_semaphore *sem;
    pc_semaphore *bounded;
    pc_condition *cond;
    pc_event *event;
    pc_barrier *barrier;
    pc_value *value;
    pc_array *array;
    pc_queue *queue;
    pc_queue *joinable;
    pc_connection *to_parent;
    pc_connection *from_parent;
} handles;

static int target_use_handles(void *p)
{
    const handles *h = p;
    if (pc_lock_acquire(h->lock, 5) != PC_OK || pc_lock_release(h->lock) != PC_OK)
        return 1;
    if (pc_lock_acquire(h->rlock, 5) != PC_OK || pc_lock_acquire(h->rlock, 5) != PC_OK)
        return 2;
    pc_lock_release(h->rlock);
    pc_lock_release(h->rlock);
    if (pc_semaphore_release(h->sem) != PC_OK)
        return 3;
    if (pc_semaphore_release(h->bounded) != PC_ERR_VALUE)
        return 4;
    if (pc_event_set(h->event) != PC_OK)
        return 5;
    if (pc_condition_acquire(h->cond, 5) != PC_OK || pc_condition_notify_all(h->cond) != PC_OK ||
        pc_condition_release(h->cond) != PC_OK)
        return 6;
    size_t index;
    if (pc_barrier_wait(h->barrier, 10, &index) != PC_OK)
        return 7;
    int64_t v = 0;
    if (pc_value_get(h->value, &v) != PC_OK)
        return 8;
    v *= 2;
    if (pc_value_set(h->value, &v) != PC_OK)
        return 8;
    double d = 2.5;
    if (pc_array_set(h->array, 3, &d) != PC_OK)
        return 9;
    if (pc_queue_put(h->queue, "from child", 10, 5) != PC_OK)
        return 10;
    pc_bytes task = {0};
    if (pc_queue_get(h->joinable, 5, &task) != PC_OK || task.len != 4)
        return 11;
    pc_bytes_free(&task);
    if (pc_queue_task_done(h->joinable) != PC_OK)
        return 12;
    pc_bytes got = {0};
    if (pc_connection_recv_bytes(h->from_parent, 0, &got) != PC_OK)
        return 13;
    pc_status sent = pc_connection_send_bytes(h->to_parent, got.data, got.len);
    pc_bytes_free(&got);
    return sent == PC_OK ? 42 : 14;
}

/* Reports its name and authkey's first byte on the pipe end passed as its argument. */
static int target_identity(void *p)
{
    pc_connection *c = *(pc_connection **)p;
    const pc_process *me = NULL;
    const uint8_t *key = NULL;
    size_t len = 0;
    if (pc_current_process(&me) != PC_OK || pc_process_authkey(me, &key, &len) != PC_OK)
        return 1;
    char line[128];
    snprintf(line, sizeof line, "%s %zu %u", pc_process_name(me), len, len ? key[0] : 0);
    return pc_connection_send_bytes(c, line, strlen(line)) == PC_OK ? 0 : 2;
}

/* ---- helpers ---- */

/* Starts a spawnable child by `method` running target(arg bytes); returns its exit code. */
static int run_by(const char *method, pc_target_fn target, const void *arg, size_t len,
                  const void *const *pass, size_t npass)
{
    pc_process *p = NULL;
    CHECK_OK(pc_process_new_spawnable(target, arg, len, &p));
    CHECK_OK(pc_process_set_start_method(p, method));
    for (size_t i = 0; i < npass; i++)
        CHECK_OK(pc_process_pass_handle(p, pass[i]));
    CHECK_OK(pc_process_start(p));
    CHECK(strcmp(pc_process_start_method(p), method) == 0);
    CHECK(pc_process_pid(p) > 0 && pc_process_pid(p) != getpid());
    CHECK_OK(pc_process_join(p, 30 * TU_SLOWDOWN));
    int code = -1000;
    CHECK_OK(pc_process_exitcode(p, &code));
    pc_process_free(p);
    return code;
}

/* ---- tests ---- */

static int sum_by_each_method(void *unused)
{
    (void)unused;
    sum_arg a = {.add = 30};
    strcpy(a.text, "seven c");
    for (size_t i = 0; i < ALL_METHODS; i++)
        CHECK(run_by(START_METHODS[i], target_sum, &a, sizeof a, NULL, 0) == 37);
    return 0;
}

static void test_targets_run_by_every_method(void)
{
    check_sub_ok(fork_sub(sum_by_each_method, NULL), 60 * TU_SLOWDOWN, "sum by each method");
}

static int handles_by(void *method)
{
    handles h = {0};
    CHECK_OK(pc_lock_new(&h.lock));
    CHECK_OK(pc_rlock_new(&h.rlock));
    CHECK_OK(pc_semaphore_new(0, &h.sem));
    CHECK_OK(pc_bounded_semaphore_new(1, &h.bounded));
    CHECK_OK(pc_condition_new(NULL, &h.cond));
    CHECK_OK(pc_event_new(&h.event));
    CHECK_OK(pc_barrier_new(2, &h.barrier));
    int64_t start_value = 21;
    CHECK_OK(pc_value_new('q', &start_value, &h.value));
    CHECK_OK(pc_raw_array_new('d', 8, NULL, &h.array));
    CHECK_OK(pc_queue_new(0, &h.queue));
    CHECK_OK(pc_joinable_queue_new(0, &h.joinable));
    pc_connection *from_child = NULL, *to_child = NULL;
    CHECK_OK(pc_pipe(false, &from_child, &h.to_parent));
    CHECK_OK(pc_pipe(false, &h.from_parent, &to_child));
    CHECK_OK(pc_queue_put(h.joinable, "task", 4, 1));
    CHECK_OK(pc_connection_send_bytes(to_child, "echo me", 7));

    pc_process *p = NULL;
    CHECK_OK(pc_process_new_spawnable(target_use_handles, &h, sizeof h, &p));
    CHECK_OK(pc_process_set_start_method(p, method));
    const void *all[] = {h.lock, h.rlock,   h.sem,      h.bounded,   h.cond,
                         h.event, h.barrier, h.value,    h.array,     h.queue,
                         h.joinable, h.to_parent, h.from_parent};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        CHECK_OK(pc_process_pass_handle(p, all[i]));
    CHECK_OK(pc_process_pass_handle(p, h.lock)); /* twice: once is kept */
    CHECK_OK(pc_condition_acquire(h.cond, 5));
    CHECK_OK(pc_process_start(p));
    /* The child takes the condition's lock to notify: the wait releases it. */
    CHECK_OK(pc_condition_wait(h.cond, 30 * TU_SLOWDOWN));
    CHECK_OK(pc_condition_release(h.cond));
    size_t index = 9;
    CHECK_OK(pc_barrier_wait(h.barrier, 30 * TU_SLOWDOWN, &index));
    CHECK_OK(pc_semaphore_acquire(h.sem, 30 * TU_SLOWDOWN));
    CHECK_OK(pc_event_wait(h.event, 30 * TU_SLOWDOWN));
    pc_bytes got = {0};
    CHECK_OK(pc_queue_get(h.queue, 30 * TU_SLOWDOWN, &got));
    CHECK(got.len == 10 && memcmp(got.data, "from child", 10) == 0);
    pc_bytes_free(&got);
    CHECK_OK(pc_queue_join(h.joinable, 30 * TU_SLOWDOWN));
    CHECK_OK(pc_connection_recv_bytes(from_child, 0, &got));
    CHECK(got.len == 7 && memcmp(got.data, "echo me", 7) == 0);
    pc_bytes_free(&got);
    CHECK_OK(pc_process_join(p, 30 * TU_SLOWDOWN));
    int code = 0;
    CHECK_OK(pc_process_exitcode(p, &code));
    CHECK(code == 42);
    int64_t v = 0;
    CHECK_OK(pc_value_get(h.value, &v));
    CHECK(v == 42);
    double d = 0;
    CHECK_OK(pc_array_get(h.array, 3, &d));
    CHECK(d == 2.5);
    /* The lock is free again: the child released it, and exited. */
    CHECK_OK(pc_lock_acquire(h.lock, 0));
    CHECK_OK(pc_lock_release(h.lock));
    pc_process_free(p);
    pc_connection_free(from_child);
    pc_connection_free(to_child);
    pc_connection_free(h.to_parent);
    pc_connection_free(h.from_parent);
    pc_queue_free(h.queue);
    pc_queue_free(h.joinable);
    pc_array_free(h.array);
    pc_value_free(h.value);
    pc_barrier_free(h.barrier);
    pc_event_free(h.event);
    pc_condition_free(h.cond);
    pc_semaphore_free(h.sem);
    pc_semaphore_free(h.bounded);
    pc_lock_free(h.rlock);
    pc_lock_free(h.lock);
    return 0;
}

static void test_every_handle_type_crosses(void)
{
    by_methods(handles_by, ALL_METHODS);
}

static int identity_by(void *method)
{
    pc_connection *r = NULL, *w = NULL;
    CHECK_OK(pc_pipe(false, &r, &w));
    const pc_process *me = NULL;
    CHECK_OK(pc_current_process(&me));
    CHECK_OK(pc_process_set_authkey((pc_process *)me, "\x07secret", 7));
    pc_process *p = NULL;
    CHECK_OK(pc_process_new_spawnable(target_identity, &w, sizeof w, &p));
    CHECK_OK(pc_process_set_name(p, "worker one"));
    CHECK_OK(pc_process_set_start_method(p, method));
    CHECK_OK(pc_process_pass_handle(p, w));
    CHECK_OK(pc_process_start(p));
    pc_bytes got = {0};
    CHECK_OK(pc_connection_recv_bytes(r, 0, &got));
    CHECK(got.len == strlen("worker one 7 7") && memcmp(got.data, "worker one 7 7", got.len) == 0);
    pc_bytes_free(&got);
    CHECK_OK(pc_process_join(p, 30 * TU_SLOWDOWN));
    pc_process_free(p);
    pc_connection_free(r);
    pc_connection_free(w);
    return 0;
}

static void test_the_child_has_its_name_and_authkey(void)
{
    by_methods(identity_by, EXEC_METHODS);
}

static int library_target_by(void *method)
{
    void *lib = dlopen(PC_START_TARGET, RTLD_NOW);
    CHECK(lib != NULL);
    /* POSIX's way to take a function from dlsym under -Wpedantic. */
    pc_target_fn fn = NULL;
    void *sym = dlsym(lib, "start_target_in_library");
    CHECK(sym != NULL);
    memcpy(&fn, &sym, sizeof fn);
    uint8_t arg = 5;
    CHECK(run_by(method, fn, &arg, 1, NULL, 0) == 105);
    return 0;
}

static void test_a_target_in_a_loaded_library(void)
{
    by_methods(library_target_by, EXEC_METHODS);
}

static int pointer_argument_refused(void *method)
{
    static int x;
    pc_process *p = NULL;
    CHECK_OK(pc_process_new(target_return, &x, &p));
    CHECK_OK(pc_process_set_start_method(p, method));
    CHECK_STATUS(pc_process_start(p), PC_ERR_NOT_SUPPORTED);
    CHECK_ERRMSG("pc_process_new_spawnable");
    CHECK(pc_process_pid(p) == 0);
    /* Still unstarted: by fork, the pointer is fine. */
    CHECK_OK(pc_process_set_start_method(p, "fork"));
    CHECK_OK(pc_process_start(p));
    CHECK_OK(pc_process_join(p, 30));
    pc_process_free(p);
    /* No target at all crosses. */
    CHECK_OK(pc_process_new(NULL, NULL, &p));
    CHECK_OK(pc_process_set_start_method(p, method));
    CHECK_OK(pc_process_start(p));
    CHECK_OK(pc_process_join(p, 30 * TU_SLOWDOWN));
    int code = -1;
    CHECK_OK(pc_process_exitcode(p, &code));
    CHECK(code == 0);
    pc_process_free(p);
    return 0;
}

static void test_a_pointer_argument_does_not_cross(void)
{
    by_methods(pointer_argument_refused, EXEC_METHODS);
}

static int failed_exec(void *method)
{
    CHECK_OK(pc_set_executable("/nonexistent/program"));
    pc_process *p = NULL;
    int32_t zero = 0;
    CHECK_OK(pc_process_new_spawnable(target_return, &zero, sizeof zero, &p));
    CHECK_OK(pc_process_set_start_method(p, method));
    double t0 = now();
    CHECK_STATUS(pc_process_start(p), PC_ERR_OS);
    CHECK_ERRMSG("/nonexistent/program");
    CHECK(now() - t0 < 10 * TU_SLOWDOWN);
    CHECK(pc_process_pid(p) == 0);
    CHECK(wait_no_children(2));
    /* With the program found again, the same handle starts. */
    CHECK_OK(pc_set_executable(NULL));
    CHECK_OK(pc_process_start(p));
    CHECK_OK(pc_process_join(p, 30 * TU_SLOWDOWN));
    pc_process_free(p);
    return 0;
}

static void test_a_child_that_cannot_exec_fails_clearly(void)
{
    by_methods(failed_exec, EXEC_METHODS);
}

static int daemonic_dies_with_parent(void *method)
{
    /* This sub-process starts a daemonic child and exits without its exit steps. */
    pc_process *p = NULL;
    double forever = 20;
    CHECK_OK(pc_process_new_spawnable(target_sleep, &forever, sizeof forever, &p));
    CHECK_OK(pc_process_set_start_method(p, method));
    CHECK_OK(pc_process_set_daemon(p, true));
    CHECK_OK(pc_process_start(p));
    printf("%d\n", pc_process_pid(p));
    fflush(stdout);
    _exit(0);
}

static int daemonic_child_pid = 0;

static int report_daemonic(void *method)
{
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t sub = fork();
    if (sub == 0) {
        dup2(fds[1], 1);
        daemonic_dies_with_parent(method);
    }
    close(fds[1]);
    char line[32] = {0};
    read_until_eof(fds[0], line, sizeof line, 20);
    close(fds[0]);
    int st = wait_sub(sub, 20);
    CHECK(st == 0);
    daemonic_child_pid = atoi(line);
    CHECK(daemonic_child_pid > 0);
    CHECK(wait_pid_gone(daemonic_child_pid, 10 * TU_SLOWDOWN));
    return 0;
}

static void test_a_daemonic_child_dies_with_its_parent(void)
{
    by_methods(report_daemonic, EXEC_METHODS);
}

static void test_freeze_support_returns_outside_a_child(void)
{
    char a0[] = "prog", a1[] = "--other", a2[] = "x";
    char *argv[] = {a0, a1, a2, NULL};
    pc_freeze_support(3, argv);
    pc_freeze_support(1, argv);
    pc_freeze_support(0, NULL);
    pc_freeze_support(-1, argv);
    /* Still this test, in the same process, with no child started. */
    const pc_process *me = NULL;
    CHECK_OK(pc_current_process(&me));
    CHECK(strcmp(pc_process_name(me), "MainProcess") == 0);
    CHECK(pc_process_pid(me) == getpid());
    pc_process *kids[1];
    size_t n = 9;
    CHECK_OK(pc_active_children(kids, 1, &n));
    CHECK(n == 0);
}

static void test_a_broken_marker_exits_with_a_message(void)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "/proc/%d/exe --processing-spawn 999 2>&1", (int)getpid());
    FILE *f = popen(cmd, "r");
    CHECK(f != NULL);
    char out[512] = {0};
    size_t n = fread(out, 1, sizeof out - 1, f);
    int st = pclose(f);
    CHECK(n > 0 && strstr(out, "libprocessing: spawned child") != NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1);
    snprintf(cmd, sizeof cmd, "/proc/%d/exe --processing-spawn not-a-number 2>&1", (int)getpid());
    f = popen(cmd, "r");
    CHECK(f != NULL);
    n = fread(out, 1, sizeof out - 1, f);
    st = pclose(f);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1);
}

/* ---- the threaded-fork warning ---- */

static char warnings[4096];
static atomic_int warning_count;

static void capture(void *ctx, int level, const char *process_name, const char *line)
{
    (void)ctx;
    (void)process_name;
    if (level >= 30 && strstr(line, "other thread")) {
        atomic_fetch_add(&warning_count, 1);
        strncat(warnings, line, sizeof warnings - strlen(warnings) - 1);
    }
}

static void *idle_thread(void *arg)
{
    (void)arg;
    sleep_s(5);
    return NULL;
}

static int warn_once(void *unused)
{
    (void)unused;
    CHECK_OK(pc_enable_logging(30, capture, NULL, NULL));
    /* Alone: no warning. */
    pc_process *p = start(NULL, NULL);
    CHECK(finish(p, 30) == 0);
    CHECK(atomic_load(&warning_count) == 0);
    /* Spawning from a threaded program: no warning either. */
    pthread_t t;
    CHECK(pthread_create(&t, NULL, idle_thread, NULL) == 0);
    CHECK(run_by("spawn", target_sum, &(sum_arg){.add = 1}, sizeof(sum_arg), NULL, 0) == 1);
    CHECK(atomic_load(&warning_count) == 0);
    /* Forking: once. */
    for (int i = 0; i < 3; i++)
        CHECK(finish(start(NULL, NULL), 30) == 0);
    CHECK(atomic_load(&warning_count) == 1);
    CHECK(strstr(warnings, "1 other thread") != NULL);
    pthread_cancel(t);
    pthread_join(t, NULL);
    return 0;
}

static void test_forking_a_threaded_program_warns_once(void)
{
    check_sub_ok(fork_sub(warn_once, NULL), 60 * TU_SLOWDOWN, "warn once");
}

/* ---- bad input ---- */

static void test_bad_input(void)
{
    CHECK_STATUS(pc_set_start_method(NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("method");
    CHECK_STATUS(pc_set_start_method("vfork"), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("\"vfork\" is not a start method");
    CHECK(strcmp(pc_get_start_method(), "fork") == 0);
    CHECK_OK(pc_set_start_method("spawn"));
    CHECK(strcmp(pc_get_start_method(), "spawn") == 0);
    CHECK_OK(pc_set_start_method("fork"));
    CHECK_STATUS(pc_set_executable(""), PC_ERR_INVALID_ARGUMENT);

    pc_process *p = NULL;
    CHECK_STATUS(pc_process_new_spawnable(NULL, "x", 1, &p), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("target");
    CHECK_STATUS(pc_process_new_spawnable(target_sum, NULL, 4, &p), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("arg");
    CHECK_STATUS(pc_process_new_spawnable(target_sum, "x", 1, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_OK(pc_process_new_spawnable(target_return, NULL, 0, &p));

    CHECK_STATUS(pc_process_set_start_method(NULL, "spawn"), PC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(pc_process_set_start_method(p, "posix"), PC_ERR_INVALID_ARGUMENT);
    CHECK(pc_process_start_method(NULL) == NULL);
    CHECK(strcmp(pc_process_start_method(p), "fork") == 0);

    CHECK_STATUS(pc_process_pass_handle(p, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("handle is NULL");
    CHECK_STATUS(pc_process_pass_handle(p, (void *)0x1234), PC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(pc_process_pass_handle(p, p), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("cannot be passed");
    CHECK_STATUS(pc_process_pass_handle(NULL, p), PC_ERR_INVALID_ARGUMENT);
    pc_lock *freed = NULL;
    CHECK_OK(pc_lock_new(&freed));
    pc_lock_free(freed);
    CHECK_STATUS(pc_process_pass_handle(p, freed), PC_ERR_INVALID_ARGUMENT);
    pc_connection *a = NULL, *b = NULL;
    CHECK_OK(pc_pipe(true, &a, &b));
    CHECK_OK(pc_connection_close(a));
    CHECK_STATUS(pc_process_pass_handle(p, a), PC_ERR_CLOSED);

    CHECK_OK(pc_process_start(p));
    CHECK_STATUS(pc_process_set_start_method(p, "spawn"), PC_ERR_WRONG_STATE);
    CHECK_STATUS(pc_process_pass_handle(p, b), PC_ERR_WRONG_STATE);
    CHECK_OK(pc_process_join(p, 30));
    pc_process_free(p);
    pc_connection_free(a);
    pc_connection_free(b);

    const pc_process *me = NULL;
    CHECK_OK(pc_current_process(&me));
    CHECK_STATUS(pc_process_set_start_method((pc_process *)me, "spawn"), PC_ERR_WRONG_STATE);
}

int main(int argc, char **argv)
{
    pc_freeze_support(argc, argv);
    tu_init(argv[0], 110);
    tu_select(argc, argv);
    RUN(test_targets_run_by_every_method);
    RUN(test_every_handle_type_crosses);
    RUN(test_the_child_has_its_name_and_authkey);
    RUN(test_a_target_in_a_loaded_library);
    RUN(test_a_pointer_argument_does_not_cross);
    RUN(test_a_child_that_cannot_exec_fails_clearly);
    RUN(test_a_daemonic_child_dies_with_its_parent);
    RUN(test_freeze_support_returns_outside_a_child);
    RUN(test_a_broken_marker_exits_with_a_message);
    RUN(test_forking_a_threaded_program_warns_once);
    RUN(test_bad_input);
    return tu_done();
}
