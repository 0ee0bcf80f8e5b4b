/*
 * test_process_attributes.c: what a process is (include/processing.h: pc_process_name,
 * pc_process_pid, pc_process_authkey, pc_active_children, pc_cpu_count, …): names
 * (nested too), pid, authkey, active_children, cpu_count and freeze_support.
 *
 * The exit rules (atexit, parent death) and stdio across fork are in test_process_exit.c;
 * the rest of the process API in the other test_process_*.c.
 *
 * `test_process_attributes NAME…` runs only the named subtests.
 *
 * ctest-timeout: 20
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* prctl, pthread_kill, … */
#endif
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include "process_common.h"

/* ---- names ---- */
struct name_check {
    char expected[64];
};

/* In the child: the current process's name must be the expected one. */
static int target_check_name(void *arg)
{
    const struct name_check *nc = arg;
    const pc_process *me = NULL;
    if (pc_current_process(&me) != PC_OK || me == NULL)
        return 10;
    const char *name = pc_process_name(me);
    if (!name)
        return 11;
    return strcmp(name, nc->expected) == 0 ? 0 : 12;
}

static void test_names(void)
{
    const pc_process *main_p;
    CHECK_OK(pc_current_process(&main_p));
    CHECK(main_p != NULL);
    CHECK(strcmp(pc_process_name(main_p), "MainProcess") == 0);

    pc_process *a, *b;
    CHECK_OK(pc_process_new(NULL, NULL, &a));
    CHECK_OK(pc_process_new(NULL, NULL, &b));
    long na = name_number(pc_process_name(a));
    long nb = name_number(pc_process_name(b));
    CHECK(na >= 1);
    CHECK(nb == na + 1);
    CHECK(strchr(pc_process_name(a), ':') == NULL);
    /* The getter's pointer is stable while the name does not change. */
    CHECK(pc_process_name(a) == pc_process_name(a));

    CHECK_OK(pc_process_set_name(a, "worker"));
    CHECK(strcmp(pc_process_name(a), "worker") == 0);
    CHECK_OK(pc_process_set_name(a, "w\xc3\xb6rker \xe2\x9c\x93")); /* UTF-8 */
    CHECK(strcmp(pc_process_name(a), "w\xc3\xb6rker \xe2\x9c\x93") == 0);
    CHECK_OK(pc_process_set_name(a, ""));
    CHECK(strcmp(pc_process_name(a), "") == 0);
    pc_process_free(a);
    pc_process_free(b);

    /* The default name, seen by the child itself. */
    static struct name_check nc1, nc2;
    pc_process *c;
    CHECK_OK(pc_process_new(target_check_name, &nc1, &c));
    snprintf(nc1.expected, sizeof nc1.expected, "%s", pc_process_name(c));
    CHECK(name_number(nc1.expected) == nb + 1);
    CHECK_OK(pc_process_start(c));
    CHECK_OK(pc_process_join(c, 10.0));
    int code;
    CHECK_OK(pc_process_exitcode(c, &code));
    CHECK(code == 0);
    pc_process_free(c);

    /* A name set before start is what the child sees. */
    CHECK_OK(pc_process_new(target_check_name, &nc2, &c));
    CHECK_OK(pc_process_set_name(c, "custom-name"));
    snprintf(nc2.expected, sizeof nc2.expected, "custom-name");
    CHECK_OK(pc_process_start(c));
    CHECK_OK(pc_process_join(c, 10.0));
    CHECK_OK(pc_process_exitcode(c, &code));
    CHECK(code == 0);
    /* Renaming after start is allowed (the parent's object only). */
    CHECK_OK(pc_process_set_name(c, "renamed"));
    CHECK(strcmp(pc_process_name(c), "renamed") == 0);
    pc_process_free(c);

    /* Still MainProcess here. */
    CHECK(strcmp(pc_process_name(main_p), "MainProcess") == 0);
}

/* ---- nested children: "Process-N:M" ---- */
struct nested {
    int wfd;
};

static int target_report_own_name(void *arg)
{
    const struct nested *n = arg;
    const pc_process *me;
    if (pc_current_process(&me) != PC_OK)
        return 20;
    char line[128];
    snprintf(line, sizeof line, "grandchild:%s\n", pc_process_name(me));
    return write_str(n->wfd, line) ? 0 : 21;
}

/* A child that starts two grandchildren and reports their names (as its handles and as
 * they see themselves). */
static int target_start_grandchildren(void *arg)
{
    const struct nested *n = arg;
    const pc_process *me;
    if (pc_current_process(&me) != PC_OK)
        return 30;
    char line[256];
    snprintf(line, sizeof line, "child:%s\n", pc_process_name(me));
    write_str(n->wfd, line);
    for (int i = 0; i < 2; i++) {
        pc_process *g;
        if (pc_process_new(target_report_own_name, arg, &g) != PC_OK)
            return 31;
        snprintf(line, sizeof line, "handle:%s\n", pc_process_name(g));
        write_str(n->wfd, line);
        if (pc_process_start(g) != PC_OK)
            return 32;
        if (pc_process_join(g, 10.0) != PC_OK)
            return 33;
        int code;
        if (pc_process_exitcode(g, &code) != PC_OK || code != 0)
            return 34;
        pc_process_free(g);
    }
    return 0;
}

static void test_nested_names(void)
{
    int fds[2];
    CHECK(pipe(fds) == 0);
    static struct nested n;
    n.wfd = fds[1];
    pc_process *c;
    CHECK_OK(pc_process_new(target_start_grandchildren, &n, &c));
    char child_name[64];
    snprintf(child_name, sizeof child_name, "%s", pc_process_name(c));
    CHECK_OK(pc_process_start(c));
    CHECK_OK(pc_process_join(c, 10.0));
    int code;
    CHECK_OK(pc_process_exitcode(c, &code));
    CHECK(code == 0);
    close(fds[1]);
    char out[2048];
    read_until_eof(fds[0], out, sizeof out, 5.0);
    close(fds[0]);
    pc_process_free(c);

    char want[1024];
    snprintf(want, sizeof want,
             "child:%s\n"
             "handle:%s:1\ngrandchild:%s:1\n"
             "handle:%s:2\ngrandchild:%s:2\n",
             child_name, child_name, child_name, child_name, child_name);
    if (strcmp(out, want) != 0)
        FAIL("nested names:\n--- got\n%s--- expected\n%s", out, want);
}

/* ---- pid ---- */
struct pid_report {
    int wfd;
};

static int target_report_pid(void *arg)
{
    const struct pid_report *r = arg;
    pid_t pid = getpid();
    const pc_process *me;
    if (pc_current_process(&me) != PC_OK || pc_process_pid(me) != pid)
        return 40;
    return write_all(r->wfd, &pid, sizeof pid) ? 0 : 41;
}

static void test_pid(void)
{
    const pc_process *main_p;
    CHECK_OK(pc_current_process(&main_p));
    CHECK(pc_process_pid(main_p) == getpid());

    int fds[2];
    CHECK(pipe(fds) == 0);
    static struct pid_report r;
    r.wfd = fds[1];
    pc_process *p;
    CHECK_OK(pc_process_new(target_report_pid, &r, &p));
    CHECK(pc_process_pid(p) == 0);
    CHECK_OK(pc_process_start(p));
    pid_t seen = 0;
    CHECK(read_exact(fds[0], &seen, sizeof seen, 5.0));
    CHECK(seen > 0);
    CHECK(seen != getpid());
    CHECK(pc_process_pid(p) == seen);
    CHECK_OK(pc_process_join(p, 10.0));
    int code;
    CHECK_OK(pc_process_exitcode(p, &code));
    CHECK(code == 0);
    /* The pid stays known after the end. */
    CHECK(pc_process_pid(p) == seen);
    pc_process_free(p);
    close(fds[0]);
    close(fds[1]);
    CHECK(wait_pid_gone(seen, 2.0));
}

/* ---- authkey ---- */
struct key_check {
    uint8_t key[64];
    size_t len;
};

/* In the child: its authkey must be the expected bytes. */
static int target_check_authkey(void *arg)
{
    const struct key_check *kc = arg;
    const pc_process *me;
    const uint8_t *key = NULL;
    size_t len = 9999;
    if (pc_current_process(&me) != PC_OK)
        return 50;
    if (pc_process_authkey(me, &key, &len) != PC_OK)
        return 51;
    if (len != kc->len)
        return 52;
    if (len > 0 && (key == NULL || memcmp(key, kc->key, len) != 0))
        return 53;
    return 0;
}

static int run_key_child(pc_process *p)
{
    CHECK_OK(pc_process_start(p));
    CHECK_OK(pc_process_join(p, 10.0));
    int code;
    CHECK_OK(pc_process_exitcode(p, &code));
    pc_process_free(p);
    return code;
}

static void test_authkey(void)
{
    const pc_process *main_p;
    CHECK_OK(pc_current_process(&main_p));
    const uint8_t *key = NULL;
    size_t len = 0;
    CHECK_OK(pc_process_authkey(main_p, &key, &len));
    CHECK(len == 32);
    CHECK(key != NULL);
    uint8_t zeros[32] = {0};
    CHECK(memcmp(key, zeros, 32) != 0);
    /* Same bytes each time. */
    const uint8_t *key2;
    size_t len2;
    CHECK_OK(pc_process_authkey(main_p, &key2, &len2));
    CHECK(len2 == 32 && memcmp(key, key2, 32) == 0);
    uint8_t main_key[32];
    memcpy(main_key, key, 32);

    /* A new process object carries the creator's key, and the child sees it. */
    static struct key_check kc;
    pc_process *p;
    CHECK_OK(pc_process_new(target_check_authkey, &kc, &p));
    CHECK_OK(pc_process_authkey(p, &key, &len));
    CHECK(len == 32 && memcmp(key, main_key, 32) == 0);
    memcpy(kc.key, main_key, 32);
    kc.len = 32;
    CHECK(run_key_child(p) == 0);

    /* A key set before start is what the child sees. */
    static struct key_check kc2;
    CHECK_OK(pc_process_new(target_check_authkey, &kc2, &p));
    CHECK_OK(pc_process_set_authkey(p, "secret", 6));
    CHECK_OK(pc_process_authkey(p, &key, &len));
    CHECK(len == 6 && memcmp(key, "secret", 6) == 0);
    memcpy(kc2.key, "secret", 6);
    kc2.len = 6;
    CHECK(run_key_child(p) == 0);

    /* (NULL, 0) sets an empty key; (NULL, 5) is refused and changes nothing. */
    static struct key_check kc3;
    CHECK_OK(pc_process_new(target_check_authkey, &kc3, &p));
    CHECK_OK(pc_process_set_authkey(p, NULL, 0));
    CHECK_OK(pc_process_authkey(p, &key, &len));
    CHECK(len == 0);
    CHECK_STATUS(pc_process_set_authkey(p, NULL, 5), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("key");
    CHECK_OK(pc_process_authkey(p, &key, &len));
    CHECK(len == 0);
    kc3.len = 0;
    CHECK(run_key_child(p) == 0);

    /* The outputs are written on success only. */
    key = (const uint8_t *)"untouched";
    len = 77;
    CHECK_STATUS(pc_process_authkey(NULL, &key, &len), PC_ERR_INVALID_ARGUMENT);
    CHECK(len == 77 && strcmp((const char *)key, "untouched") == 0);

    /* The main process's key can be changed: later processes inherit the new one. */
    CHECK_OK(pc_process_set_authkey((pc_process *)main_p, "main-key", 8));
    static struct key_check kc4;
    CHECK_OK(pc_process_new(target_check_authkey, &kc4, &p));
    memcpy(kc4.key, "main-key", 8);
    kc4.len = 8;
    CHECK(run_key_child(p) == 0);
    CHECK_OK(pc_process_set_authkey((pc_process *)main_p, main_key, 32));
    CHECK_OK(pc_process_authkey(main_p, &key, &len));
    CHECK(len == 32 && memcmp(key, main_key, 32) == 0);
}

/* ---- active_children ---- */
static bool listed(pc_process **list, size_t n, const pc_process *p)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] == p)
            return true;
    return false;
}

static void test_active_children(void)
{
    size_t count = 999;
    CHECK_OK(pc_active_children(NULL, 0, &count));
    CHECK(count == 0);

    double long_sleep = 20.0, tiny = 0.05;
    pc_process *s[3], *quick, *unstarted;
    for (int i = 0; i < 3; i++) {
        CHECK_OK(pc_process_new(target_sleep, &long_sleep, &s[i]));
        CHECK_OK(pc_process_start(s[i]));
    }
    CHECK_OK(pc_process_new(target_sleep, &tiny, &quick));
    CHECK_OK(pc_process_new(NULL, NULL, &unstarted));
    CHECK_OK(pc_process_start(quick));
    pid_t quick_pid = pc_process_pid(quick);
    /* Wait for the quick one to end, without joining it. */
    CHECK(poll_revents(pc_process_sentinel(quick), 5000) & POLLIN);

    count = 999;
    CHECK_OK(pc_active_children(NULL, 0, &count));
    CHECK(count == 3);
    CHECK(wait_pid_gone(quick_pid, 2.0)); /* reaped (by that call at the latest) */

    pc_process *list[8];
    for (int i = 0; i < 8; i++)
        list[i] = (pc_process *)(intptr_t)-1;
    count = 0;
    CHECK_OK(pc_active_children(list, 8, &count));
    CHECK(count == 3);
    for (int i = 0; i < 3; i++)
        CHECK(listed(list, 3, s[i]));
    CHECK(!listed(list, 3, quick));
    CHECK(!listed(list, 3, unstarted));
    CHECK(list[3] == (pc_process *)(intptr_t)-1);
    /* The listed pointers are the handles themselves: usable as such. */
    CHECK(pc_process_is_alive(list[0]));

    /* cap smaller than the count: only cap entries written, count is all of them */
    for (int i = 0; i < 8; i++)
        list[i] = (pc_process *)(intptr_t)-1;
    CHECK_OK(pc_active_children(list, 2, &count));
    CHECK(count == 3);
    CHECK(listed(list, 2, s[0]) + listed(list, 2, s[1]) + listed(list, 2, s[2]) == 2);
    CHECK(list[2] == (pc_process *)(intptr_t)-1);

    /* Bad arguments */
    CHECK_STATUS(pc_active_children(list, 8, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("count");
    CHECK_STATUS(pc_active_children(NULL, 1, &count), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("out");
    CHECK_STATUS(pc_active_children(NULL, 0, NULL), PC_ERR_INVALID_ARGUMENT);

    /* A freed handle is not listed, though its child still runs. */
    pid_t freed_pid = pc_process_pid(s[2]);
    pc_process_free(s[2]);
    CHECK(pid_running(freed_pid));
    CHECK_OK(pc_active_children(list, 8, &count));
    CHECK(count == 2);
    CHECK(listed(list, 2, s[0]) && listed(list, 2, s[1]));

    /* An ended child disappears without a join. */
    CHECK_OK(pc_process_kill(s[1]));
    CHECK(poll_revents(pc_process_sentinel(s[1]), 5000) & POLLIN);
    CHECK_OK(pc_active_children(list, 8, &count));
    CHECK(count == 1);
    CHECK(list[0] == s[0]);

    /* Clean up: s[0] terminated and joined, the freed one killed by pid. */
    CHECK_OK(pc_process_terminate(s[0]));
    CHECK_OK(pc_process_join(s[0], 5.0));
    CHECK_OK(pc_active_children(NULL, 0, &count));
    CHECK(count == 0);
    CHECK(kill(freed_pid, SIGKILL) == 0);
    CHECK(wait_pid_gone(freed_pid, 2.0));
    CHECK_OK(pc_process_join(quick, 0));
    CHECK_OK(pc_process_join(s[1], 0));
    int code;
    CHECK_OK(pc_process_exitcode(s[1], &code));
    CHECK(code == -SIGKILL);
    pc_process_free(s[0]);
    pc_process_free(s[1]);
    pc_process_free(quick);
    pc_process_free(unstarted);
}

/* ---- cpu_count, freeze_support ---- */
static void test_cpu_count_and_freeze_support(void)
{
    int n = pc_cpu_count();
    CHECK(n >= 1);
    CHECK(n == (int)sysconf(_SC_NPROCESSORS_ONLN));
    pc_freeze_support(0, NULL);
    char *argv[] = {"prog", NULL};
    pc_freeze_support(1, argv);
    pc_freeze_support(-1, NULL);
}

int main(int argc, char **argv)
{
    tu_init("test_process_attributes", 15);
    tu_select(argc, argv);
    RUN(test_names);
    RUN(test_nested_names);
    RUN(test_pid);
    RUN(test_authkey);
    RUN(test_active_children);
    RUN(test_cpu_count_and_freeze_support);
    return tu_done();
}
