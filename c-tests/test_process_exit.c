/*
 * test_process_exit.c: what happens around fork and exit (include/processing.h:
 * pc_process_start, pc_process_set_daemon).
 *
 * Each scenario runs in a sub-process of the test (a plain fork(), or a re-execution of
 * this program for "returns from main"), which uses the library and then ends; the test
 * watches from outside:
 *   - C stdio: buffered output of the parent is not printed twice, a child's is not lost;
 *   - normal exit (exit() or return from main): daemonic children are terminated,
 *     the others joined;
 *   - abnormal end (_exit, SIGKILL): daemonic children die with the parent, the others
 *     survive (and are killed here afterwards).
 * The test process itself is a child subreaper, so the orphans of a killed sub-process
 * become its children and are reaped here: nothing is left behind.
 *
 * The test process does not use the library before forking the scenarios: each
 * sub-process starts with the library untouched, like a fresh program.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* prctl, pthread_kill, … */
#endif
#include "testutil.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static int report_fd = -1; /* where sub-processes and their children report */

/* ---- targets ---- */

static int target_print_child(void *arg)
{
    (void)arg;
    printf("[child]"); /* no newline, stdout is a pipe: stays in the buffer until exit */
    return 0;
}

/* Sleeps 0.3 s, then leaves a marker and exits 0. */
static int target_sleep_then_mark(void *arg)
{
    (void)arg;
    sleep_s(0.3);
    write_str(report_fd, "done\n");
    return 0;
}

static int ready_fd = -1;

static void on_sigterm(int sig)
{
    (void)sig;
    static const char msg[] = "SIGTERM\n";
    ssize_t n = write(report_fd, msg, sizeof msg - 1);
    (void)n;
    _exit(0);
}

/* A daemon that says when SIGTERM reaches it, then sleeps "forever" (20 s). */
static int target_daemon_reports_sigterm(void *arg)
{
    (void)arg;
    signal(SIGTERM, on_sigterm);
    write_str(ready_fd, "R");
    sleep_s(20.0);
    return 0;
}

/* ---- helpers ---- */

static void write_pid(int fd, pid_t pid)
{
    char line[32];
    snprintf(line, sizeof line, "%d\n", (int)pid);
    write_str(fd, line);
}

/* Starts a process running target(arg), daemonic or not; returns its pid. */
static pid_t start_child(pc_target_fn target, void *arg, bool daemon, pc_process **out)
{
    pc_process *p;
    CHECK_OK(pc_process_new(target, arg, &p));
    CHECK_OK(pc_process_set_daemon(p, daemon));
    CHECK_OK(pc_process_start(p));
    if (out)
        *out = p;
    return pc_process_pid(p);
}

/* Waits at most `timeout` s for `pid` (an orphan now reparented to us, the subreaper, or
 * reaped by someone else) to die; returns its wait status, or 0 if reaped elsewhere,
 * or -1 if it is still alive. */
static int wait_orphan(pid_t pid, double timeout)
{
    double deadline = now() + timeout;
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return st;
        if (r < 0 && errno == ECHILD && pid_gone(pid))
            return 0;
        if (now() >= deadline)
            return -1;
        sleep_s(0.005);
    }
}

/* Reads the pid lines "P\n" (n of them) the sub-process reports. */
static void read_pids(int fd, pid_t *pids, int n)
{
    char buf[256];
    size_t got = 0;
    int lines = 0;
    double deadline = now() + 10.0;
    while (lines < n) {
        if (now() >= deadline)
            FAIL("sub-process reported %d of %d pids: \"%s\"", lines, n, buf);
        if (!read_exact(fd, buf + got, 1, deadline - now()))
            FAIL("sub-process ended before reporting %d pids (got %d)", n, lines);
        if (buf[got] == '\n') {
            buf[got] = '\0';
            pids[lines++] = (pid_t)atoi(buf);
            got = 0;
        } else if (++got >= sizeof buf - 1) {
            FAIL("bad pid line");
        }
    }
}

/* ---- C stdio across fork ---- */

static int stdio_out_fd;

static int sub_stdio(void *arg)
{
    (void)arg;
    CHECK(dup2(stdio_out_fd, 1) == 1);
    printf("[parent]"); /* buffered: the fork must not copy it into the child */
    pc_process *p;
    CHECK_OK(pc_process_new(target_print_child, NULL, &p));
    CHECK_OK(pc_process_start(p));
    CHECK_OK(pc_process_join(p, 10.0));
    int code;
    CHECK_OK(pc_process_exitcode(p, &code));
    CHECK(code == 0);
    pc_process_free(p);
    /* A child without target prints nothing (nothing of ours either). */
    printf("[again]");
    CHECK_OK(pc_process_new(NULL, NULL, &p));
    CHECK_OK(pc_process_start(p));
    CHECK_OK(pc_process_join(p, 10.0));
    pc_process_free(p);
    printf("[end]");
    return 0; /* exit() flushes "[end]" */
}

static void test_stdio_not_duplicated_nor_lost(void)
{
    char out[512];
    run_sub_collecting(sub_stdio, &stdio_out_fd, out, sizeof out, 10.0, "stdio sub-process");
    if (strcmp(out, "[parent][child][again][end]") != 0)
        FAIL("stdout of the scenario is \"%s\", expected \"[parent][child][again][end]\"", out);
}

/* ---- the parent's atexit handlers do not run in its children ---- */

static int atexit_fd = -1;

static void parent_atexit(void)
{
    char line[64];
    snprintf(line, sizeof line, "atexit in %d\n", (int)getpid());
    write_str(atexit_fd, line);
}

static int target_return_normally(void *arg)
{
    (void)arg;
    return 0;
}

static int sub_atexit(void *arg)
{
    (void)arg;
    CHECK(atexit(parent_atexit) == 0);
    for (int i = 0; i < 3; i++) {
        pc_process *p;
        CHECK_OK(pc_process_new(i == 0 ? target_return_normally : NULL, NULL, &p));
        CHECK_OK(pc_process_start(p));
        CHECK_OK(pc_process_join(p, 10.0));
        pc_process_free(p);
    }
    return 0;
}

static void test_atexit_not_run_in_children(void)
{
    char out[512];
    pid_t sub = run_sub_collecting(sub_atexit, &atexit_fd, out, sizeof out, 10.0, "atexit sub-process");
    char want[64];
    snprintf(want, sizeof want, "atexit in %d\n", (int)sub);
    if (strcmp(out, want) != 0)
        FAIL("atexit handlers ran: \"%s\", expected only the parent's \"%s\"", out, want);
}

/* ---- normal exit: daemons terminated, others joined ---- */

/* Handles kept (reachable) until the exit. */
static pc_process *kept[4];

static int sub_daemon_at_exit(void *arg)
{
    (void)arg;
    int ready[2];
    CHECK(pipe(ready) == 0);
    ready_fd = ready[1];
    pid_t d = start_child(target_daemon_reports_sigterm, NULL, true, &kept[0]);
    char c;
    CHECK(read_exact(ready[0], &c, 1, 10.0)); /* its SIGTERM handler is in place */
    write_pid(report_fd, d);
    return 0; /* normal exit: the library terminates the daemon */
}

static void test_daemon_terminated_at_normal_exit(void)
{
    int fds[2];
    CHECK(pipe(fds) == 0);
    report_fd = fds[1];
    pid_t sub = fork_sub(sub_daemon_at_exit, NULL);
    pid_t d;
    read_pids(fds[0], &d, 1);
    double t0 = now();
    check_sub_ok(sub, 10.0, "sub-process");
    CHECK(now() - t0 < 5.0); /* it did not wait for the daemon's 20 s */
    CHECK(wait_orphan(d, 2.0) != -1);
    CHECK(pid_gone(d));
    close(fds[1]);
    char out[64];
    read_until_eof(fds[0], out, sizeof out, 5.0);
    close(fds[0]);
    if (strcmp(out, "SIGTERM\n") != 0)
        FAIL("the daemon should have got SIGTERM at its parent's exit; it reported \"%s\"", out);
}

static int sub_nondaemon_at_exit(void *arg)
{
    (void)arg;
    pid_t c = start_child(target_sleep_then_mark, NULL, false, &kept[0]);
    write_pid(report_fd, c);
    exit(0); /* normal exit: the library joins the child first */
}

static void test_nondaemon_joined_at_normal_exit(void)
{
    int fds[2];
    CHECK(pipe(fds) == 0);
    report_fd = fds[1];
    double t0 = now();
    pid_t sub = fork_sub(sub_nondaemon_at_exit, NULL);
    pid_t c;
    read_pids(fds[0], &c, 1);
    int st = wait_sub(sub, 10.0);
    double took = now() - t0;
    if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        FAIL("sub-process: %s", status_text(st));
    if (took < 0.29)
        FAIL("the sub-process ended after %.3f s, before its 0.3 s child", took);
    /* The child had finished (and left its marker) before its parent ended. */
    char out[64];
    read_available(fds[0], out, sizeof out);
    if (strcmp(out, "done\n") != 0)
        FAIL("marker of the child missing when its parent ended: \"%s\"", out);
    CHECK(pid_gone(c));
    close(fds[0]);
    close(fds[1]);
}

/* The same rules when the program returns from main: a re-execution of this program
 * ("--sub-main FD"), with the library fresh. Its handles are freed before the end: the
 * rules hold for the children all the same. */
static int sub_main(int fd)
{
    report_fd = fd;
    int ready[2];
    CHECK(pipe(ready) == 0);
    ready_fd = ready[1];
    pc_process *dp, *np;
    pid_t d = start_child(target_daemon_reports_sigterm, NULL, true, &dp);
    char c;
    CHECK(read_exact(ready[0], &c, 1, 10.0));
    close(ready[0]);
    close(ready[1]);
    pid_t n = start_child(target_sleep_then_mark, NULL, false, &np);
    write_pid(fd, d);
    write_pid(fd, n);
    pc_process_free(dp);
    pc_process_free(np);
    return 0;
}

static void test_exit_rules_at_return_from_main(void)
{
    int fds[2];
    CHECK(pipe(fds) == 0);
    double t0 = now();
    fflush(NULL);
    pid_t sub = fork();
    if (sub == 0) {
        char fd_text[16];
        snprintf(fd_text, sizeof fd_text, "%d", fds[1]);
        execl("/proc/self/exe", "test_process_exit", "--sub-main", fd_text, (char *)NULL);
        _exit(127);
    }
    CHECK(sub > 0);
    close(fds[1]);
    pid_t pids[2];
    read_pids(fds[0], pids, 2);
    int st = wait_sub(sub, 10.0);
    double took = now() - t0;
    if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        FAIL("sub-process (returning from main): %s", status_text(st));
    CHECK(took >= 0.29);
    CHECK(took < 5.0);
    char out[128];
    read_until_eof(fds[0], out, sizeof out, 5.0);
    close(fds[0]);
    /* Order: the daemon is terminated first, then the other child joined. */
    if (strcmp(out, "SIGTERM\ndone\n") != 0)
        FAIL("after return from main: reports \"%s\", expected \"SIGTERM\\ndone\\n\"", out);
    CHECK(wait_orphan(pids[0], 2.0) != -1);
    CHECK(wait_orphan(pids[1], 2.0) != -1);
}

/* ---- abnormal end of the parent: daemons die with it, others survive ---- */

static int sub_then_killed(void *arg)
{
    (void)arg;
    pid_t d = start_child(target_sleep, NULL, true, NULL);
    pid_t n = start_child(target_sleep, NULL, false, NULL);
    write_pid(report_fd, d);
    write_pid(report_fd, n);
    sleep_s(20.0); /* until the test kills it */
    return 0;
}

static void test_parent_sigkill(void)
{
    int fds[2];
    CHECK(pipe(fds) == 0);
    report_fd = fds[1];
    pid_t sub = fork_sub(sub_then_killed, NULL);
    pid_t pids[2];
    read_pids(fds[0], pids, 2);
    CHECK(pid_running(pids[0]));
    CHECK(pid_running(pids[1]));
    CHECK(kill(sub, SIGKILL) == 0);
    int st = wait_sub(sub, 5.0);
    CHECK(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);

    /* The daemonic child dies within 2 s: by SIGKILL (its parent-death signal), or with
     * exit status 1 when its parent died before it could ask for that signal. */
    st = wait_orphan(pids[0], 2.0);
    if (st == -1)
        FAIL("daemonic child %d still alive 2 s after its parent was killed", (int)pids[0]);
    if (st != 0 && !(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) &&
        !(WIFEXITED(st) && WEXITSTATUS(st) == 1))
        FAIL("daemonic child ended with %s", status_text(st));
    /* The non-daemonic child survives its parent (then we end it). */
    sleep_s(0.2);
    CHECK(pid_running(pids[1]));
    CHECK(kill(pids[1], SIGKILL) == 0);
    CHECK(wait_orphan(pids[1], 2.0) != -1);
    close(fds[0]);
    close(fds[1]);
}

static int sub_then_underscore_exit(void *arg)
{
    (void)arg;
    pid_t d = start_child(target_sleep, NULL, true, NULL);
    pid_t n = start_child(target_sleep, NULL, false, NULL);
    write_pid(report_fd, d);
    write_pid(report_fd, n);
    _exit(0); /* no exit handlers: not a normal exit for the library */
}

static void test_parent_underscore_exit(void)
{
    int fds[2];
    CHECK(pipe(fds) == 0);
    report_fd = fds[1];
    pid_t sub = fork_sub(sub_then_underscore_exit, NULL);
    pid_t pids[2];
    read_pids(fds[0], pids, 2);
    int st = wait_sub(sub, 5.0);
    CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    st = wait_orphan(pids[0], 2.0);
    if (st == -1)
        FAIL("daemonic child %d still alive 2 s after its parent _exit()ed", (int)pids[0]);
    sleep_s(0.2);
    CHECK(pid_running(pids[1]));
    CHECK(kill(pids[1], SIGKILL) == 0);
    CHECK(wait_orphan(pids[1], 2.0) != -1);
    close(fds[0]);
    close(fds[1]);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--sub-main") == 0) {
        alarm(30);
        return sub_main(atoi(argv[2]));
    }
    tu_init("test_process_exit", 60);
    /* Orphans of the killed sub-processes become our children: we reap them. */
    CHECK(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
    RUN(test_stdio_not_duplicated_nor_lost);
    RUN(test_atexit_not_run_in_children);
    RUN(test_daemon_terminated_at_normal_exit);
    RUN(test_nondaemon_joined_at_normal_exit);
    RUN(test_exit_rules_at_return_from_main);
    RUN(test_parent_sigkill);
    RUN(test_parent_underscore_exit);
    return tu_done();
}
