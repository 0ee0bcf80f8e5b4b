/*
 * test_listener.c: pc_listener_* and pc_client_connect (include/processing.h) between threads and
 * processes, in every address family (unix path, unix abstract, NULL = private, TCP on
 * 127.0.0.1 and [::1]): the bound and last accepted addresses, the socket file's life,
 * accept timeouts, authentication (right key, wrong key on both sides, a key on one side
 * only), close, interrupts, addresses in use, connecting to nothing, and nothing left
 * behind (fds, socket files, children).
 *
 * Hostile clients before authentication and bad arguments are in test_listener_abuse.c;
 * Python peers in test_connection_interop.c.
 *
 * ctest-timeout: 120
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static char *tmp; /* this test's directory for socket files */

static const char KEY[] = "the right key";
static const char WRONG[] = "a wrong key";

/* ---- helpers ---- */

static pc_listener *listener(const char *address, const char *key)
{
    pc_listener *l = NULL;
    CHECK_OK(pc_listener_new(address, 1, key, key ? strlen(key) : 0, &l));
    CHECK(l != NULL);
    CHECK(pc_listener_address(l) != NULL);
    return l;
}

/* A client connecting from another thread (so that the handshake can run against
 * pc_listener_accept in this one). */
struct client {
    char address[256];
    const char *key;
    pthread_t thread;
    int status;
    pc_connection *conn;
    double returned;
    char error[256]; /* its pc_last_error() */
};

static void *client_main(void *arg)
{
    struct client *c = arg;
    c->status = pc_client_connect(c->address, c->key, c->key ? strlen(c->key) : 0, &c->conn);
    c->returned = now();
    snprintf(c->error, sizeof c->error, "%s", pc_last_error());
    return NULL;
}

static void client_start(struct client *c, const char *address, const char *key)
{
    memset(c, 0, sizeof *c);
    snprintf(c->address, sizeof c->address, "%s", address);
    c->key = key;
    c->status = 12345;
    CHECK(pthread_create(&c->thread, NULL, client_main, c) == 0);
}

/* Joins the client thread and checks its status; returns its connection (NULL unless
 * PC_OK). */
static pc_connection *client_join(struct client *c, pc_status want)
{
    CHECK(pthread_join(c->thread, NULL) == 0);
    CHECK_STATUS(c->status, want);
    CHECK((c->conn != NULL) == (want == PC_OK));
    return c->conn;
}

/* Messages both ways between an accepted connection and its client. */
static void exchange(pc_connection *server, pc_connection *client)
{
    CHECK_OK(pc_connection_send_bytes(client, "ping", 4));
    recv_expect(server, "ping", 4);
    CHECK_OK(pc_connection_send_bytes(server, "pong", 4));
    recv_expect(client, "pong", 4);
    static char big[300000];
    fill_pattern(big, sizeof big, 9);
    CHECK_OK(pc_connection_send_bytes(server, NULL, 0));
    recv_expect(client, "", 0);
    CHECK_OK(pc_connection_send_bytes(client, big, 100000));
    recv_pattern(server, 100000, 9);
}

/* Connects a client (with `key`) to `l` (whose accept must succeed) and checks the pair. */
static void connect_and_accept(pc_listener *l, const char *key)
{
    struct client c;
    client_start(&c, pc_listener_address(l), key);
    pc_connection *server = NULL;
    CHECK_OK(pc_listener_accept(l, 10.0, &server));
    pc_connection *client = client_join(&c, PC_OK);
    exchange(server, client);
    pc_connection_free(client);
    pc_bytes m = {NULL, 0};
    CHECK_STATUS(pc_connection_recv_bytes(server, 0, &m), PC_ERR_EOF);
    pc_connection_free(server);
}

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static bool ipv6_available(void)
{
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    bool ok = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

/* The port of a "tcp://HOST:PORT" address (0 when there is none). */
static int port_of(const char *address)
{
    const char *colon = address ? strrchr(address, ':') : NULL;
    return colon ? atoi(colon + 1) : 0;
}

static pc_status accept_wait(void *l, double timeout)
{
    pc_connection *c = NULL;
    pc_status st = pc_listener_accept(l, timeout, &c);
    pc_connection_free(c);
    return st;
}

/* ---- a client in another process ---- */

struct child_client {
    char address[256];
    const char *key;
};

/* Connects, sends "from the child", waits for "bye". */
static int target_client(void *arg)
{
    const struct child_client *cc = arg;
    pc_connection *c;
    if (pc_client_connect(cc->address, cc->key, cc->key ? strlen(cc->key) : 0, &c) != PC_OK)
        return 1;
    if (pc_connection_send_bytes(c, "from the child", 14) != PC_OK)
        return 2;
    pc_bytes m = {NULL, 0};
    if (pc_connection_recv_bytes(c, 0, &m) != PC_OK || m.len != 3 || memcmp(m.data, "bye", 3))
        return 3;
    pc_bytes_free(&m);
    pc_connection_free(c);
    return 0;
}

static void child_client(pc_listener *l, const char *key)
{
    struct child_client cc = {.key = key};
    snprintf(cc.address, sizeof cc.address, "%s", pc_listener_address(l));
    pc_process *p = start(target_client, &cc);
    pc_connection *server;
    CHECK_OK(pc_listener_accept(l, 10.0, &server));
    recv_expect(server, "from the child", 14);
    CHECK_OK(pc_connection_send_bytes(server, "bye", 3));
    CHECK(finish(p, 10.0) == 0);
    pc_connection_free(server);
}

/* ---- every address family ---- */

enum family { UNIX_PATH, UNIX_ABSTRACT, PRIVATE, TCP4, TCP4_NAME, TCP6 };
static const char *family_name[] = {"unix path", "unix abstract", "NULL (private)",
                                    "tcp 127.0.0.1", "tcp localhost", "tcp [::1]"};

static void one_family(enum family f, const char *key)
{
    fprintf(stderr, "   %s, %s\n", family_name[f], key ? "with an authkey" : "without");
    char address[256], path[200] = "";
    static int n;
    n++;
    switch (f) {
    case UNIX_PATH:
        snprintf(path, sizeof path, "%s/listener-%d.sock", tmp, n);
        snprintf(address, sizeof address, "unix:%s", path);
        break;
    case UNIX_ABSTRACT:
        snprintf(address, sizeof address, "unix:@pc-test-listener-%d-%d", (int)getpid(), n);
        break;
    case PRIVATE:
        break;
    case TCP4:
        snprintf(address, sizeof address, "tcp://127.0.0.1:0");
        break;
    case TCP4_NAME:
        snprintf(address, sizeof address, "tcp://localhost:0");
        break;
    case TCP6:
        snprintf(address, sizeof address, "tcp://[::1]:0");
        break;
    }
    pc_listener *l = listener(f == PRIVATE ? NULL : address, key);
    const char *bound = pc_listener_address(l);
    switch (f) {
    case UNIX_PATH:
        CHECK(strcmp(bound, address) == 0);
        struct stat st;
        CHECK(stat(path, &st) == 0 && S_ISSOCK(st.st_mode));
        break;
    case UNIX_ABSTRACT:
        CHECK(strcmp(bound, address) == 0);
        break;
    case PRIVATE:
        CHECK(strncmp(bound, "unix:@", 6) == 0 && strlen(bound) > 6);
        break;
    case TCP4:
    case TCP4_NAME:
        CHECK(strncmp(bound, "tcp://127.0.0.1:", 16) == 0);
        CHECK(port_of(bound) > 0 && port_of(bound) < 65536);
        break;
    case TCP6:
        CHECK(strncmp(bound, "tcp://[::1]:", 12) == 0);
        CHECK(port_of(bound) > 0);
        break;
    }
    CHECK(pc_listener_last_accepted(l) == NULL);

    connect_and_accept(l, key);
    const char *peer = pc_listener_last_accepted(l);
    CHECK(peer != NULL);
    if (f == TCP4 || f == TCP4_NAME) {
        CHECK(strncmp(peer, "tcp://127.0.0.1:", 16) == 0);
        CHECK(port_of(peer) > 0 && port_of(peer) != port_of(bound));
    } else if (f == TCP6) {
        CHECK(strncmp(peer, "tcp://[::1]:", 12) == 0);
        CHECK(port_of(peer) > 0 && port_of(peer) != port_of(bound));
    } else {
        CHECK(strncmp(peer, "unix:", 5) == 0);
    }
    /* A second client (from another process), then a third. */
    child_client(l, key);
    CHECK(pc_listener_last_accepted(l) != NULL);
    connect_and_accept(l, key);
    /* The address string stays valid as long as the listener. */
    CHECK(pc_listener_address(l) == bound);

    char bound_copy[256];
    snprintf(bound_copy, sizeof bound_copy, "%s", bound);
    pc_listener_free(l);
    if (f == UNIX_PATH)
        CHECK(!file_exists(path));
    /* Nobody listens there any more. */
    pc_connection *c = NULL;
    double t0 = now();
    CHECK_STATUS(pc_client_connect(bound_copy, NULL, 0, &c), PC_ERR_OS);
    CHECK(now() - t0 < 1.0);
    CHECK(c == NULL);
}

static void test_families(void)
{
    bool v6 = ipv6_available();
    if (!v6)
        fprintf(stderr, "   SKIP tcp [::1]: IPv6 is not available here\n");
    for (enum family f = UNIX_PATH; f <= TCP6; f++) {
        if (f == TCP6 && !v6)
            continue;
        one_family(f, NULL);
        one_family(f, KEY);
    }
}

/* The socket file is removed by close (and free), only by the process that bound it. */
static int target_drop_listener(void *arg)
{
    pc_listener *l = arg;
    if (pc_listener_close(l) != PC_OK)
        return 1;
    pc_listener_free(l);
    return 0;
}

static void test_socket_file(void)
{
    char path[200], address[256];
    snprintf(path, sizeof path, "%s/file.sock", tmp);
    snprintf(address, sizeof address, "unix:%s", path);
    pc_listener *l = listener(address, NULL);
    CHECK(file_exists(path));
    /* A child closes and frees its copy: the file stays, the parent still listens. */
    CHECK(finish(start(target_drop_listener, l), 10.0) == 0);
    CHECK(file_exists(path));
    connect_and_accept(l, NULL);
    /* close removes it (and free after close is fine). */
    CHECK_OK(pc_listener_close(l));
    CHECK(!file_exists(path));
    CHECK_OK(pc_listener_close(l));
    pc_listener_free(l);
    CHECK(!file_exists(path));
    /* The same path can be bound again. */
    l = listener(address, NULL);
    CHECK(file_exists(path));
    pc_listener_free(l);
    CHECK(!file_exists(path));
    /* Removed by hand while listening: free does not mind. */
    l = listener(address, NULL);
    CHECK(unlink(path) == 0);
    pc_listener_free(l);
}

/* ---- accept: timeouts, close, interrupt ---- */

struct delayed_client {
    const char *address;
    double delay;
    int status;
    pc_connection *conn;
};

static void *delayed_client_main(void *arg)
{
    struct delayed_client *d = arg;
    sleep_s(d->delay);
    d->status = pc_client_connect(d->address, NULL, 0, &d->conn);
    return NULL;
}

static void test_accept_timeouts(void)
{
    pc_listener *l = listener(NULL, NULL);
    check_timeouts(accept_wait, l, "pc_listener_accept");
    CHECK(pc_listener_last_accepted(l) == NULL);
    /* A client already waiting: accept(0) takes it. */
    pc_connection *client, *server;
    CHECK_OK(pc_client_connect(pc_listener_address(l), NULL, 0, &client));
    CHECK_OK(pc_listener_accept(l, 0, &server));
    exchange(server, client);
    pc_connection_free(client);
    pc_connection_free(server);
    /* A client 0.3 s later: a timed accept and one without limit get it. */
    const double timeouts[] = {5.0, PC_FOREVER};
    for (int i = 0; i < 2; i++) {
        struct delayed_client d = {pc_listener_address(l), 0.3, 12345, NULL};
        pthread_t t;
        double t0 = now();
        CHECK(pthread_create(&t, NULL, delayed_client_main, &d) == 0);
        CHECK_OK(pc_listener_accept(l, timeouts[i], &server));
        double took = now() - t0;
        CHECK(pthread_join(t, NULL) == 0);
        CHECK_OK(d.status);
        if (took < 0.25 || took > 3.0)
            FAIL("accept(%g) got a client 0.3 s away after %.3f s", timeouts[i], took);
        exchange(server, d.conn);
        pc_connection_free(d.conn);
        pc_connection_free(server);
    }
    pc_listener_free(l);
}

struct blocked_accept {
    pc_listener *l;
    int status;
    double returned;
};

static void *blocked_accept_main(void *arg)
{
    struct blocked_accept *b = arg;
    pc_connection *c = NULL;
    b->status = pc_listener_accept(b->l, PC_FOREVER, &c);
    b->returned = now();
    pc_connection_free(c);
    return NULL;
}

static void test_close(void)
{
    char *dir = temp_dir_new("pc-test-listener-close");
    char path[200], address[256];
    snprintf(path, sizeof path, "%s/close.sock", dir);
    snprintf(address, sizeof address, "unix:%s", path);
    pc_listener *l = listener(address, KEY);
    const char *bound = pc_listener_address(l);
    CHECK_OK(pc_listener_close(l));
    CHECK(!file_exists(path));
    pc_connection *c = NULL;
    CHECK_STATUS(pc_listener_accept(l, 0, &c), PC_ERR_CLOSED);
    CHECK_ERRMSG("pc_listener_accept");
    CHECK_ERRMSG("closed");
    CHECK_STATUS(pc_listener_accept(l, 1.0, &c), PC_ERR_CLOSED);
    CHECK_STATUS(pc_listener_accept(l, PC_FOREVER, &c), PC_ERR_CLOSED);
    CHECK(c == NULL);
    CHECK_OK(pc_listener_close(l)); /* twice is fine */
    CHECK(pc_listener_address(l) == bound); /* still there until free */
    CHECK(strcmp(bound, address) == 0);
    CHECK_STATUS(pc_client_connect(address, KEY, strlen(KEY), &c), PC_ERR_OS);
    pc_listener_free(l);
    temp_dir_free(dir);

    /* A close from another thread ends a blocked accept. */
    l = listener(NULL, NULL);
    struct blocked_accept b = {l, 12345, 0};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, blocked_accept_main, &b) == 0);
    sleep_s(0.3);
    double closed = now();
    CHECK_OK(pc_listener_close(l));
    CHECK(pthread_join(t, NULL) == 0);
    CHECK_STATUS(b.status, PC_ERR_CLOSED);
    if (b.returned - closed > 1.0)
        FAIL("the blocked accept returned %.3f s after the close", b.returned - closed);
    pc_listener_free(l);
}

static pc_status connect_wait(void *address, double timeout)
{
    (void)timeout; /* the client's own deadline is 5 s */
    pc_connection *c = NULL;
    pc_status st = pc_client_connect(address, KEY, strlen(KEY), &c);
    pc_connection_free(c);
    return st;
}

static void test_interrupt(void)
{
    pc_listener *l = listener(NULL, KEY);
    check_interrupted(accept_wait, l, PC_FOREVER, "pc_listener_accept");
    check_interrupted(accept_wait, l, 5.0, "pc_listener_accept");
    /* Still usable. */
    connect_and_accept(l, KEY);
    /* A client waiting for the handshake of a listener that does not accept. */
    char address[256];
    snprintf(address, sizeof address, "%s", pc_listener_address(l));
    check_interrupted(connect_wait, address, PC_FOREVER, "pc_client_connect");
    pc_listener_free(l);
}

/* ---- authentication ---- */

static void test_authkey(void)
{
    pc_listener *l = listener(NULL, KEY);
    connect_and_accept(l, KEY);

    /* A wrong key: PC_ERR_AUTH on both sides, and the listener goes on. */
    for (int i = 0; i < 2; i++) {
        struct client c;
        client_start(&c, pc_listener_address(l), WRONG);
        pc_connection *server = NULL;
        double t0 = now();
        CHECK_STATUS(pc_listener_accept(l, 10.0, &server), PC_ERR_AUTH);
        CHECK_ERRMSG("pc_listener_accept");
        CHECK_ERRMSG("digest");
        CHECK(server == NULL);
        client_join(&c, PC_ERR_AUTH);
        CHECK(tu_contains(c.error, "pc_client_connect"));
        CHECK(tu_contains(c.error, "rejected"));
        CHECK(now() - t0 < 2.0);
        connect_and_accept(l, KEY);
    }
    pc_listener_free(l);
    pc_connection *server = NULL;

    /* Keys of any bytes and length; an empty key means none. */
    static char long_key[1000];
    fill_pattern(long_key, sizeof long_key - 1, 3);
    for (size_t i = 0; i < sizeof long_key - 1; i++)
        long_key[i] = (char)(long_key[i] | 1); /* no NUL: the helpers use strlen */
    l = listener(NULL, long_key);
    connect_and_accept(l, long_key);
    pc_listener_free(l);
    pc_listener *none;
    CHECK_OK(pc_listener_new(NULL, 1, KEY, 0, &none)); /* a key of length 0: none */
    pc_connection *client;
    CHECK_OK(pc_client_connect(pc_listener_address(none), KEY, 0, &client));
    CHECK_OK(pc_listener_accept(none, 5.0, &server));
    exchange(server, client);
    pc_connection_free(client);
    pc_connection_free(server);
    pc_listener_free(none);
}

/* A client without a key meets a listener with one: it connects (it does not know), sees
 * the challenge as a message, and its answer is refused. */
struct keyless {
    const char *address;
    int step;
};

static void *keyless_main(void *arg)
{
    struct keyless *k = arg;
    pc_connection *c;
    if (pc_client_connect(k->address, NULL, 0, &c) != PC_OK)
        return NULL;
    k->step = 1;
    pc_bytes m = {NULL, 0};
    if (pc_connection_recv_bytes(c, 0, &m) != PC_OK || m.len != 59 ||
        memcmp(m.data, "#CHALLENGE#{sha256}", 19) != 0)
        goto out;
    pc_bytes_free(&m);
    k->step = 2;
    if (pc_connection_send_bytes(c, "not a digest", 12) != PC_OK)
        goto out;
    if (pc_connection_recv_bytes(c, 0, &m) != PC_OK || m.len != 9 ||
        memcmp(m.data, "#FAILURE#", 9) != 0)
        goto out;
    pc_bytes_free(&m);
    k->step = 3;
    if (pc_connection_recv_bytes(c, 0, &m) == PC_ERR_EOF)
        k->step = 4;
out:
    pc_bytes_free(&m);
    pc_connection_free(c);
    return NULL;
}

static void test_key_on_one_side(void)
{
    pc_listener *l = listener(NULL, KEY);
    struct keyless k = {pc_listener_address(l), 0};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, keyless_main, &k) == 0);
    pc_connection *server = NULL;
    double t0 = now();
    CHECK_STATUS(pc_listener_accept(l, 10.0, &server), PC_ERR_AUTH);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(k.step == 4);
    CHECK(now() - t0 < 2.0);
    /* A keyless client that leaves at once: EOF, at once. */
    pc_connection *client;
    CHECK_OK(pc_client_connect(pc_listener_address(l), NULL, 0, &client));
    pc_connection_free(client);
    t0 = now();
    CHECK_STATUS(pc_listener_accept(l, 10.0, &server), PC_ERR_EOF);
    CHECK(now() - t0 < 1.0);
    connect_and_accept(l, KEY); /* still fine */
    pc_listener_free(l);

    /* A client with a key meets a listener without: the listener accepts at once; the
     * client fails as soon as the listener speaks or leaves. */
    l = listener(NULL, NULL);
    for (int leave = 0; leave < 2; leave++) {
        struct client c;
        client_start(&c, pc_listener_address(l), KEY);
        CHECK_OK(pc_listener_accept(l, 10.0, &server));
        t0 = now();
        if (leave) {
            pc_connection_free(server);
            client_join(&c, PC_ERR_EOF);
        } else {
            CHECK_OK(pc_connection_send_bytes(server, "hello", 5));
            client_join(&c, PC_ERR_AUTH);
            pc_connection_free(server);
        }
        CHECK(now() - t0 < 1.0);
    }
    pc_listener_free(l);
}

/* ---- addresses in use, nothing there ---- */

static void test_address_in_use(void)
{
    char path[200], address[256];
    snprintf(path, sizeof path, "%s/used.sock", tmp);
    snprintf(address, sizeof address, "unix:%s", path);
    char abstract[128];
    snprintf(abstract, sizeof abstract, "unix:@pc-test-used-%d", (int)getpid());
    pc_listener *first[3] = {listener(address, NULL), listener(abstract, NULL),
                             listener("tcp://127.0.0.1:0", NULL)};
    for (int i = 0; i < 3; i++) {
        pc_listener *second = NULL;
        const char *bound = pc_listener_address(first[i]);
        CHECK_STATUS(pc_listener_new(bound, 1, NULL, 0, &second), PC_ERR_OS);
        CHECK_ERRMSG("pc_listener_new");
        CHECK(second == NULL);
        /* The failed bind left the first listener (and its file) alone. */
        if (i == 0)
            CHECK(file_exists(path));
        connect_and_accept(first[i], NULL);
        pc_listener_free(first[i]);
    }
    CHECK(!file_exists(path));
}

static void test_connect_to_nothing(void)
{
    char path[200], address[256];
    snprintf(path, sizeof path, "%s/nobody.sock", tmp);
    snprintf(address, sizeof address, "unix:%s", path);
    /* A TCP port nobody listens on: one a listener just gave back. */
    pc_listener *l = listener("tcp://127.0.0.1:0", NULL);
    char tcp[64];
    snprintf(tcp, sizeof tcp, "%s", pc_listener_address(l));
    pc_listener_free(l);
    char abstract[128];
    snprintf(abstract, sizeof abstract, "unix:@pc-test-nobody-%d", (int)getpid());
    const char *nowhere[] = {address, abstract, tcp, "unix:/nonexistent-dir/x.sock"};
    for (int keyed = 0; keyed < 2; keyed++) {
        for (size_t i = 0; i < sizeof nowhere / sizeof nowhere[0]; i++) {
            pc_connection *c = NULL;
            double t0 = now();
            CHECK_STATUS(pc_client_connect(nowhere[i], keyed ? KEY : NULL, keyed ? 3 : 0, &c),
                         PC_ERR_OS);
            if (now() - t0 > 1.0)
                FAIL("connecting to %s failed after %.3f s", nowhere[i], now() - t0);
            CHECK_ERRMSG("pc_client_connect");
            CHECK_ERRMSG("connect");
            CHECK(c == NULL);
        }
    }
    /* Binding in a directory that does not exist. */
    pc_listener *none = NULL;
    CHECK_STATUS(pc_listener_new("unix:/nonexistent-dir/x.sock", 1, NULL, 0, &none), PC_ERR_OS);
    CHECK_ERRMSG("pc_listener_new");
    CHECK(none == NULL);
    /* A file that is not a socket. */
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fclose(f);
    pc_connection *c = NULL;
    CHECK_STATUS(pc_client_connect(address, NULL, 0, &c), PC_ERR_OS);
    CHECK(unlink(path) == 0);
}

/* ---- nothing left behind ---- */

/* ---- a child forked while a handshake runs ---- */

static int target_accept_one(void *arg)
{
    pc_listener *l = arg;
    pc_connection *c = NULL;
    if (pc_listener_accept(l, 10.0, &c) != PC_OK)
        return 1;
    pc_connection_free(c);
    pc_listener_free(l); /* closes the child's copy */
    return 0;
}

/* A child forked while its parent's listener runs a handshake (for a silent peer) accepts
 * on handshakes of its own, and closing its copy leaves the parent's alone: before, the
 * child shut the parent's connections down and waited for threads it does not have. */
static void test_fork_during_handshake(void)
{
    pc_listener *l = NULL;
    CHECK_OK(pc_listener_new("tcp://127.0.0.1:0", 8, KEY, strlen(KEY), &l));
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port_of(pc_listener_address(l))),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int silent = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(silent >= 0 && connect(silent, (struct sockaddr *)&sa, sizeof sa) == 0);
    pc_connection *c = NULL;
    CHECK_STATUS(pc_listener_accept(l, 0.2, &c), PC_ERR_TIMEOUT); /* its handshake runs on */

    pid_t child = fork_sub(target_accept_one, l);
    struct client honest;
    client_start(&honest, pc_listener_address(l), KEY);
    pc_connection *client = client_join(&honest, PC_OK);
    check_sub_ok(child, 10.0, "a forked child accepting");
    /* The silent peer's connection is still open: past the challenge the parent's
     * handshake sent it, it sees nothing, no end. */
    char challenge[256];
    CHECK(recv(silent, challenge, sizeof challenge, MSG_DONTWAIT) > 0);
    struct pollfd p = {.fd = silent, .events = POLLIN};
    CHECK(poll(&p, 1, 300) == 0);
    pc_connection_free(client);
    close(silent);
    pc_listener_free(l);
}

static void test_nothing_left(void)
{
    pc_listener *warm = listener(NULL, NULL);
    connect_and_accept(warm, NULL);
    pc_listener_free(warm);

    struct tu_resources before;
    resources_before(&before);
    const int many = 200;
    char address[256];
    for (int i = 0; i < many; i++) {
        switch (i % 4) {
        case 0:
            snprintf(address, sizeof address, "unix:%s/many-%d.sock", tmp, i);
            break;
        case 1:
            snprintf(address, sizeof address, "unix:@pc-test-many-%d-%d", (int)getpid(), i);
            break;
        case 2:
            snprintf(address, sizeof address, "tcp://127.0.0.1:0");
            break;
        default:
            address[0] = '\0';
        }
        const char *key = i % 10 == 0 ? KEY : NULL;
        pc_listener *l = listener(address[0] ? address : NULL, key);
        if (key) {
            connect_and_accept(l, key);
        } else {
            pc_connection *client, *server;
            CHECK_OK(pc_client_connect(pc_listener_address(l), NULL, 0, &client));
            CHECK_OK(pc_listener_accept(l, 5.0, &server));
            CHECK_OK(pc_connection_send_bytes(client, "m", 1));
            recv_expect(server, "m", 1);
            if (i % 3 == 0)
                CHECK_OK(pc_connection_close(server));
            pc_connection_free(server);
            pc_connection_free(client);
        }
        /* A client accepted by nobody, freed with its listener. */
        if (i % 7 == 0) {
            pc_connection *unaccepted;
            CHECK_OK(pc_client_connect(pc_listener_address(l), NULL, 0, &unaccepted));
            pc_connection_free(unaccepted);
        }
        if (i % 5 == 0)
            CHECK_OK(pc_listener_close(l));
        pc_listener_free(l);
    }
    /* Failed calls leave nothing either. */
    for (int i = 0; i < 50; i++) {
        pc_connection *c = NULL;
        CHECK_STATUS(pc_client_connect("unix:@pc-test-nobody-at-all", NULL, 0, &c), PC_ERR_OS);
        pc_listener *l = NULL;
        CHECK_STATUS(pc_listener_new("tcp://127.0.0.1:99999", 1, NULL, 0, &l), PC_ERR_INVALID_ARGUMENT);
    }
    check_resources_after(&before, many, "listeners and connections");
    CHECK(wait_no_children(2.0));
}

int main(int argc, char **argv)
{
    tu_select(argc, argv);
    tu_init("test_listener", 60);
    tmp = temp_dir_new("pc-test-listener");
    RUN(test_families);
    RUN(test_socket_file);
    RUN(test_authkey);
    RUN(test_key_on_one_side);
    RUN(test_address_in_use);
    RUN(test_connect_to_nothing);
    RUN(test_fork_during_handshake);
    RUN(test_nothing_left);
    temp_dir_free(tmp);
    /* Accepts that must time out, be interrupted or closed with no client there. */
    RUN(test_accept_timeouts);
    RUN(test_close);
    RUN(test_interrupt);
    return tu_done();
}
