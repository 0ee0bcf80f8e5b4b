/*
 * test_listener_abuse.c: peers that do not play by the rules before authentication, made
 * with raw sockets (socket(2), connect(2), listen(2)): a silent client holds accept only
 * until the handshake's 5-s deadline, an oversized handshake message or garbage fails
 * at once, and the listener accepts the next good client every time; a hostile or
 * silent listener bounds pc_client_connect the same way. Then NULL and invalid
 * arguments for every pc_listener_* function and pc_client_connect.
 *
 * ctest-timeout: 120
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static const char KEY[] = "abuse test key";

/* ---- raw sockets ---- */

/* A sockaddr for "unix:@NAME", "unix:PATH" or "tcp://127.0.0.1:PORT". */
static socklen_t raw_address(const char *address, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (strncmp(address, "unix:", 5) == 0) {
        struct sockaddr_un *un = (struct sockaddr_un *)ss;
        un->sun_family = AF_UNIX;
        const char *name = address + 5;
        size_t n = strlen(name);
        CHECK(n < sizeof un->sun_path);
        memcpy(un->sun_path, name, n);
        if (name[0] == '@') {
            un->sun_path[0] = '\0'; /* abstract: exactly its bytes */
            return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
        }
        return (socklen_t)sizeof *un;
    }
    CHECK(strncmp(address, "tcp://127.0.0.1:", 16) == 0);
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    in->sin_family = AF_INET;
    in->sin_port = htons((uint16_t)atoi(address + 16));
    in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sizeof *in;
}

static int raw_connect(const char *address)
{
    struct sockaddr_storage ss;
    socklen_t len = raw_address(address, &ss);
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0);
    CHECK(connect(fd, (struct sockaddr *)&ss, len) == 0);
    return fd;
}

static int raw_listen(const char *address)
{
    struct sockaddr_storage ss;
    socklen_t len = raw_address(address, &ss);
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0);
    CHECK(bind(fd, (struct sockaddr *)&ss, len) == 0);
    CHECK(listen(fd, 4) == 0);
    return fd;
}

static void put_header(uint8_t *h, uint32_t len)
{
    h[0] = (uint8_t)(len >> 24);
    h[1] = (uint8_t)(len >> 16);
    h[2] = (uint8_t)(len >> 8);
    h[3] = (uint8_t)len;
}

/* Reads what the peer sent until it closed (at most `timeout` s); returns the count. */
static size_t drain(int fd, double timeout)
{
    static char buf[1 << 16];
    return read_until_eof(fd, buf, sizeof buf, timeout);
}

struct good_client {
    const char *address;
    int status;
    pc_connection *conn;
};

static void *good_client_main(void *arg)
{
    struct good_client *g = arg;
    g->status = pc_client_connect(g->address, KEY, strlen(KEY), &g->conn);
    return NULL;
}

/* A good client still gets through. */
static void check_good_client(pc_listener *l)
{
    struct good_client g = {pc_listener_address(l), 12345, NULL};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, good_client_main, &g) == 0);
    pc_connection *server = NULL;
    CHECK_OK(pc_listener_accept(l, 10.0, &server));
    CHECK(pthread_join(t, NULL) == 0);
    CHECK_OK(g.status);
    CHECK_OK(pc_connection_send_bytes(g.conn, "good", 4));
    recv_expect(server, "good", 4);
    pc_connection_free(g.conn);
    pc_connection_free(server);
}

/* ---- hostile clients ---- */

/* A client that connects and says nothing, and (at the same time, to keep the suite
 * short) a pc_client_connect to a raw listener that accepts nobody and says nothing:
 * both end with PC_ERR_TIMEOUT at the 5-s handshake deadline. */
struct silent_server_client {
    const char *address;
    int status;
    double took;
};

static void *silent_server_client_main(void *arg)
{
    struct silent_server_client *s = arg;
    pc_connection *c = NULL;
    double t0 = now();
    s->status = pc_client_connect(s->address, KEY, strlen(KEY), &c);
    s->took = now() - t0;
    pc_connection_free(c);
    return NULL;
}

static void test_silent_peers(void)
{
    char silent_address[128];
    snprintf(silent_address, sizeof silent_address, "unix:@pc-test-silent-%d", (int)getpid());
    int silent_server = raw_listen(silent_address);
    struct silent_server_client s = {silent_address, 12345, 0};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, silent_server_client_main, &s) == 0);

    pc_listener *l;
    CHECK_OK(pc_listener_new(NULL, 4, KEY, strlen(KEY), &l));
    int fd = raw_connect(pc_listener_address(l));
    pc_connection *c = NULL;
    double t0 = now();
    CHECK_STATUS(pc_listener_accept(l, 20.0, &c), PC_ERR_TIMEOUT);
    double took = now() - t0;
    fprintf(stderr, "   a silent client held accept %.3f s\n", took);
    if (took < 4.5 || took > 7.5)
        FAIL("accept with a silent client returned after %.3f s, expected the 5-s deadline",
             took);
    CHECK_ERRMSG("pc_listener_accept");
    CHECK_ERRMSG("handshake");
    CHECK(c == NULL);
    /* The silent client got the challenge and was dropped. */
    char buf[256];
    size_t got = read_until_eof(fd, buf, sizeof buf, 2.0);
    CHECK(got == 4 + 59);
    CHECK(memcmp(buf + 4, "#CHALLENGE#{sha256}", 19) == 0);
    close(fd);
    check_good_client(l);

    CHECK(pthread_join(t, NULL) == 0);
    fprintf(stderr, "   a silent listener held pc_client_connect %.3f s\n", s.took);
    CHECK_STATUS(s.status, PC_ERR_TIMEOUT);
    if (s.took < 4.5 || s.took > 7.5)
        FAIL("pc_client_connect to a silent listener returned after %.3f s", s.took);
    close(silent_server);
    pc_listener_free(l);
}

/* One hostile client: sends `len` bytes, optionally shuts its side down, and the
 * listener's accept returns one of `want` at once. */
static void hostile_client(pc_listener *l, const char *what, const void *bytes, size_t len,
                           bool shut, pc_status want1, pc_status want2)
{
    fprintf(stderr, "   %s\n", what);
    int fd = raw_connect(pc_listener_address(l));
    if (len > 0)
        CHECK(write_all(fd, bytes, len));
    if (shut)
        CHECK(shutdown(fd, SHUT_WR) == 0);
    pc_connection *c = NULL;
    double t0 = now();
    int st = pc_listener_accept(l, 10.0, &c);
    double took = now() - t0;
    if (st != (int)want1 && st != (int)want2)
        FAIL("%s: accept returned %s, expected %s or %s", what, pc_status_str(st),
             pc_status_str(want1), pc_status_str(want2));
    tu_checks++;
    if (took > 1.0)
        FAIL("%s: accept took %.3f s", what, took);
    CHECK(c == NULL);
    CHECK_ERRMSG("handshake");
    drain(fd, 2.0); /* then dropped by the listener */
    close(fd);
}

static void test_hostile_clients(void)
{
    pc_listener *l;
    CHECK_OK(pc_listener_new(NULL, 4, KEY, strlen(KEY), &l));
    uint8_t msg[300];

    put_header(msg, 1u << 20); /* announces 1 MiB, sends none of it */
    hostile_client(l, "a 1 MiB handshake message", msg, 4, false, PC_ERR_PROTOCOL, PC_ERR_AUTH);
    put_header(msg, 257);
    memset(msg + 4, 'x', 257);
    hostile_client(l, "a 257-byte answer", msg, 4 + 257, false, PC_ERR_PROTOCOL, PC_ERR_AUTH);
    put_header(msg, 256);
    hostile_client(l, "a 256-byte wrong answer", msg, 4 + 256, false, PC_ERR_AUTH, PC_ERR_AUTH);
    const char http[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    hostile_client(l, "an HTTP request", http, sizeof http - 1, false, PC_ERR_PROTOCOL,
                   PC_ERR_AUTH);
    put_header(msg, 0xfffffffbu); /* -5 */
    hostile_client(l, "a negative length", msg, 4, false, PC_ERR_PROTOCOL, PC_ERR_AUTH);
    put_header(msg, 10);
    memcpy(msg + 4, "abc", 3);
    hostile_client(l, "a cut frame", msg, 7, true, PC_ERR_PROTOCOL, PC_ERR_EOF);
    hostile_client(l, "half a header", msg, 2, true, PC_ERR_PROTOCOL, PC_ERR_EOF);
    hostile_client(l, "nothing, and gone", msg, 0, true, PC_ERR_EOF, PC_ERR_PROTOCOL);
    check_good_client(l);

    /* Well-framed answers of the right shapes, with wrong digests. */
    struct {
        const char *what;
        const char *body;
        size_t len;
    } wrong[] = {
        {"an empty answer", "", 0},
        {"a 16-byte (legacy MD5) answer", "0123456789abcdef", 16},
        {"a 20-byte answer", "0123456789abcdefghij", 20},
        {"a {sha256} answer", "{sha256}0123456789abcdef0123456789abcdef", 40},
        {"a {sha256} answer too short", "{sha256}0123", 12},
        {"a {md5} answer", "{md5}0123456789abcdef", 21},
        {"an unknown digest", "{sha1}0123456789abcdefghij", 26},
        {"a brace never closed", "{sha256sha256sha256sha256", 25},
    };
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        put_header(msg, (uint32_t)wrong[i].len);
        memcpy(msg + 4, wrong[i].body, wrong[i].len);
        hostile_client(l, wrong[i].what, msg, 4 + wrong[i].len, false, PC_ERR_AUTH, PC_ERR_AUTH);
    }
    /* Many frames at once (the answer and more): refused on the first. */
    put_header(msg, 3);
    memcpy(msg + 4, "abc", 3);
    for (int i = 1; i < 20; i++)
        memcpy(msg + 7 * i, msg, 7);
    hostile_client(l, "a flood of small frames", msg, 7 * 20, false, PC_ERR_AUTH, PC_ERR_AUTH);
    check_good_client(l);
    pc_listener_free(l);
}

/* ---- hostile listeners ---- */

struct fake_server {
    int listen_fd;
    const void *bytes; /* sent as they are once a client connected */
    size_t len;
    bool close_at_once;
    pthread_t thread;
};

static void *fake_server_main(void *arg)
{
    struct fake_server *f = arg;
    struct pollfd pfd = {.fd = f->listen_fd, .events = POLLIN};
    if (poll(&pfd, 1, 10000) != 1)
        return NULL;
    int fd = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return NULL;
    if (!f->close_at_once) {
        write_all(fd, f->bytes, f->len);
        drain(fd, 10.0); /* until the client leaves */
    }
    close(fd);
    return NULL;
}

static void hostile_server(const char *what, const void *bytes, size_t len, bool close_at_once,
                           pc_status want1, pc_status want2)
{
    fprintf(stderr, "   %s\n", what);
    char address[128];
    static int n;
    snprintf(address, sizeof address, "unix:@pc-test-fake-%d-%d", (int)getpid(), n++);
    struct fake_server f = {raw_listen(address), bytes, len, close_at_once, 0};
    CHECK(pthread_create(&f.thread, NULL, fake_server_main, &f) == 0);
    pc_connection *c = NULL;
    double t0 = now();
    int st = pc_client_connect(address, KEY, strlen(KEY), &c);
    double took = now() - t0;
    if (st != (int)want1 && st != (int)want2)
        FAIL("%s: pc_client_connect returned %s, expected %s or %s", what, pc_status_str(st),
             pc_status_str(want1), pc_status_str(want2));
    tu_checks++;
    if (took > 1.0)
        FAIL("%s: pc_client_connect took %.3f s", what, took);
    CHECK(c == NULL);
    CHECK_ERRMSG("pc_client_connect");
    CHECK(pthread_join(f.thread, NULL) == 0);
    close(f.listen_fd);
}

static void test_hostile_listeners(void)
{
    uint8_t msg[300];
    put_header(msg, 1u << 20);
    hostile_server("a 1 MiB challenge", msg, 4, false, PC_ERR_PROTOCOL, PC_ERR_AUTH);
    put_header(msg, 0x80000000u);
    hostile_server("a negative length", msg, 4, false, PC_ERR_PROTOCOL, PC_ERR_PROTOCOL);
    hostile_server("a listener that hangs up", msg, 0, true, PC_ERR_EOF, PC_ERR_EOF);
    struct {
        const char *what;
        const char *body;
        size_t len;
    } bad[] = {
        {"not a challenge", "hello", 5},
        {"a challenge too short", "#CHALLENGE#abc", 14},
        {"an unknown digest", "#CHALLENGE#{sha1}0123456789012345678901234567890123456789", 57},
        {"no digest name", "#CHALLENGE#0123456789012345678901234567890123456789", 51},
        {"a welcome with no challenge", "#WELCOME#", 9},
        {"an empty message", "", 0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        put_header(msg, (uint32_t)bad[i].len);
        memcpy(msg + 4, bad[i].body, bad[i].len);
        hostile_server(bad[i].what, msg, 4 + bad[i].len, false, PC_ERR_AUTH, PC_ERR_AUTH);
    }
    /* A well-formed legacy challenge, then #FAILURE# whatever the answer. */
    size_t at = 0;
    put_header(msg, 31);
    memcpy(msg + 4, "#CHALLENGE#01234567890123456789", 31);
    at = 35;
    put_header(msg + at, 9);
    memcpy(msg + at + 4, "#FAILURE#", 9);
    hostile_server("a listener that refuses every answer", msg, at + 13, false, PC_ERR_AUTH,
                   PC_ERR_AUTH);
}

/* ---- bad arguments ---- */

static void test_bad_arguments(void)
{
    int fds = count_open_fds();
    pc_listener *l = NULL;
    CHECK_STATUS(pc_listener_new(NULL, 1, NULL, 0, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_listener_new");
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_listener_new(NULL, 1, NULL, 5, &l), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("authkey is NULL");
    CHECK(l == NULL);
    const char *malformed[] = {
        "", "tcp://x", "udp://127.0.0.1:1", "unix:", "unix:@", "tcp://127.0.0.1",
        "tcp://:80", "tcp://[::1:80", "tcp://[::1]", "tcp://127.0.0.1:70000",
        "tcp://127.0.0.1:-1", "tcp://127.0.0.1:port", "tcp://[zz]:1", "unix", "UNIX:/tmp/x",
        "/tmp/x.sock", "127.0.0.1:80", "tcp:/127.0.0.1:80", "\xff\xfe",
    };
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        CHECK_STATUS(pc_listener_new(malformed[i], 1, NULL, 0, &l), PC_ERR_INVALID_ARGUMENT);
        CHECK_ERRMSG("pc_listener_new");
        CHECK(l == NULL);
        pc_connection *c = NULL;
        CHECK_STATUS(pc_client_connect(malformed[i], NULL, 0, &c), PC_ERR_INVALID_ARGUMENT);
        CHECK_ERRMSG("pc_client_connect");
        CHECK(c == NULL);
    }
    /* A unix name longer than a sockaddr_un holds (107 bytes) is a malformed address. */
    char too_long[300] = "unix:/tmp/";
    memset(too_long + 10, 'p', 200);
    too_long[210] = '\0';
    CHECK_STATUS(pc_listener_new(too_long, 1, NULL, 0, &l), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("at most 107 bytes");
    CHECK(l == NULL);
    pc_connection *unmade = NULL;
    too_long[5] = '@'; /* the same length as an abstract name */
    CHECK_STATUS(pc_client_connect(too_long, NULL, 0, &unmade), PC_ERR_INVALID_ARGUMENT);
    CHECK(unmade == NULL);
    /* A backlog is at least 1 (include/processing.h); a large one is fine. */
    const int backlogs[] = {0, -5, 1, 1000000};
    for (int i = 0; i < 4; i++) {
        if (backlogs[i] < 1) {
            CHECK_STATUS(pc_listener_new(NULL, backlogs[i], NULL, 0, &l), PC_ERR_INVALID_ARGUMENT);
            CHECK_ERRMSG("backlog");
            CHECK(l == NULL);
            continue;
        }
        CHECK_OK(pc_listener_new(NULL, backlogs[i], NULL, 0, &l));
        pc_listener_free(l);
        l = NULL;
    }

    pc_connection *c = (pc_connection *)&fds; /* must stay untouched */
    CHECK_OK(pc_listener_new(NULL, 1, NULL, 0, &l));
    CHECK_STATUS(pc_listener_accept(NULL, 0, &c), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_listener_accept");
    CHECK_ERRMSG("l is NULL");
    CHECK_STATUS(pc_listener_accept(l, 0, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_listener_accept(l, NAN, &c), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("NaN");
    CHECK(c == (pc_connection *)&fds);
    CHECK(pc_listener_address(NULL) == NULL);
    CHECK_ERRMSG("pc_listener_address");
    CHECK(pc_listener_last_accepted(NULL) == NULL);
    CHECK_ERRMSG("pc_listener_last_accepted");
    CHECK_STATUS(pc_listener_close(NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_listener_close");
    pc_listener_free(NULL); /* a no-op */
    CHECK_STATUS(pc_client_connect(NULL, NULL, 0, &c), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("address is NULL");
    CHECK_STATUS(pc_client_connect(pc_listener_address(l), NULL, 0, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_client_connect(pc_listener_address(l), NULL, 3, &c), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("authkey is NULL");
    CHECK(c == (pc_connection *)&fds);
    /* None of those connected: nothing to accept. */
    pc_connection *none = NULL;
    CHECK_STATUS(pc_listener_accept(l, 0, &none), PC_ERR_TIMEOUT);

    /* Wrong-typed handles: a connection and a lock passed as listeners. */
    pc_connection *a, *b;
    CHECK_OK(pc_pipe(true, &a, &b));
    pc_lock *lock;
    CHECK_OK(pc_lock_new(&lock));
    pc_listener *wrong[2] = {(pc_listener *)a, (pc_listener *)lock};
    for (int i = 0; i < 2; i++) {
        CHECK_STATUS(pc_listener_accept(wrong[i], 0, &c), PC_ERR_INVALID_ARGUMENT);
        CHECK_ERRMSG("is not a pc_listener");
        CHECK(pc_listener_address(wrong[i]) == NULL);
        CHECK_ERRMSG("is not a pc_listener");
        CHECK(pc_listener_last_accepted(wrong[i]) == NULL);
        CHECK_ERRMSG("is not a pc_listener");
        CHECK_STATUS(pc_listener_close(wrong[i]), PC_ERR_INVALID_ARGUMENT);
        pc_listener_free(wrong[i]); /* refused, reported, nothing freed */
        CHECK_ERRMSG("pc_listener_free");
        CHECK_ERRMSG("is not a pc_listener");
    }
    CHECK_OK(pc_connection_send_bytes(a, "intact", 6));
    recv_expect(b, "intact", 6);
    CHECK_OK(pc_lock_acquire(lock, 0));
    CHECK_OK(pc_lock_release(lock));
    pc_connection_free(a);
    pc_connection_free(b);
    pc_lock_free(lock);
    /* And the listener itself still works. */
    pc_connection *client, *server;
    CHECK_OK(pc_client_connect(pc_listener_address(l), NULL, 0, &client));
    CHECK_OK(pc_listener_accept(l, 5.0, &server));
    CHECK(pc_listener_last_accepted(l) != NULL);
    pc_connection_free(client);
    pc_connection_free(server);
    pc_listener_free(l);
    CHECK(count_open_fds() == fds);
}

int main(void)
{
    tu_init("test_listener_abuse", 60);
    RUN(test_hostile_clients);
    RUN(test_hostile_listeners);
    RUN(test_silent_peers);
    RUN(test_bad_arguments);
    return tu_done();
}
