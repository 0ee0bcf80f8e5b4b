/*
 * test_errors.c: the library-wide functions (include/processing.h): pc_status_str, pc_last_error,
 * pc_version, and interrupts (pc_interrupt, pc_install_sigint_handler) and signals as
 * they act on a blocking call (pc_process_join, the first blocking call of the API).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* prctl, pthread_kill, … */
#endif
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- pc_status_str ---- */

static void test_status_str(void)
{
    static const int codes[] = {
        PC_OK, PC_ERR_TIMEOUT, PC_ERR_EMPTY, PC_ERR_FULL, PC_ERR_INTERRUPTED,
        PC_ERR_BUFFER_TOO_SHORT, PC_ERR_EOF, PC_ERR_CLOSED, PC_ERR_INVALID_ARGUMENT,
        PC_ERR_WRONG_STATE, PC_ERR_NOT_OWNER, PC_ERR_VALUE, PC_ERR_INDEX, PC_ERR_KEY,
        PC_ERR_OWNER_DEAD, PC_ERR_BROKEN, PC_ERR_AUTH, PC_ERR_PROTOCOL, PC_ERR_TOO_LARGE,
        PC_ERR_REMOTE, PC_ERR_TASK_FAILED, PC_ERR_WORKER_DIED, PC_ERR_STOP, PC_ERR_NO_MEMORY,
        PC_ERR_OS, PC_ERR_NOT_SUPPORTED, PC_ERR_PANIC, PC_ERR_TYPE,
    };
    const int n = (int)(sizeof codes / sizeof codes[0]);
    /* The fixed values of the contract: 0, then -1 … -27 in this order. */
    for (int i = 0; i < n; i++)
        CHECK(codes[i] == -i);
    for (int i = 0; i < n; i++) {
        const char *text = pc_status_str(codes[i]);
        CHECK(text != NULL);
        CHECK(text[0] != '\0');
        if (strcmp(text, "unknown status") == 0)
            FAIL("pc_status_str(%d) is \"unknown status\"", codes[i]);
        CHECK(pc_status_str(codes[i]) == text); /* static */
        for (int j = 0; j < i; j++)
            if (strcmp(pc_status_str(codes[j]), text) == 0)
                FAIL("pc_status_str(%d) and pc_status_str(%d) are both \"%s\"", codes[i],
                     codes[j], text);
    }
    CHECK(tu_contains(pc_status_str(PC_ERR_TIMEOUT), "time"));
    CHECK(tu_contains(pc_status_str(PC_ERR_INVALID_ARGUMENT), "argument"));
    CHECK(tu_contains(pc_status_str(PC_ERR_INTERRUPTED), "interrupt"));

    static const int unknown[] = {1, 2, 42, -28, -29, -100, 1000, INT_MAX, INT_MIN, INT_MIN + 1};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        const char *text = pc_status_str(unknown[i]);
        CHECK(text != NULL);
        if (strcmp(text, "unknown status") != 0)
            FAIL("pc_status_str(%d) is \"%s\", expected \"unknown status\"", unknown[i], text);
    }
}

/* ---- pc_last_error ---- */

struct thread_errors {
    const char *initial_text_copy_ok; /* non-NULL when the thread started with "" */
    const char *pointer;
    char text[256];
};

static void *thread_last_error(void *arg)
{
    struct thread_errors *te = arg;
    const char *e = pc_last_error();
    te->initial_text_copy_ok = (e != NULL && e[0] == '\0') ? "yes" : NULL;
    pc_process_start(NULL); /* fails on this thread only */
    te->pointer = pc_last_error();
    snprintf(te->text, sizeof te->text, "%s", te->pointer ? te->pointer : "(NULL)");
    return NULL;
}

static void test_last_error(void)
{
    const char *first = pc_last_error();
    CHECK(first != NULL);
    CHECK(first[0] == '\0'); /* nothing failed yet on this thread */

    /* A failure names the function and the parameter. */
    CHECK_STATUS(pc_process_join(NULL, 1.0), PC_ERR_INVALID_ARGUMENT);
    const char *p1 = pc_last_error();
    CHECK(p1 == first); /* one pointer for the thread's life */
    CHECK(tu_contains(p1, "pc_process_join"));
    CHECK(tu_contains(p1, "p is NULL"));
    char saved[256];
    snprintf(saved, sizeof saved, "%s", p1);

    /* A later failure changes the text in place: the old pointer still reads fine. */
    pc_process *p;
    CHECK_OK(pc_process_new(NULL, NULL, &p));
    CHECK_STATUS(pc_process_join(p, 0), PC_ERR_WRONG_STATE);
    const char *p2 = pc_last_error();
    CHECK(p2 == p1);
    CHECK(strcmp(p1, saved) != 0);
    CHECK(tu_contains(p1, "pc_process_join"));
    CHECK(tu_contains(p1, pc_process_name(p)));
    CHECK_STATUS(pc_process_set_authkey(p, NULL, 3), PC_ERR_INVALID_ARGUMENT);
    CHECK(pc_last_error() == p1);
    CHECK(tu_contains(p1, "pc_process_set_authkey"));
    CHECK(tu_contains(p1, "key"));
    CHECK_STATUS(pc_log(PC_LOG_WARNING, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK(tu_contains(p1, "pc_log"));
    CHECK(tu_contains(p1, "message"));
    snprintf(saved, sizeof saved, "%s", p1);

    /* Another thread has its own text: its failure does not touch ours. */
    struct thread_errors te = {0};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, thread_last_error, &te) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(te.initial_text_copy_ok != NULL);
    CHECK(tu_contains(te.text, "pc_process_start"));
    CHECK(te.pointer != p1);
    CHECK(strcmp(pc_last_error(), saved) == 0);

    /* A successful call may leave the text of the last failure (header: it changes with
     * the next failing call); it never makes the pointer invalid. */
    CHECK_OK(pc_process_set_name(p, "ok"));
    CHECK(pc_last_error() == p1);
    pc_process_free(p);

    /* A long message is cut, not overflowing: a NaN timeout names the parameter. */
    CHECK_OK(pc_process_new(NULL, NULL, &p));
    char long_name[4096];
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    CHECK_OK(pc_process_set_name(p, long_name));
    CHECK_STATUS(pc_process_join(p, 0), PC_ERR_WRONG_STATE); /* message holds the name */
    size_t len = strlen(pc_last_error());
    CHECK(len > 0 && len < 4096);
    CHECK(tu_contains(pc_last_error(), "pc_process_join"));
    pc_process_free(p);
}

/* ---- pc_version ---- */

static void test_version(void)
{
    const char *v = pc_version();
    CHECK(v != NULL);
    char want[64];
    snprintf(want, sizeof want, "%d.%d.%d", PC_VERSION_MAJOR, PC_VERSION_MINOR, PC_VERSION_PATCH);
    if (strcmp(v, want) != 0)
        FAIL("pc_version() is \"%s\", the header says \"%s\"", v, want);
    CHECK(pc_version() == v); /* static */
}

/* ---- interrupts ---- */

static double long_sleep = 20.0;

static pc_process *start_sleeper(void)
{
    pc_process *p;
    CHECK_OK(pc_process_new(target_sleep, &long_sleep, &p));
    CHECK_OK(pc_process_start(p));
    return p;
}

static void end_sleeper(pc_process *p)
{
    CHECK_OK(pc_process_kill(p));
    CHECK_OK(pc_process_join(p, 5.0));
    int code;
    CHECK_OK(pc_process_exitcode(p, &code));
    CHECK(code == -SIGKILL);
    pc_process_free(p);
}

/* Consumes a pending interrupt, if any, so the next test starts clean. */
static void drain_interrupt(void)
{
    pc_process *p = start_sleeper();
    pc_status s = pc_process_join(p, 0.06);
    CHECK(s == PC_ERR_TIMEOUT || s == PC_ERR_INTERRUPTED);
    end_sleeper(p);
}

/* What the helper thread does after `delay` seconds. */
enum action { ACT_INTERRUPT, ACT_KILL_SIGINT, ACT_RAISE, ACT_SIGNAL_MAIN };

struct helper {
    enum action action;
    double delay;
    int signo;            /* ACT_RAISE, ACT_SIGNAL_MAIN: which signal */
    int repeat;           /* ACT_SIGNAL_MAIN: how many times, every 20 ms */
    pthread_t main_thread;
    double acted_at;      /* when the (first) action happened */
};

static void *helper_thread(void *arg)
{
    struct helper *h = arg;
    sleep_s(h->delay);
    h->acted_at = now();
    switch (h->action) {
    case ACT_INTERRUPT:
        pc_interrupt();
        break;
    case ACT_KILL_SIGINT:
        kill(getpid(), SIGINT);
        break;
    case ACT_RAISE:
        raise(h->signo); /* to this thread: the handler runs here, not in the waiting one */
        break;
    case ACT_SIGNAL_MAIN:
        for (int i = 0; i < h->repeat; i++) {
            pthread_kill(h->main_thread, h->signo);
            sleep_s(0.02);
        }
        break;
    }
    return NULL;
}

/* join(FOREVER) on a sleeping child while the helper acts; returns the status and
 * checks it came back within 1 s of the action, not before it. */
static pc_status join_while(struct helper *h)
{
    pc_process *p = start_sleeper();
    pthread_t t;
    h->main_thread = pthread_self();
    CHECK(pthread_create(&t, NULL, helper_thread, h) == 0);
    pc_status s = pc_process_join(p, PC_FOREVER);
    double returned = now();
    CHECK(pthread_join(t, NULL) == 0);
    if (s == PC_ERR_INTERRUPTED) {
        CHECK(returned >= h->acted_at);
        if (returned - h->acted_at > 1.0)
            FAIL("join returned %.3f s after the interrupt", returned - h->acted_at);
        CHECK(pc_process_is_alive(p)); /* nothing happened to the child */
    }
    end_sleeper(p);
    return s;
}

static void test_interrupt_pending_consumed_once(void)
{
    pc_process *p = start_sleeper();
    pc_interrupt();
    double t0 = now();
    CHECK_STATUS(pc_process_join(p, PC_FOREVER), PC_ERR_INTERRUPTED);
    CHECK(now() - t0 < 1.0);
    CHECK_ERRMSG("pc_process_join");
    CHECK_ERRMSG("interrupt");
    /* Consumed: the next join waits its whole timeout. */
    t0 = now();
    CHECK_STATUS(pc_process_join(p, 0.2), PC_ERR_TIMEOUT);
    CHECK(now() - t0 >= 0.19);

    /* Two interrupts before a wait are still one pending interrupt. */
    pc_interrupt();
    pc_interrupt();
    CHECK_STATUS(pc_process_join(p, 5.0), PC_ERR_INTERRUPTED);
    t0 = now();
    CHECK_STATUS(pc_process_join(p, 0.1), PC_ERR_TIMEOUT);
    CHECK(now() - t0 >= 0.099);
    end_sleeper(p);

    /* A join that needs no wait (the child ended) succeeds and leaves the interrupt
     * pending for the next blocking call. */
    pc_process *done;
    CHECK_OK(pc_process_new(NULL, NULL, &done));
    CHECK_OK(pc_process_start(done));
    CHECK_OK(pc_process_join(done, 5.0));
    pc_interrupt();
    CHECK_OK(pc_process_join(done, PC_FOREVER));
    p = start_sleeper();
    CHECK_STATUS(pc_process_join(p, 5.0), PC_ERR_INTERRUPTED);
    end_sleeper(p);
    pc_process_free(done);
}

static void test_interrupt_from_thread(void)
{
    struct helper h = {.action = ACT_INTERRUPT, .delay = 0.2};
    CHECK_STATUS(join_while(&h), PC_ERR_INTERRUPTED);
    /* and it was consumed */
    pc_process *p = start_sleeper();
    CHECK_STATUS(pc_process_join(p, 0.1), PC_ERR_TIMEOUT);
    end_sleeper(p);
}

/* The interrupt is the parent's: a child started while one is pending does not see it. */
static int target_join_grandchild(void *arg)
{
    (void)arg;
    double tenth = 0.1;
    pc_process *g;
    if (pc_process_new(target_sleep, &tenth, &g) != PC_OK)
        return 1;
    if (pc_process_start(g) != PC_OK)
        return 2;
    pc_status s = pc_process_join(g, PC_FOREVER);
    if (s == PC_ERR_INTERRUPTED)
        return 3;
    return s == PC_OK ? 0 : 4;
}

static void test_interrupt_not_inherited(void)
{
    pc_interrupt();
    pc_process *c;
    CHECK_OK(pc_process_new(target_join_grandchild, NULL, &c));
    CHECK_OK(pc_process_start(c));
    /* The parent's own wait consumes it ... */
    CHECK_STATUS(pc_process_join(c, 10.0), PC_ERR_INTERRUPTED);
    CHECK_OK(pc_process_join(c, 10.0));
    int code;
    CHECK_OK(pc_process_exitcode(c, &code));
    /* ... and the child's join was not interrupted. */
    if (code != 0)
        FAIL("child reported %d (3: its join was interrupted by the parent's pc_interrupt)", code);
    pc_process_free(c);
}

static void test_sigint_handler(void)
{
    CHECK_OK(pc_install_sigint_handler());
    /* A signal to the process (any thread may run the handler). */
    struct helper h1 = {.action = ACT_KILL_SIGINT, .delay = 0.2};
    CHECK_STATUS(join_while(&h1), PC_ERR_INTERRUPTED);
    /* raise() in another thread: the handler runs there; the waiting thread must still
     * notice within the bound. */
    struct helper h2 = {.action = ACT_RAISE, .delay = 0.2, .signo = SIGINT};
    CHECK_STATUS(join_while(&h2), PC_ERR_INTERRUPTED);
    /* A signal straight to the waiting thread. */
    struct helper h3 = {.action = ACT_SIGNAL_MAIN, .delay = 0.2, .signo = SIGINT, .repeat = 1};
    CHECK_STATUS(join_while(&h3), PC_ERR_INTERRUPTED);
    /* A SIGINT before the wait leaves the interrupt pending. */
    CHECK(raise(SIGINT) == 0);
    pc_process *p = start_sleeper();
    CHECK_STATUS(pc_process_join(p, 5.0), PC_ERR_INTERRUPTED);
    CHECK_STATUS(pc_process_join(p, 0.05), PC_ERR_TIMEOUT);
    end_sleeper(p);
    /* Installing it twice is fine. */
    CHECK_OK(pc_install_sigint_handler());
    /* The installed handler is a real handler (not SIG_IGN / SIG_DFL). */
    struct sigaction sa;
    CHECK(sigaction(SIGINT, NULL, &sa) == 0);
    CHECK(sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN);
    signal(SIGINT, SIG_DFL);
}

static void on_sig_interrupt(int sig)
{
    (void)sig;
    pc_interrupt();
}

static void on_sig_nothing(int sig)
{
    (void)sig;
}

static void install(int signo, void (*handler)(int), int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(signo, &sa, NULL) == 0);
}

/* A program's own handler calling pc_interrupt, with and without SA_RESTART. */
static void test_own_handler_with_and_without_restart(void)
{
    static const int flags[] = {SA_RESTART, 0};
    for (int i = 0; i < 2; i++) {
        install(SIGUSR1, on_sig_interrupt, flags[i]);
        struct helper h = {.action = ACT_SIGNAL_MAIN, .delay = 0.2, .signo = SIGUSR1, .repeat = 1};
        pc_status s = join_while(&h);
        if (s != PC_ERR_INTERRUPTED)
            FAIL("join with a %s handler calling pc_interrupt returned %d (%s)",
                 flags[i] ? "SA_RESTART" : "non-restarting", s, pc_status_str(s));
        /* The signal handled by another thread than the waiting one. */
        struct helper h2 = {.action = ACT_RAISE, .delay = 0.2, .signo = SIGUSR1};
        CHECK_STATUS(join_while(&h2), PC_ERR_INTERRUPTED);
    }
    signal(SIGUSR1, SIG_DFL);
}

/* Signals whose handler does not interrupt: the wait continues with the time it has
 * left, and never returns early (PEP 475). */
static void test_signals_do_not_break_timed_join(void)
{
    static const int flags[] = {SA_RESTART, 0};
    for (int i = 0; i < 2; i++) {
        install(SIGUSR2, on_sig_nothing, flags[i]);
        pc_process *p = start_sleeper();
        struct helper h = {.action = ACT_SIGNAL_MAIN, .delay = 0.0, .signo = SIGUSR2, .repeat = 20};
        h.main_thread = pthread_self();
        pthread_t t;
        double t0 = now();
        CHECK(pthread_create(&t, NULL, helper_thread, &h) == 0);
        pc_status s = pc_process_join(p, 0.5);
        double took = now() - t0;
        CHECK(pthread_join(t, NULL) == 0);
        if (s != PC_ERR_TIMEOUT)
            FAIL("timed join under signals (%s) returned %d (%s)",
                 flags[i] ? "SA_RESTART" : "no SA_RESTART", s, pc_status_str(s));
        if (took < 0.49 || took > 2.0)
            FAIL("join(0.5) under signals took %.3f s", took);
        end_sleeper(p);

        /* A join without limit under signals returns once the child ends, with PC_OK. */
        double third = 0.3;
        CHECK_OK(pc_process_new(target_sleep, &third, &p));
        CHECK_OK(pc_process_start(p));
        struct helper h2 = {.action = ACT_SIGNAL_MAIN, .delay = 0.0, .signo = SIGUSR2, .repeat = 10};
        h2.main_thread = pthread_self();
        CHECK(pthread_create(&t, NULL, helper_thread, &h2) == 0);
        t0 = now();
        CHECK_OK(pc_process_join(p, PC_FOREVER));
        CHECK(now() - t0 < 5.0);
        CHECK(pthread_join(t, NULL) == 0);
        int code;
        CHECK_OK(pc_process_exitcode(p, &code));
        CHECK(code == 0);
        pc_process_free(p);
    }
    signal(SIGUSR2, SIG_DFL);
}

/* ---- the library's threads block SIGINT ---- */

/* SigBlk of thread `tid` of this process, from /proc. */
static unsigned long long thread_sigblk(const char *tid)
{
    char path[300], line[256];
    snprintf(path, sizeof path, "/proc/self/task/%s/status", tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    unsigned long long mask = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "SigBlk: %llx", &mask) == 1)
            break;
    fclose(f);
    return mask;
}

static void test_library_threads_block_sigint(void)
{
    /* Give the library reasons to run threads of its own: two children at once, and a
     * handle freed while its child runs (it must be reaped in the background). */
    double half = 0.5;
    pc_process *p, *q;
    CHECK_OK(pc_process_new(target_sleep, &half, &p));
    CHECK_OK(pc_process_new(target_sleep, &half, &q));
    CHECK_OK(pc_process_start(p));
    CHECK_OK(pc_process_start(q));
    pid_t q_pid = pc_process_pid(q);
    pc_process_free(q);

    /* This test runs no thread of its own now: every other thread is the library's. */
    DIR *dir = opendir("/proc/self/task");
    CHECK(dir != NULL);
    pid_t self = getpid();
    int library_threads = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        if (e->d_name[0] == '.' || atoi(e->d_name) == self)
            continue;
        char path[300], comm[64] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (f) {
            if (fgets(comm, sizeof comm, f) == NULL)
                comm[0] = '\0';
            fclose(f);
        }
        comm[strcspn(comm, "\n")] = '\0';
        library_threads++;
        unsigned long long blocked = thread_sigblk(e->d_name);
        if (!(blocked & (1ULL << (SIGINT - 1))))
            FAIL("library thread %s (%s) does not block SIGINT (SigBlk %llx)", e->d_name, comm,
                 blocked);
    }
    closedir(dir);
    fprintf(stderr, "   %d library thread(s) checked\n", library_threads);
    CHECK_OK(pc_process_join(p, 10.0));
    pc_process_free(p);
    CHECK(wait_pid_gone(q_pid, 2.0)); /* the freed one was reaped in the background */
}

int main(void)
{
    tu_init("test_errors", 60);
    RUN(test_last_error); /* first: the main thread has not failed a call yet */
    RUN(test_status_str);
    RUN(test_version);
    RUN(test_interrupt_pending_consumed_once);
    RUN(test_interrupt_from_thread);
    RUN(test_interrupt_not_inherited);
    RUN(test_sigint_handler);
    RUN(test_own_handler_with_and_without_restart);
    RUN(test_signals_do_not_break_timed_join);
    RUN(test_library_threads_block_sigint);
    drain_interrupt();
    return tu_done();
}
