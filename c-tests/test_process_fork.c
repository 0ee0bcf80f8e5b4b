/*
 * test_process_fork.c: a program that forks by itself (plain fork(), e.g. to daemonize
 * or in a pre-fork server) after it used the library.
 *
 * The forked copy is a process of its own: the process rules of include/processing.h still
 * hold for the children it starts with the library: ended children do not stay zombies
 * (pc_process_start), pc_active_children lists them, and at its normal exit the
 * non-daemonic ones are joined.
 *
 * Scenario: sub-process A starts and joins a child (so the library is initialised in
 * A), then plain-forks B. B starts a child that ends at once, and another that sleeps
 * 0.3 s and leaves a marker, then exits. Every problem B sees is reported together.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* prctl, pthread_kill, … */
#endif
#include "testutil.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static int report_rd = -1, report_wr = -1;

static int target_sleep_then_mark(void *arg)
{
    (void)arg;
    sleep_s(0.3);
    write_str(report_wr, "done\n");
    return 0;
}

static int sub_b(void *arg)
{
    (void)arg;
    char problems[1024] = "";
    size_t used = 0;

    /* 1. An ended child whose handle was freed is reaped, with no further call. */
    pc_process *p;
    CHECK_OK(pc_process_new(NULL, NULL, &p));
    CHECK_OK(pc_process_start(p));
    pid_t quick = pc_process_pid(p);
    pc_process_free(p);
    if (!wait_pid_gone(quick, 2.0))
        used += (size_t)snprintf(problems + used, sizeof problems - used,
                                 "\n    - its ended, freed child %d is still a zombie (state %c) after 2 s",
                                 (int)quick, pid_state(quick, NULL));

    /* 2. A live child is listed. */
    static pc_process *n; /* reachable until the exit */
    CHECK_OK(pc_process_new(target_sleep_then_mark, NULL, &n));
    CHECK_OK(pc_process_start(n));
    size_t count = 0;
    CHECK_OK(pc_active_children(NULL, 0, &count));
    if (count != 1)
        used += (size_t)snprintf(problems + used, sizeof problems - used,
                                 "\n    - pc_active_children counts %zu, expected its 1 live child",
                                 count);
    if (used > 0) {
        fprintf(stderr, "B (pid %d), forked after the library was used:%s\n", (int)getpid(),
                problems);
        write_str(report_wr, "problems\n");
    }
    /* 3. At its normal exit, the library joins n (checked by A). */
    return 0;
}

static int sub_a(void *arg)
{
    (void)arg;
    pc_process *p;
    CHECK_OK(pc_process_new(NULL, NULL, &p));
    CHECK_OK(pc_process_start(p));
    CHECK_OK(pc_process_join(p, 10.0));
    pc_process_free(p);

    pid_t b = fork_sub(sub_b, NULL);
    check_sub_ok(b, 10.0, "B");
    /* When B has ended, its child must have ended before it, leaving its marker. */
    char out[128];
    read_available(report_rd, out, sizeof out);
    bool joined = strstr(out, "done\n") != NULL;
    if (!joined)
        fprintf(stderr, "    - B's non-daemonic child was not joined at B's exit\n");
    if (!joined || strstr(out, "problems") != NULL) {
        /* B's child, if still there, is our orphan now; the test ends it. */
        FAIL("the library does not manage the children of a plainly forked process (see above)");
    }
    return 0;
}

int main(void)
{
    tu_init("test_process_fork", 60);
    CHECK(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
    fprintf(stderr, "-- test_plain_fork_after_library_use\n");
    int fds[2];
    CHECK(pipe(fds) == 0);
    report_rd = fds[0];
    report_wr = fds[1];
    pid_t a = fork_sub(sub_a, NULL);
    int st = wait_sub(a, 15.0);
    /* Orphans of B (reparented to us, the subreaper) end by themselves: reap them. */
    CHECK(reap_orphans(2.0));
    close(fds[0]);
    close(fds[1]);
    if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        FAIL("sub-process A/B: %s", status_text(st));
    return tu_done();
}
