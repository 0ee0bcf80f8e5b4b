/*
 * raw_manager.c: the floor of the managed dict round trip (bench_manager.c): a key-value
 * server in a forked child, on a blocking AF_UNIX socketpair with the library's framing
 * (raw_frames.h), holding str keys and int64 values in an open-addressing hash table.
 * One request and one reply per operation, as a remote dict needs; no serialization
 * beyond fixed fields:
 *
 *     request  'S' value(8) key   set: the reply is 'K' (done)
 *              'G' key            get: the reply is 'K' value(8), or 'M' (missing)
 *              'Q'                the client is done: the server exits, no reply
 *
 * manager_dict_rtt  set(k, i) then get(k), N times, with the 64 keys bench_manager.c uses
 *                   ("key-00" … "key-63"), checking each value got back. Nanoseconds per
 *                   set + get (two round trips). The server is started before each
 *                   repetition's clock (and the table is empty at first, as the
 *                   manager's dict is on the warm-up).
 * manager_link_dict_rtt[_1ms]
 *                   the same over TCP (TCP_NODELAY) across bench/run.py's network link
 *                   (bench_common.h): the server listens in the server's namespace, the
 *                   client connects from the clients'. Round trips per second (a set and
 *                   a get are two).
 */
#define _GNU_SOURCE /* bench_link_enter */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "bench_messages.h" /* put_i64, get_i64 */
#include "raw_frames.h"     /* send_msg, recv_msg, CHECK */

#define KEYS 64
#define KEY_MAX 32
#define SLOTS 1024 /* a power of two, far above the keys held */
#define MSG_MAX (1 + 8 + KEY_MAX)

/* The socketpair of the current run: the parent uses fds[0], the child fds[1]. */
static int fds[2];

/* ---- the server (the child) ------------------------------------------------------- */

typedef struct {
    uint8_t len; /* 0: a free slot */
    char key[KEY_MAX];
    int64_t value;
} slot;

static slot table[SLOTS];

static uint32_t hash(const char *key, size_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t k = 0; k < len; k++)
        h = (h ^ (uint8_t)key[k]) * 16777619u;
    return h;
}

/* The slot holding `key`, or the free slot where it would go. */
static slot *find(const char *key, size_t len)
{
    for (uint32_t at = hash(key, len);; at++) {
        slot *s = &table[at & (SLOTS - 1)];
        if (s->len == 0 || (s->len == len && memcmp(s->key, key, len) == 0))
            return s;
    }
}

static int kv_server(void)
{
    uint8_t req[MSG_MAX], reply[9];
    for (;;) {
        size_t len = recv_msg(fds[1], req, sizeof req);
        CHECK(len >= 1, "an empty request");
        if (req[0] == 'Q')
            return 0;
        if (req[0] == 'S') {
            size_t klen = len - 9;
            CHECK(len > 9 && klen <= KEY_MAX, "a set request of %zu bytes", len);
            slot *s = find((const char *)req + 9, klen);
            if (s->len == 0) {
                s->len = (uint8_t)klen;
                memcpy(s->key, req + 9, klen);
            }
            s->value = get_i64(req + 1);
            reply[0] = 'K';
            send_msg(fds[1], reply, 1);
        } else {
            size_t klen = len - 1;
            CHECK(req[0] == 'G' && len > 1 && klen <= KEY_MAX, "a request '%c' of %zu bytes",
                  req[0], len);
            slot *s = find((const char *)req + 1, klen);
            if (s->len == 0) {
                reply[0] = 'M';
                send_msg(fds[1], reply, 1);
            } else {
                reply[0] = 'K';
                put_i64(reply + 1, s->value);
                send_msg(fds[1], reply, 9);
            }
        }
    }
}

/* ---- the client (the parent) ------------------------------------------------------ */

static void set(const char *key, size_t klen, int64_t value)
{
    uint8_t req[MSG_MAX], reply[9];
    req[0] = 'S';
    put_i64(req + 1, value);
    memcpy(req + 9, key, klen);
    send_msg(fds[0], req, (uint32_t)(9 + klen));
    size_t len = recv_msg(fds[0], reply, sizeof reply);
    BENCH_CHECK(len == 1 && reply[0] == 'K', "set %.*s: a reply of %zu bytes", (int)klen, key,
                len);
}

/* Gets `key`'s value; false when it is missing. */
static bool get(const char *key, size_t klen, int64_t *value)
{
    uint8_t req[MSG_MAX], reply[9];
    req[0] = 'G';
    memcpy(req + 1, key, klen);
    send_msg(fds[0], req, (uint32_t)(1 + klen));
    size_t len = recv_msg(fds[0], reply, sizeof reply);
    if (len == 1 && reply[0] == 'M')
        return false;
    BENCH_CHECK(len == 9 && reply[0] == 'K', "get %.*s: a reply of %zu bytes", (int)klen, key,
                len);
    *value = get_i64(reply + 1);
    return true;
}

/* Forks the server, which serves fds[1] (or, with `listener`, the one connection it
 * accepts there); the parent keeps fds[0]. */
static pid_t start_server(int listener)
{
    fflush(NULL);
    pid_t pid = fork();
    BENCH_CHECK(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        in_child = 1;
        bench_child_setup();
        if (listener >= 0) {
            fds[1] = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
            CHECK(fds[1] >= 0, "accept: %s", strerror(errno));
            CHECK(setsockopt(fds[1], IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int)) == 0,
                  "TCP_NODELAY: %s", strerror(errno));
        } else {
            close(fds[0]);
        }
        _exit(kv_server());
    }
    return pid;
}

static pid_t start_on_socketpair(void)
{
    BENCH_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0, "socketpair: %s",
                strerror(errno));
    pid_t pid = start_server(-1);
    close(fds[1]);
    return pid;
}

/* HOST:PORT of the environment variable `name` (bench_common.h's link). */
static struct sockaddr_in link_address(const char *name)
{
    const char *text = bench_link_env(name);
    char host[64];
    int port = 0;
    struct sockaddr_in a = {.sin_family = AF_INET};
    BENCH_CHECK(sscanf(text, "%63[^:]:%d", host, &port) == 2 &&
                    inet_pton(AF_INET, host, &a.sin_addr) == 1,
                "%s=%s is not an IPv4 HOST:PORT", name, text);
    a.sin_port = htons((uint16_t)port);
    return a;
}

static pid_t start_on_link(void)
{
    bench_link_enter("SERVER");
    struct sockaddr_in at = link_address("PC_BENCH_LINK_SERVER");
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    BENCH_CHECK(listener >= 0 &&
                    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &(int){1}, sizeof(int)) == 0 &&
                    bind(listener, (struct sockaddr *)&at, sizeof at) == 0 &&
                    listen(listener, 1) == 0,
                "listening on %s: %s", bench_link_env("PC_BENCH_LINK_SERVER"), strerror(errno));
    pid_t pid = start_server(listener);
    close(listener);
    bench_link_enter("CLIENT");
    struct sockaddr_in to = link_address("PC_BENCH_LINK_CLIENT");
    fds[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    BENCH_CHECK(fds[0] >= 0 && connect(fds[0], (struct sockaddr *)&to, sizeof to) == 0 &&
                    setsockopt(fds[0], IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int)) == 0,
                "connecting to %s: %s", bench_link_env("PC_BENCH_LINK_CLIENT"), strerror(errno));
    return pid;
}

/* Nanoseconds per set + get with a server started by `start`. */
static double dict_rtt(long iters, pid_t (*start)(void))
{
    static char keys[KEYS][16];
    static size_t klens[KEYS];
    for (int k = 0; k < KEYS; k++)
        klens[k] = (size_t)snprintf(keys[k], sizeof keys[k], "key-%02d", k);

    pid_t pid = start();
    int64_t v = 0;
    BENCH_CHECK(!get(keys[0], klens[0], &v), "a key before any set"); /* the server runs */

    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < iters; i++) {
        const char *key = keys[i % KEYS];
        size_t klen = klens[i % KEYS];
        set(key, klen, i);
        BENCH_CHECK(get(key, klen, &v) && v == i, "%s: set %ld, got %lld", key, i,
                    (long long)v);
    }
    double ns = (double)(bench_now_ns() - t0) / (double)iters;

    send_msg(fds[0], "Q", 1);
    int status = 0;
    BENCH_CHECK(waitpid(pid, &status, 0) == pid, "waitpid: %s", strerror(errno));
    BENCH_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "server status %#x", status);
    close(fds[0]);
    return ns;
}

static double manager_dict_rtt(long iters)
{
    return dict_rtt(iters, start_on_socketpair);
}

/* Round trips per second. */
static double manager_link_dict_rtt(long iters)
{
    return 2e9 / dict_rtt(iters, start_on_link);
}

static const bench_mode modes[] = {
    {"manager_dict_rtt", BENCH_NS_PER_OP, manager_dict_rtt, 20000},
    {"manager_link_dict_rtt", BENCH_OPS_PER_S, manager_link_dict_rtt, 5000},
    {"manager_link_dict_rtt_1ms", BENCH_OPS_PER_S, manager_link_dict_rtt, 200},
};

int main(int argc, char **argv)
{
    return BENCH_MAIN(argc, argv, modes);
}
