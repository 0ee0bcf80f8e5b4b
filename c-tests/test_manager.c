/*
 * test_manager.c: managers between C processes (API.md §7): pc_manager_*, the managed
 * dict, list and Namespace (pc_dict_*, pc_list_*, pc_namespace_*), custom types
 * (pc_type_vtable, pc_item_builder_*, pc_manager_create, pc_proxy_*) and pc_item values.
 *
 * - lifecycle: every address form (private, unix:@NAME, unix:PATH, tcp port 0 reported
 *   with its real port), shutdown twice, free without shutdown stops the server, an
 *   address in use, connect from a second handle, a forked child and a child with the
 *   inherited process authkey, a wrong authkey, nobody there, the wrong-state rules;
 *   pc_manager_serve_forever from a thread (ended by pc_manager_shutdown), from a child
 *   (ended by a client's shutdown) and ended by pc_interrupt();
 * - bad input for every function: NULL and wrong-typed and freed handles, NULL
 *   out-pointers, invalid items, malformed addresses, each with its pc_last_error();
 * - values: every item kind (INT64 limits, inf/nan, empty and 1 MiB bytes, UTF-8,
 *   pickles kept intact), Python's equality of keys (1 == 1.0 == True, tuples by value,
 *   exact int/float comparison), unhashable keys (PC_ERR_TYPE), missing keys and indices;
 * - dict, list and Namespace operations, with Python's order and index rules;
 * - named objects shared between handles, a connected handle in a forked child and an
 *   unrelated program (this binary run again with --named-client), a name taken by
 *   another type;
 * - 4 processes writing at once; a handle used in forked children and from threads;
 * - reference counts: objects go with their last handle, with a SIGKILLed holder, and
 *   10 000 create/free cycles leave nothing (bounded by time, see test_refcount);
 * - custom C types: exposed and hidden methods, failing calls and constructors, destroy
 *   (seen through shared memory: the server is a forked child of this test), every item
 *   kind through a C call, one call at a time per object, exposed typeids (the same
 *   object each time);
 * - faults: the server SIGKILLed (every call PC_ERR_EOF within 2 s, no SIGPIPE), its
 *   owner SIGKILLed (the server goes), SIGINT ignored; raw clients that send garbage,
 *   truncated or odd pickles, unknown functions and ids, or a wrong key (the server goes
 *   on serving the others);
 * - nothing left behind: no child, no fd, no socket file.
 *
 * Python on the other end is in test_manager_interop.c.
 *
 * ctest-timeout: 120
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

#define MIB ((size_t)1 << 20)

static const char KEY[] = "manager test key \x01\xff";
#define KEYLEN (sizeof KEY - 1)
static const char WRONG[] = "not the key";

static uint8_t big[MIB];          /* fill_pattern(…, 7): made before any server forks */

/* ---- items ---- */

static pc_item item_raw(int kind, const void *data, size_t len)
{
    pc_item it = pc_item_none();
    it.kind = kind;
    it.data = data;
    it.len = len;
    return it;
}

static pc_item item_pickle(const void *data, size_t len)
{
    return item_raw(PC_KIND_PICKLE, data, len);
}

static pc_item item_strn(const char *s, size_t len)
{
    return item_raw(PC_KIND_STR, s, len);
}

/* Pickles, as Python 3 writes them (or could). */
/* (1, 'a'), protocol 4: pickle.dumps((1, 'a'), protocol=4), whose frame is 9 bytes. */
static const uint8_t P_TUPLE[] = {0x80, 0x04, 0x95, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                  0x00, 0x4b, 0x01, 0x8c, 0x01, 0x61, 0x94, 0x86, 0x94, 0x2e};
/* (1, 'a') again, protocol 2: BININT1, BINUNICODE, TUPLE2, BINPUT. */
static const uint8_t P_TUPLE2[] = {0x80, 0x02, 0x4b, 0x01, 0x58, 0x01, 0x00, 0x00, 0x00,
                                   0x61, 0x86, 0x71, 0x00, 0x2e};
/* [1]: a list (unhashable). */
static const uint8_t P_LIST[] = {0x80, 0x04, 0x5d, 0x94, 0x4b, 0x01, 0x61, 0x2e};
/* {}: a dict (unhashable). */
static const uint8_t P_DICT[] = {0x80, 0x04, 0x7d, 0x94, 0x2e};
/* set(): a set (unhashable). */
static const uint8_t P_SET[] = {0x80, 0x04, 0x8f, 0x94, 0x2e};
/* 5: a plain int in a pickle. */
static const uint8_t P_FIVE[] = {0x80, 0x04, 0x4b, 0x05, 0x2e};
/* 2**64 (LONG1): beyond int64_t. */
static const uint8_t P_2_64[] = {0x80, 0x02, 0x8a, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00,
                                 0x00, 0x00, 0x00, 0x01, 0x2e};
/* (1, 'a') with a FRAME that announces 10 bytes where 9 follow: CPython refuses it
 * ("pickle data was truncated"). */
static const uint8_t P_BAD_FRAME[] = {0x80, 0x04, 0x95, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                      0x00, 0x4b, 0x01, 0x8c, 0x01, 0x61, 0x94, 0x86, 0x94, 0x2e};
/* Not pickles. */
static const char P_GARBAGE[] = "this is not a pickle";
/* P_TUPLE without its STOP. */
#define P_TRUNCATED_LEN (sizeof P_TUPLE - 1)

/* A sentinel an output keeps when a call fails (outputs are written on success only). */
static pc_item sentinel(void)
{
    return pc_item_int(-777);
}

#define CHECK_UNTOUCHED(it) CHECK((it).kind == PC_KIND_INT && (it).i == -777)

/* ---- dict, list, namespace shorthands (fail with the caller's line) ---- */

#define DSET(d, k, v) CHECK_OK(pc_dict_set((d), (k), (v)))

#define DGET_IS(d, k, want)                                                                  \
    do {                                                                                     \
        pc_item got_ = sentinel();                                                           \
        CHECK_OK(pc_dict_get((d), (k), &got_));                                              \
        CHECK_ITEM(got_, want);                                                              \
        pc_item_release(&got_);                                                              \
    } while (0)

#define DGET_FAILS(d, k, status)                                                             \
    do {                                                                                     \
        pc_item got_ = sentinel();                                                           \
        CHECK_STATUS(pc_dict_get((d), (k), &got_), (status));                                \
        CHECK_UNTOUCHED(got_);                                                               \
    } while (0)

#define LGET_IS(l, i, want)                                                                  \
    do {                                                                                     \
        pc_item got_ = sentinel();                                                           \
        CHECK_OK(pc_list_get((l), (i), &got_));                                              \
        CHECK_ITEM(got_, want);                                                              \
        pc_item_release(&got_);                                                              \
    } while (0)

#define NGET_IS(ns, a, want)                                                                 \
    do {                                                                                     \
        pc_item got_ = sentinel();                                                           \
        CHECK_OK(pc_namespace_get((ns), (a), &got_));                                        \
        CHECK_ITEM(got_, want);                                                              \
        pc_item_release(&got_);                                                              \
    } while (0)

#define CALL_IS(p, method, args, nargs, want)                                                \
    do {                                                                                     \
        pc_item got_ = sentinel();                                                           \
        CHECK_OK(pc_proxy_call((p), (method), (args), (nargs), &got_));                      \
        CHECK_ITEM(got_, want);                                                              \
        pc_item_release(&got_);                                                              \
    } while (0)

static size_t dict_len(pc_dict *d)
{
    size_t n = 7777;
    CHECK_OK(pc_dict_len(d, &n));
    return n;
}

static size_t list_len(pc_list *l)
{
    size_t n = 7777;
    CHECK_OK(pc_list_len(l, &n));
    return n;
}

static size_t objects(pc_manager *m)
{
    size_t n = 7777;
    CHECK_OK(pc_manager_number_of_objects(m, &n));
    return n;
}

/* Polls number_of_objects until it is `want`, at most `timeout` s; the last count. */
static size_t wait_objects(pc_manager *m, size_t want, double timeout)
{
    double deadline = now() + timeout;
    for (;;) {
        size_t n = objects(m);
        if (n == want || now() >= deadline)
            return n;
        sleep_s(0.02);
    }
}

/* ---- managers ---- */

/* The pids of this process's live library children named "SyncManager…". */
static int manager_pids(pid_t *out, int cap)
{
    pc_process *ps[128];
    size_t n = 0;
    CHECK_OK(pc_active_children(ps, 128, &n));
    int k = 0;
    for (size_t i = 0; i < n && i < 128; i++) {
        const char *name = pc_process_name(ps[i]);
        if (name && strncmp(name, "SyncManager", 11) == 0) {
            if (k < cap)
                out[k] = (pid_t)pc_process_pid(ps[i]);
            k++;
        }
    }
    return k;
}

/* Starts `m` and returns its server's pid (the one new SyncManager child). */
static pid_t start_server(pc_manager *m)
{
    pid_t before[64], after[64];
    int nb = manager_pids(before, 64);
    CHECK_OK(pc_manager_start(m));
    int na = manager_pids(after, 64);
    CHECK(na == nb + 1);
    for (int i = 0; i < na && i < 64; i++) {
        bool old = false;
        for (int j = 0; j < nb && j < 64; j++)
            old = old || after[i] == before[j];
        if (!old) {
            CHECK(pid_running(after[i]));
            return after[i];
        }
    }
    FAIL("no new SyncManager child after pc_manager_start");
}

/* A started manager with KEY (address NULL: private); *pid (may be NULL) its server. */
static pc_manager *started(const char *address, pid_t *pid)
{
    pc_manager *m = NULL;
    CHECK_OK(pc_manager_new(address, KEY, KEYLEN, &m));
    CHECK(m != NULL);
    pid_t p = start_server(m);
    if (pid)
        *pid = p;
    return m;
}

/* A manager connected to `address` with KEY. */
static pc_manager *connected(const char *address)
{
    pc_manager *m = NULL;
    CHECK_OK(pc_manager_new(address, KEY, KEYLEN, &m));
    CHECK_OK(pc_manager_connect(m));
    return m;
}

static bool server_gone_within(pid_t pid, double timeout)
{
    double deadline = now() + timeout;
    while (pid_running(pid)) {
        if (now() >= deadline)
            return false;
        sleep_s(0.01);
    }
    return true;
}

static pc_dict *new_dict(pc_manager *m, const char *name)
{
    pc_dict *d = NULL;
    CHECK_OK(pc_manager_dict(m, name, &d));
    CHECK(d != NULL);
    return d;
}

static pc_list *new_list(pc_manager *m, const char *name)
{
    pc_list *l = NULL;
    CHECK_OK(pc_manager_list(m, name, &l));
    CHECK(l != NULL);
    return l;
}

static pc_namespace *new_namespace(pc_manager *m, const char *name)
{
    pc_namespace *ns = NULL;
    CHECK_OK(pc_manager_namespace(m, name, &ns));
    CHECK(ns != NULL);
    return ns;
}

static char self_exe[PATH_MAX];

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

/* A library child using a connected manager's named dict made before it started. */
static pc_dict *child_dict;

static int target_set_in_child(void *arg)
{
    const char *key = arg;
    return pc_dict_set(child_dict, pc_item_str(key), pc_item_int(getpid())) == PC_OK ? 0 : 1;
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

/* ---- state rules ---- */

static void *dummy_create(const pc_item *args, size_t nargs, void *ctx)
{
    (void)args;
    (void)nargs;
    (void)ctx;
    static int object;
    return &object;
}

static int dummy_call(void *obj, const char *method, const pc_item *args, size_t nargs,
                      pc_item_builder *b, void *ctx)
{
    (void)obj;
    (void)method;
    (void)args;
    (void)nargs;
    (void)b;
    (void)ctx;
    return 0;
}

static const char *const dummy_exposed[] = {"m", NULL};

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

/* ---- bad arguments ---- */

/* Invalid items, each with what pc_last_error() says about it. */
struct bad_item {
    pc_item item;
    const char *problem;
};

static const uint8_t bad_utf8[] = {'o', 'k', 0xff, 0xfe};

static int bad_items(struct bad_item *out)
{
    int n = 0;
    out[n++] = (struct bad_item){item_raw(99, NULL, 0), "unknown kind 99"};
    out[n++] = (struct bad_item){item_raw(-1, NULL, 0), "unknown kind -1"};
    out[n++] = (struct bad_item){item_raw(PC_KIND_STR, NULL, 3), "is NULL but its length is 3"};
    out[n++] = (struct bad_item){item_raw(PC_KIND_BYTES, NULL, 5), "is NULL but its length is 5"};
    out[n++] = (struct bad_item){pc_item_str(NULL), "NULL"};
    out[n++] = (struct bad_item){item_strn((const char *)bad_utf8, sizeof bad_utf8), "UTF-8"};
    out[n++] = (struct bad_item){item_pickle(P_GARBAGE, strlen(P_GARBAGE)), "pickle"};
    out[n++] = (struct bad_item){item_pickle(P_TUPLE, P_TRUNCATED_LEN), "pickle"};
    out[n++] = (struct bad_item){item_pickle(P_TUPLE, 0), "pickle"};
    out[n++] = (struct bad_item){item_pickle(P_BAD_FRAME, sizeof P_BAD_FRAME), "pickle"};
    out[n++] = (struct bad_item){item_pickle(P_FIVE, 1), "pickle"}; /* PROTO alone */
    out[n++] = (struct bad_item){item_raw(PC_KIND_PICKLE, NULL, 4), "is NULL but its length is 4"};
    return n;
}

static void check_null_handles(void)
{
    pc_item out = sentinel();
    bool flag = true;
    size_t n = 7;
    pc_item *keys = (pc_item *)&n, *vals = (pc_item *)&n;
    const pc_item one = pc_item_int(1);
#define NULL_HANDLE(call, fn, param)                                                         \
    do {                                                                                     \
        CHECK_STATUS(call, PC_ERR_INVALID_ARGUMENT);                                         \
        CHECK_ERRMSG(fn);                                                                    \
        CHECK_ERRMSG(param " is NULL");                                                      \
    } while (0)
    NULL_HANDLE(pc_manager_register(NULL, "t", NULL), "pc_manager_register", "m");
    NULL_HANDLE(pc_manager_expose(NULL, "t", "dict", "n"), "pc_manager_expose", "m");
    NULL_HANDLE(pc_manager_start(NULL), "pc_manager_start", "m");
    NULL_HANDLE(pc_manager_connect(NULL), "pc_manager_connect", "m");
    NULL_HANDLE(pc_manager_serve_forever(NULL), "pc_manager_serve_forever", "m");
    NULL_HANDLE(pc_manager_shutdown(NULL), "pc_manager_shutdown", "m");
    NULL_HANDLE(pc_manager_number_of_objects(NULL, &n), "pc_manager_number_of_objects", "m");
    CHECK(pc_manager_address(NULL) == NULL);
    CHECK_ERRMSG("pc_manager_address");
    CHECK_ERRMSG("m is NULL");
    pc_dict *d = NULL;
    pc_list *l = NULL;
    pc_namespace *ns = NULL;
    pc_proxy *p = NULL;
    NULL_HANDLE(pc_manager_dict(NULL, NULL, &d), "pc_manager_dict", "m");
    NULL_HANDLE(pc_manager_list(NULL, NULL, &l), "pc_manager_list", "m");
    NULL_HANDLE(pc_manager_namespace(NULL, NULL, &ns), "pc_manager_namespace", "m");
    NULL_HANDLE(pc_manager_create(NULL, "dict", NULL, NULL, 0, &p), "pc_manager_create", "m");
    CHECK(d == NULL && l == NULL && ns == NULL && p == NULL);

    NULL_HANDLE(pc_dict_set(NULL, one, one), "pc_dict_set", "d");
    NULL_HANDLE(pc_dict_get(NULL, one, &out), "pc_dict_get", "d");
    NULL_HANDLE(pc_dict_del(NULL, one), "pc_dict_del", "d");
    NULL_HANDLE(pc_dict_pop(NULL, one, &out), "pc_dict_pop", "d");
    NULL_HANDLE(pc_dict_contains(NULL, one, &flag), "pc_dict_contains", "d");
    NULL_HANDLE(pc_dict_len(NULL, &n), "pc_dict_len", "d");
    NULL_HANDLE(pc_dict_items(NULL, &keys, &vals, &n), "pc_dict_items", "d");
    NULL_HANDLE(pc_dict_update(NULL, &one, &one, 1), "pc_dict_update", "d");
    NULL_HANDLE(pc_dict_clear(NULL), "pc_dict_clear", "d");
    NULL_HANDLE(pc_list_append(NULL, one), "pc_list_append", "l");
    NULL_HANDLE(pc_list_insert(NULL, 0, one), "pc_list_insert", "l");
    NULL_HANDLE(pc_list_set(NULL, 0, one), "pc_list_set", "l");
    NULL_HANDLE(pc_list_extend(NULL, &one, 1), "pc_list_extend", "l");
    NULL_HANDLE(pc_list_get(NULL, 0, &out), "pc_list_get", "l");
    NULL_HANDLE(pc_list_pop(NULL, -1, &out), "pc_list_pop", "l");
    NULL_HANDLE(pc_list_len(NULL, &n), "pc_list_len", "l");
    NULL_HANDLE(pc_list_clear(NULL), "pc_list_clear", "l");
    NULL_HANDLE(pc_list_items(NULL, &keys, &n), "pc_list_items", "l");
    NULL_HANDLE(pc_namespace_set(NULL, "a", one), "pc_namespace_set", "ns");
    NULL_HANDLE(pc_namespace_get(NULL, "a", &out), "pc_namespace_get", "ns");
    NULL_HANDLE(pc_namespace_del(NULL, "a"), "pc_namespace_del", "ns");
    NULL_HANDLE(pc_proxy_call(NULL, "f", NULL, 0, &out), "pc_proxy_call", "p");
    NULL_HANDLE(pc_item_builder_set(NULL, one), "pc_item_builder_set", "b");
    NULL_HANDLE(pc_item_builder_fail(NULL, "boom"), "pc_item_builder_fail", "b");
#undef NULL_HANDLE
    /* Nothing was written. */
    CHECK_UNTOUCHED(out);
    CHECK(flag == true && n == 7 && keys == (pc_item *)&n && vals == (pc_item *)&n);
    /* The frees accept NULL. */
    pc_manager_free(NULL);
    pc_dict_free(NULL);
    pc_list_free(NULL);
    pc_namespace_free(NULL);
    pc_proxy_free(NULL);
    pc_item_release(NULL);
    pc_items_release(NULL, 5);

    /* A builder that is none (a zeroed buffer), outside any call. */
    _Alignas(16) unsigned char fake[256] = {0};
    CHECK_STATUS(pc_item_builder_set((pc_item_builder *)(void *)fake, one), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_item_builder_set");
    CHECK_ERRMSG("not a pc_item_builder");
    CHECK_STATUS(pc_item_builder_fail((pc_item_builder *)(void *)fake, "x"), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("not a pc_item_builder");
}

static void check_manager_arguments(void)
{
    pc_manager *m = (pc_manager *)&m;
    CHECK_STATUS(pc_manager_new(NULL, KEY, KEYLEN, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_manager_new");
    CHECK_ERRMSG("out is NULL");
    char long_name[300];
    snprintf(long_name, sizeof long_name, "unix:@%0200d", 7);
    char long_path[300];
    snprintf(long_path, sizeof long_path, "unix:/tmp/%0200d", 7);
    const char *malformed[] = {"", "bogus", "tcp://", "tcp://127.0.0.1", "tcp://127.0.0.1:99999",
                               "tcp://127.0.0.1:port", "tcp://:80", "unix:", "unix:@",
                               long_name, long_path, "http://127.0.0.1:80", "\xff\xfe"};
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        m = (pc_manager *)&m;
        int st = pc_manager_new(malformed[i], KEY, KEYLEN, &m);
        if (st != PC_ERR_INVALID_ARGUMENT)
            FAIL("pc_manager_new(\"%s\") returned %d (%s)", malformed[i], st, pc_status_str(st));
        CHECK_ERRMSG("pc_manager_new");
        CHECK_ERRMSG("address");
        CHECK(m == (pc_manager *)&m);
    }
    /* A NULL key with a length means the process key; an empty key is a key. */
    CHECK_OK(pc_manager_new(NULL, NULL, 99, &m));
    pc_manager_free(m);
    CHECK_OK(pc_manager_new("tcp://127.0.0.1:0", "", 0, &m));
    pc_manager_free(m);

    CHECK_OK(pc_manager_new(NULL, KEY, KEYLEN, &m));
    pc_type_vtable good = {dummy_create, dummy_call, NULL, dummy_exposed, NULL};
    pc_type_vtable no_create = {NULL, dummy_call, NULL, dummy_exposed, NULL};
    pc_type_vtable no_call = {dummy_create, NULL, NULL, dummy_exposed, NULL};
    static const char *const bad_names[] = {"ok", "\xff", NULL};
    pc_type_vtable bad_exposed = {dummy_create, dummy_call, NULL, bad_names, NULL};
    CHECK_STATUS(pc_manager_register(m, NULL, &good), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_manager_register");
    CHECK_ERRMSG("type_id is NULL");
    CHECK_STATUS(pc_manager_register(m, "T", NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("vt is NULL");
    CHECK_STATUS(pc_manager_register(m, "T", &no_create), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("create");
    CHECK_STATUS(pc_manager_register(m, "T", &no_call), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("call");
    CHECK_STATUS(pc_manager_register(m, "T", &bad_exposed), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("exposed");
    CHECK_STATUS(pc_manager_register(m, "", &good), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("type_id");
    CHECK_STATUS(pc_manager_register(m, "#RETURN", &good), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("type_id");
    CHECK_STATUS(pc_manager_register(m, "\xff", &good), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("type_id");

    CHECK_STATUS(pc_manager_expose(m, NULL, "dict", "n"), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_manager_expose");
    CHECK_ERRMSG("type_id is NULL");
    CHECK_STATUS(pc_manager_expose(m, "get", NULL, "n"), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("type is NULL");
    CHECK_STATUS(pc_manager_expose(m, "get", "dict", NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("name is NULL");
    CHECK_STATUS(pc_manager_expose(m, "get", "NoSuchType", "n"), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("NoSuchType");
    CHECK_STATUS(pc_manager_expose(m, "", "dict", "n"), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("type_id");
    CHECK_STATUS(pc_manager_expose(m, "get", "dict", "\xff"), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("name");

    start_server(m);
    size_t n = 7;
    CHECK_STATUS(pc_manager_number_of_objects(m, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_manager_dict(m, NULL, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_manager_dict");
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_manager_list(m, "x", NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_manager_namespace(m, NULL, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_manager_create(m, "dict", NULL, NULL, 0, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("out is NULL");
    pc_dict *d = NULL;
    pc_list *l = NULL;
    pc_namespace *ns = NULL;
    pc_proxy *p = NULL;
    CHECK_STATUS(pc_manager_dict(m, "\xff", &d), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("name");
    CHECK_STATUS(pc_manager_list(m, "\xff", &l), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("name");
    CHECK_STATUS(pc_manager_namespace(m, "\xff", &ns), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("name");
    CHECK_STATUS(pc_manager_create(m, NULL, NULL, NULL, 0, &p), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("type_id is NULL");
    CHECK_STATUS(pc_manager_create(m, "dict", "\xff", NULL, 0, &p), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("name");
    CHECK_STATUS(pc_manager_create(m, "list", NULL, NULL, 2, &p), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("args is NULL");
    CHECK(d == NULL && l == NULL && ns == NULL && p == NULL);
    /* Nothing was made by all that. */
    CHECK(objects(m) == 0);
    (void)n;
    pc_manager_free(m);
}

/* Every function of a live dict, list, namespace and proxy with NULL out-pointers, NULL
 * arrays and invalid items: refused, nothing changed. */
static void check_container_arguments(void)
{
    pc_manager *m = started(NULL, NULL);
    pc_dict *d = new_dict(m, NULL);
    pc_list *l = new_list(m, NULL);
    pc_namespace *ns = new_namespace(m, NULL);
    pc_proxy *p = NULL;
    CHECK_OK(pc_manager_create(m, "dict", NULL, NULL, 0, &p));
    DSET(d, pc_item_str("kept"), pc_item_int(1));
    CHECK_OK(pc_list_append(l, pc_item_int(1)));
    CHECK_OK(pc_namespace_set(ns, "kept", pc_item_int(1)));
    const pc_item one = pc_item_int(1);
    size_t n = 7;
    pc_item *keys = NULL, *vals = NULL;

    /* NULL outputs and arrays. */
    CHECK_STATUS(pc_dict_get(d, one, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_dict_get");
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_dict_pop(d, pc_item_str("kept"), NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_dict_contains(d, one, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_dict_len(d, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_dict_items(d, NULL, &vals, &n), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("keys is NULL");
    CHECK_STATUS(pc_dict_items(d, &keys, NULL, &n), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("vals is NULL");
    CHECK_STATUS(pc_dict_items(d, &keys, &vals, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("count is NULL");
    CHECK_STATUS(pc_dict_update(d, NULL, &one, 1), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_dict_update");
    CHECK_ERRMSG("keys is NULL");
    CHECK_STATUS(pc_dict_update(d, &one, NULL, 1), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("vals is NULL");
    CHECK_OK(pc_dict_update(d, NULL, NULL, 0));
    CHECK_STATUS(pc_list_get(l, 0, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_list_pop(l, -1, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_list_len(l, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_list_items(l, NULL, &n), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("items is NULL");
    CHECK_STATUS(pc_list_items(l, &keys, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("count is NULL");
    CHECK_STATUS(pc_list_extend(l, NULL, 2), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_list_extend");
    CHECK_ERRMSG("items is NULL");
    CHECK_OK(pc_list_extend(l, NULL, 0));
    CHECK_STATUS(pc_namespace_set(ns, NULL, one), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("attr is NULL");
    CHECK_STATUS(pc_namespace_get(ns, NULL, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(pc_namespace_get(ns, "kept", NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_namespace_del(ns, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("attr is NULL");
    CHECK_STATUS(pc_namespace_set(ns, "\xff", one), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("attr");
    CHECK_ERRMSG("UTF-8");
    CHECK_STATUS(pc_proxy_call(p, NULL, NULL, 0, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("method is NULL");
    CHECK_STATUS(pc_proxy_call(p, "__len__", NULL, 1, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("args is NULL");
    CHECK(keys == NULL && vals == NULL && n == 7);

    /* Invalid items in every position. */
    struct bad_item bad[16];
    int nbad = bad_items(bad);
    for (int i = 0; i < nbad; i++) {
        pc_item b = bad[i].item;
        const char *why = bad[i].problem;
        pc_item out = sentinel();
        bool flag = true;
#define REFUSED(call, fn, param)                                                             \
    do {                                                                                     \
        int st_ = (call);                                                                    \
        if (st_ != PC_ERR_INVALID_ARGUMENT)                                                  \
            FAIL("%s with the invalid item %d (%s) returned %d (%s)", #call, i, why, st_,    \
                 pc_status_str(st_));                                                        \
        CHECK_ERRMSG(fn);                                                                    \
        CHECK_ERRMSG(why);                                                                   \
        if (strstr(why, "pickle") == NULL)                                                   \
            CHECK_ERRMSG(param);                                                             \
    } while (0)
        REFUSED(pc_dict_set(d, b, one), "pc_dict_set", "key");
        REFUSED(pc_dict_set(d, one, b), "pc_dict_set", "val");
        REFUSED(pc_dict_get(d, b, &out), "pc_dict_get", "key");
        REFUSED(pc_dict_del(d, b), "pc_dict_del", "key");
        REFUSED(pc_dict_pop(d, b, &out), "pc_dict_pop", "key");
        REFUSED(pc_dict_contains(d, b, &flag), "pc_dict_contains", "key");
        pc_item ks[3] = {pc_item_str("x"), b, pc_item_str("z")};
        pc_item vs[3] = {one, one, one};
        REFUSED(pc_dict_update(d, ks, vs, 3), "pc_dict_update", "keys[1]");
        ks[1] = pc_item_str("y");
        vs[2] = b;
        REFUSED(pc_dict_update(d, ks, vs, 3), "pc_dict_update", "vals[2]");
        REFUSED(pc_list_append(l, b), "pc_list_append", "val");
        REFUSED(pc_list_insert(l, 0, b), "pc_list_insert", "val");
        REFUSED(pc_list_set(l, 0, b), "pc_list_set", "val");
        pc_item items[3] = {one, one, b};
        REFUSED(pc_list_extend(l, items, 3), "pc_list_extend", "items[2]");
        REFUSED(pc_namespace_set(ns, "a", b), "pc_namespace_set", "val");
        pc_proxy *q = NULL;
        pc_item args[2] = {one, b};
        REFUSED(pc_manager_create(m, "list", NULL, &args[1], 1, &q), "pc_manager_create", "args[0]");
        CHECK(q == NULL);
        REFUSED(pc_proxy_call(p, "get", args, 2, &out), "pc_proxy_call", "args[1]");
#undef REFUSED
        CHECK_UNTOUCHED(out);
        CHECK(flag == true);
    }
    /* Nothing changed. */
    CHECK(dict_len(d) == 1);
    DGET_IS(d, pc_item_str("kept"), pc_item_int(1));
    CHECK(list_len(l) == 1);
    LGET_IS(l, 0, pc_item_int(1));
    NGET_IS(ns, "kept", pc_item_int(1));
    pc_item got = sentinel();
    CHECK_STATUS(pc_namespace_get(ns, "a", &got), PC_ERR_KEY);
    CALL_IS(p, "__len__", NULL, 0, pc_item_int(0));
    CHECK(objects(m) == 4);

    pc_dict_free(d);
    pc_list_free(l);
    pc_namespace_free(ns);
    pc_proxy_free(p);
    CHECK(objects(m) == 0);
    pc_manager_free(m);
}

/* Handles of one type passed as another: refused with the parameter and the type named;
 * a refused free frees nothing. */
static void check_wrong_handles(void)
{
    pc_manager *m = started(NULL, NULL);
    pc_dict *d = new_dict(m, NULL);
    pc_list *l = new_list(m, NULL);
    pc_namespace *ns = new_namespace(m, NULL);
    pc_proxy *p = NULL;
    CHECK_OK(pc_manager_create(m, "dict", NULL, NULL, 0, &p));
    pc_queue *q = NULL;
    CHECK_OK(pc_queue_new(0, &q));
    const pc_item one = pc_item_int(1);
    pc_item out = sentinel();
    size_t n = 7;
    bool flag = true;
    pc_item *keys = NULL, *vals = NULL;

    pc_dict *wd = (pc_dict *)q;
#define WRONG_TYPE(call, fn, what)                                                           \
    do {                                                                                     \
        CHECK_STATUS(call, PC_ERR_INVALID_ARGUMENT);                                         \
        CHECK_ERRMSG(fn);                                                                    \
        CHECK_ERRMSG(what);                                                                  \
    } while (0)
    WRONG_TYPE(pc_dict_set(wd, one, one), "pc_dict_set", "d is not a pc_dict");
    WRONG_TYPE(pc_dict_get(wd, one, &out), "pc_dict_get", "d is not a pc_dict");
    WRONG_TYPE(pc_dict_del(wd, one), "pc_dict_del", "d is not a pc_dict");
    WRONG_TYPE(pc_dict_pop(wd, one, &out), "pc_dict_pop", "d is not a pc_dict");
    WRONG_TYPE(pc_dict_contains(wd, one, &flag), "pc_dict_contains", "d is not a pc_dict");
    WRONG_TYPE(pc_dict_len(wd, &n), "pc_dict_len", "d is not a pc_dict");
    WRONG_TYPE(pc_dict_items(wd, &keys, &vals, &n), "pc_dict_items", "d is not a pc_dict");
    WRONG_TYPE(pc_dict_update(wd, &one, &one, 1), "pc_dict_update", "d is not a pc_dict");
    WRONG_TYPE(pc_dict_clear(wd), "pc_dict_clear", "d is not a pc_dict");
    pc_dict_free(wd);
    CHECK_ERRMSG("pc_dict_free");
    CHECK_ERRMSG("d is not a pc_dict");

    pc_list *wl = (pc_list *)d;
    WRONG_TYPE(pc_list_append(wl, one), "pc_list_append", "l is not a pc_list");
    WRONG_TYPE(pc_list_insert(wl, 0, one), "pc_list_insert", "l is not a pc_list");
    WRONG_TYPE(pc_list_set(wl, 0, one), "pc_list_set", "l is not a pc_list");
    WRONG_TYPE(pc_list_extend(wl, &one, 1), "pc_list_extend", "l is not a pc_list");
    WRONG_TYPE(pc_list_get(wl, 0, &out), "pc_list_get", "l is not a pc_list");
    WRONG_TYPE(pc_list_pop(wl, 0, &out), "pc_list_pop", "l is not a pc_list");
    WRONG_TYPE(pc_list_len(wl, &n), "pc_list_len", "l is not a pc_list");
    WRONG_TYPE(pc_list_clear(wl), "pc_list_clear", "l is not a pc_list");
    WRONG_TYPE(pc_list_items(wl, &keys, &n), "pc_list_items", "l is not a pc_list");
    pc_list_free(wl);
    CHECK_ERRMSG("l is not a pc_list");

    pc_namespace *wn = (pc_namespace *)l;
    WRONG_TYPE(pc_namespace_set(wn, "a", one), "pc_namespace_set", "ns is not a pc_namespace");
    WRONG_TYPE(pc_namespace_get(wn, "a", &out), "pc_namespace_get", "ns is not a pc_namespace");
    WRONG_TYPE(pc_namespace_del(wn, "a"), "pc_namespace_del", "ns is not a pc_namespace");
    pc_namespace_free(wn);
    CHECK_ERRMSG("ns is not a pc_namespace");

    pc_proxy *wp = (pc_proxy *)ns;
    WRONG_TYPE(pc_proxy_call(wp, "__len__", NULL, 0, &out), "pc_proxy_call", "p is not a pc_proxy");
    pc_proxy_free(wp);
    CHECK_ERRMSG("p is not a pc_proxy");

    pc_manager *wm = (pc_manager *)p;
    pc_dict *none = NULL;
    WRONG_TYPE(pc_manager_start(wm), "pc_manager_start", "m is not a pc_manager");
    WRONG_TYPE(pc_manager_connect(wm), "pc_manager_connect", "m is not a pc_manager");
    WRONG_TYPE(pc_manager_shutdown(wm), "pc_manager_shutdown", "m is not a pc_manager");
    WRONG_TYPE(pc_manager_number_of_objects(wm, &n), "pc_manager_number_of_objects",
               "m is not a pc_manager");
    WRONG_TYPE(pc_manager_dict(wm, NULL, &none), "pc_manager_dict", "m is not a pc_manager");
    WRONG_TYPE(pc_manager_register(wm, "T", NULL), "pc_manager_register", "m is not a pc_manager");
    CHECK(pc_manager_address(wm) == NULL);
    CHECK_ERRMSG("m is not a pc_manager");
    pc_manager_free(wm);
    CHECK_ERRMSG("m is not a pc_manager");
    /* And the other way round: a manager as a dict, a dict as a queue. */
    WRONG_TYPE(pc_dict_len((pc_dict *)m, &n), "pc_dict_len", "d is not a pc_dict");
    WRONG_TYPE(pc_queue_put((pc_queue *)d, "x", 1, 0), "pc_queue_put", "q is not a pc_queue");
#undef WRONG_TYPE
    CHECK_UNTOUCHED(out);
    CHECK(n == 7 && flag && keys == NULL && vals == NULL && none == NULL);

    /* All intact. */
    CHECK_OK(pc_queue_put(q, "x", 1, 0));
    CHECK(queue_qsize(q) == 1);
    DSET(d, one, one);
    CHECK_OK(pc_list_append(l, one));
    CHECK_OK(pc_namespace_set(ns, "a", one));
    CALL_IS(p, "__len__", NULL, 0, pc_item_int(0));
    CHECK(objects(m) == 4);
    pc_queue_free(q);
    pc_dict_free(d);
    pc_list_free(l);
    pc_namespace_free(ns);
    pc_proxy_free(p);
    CHECK(objects(m) == 0);
    pc_manager_free(m);
}

/* Handles used after their free: refused ("already freed"), in a sub-process so that a
 * crash shows as one. A second free is refused too. */
static int sub_freed_handles(void *arg)
{
    (void)arg;
    pc_manager *m = NULL;
    if (pc_manager_new(NULL, KEY, KEYLEN, &m) != PC_OK || pc_manager_start(m) != PC_OK)
        return 1;
    pc_dict *d = NULL;
    pc_list *l = NULL;
    pc_namespace *ns = NULL;
    pc_proxy *p = NULL;
    if (pc_manager_dict(m, NULL, &d) != PC_OK || pc_manager_list(m, NULL, &l) != PC_OK ||
        pc_manager_namespace(m, NULL, &ns) != PC_OK ||
        pc_manager_create(m, "dict", NULL, NULL, 0, &p) != PC_OK)
        return 2;
    pc_dict_free(d);
    pc_list_free(l);
    pc_namespace_free(ns);
    pc_proxy_free(p);
    const pc_item one = pc_item_int(1);
    pc_item out = sentinel();
    size_t n = 7;
    bool flag = true;
    pc_item *keys = NULL, *vals = NULL;
    int calls[] = {
        pc_dict_set(d, one, one), pc_dict_get(d, one, &out), pc_dict_del(d, one),
        pc_dict_pop(d, one, &out), pc_dict_contains(d, one, &flag), pc_dict_len(d, &n),
        pc_dict_items(d, &keys, &vals, &n), pc_dict_update(d, &one, &one, 1), pc_dict_clear(d),
        pc_list_append(l, one), pc_list_insert(l, 0, one), pc_list_set(l, 0, one),
        pc_list_extend(l, &one, 1), pc_list_get(l, 0, &out), pc_list_pop(l, 0, &out),
        pc_list_len(l, &n), pc_list_clear(l), pc_list_items(l, &keys, &n),
        pc_namespace_set(ns, "a", one), pc_namespace_get(ns, "a", &out),
        pc_namespace_del(ns, "a"), pc_proxy_call(p, "__len__", NULL, 0, &out),
    };
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        if (calls[i] != PC_ERR_INVALID_ARGUMENT) {
            fprintf(stderr, "   call %zu on a freed handle returned %d (%s)\n", i, calls[i],
                    pc_status_str(calls[i]));
            return 10 + (int)i;
        }
    }
    if (!tu_contains(pc_last_error(), "already freed"))
        return 40;
    if (out.kind != PC_KIND_INT || out.i != -777 || n != 7 || !flag || keys || vals)
        return 41;
    pc_dict_free(d);
    if (!tu_contains(pc_last_error(), "pc_dict_free") || !tu_contains(pc_last_error(), "already freed"))
        return 42;
    pc_proxy_free(p);
    if (!tu_contains(pc_last_error(), "already freed"))
        return 43;
    /* Nothing else was freed: the server holds nothing and still serves. */
    size_t objs = 7;
    if (pc_manager_number_of_objects(m, &objs) != PC_OK || objs != 0)
        return 44;
    pc_manager_free(m);
    if (pc_manager_start(m) != PC_ERR_INVALID_ARGUMENT || !tu_contains(pc_last_error(), "already freed"))
        return 45;
    if (pc_manager_address(m) != NULL)
        return 46;
    pc_manager_free(m);
    if (!tu_contains(pc_last_error(), "pc_manager_free") || !tu_contains(pc_last_error(), "already freed"))
        return 47;
    return 0;
}

static void test_bad_arguments(void)
{
    check_null_handles();
    check_manager_arguments();
    check_container_arguments();
    check_wrong_handles();
    check_sub_ok(fork_sub(sub_freed_handles, NULL), 20.0, "handles used after their free");
    CHECK(wait_no_children(2.0));
}

/* ---- values ---- */

/* Every kind C reads, with its edge cases. */
static int all_items(pc_item *out)
{
    static const char utf8[] = "h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93 \xf0\x9d\x84\x9e";
    static const char with_nul[] = {'a', '\0', 'b'};
    int n = 0;
    out[n++] = pc_item_none();
    out[n++] = pc_item_bool(true);
    out[n++] = pc_item_bool(false);
    out[n++] = pc_item_int(0);
    out[n++] = pc_item_int(-1);
    out[n++] = pc_item_int(255);
    out[n++] = pc_item_int(65536);
    out[n++] = pc_item_int(-2147483648LL - 1);
    out[n++] = pc_item_int(INT64_MIN);
    out[n++] = pc_item_int(INT64_MAX);
    out[n++] = pc_item_float(0.5);
    out[n++] = pc_item_float(-0.0);
    out[n++] = pc_item_float(INFINITY);
    out[n++] = pc_item_float(-INFINITY);
    out[n++] = pc_item_float(NAN);
    out[n++] = pc_item_float(1e-310); /* subnormal */
    out[n++] = pc_item_float(1.7976931348623157e308);
    out[n++] = pc_item_bytes(NULL, 0);
    out[n++] = pc_item_bytes(with_nul, sizeof with_nul);
    out[n++] = pc_item_bytes(big, 300);
    out[n++] = pc_item_bytes(big, MIB);
    out[n++] = pc_item_str("");
    out[n++] = pc_item_str(utf8);
    out[n++] = item_strn(with_nul, sizeof with_nul);
    out[n++] = item_strn((const char *)big, 0);
    return n;
}

#define MAX_ITEMS 32

static void test_dict_values(void)
{
    pc_manager *m = started(NULL, NULL);
    pc_dict *d = new_dict(m, NULL);
    pc_item items[MAX_ITEMS];
    int n = all_items(items);
    for (int i = 0; i < n; i++) {
        char key[32];
        snprintf(key, sizeof key, "v%d", i);
        DSET(d, pc_item_str(key), items[i]);
        DGET_IS(d, pc_item_str(key), items[i]);
    }
    CHECK(dict_len(d) == (size_t)n);
    /* All at once, in order. */
    pc_item *keys = NULL, *vals = NULL;
    size_t count = 0;
    CHECK_OK(pc_dict_items(d, &keys, &vals, &count));
    CHECK(count == (size_t)n);
    for (int i = 0; i < n; i++) {
        char key[32];
        snprintf(key, sizeof key, "v%d", i);
        CHECK_ITEM(keys[i], pc_item_str(key));
        CHECK_ITEM(vals[i], items[i]);
    }
    pc_items_release(keys, count);
    pc_items_release(vals, count);

    /* A pickle comes back a pickle; stored again, it reads back identical. */
    DSET(d, pc_item_str("tuple"), item_pickle(P_TUPLE, sizeof P_TUPLE));
    pc_item t = sentinel();
    CHECK_OK(pc_dict_get(d, pc_item_str("tuple"), &t));
    CHECK(t.kind == PC_KIND_PICKLE && t.len > 0 && t.data != NULL);
    DSET(d, pc_item_str("tuple copy"), t);
    DGET_IS(d, pc_item_str("tuple copy"), t);
    /* The same value pickled another way reads back as the same bytes. */
    DSET(d, pc_item_str("tuple protocol 2"), item_pickle(P_TUPLE2, sizeof P_TUPLE2));
    DGET_IS(d, pc_item_str("tuple protocol 2"), t);
    pc_item_release(&t);
    CHECK(t.kind == PC_KIND_NONE); /* release makes it None */
    pc_item_release(&t);           /* and twice is harmless */
    /* A pickle of a value C reads comes back as that kind. */
    DSET(d, pc_item_str("five"), item_pickle(P_FIVE, sizeof P_FIVE));
    DGET_IS(d, pc_item_str("five"), pc_item_int(5));
    /* Beyond int64_t: a pickle, kept. */
    DSET(d, pc_item_str("2**64"), item_pickle(P_2_64, sizeof P_2_64));
    pc_item b64 = sentinel();
    CHECK_OK(pc_dict_get(d, pc_item_str("2**64"), &b64));
    CHECK(b64.kind == PC_KIND_PICKLE);
    DSET(d, pc_item_str("2**64 copy"), b64);
    DGET_IS(d, pc_item_str("2**64 copy"), b64);
    /* Unhashable values are fine as values. */
    DSET(d, pc_item_str("list"), item_pickle(P_LIST, sizeof P_LIST));
    pc_item lv = sentinel();
    CHECK_OK(pc_dict_get(d, pc_item_str("list"), &lv));
    CHECK(lv.kind == PC_KIND_PICKLE);
    pc_item_release(&lv);

    /* Keys of every hashable kind, all distinct in Python. */
    pc_dict *k = new_dict(m, NULL);
    pc_item hk[] = {pc_item_none(), pc_item_int(7), pc_item_float(2.5), pc_item_bytes("b", 1),
                    pc_item_str("b"), item_pickle(P_TUPLE, sizeof P_TUPLE), pc_item_int(INT64_MIN),
                    pc_item_int(INT64_MAX), pc_item_str("\xc3\xa9"), pc_item_bytes(NULL, 0),
                    pc_item_str(""), b64, pc_item_bytes(big, MIB)};
    int nk = (int)(sizeof hk / sizeof hk[0]);
    for (int i = 0; i < nk; i++)
        DSET(k, hk[i], pc_item_int(i));
    CHECK(dict_len(k) == (size_t)nk);
    for (int i = 0; i < nk; i++)
        DGET_IS(k, hk[i], pc_item_int(i));
    CHECK_OK(pc_dict_items(k, &keys, &vals, &count));
    CHECK(count == (size_t)nk);
    for (int i = 0; i < nk; i++) {
        if (hk[i].kind == PC_KIND_PICKLE)
            CHECK(keys[i].kind == PC_KIND_PICKLE);
        else
            CHECK_ITEM(keys[i], hk[i]);
        CHECK_ITEM(vals[i], pc_item_int(i));
    }
    pc_items_release(keys, count);
    pc_items_release(vals, count);
    /* A tuple key found through another pickle of the same tuple. */
    DGET_IS(k, item_pickle(P_TUPLE2, sizeof P_TUPLE2), pc_item_int(5));
    pc_item_release(&b64);
    pc_dict_free(k);
    pc_dict_free(d);
    CHECK(objects(m) == 0);
    pc_manager_free(m);
}

/* Keys compare as Python's do. */
static void test_dict_keys(void)
{
    pc_manager *m = started(NULL, NULL);
    pc_dict *d = new_dict(m, NULL);
    DSET(d, pc_item_int(1), pc_item_str("one"));
    DGET_IS(d, pc_item_float(1.0), pc_item_str("one"));
    DGET_IS(d, pc_item_bool(true), pc_item_str("one"));
    bool in = false;
    CHECK_OK(pc_dict_contains(d, pc_item_float(1.0), &in));
    CHECK(in);
    DSET(d, pc_item_bool(true), pc_item_str("uno")); /* the same key */
    CHECK(dict_len(d) == 1);
    pc_item *keys = NULL, *vals = NULL;
    size_t count = 0;
    CHECK_OK(pc_dict_items(d, &keys, &vals, &count));
    CHECK(count == 1);
    CHECK_ITEM(keys[0], pc_item_int(1)); /* the first key object stays */
    CHECK_ITEM(vals[0], pc_item_str("uno"));
    pc_items_release(keys, count);
    pc_items_release(vals, count);
    DGET_FAILS(d, pc_item_str("1"), PC_ERR_KEY);
    DGET_FAILS(d, pc_item_bytes("1", 1), PC_ERR_KEY);
    DSET(d, pc_item_bool(false), pc_item_str("zero"));
    DGET_IS(d, pc_item_int(0), pc_item_str("zero"));
    DGET_IS(d, pc_item_float(-0.0), pc_item_str("zero"));
    DSET(d, pc_item_float(2.0), pc_item_str("two"));
    DGET_IS(d, pc_item_int(2), pc_item_str("two"));
    /* Exact: 2**63 - 1 is not the float 2**63; 2**64 is. */
    DSET(d, pc_item_int(INT64_MAX), pc_item_str("max"));
    DGET_FAILS(d, pc_item_float(9223372036854775807.0), PC_ERR_KEY);
    DSET(d, item_pickle(P_2_64, sizeof P_2_64), pc_item_str("2**64"));
    DGET_IS(d, pc_item_float(18446744073709551616.0), pc_item_str("2**64"));
    DSET(d, pc_item_float(9007199254740993.0), pc_item_str("float"));
    DGET_FAILS(d, pc_item_int(9007199254740993LL), PC_ERR_KEY); /* the float is 2**53 */
    DGET_IS(d, pc_item_int(9007199254740992LL), pc_item_str("float"));

    /* Missing keys: PC_ERR_KEY naming the key; the output untouched. */
    DGET_FAILS(d, pc_item_str("missing-key"), PC_ERR_KEY);
    CHECK_ERRMSG("pc_dict_get");
    CHECK_ERRMSG("missing-key");
    DGET_FAILS(d, pc_item_int(12345), PC_ERR_KEY);
    CHECK_ERRMSG("12345");
    CHECK_STATUS(pc_dict_del(d, pc_item_str("missing-del")), PC_ERR_KEY);
    CHECK_ERRMSG("pc_dict_del");
    CHECK_ERRMSG("missing-del");
    pc_item out = sentinel();
    CHECK_STATUS(pc_dict_pop(d, pc_item_str("missing-pop"), &out), PC_ERR_KEY);
    CHECK_ERRMSG("pc_dict_pop");
    CHECK_ERRMSG("missing-pop");
    CHECK_UNTOUCHED(out);

    /* Unhashable keys: PC_ERR_TYPE, nothing changed. */
    size_t before = dict_len(d);
    const uint8_t *unhashable[] = {P_LIST, P_DICT, P_SET};
    size_t lens[] = {sizeof P_LIST, sizeof P_DICT, sizeof P_SET};
    for (int i = 0; i < 3; i++) {
        pc_item key = item_pickle(unhashable[i], lens[i]);
        CHECK_STATUS(pc_dict_set(d, key, pc_item_int(1)), PC_ERR_TYPE);
        CHECK_ERRMSG("pc_dict_set");
        CHECK_ERRMSG("unhashable");
        DGET_FAILS(d, key, PC_ERR_TYPE);
        in = true;
        CHECK_STATUS(pc_dict_contains(d, key, &in), PC_ERR_TYPE);
        CHECK(in == true);
        CHECK_STATUS(pc_dict_del(d, key), PC_ERR_TYPE);
        CHECK_STATUS(pc_dict_pop(d, key, &out), PC_ERR_TYPE);
        pc_item v = pc_item_int(1);
        CHECK_STATUS(pc_dict_update(d, &key, &v, 1), PC_ERR_TYPE);
    }
    CHECK_UNTOUCHED(out);
    CHECK(dict_len(d) == before);
    pc_dict_free(d);
    pc_manager_free(m);
}

static void check_dict_items(pc_dict *d, const char *const *want_keys, const int64_t *want_vals, size_t n)
{
    pc_item *keys = (pc_item *)&keys, *vals = (pc_item *)&vals;
    size_t count = 7777;
    CHECK_OK(pc_dict_items(d, &keys, &vals, &count));
    if (count != n)
        FAIL("the dict has %zu items, expected %zu", count, n);
    if (n == 0) {
        CHECK(keys == NULL && vals == NULL);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        CHECK_ITEM(keys[i], pc_item_str(want_keys[i]));
        CHECK_ITEM(vals[i], pc_item_int(want_vals[i]));
    }
    pc_items_release(keys, count);
    pc_items_release(vals, count);
}

static void test_dict_operations(void)
{
    pc_manager *m = started(NULL, NULL);
    pc_dict *d = new_dict(m, NULL);
    CHECK(dict_len(d) == 0);
    check_dict_items(d, NULL, NULL, 0);
    DSET(d, pc_item_str("a"), pc_item_int(1));
    DSET(d, pc_item_str("b"), pc_item_int(2));
    DSET(d, pc_item_str("c"), pc_item_int(3));
    CHECK(dict_len(d) == 3);
    bool in = false;
    CHECK_OK(pc_dict_contains(d, pc_item_str("a"), &in));
    CHECK(in);
    CHECK_OK(pc_dict_contains(d, pc_item_str("z"), &in));
    CHECK(!in);
    check_dict_items(d, (const char *[]){"a", "b", "c"}, (const int64_t[]){1, 2, 3}, 3);

    CHECK_OK(pc_dict_del(d, pc_item_str("b")));
    CHECK_STATUS(pc_dict_del(d, pc_item_str("b")), PC_ERR_KEY);
    CHECK_OK(pc_dict_contains(d, pc_item_str("b"), &in));
    CHECK(!in);
    DSET(d, pc_item_str("b"), pc_item_int(20));                 /* goes last */
    DSET(d, pc_item_str("a"), pc_item_int(10));                 /* keeps its place */
    check_dict_items(d, (const char *[]){"a", "c", "b"}, (const int64_t[]){10, 3, 20}, 3);

    pc_item out = sentinel();
    CHECK_OK(pc_dict_pop(d, pc_item_str("c"), &out));
    CHECK_ITEM(out, pc_item_int(3));
    out = sentinel();
    CHECK_STATUS(pc_dict_pop(d, pc_item_str("c"), &out), PC_ERR_KEY);
    CHECK_UNTOUCHED(out);
    CHECK(dict_len(d) == 2);

    /* update: one round trip, existing keys keep their place. */
    pc_item ks[3] = {pc_item_str("x"), pc_item_str("a"), pc_item_str("y")};
    pc_item vs[3] = {pc_item_int(100), pc_item_int(11), pc_item_int(200)};
    CHECK_OK(pc_dict_update(d, ks, vs, 3));
    check_dict_items(d, (const char *[]){"a", "b", "x", "y"}, (const int64_t[]){11, 20, 100, 200}, 4);
    CHECK_OK(pc_dict_update(d, NULL, NULL, 0));
    /* An update with an invalid item changes nothing. */
    vs[2] = item_raw(99, NULL, 0);
    CHECK_STATUS(pc_dict_update(d, ks, vs, 3), PC_ERR_INVALID_ARGUMENT);
    check_dict_items(d, (const char *[]){"a", "b", "x", "y"}, (const int64_t[]){11, 20, 100, 200}, 4);
    /* The same key twice in one update: the last value wins. */
    pc_item k2[2] = {pc_item_str("dup"), pc_item_str("dup")};
    pc_item v2[2] = {pc_item_int(1), pc_item_int(2)};
    CHECK_OK(pc_dict_update(d, k2, v2, 2));
    DGET_IS(d, pc_item_str("dup"), pc_item_int(2));

    CHECK_OK(pc_dict_clear(d));
    CHECK(dict_len(d) == 0);
    check_dict_items(d, NULL, NULL, 0);
    CHECK_OK(pc_dict_clear(d));

    /* Many in one update, in order. */
    enum { MANY = 1000 };
    static pc_item mk[MANY], mv[MANY];
    static char names[MANY][16];
    for (int i = 0; i < MANY; i++) {
        snprintf(names[i], sizeof names[i], "k%04d", MANY - i);
        mk[i] = pc_item_str(names[i]);
        mv[i] = pc_item_int(i);
    }
    CHECK_OK(pc_dict_update(d, mk, mv, MANY));
    CHECK(dict_len(d) == MANY);
    pc_item *keys = NULL, *vals = NULL;
    size_t count = 0;
    CHECK_OK(pc_dict_items(d, &keys, &vals, &count));
    CHECK(count == MANY);
    for (int i = 0; i < MANY; i++) {
        CHECK_ITEM(keys[i], mk[i]);
        CHECK_ITEM(vals[i], mv[i]);
    }
    pc_items_release(keys, count);
    pc_items_release(vals, count);
    pc_dict_free(d);
    pc_manager_free(m);
}

static void check_list(pc_list *l, const pc_item *want, size_t n)
{
    pc_item *items = (pc_item *)&items;
    size_t count = 7777;
    CHECK_OK(pc_list_items(l, &items, &count));
    if (count != n)
        FAIL("the list has %zu items, expected %zu", count, n);
    if (n == 0) {
        CHECK(items == NULL);
        return;
    }
    for (size_t i = 0; i < n; i++)
        CHECK_ITEM(items[i], want[i]);
    pc_items_release(items, count);
    CHECK(list_len(l) == n);
}

static void test_list_operations(void)
{
    pc_manager *m = started(NULL, NULL);
    pc_list *l = new_list(m, NULL);
    pc_item out = sentinel();
    CHECK(list_len(l) == 0);
    check_list(l, NULL, 0);
    CHECK_STATUS(pc_list_pop(l, -1, &out), PC_ERR_INDEX);
    CHECK_ERRMSG("pc_list_pop");
    CHECK_STATUS(pc_list_get(l, 0, &out), PC_ERR_INDEX);
    CHECK_ERRMSG("pc_list_get");
    CHECK_ERRMSG("index");
    CHECK_UNTOUCHED(out);

    CHECK_OK(pc_list_append(l, pc_item_int(0)));
    CHECK_OK(pc_list_append(l, pc_item_str("one")));
    CHECK_OK(pc_list_append(l, pc_item_float(2.0)));
    CHECK(list_len(l) == 3);
    LGET_IS(l, 0, pc_item_int(0));
    LGET_IS(l, 1, pc_item_str("one"));
    LGET_IS(l, -1, pc_item_float(2.0));
    LGET_IS(l, -3, pc_item_int(0));
    CHECK_STATUS(pc_list_get(l, 3, &out), PC_ERR_INDEX);
    CHECK_STATUS(pc_list_get(l, -4, &out), PC_ERR_INDEX);
    CHECK_STATUS(pc_list_get(l, PTRDIFF_MAX, &out), PC_ERR_INDEX);
    CHECK_STATUS(pc_list_get(l, PTRDIFF_MIN, &out), PC_ERR_INDEX);
    CHECK_UNTOUCHED(out);

    CHECK_OK(pc_list_set(l, 1, pc_item_str("uno")));
    CHECK_OK(pc_list_set(l, -1, pc_item_bool(true)));
    CHECK_STATUS(pc_list_set(l, 3, pc_item_none()), PC_ERR_INDEX);
    CHECK_ERRMSG("pc_list_set");
    CHECK_STATUS(pc_list_set(l, -4, pc_item_none()), PC_ERR_INDEX);
    check_list(l, (pc_item[]){pc_item_int(0), pc_item_str("uno"), pc_item_bool(true)}, 3);

    /* insert: Python's rules (negative from the end, beyond either end: at that end). */
    CHECK_OK(pc_list_insert(l, 0, pc_item_str("first")));
    CHECK_OK(pc_list_insert(l, -1, pc_item_str("before last")));
    CHECK_OK(pc_list_insert(l, 100, pc_item_str("end")));
    CHECK_OK(pc_list_insert(l, -100, pc_item_str("start")));
    CHECK_OK(pc_list_insert(l, PTRDIFF_MIN, pc_item_str("very start")));
    CHECK_OK(pc_list_insert(l, PTRDIFF_MAX, pc_item_str("very end")));
    pc_item want[] = {pc_item_str("very start"), pc_item_str("start"), pc_item_str("first"),
                      pc_item_int(0), pc_item_str("uno"), pc_item_str("before last"),
                      pc_item_bool(true), pc_item_str("end"), pc_item_str("very end")};
    check_list(l, want, 9);

    pc_item more[3] = {pc_item_none(), pc_item_bytes("\x00\x01", 2), item_pickle(P_TUPLE, sizeof P_TUPLE)};
    CHECK_OK(pc_list_extend(l, more, 3));
    CHECK_OK(pc_list_extend(l, NULL, 0));
    CHECK(list_len(l) == 12);
    LGET_IS(l, 9, pc_item_none());
    LGET_IS(l, -2, pc_item_bytes("\x00\x01", 2));
    /* An extend with an invalid item changes nothing. */
    more[1] = item_raw(99, NULL, 0);
    CHECK_STATUS(pc_list_extend(l, more, 3), PC_ERR_INVALID_ARGUMENT);
    CHECK(list_len(l) == 12);

    CHECK_OK(pc_list_pop(l, -1, &out));
    CHECK(out.kind == PC_KIND_PICKLE);
    pc_item_release(&out);
    CHECK_OK(pc_list_pop(l, 0, &out));
    CHECK_ITEM(out, pc_item_str("very start"));
    pc_item_release(&out);
    CHECK_OK(pc_list_pop(l, 2, &out));
    CHECK_ITEM(out, pc_item_int(0));
    out = sentinel();
    CHECK_STATUS(pc_list_pop(l, 100, &out), PC_ERR_INDEX);
    CHECK_STATUS(pc_list_pop(l, -100, &out), PC_ERR_INDEX);
    CHECK_UNTOUCHED(out);
    CHECK(list_len(l) == 9);

    CHECK_OK(pc_list_clear(l));
    CHECK(list_len(l) == 0);
    check_list(l, NULL, 0);
    CHECK_OK(pc_list_clear(l));

    /* Many in one extend; every kind appended. */
    enum { MANY = 1000 };
    static pc_item many[MANY];
    for (int i = 0; i < MANY; i++)
        many[i] = pc_item_int(i * 3);
    CHECK_OK(pc_list_extend(l, many, MANY));
    check_list(l, many, MANY);
    CHECK_OK(pc_list_clear(l));
    pc_item items[MAX_ITEMS];
    int n = all_items(items);
    for (int i = 0; i < n; i++)
        CHECK_OK(pc_list_append(l, items[i]));
    check_list(l, items, (size_t)n);
    for (int i = 0; i < n; i++)
        LGET_IS(l, i - n, items[i]);
    pc_list_free(l);
    pc_manager_free(m);
}

static void test_namespace(void)
{
    pc_manager *m = started(NULL, NULL);
    pc_namespace *ns = new_namespace(m, NULL);
    pc_item out = sentinel();
    CHECK_STATUS(pc_namespace_get(ns, "x", &out), PC_ERR_KEY);
    CHECK_ERRMSG("pc_namespace_get");
    CHECK_ERRMSG("x");
    CHECK_UNTOUCHED(out);
    CHECK_OK(pc_namespace_set(ns, "x", pc_item_int(1)));
    NGET_IS(ns, "x", pc_item_int(1));
    CHECK_OK(pc_namespace_set(ns, "x", pc_item_str("two")));
    NGET_IS(ns, "x", pc_item_str("two"));
    CHECK_OK(pc_namespace_set(ns, "y", item_pickle(P_TUPLE, sizeof P_TUPLE)));
    CHECK_OK(pc_namespace_get(ns, "y", &out));
    CHECK(out.kind == PC_KIND_PICKLE);
    pc_item_release(&out);
    CHECK_OK(pc_namespace_set(ns, "\xc3\xa9t\xc3\xa9", pc_item_bytes(big, MIB)));
    NGET_IS(ns, "\xc3\xa9t\xc3\xa9", pc_item_bytes(big, MIB));
    out = sentinel();
    CHECK_STATUS(pc_namespace_get(ns, "missing_attribute", &out), PC_ERR_KEY);
    CHECK_ERRMSG("missing_attribute");
    CHECK_OK(pc_namespace_del(ns, "x"));
    CHECK_STATUS(pc_namespace_get(ns, "x", &out), PC_ERR_KEY);
    CHECK_STATUS(pc_namespace_del(ns, "x"), PC_ERR_KEY);
    CHECK_ERRMSG("pc_namespace_del");
    CHECK_UNTOUCHED(out);
    NGET_IS(ns, "\xc3\xa9t\xc3\xa9", pc_item_bytes(big, MIB));

    /* A named one through two handles. */
    pc_namespace *a = new_namespace(m, "ns");
    pc_namespace *b = new_namespace(m, "ns");
    CHECK_OK(pc_namespace_set(a, "shared", pc_item_float(1.5)));
    NGET_IS(b, "shared", pc_item_float(1.5));
    pc_namespace_free(a);
    pc_namespace_free(b);
    pc_namespace_free(ns);
    CHECK(objects(m) == 1); /* the named one lives on */
    pc_manager_free(m);
}

/* ---- named objects across processes ---- */

/* This binary run again: `test_manager --named-client ADDRESS` connects with KEY, reads
 * what the test put in the named objects and adds its own. Exit status 0: all fine. */
static int named_client(const char *address)
{
    pc_manager *m = NULL;
    if (pc_manager_new(address, KEY, KEYLEN, &m) != PC_OK)
        return 2;
    if (pc_manager_connect(m) != PC_OK) {
        fprintf(stderr, "named client: connect: %s\n", pc_last_error());
        return 3;
    }
    pc_dict *d = NULL;
    pc_list *l = NULL;
    pc_namespace *ns = NULL;
    if (pc_manager_dict(m, "shared", &d) != PC_OK || pc_manager_list(m, "shared list", &l) != PC_OK ||
        pc_manager_namespace(m, "shared ns", &ns) != PC_OK) {
        fprintf(stderr, "named client: %s\n", pc_last_error());
        return 4;
    }
    pc_item got = pc_item_none();
    if (pc_dict_get(d, pc_item_str("from parent"), &got) != PC_OK || got.kind != PC_KIND_STR ||
        got.len != 5 || memcmp(got.data, "hello", 5) != 0)
        return 5;
    pc_item_release(&got);
    /* The same name for another type is refused here too. */
    pc_list *wrong = NULL;
    if (pc_manager_list(m, "shared", &wrong) != PC_ERR_INVALID_ARGUMENT || wrong != NULL)
        return 6;
    if (pc_dict_set(d, pc_item_str("from exec"), pc_item_int(getpid())) != PC_OK ||
        pc_list_append(l, pc_item_str("exec")) != PC_OK ||
        pc_namespace_set(ns, "exec", pc_item_bool(true)) != PC_OK)
        return 7;
    pc_dict_free(d);
    pc_list_free(l);
    pc_namespace_free(ns);
    pc_manager_free(m);
    return 0;
}

static int exec_named_client(void *arg)
{
    char *argv[] = {self_exe, "--named-client", arg, NULL};
    execv(self_exe, argv);
    return 127;
}

static void test_named_objects(void)
{
    pc_manager *m1 = started("tcp://127.0.0.1:0", NULL);
    const char *address = pc_manager_address(m1);
    pc_manager *m2 = connected(address);
    size_t base = objects(m1);
    CHECK(base == 0);

    pc_dict *a = new_dict(m1, "shared");
    pc_dict *b = new_dict(m1, "shared");
    pc_dict *c = new_dict(m2, "shared");
    CHECK(objects(m1) == 1);
    DSET(a, pc_item_str("from parent"), pc_item_str("hello"));
    DGET_IS(b, pc_item_str("from parent"), pc_item_str("hello"));
    DGET_IS(c, pc_item_str("from parent"), pc_item_str("hello"));
    pc_list *l = new_list(m1, "shared list");
    pc_namespace *ns = new_namespace(m2, "shared ns");
    CHECK(objects(m1) == 3);

    /* The name is taken by a dict. */
    pc_list *wl = NULL;
    pc_namespace *wn = NULL;
    pc_proxy *wp = NULL;
    CHECK_STATUS(pc_manager_list(m1, "shared", &wl), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_manager_list");
    CHECK_ERRMSG("shared");
    CHECK_STATUS(pc_manager_namespace(m2, "shared", &wn), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("shared");
    CHECK_STATUS(pc_manager_create(m1, "list", "shared", NULL, 0, &wp), PC_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(pc_manager_dict(m1, "shared list", &(pc_dict *){NULL}), PC_ERR_INVALID_ARGUMENT);
    CHECK(wl == NULL && wn == NULL && wp == NULL);
    /* The generic form of the same typeid finds the same dict. */
    CHECK_OK(pc_manager_create(m2, "dict", "shared", NULL, 0, &wp));
    pc_item key = pc_item_str("from parent");
    CALL_IS(wp, "__getitem__", &key, 1, pc_item_str("hello"));
    pc_proxy_free(wp);

    /* A library child using the connected handle made before it started. */
    child_dict = c;
    pc_process *p = start(target_set_in_child, (void *)"lib child");
    pid_t lib_pid = (pid_t)pc_process_pid(p);
    CHECK(finish(p, 20.0) == 0);
    DGET_IS(a, pc_item_str("lib child"), pc_item_int(lib_pid));

    /* An unrelated program that only knows the address and the key. */
    pid_t ex = fork_sub(exec_named_client, (void *)address);
    check_sub_ok(ex, 30.0, "this test run again as --named-client");
    DGET_IS(a, pc_item_str("from exec"), pc_item_int(ex));
    check_list(l, (pc_item[]){pc_item_str("exec")}, 1);
    NGET_IS(ns, "exec", pc_item_bool(true));

    /* Named objects outlive all their handles. */
    pc_dict_free(a);
    pc_dict_free(b);
    pc_dict_free(c);
    pc_list_free(l);
    pc_namespace_free(ns);
    CHECK(objects(m1) == 3);
    pc_dict *again = new_dict(m2, "shared");
    CHECK(dict_len(again) == 3);
    DGET_IS(again, pc_item_str("from parent"), pc_item_str("hello"));
    pc_dict_free(again);
    /* An anonymous one is another object. */
    pc_dict *anon = new_dict(m1, NULL);
    CHECK(dict_len(anon) == 0);
    CHECK(objects(m1) == 4);
    pc_dict_free(anon);
    CHECK(objects(m1) == 3);
    pc_manager_free(m2);
    pc_manager_free(m1);
    CHECK(wait_no_children(2.0));
}

/* ---- several processes at once ---- */

enum { WRITERS = 4, WRITES = 500 };
static pc_dict *shared_dict;
static pc_list *shared_list;

static int target_writer(void *arg)
{
    int w = (int)(intptr_t)arg;
    for (int j = 0; j < WRITES; j++) {
        char key[32];
        snprintf(key, sizeof key, "w%d-%d", w, j);
        int st = pc_dict_set(shared_dict, pc_item_str(key), pc_item_int(w * 1000 + j));
        if (st == PC_OK)
            st = pc_list_append(shared_list, pc_item_int(w * 1000 + j));
        if (st != PC_OK) {
            fprintf(stderr, "   writer %d at %d: %s\n", w, j, pc_last_error());
            return 1;
        }
    }
    return 0;
}

static void test_many_processes(void)
{
    pc_manager *m = started(NULL, NULL);
    shared_dict = new_dict(m, NULL);
    shared_list = new_list(m, NULL);
    double t0 = now();
    pc_process *ps[WRITERS];
    for (int w = 0; w < WRITERS; w++)
        ps[w] = start(target_writer, (void *)(intptr_t)w);
    for (int w = 0; w < WRITERS; w++)
        CHECK(finish(ps[w], 60.0) == 0);
    fprintf(stderr, "   %d processes x %d dict sets + list appends: %.2f s\n", WRITERS, WRITES,
            now() - t0);

    CHECK(dict_len(shared_dict) == WRITERS * WRITES);
    static bool seen[WRITERS][WRITES];
    memset(seen, 0, sizeof seen);
    pc_item *keys = NULL, *vals = NULL;
    size_t count = 0;
    CHECK_OK(pc_dict_items(shared_dict, &keys, &vals, &count));
    CHECK(count == WRITERS * WRITES);
    for (size_t i = 0; i < count; i++) {
        int w = -1, j = -1;
        char key[32] = "";
        CHECK(keys[i].kind == PC_KIND_STR && keys[i].len < sizeof key);
        memcpy(key, keys[i].data, keys[i].len);
        if (sscanf(key, "w%d-%d", &w, &j) != 2 || w < 0 || w >= WRITERS || j < 0 || j >= WRITES)
            FAIL("unexpected key \"%s\"", key);
        if (seen[w][j])
            FAIL("key \"%s\" twice", key);
        seen[w][j] = true;
        CHECK_ITEM(vals[i], pc_item_int(w * 1000 + j));
    }
    pc_items_release(keys, count);
    pc_items_release(vals, count);

    /* The list: every number once, each writer's in its own order. */
    memset(seen, 0, sizeof seen);
    int last[WRITERS];
    for (int w = 0; w < WRITERS; w++)
        last[w] = -1;
    pc_item *items = NULL;
    CHECK_OK(pc_list_items(shared_list, &items, &count));
    CHECK(count == WRITERS * WRITES);
    for (size_t i = 0; i < count; i++) {
        CHECK(items[i].kind == PC_KIND_INT);
        int w = (int)(items[i].i / 1000), j = (int)(items[i].i % 1000);
        if (w < 0 || w >= WRITERS || j < 0 || j >= WRITES || seen[w][j])
            FAIL("list item %zu is %lld: out of range or twice", i, (long long)items[i].i);
        seen[w][j] = true;
        if (j <= last[w])
            FAIL("writer %d's %d came after its %d", w, j, last[w]);
        last[w] = j;
    }
    pc_items_release(items, count);
    pc_dict_free(shared_dict);
    pc_list_free(shared_list);
    CHECK(objects(m) == 0);
    pc_manager_free(m);
    CHECK(wait_no_children(2.0));
}

/* ---- handles after fork, and threads ---- */

enum { THREADS = 4, THREAD_OPS = 200 };

struct thread_arg {
    pc_dict *d;
    int t;
    int failures;
};

static void *thread_writer(void *p)
{
    struct thread_arg *a = p;
    for (int j = 0; j < THREAD_OPS; j++) {
        char key[32];
        snprintf(key, sizeof key, "t%d-%d-%d", (int)getpid(), a->t, j);
        pc_item got = pc_item_none();
        if (pc_dict_set(a->d, pc_item_str(key), pc_item_int(j)) != PC_OK ||
            pc_dict_get(a->d, pc_item_str(key), &got) != PC_OK || got.kind != PC_KIND_INT ||
            got.i != j) {
            fprintf(stderr, "   thread %d at %d: %s\n", a->t, j, pc_last_error());
            a->failures++;
            return NULL;
        }
    }
    return NULL;
}

/* Uses `d` from THREADS threads at once; the number of failures. */
static int use_from_threads(pc_dict *d)
{
    pthread_t th[THREADS];
    struct thread_arg args[THREADS];
    for (int t = 0; t < THREADS; t++) {
        args[t] = (struct thread_arg){d, t, 0};
        if (pthread_create(&th[t], NULL, thread_writer, &args[t]) != 0)
            return 100;
    }
    int failures = 0;
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        failures += args[t].failures;
    }
    return failures;
}

static int target_use_forked(void *arg)
{
    pc_dict *d = arg;
    pc_item got = pc_item_none();
    if (pc_dict_get(d, pc_item_str("parent"), &got) != PC_OK || got.kind != PC_KIND_STR)
        return 1;
    pc_item_release(&got);
    if (pc_dict_set(d, pc_item_str("child"), pc_item_int(getpid())) != PC_OK)
        return 2;
    if (use_from_threads(d) != 0)
        return 3;
    return 0;
}

static int target_use_and_free(void *arg)
{
    pc_dict *d = arg;
    if (pc_dict_set(d, pc_item_str("freeing child"), pc_item_int(getpid())) != PC_OK)
        return 1;
    pc_dict_free(d); /* this process's reference only */
    return 0;
}

static int sub_use_forked(void *arg)
{
    return target_use_forked(arg);
}

static void test_fork_and_threads(void)
{
    pc_manager *m = started(NULL, NULL);
    pc_dict *d = new_dict(m, NULL);
    DSET(d, pc_item_str("parent"), pc_item_str("here"));
    CHECK(objects(m) == 1);

    /* A library child: its own connection and reference, 4 threads in it. */
    pc_process *p = start(target_use_forked, d);
    pid_t pid = (pid_t)pc_process_pid(p);
    CHECK(finish(p, 30.0) == 0);
    DGET_IS(d, pc_item_str("child"), pc_item_int(pid));
    CHECK(dict_len(d) == 2 + THREADS * THREAD_OPS);
    CHECK(wait_objects(m, 1, 2.0) == 1); /* its reference went with it; ours stays */

    /* A plain fork (exit() runs the atexit handlers there): the same. */
    pid_t sub = fork_sub(sub_use_forked, d);
    check_sub_ok(sub, 30.0, "a plain forked child using the dict");
    DGET_IS(d, pc_item_str("child"), pc_item_int(sub));
    CHECK(dict_len(d) == 2 + 2 * THREADS * THREAD_OPS);
    CHECK(wait_objects(m, 1, 2.0) == 1);

    /* A child that frees its copy frees only its own reference. */
    p = start(target_use_and_free, d);
    CHECK(finish(p, 20.0) == 0);
    CHECK(objects(m) == 1);
    DSET(d, pc_item_str("still"), pc_item_none());

    /* The parent's threads at once, with children using the dict meanwhile. */
    pc_process *busy = start(target_use_forked, d);
    CHECK(use_from_threads(d) == 0);
    CHECK(finish(busy, 30.0) == 0);
    CHECK(dict_len(d) == 4 + 4 * THREADS * THREAD_OPS);
    pc_dict_free(d);
    CHECK(wait_objects(m, 0, 2.0) == 0);
    pc_manager_free(m);
    CHECK(wait_no_children(2.0));
}

/* Waits until its parent freed the dict, then uses it: its own reference, taken for it
 * before the fork, kept the dict alive. */
static int target_use_after_parent_freed(void *arg)
{
    pc_dict *d = arg;
    sleep_s(0.3);
    pc_item got = pc_item_none();
    if (pc_dict_get(d, pc_item_str("k"), &got) != PC_OK || got.kind != PC_KIND_INT ||
        got.i != 7) {
        fprintf(stderr, "   child: %s\n", pc_last_error());
        return 1;
    }
    pc_dict_free(d);
    return 0;
}

/* A parent that frees its handle right after starting a child does not take the object
 * from under the child (Python's managers have that race); the child's reference goes
 * when the child ends. */
static void test_fork_hands_references_over(void)
{
    pc_manager *m = started(NULL, NULL);
    size_t base = objects(m);
    pc_dict *d = new_dict(m, NULL);
    DSET(d, pc_item_str("k"), pc_item_int(7));
    pc_process *p = start(target_use_after_parent_freed, d);
    pc_dict_free(d);
    CHECK(objects(m) == base + 1); /* the child holds it */
    CHECK(finish(p, 20.0) == 0);
    CHECK(wait_objects(m, base, 2.0) == base);
    pc_manager_free(m);
    CHECK(wait_no_children(2.0));
}

/* Starting a second manager gives its server no references to the first one's objects:
 * they still go when their handles are freed. */
static void test_server_fork_takes_no_references(void)
{
    pc_manager *a = started(NULL, NULL);
    size_t base = objects(a);
    pc_dict *d = new_dict(a, NULL);
    pc_manager *b = started(NULL, NULL);
    pc_dict_free(d);
    CHECK(wait_objects(a, base, 2.0) == base);
    pc_manager_free(b);
    pc_manager_free(a);
    CHECK(wait_no_children(2.0));
}

/* ---- managed queues, locks, values and arrays through the local functions ---- */

/* Where a child says it is ready (a pipe). */
static int report_fd = -1;

/* Takes the managed lock, says so, and waits to be killed. */
static int target_hold_lock(void *arg)
{
    pc_lock *l = arg;
    if (pc_lock_acquire(l, 5.0) != PC_OK)
        return 1;
    char c = 'x';
    if (write(report_fd, &c, 1) != 1)
        return 2;
    sleep_s(30);
    return 3;
}

static void test_managed_primitives(void)
{
    pid_t server;
    pc_manager *m = started(NULL, &server);

    /* Bad arguments of the typeid functions. */
    pc_queue *q = NULL;
    CHECK_STATUS(pc_manager_queue(NULL, NULL, 0, &q), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("m is NULL");
    CHECK_STATUS(pc_manager_queue(m, NULL, 0, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_manager_queue(m, NULL, (size_t)PC_QUEUE_MAX_SIZE + 1, &q),
                 PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("maxsize");
    pc_barrier *b = NULL;
    CHECK_STATUS(pc_manager_barrier(m, NULL, 0, &b), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("parties");
    pc_value *v = NULL;
    CHECK_STATUS(pc_manager_value(m, NULL, 'z', NULL, &v), PC_ERR_INVALID_ARGUMENT);
    CHECK(q == NULL && b == NULL && v == NULL);

    /* A queue: bytes through pc_queue_put/get, other kinds kept for get_item. */
    CHECK_OK(pc_manager_queue(m, NULL, 2, &q));
    CHECK_OK(pc_queue_put(q, "ab", 2, 1.0));
    CHECK_OK(pc_queue_put_item(q, pc_item_str("text"), 1.0));
    CHECK_STATUS(pc_queue_put(q, "c", 1, 0.05), PC_ERR_FULL);
    pc_bytes got = {0};
    CHECK_OK(pc_queue_get(q, 1.0, &got));
    CHECK(got.len == 2 && memcmp(got.data, "ab", 2) == 0);
    pc_bytes_free(&got);
    CHECK_STATUS(pc_queue_get(q, 1.0, &got), PC_ERR_TYPE);
    CHECK_ERRMSG("str");
    pc_item it;
    CHECK_OK(pc_queue_get_item(q, 1.0, &it));
    CHECK_ITEM(it, pc_item_str("text"));
    pc_item_release(&it);
    double t0 = now();
    CHECK_STATUS(pc_queue_get(q, 0.2, &got), PC_ERR_EMPTY);
    CHECK(now() - t0 >= 0.19 && now() - t0 < 5.0);

    /* A lock: a timed acquire that fails, and a holder killed while holding it. */
    pc_lock *l = NULL;
    CHECK_OK(pc_manager_lock(m, NULL, &l));
    int fds[2];
    CHECK(pipe2(fds, O_CLOEXEC) == 0);
    report_fd = fds[1];
    pc_process *holder = start(target_hold_lock, l);
    char c;
    CHECK(read_exact(fds[0], &c, 1, 20.0));
    close(fds[0]);
    close(fds[1]);
    report_fd = -1;
    CHECK_STATUS(pc_lock_acquire(l, 0.1), PC_ERR_TIMEOUT);
    CHECK_OK(pc_process_kill(holder));
    CHECK_OK(pc_process_join(holder, 5.0));
    pc_process_free(holder);
    CHECK_OK(pc_lock_acquire(l, 2.0)); /* the server released the dead holder's lock */
    CHECK_OK(pc_lock_release(l));
    CHECK_STATUS(pc_lock_release(l), PC_ERR_NOT_OWNER);

    /* A value and an array: typed get and set, a range write and read in one request. */
    int init = 41, out = 0;
    CHECK_OK(pc_manager_value(m, NULL, 'i', &init, &v));
    CHECK_OK(pc_value_get(v, &out));
    CHECK(out == 41);
    CHECK(pc_value_ptr(v) == NULL);
    CHECK_STATUS(pc_value_add(v, 1), PC_ERR_NOT_SUPPORTED);
    pc_array *a = NULL;
    double start_with[4] = {1, 2, 3, 4}, w[3] = {-1.5, 2.5, 1e300}, r[4] = {0};
    CHECK_OK(pc_manager_array(m, NULL, 'd', 4, start_with, &a));
    CHECK(pc_array_len(a) == 4);
    CHECK_OK(pc_array_write(a, 1, 3, w));
    CHECK_OK(pc_array_read(a, 0, 4, r));
    CHECK(r[0] == 1 && r[1] == -1.5 && r[2] == 2.5 && r[3] == 1e300);
    CHECK_STATUS(pc_array_write(a, 2, 3, w), PC_ERR_INDEX);

    /* The server killed: every call ends with PC_ERR_EOF, promptly. */
    CHECK(kill(server, SIGKILL) == 0);
    CHECK(server_gone_within(server, 2.0));
    t0 = now();
    CHECK_STATUS(pc_queue_get(q, -1.0, &got), PC_ERR_EOF);
    CHECK_STATUS(pc_lock_acquire(l, -1.0), PC_ERR_EOF);
    CHECK_STATUS(pc_value_get(v, &out), PC_ERR_EOF);
    CHECK_STATUS(pc_array_read(a, 0, 4, r), PC_ERR_EOF);
    CHECK(now() - t0 < 2.0);
    pc_queue_free(q);
    pc_lock_free(l);
    pc_value_free(v);
    pc_array_free(a);
    pc_manager_free(m);
    CHECK(wait_no_children(2.0));
}

/* ---- reference counts ---- */

static pc_manager *child_manager;

/* Makes a dict of its own, says so, and waits to be killed. */
static int target_make_and_wait(void *arg)
{
    (void)arg;
    pc_dict *d = NULL;
    if (pc_manager_dict(child_manager, NULL, &d) != PC_OK)
        return 1;
    if (pc_dict_set(d, pc_item_str("mine"), pc_item_int(1)) != PC_OK)
        return 2;
    if (!write_all(report_fd, "r", 1))
        return 3;
    sleep_s(20);
    return 4;
}

/* Uses the parent's dict (taking its own reference), says so, waits to be killed. */
static int target_use_and_wait(void *arg)
{
    pc_dict *d = arg;
    if (pc_dict_set(d, pc_item_str("used"), pc_item_int(1)) != PC_OK)
        return 2;
    if (!write_all(report_fd, "r", 1))
        return 3;
    sleep_s(20);
    return 4;
}

/* Makes objects and exits without freeing them. */
static int sub_make_and_exit(void *arg)
{
    pc_manager *m = arg;
    pc_dict *d = NULL;
    pc_list *l = NULL;
    if (pc_manager_dict(m, NULL, &d) != PC_OK || pc_manager_list(m, NULL, &l) != PC_OK)
        return 1;
    return 0;
}

static void killed_holder(pc_manager *m, pc_target_fn fn, void *arg, size_t during, size_t after)
{
    int fds[2];
    CHECK(pipe2(fds, O_CLOEXEC) == 0);
    report_fd = fds[1];
    pc_process *p = start(fn, arg);
    char c;
    if (!read_exact(fds[0], &c, 1, 20.0))
        FAIL("the child did not report (exit code %d)", finish(p, 5.0));
    close(fds[0]);
    close(fds[1]);
    report_fd = -1;
    CHECK(objects(m) == during);
    CHECK_OK(pc_process_kill(p));
    CHECK_OK(pc_process_join(p, 5.0));
    double t0 = now();
    size_t n = wait_objects(m, after, 2.0);
    if (n != after)
        FAIL("%zu objects 2 s after the holder was killed, expected %zu", n, after);
    fprintf(stderr, "   objects back to %zu %.3f s after the SIGKILL\n", after, now() - t0);
    pc_process_free(p);
}

static void test_refcount(void)
{
    pc_manager *m = started(NULL, NULL);
    size_t base = objects(m);
    CHECK(base == 0);

    pc_dict *d = new_dict(m, NULL);
    pc_list *l = new_list(m, NULL);
    pc_namespace *ns = new_namespace(m, NULL);
    pc_proxy *p = NULL;
    CHECK_OK(pc_manager_create(m, "dict", NULL, NULL, 0, &p));
    CHECK(objects(m) == base + 4);
    pc_dict_free(d);
    CHECK(objects(m) == base + 3);
    pc_list_free(l);
    pc_namespace_free(ns);
    pc_proxy_free(p);
    CHECK(objects(m) == base);

    /* A child holding the only handle is SIGKILLed: the object goes. */
    child_manager = m;
    killed_holder(m, target_make_and_wait, NULL, base + 1, base);
    /* A child holding a second reference is SIGKILLed: ours keeps the object. */
    d = new_dict(m, NULL);
    killed_holder(m, target_use_and_wait, d, base + 1, base + 1);
    DGET_IS(d, pc_item_str("used"), pc_item_int(1));
    pc_dict_free(d);
    CHECK(objects(m) == base);
    /* A plain child that exits without freeing what it made. */
    check_sub_ok(fork_sub(sub_make_and_exit, m), 20.0, "a child leaving its objects");
    CHECK(wait_objects(m, base, 2.0) == base);

    /* Many create/free cycles leave nothing behind. 10 000 is the goal; the loop stops
     * at a time budget so that the test stays bounded on a slow machine, and says how far
     * it got (at least 2 000). */
    int fds = count_open_fds();
    enum { CYCLES = 10000 };
    const double budget = 15.0;
    double t0 = now();
    int i;
    for (i = 0; i < CYCLES && now() - t0 < budget; i++) {
        pc_dict *c = NULL;
        int st = pc_manager_dict(m, NULL, &c);
        if (st != PC_OK)
            FAIL("cycle %d: pc_manager_dict: %s", i, pc_status_str(st));
        if (i % 100 == 0)
            DSET(c, pc_item_int(i), pc_item_int(i));
        pc_dict_free(c);
        if (i % 1000 == 999) {
            size_t n = objects(m);
            if (n != base)
                FAIL("%zu objects after %d create/free cycles, expected %zu", n, i + 1, base);
        }
    }
    double took = now() - t0;
    fprintf(stderr, "   %d dict create/free cycles in %.2f s (%.0f us each)%s\n", i, took,
            took / i * 1e6, i < CYCLES ? ": stopped by the time budget" : "");
    CHECK(i >= 2000);
    CHECK(objects(m) == base);
    CHECK(count_open_fds() == fds);
    pc_manager_free(m);
    CHECK(wait_no_children(2.0));
}

/* ---- custom types ---- */

/* What the server's C type does, seen from the test: the server is a forked child, so
 * this lives in shared memory made before it started. */
struct counters {
    atomic_int created;
    atomic_int destroyed;
    atomic_int hidden_ran;
    atomic_int in_call;
    atomic_int overlaps;
    atomic_int builder_status[4];
};

struct thing {
    int64_t value;
    int64_t counter;
};

static const char *const thing_exposed[] = {"f", "g", NULL};

static bool arg_is(const pc_item *a, const char *s)
{
    return a->kind == PC_KIND_STR && a->len == strlen(s) && memcmp(a->data, s, a->len) == 0;
}

static void *thing_create(const pc_item *args, size_t nargs, void *ctx)
{
    struct counters *c = ctx;
    if (nargs >= 1 && arg_is(&args[0], "null"))
        return NULL;
    struct thing *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    if (nargs >= 1 && args[0].kind == PC_KIND_INT)
        t->value = args[0].i;
    atomic_fetch_add(&c->created, 1);
    return t;
}

static int thing_call(void *obj, const char *method, const pc_item *args, size_t nargs,
                      pc_item_builder *b, void *ctx)
{
    struct thing *t = obj;
    struct counters *c = ctx;
    if (strcmp(method, "h") == 0) {
        atomic_fetch_add(&c->hidden_ran, 1);
        return 0;
    }
    if (strcmp(method, "f") == 0) { /* f(x) -> x; f() -> None; f(a, b, ...) -> nargs */
        if (nargs == 0)
            return 0;
        if (nargs == 1)
            return pc_item_builder_set(b, args[0]) == PC_OK ? 0 : 90;
        return pc_item_builder_set(b, pc_item_int((int64_t)nargs)) == PC_OK ? 0 : 91;
    }
    if (strcmp(method, "g") != 0 || nargs == 0)
        return 99;
    const pc_item *cmd = &args[0];
    if (arg_is(cmd, "fail")) {
        pc_item_builder_fail(b, "boom");
        return 42;
    }
    if (arg_is(cmd, "fail quietly"))
        return 7;
    if (arg_is(cmd, "value"))
        return pc_item_builder_set(b, pc_item_int(t->value)) == PC_OK ? 0 : 92;
    if (arg_is(cmd, "inc")) { /* not thread-safe on purpose: calls must come one at a time */
        if (atomic_fetch_add(&c->in_call, 1) != 0)
            atomic_fetch_add(&c->overlaps, 1);
        int64_t v = t->counter;
        usleep(200);
        t->counter = v + 1;
        atomic_fetch_sub(&c->in_call, 1);
        return pc_item_builder_set(b, pc_item_int(t->counter)) == PC_OK ? 0 : 93;
    }
    if (arg_is(cmd, "check")) { /* g("check", every item of all_items) -> True */
        pc_item want[MAX_ITEMS];
        int n = all_items(want);
        bool same = nargs == (size_t)n + 1;
        for (int i = 0; same && i < n; i++)
            same = tu_item_equal(&args[i + 1], &want[i]);
        return pc_item_builder_set(b, pc_item_bool(same)) == PC_OK ? 0 : 94;
    }
    if (arg_is(cmd, "misuse")) { /* the builder refuses bad input; the result stays None */
        atomic_store(&c->builder_status[0], pc_item_builder_set(b, item_raw(99, NULL, 0)));
        atomic_store(&c->builder_status[1], pc_item_builder_set(b, item_pickle(P_GARBAGE, 5)));
        atomic_store(&c->builder_status[2], pc_item_builder_fail(b, NULL));
        atomic_store(&c->builder_status[3], pc_item_builder_set(NULL, pc_item_none()));
        return 0;
    }
    if (arg_is(cmd, "set twice")) {
        pc_item_builder_set(b, pc_item_int(1));
        return pc_item_builder_set(b, pc_item_int(2)) == PC_OK ? 0 : 95;
    }
    if (arg_is(cmd, "big"))
        return pc_item_builder_set(b, pc_item_bytes(big, MIB)) == PC_OK ? 0 : 96;
    if (arg_is(cmd, "pickle"))
        return pc_item_builder_set(b, item_pickle(P_TUPLE, sizeof P_TUPLE)) == PC_OK ? 0 : 97;
    return 98;
}

static void thing_destroy(void *obj, void *ctx)
{
    struct counters *c = ctx;
    free(obj);
    atomic_fetch_add(&c->destroyed, 1);
}

static bool wait_count(atomic_int *n, int want, double timeout)
{
    double deadline = now() + timeout;
    while (atomic_load(n) != want) {
        if (now() >= deadline)
            return false;
        sleep_s(0.005);
    }
    return true;
}

struct inc_arg {
    pc_proxy *p;
    int failures;
};

static void *thread_inc(void *arg)
{
    struct inc_arg *a = arg;
    pc_item cmd = pc_item_str("inc");
    for (int i = 0; i < 50; i++) {
        if (pc_proxy_call(a->p, "g", &cmd, 1, NULL) != PC_OK) {
            a->failures++;
            fprintf(stderr, "   inc: %s\n", pc_last_error());
            return NULL;
        }
    }
    return NULL;
}

static int target_call_custom(void *arg)
{
    pc_proxy *p = arg;
    pc_item cmd = pc_item_str("inc");
    pc_item got = pc_item_none();
    if (pc_proxy_call(p, "g", &cmd, 1, &got) != PC_OK || got.kind != PC_KIND_INT)
        return 1;
    return 0;
}

static void test_custom_types(void)
{
    struct counters *c = shared_new(sizeof *c);
    pc_type_vtable thing = {thing_create, thing_call, thing_destroy, thing_exposed, c};
    pc_type_vtable minimal = {dummy_create, dummy_call, NULL, NULL, NULL};
    static const char *const only_m[] = {"m", NULL};
    static const char *const only_z[] = {"z", NULL};
    pc_type_vtable first = {dummy_create, dummy_call, NULL, only_m, NULL};
    pc_type_vtable second = {dummy_create, dummy_call, NULL, only_z, NULL};
    pc_manager *m = NULL;
    CHECK_OK(pc_manager_new(NULL, KEY, KEYLEN, &m));
    CHECK_OK(pc_manager_register(m, "Thing", &thing));
    CHECK_OK(pc_manager_register(m, "Minimal", &minimal));
    CHECK_OK(pc_manager_register(m, "Replaced", &first));
    CHECK_OK(pc_manager_register(m, "Replaced", &second));
    CHECK_OK(pc_manager_expose(m, "get_thing", "Thing", "the thing"));
    CHECK_OK(pc_manager_expose(m, "get_dict", "dict", "jobs"));
    /* The vtable was copied: changing ours afterwards changes nothing. */
    thing.call = NULL;
    pid_t server = start_server(m);
    size_t base = objects(m);

    pc_proxy *p = NULL;
    pc_item five = pc_item_int(5);
    CHECK_OK(pc_manager_create(m, "Thing", NULL, &five, 1, &p));
    CHECK(atomic_load(&c->created) == 1);
    CHECK(objects(m) == base + 1);
    pc_item cmd = pc_item_str("value");
    CALL_IS(p, "g", &cmd, 1, pc_item_int(5));

    /* Every kind through a C call, one at a time and all at once. */
    pc_item items[MAX_ITEMS + 1];
    int n = all_items(items + 1);
    for (int i = 1; i <= n; i++)
        CALL_IS(p, "f", &items[i], 1, items[i]);
    CALL_IS(p, "f", NULL, 0, pc_item_none());
    CALL_IS(p, "f", items + 1, 3, pc_item_int(3));
    items[0] = pc_item_str("check");
    CALL_IS(p, "g", items, (size_t)n + 1, pc_item_bool(true));
    pc_item pk = item_pickle(P_TUPLE, sizeof P_TUPLE);
    pc_item got = sentinel();
    CHECK_OK(pc_proxy_call(p, "f", &pk, 1, &got));
    CHECK(got.kind == PC_KIND_PICKLE);
    pc_item_release(&got);
    cmd = pc_item_str("pickle");
    CHECK_OK(pc_proxy_call(p, "g", &cmd, 1, &got));
    CHECK(got.kind == PC_KIND_PICKLE);
    pc_item_release(&got);
    cmd = pc_item_str("big");
    CALL_IS(p, "g", &cmd, 1, pc_item_bytes(big, MIB));
    cmd = pc_item_str("set twice");
    CALL_IS(p, "g", &cmd, 1, pc_item_int(2));
    cmd = pc_item_str("value");
    CHECK_OK(pc_proxy_call(p, "g", &cmd, 1, NULL)); /* result not wanted */

    /* The builder refuses bad input. */
    cmd = pc_item_str("misuse");
    CALL_IS(p, "g", &cmd, 1, pc_item_none());
    for (int i = 0; i < 4; i++)
        if (atomic_load(&c->builder_status[i]) != PC_ERR_INVALID_ARGUMENT)
            FAIL("builder misuse %d gave %d", i, atomic_load(&c->builder_status[i]));

    /* Methods not exposed: refused, never run. */
    got = sentinel();
    CHECK_STATUS(pc_proxy_call(p, "h", NULL, 0, &got), PC_ERR_NOT_SUPPORTED);
    CHECK_ERRMSG("pc_proxy_call");
    CHECK_ERRMSG("\"h\"");
    CHECK_STATUS(pc_proxy_call(p, "__getitem__", &five, 1, &got), PC_ERR_NOT_SUPPORTED);
    CHECK_STATUS(pc_proxy_call(p, "", NULL, 0, &got), PC_ERR_NOT_SUPPORTED);
    CHECK_STATUS(pc_proxy_call(p, "#GETVALUE", NULL, 0, &got), PC_ERR_NOT_SUPPORTED);
    CHECK_UNTOUCHED(got);
    CHECK(atomic_load(&c->hidden_ran) == 0);

    /* Failing calls: PC_ERR_REMOTE with the code and the message. */
    cmd = pc_item_str("fail");
    CHECK_STATUS(pc_proxy_call(p, "g", &cmd, 1, &got), PC_ERR_REMOTE);
    CHECK_ERRMSG("pc_proxy_call");
    CHECK_ERRMSG("boom");
    CHECK_ERRMSG("42");
    cmd = pc_item_str("fail quietly");
    CHECK_STATUS(pc_proxy_call(p, "g", &cmd, 1, &got), PC_ERR_REMOTE);
    CHECK_ERRMSG("7");
    cmd = pc_item_str("no such command");
    CHECK_STATUS(pc_proxy_call(p, "g", &cmd, 1, &got), PC_ERR_REMOTE);
    CHECK_ERRMSG("98");
    CHECK_UNTOUCHED(got);
    cmd = pc_item_str("value");
    CALL_IS(p, "g", &cmd, 1, pc_item_int(5)); /* the object is fine */

    /* Failing constructors: PC_ERR_REMOTE, nothing made. */
    pc_proxy *q = NULL;
    pc_item null = pc_item_str("null");
    CHECK_STATUS(pc_manager_create(m, "Thing", NULL, &null, 1, &q), PC_ERR_REMOTE);
    CHECK_ERRMSG("pc_manager_create");
    CHECK_ERRMSG("NULL");
    CHECK_STATUS(pc_manager_create(m, "NoSuchType", NULL, NULL, 0, &q), PC_ERR_REMOTE);
    CHECK_ERRMSG("NoSuchType");
    CHECK(q == NULL);
    CHECK(atomic_load(&c->created) == 1);
    CHECK(objects(m) == base + 1);

    /* One call at a time per object, from 4 threads. */
    pc_proxy *counter = NULL;
    CHECK_OK(pc_manager_create(m, "Thing", NULL, NULL, 0, &counter));
    pthread_t th[4];
    struct inc_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (struct inc_arg){counter, 0};
        CHECK(pthread_create(&th[i], NULL, thread_inc, &args[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        CHECK(pthread_join(th[i], NULL) == 0);
        CHECK(args[i].failures == 0);
    }
    cmd = pc_item_str("inc");
    CALL_IS(counter, "g", &cmd, 1, pc_item_int(201));
    CHECK(atomic_load(&c->overlaps) == 0);
    /* And from a child (its own reference). */
    CHECK(finish(start(target_call_custom, counter), 20.0) == 0);
    CALL_IS(counter, "g", &cmd, 1, pc_item_int(203));

    /* destroy runs when the last handle goes. */
    int destroyed = atomic_load(&c->destroyed);
    pc_proxy_free(counter);
    CHECK(wait_count(&c->destroyed, destroyed + 1, 2.0));
    pc_proxy_free(p);
    CHECK(wait_count(&c->destroyed, destroyed + 2, 2.0));
    CHECK(objects(m) == base);

    /* Types without methods, and a registration that replaced another. */
    CHECK_OK(pc_manager_create(m, "Minimal", NULL, NULL, 0, &q));
    CHECK_STATUS(pc_proxy_call(q, "m", NULL, 0, NULL), PC_ERR_NOT_SUPPORTED);
    pc_proxy_free(q);
    CHECK_OK(pc_manager_create(m, "Replaced", NULL, NULL, 0, &q));
    CHECK_STATUS(pc_proxy_call(q, "m", NULL, 0, NULL), PC_ERR_NOT_SUPPORTED);
    CHECK_OK(pc_proxy_call(q, "z", NULL, 0, NULL));
    pc_proxy_free(q);

    /* An exposed typeid gives the same object every time; so does a name. */
    int created = atomic_load(&c->created);
    pc_proxy *t1 = NULL, *t2 = NULL, *t3 = NULL;
    CHECK_OK(pc_manager_create(m, "get_thing", NULL, NULL, 0, &t1));
    CHECK_OK(pc_manager_create(m, "get_thing", NULL, NULL, 0, &t2));
    CHECK_OK(pc_manager_create(m, "Thing", "the thing", NULL, 0, &t3));
    CHECK(atomic_load(&c->created) == created + 1);
    CALL_IS(t1, "g", &cmd, 1, pc_item_int(1));
    CALL_IS(t2, "g", &cmd, 1, pc_item_int(2));
    CALL_IS(t3, "g", &cmd, 1, pc_item_int(3));
    pc_proxy_free(t1);
    pc_proxy_free(t2);
    pc_proxy_free(t3);
    CHECK(atomic_load(&c->destroyed) == destroyed + 2); /* named: kept */
    CHECK_OK(pc_manager_create(m, "get_thing", NULL, NULL, 0, &t1));
    CALL_IS(t1, "g", &cmd, 1, pc_item_int(4));
    pc_proxy_free(t1);

    /* pc_manager_expose(m, "get_dict", "dict", "jobs"): one dict, through every door. */
    pc_proxy *j1 = NULL, *j2 = NULL;
    CHECK_OK(pc_manager_create(m, "get_dict", NULL, NULL, 0, &j1));
    CHECK_OK(pc_manager_create(m, "get_dict", NULL, NULL, 0, &j2));
    pc_item kv[2] = {pc_item_str("k"), pc_item_int(1)};
    CHECK_OK(pc_proxy_call(j1, "__setitem__", kv, 2, NULL));
    CALL_IS(j2, "__getitem__", kv, 1, pc_item_int(1));
    CALL_IS(j2, "get", kv, 1, pc_item_int(1));
    CALL_IS(j1, "__len__", NULL, 0, pc_item_int(1));
    pc_item missing = pc_item_str("missing");
    CHECK_STATUS(pc_proxy_call(j2, "__getitem__", &missing, 1, &got), PC_ERR_KEY);
    CHECK_ERRMSG("missing");
    CHECK_STATUS(pc_proxy_call(j1, "no_such_method", NULL, 0, &got), PC_ERR_NOT_SUPPORTED);
    pc_dict *jobs = new_dict(m, "jobs");
    DGET_IS(jobs, pc_item_str("k"), pc_item_int(1));
    pc_proxy_free(j1);
    pc_proxy_free(j2);
    pc_dict_free(jobs);
    /* SyncManager's typeids through the generic call, with constructor arguments. */
    pc_item init = item_pickle(P_LIST, sizeof P_LIST); /* list([1]) */
    CHECK_OK(pc_manager_create(m, "list", NULL, &init, 1, &q));
    CALL_IS(q, "__len__", NULL, 0, pc_item_int(1));
    pc_item zero = pc_item_int(0);
    CALL_IS(q, "__getitem__", &zero, 1, pc_item_int(1));
    pc_proxy_free(q);

    /* At shutdown the server destroys what it still holds (the named thing). */
    CHECK_OK(pc_manager_shutdown(m));
    CHECK(server_gone_within(server, 2.0));
    CHECK(atomic_load(&c->destroyed) == atomic_load(&c->created));
    pc_manager_free(m);
    shared_free(c, sizeof *c);
    CHECK(wait_no_children(2.0));
}

/* ---- faults ---- */

static pc_status call_all_kinds(pc_dict *d, pc_list *l, pc_namespace *ns, pc_proxy *p, int which)
{
    pc_item out = sentinel();
    pc_item one = pc_item_int(1);
    bool flag = false;
    size_t n = 0;
    pc_item *keys = NULL, *vals = NULL;
    switch (which) {
    case 0: return pc_dict_set(d, one, one);
    case 1: return pc_dict_get(d, one, &out);
    case 2: return pc_dict_del(d, one);
    case 3: return pc_dict_pop(d, one, &out);
    case 4: return pc_dict_contains(d, one, &flag);
    case 5: return pc_dict_len(d, &n);
    case 6: return pc_dict_items(d, &keys, &vals, &n);
    case 7: return pc_dict_update(d, &one, &one, 1);
    case 8: return pc_dict_clear(d);
    case 9: return pc_list_append(l, one);
    case 10: return pc_list_insert(l, 0, one);
    case 11: return pc_list_set(l, 0, one);
    case 12: return pc_list_extend(l, &one, 1);
    case 13: return pc_list_get(l, 0, &out);
    case 14: return pc_list_pop(l, 0, &out);
    case 15: return pc_list_len(l, &n);
    case 16: return pc_list_clear(l);
    case 17: return pc_list_items(l, &keys, &n);
    case 18: return pc_namespace_set(ns, "a", one);
    case 19: return pc_namespace_get(ns, "a", &out);
    case 20: return pc_namespace_del(ns, "a");
    case 21: return pc_proxy_call(p, "__len__", NULL, 0, &out);
    default: return PC_OK;
    }
}
#define ALL_KINDS 22

static void test_server_killed(void)
{
    signal(SIGPIPE, SIG_DFL); /* a SIGPIPE would kill the test */
    pid_t server;
    pc_manager *m = started(NULL, &server);
    pc_dict *d = new_dict(m, NULL);
    pc_list *l = new_list(m, "named list");
    pc_namespace *ns = new_namespace(m, NULL);
    pc_proxy *p = NULL;
    CHECK_OK(pc_manager_create(m, "dict", NULL, NULL, 0, &p));
    for (int i = 0; i < ALL_KINDS; i++)
        call_all_kinds(d, l, ns, p, i); /* each proxy has its connection */
    DSET(d, pc_item_str("big"), pc_item_bytes(big, MIB));

    CHECK(kill(server, SIGKILL) == 0);
    CHECK(server_gone_within(server, 2.0));
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < ALL_KINDS; i++) {
            double t0 = now();
            int st = call_all_kinds(d, l, ns, p, i);
            double took = now() - t0;
            if (st != PC_ERR_EOF)
                FAIL("call %d after the server died returned %d (%s)", i, st, pc_status_str(st));
            if (took > 2.0)
                FAIL("call %d after the server died took %.2f s", i, took);
        }
        /* A big message into the void: still no SIGPIPE. */
        CHECK_STATUS(pc_dict_set(d, pc_item_str("big"), pc_item_bytes(big, MIB)), PC_ERR_EOF);
        size_t n;
        CHECK_STATUS(pc_manager_number_of_objects(m, &n), PC_ERR_EOF);
        pc_dict *d2 = NULL;
        CHECK_STATUS(pc_manager_dict(m, NULL, &d2), PC_ERR_EOF);
        CHECK_STATUS(pc_manager_dict(m, "named", &d2), PC_ERR_EOF);
        pc_proxy *p2 = NULL;
        CHECK_STATUS(pc_manager_create(m, "dict", NULL, NULL, 0, &p2), PC_ERR_EOF);
        CHECK(d2 == NULL && p2 == NULL);
    }
    /* A forked child's calls fail the same way. */
    child_dict = d;
    pc_process *c = start(target_set_in_child, (void *)"too late");
    CHECK(finish(c, 10.0) == 1);
    double t0 = now();
    CHECK_OK(pc_manager_shutdown(m)); /* gone already: what shutdown wanted */
    pc_dict_free(d);
    pc_list_free(l);
    pc_namespace_free(ns);
    pc_proxy_free(p);
    pc_manager_free(m);
    CHECK(now() - t0 < 2.0);
    CHECK(wait_pid_gone(server, 2.0));
    CHECK(wait_no_children(2.0));
}

/* A server started with pc_manager_start ends when its owner dies, however it dies. */
static int sub_start_and_report(void *arg)
{
    int fd = *(int *)arg;
    pc_manager *m = NULL;
    if (pc_manager_new(NULL, KEY, KEYLEN, &m) != PC_OK)
        return 1;
    pid_t before[8];
    int nb = manager_pids(before, 8);
    if (pc_manager_start(m) != PC_OK || nb != 0)
        return 2;
    pid_t pid;
    if (manager_pids(&pid, 1) != 1)
        return 3;
    if (!write_all(fd, &pid, sizeof pid))
        return 4;
    sleep_s(20);
    return 5;
}

static void test_owner_killed(void)
{
    int fds[2];
    CHECK(pipe2(fds, O_CLOEXEC) == 0);
    pid_t owner = fork_sub(sub_start_and_report, &fds[1]);
    close(fds[1]);
    pid_t server = 0;
    if (!read_exact(fds[0], &server, sizeof server, 20.0))
        FAIL("the owner did not report its server (%s)", status_text(wait_sub(owner, 5.0)));
    close(fds[0]);
    CHECK(pid_running(server));
    CHECK(kill(owner, SIGKILL) == 0);
    int st = wait_sub(owner, 5.0);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    if (!server_gone_within(server, 3.0))
        FAIL("the server %d of a SIGKILLed owner still runs after 3 s", (int)server);
}

/* A server ignores SIGINT (Ctrl-C in a terminal reaches the whole process group). */
static void test_server_ignores_sigint(void)
{
    pid_t server;
    pc_manager *m = started(NULL, &server);
    pc_dict *d = new_dict(m, NULL);
    CHECK(kill(server, SIGINT) == 0);
    sleep_s(0.2);
    CHECK(pid_running(server));
    DSET(d, pc_item_str("after SIGINT"), pc_item_none());
    pc_dict_free(d);
    pc_manager_free(m);
    CHECK(wait_pid_gone(server, 2.0));
}

/* ---- raw clients that misbehave ---- */

/* A request (ident, method, (args…), {}) pickled by hand, protocol 2; ident NULL: None. */
static size_t request(uint8_t *buf, const char *ident, const char *method, const char *arg)
{
    size_t n = 0;
    buf[n++] = 0x80;
    buf[n++] = 0x02;
    buf[n++] = '('; /* MARK */
    const char *strs[3] = {ident, method, NULL};
    for (int i = 0; i < 2; i++) {
        if (!strs[i]) {
            buf[n++] = 'N';
            continue;
        }
        uint32_t len = (uint32_t)strlen(strs[i]);
        buf[n++] = 'X';
        memcpy(buf + n, &len, 4); /* little-endian machine */
        n += 4;
        memcpy(buf + n, strs[i], len);
        n += len;
    }
    if (arg) {
        uint32_t len = (uint32_t)strlen(arg);
        buf[n++] = 'X';
        memcpy(buf + n, &len, 4);
        n += 4;
        memcpy(buf + n, arg, len);
        n += len;
        buf[n++] = 0x85; /* TUPLE1 */
    } else {
        buf[n++] = ')'; /* EMPTY_TUPLE */
    }
    buf[n++] = '}'; /* EMPTY_DICT */
    buf[n++] = 't'; /* TUPLE */
    buf[n++] = '.';
    return n;
}

static bool has(const pc_bytes *m, const char *s)
{
    return m->len >= strlen(s) && memmem(m->data, m->len, s, strlen(s)) != NULL;
}

/* Sends `len` bytes on a fresh authenticated connection and expects a reply holding
 * `want` (NULL: any reply, or none), then the server's close. */
static void one_shot_junk(const char *address, const void *msg, size_t len, const char *want,
                          const char *what)
{
    pc_connection *c = NULL;
    CHECK_OK(pc_client_connect(address, KEY, KEYLEN, &c));
    CHECK_OK(pc_connection_set_timeout(c, 5.0));
    CHECK_OK(pc_connection_send_bytes(c, msg, len));
    pc_bytes reply = {NULL, 0};
    int st = pc_connection_recv_bytes(c, 0, &reply);
    if (want) {
        if (st != PC_OK)
            FAIL("%s: no reply (%s)", what, pc_status_str(st));
        if (!has(&reply, want))
            FAIL("%s: the reply (%zu bytes) has no \"%s\"", what, reply.len, want);
    }
    if (st == PC_OK) {
        pc_bytes_free(&reply);
        st = pc_connection_recv_bytes(c, 0, &reply); /* then the server hangs up */
        if (st == PC_OK)
            pc_bytes_free(&reply);
    }
    if (st != PC_ERR_EOF && st != PC_ERR_PROTOCOL)
        FAIL("%s: after the reply: %d (%s), expected EOF", what, st, pc_status_str(st));
    pc_connection_free(c);
}

static void still_serves(pc_manager *m, pc_dict *d, int i)
{
    DSET(d, pc_item_int(i), pc_item_int(i));
    DGET_IS(d, pc_item_int(i), pc_item_int(i));
    pc_dict *fresh = new_dict(m, NULL);
    pc_dict_free(fresh);
}

static void test_bad_clients(void)
{
    signal(SIGPIPE, SIG_DFL);
    pid_t server;
    pc_manager *m = started("tcp://127.0.0.1:0", &server);
    const char *address = pc_manager_address(m);
    pc_dict *d = new_dict(m, NULL);
    size_t base = objects(m);
    uint8_t buf[512];
    int round = 0;

    one_shot_junk(address, P_GARBAGE, strlen(P_GARBAGE), "#TRACEBACK", "garbage");
    still_serves(m, d, round++);
    size_t len = request(buf, NULL, "dummy", NULL);
    one_shot_junk(address, buf, len / 2, "#TRACEBACK", "a truncated pickle");
    still_serves(m, d, round++);
    one_shot_junk(address, buf, 0, "#TRACEBACK", "an empty message");
    one_shot_junk(address, P_FIVE, sizeof P_FIVE, "#TRACEBACK", "a pickle that is not a request");
    one_shot_junk(address, P_TUPLE, sizeof P_TUPLE, "#TRACEBACK", "a tuple that is not a request");
    len = request(buf, NULL, "bogus_function", NULL);
    one_shot_junk(address, buf, len, "bogus_function", "an unknown function");
    len = request(buf, NULL, "decref", "no-such-id");
    one_shot_junk(address, buf, len, "#TRACEBACK", "decref of an unknown id");
    len = request(buf, NULL, "create", "NoSuchTypeid");
    one_shot_junk(address, buf, len, "NoSuchTypeid", "create of an unknown typeid");
    len = request(buf, NULL, "dummy", NULL);
    one_shot_junk(address, buf, len, "#RETURN", "a good dummy");
    still_serves(m, d, round++);
    /* A pickle of 100 000 nested lists, and 1 MiB of junk. */
    static uint8_t deep[2 + 2 * 100000 + 1];
    size_t k = 0;
    deep[k++] = 0x80;
    deep[k++] = 0x02;
    for (int i = 0; i < 100000; i++)
        deep[k++] = ']';
    for (int i = 0; i < 99999; i++)
        deep[k++] = 'a';
    deep[k++] = '.';
    one_shot_junk(address, deep, k, NULL, "deeply nested lists");
    still_serves(m, d, round++);
    one_shot_junk(address, big, MIB, NULL, "1 MiB of junk");
    still_serves(m, d, round++);
    /* A pickle that names a function to call: kept as data or refused, never run. */
    static const char code[] = "cos\nsystem\n(S'touch /tmp/pc-test-manager-pwned'\ntR.";
    one_shot_junk(address, code, strlen(code), "#TRACEBACK", "a pickle calling os.system");
    CHECK(access("/tmp/pc-test-manager-pwned", F_OK) != 0);

    /* On a channel (accept_connection): a bad request gets an error and the channel goes
     * on. */
    pc_connection *ch = NULL;
    CHECK_OK(pc_client_connect(address, KEY, KEYLEN, &ch));
    CHECK_OK(pc_connection_set_timeout(ch, 5.0));
    len = request(buf, NULL, "accept_connection", "raw client");
    CHECK_OK(pc_connection_send_bytes(ch, buf, len));
    pc_bytes reply = {NULL, 0};
    CHECK_OK(pc_connection_recv_bytes(ch, 0, &reply));
    CHECK(has(&reply, "#RETURN"));
    pc_bytes_free(&reply);
    const struct {
        const void *msg;
        size_t len;
        const char *want;
    } on_channel[] = {
        {P_GARBAGE, strlen(P_GARBAGE), "#TRACEBACK"},
        {P_FIVE, sizeof P_FIVE, "#TRACEBACK"},
        {buf, 0, "#TRACEBACK"},
    };
    for (size_t i = 0; i < sizeof on_channel / sizeof on_channel[0]; i++) {
        CHECK_OK(pc_connection_send_bytes(ch, on_channel[i].msg, on_channel[i].len));
        CHECK_OK(pc_connection_recv_bytes(ch, 0, &reply));
        CHECK(has(&reply, on_channel[i].want));
        pc_bytes_free(&reply);
    }
    len = request(buf, "no-such-object", "__len__", NULL);
    CHECK_OK(pc_connection_send_bytes(ch, buf, len));
    CHECK_OK(pc_connection_recv_bytes(ch, 0, &reply));
    CHECK(has(&reply, "#TRACEBACK") && has(&reply, "KeyError"));
    pc_bytes_free(&reply);
    len = request(buf, NULL, "dummy", NULL);
    CHECK_OK(pc_connection_send_bytes(ch, buf, len));
    CHECK_OK(pc_connection_recv_bytes(ch, 0, &reply));
    CHECK(has(&reply, "#RETURN"));
    pc_bytes_free(&reply);
    pc_connection_free(ch);
    still_serves(m, d, round++);

    /* A wrong key, and clients that leave during the handshake. */
    pc_connection *c = NULL;
    CHECK_STATUS(pc_client_connect(address, WRONG, strlen(WRONG), &c), PC_ERR_AUTH);
    CHECK(c == NULL);
    CHECK_OK(pc_client_connect(address, NULL, 0, &c)); /* no handshake on our side */
    pc_connection_free(c);
    CHECK_OK(pc_client_connect(address, NULL, 0, &c));
    CHECK_OK(pc_connection_send_bytes(c, "x", 1)); /* not an answer to the challenge */
    pc_connection_free(c);
    still_serves(m, d, round++);

    /* 20 idle authenticated connections do not hold up the others. */
    pc_connection *idle[20];
    for (int i = 0; i < 20; i++)
        CHECK_OK(pc_client_connect(address, KEY, KEYLEN, &idle[i]));
    still_serves(m, d, round++);
    for (int i = 0; i < 20; i++)
        pc_connection_free(idle[i]);

    CHECK(objects(m) == base);
    CHECK(pid_running(server));
    pc_dict_free(d);
    pc_manager_free(m);
    CHECK(wait_no_children(2.0));
}

/* ---- nothing left behind ---- */

/* Polls the number of open fds until it is `want` (-1: until two counts 50 ms apart
 * agree), at most `timeout` s; returns the last count. */
static int settled_fds(int want, double timeout)
{
    double t0 = now();
    int n = count_open_fds();
    for (;;) {
        if (n == want)
            break;
        sleep_s(0.05);
        int next = count_open_fds();
        if ((want < 0 && next == n) || now() - t0 >= timeout) {
            n = next;
            break;
        }
        n = next;
    }
    if (now() - t0 > 0.06)
        fprintf(stderr, "   the open fds settled at %d after %.0f ms\n", n, (now() - t0) * 1e3);
    return n;
}

static void test_nothing_left(void)
{
    /* Warm up what the library keeps for the process's life. */
    pc_manager *warm = started(NULL, NULL);
    pc_dict *wd = new_dict(warm, NULL);
    DSET(wd, pc_item_str("parent"), pc_item_str("here"));
    CHECK(finish(start(target_use_forked, wd), 20.0) == 0);
    pc_dict_free(wd);
    pc_manager_free(warm);
    CHECK(wait_no_children(2.0));

    /* A freed manager's server process object (its pidfd, and the child's end of the
     * socket pair it reported its address on) may be dropped a moment after
     * pc_manager_free returns, by the library's reaper thread: the counts below are
     * taken once that settled, and the last one waits for it (at most 1 s). */
    int settled = settled_fds(-1, 1.0);
    struct tu_resources before;
    resources_before(&before);
    CHECK(before.fds == settled);
    char path[PATH_MAX], address[PATH_MAX + 8];
    char *dir = temp_dir_new("pc-test-manager");
    snprintf(path, sizeof path, "%s/left.sock", dir);
    snprintf(address, sizeof address, "unix:%s", path);
    const char *addresses[] = {NULL, address, "tcp://127.0.0.1:0"};
    for (int i = 0; i < 6; i++) {
        pc_manager *m = started(addresses[i % 3], NULL);
        pc_manager *c = connected(pc_manager_address(m));
        pc_dict *d = new_dict(c, "d");
        pc_list *l = new_list(m, NULL);
        pc_namespace *ns = new_namespace(c, NULL);
        DSET(d, pc_item_int(i), pc_item_bytes(big, 1000));
        DSET(d, pc_item_str("parent"), pc_item_str("here"));
        CHECK_OK(pc_list_append(l, pc_item_int(i)));
        CHECK_OK(pc_namespace_set(ns, "i", pc_item_int(i)));
        CHECK(finish(start(target_use_forked, d), 20.0) == 0);
        pc_dict_free(d);
        pc_list_free(l);
        pc_namespace_free(ns);
        pc_manager_free(c);
        if (i % 2)
            CHECK_OK(pc_manager_shutdown(m));
        pc_manager_free(m);
    }
    CHECK(wait_no_children(2.0));
    temp_dir_free(dir); /* no socket file left */
    if (settled_fds(before.fds, 1.0) != before.fds) {
        char *fds = fd_listing();
        FAIL("%d fds open after the managers, %d before:\n%s", count_open_fds(), before.fds, fds);
    }
    check_resources_after(&before, 6, "managers");
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--named-client") == 0)
        return named_client(argv[2]);
    tu_init("test_manager", 115);
    tu_select(argc, argv);
    ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
    CHECK(n > 0);
    self_exe[n] = '\0';
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
    RUN(test_bad_arguments);
    RUN(test_dict_values);
    RUN(test_dict_keys);
    RUN(test_dict_operations);
    RUN(test_list_operations);
    RUN(test_namespace);
    RUN(test_named_objects);
    RUN(test_many_processes);
    RUN(test_fork_and_threads);
    RUN(test_fork_hands_references_over);
    RUN(test_server_fork_takes_no_references);
    RUN(test_managed_primitives);
    RUN(test_refcount);
    RUN(test_custom_types);
    RUN(test_server_killed);
    RUN(test_owner_killed);
    RUN(test_server_ignores_sigint);
    RUN(test_bad_clients);
    RUN(test_nothing_left);
    fprintf(stderr, "test_manager: %.1f s\n", now() - t0);
    return tu_done();
}
