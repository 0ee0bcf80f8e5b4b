/*
 * test_manager_interop.c: managers against real Python (include/processing.h), with every one of
 * python3.11, python3.12 and python3.13 found on PATH (each absent one is skipped with a
 * message; without any, the test says so and passes). 3.11 authenticates with HMAC-MD5,
 * 3.12+ with {sha256}: both handshakes are covered in both roles.
 *
 * - A C server, Python clients: an unmodified SyncManager(address, authkey).connect()
 *   uses dict, list and Namespace proxies (iteration, KeyError, IndexError,
 *   AttributeError, Python's key equality, _getvalue, str, debug info, reference counts),
 *   the values the C side put in a named dict (exposed as get_shared) and values it
 *   cannot read (tuples, sets, big ints, complex…) that the C side copies back unchanged;
 *   a wrong authkey fails with AuthenticationError. In a second subtest, the SyncManager
 *   types the server holds for Python clients (Value, Lock, RLock, Event, Queue,
 *   Condition, Semaphore, Barrier, Array) and the docs' remote-manager recipe
 *   (register('get_queue') … get_queue().put('hello'), read back by another client).
 * - A Python server (SyncManager.get_server().serve_forever() with a pre-filled dict as
 *   get_shared and a queue as get_queue), C clients: pc_manager_connect, dict, list,
 *   Namespace, every item kind, Python's exceptions as statuses, the pre-filled values
 *   through pc_manager_create + pc_proxy_call, named objects refused, and
 *   pc_manager_shutdown ending the Python process.
 *
 * The peer is c-tests/peers/manager_peer.py (found through $PC_SOURCE_DIR); every wait
 * on it is bounded and it is killed on timeout.
 *
 * ctest-timeout: 180
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "manager_common.h"

#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char peer_script[PATH_MAX];

/* ---- Python interpreters ---- */

struct python {
    const char *name; /* python3.11 */
    const char *want; /* 3.11 */
    char path[PATH_MAX];
    bool usable;
};

static struct python pythons[] = {
    {"python3.11", "3.11", "", false},
    {"python3.12", "3.12", "", false},
    {"python3.13", "3.13", "", false},
};
#define NPYTHONS (sizeof pythons / sizeof pythons[0])

static bool find_in_path(const char *name, char *out, size_t cap)
{
    const char *path = getenv("PATH");
    if (!path)
        return false;
    char *copy = strdup(path);
    CHECK(copy != NULL);
    bool found = false;
    for (char *save = NULL, *dir = strtok_r(copy, ":", &save); dir && !found;
         dir = strtok_r(NULL, ":", &save)) {
        snprintf(out, cap, "%s/%s", dir, name);
        found = access(out, X_OK) == 0;
    }
    free(copy);
    return found;
}

/* A pyenv installation of `name` (python3.12 under $PYENV_ROOT/versions/3.12.x): a
 * pyenv shim on PATH runs only the versions pyenv has made active, the others exit 127. */
static bool find_in_pyenv(const char *name, const char *version, char *out, size_t cap)
{
    const char *root = getenv("PYENV_ROOT");
    const char *home = getenv("HOME");
    char pattern[PATH_MAX];
    if (root)
        snprintf(pattern, sizeof pattern, "%s/versions/%s.*/bin/%s", root, version, name);
    else if (home)
        snprintf(pattern, sizeof pattern, "%s/.pyenv/versions/%s.*/bin/%s", home, version, name);
    else
        return false;
    glob_t found;
    bool ok = glob(pattern, 0, NULL, &found) == 0 && found.gl_pathc > 0;
    if (ok) /* the newest: glob sorts */
        snprintf(out, cap, "%s", found.gl_pathv[found.gl_pathc - 1]);
    globfree(&found);
    return ok;
}

/* ---- running the peer ---- */

struct peer {
    pid_t pid;
    int out;   /* its stdout and stderr */
    int out_w; /* for the child */
    char *argv[16];
};

static int exec_peer(void *arg)
{
    struct peer *p = arg;
    if (dup2(p->out_w, 1) < 0 || dup2(p->out_w, 2) < 0)
        return 126;
    execv(p->argv[0], p->argv);
    return 127;
}

static char keyhex[2][256];

static const char *hex(const char *key, size_t len, int slot)
{
    char *out = keyhex[slot];
    out[0] = '\0';
    for (size_t i = 0; i < len; i++)
        sprintf(out + 2 * i, "%02x", (unsigned char)key[i]);
    if (len == 0)
        strcpy(out, "-");
    return out;
}

/* Runs `python args…` (NULL-terminated) with its output in p->out. */
static void peer_start_argv(struct peer *p, const char *python, const char *const *args)
{
    int fds[2];
    CHECK(pipe2(fds, O_CLOEXEC) == 0);
    *p = (struct peer){.out = fds[0], .out_w = fds[1]};
    int n = 0;
    p->argv[n++] = (char *)python;
    for (; args[n - 1] && n < 15; n++)
        p->argv[n] = (char *)args[n - 1];
    p->argv[n] = NULL;
    p->pid = fork_sub(exec_peer, p);
    close(fds[1]);
}

/* manager_peer.py MODE ADDRESS KEY [ROLE…] */
static void peer_start(struct peer *p, const struct python *py, const char *mode,
                       const char *address, const char *key, size_t keylen,
                       const char *const *roles)
{
    const char *args[16] = {peer_script, mode, address, hex(key, keylen, 0)};
    int n = 4;
    for (int i = 0; roles && roles[i] && n < 15; i++)
        args[n++] = roles[i];
    args[n] = NULL;
    peer_start_argv(p, py->path, args);
}

/* One line of the peer's output (without the newline), at most `timeout` s. */
static void peer_line(struct peer *p, char *line, size_t cap, double timeout)
{
    double deadline = now() + timeout;
    size_t n = 0;
    while (n + 1 < cap) {
        double left = deadline - now();
        char ch;
        if (left <= 0 || !read_exact(p->out, &ch, 1, left)) {
            line[n] = '\0';
            FAIL("no line from the Python peer (so far: \"%s\")", line);
        }
        if (ch == '\n')
            break;
        line[n++] = ch;
    }
    line[n] = '\0';
}

/* Waits (bounded) for the peer to end with exit status 0 and returns all it said. */
static const char *peer_finish(struct peer *p, double timeout)
{
    static char out[65536];
    read_until_eof(p->out, out, sizeof out, timeout);
    close(p->out);
    int st = wait_sub(p->pid, 10.0);
    if (!(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0))
        FAIL("the Python peer ended with %s; it said:\n%s", status_text(st), out);
    tu_checks++;
    return out;
}

/* Fails unless the peer said "OK <role>" for each role; names every failing one. */
static void check_roles(const char *out, const char *const *roles)
{
    char failed[4096] = "";
    size_t used = 0;
    for (int i = 0; roles[i]; i++) {
        char ok[96];
        snprintf(ok, sizeof ok, "\nOK %s\n", roles[i]);
        tu_checks++;
        /* The output starts with "PYTHON x.y.z\n", so every role line follows a newline. */
        if (!strstr(out, ok))
            used += (size_t)snprintf(failed + used, sizeof failed - used, " %s", roles[i]);
        if (used >= sizeof failed)
            break;
    }
    if (failed[0])
        FAIL("Python roles failed:%s\nthe peer said:\n%s", failed, out);
    if (!strstr(out, "\nDONE\n"))
        FAIL("the peer did not finish; it said:\n%s", out);
}

/* Runs a client peer with `roles` against `address` (`key`) and checks them all. */
static const char *run_client(const struct python *py, const char *address, const char *key,
                              size_t keylen, const char *const *roles)
{
    struct peer p;
    peer_start(&p, py, "client", address, key, keylen, roles);
    double t0 = now();
    const char *out = peer_finish(&p, 60.0);
    check_roles(out, roles);
    fprintf(stderr, "     %s:", py->name);
    for (int i = 0; roles[i]; i++)
        fprintf(stderr, " %s", roles[i]);
    fprintf(stderr, ": ok (%.2f s)\n", now() - t0);
    return out;
}

/* ---- items ---- */

/* 2**70 (LONG1). */
static const uint8_t P_2_70[] = {0x80, 0x02, 0x8a, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00,
                                 0x00, 0x00, 0x00, 0x40, 0x2e};
static const char UTF8_TEXT[] = "text \xc3\xa9\xe2\x9c\x93"; /* 'text é✓' */

/* The peer's SHARED values, as C items. */
struct shared_value {
    const char *key;
    pc_item item;
};

static int shared_values(struct shared_value *out)
{
    int n = 0;
    out[n++] = (struct shared_value){"str", pc_item_str(UTF8_TEXT)};
    out[n++] = (struct shared_value){"int", pc_item_int(42)};
    out[n++] = (struct shared_value){"neg", pc_item_int(INT64_MIN)};
    out[n++] = (struct shared_value){"float", pc_item_float(2.5)};
    out[n++] = (struct shared_value){"tuple", item_pickle(P_TUPLE, sizeof P_TUPLE)};
    out[n++] = (struct shared_value){"none", pc_item_none()};
    out[n++] = (struct shared_value){"bytes", pc_item_bytes("\x00\xff", 2)};
    out[n++] = (struct shared_value){"bool", pc_item_bool(true)};
    out[n++] = (struct shared_value){"big", item_pickle(P_2_70, sizeof P_2_70)};
    return n;
}

/* ---- a C server, Python clients ---- */

/* The FROM_PY values of the peer: those C reads, and those it keeps as pickles. */
static void copy_back_python_values(pc_dict *shared)
{
    static const char *const pickles[] = {"tuple", "list", "set", "frozenset", "big", "negbig",
                                          "dict", "bytearray", "complex"};
    for (size_t i = 0; i < sizeof pickles / sizeof pickles[0]; i++) {
        char from[64], to[64];
        snprintf(from, sizeof from, "from_py_%s", pickles[i]);
        snprintf(to, sizeof to, "c_copy_%s", pickles[i]);
        pc_item v = pc_item_none();
        CHECK_OK(pc_dict_get(shared, pc_item_str(from), &v));
        if (v.kind != PC_KIND_PICKLE)
            FAIL("the Python value %s came as %s, not a pickle", from, tu_item_text(&v));
        DSET(shared, pc_item_str(to), v);
        pc_item_release(&v);
    }
    DGET_IS(shared, pc_item_str("from_py_float"), pc_item_float(1.5));
    DGET_IS(shared, pc_item_str("from_py_str"), pc_item_str("py \xc3\xbc"));
    DSET(shared, pc_item_str("c_copy_float"), pc_item_float(1.5));
    DSET(shared, pc_item_str("c_copy_str"), pc_item_str("py \xc3\xbc"));
}

static void c_server_python_clients(const struct python *py)
{
    pc_manager *m = NULL;
    CHECK_OK(pc_manager_new("tcp://127.0.0.1:0", KEY, KEYLEN, &m));
    CHECK_OK(pc_manager_expose(m, "get_shared", "dict", "shared"));
    CHECK_OK(pc_manager_start(m));
    const char *address = pc_manager_address(m);
    pc_dict *shared = NULL;
    CHECK_OK(pc_manager_dict(m, "shared", &shared));
    struct shared_value sv[16];
    int n = shared_values(sv);
    for (int i = 0; i < n; i++)
        DSET(shared, pc_item_str(sv[i].key), sv[i].item);
    size_t base = objects(m);

    static const char *const roles[] = {"dict", "list", "namespace", "refcount", "debug",
                                        "shared_values", "py_values", NULL};
    run_client(py, address, KEY, KEYLEN, roles);
    /* What Python put there: read, and copied back for Python to compare. */
    copy_back_python_values(shared);
    static const char *const check[] = {"py_values_check", NULL};
    run_client(py, address, KEY, KEYLEN, check);
    /* A Python client with the wrong key is refused. */
    static const char *const auth[] = {"expect_auth_error", NULL};
    run_client(py, address, WRONG, strlen(WRONG), auth);

    /* The Python clients released everything they made when they exited. */
    size_t left = wait_objects(m, base, 2.0);
    if (left != base)
        FAIL("%zu objects after the Python clients exited, %zu before", left, base);
    pc_dict_free(shared);
    CHECK_OK(pc_manager_shutdown(m));
    pc_manager_free(m);
}

static void c_server_python_sync_types(const struct python *py)
{
    pc_manager *m = NULL;
    CHECK_OK(pc_manager_new("tcp://127.0.0.1:0", KEY, KEYLEN, &m));
    CHECK_OK(pc_manager_expose(m, "get_queue", "Queue", "q"));
    CHECK_OK(pc_manager_start(m));
    const char *address = pc_manager_address(m);
    size_t base = objects(m);
    static const char *const roles[] = {"value", "lock", "rlock", "event", "queue", "condition",
                                        "semaphore", "barrier", "array", NULL};
    run_client(py, address, KEY, KEYLEN, roles);
    /* The docs' remote-manager recipe: one client puts, another gets. */
    static const char *const put[] = {"get_queue_put", NULL};
    static const char *const get[] = {"get_queue_get", NULL};
    run_client(py, address, KEY, KEYLEN, put);
    run_client(py, address, KEY, KEYLEN, get);
    size_t left = wait_objects(m, base + 1, 2.0); /* the exposed queue lives on */
    if (left != base + 1)
        FAIL("%zu objects after the Python clients exited, expected %zu", left, base + 1);
    CHECK_OK(pc_manager_shutdown(m));
    pc_manager_free(m);
}

/* ---- a Python server, C clients ---- */

/* Starts the peer's server at `address` and returns the address it bound. */
static void python_server(struct peer *p, const struct python *py, const char *address,
                          char *bound, size_t cap)
{
    peer_start(p, py, "server", address, KEY, KEYLEN, NULL);
    char line[512];
    do
        peer_line(p, line, sizeof line, 20.0);
    while (strncmp(line, "PYTHON ", 7) == 0);
    if (strncmp(line, "ADDRESS ", 8) != 0 || strlen(line + 8) >= cap)
        FAIL("the Python server said \"%s\"", line);
    memcpy(bound, line + 8, strlen(line + 8) + 1);
}

/* Shuts the Python server down through `m` and waits for it to exit. */
static void shut_python_server(pc_manager *m, struct peer *p)
{
    double t0 = now();
    CHECK_OK(pc_manager_shutdown(m));
    const char *out = peer_finish(p, 10.0);
    if (!strstr(out, "SERVED"))
        FAIL("the Python server did not say SERVED; it said:\n%s", out);
    double took = now() - t0;
    if (took > 5.0)
        FAIL("the Python server took %.2f s to exit after shutdown", took);
    pc_manager_free(m);
}

static void c_client_dict(pc_manager *m)
{
    pc_dict *d = NULL;
    CHECK_OK(pc_manager_dict(m, NULL, &d));
    pc_item items[] = {pc_item_none(), pc_item_bool(true), pc_item_bool(false), pc_item_int(0),
                       pc_item_int(INT64_MIN), pc_item_int(INT64_MAX), pc_item_int(-65537),
                       pc_item_float(-0.0), pc_item_float(INFINITY), pc_item_float(NAN),
                       pc_item_float(1e-310), pc_item_bytes(NULL, 0), pc_item_bytes(big, MIB),
                       pc_item_str(""), pc_item_str(UTF8_TEXT), item_strn("a\0b", 3)};
    size_t n = sizeof items / sizeof items[0];
    for (size_t i = 0; i < n; i++) {
        char key[16];
        snprintf(key, sizeof key, "v%zu", i);
        DSET(d, pc_item_str(key), items[i]);
        DGET_IS(d, pc_item_str(key), items[i]);
    }
    size_t len = 0;
    CHECK_OK(pc_dict_len(d, &len));
    CHECK(len == n);
    pc_item *keys = NULL, *vals = NULL;
    size_t count = 0;
    CHECK_OK(pc_dict_items(d, &keys, &vals, &count));
    CHECK(count == n);
    for (size_t i = 0; i < count; i++)
        CHECK_ITEM(vals[i], items[i]);
    pc_items_release(keys, count);
    pc_items_release(vals, count);

    /* A tuple: a pickle, which stored again reads back unchanged, and which Python
     * compares by value. */
    DSET(d, pc_item_str("tuple"), item_pickle(P_TUPLE, sizeof P_TUPLE));
    pc_item t = pc_item_none();
    CHECK_OK(pc_dict_get(d, pc_item_str("tuple"), &t));
    CHECK(t.kind == PC_KIND_PICKLE);
    DSET(d, pc_item_str("tuple again"), t);
    DGET_IS(d, pc_item_str("tuple again"), t);
    DSET(d, t, pc_item_str("tuple key"));
    DGET_IS(d, item_pickle(P_TUPLE, sizeof P_TUPLE), pc_item_str("tuple key"));
    pc_item_release(&t);

    /* Python's rules, from Python itself. */
    DSET(d, pc_item_int(1), pc_item_str("one"));
    DGET_IS(d, pc_item_float(1.0), pc_item_str("one"));
    DGET_IS(d, pc_item_bool(true), pc_item_str("one"));
    pc_item out = pc_item_int(-777);
    CHECK_STATUS(pc_dict_get(d, pc_item_str("missing-key"), &out), PC_ERR_KEY);
    CHECK_ERRMSG("pc_dict_get");
    CHECK_ERRMSG("missing-key");
    CHECK(out.kind == PC_KIND_INT && out.i == -777);
    CHECK_STATUS(pc_dict_del(d, pc_item_str("missing-key")), PC_ERR_KEY);
    CHECK_STATUS(pc_dict_pop(d, pc_item_str("missing-key"), &out), PC_ERR_KEY);
    CHECK_STATUS(pc_dict_set(d, item_pickle(P_LIST, sizeof P_LIST), pc_item_int(1)), PC_ERR_TYPE);
    CHECK_ERRMSG("unhashable");
    CHECK_STATUS(pc_dict_get(d, item_pickle(P_LIST, sizeof P_LIST), &out), PC_ERR_TYPE);
    bool in = false;
    CHECK_OK(pc_dict_contains(d, pc_item_str("v0"), &in));
    CHECK(in);
    CHECK_OK(pc_dict_del(d, pc_item_str("v0")));
    CHECK_OK(pc_dict_contains(d, pc_item_str("v0"), &in));
    CHECK(!in);
    CHECK_OK(pc_dict_pop(d, pc_item_str("v1"), &out));
    CHECK_ITEM(out, pc_item_bool(true));
    pc_item ks[2] = {pc_item_str("u1"), pc_item_str("u2")};
    pc_item vs[2] = {pc_item_int(1), pc_item_int(2)};
    CHECK_OK(pc_dict_update(d, ks, vs, 2));
    DGET_IS(d, pc_item_str("u2"), pc_item_int(2));
    CHECK_OK(pc_dict_clear(d));
    CHECK_OK(pc_dict_len(d, &len));
    CHECK(len == 0);
    pc_dict_free(d);
}

static void c_client_list_namespace(pc_manager *m)
{
    pc_list *l = NULL;
    CHECK_OK(pc_manager_list(m, NULL, &l));
    CHECK_OK(pc_list_append(l, pc_item_int(1)));
    CHECK_OK(pc_list_append(l, pc_item_str("two")));
    pc_item more[2] = {pc_item_float(3.0), item_pickle(P_TUPLE, sizeof P_TUPLE)};
    CHECK_OK(pc_list_extend(l, more, 2));
    CHECK_OK(pc_list_insert(l, 0, pc_item_none()));
    CHECK_OK(pc_list_set(l, -1, pc_item_bool(false)));
    pc_item got = pc_item_int(-777);
    CHECK_OK(pc_list_get(l, -2, &got));
    CHECK_ITEM(got, pc_item_float(3.0));
    got = pc_item_int(-777);
    CHECK_STATUS(pc_list_get(l, 5, &got), PC_ERR_INDEX);
    CHECK_ERRMSG("pc_list_get");
    CHECK(got.kind == PC_KIND_INT && got.i == -777);
    CHECK_STATUS(pc_list_set(l, -6, pc_item_none()), PC_ERR_INDEX);
    pc_item *items = NULL;
    size_t count = 0;
    CHECK_OK(pc_list_items(l, &items, &count));
    pc_item want[] = {pc_item_none(), pc_item_int(1), pc_item_str("two"), pc_item_float(3.0),
                      pc_item_bool(false)};
    CHECK(count == 5);
    for (size_t i = 0; i < count && i < 5; i++)
        CHECK_ITEM(items[i], want[i]);
    pc_items_release(items, count);
    CHECK_OK(pc_list_pop(l, 0, &got));
    CHECK_ITEM(got, pc_item_none());
    CHECK_OK(pc_list_clear(l));
    size_t len = 9;
    CHECK_OK(pc_list_len(l, &len));
    CHECK(len == 0);
    CHECK_STATUS(pc_list_pop(l, -1, &got), PC_ERR_INDEX);
    pc_list_free(l);

    pc_namespace *ns = NULL;
    CHECK_OK(pc_manager_namespace(m, NULL, &ns));
    CHECK_OK(pc_namespace_set(ns, "x", pc_item_int(1)));
    CHECK_OK(pc_namespace_get(ns, "x", &got));
    CHECK_ITEM(got, pc_item_int(1));
    got = pc_item_int(-777);
    CHECK_STATUS(pc_namespace_get(ns, "missing_attr", &got), PC_ERR_KEY);
    CHECK_ERRMSG("missing_attr");
    CHECK_OK(pc_namespace_del(ns, "x"));
    CHECK_STATUS(pc_namespace_get(ns, "x", &got), PC_ERR_KEY);
    CHECK_STATUS(pc_namespace_del(ns, "x"), PC_ERR_KEY);
    pc_namespace_free(ns);
}

static void python_server_c_clients(const struct python *py)
{
    struct peer p;
    char address[256];
    python_server(&p, py, "tcp://127.0.0.1:0", address, sizeof address);
    CHECK(strncmp(address, "tcp://127.0.0.1:", 16) == 0);

    /* A wrong key first: refused, and the server goes on. */
    pc_manager *bad = NULL;
    CHECK_OK(pc_manager_new(address, WRONG, strlen(WRONG), &bad));
    CHECK_STATUS(pc_manager_connect(bad), PC_ERR_AUTH);
    CHECK_ERRMSG("pc_manager_connect");
    pc_manager_free(bad);

    pc_manager *m = NULL;
    CHECK_OK(pc_manager_new(address, KEY, KEYLEN, &m));
    CHECK_OK(pc_manager_connect(m));
    CHECK(strcmp(pc_manager_address(m), address) == 0);
    size_t base = objects(m);

    c_client_dict(m);
    c_client_list_namespace(m);

    /* A Python server has no named objects. */
    pc_dict *named = NULL;
    CHECK_STATUS(pc_manager_dict(m, "named", &named), PC_ERR_NOT_SUPPORTED);
    CHECK_ERRMSG("pc_manager_dict");
    CHECK(named == NULL);
    pc_list *nl = NULL;
    CHECK_STATUS(pc_manager_list(m, "named", &nl), PC_ERR_NOT_SUPPORTED);
    pc_proxy *np = NULL;
    CHECK_STATUS(pc_manager_create(m, "dict", "named", NULL, 0, &np), PC_ERR_NOT_SUPPORTED);
    CHECK(nl == NULL && np == NULL);
    /* An unknown typeid: the server's error. */
    CHECK_STATUS(pc_manager_create(m, "NoSuchTypeid", NULL, NULL, 0, &np), PC_ERR_REMOTE);
    CHECK_ERRMSG("NoSuchTypeid");

    /* The pre-filled values, through the typeid Python registered. */
    pc_proxy *shared = NULL, *again = NULL;
    CHECK_OK(pc_manager_create(m, "get_shared", NULL, NULL, 0, &shared));
    struct shared_value sv[16];
    int n = shared_values(sv);
    pc_dict *d = NULL;
    CHECK_OK(pc_manager_dict(m, NULL, &d));
    for (int i = 0; i < n; i++) {
        pc_item key = pc_item_str(sv[i].key);
        pc_item got = pc_item_int(-777);
        CHECK_OK(pc_proxy_call(shared, "get", &key, 1, &got));
        if (sv[i].item.kind == PC_KIND_PICKLE) {
            if (got.kind != PC_KIND_PICKLE)
                FAIL("the Python %s came as %s", sv[i].key, tu_item_text(&got));
            /* Stored in a Python dict and read back: unchanged. */
            DSET(d, key, got);
            DGET_IS(d, key, got);
            /* And equal, in Python, to the same value pickled by C. */
            DSET(d, got, pc_item_str(sv[i].key));
            DGET_IS(d, sv[i].item, pc_item_str(sv[i].key));
        } else {
            CHECK_ITEM(got, sv[i].item);
        }
        CALL_IS(shared, "__getitem__", &key, 1, got);
        pc_item_release(&got);
    }
    pc_item missing = pc_item_str("missing");
    pc_item out = pc_item_int(-777);
    CHECK_STATUS(pc_proxy_call(shared, "__getitem__", &missing, 1, &out), PC_ERR_KEY);
    CALL_IS(shared, "get", &missing, 1, pc_item_none());
    /* The same dict each time (Python's lambda returns one object). */
    CHECK_OK(pc_manager_create(m, "get_shared", NULL, NULL, 0, &again));
    pc_item kv[2] = {pc_item_str("from C"), pc_item_int(7)};
    CHECK_OK(pc_proxy_call(shared, "__setitem__", kv, 2, NULL));
    CALL_IS(again, "__getitem__", kv, 1, pc_item_int(7));
    CHECK_STATUS(pc_proxy_call(again, "not_exposed", NULL, 0, &out), PC_ERR_NOT_SUPPORTED);

    /* A Python queue through the generic call: queue.Empty is PC_ERR_EMPTY. */
    pc_proxy *q = NULL;
    CHECK_OK(pc_manager_create(m, "get_queue", NULL, NULL, 0, &q));
    pc_item job = pc_item_str("from C");
    CHECK_OK(pc_proxy_call(q, "put", &job, 1, NULL));
    CALL_IS(q, "qsize", NULL, 0, pc_item_int(1));
    CALL_IS(q, "get", NULL, 0, pc_item_str("from C"));
    CHECK_STATUS(pc_proxy_call(q, "get_nowait", NULL, 0, &out), PC_ERR_EMPTY);
    CHECK(out.kind == PC_KIND_INT && out.i == -777);

    pc_proxy_free(q);
    pc_proxy_free(shared);
    pc_proxy_free(again);
    pc_dict_free(d);
    /* Everything C made or took is released (the server keeps get_shared's dict and the
     * queue in its callables, not in its table). */
    size_t left = wait_objects(m, base, 2.0);
    if (left != base)
        FAIL("%zu objects after the C proxies were freed, %zu before", left, base);
    shut_python_server(m, &p);

    /* A unix abstract address too: connect, use, shut down. */
    char abstract[128];
    snprintf(abstract, sizeof abstract, "unix:@pc-test-manager-interop-%d", (int)getpid());
    python_server(&p, py, abstract, address, sizeof address);
    CHECK(strcmp(address, abstract) == 0);
    CHECK_OK(pc_manager_new(address, KEY, KEYLEN, &m));
    CHECK_OK(pc_manager_connect(m));
    CHECK_OK(pc_manager_dict(m, NULL, &d));
    DSET(d, pc_item_str("k"), pc_item_bytes(big, 1000));
    DGET_IS(d, pc_item_str("k"), pc_item_bytes(big, 1000));
    pc_dict_free(d);
    shut_python_server(m, &p);
}

/* ---- per interpreter ---- */

static int usable_pythons(void)
{
    int usable = 0;
    for (size_t i = 0; i < NPYTHONS; i++) {
        struct python *py = &pythons[i];
        if (!find_in_pyenv(py->name, py->want, py->path, sizeof py->path) &&
            !find_in_path(py->name, py->path, sizeof py->path)) {
            fprintf(stderr, "test_manager_interop: SKIP %s: not in pyenv nor PATH\n", py->name);
            continue;
        }
        /* It must run and be the version its name says. */
        struct peer p;
        const char *args[] = {"-c", "import sys; print('VERSION %d.%d' % sys.version_info[:2])", NULL};
        peer_start_argv(&p, py->path, args);
        char out[1024];
        read_until_eof(p.out, out, sizeof out, 20.0);
        close(p.out);
        int st = wait_sub(p.pid, 10.0);
        char want[32];
        snprintf(want, sizeof want, "VERSION %s\n", py->want);
        if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0 || !strstr(out, want)) {
            char *nl = strchr(out, '\n');
            if (nl)
                *nl = '\0';
            fprintf(stderr, "test_manager_interop: SKIP %s (%s): it does not run (%s: %s)\n",
                    py->name, py->path, status_text(st), out);
            continue;
        }
        py->usable = true;
        usable++;
    }
    return usable;
}

#define FOR_EACH_PYTHON(body)                                                                \
    for (size_t pi_ = 0; pi_ < NPYTHONS; pi_++) {                                            \
        const struct python *py = &pythons[pi_];                                             \
        if (!py->usable)                                                                     \
            continue;                                                                        \
        fprintf(stderr, "   %s\n", py->name);                                                \
        body;                                                                                \
    }

static void test_c_server_python_clients(void)
{
    FOR_EACH_PYTHON(c_server_python_clients(py));
}

static void test_c_server_python_sync_types(void)
{
    FOR_EACH_PYTHON(c_server_python_sync_types(py));
}

static void test_python_server_c_clients(void)
{
    FOR_EACH_PYTHON(python_server_c_clients(py));
}

int main(int argc, char **argv)
{
    tu_init("test_manager_interop", 175);
    tu_select(argc, argv);
    const char *src = getenv("PC_SOURCE_DIR");
    if (src) {
        snprintf(peer_script, sizeof peer_script, "%s/c-tests/peers/manager_peer.py", src);
    } else { /* run by hand: next to this file */
        snprintf(peer_script, sizeof peer_script, "%s", __FILE__);
        char *slash = strrchr(peer_script, '/');
        snprintf(slash ? slash : peer_script,
                 sizeof peer_script - (size_t)(slash ? slash - peer_script : 0), "%s",
                 slash ? "/peers/manager_peer.py" : "peers/manager_peer.py");
    }
    if (access(peer_script, R_OK) != 0)
        FAIL("cannot find %s (set PC_SOURCE_DIR)", peer_script);
    if (usable_pythons() == 0) {
        fprintf(stderr, "test_manager_interop: SKIP: none of python3.11, python3.12, "
                        "python3.13 runs here\n");
        return tu_done();
    }
    fill_pattern(big, MIB, 11);
    double t0 = now();
    RUN(test_c_server_python_clients);
    RUN(test_c_server_python_sync_types);
    RUN(test_python_server_c_clients);
    fprintf(stderr, "test_manager_interop: %.1f s\n", now() - t0);
    return tu_done();
}
