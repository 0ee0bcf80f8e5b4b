/*
 * test_manager_faults.c: managers under faults (include/processing.h: pc_manager_*):
 * the server SIGKILLed (every call PC_ERR_EOF within 2 s, no SIGPIPE), its owner
 * SIGKILLed (the server goes), SIGINT ignored; raw clients that send garbage, truncated
 * or odd pickles, unknown functions and ids, or a wrong key (the server goes on serving
 * the others); nothing left behind: no child, no fd, no socket file.
 *
 * The other parts of the manager API are in the other test_manager_*.c; Python on the
 * other end is in test_manager_interop.c.
 *
 * `test_manager_faults NAME…` runs only the named subtests.
 *
 * ctest-timeout: 20
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
    tu_init("test_manager_faults", 15);
    tu_select(argc, argv);
    fill_pattern(big, MIB, 7);
    double t0 = now();
    RUN(test_server_killed);
    RUN(test_owner_killed);
    RUN(test_server_ignores_sigint);
    RUN(test_bad_clients);
    RUN(test_nothing_left);
    fprintf(stderr, "test_manager_faults: %.1f s\n", now() - t0);
    return tu_done();
}
