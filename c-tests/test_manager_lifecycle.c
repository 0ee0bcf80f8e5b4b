/*
 * test_manager_lifecycle.c: a manager's server and its life (include/processing.h:
 * pc_manager_new, pc_manager_start, pc_manager_connect, pc_manager_shutdown,
 * pc_manager_serve_forever, pc_manager_free): every address form (private, unix:@NAME,
 * unix:PATH, tcp port 0 reported with its real port), shutdown twice, free without
 * shutdown stops the server, an address in use, the server's log lines, connect from a
 * second handle, a forked child and a child with the inherited process authkey, a wrong
 * authkey, nobody there, the wrong-state rules; pc_manager_serve_forever from a thread
 * (ended by pc_manager_shutdown), from a child (ended by a client's shutdown) and ended
 * by pc_interrupt().
 *
 * The other parts of the manager API are in the other test_manager_*.c; Python on the
 * other end is in test_manager_interop.c.
 *
 * `test_manager_lifecycle NAME…` runs only the named subtests.
 *
 * ctest-timeout: 25
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "manager_common.h"

/* ---- lifecycle ---- */
static void lifecycle(const char *address, const char *path)
{
    fprintf(stderr, "   %s\n", address ? address : "(private)");
    pc_manager *m = NULL;
    CHECK_OK(pc_manager_new(address, KEY, KEYLEN, &m));
    CHECK(pc_manager_address(m) == NULL); /* not before start */
    pid_t pid = start_server(m);
    const char *a = pc_manager_address(m);
    CHECK(a != NULL);
    if (!address) {
        CHECK(strncmp(a, "unix:@", 6) == 0 && strlen(a) > 6);
    } else if (strncmp(address, "tcp://", 6) == 0) {
        CHECK(strncmp(a, "tcp://127.0.0.1:", 16) == 0);
        long port = strtol(a + 16, NULL, 10);
        if (port <= 0 || port > 65535)
            FAIL("pc_manager_address gave \"%s\", not a real port", a);
    } else {
        CHECK(strcmp(a, address) == 0);
    }
    if (path) {
        struct stat st;
        CHECK(stat(path, &st) == 0 && S_ISSOCK(st.st_mode));
    }

    /* It serves. */
    pc_dict *d = new_dict(m, NULL);
    DSET(d, pc_item_str("k"), pc_item_int(1));
    DGET_IS(d, pc_item_str("k"), pc_item_int(1));
    CHECK(objects(m) == 1);

    double t0 = now();
    CHECK_OK(pc_manager_shutdown(m));
    CHECK(now() - t0 < 2.5);
    CHECK(server_gone_within(pid, 2.0));
    if (path)
        CHECK(access(path, F_OK) != 0 && errno == ENOENT);
    CHECK_OK(pc_manager_shutdown(m)); /* twice is fine */
    CHECK(pc_manager_address(m) != NULL); /* valid while the handle lives */

    /* The server is gone: calls fail promptly. */
    pc_item got = sentinel();
    t0 = now();
    CHECK_STATUS(pc_dict_get(d, pc_item_str("k"), &got), PC_ERR_EOF);
    CHECK_UNTOUCHED(got);
    CHECK_STATUS(pc_dict_set(d, pc_item_str("k"), pc_item_int(2)), PC_ERR_EOF);
    size_t n = 5;
    CHECK_STATUS(pc_manager_number_of_objects(m, &n), PC_ERR_EOF);
    CHECK(n == 5);
    pc_dict *d2 = NULL;
    int st = pc_manager_dict(m, NULL, &d2);
    /* The header promises PC_ERR_EOF for a server that is gone; one this handle shut down
     * may also say PC_ERR_CLOSED. */
    if (st != PC_ERR_EOF && st != PC_ERR_CLOSED)
        FAIL("pc_manager_dict after shutdown returned %d (%s)", st, pc_status_str(st));
    CHECK(d2 == NULL);
    CHECK(now() - t0 < 2.0);
    pc_dict_free(d);
    pc_manager_free(m);
    CHECK(wait_pid_gone(pid, 2.0));
}

static void test_lifecycle(void)
{
    char abstract[96], path_address[PATH_MAX + 8], path[PATH_MAX];
    snprintf(abstract, sizeof abstract, "unix:@pc-test-manager-%d", (int)getpid());
    char *dir = temp_dir_new("pc-test-manager");
    snprintf(path, sizeof path, "%s/lifecycle.sock", dir);
    snprintf(path_address, sizeof path_address, "unix:%s", path);
    lifecycle(NULL, NULL);
    lifecycle(abstract, NULL);
    lifecycle(path_address, path);
    lifecycle("tcp://127.0.0.1:0", NULL);
    /* The same addresses again: nothing was left bound. */
    lifecycle(abstract, NULL);
    lifecycle(path_address, path);
    temp_dir_free(dir); /* fails if a socket file was left */
    CHECK(manager_pids(NULL, 0) == 0);
}

/* An address in use: PC_ERR_OS, and no server left behind. */
static void test_address_in_use(void)
{
    char path[PATH_MAX], address[PATH_MAX + 8], abstract[96];
    char *dir = temp_dir_new("pc-test-manager");
    snprintf(path, sizeof path, "%s/in-use.sock", dir);
    snprintf(address, sizeof address, "unix:%s", path);
    snprintf(abstract, sizeof abstract, "unix:@pc-test-manager-in-use-%d", (int)getpid());
    const char *addresses[] = {abstract, address, NULL};
    for (int i = 0; i < 3; i++) {
        pc_manager *m1 = started(addresses[i] ? addresses[i] : "tcp://127.0.0.1:0", NULL);
        const char *bound = pc_manager_address(m1);
        pc_manager *m2 = NULL;
        CHECK_OK(pc_manager_new(bound, KEY, KEYLEN, &m2));
        int before = manager_pids(NULL, 0);
        CHECK_STATUS(pc_manager_start(m2), PC_ERR_OS);
        CHECK_ERRMSG("pc_manager_start");
        CHECK(pc_manager_address(m2) == NULL);
        CHECK(manager_pids(NULL, 0) == before);
        /* The first one still serves. */
        pc_dict *d = new_dict(m1, NULL);
        DSET(d, pc_item_int(1), pc_item_int(2));
        pc_dict_free(d);
        pc_manager_free(m2);
        CHECK_OK(pc_manager_shutdown(m1));
        pc_manager_free(m1);
    }
    temp_dir_free(dir);
    CHECK(wait_no_children(2.0));
}

/* pc_manager_free without pc_manager_shutdown stops the server (and removes its socket
 * file); its proxies then fail with PC_ERR_EOF. */
static void test_free_stops_server(void)
{
    char path[PATH_MAX], address[PATH_MAX + 8];
    char *dir = temp_dir_new("pc-test-manager");
    snprintf(path, sizeof path, "%s/free.sock", dir);
    snprintf(address, sizeof address, "unix:%s", path);
    const char *addresses[] = {NULL, address, "tcp://127.0.0.1:0"};
    for (int i = 0; i < 3; i++) {
        pid_t pid;
        pc_manager *m = started(addresses[i], &pid);
        pc_dict *d = new_dict(m, NULL);
        pc_list *l = new_list(m, "named");
        DSET(d, pc_item_str("a"), pc_item_int(1));
        double t0 = now();
        pc_manager_free(m);
        double took = now() - t0;
        if (took > 2.5)
            FAIL("pc_manager_free took %.2f s", took);
        CHECK(server_gone_within(pid, 2.0));
        CHECK(wait_pid_gone(pid, 2.0));
        CHECK(manager_pids(NULL, 0) == 0);
        if (i == 1)
            CHECK(access(path, F_OK) != 0 && errno == ENOENT);
        CHECK_STATUS(pc_dict_set(d, pc_item_str("a"), pc_item_int(2)), PC_ERR_EOF);
        CHECK_STATUS(pc_list_append(l, pc_item_none()), PC_ERR_EOF);
        t0 = now();
        pc_dict_free(d);
        pc_list_free(l);
        CHECK(now() - t0 < 1.0);
    }
    temp_dir_free(dir);
    CHECK(wait_no_children(2.0));
}

/* The seed's log lines of a manager's life, from the owner and from the server. */
static int sub_log_manager(void *arg)
{
    int out = *(int *)arg;
    if (dup2(out, STDERR_FILENO) < 0)
        return 2;
    close(out);
    CHECK_OK(pc_enable_logging(PC_LOG_INFO, NULL, NULL, NULL));
    pc_manager *m = started(NULL, NULL);
    CHECK_OK(pc_manager_shutdown(m));
    pc_manager_free(m);
    return 0;
}

static void test_log_lines(void)
{
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t child = fork_sub(sub_log_manager, &fds[1]);
    close(fds[1]);
    char text[8192];
    read_until_eof(fds[0], text, sizeof text, 10.0);
    close(fds[0]);
    int st = wait_sub(child, 10.0);
    CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    const char *lines[] = {
        "[INFO/SyncManager-",          "] manager bound to unix:@",
        "[INFO/MainProcess] sending shutdown message to manager",
        "] manager received shutdown message", "] manager exiting with exitcode 0",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        if (!tu_contains(text, lines[i]))
            FAIL("no \"%s\" in the log:\n%s", lines[i], text);
}

/* A process that exits (normally) without shutting its manager down: the exit shuts the
 * server down gracefully, before the children are ended. */
struct exit_case {
    const char *address;
    int report; /* the server's pid goes here */
};

static int sub_exit_with_manager(void *arg)
{
    struct exit_case *c = arg;
    pid_t pid;
    pc_manager *m = started(c->address, &pid);
    pc_dict *d = new_dict(m, NULL);
    DSET(d, pc_item_str("a"), pc_item_int(1));
    if (write(c->report, &pid, sizeof pid) != (ssize_t)sizeof pid)
        return 2;
    return 0; /* fork_sub's exit(): the library's exit steps run; m and d are never freed */
}

static void test_exit_stops_server(void)
{
    char path[PATH_MAX], address[PATH_MAX + 8];
    char *dir = temp_dir_new("pc-test-manager");
    snprintf(path, sizeof path, "%s/exit.sock", dir);
    snprintf(address, sizeof address, "unix:%s", path);
    int fds[2];
    CHECK(pipe(fds) == 0);
    struct exit_case c = {address, fds[1]};
    pid_t child = fork_sub(sub_exit_with_manager, &c);
    close(fds[1]);
    pid_t server = 0;
    CHECK(read(fds[0], &server, sizeof server) == (ssize_t)sizeof server);
    close(fds[0]);
    int st = wait_sub(child, 10.0);
    CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK(server_gone_within(server, 2.0));
    /* Shut down, not terminated: the server removed its socket file itself. */
    CHECK(access(path, F_OK) != 0 && errno == ENOENT);
    temp_dir_free(dir);
}

/* A plain forked child that connects by itself (address and key only). */
static const char *sub_address;

static int sub_connect_and_set(void *arg)
{
    (void)arg;
    pc_manager *m = NULL;
    if (pc_manager_new(sub_address, KEY, KEYLEN, &m) != PC_OK)
        return 2;
    if (pc_manager_connect(m) != PC_OK) {
        fprintf(stderr, "   child: connect: %s\n", pc_last_error());
        return 3;
    }
    pc_dict *d = NULL;
    if (pc_manager_dict(m, "shared", &d) != PC_OK)
        return 4;
    if (pc_dict_set(d, pc_item_str("sub"), pc_item_int(getpid())) != PC_OK)
        return 5;
    pc_dict_free(d);
    pc_manager_free(m); /* a connected manager: the server goes on */
    return 0;
}

/* A plain forked child connecting with the process authkey it inherited (authkey NULL). */
static int sub_connect_inherited_key(void *arg)
{
    (void)arg;
    pc_manager *m = NULL;
    if (pc_manager_new(sub_address, NULL, 0, &m) != PC_OK)
        return 2;
    int st = pc_manager_connect(m);
    if (st != PC_OK) {
        fprintf(stderr, "   child: connect: %s\n", pc_last_error());
        return 3;
    }
    pc_dict *d = NULL;
    if (pc_manager_dict(m, "shared", &d) != PC_OK || pc_dict_set(d, pc_item_str("inherited"), pc_item_bool(true)) != PC_OK)
        return 4;
    pc_dict_free(d);
    pc_manager_free(m);
    return 0;
}

static void test_connect(void)
{
    pc_manager *m1 = started("tcp://127.0.0.1:0", NULL);
    const char *address = pc_manager_address(m1);

    /* A second handle, same address and key. */
    pc_manager *m2 = connected(address);
    CHECK(pc_manager_address(m2) != NULL && strcmp(pc_manager_address(m2), address) == 0);
    CHECK(manager_pids(NULL, 0) == 1); /* connect starts nothing */
    CHECK_STATUS(pc_manager_connect(m2), PC_ERR_WRONG_STATE);
    CHECK_ERRMSG("pc_manager_connect");
    CHECK_STATUS(pc_manager_start(m2), PC_ERR_WRONG_STATE);
    CHECK_ERRMSG("pc_manager_start");
    pc_dict *d1 = new_dict(m1, "shared");
    pc_dict *d2 = new_dict(m2, "shared");
    DSET(d1, pc_item_str("from m1"), pc_item_int(1));
    DGET_IS(d2, pc_item_str("from m1"), pc_item_int(1));
    DSET(d2, pc_item_str("from m2"), pc_item_int(2));
    DGET_IS(d1, pc_item_str("from m2"), pc_item_int(2));
    CHECK(objects(m2) == objects(m1));

    /* A library child using the connected handle's dict. */
    child_dict = d2;
    pc_process *p = start(target_set_in_child, (void *)"lib child");
    pid_t child_pid = (pid_t)pc_process_pid(p);
    CHECK(finish(p, 20.0) == 0);
    DGET_IS(d1, pc_item_str("lib child"), pc_item_int(child_pid));

    /* A plain forked child that connects by itself. */
    sub_address = address;
    pid_t sub = fork_sub(sub_connect_and_set, NULL);
    check_sub_ok(sub, 20.0, "a child connecting to the manager");
    DGET_IS(d1, pc_item_str("sub"), pc_item_int(sub));

    /* A wrong key: PC_ERR_AUTH, and the handle is still new. */
    pc_manager *bad = NULL;
    CHECK_OK(pc_manager_new(address, WRONG, strlen(WRONG), &bad));
    double t0 = now();
    CHECK_STATUS(pc_manager_connect(bad), PC_ERR_AUTH);
    CHECK(now() - t0 < 6.0);
    CHECK_ERRMSG("pc_manager_connect");
    CHECK(pc_manager_address(bad) == NULL);
    pc_dict *none = NULL;
    CHECK_STATUS(pc_manager_dict(bad, NULL, &none), PC_ERR_WRONG_STATE);
    CHECK(none == NULL);
    pc_manager_free(bad);
    /* No key at all (empty), where the server has one. */
    CHECK_OK(pc_manager_new(address, "", 0, &bad));
    CHECK_STATUS(pc_manager_connect(bad), PC_ERR_AUTH);
    pc_manager_free(bad);

    /* Nobody there: PC_ERR_EOF, promptly. */
    char nowhere[128];
    snprintf(nowhere, sizeof nowhere, "unix:@pc-test-manager-nobody-%d", (int)getpid());
    const char *nobody[] = {nowhere, "tcp://127.0.0.1:1"};
    for (int i = 0; i < 2; i++) {
        CHECK_OK(pc_manager_new(nobody[i], KEY, KEYLEN, &bad));
        t0 = now();
        CHECK_STATUS(pc_manager_connect(bad), PC_ERR_EOF);
        CHECK(now() - t0 < 6.0);
        CHECK_ERRMSG("pc_manager_connect");
        pc_manager_free(bad);
    }
    /* No address: nothing to connect to. */
    CHECK_OK(pc_manager_new(NULL, KEY, KEYLEN, &bad));
    CHECK_STATUS(pc_manager_connect(bad), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_manager_connect");
    CHECK_ERRMSG("address");
    pc_manager_free(bad);

    /* Freeing the connected handle leaves the server running. */
    pc_dict_free(d2);
    pc_manager_free(m2);
    DSET(d1, pc_item_str("after m2"), pc_item_none());
    CHECK(manager_pids(NULL, 0) == 1);
    pc_dict_free(d1);
    CHECK_OK(pc_manager_shutdown(m1));
    pc_manager_free(m1);

    /* A manager with the process authkey (NULL): a forked child inherits that key and
     * connects without being given one. */
    pc_manager *m3 = NULL;
    CHECK_OK(pc_manager_new("tcp://127.0.0.1:0", NULL, 0, &m3));
    start_server(m3);
    sub_address = pc_manager_address(m3);
    check_sub_ok(fork_sub(sub_connect_inherited_key, NULL), 20.0,
                 "a child connecting with the inherited authkey");
    pc_dict *d3 = new_dict(m3, "shared");
    DGET_IS(d3, pc_item_str("inherited"), pc_item_bool(true));
    pc_dict_free(d3);
    /* And a handle with an explicit, different key is refused by it. */
    pc_manager *other = NULL;
    CHECK_OK(pc_manager_new(pc_manager_address(m3), KEY, KEYLEN, &other));
    CHECK_STATUS(pc_manager_connect(other), PC_ERR_AUTH);
    pc_manager_free(other);
    pc_manager_free(m3);
    CHECK(wait_no_children(2.0));
}

static int target_start_manager(void *arg)
{
    (void)arg;
    pc_manager *m = NULL;
    if (pc_manager_new(NULL, KEY, KEYLEN, &m) != PC_OK)
        return 1;
    int st = pc_manager_start(m);
    bool named = tu_contains(pc_last_error(), "pc_manager_start");
    pc_manager_free(m);
    return st == PC_ERR_WRONG_STATE && named ? 0 : 2;
}

static void test_wrong_state(void)
{
    pc_type_vtable vt = {dummy_create, dummy_call, NULL, dummy_exposed, NULL};
    pc_manager *m = NULL;
    CHECK_OK(pc_manager_new(NULL, KEY, KEYLEN, &m));

    /* Before start or connect. */
    size_t n = 5;
    pc_dict *d = NULL;
    pc_list *l = NULL;
    pc_namespace *ns = NULL;
    pc_proxy *p = NULL;
    CHECK_STATUS(pc_manager_shutdown(m), PC_ERR_WRONG_STATE);
    CHECK_ERRMSG("pc_manager_shutdown");
    CHECK_STATUS(pc_manager_number_of_objects(m, &n), PC_ERR_WRONG_STATE);
    CHECK_ERRMSG("pc_manager_number_of_objects");
    CHECK(n == 5);
    CHECK_STATUS(pc_manager_dict(m, NULL, &d), PC_ERR_WRONG_STATE);
    CHECK_ERRMSG("pc_manager_dict");
    CHECK_STATUS(pc_manager_list(m, "x", &l), PC_ERR_WRONG_STATE);
    CHECK_ERRMSG("pc_manager_list");
    CHECK_STATUS(pc_manager_namespace(m, NULL, &ns), PC_ERR_WRONG_STATE);
    CHECK_ERRMSG("pc_manager_namespace");
    CHECK_STATUS(pc_manager_create(m, "dict", NULL, NULL, 0, &p), PC_ERR_WRONG_STATE);
    CHECK_ERRMSG("pc_manager_create");
    CHECK(d == NULL && l == NULL && ns == NULL && p == NULL);

    /* register and expose before start; then start. */
    CHECK_OK(pc_manager_register(m, "Dummy", &vt));
    CHECK_OK(pc_manager_register(m, "Dummy", &vt)); /* again: replaces */
    CHECK_OK(pc_manager_expose(m, "get_dummy", "Dummy", "the dummy"));
    CHECK_OK(pc_manager_expose(m, "get_dict", "dict", "jobs"));
    start_server(m);

    /* After start. */
    CHECK_STATUS(pc_manager_start(m), PC_ERR_WRONG_STATE);
    CHECK_ERRMSG("pc_manager_start");
    CHECK_ERRMSG("already");
    CHECK_STATUS(pc_manager_connect(m), PC_ERR_WRONG_STATE);
    CHECK_ERRMSG("pc_manager_connect");
    CHECK_STATUS(pc_manager_serve_forever(m), PC_ERR_WRONG_STATE);
    CHECK_ERRMSG("pc_manager_serve_forever");
    CHECK_STATUS(pc_manager_register(m, "Late", &vt), PC_ERR_WRONG_STATE);
    CHECK_ERRMSG("pc_manager_register");
    CHECK_STATUS(pc_manager_expose(m, "get_late", "dict", "late"), PC_ERR_WRONG_STATE);
    CHECK_ERRMSG("pc_manager_expose");
    CHECK(manager_pids(NULL, 0) == 1);
    CHECK_OK(pc_manager_create(m, "get_dummy", NULL, NULL, 0, &p));
    CHECK_OK(pc_proxy_call(p, "m", NULL, 0, NULL));
    pc_proxy_free(p);
    p = NULL;
    /* A typeid registered after start does not exist in the server. */
    CHECK_STATUS(pc_manager_create(m, "Late", NULL, NULL, 0, &p), PC_ERR_REMOTE);
    CHECK(p == NULL);

    /* After shutdown. */
    CHECK_OK(pc_manager_shutdown(m));
    CHECK_STATUS(pc_manager_start(m), PC_ERR_WRONG_STATE);
    CHECK_STATUS(pc_manager_connect(m), PC_ERR_WRONG_STATE);
    CHECK_STATUS(pc_manager_serve_forever(m), PC_ERR_WRONG_STATE);
    CHECK_STATUS(pc_manager_register(m, "Late", &vt), PC_ERR_WRONG_STATE);
    CHECK_OK(pc_manager_shutdown(m));
    pc_manager_free(m);

    /* After connect. */
    pc_manager *server = started(NULL, NULL);
    pc_manager *c = connected(pc_manager_address(server));
    CHECK_STATUS(pc_manager_register(c, "Late", &vt), PC_ERR_WRONG_STATE);
    CHECK_STATUS(pc_manager_expose(c, "get_late", "dict", "late"), PC_ERR_WRONG_STATE);
    CHECK_STATUS(pc_manager_serve_forever(c), PC_ERR_WRONG_STATE);
    pc_manager_free(c);
    pc_manager_free(server);

    /* A daemonic process may not start a manager (it would start a child). */
    pc_process *dp = NULL;
    CHECK_OK(pc_process_new(target_start_manager, NULL, &dp));
    CHECK_OK(pc_process_set_daemon(dp, true));
    CHECK_OK(pc_process_start(dp));
    CHECK(finish(dp, 20.0) == 0);
    CHECK(wait_no_children(2.0));
}

/* ---- serving from this process ---- */
struct serve_arg {
    pc_manager *m;
    int status;
    double returned;
};

static void *serve_thread(void *arg)
{
    struct serve_arg *a = arg;
    a->status = pc_manager_serve_forever(a->m);
    a->returned = now();
    return NULL;
}

/* The address a serving manager reports once bound (polled, at most 5 s). */
static const char *served_address(pc_manager *m)
{
    double deadline = now() + 5.0;
    const char *a;
    while ((a = pc_manager_address(m)) == NULL) {
        if (now() >= deadline)
            FAIL("pc_manager_address stayed NULL while serving");
        sleep_s(0.005);
    }
    return a;
}

/* Connects to `address` once something serves there (polled, at most 10 s). */
static pc_manager *connect_when_up(const char *address)
{
    double deadline = now() + 10.0;
    for (;;) {
        pc_manager *c = NULL;
        CHECK_OK(pc_manager_new(address, KEY, KEYLEN, &c));
        int st = pc_manager_connect(c);
        if (st == PC_OK)
            return c;
        pc_manager_free(c);
        if (st != PC_ERR_EOF || now() >= deadline)
            FAIL("connecting to %s: %d (%s)", address, st, pc_status_str(st));
        sleep_s(0.01);
    }
}

static char serve_address[128];

/* Serves at serve_address until a client shuts the server down. */
static int sub_serve(void *arg)
{
    (void)arg;
    pc_manager *m = NULL;
    if (pc_manager_new(serve_address, KEY, KEYLEN, &m) != PC_OK)
        return 2;
    int st = pc_manager_serve_forever(m);
    if (st != PC_OK) {
        fprintf(stderr, "   serve_forever: %s\n", pc_last_error());
        return 3;
    }
    pc_manager_free(m);
    return 0;
}

static void *interrupt_later(void *arg)
{
    sleep_s(*(double *)arg);
    pc_interrupt();
    return NULL;
}

/* Serves until pc_interrupt(): PC_ERR_INTERRUPTED. */
static int sub_serve_interrupted(void *arg)
{
    (void)arg;
    pc_manager *m = NULL;
    if (pc_manager_new(NULL, KEY, KEYLEN, &m) != PC_OK)
        return 2;
    static double delay = 0.3;
    pthread_t th;
    if (pthread_create(&th, NULL, interrupt_later, &delay) != 0)
        return 3;
    double t0 = now();
    int st = pc_manager_serve_forever(m);
    double took = now() - t0;
    pthread_join(th, NULL);
    if (st != PC_ERR_INTERRUPTED || !tu_contains(pc_last_error(), "pc_manager_serve_forever")) {
        fprintf(stderr, "   serve_forever returned %d: %s\n", st, pc_last_error());
        return 4;
    }
    if (took < 0.25 || took > 2.0) {
        fprintf(stderr, "   serve_forever was interrupted after %.3f s\n", took);
        return 5;
    }
    pc_manager_free(m);
    return 0;
}

struct local_counters {
    atomic_int created;
    atomic_int destroyed;
};

static void *local_create(const pc_item *args, size_t nargs, void *ctx)
{
    (void)args;
    (void)nargs;
    struct local_counters *c = ctx;
    atomic_fetch_add(&c->created, 1);
    return malloc(1);
}

static int local_call(void *obj, const char *method, const pc_item *args, size_t nargs,
                      pc_item_builder *b, void *ctx)
{
    (void)obj;
    (void)method;
    (void)ctx;
    return pc_item_builder_set(b, pc_item_int((int64_t)nargs + (nargs ? args[0].i : 0))) == PC_OK ? 0 : 1;
}

static void local_destroy(void *obj, void *ctx)
{
    struct local_counters *c = ctx;
    free(obj);
    atomic_fetch_add(&c->destroyed, 1);
}

static void test_serve_forever(void)
{
    /* From a thread of this process; pc_manager_shutdown from another thread ends it. */
    static const char *const local_exposed[] = {"add", NULL};
    struct local_counters counters = {0, 0};
    pc_type_vtable local = {local_create, local_call, local_destroy, local_exposed, &counters};
    struct serve_arg a = {NULL, -1000, 0};
    CHECK_OK(pc_manager_new("tcp://127.0.0.1:0", KEY, KEYLEN, &a.m));
    CHECK_OK(pc_manager_register(a.m, "Local", &local));
    pthread_t th;
    CHECK(pthread_create(&th, NULL, serve_thread, &a) == 0);
    const char *address = served_address(a.m);
    CHECK(strncmp(address, "tcp://127.0.0.1:", 16) == 0 && strcmp(address, "tcp://127.0.0.1:0") != 0);
    CHECK(manager_pids(NULL, 0) == 0); /* no child: this process serves */
    CHECK_STATUS(pc_manager_start(a.m), PC_ERR_WRONG_STATE);
    CHECK_STATUS(pc_manager_serve_forever(a.m), PC_ERR_WRONG_STATE);
    CHECK_STATUS(pc_manager_register(a.m, "Late", &local), PC_ERR_WRONG_STATE);
    pc_manager *c = connected(address);
    pc_dict *d = new_dict(c, "served");
    DSET(d, pc_item_str("k"), pc_item_bytes(big, MIB));
    DGET_IS(d, pc_item_str("k"), pc_item_bytes(big, MIB));
    /* A C type runs in this process, on the server's threads. */
    pc_proxy *p = NULL;
    CHECK_OK(pc_manager_create(c, "Local", NULL, NULL, 0, &p));
    CHECK(atomic_load(&counters.created) == 1);
    pc_item forty = pc_item_int(40);
    CALL_IS(p, "add", &forty, 1, pc_item_int(41));
    pc_proxy_free(p);
    CHECK(atomic_load(&counters.destroyed) == 1);
    CHECK(objects(c) == 1);
    double t0 = now();
    CHECK_OK(pc_manager_shutdown(a.m));
    CHECK(pthread_join(th, NULL) == 0);
    CHECK_STATUS(a.status, PC_OK);
    CHECK(a.returned - t0 < 2.0);
    CHECK_OK(pc_manager_shutdown(a.m)); /* twice */
    CHECK_STATUS(pc_manager_serve_forever(a.m), PC_ERR_WRONG_STATE);
    CHECK_STATUS(pc_dict_set(d, pc_item_str("k"), pc_item_none()), PC_ERR_EOF);
    pc_dict_free(d);
    pc_manager_free(c);
    pc_manager_free(a.m);

    /* In a forked child; a client's pc_manager_shutdown ends it (Python's remote
     * shutdown), and its serve_forever returns PC_OK. */
    snprintf(serve_address, sizeof serve_address, "unix:@pc-test-manager-serve-%d", (int)getpid());
    pid_t server = fork_sub(sub_serve, NULL);
    c = connect_when_up(serve_address);
    d = new_dict(c, NULL);
    DSET(d, pc_item_int(1), pc_item_int(2));
    DGET_IS(d, pc_item_int(1), pc_item_int(2));
    pc_dict_free(d);
    CHECK(objects(c) == 0);
    t0 = now();
    CHECK_OK(pc_manager_shutdown(c));
    check_sub_ok(server, 5.0, "a process serving until a client shut it down");
    CHECK(now() - t0 < 3.0);
    size_t n;
    CHECK_STATUS(pc_manager_number_of_objects(c, &n), PC_ERR_EOF);
    int st = pc_manager_shutdown(c); /* gone now */
    CHECK(st == PC_OK || st == PC_ERR_EOF);
    pc_manager_free(c);

    /* pc_interrupt() ends it with PC_ERR_INTERRUPTED. */
    check_sub_ok(fork_sub(sub_serve_interrupted, NULL), 10.0, "an interrupted serve_forever");
    CHECK(wait_no_children(2.0));
}

int main(int argc, char **argv)
{
    tu_init("test_manager_lifecycle", 20);
    tu_select(argc, argv);
    fill_pattern(big, MIB, 7);
    double t0 = now();
    RUN(test_lifecycle);
    RUN(test_address_in_use);
    RUN(test_free_stops_server);
    RUN(test_exit_stops_server);
    RUN(test_log_lines);
    RUN(test_connect);
    RUN(test_wrong_state);
    RUN(test_serve_forever);
    fprintf(stderr, "test_manager_lifecycle: %.1f s\n", now() - t0);
    return tu_done();
}
