/*
 * test_manager_netns.c: managers across hosts (include/processing.h). The server and its
 * clients are in two network namespaces joined by a veth pair, so every call crosses a
 * real (if virtual) link: the server's namespace A has 10.243.117.1/30 on its end, the
 * clients' namespace B has 10.243.117.2/30 on the other, and neither has any other
 * interface than its own loopback, nor a route anywhere else.
 *
 * How the namespaces are made: the test process itself calls unshare(CLONE_NEWNET) twice,
 * keeps a descriptor of each new namespace and goes back to its own with setns(2) (the
 * network namespace is a property of the calling thread). The namespaces have no name
 * (nothing in /run/netns): they live while a process is in them or this process holds
 * their descriptors, so whatever happens to the test (a failed check, SIGKILL from a
 * ctest timeout) the kernel removes them, and the veth pair with them, once the test's
 * processes are gone. `ip` (iproute2) makes the veth pair inside A, with its peer put
 * straight into B, and sets the addresses: a forked child enters the namespace and
 * execs it; the test's own namespace is never touched (it checks so at the end). The
 * main thread then lives in B, as the clients' host, and enters A only to start a
 * server (pc_manager_start forks the server from the calling thread, so it is in A).
 *
 * Skipped (exit status 77) when not root, without `ip`, or when the namespaces or the
 * veth pair cannot be made (a container without CAP_NET_ADMIN, a kernel without veth).
 *
 * - dict, list, queue and lock proxies of clients in B on a server in A, including a
 *   1 MiB value, and the loopback-only check: B has no route out;
 * - concurrent clients: 4 processes of 4 threads each on one named dict, and a counter
 *   they increment under one managed lock;
 * - a client killed with SIGKILL while it holds objects and the lock: the server drops
 *   its references and releases the lock;
 * - a server killed with SIGKILL: a dict call and a blocked queue get fail with
 *   PC_ERR_EOF at once, and a new connection is refused;
 * - a link cut under a client blocked in a queue get (the veth pair deleted: no FIN or
 *   RST ever comes back): the get fails with PC_ERR_EOF in bounded time;
 * - a Python client (python3's SyncManager, with the authkey) on the C server across the
 *   link, through c-tests/peers/manager_peer.py; skipped with a message without python3.
 *
 * ctest-timeout: 180
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "manager_common.h"

#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sched.h>
#include <sys/socket.h>

#define ADDR_A "10.243.117.1"
#define ADDR_B "10.243.117.2"
#define VETH_A "pcnsA"
#define VETH_B "pcnsB"
#define SERVER_ADDRESS "tcp://" ADDR_A ":0"

/* The namespaces: the test's own, the server's (A) and the clients' (B). */
static int ns_host = -1, ns_a = -1, ns_b = -1;
static char ip_path[PATH_MAX];

static void enter(int ns)
{
    CHECK(setns(ns, CLONE_NEWNET) == 0);
}

/* ---- making the link ---- */

/* A program to run in a sub-process: argv[0] found as execvp does. */
struct run {
    int ns;  /* the namespace it enters first; -1: the caller's */
    int out; /* its stdout and stderr; -1: the caller's */
    char *argv[16];
};

static int exec_run(void *arg)
{
    const struct run *r = arg;
    if (r->ns >= 0 && setns(r->ns, CLONE_NEWNET) != 0)
        return 126;
    if (r->out >= 0 && (dup2(r->out, 1) < 0 || dup2(r->out, 2) < 0))
        return 126;
    execvp(r->argv[0], r->argv);
    return 127;
}

/* Runs `ip args…` (NULL-terminated) in namespace `ns`; whether it exited with 0. */
static bool ip_in(int ns, const char *const *args)
{
    struct run r = {ns, -1, {ip_path}};
    for (int i = 0; args[i] && i < 14; i++)
        r.argv[i + 1] = (char *)args[i];
    int st = wait_sub(fork_sub(exec_run, &r), 20.0);
    return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static bool find_ip(void)
{
    static const char *const dirs[] = {"/usr/sbin", "/sbin", "/usr/bin", "/bin"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(ip_path, sizeof ip_path, "%s/ip", dirs[i]);
        if (access(ip_path, X_OK) == 0)
            return true;
    }
    return false;
}

static int make_namespace(void)
{
    if (unshare(CLONE_NEWNET) != 0)
        return -1;
    return open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
}

static ino_t ns_inode(int fd)
{
    struct stat st;
    CHECK(fstat(fd, &st) == 0);
    return st.st_ino;
}

/* The veth pair, made in A with its peer moved to B, addressed and up on both sides. */
static bool make_link(void)
{
    char b_path[64];
    snprintf(b_path, sizeof b_path, "/proc/%d/fd/%d", (int)getpid(), ns_b);
    const char *const add[] = {"link", "add", VETH_A, "type", "veth", "peer", "name",
                               VETH_B, "netns", b_path, NULL};
    const char *const addr_a[] = {"addr", "add", ADDR_A "/30", "dev", VETH_A, NULL};
    const char *const addr_b[] = {"addr", "add", ADDR_B "/30", "dev", VETH_B, NULL};
    const char *const up_a[] = {"link", "set", VETH_A, "up", NULL};
    const char *const up_b[] = {"link", "set", VETH_B, "up", NULL};
    const char *const lo[] = {"link", "set", "lo", "up", NULL};
    return ip_in(ns_a, add) && ip_in(ns_a, addr_a) && ip_in(ns_b, addr_b) &&
           ip_in(ns_a, up_a) && ip_in(ns_b, up_b) && ip_in(ns_a, lo) && ip_in(ns_b, lo);
}

/* Makes both namespaces and the link; false (with a message) when this system cannot. */
static bool setup(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "test_manager_netns: SKIP: needs root (network namespaces)\n");
        return false;
    }
    if (!find_ip()) {
        fprintf(stderr, "test_manager_netns: SKIP: no ip (iproute2)\n");
        return false;
    }
    ns_host = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    CHECK(ns_host >= 0);
    ns_a = make_namespace();
    ns_b = ns_a >= 0 ? make_namespace() : -1;
    int err = errno;
    enter(ns_host);
    if (ns_a < 0 || ns_b < 0) {
        fprintf(stderr, "test_manager_netns: SKIP: unshare(CLONE_NEWNET): %s\n",
                strerror(err));
        return false;
    }
    CHECK(ns_inode(ns_a) != ns_inode(ns_host) && ns_inode(ns_b) != ns_inode(ns_host));
    CHECK(ns_inode(ns_a) != ns_inode(ns_b));
    if (!make_link()) {
        fprintf(stderr, "test_manager_netns: SKIP: cannot make the veth pair\n");
        return false;
    }
    enter(ns_b);
    return true;
}

/* The test's own namespace never had an end of the pair. */
static void check_host_untouched(void)
{
    enter(ns_host);
    CHECK(if_nametoindex(VETH_A) == 0);
    CHECK(if_nametoindex(VETH_B) == 0);
}

/* ---- helpers ---- */

/* A manager started in A on the veth address; *pid its server. */
static pc_manager *server_in_a(pid_t *pid)
{
    enter(ns_a);
    pc_manager *m = started(SERVER_ADDRESS, pid);
    enter(ns_b);
    CHECK(strncmp(pc_manager_address(m), "tcp://" ADDR_A ":", strlen("tcp://" ADDR_A ":")) == 0);
    return m;
}

static pc_queue *new_queue(pc_manager *m, const char *name)
{
    pc_queue *q = NULL;
    CHECK_OK(pc_manager_queue(m, name, 0, &q));
    return q;
}

static pc_lock *new_lock(pc_manager *m, const char *name)
{
    pc_lock *l = NULL;
    CHECK_OK(pc_manager_lock(m, name, &l));
    return l;
}

/* B reaches A over the link, and nothing else: no route to any other network. */
static void check_loopback_only(void)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(s >= 0);
    struct sockaddr_in out = {.sin_family = AF_INET, .sin_port = htons(80)};
    CHECK(inet_pton(AF_INET, "192.0.2.1", &out.sin_addr) == 1);
    CHECK(connect(s, (struct sockaddr *)&out, sizeof out) != 0 && errno == ENETUNREACH);
    close(s);
}

/* ---- dict, list, queue, lock across the link ---- */

static void test_proxies_across_the_link(void)
{
    check_loopback_only();
    pc_manager *srv = server_in_a(NULL);
    pc_manager *m = connected(pc_manager_address(srv));
    size_t base = objects(m);

    pc_dict *d = new_dict(m, NULL);
    pc_item items[MAX_ITEMS];
    int n = all_items(items);
    for (int i = 0; i < n; i++)
        DSET(d, pc_item_int(i), items[i]);
    for (int i = 0; i < n; i++)
        DGET_IS(d, pc_item_int(i), items[i]);
    CHECK(dict_len(d) == (size_t)n);

    pc_list *l = new_list(m, "list");
    pc_item three[] = {pc_item_int(1), pc_item_str("two"), pc_item_float(3.0)};
    CHECK_OK(pc_list_extend(l, three, 3));
    CHECK_OK(pc_list_append(l, pc_item_bytes(big, MIB)));
    CHECK(list_len(l) == 4);
    LGET_IS(l, 1, pc_item_str("two"));
    LGET_IS(l, -1, pc_item_bytes(big, MIB));

    pc_queue *q = new_queue(m, NULL);
    CHECK_OK(pc_queue_put(q, "over the link", 13, 5.0));
    pc_bytes got = {0};
    CHECK_OK(pc_queue_get(q, 5.0, &got));
    CHECK(got.len == 13 && memcmp(got.data, "over the link", 13) == 0);
    pc_bytes_free(&got);
    CHECK_STATUS(pc_queue_get(q, 0.2, &got), PC_ERR_EMPTY);

    /* The lock is the server's: a second client (the server's own handle) sees it held. */
    pc_lock *lock = new_lock(m, "lock");
    pc_lock *other = new_lock(srv, "lock");
    CHECK_OK(pc_lock_acquire(lock, 5.0));
    CHECK_STATUS(pc_lock_acquire(other, 0.2), PC_ERR_TIMEOUT);
    CHECK_OK(pc_lock_release(lock));
    CHECK_OK(pc_lock_acquire(other, 5.0));
    CHECK_OK(pc_lock_release(other));

    pc_dict_free(d);
    pc_queue_free(q);
    CHECK(wait_objects(m, base + 2, 5.0) == base + 2); /* the named list and lock stay */
    pc_lock_free(other);
    pc_lock_free(lock);
    pc_list_free(l);
    pc_manager_free(m);
    CHECK_OK(pc_manager_shutdown(srv));
    pc_manager_free(srv);
}

/* ---- concurrent clients ---- */

enum { CLIENTS = 4, INCREMENTS = 50 };

static pc_dict *shared_dict;
static pc_lock *shared_lock;

static int target_client(void *arg)
{
    (void)arg;
    if (use_from_threads(shared_dict) != 0)
        return 1;
    for (int i = 0; i < INCREMENTS; i++) {
        pc_item got = pc_item_none();
        if (pc_lock_acquire(shared_lock, 20.0) != PC_OK)
            return 2;
        if (pc_dict_get(shared_dict, pc_item_str("counter"), &got) != PC_OK ||
            got.kind != PC_KIND_INT)
            return 3;
        if (pc_dict_set(shared_dict, pc_item_str("counter"), pc_item_int(got.i + 1)) != PC_OK)
            return 4;
        if (pc_lock_release(shared_lock) != PC_OK)
            return 5;
    }
    return 0;
}

static void test_concurrent_clients(void)
{
    pc_manager *srv = server_in_a(NULL);
    pc_manager *m = connected(pc_manager_address(srv));
    shared_dict = new_dict(m, "shared");
    shared_lock = new_lock(m, "counter lock");
    DSET(shared_dict, pc_item_str("counter"), pc_item_int(0));

    pc_process *ps[CLIENTS];
    for (int c = 0; c < CLIENTS; c++)
        ps[c] = start(target_client, NULL);
    for (int c = 0; c < CLIENTS; c++)
        CHECK(finish(ps[c], 90.0) == 0);
    /* Every thread's keys, and every increment: none lost, none doubled. */
    CHECK(dict_len(shared_dict) == 1 + (size_t)CLIENTS * THREADS * THREAD_OPS);
    DGET_IS(shared_dict, pc_item_str("counter"), pc_item_int(CLIENTS * INCREMENTS));

    pc_lock_free(shared_lock);
    pc_dict_free(shared_dict);
    pc_manager_free(m);
    CHECK_OK(pc_manager_shutdown(srv));
    pc_manager_free(srv);
}

/* ---- a client killed mid-use ---- */

static const char *victim_address;

/* Connects over the link, makes three objects, takes the lock, says so, and waits to be
 * killed (bounded). */
static int target_victim(void *arg)
{
    int fd = *(int *)arg;
    pc_manager *m = NULL;
    pc_dict *d = NULL;
    pc_list *l = NULL;
    pc_queue *q = NULL;
    pc_lock *lock = NULL;
    if (pc_manager_new(victim_address, KEY, KEYLEN, &m) != PC_OK || pc_manager_connect(m) != PC_OK)
        return 1;
    if (pc_manager_dict(m, NULL, &d) != PC_OK || pc_manager_list(m, NULL, &l) != PC_OK ||
        pc_manager_queue(m, NULL, 0, &q) != PC_OK || pc_manager_lock(m, "held", &lock) != PC_OK)
        return 2;
    if (pc_dict_set(d, pc_item_str("k"), pc_item_int(1)) != PC_OK ||
        pc_lock_acquire(lock, 10.0) != PC_OK)
        return 3;
    if (!write_str(fd, "ready"))
        return 4;
    for (;;) /* in use until killed */
        if (pc_dict_set(d, pc_item_str("k"), pc_item_int(2)) != PC_OK)
            return 5;
}

static void test_killed_client_is_dropped(void)
{
    pc_manager *srv = server_in_a(NULL);
    victim_address = pc_manager_address(srv);
    pc_lock *lock = new_lock(srv, "held");
    size_t base = objects(srv);

    int fds[2];
    CHECK(pipe2(fds, O_CLOEXEC) == 0);
    pid_t victim = fork_sub(target_victim, &fds[1]);
    close(fds[1]);
    char said[8] = "";
    CHECK(read_exact(fds[0], said, 5, 30.0) && memcmp(said, "ready", 5) == 0);
    close(fds[0]);
    CHECK(objects(srv) == base + 3);
    CHECK_STATUS(pc_lock_acquire(lock, 0.2), PC_ERR_TIMEOUT);

    CHECK(kill(victim, SIGKILL) == 0);
    int st = wait_sub(victim, 10.0);
    CHECK(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    /* Its connections ended over the link: its objects go, its lock is released. */
    CHECK(wait_objects(srv, base, 10.0) == base);
    CHECK_OK(pc_lock_acquire(lock, 10.0));
    CHECK_OK(pc_lock_release(lock));

    pc_lock_free(lock);
    CHECK_OK(pc_manager_shutdown(srv));
    pc_manager_free(srv);
}

/* ---- a server that goes away ---- */

struct getter {
    pthread_t thread;
    pc_queue *q;
    int status;
    double took;
};

static void *blocked_get(void *arg)
{
    struct getter *g = arg;
    double t0 = now();
    pc_bytes got = {0};
    g->status = pc_queue_get(g->q, PC_FOREVER, &got);
    g->took = now() - t0;
    pc_bytes_free(&got);
    return NULL;
}

static void test_killed_server_is_noticed(void)
{
    pid_t pid = 0;
    pc_manager *srv = server_in_a(&pid);
    char address[128];
    snprintf(address, sizeof address, "%s", pc_manager_address(srv));
    pc_manager *m = connected(address);
    pc_dict *d = new_dict(m, NULL);
    DSET(d, pc_item_str("k"), pc_item_int(1));
    struct getter g = {.q = new_queue(m, NULL)};
    CHECK(pthread_create(&g.thread, NULL, blocked_get, &g) == 0);
    sleep_s(0.3); /* it waits in the server */

    double t0 = now();
    CHECK(kill(pid, SIGKILL) == 0);
    CHECK(server_gone_within(pid, 10.0));
    pthread_join(g.thread, NULL);
    CHECK_STATUS(g.status, PC_ERR_EOF);
    CHECK_STATUS(pc_dict_get(d, pc_item_str("k"), &(pc_item){0}), PC_ERR_EOF);
    CHECK(now() - t0 < 10.0); /* no wait for a timeout: the kernel ended the connections */
    pc_manager *again = NULL;
    CHECK_OK(pc_manager_new(address, KEY, KEYLEN, &again));
    CHECK_STATUS(pc_manager_connect(again), PC_ERR_EOF);
    pc_manager_free(again);

    pc_queue_free(g.q);
    pc_dict_free(d);
    pc_manager_free(m);
    pc_manager_free(srv);
}

static void test_cut_link_is_noticed(void)
{
    pc_manager *srv = server_in_a(NULL);
    pc_manager *m = connected(pc_manager_address(srv));
    struct getter g = {.q = new_queue(m, NULL)};
    CHECK_OK(pc_queue_put(g.q, "x", 1, 5.0));
    pc_bytes got = {0};
    CHECK_OK(pc_queue_get(g.q, 5.0, &got)); /* this thread's channel is open */
    pc_bytes_free(&got);
    pc_dict *d = new_dict(m, NULL);
    DSET(d, pc_item_str("k"), pc_item_int(1));

    CHECK(pthread_create(&g.thread, NULL, blocked_get, &g) == 0);
    sleep_s(0.3);
    /* Deleting one end deletes the pair: packets are lost, no FIN or RST comes back. */
    const char *const del[] = {"link", "del", VETH_A, NULL};
    CHECK(ip_in(ns_a, del));
    pthread_join(g.thread, NULL);
    CHECK_STATUS(g.status, PC_ERR_EOF);
    /* Bounded: the server's slice of the wait, then the library's grace for a reply. */
    fprintf(stderr, "     blocked get ended %.1f s after it began\n", g.took);
    CHECK(g.took < 30.0);
    /* A plain call, which waits for its reply without limit: its request is never
     * acknowledged, and the watch the library sets on a manager's TCP connections ends
     * the connection (TCP would retry for about 15 minutes). */
    double t1 = now();
    CHECK_STATUS(pc_dict_get(d, pc_item_str("k"), &(pc_item){0}), PC_ERR_EOF);
    fprintf(stderr, "     plain call ended %.1f s after it began\n", now() - t1);
    CHECK(now() - t1 < 30.0);

    pc_dict_free(d);
    pc_queue_free(g.q);
    pc_manager_free(m);
    CHECK_OK(pc_manager_shutdown(srv)); /* its own process: it ends it */
    pc_manager_free(srv);
    CHECK(make_link()); /* for the subtests after this one */
}

/* ---- a Python client ---- */

static void test_python_client(void)
{
    const char *src = getenv("PC_SOURCE_DIR");
    CHECK(src != NULL);
    char script[PATH_MAX], keyhex[2 * sizeof KEY + 1] = "";
    snprintf(script, sizeof script, "%s/c-tests/peers/manager_peer.py", src);
    for (size_t i = 0; i < KEYLEN; i++)
        sprintf(keyhex + 2 * i, "%02x", (unsigned char)KEY[i]);

    pc_manager *srv = server_in_a(NULL);
    size_t base = objects(srv);
    int fds[2];
    CHECK(pipe2(fds, O_CLOEXEC) == 0);
    struct run r = {-1, fds[1], {"python3", script, "client", (char *)pc_manager_address(srv),
                                 keyhex, "dict", "list", "queue", "lock", NULL}};
    pid_t pid = fork_sub(exec_run, &r); /* in B, as this thread */
    close(fds[1]);
    char out[8192];
    size_t said = read_until_eof(fds[0], out, sizeof out, 60.0);
    close(fds[0]);
    int st = wait_sub(pid, 10.0);
    if (said == 0 && st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 127) {
        fprintf(stderr, "test_manager_netns: SKIP the Python client: no python3 on PATH\n");
        CHECK_OK(pc_manager_shutdown(srv));
        pc_manager_free(srv);
        return;
    }
    if (!(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0))
        FAIL("the Python client ended with %s; it said:\n%s", status_text(st), out);
    static const char *const roles[] = {"\nOK dict\n", "\nOK list\n", "\nOK queue\n",
                                        "\nOK lock\n", "\nDONE\n"};
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
        if (!strstr(out, roles[i]))
            FAIL("no \"%s\" from the Python client; it said:\n%s", roles[i] + 1, out);
    CHECK(wait_objects(srv, base, 5.0) == base);
    CHECK_OK(pc_manager_shutdown(srv));
    pc_manager_free(srv);
}

int main(int argc, char **argv)
{
    tu_init(argv[0], 170);
    tu_select(argc, argv);
    if (!setup())
        return 77;
    fill_pattern(big, MIB, 7);
    RUN(test_proxies_across_the_link);
    RUN(test_concurrent_clients);
    RUN(test_killed_client_is_dropped);
    RUN(test_killed_server_is_noticed);
    RUN(test_cut_link_is_noticed);
    RUN(test_python_client);
    check_host_untouched();
    close(ns_a);
    close(ns_b);
    close(ns_host);
    return tu_done();
}
