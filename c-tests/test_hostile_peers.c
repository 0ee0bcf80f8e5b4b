/*
 * test_hostile_peers.c: many hostile TCP peers at once against a pc_listener and a
 * manager's server on 127.0.0.1 — up to 1,000 connections that never finish the
 * handshake (silent, half a frame, a 4-byte length of 2^31-1 or an 8-byte one of 2^62
 * then garbage) and slowloris senders (one byte per 100 ms) — while an honest client
 * keeps making round trips: each must take at most 2 s (starvation, not speed), and the
 * server's RSS must grow by less than 256 MiB. Then the hostile peers go and the server
 * still serves. The manager's server also gets 1,100 peers that stay silent, more than its
 * 1,024 connections: those still in their handshake must not lock honest clients out.
 * test_listener_abuse.c covers each kind of peer alone.
 *
 * ctest-timeout: 120
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "manager_common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/socket.h>

/* The honest client's bound on one round trip. */
#define ROUND_TRIP_LIMIT (2.0 * TU_SLOWDOWN) /* seconds */
/* How long the hostile peers stay: past the 5-s handshake deadline. */
#define HOSTILE_SECONDS 7.0
#define LISTENER_HOSTILE 1000
/* More than the manager server's cap on connections (1,024). */
#define MAX_HOSTILE 1100
#define SLOWLORIS 16
#define RSS_LIMIT_KIB (256 * 1024)

/* ---- hostile peers ---- */

struct hostile {
    int fds[MAX_HOSTILE];
    int n;
    atomic_bool stop;
    pthread_t slowloris;
};

/* Raises the soft fd limit to the hard one; returns how many hostile peers fit, up to
 * `want`, with `per_peer` fds each in this process (and 64 to spare). */
static int hostile_budget(int per_peer, int want)
{
    struct rlimit r;
    CHECK(getrlimit(RLIMIT_NOFILE, &r) == 0);
    r.rlim_cur = r.rlim_max;
    CHECK(setrlimit(RLIMIT_NOFILE, &r) == 0);
    long room = ((long)r.rlim_cur - count_open_fds() - 64) / per_peer;
    int n = room < want ? (int)room : want;
    CHECK(n >= SLOWLORIS * 2);
    if (n < want)
        fprintf(stderr, "   RLIMIT_NOFILE %ld allows %d hostile peers, not %d\n",
                (long)r.rlim_cur, n, want);
    return n;
}

static int tcp_connect(const char *address)
{
    CHECK(strncmp(address, "tcp://127.0.0.1:", 16) == 0);
    struct sockaddr_in in = {.sin_family = AF_INET};
    in.sin_port = htons((uint16_t)atoi(address + 16));
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0);
    CHECK(connect(fd, (struct sockaddr *)&in, sizeof in) == 0);
    return fd;
}

/* What hostile peer `i` sends once connected (a slowloris sends later, byte by byte): the
 * peers take turns at the first `kinds` kinds below (1: all silent). */
static void hostile_opening(int fd, int i, int kinds)
{
    uint8_t msg[32] = {0};
    size_t len = 0;
    switch (i % kinds) {
    case 0: /* silent */
        break;
    case 1: /* half a frame: a 10-byte length, 3 bytes of it */
        msg[3] = 10;
        memcpy(msg + 4, "abc", 3);
        len = 7;
        break;
    case 2: /* a 4-byte length of 2^31 - 1, then garbage */
        memcpy(msg, "\x7f\xff\xff\xffgarbage", 11);
        len = 11;
        break;
    default: /* -1 and an 8-byte length of 2^62, then garbage */
        memcpy(msg, "\xff\xff\xff\xff\x40\0\0\0\0\0\0\0garbage", 19);
        len = 19;
        break;
    }
    /* The server may have dropped a length bomb already: a failed write is fine. */
    if (len > 0)
        (void)!send(fd, msg, len, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* The first SLOWLORIS peers send a well-formed 200-byte frame, one byte per 100 ms. */
static void *slowloris_main(void *arg)
{
    struct hostile *h = arg;
    uint8_t frame[204] = {0, 0, 0, 200};
    memset(frame + 4, 's', 200);
    for (size_t at = 0; !atomic_load(&h->stop); at = (at + 1) % sizeof frame) {
        for (int i = 0; i < SLOWLORIS; i++)
            (void)!send(h->fds[i], frame + at, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        sleep_s(0.1);
    }
    return NULL;
}

static void hostile_start(struct hostile *h, const char *address, int n, int kinds)
{
    h->n = n;
    atomic_store(&h->stop, false);
    for (int i = 0; i < n; i++) {
        /* A pause now and then lets the server drain its backlog: a full one drops a SYN
         * and stalls connect for a 1-s retry, and the peers would then come in too slowly
         * to be all open at once (the first reach the 5-s handshake deadline). */
        if (i % 32 == 31)
            sleep_s(0.005);
        h->fds[i] = tcp_connect(address);
        if (i >= SLOWLORIS)
            hostile_opening(h->fds[i], i, kinds);
    }
    CHECK(pthread_create(&h->slowloris, NULL, slowloris_main, h) == 0);
}

static void hostile_stop(struct hostile *h)
{
    atomic_store(&h->stop, true);
    CHECK(pthread_join(h->slowloris, NULL) == 0);
    for (int i = 0; i < h->n; i++)
        close(h->fds[i]);
}

/* VmRSS of `pid` (0: this process) in KiB. */
static long rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid ? (int)pid : (int)getpid());
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    CHECK(kib >= 0);
    return kib;
}

/* ---- the honest client's rounds ---- */

/* One honest round trip; returns how long it took. */
typedef void (*round_fn)(void *ctx, int round);

struct figures {
    int rounds;
    double worst;
    long rss_growth_kib;
};

/* Runs honest rounds for `seconds`, checking each against the bound and the RSS of
 * `server` (0: this process) against its start. */
static void honest_rounds(round_fn round, void *ctx, double seconds, pid_t server,
                          struct figures *f)
{
    long rss0 = rss_kib(server);
    double end = now() + seconds;
    while (now() < end) {
        double t0 = now();
        round(ctx, f->rounds++);
        double took = now() - t0;
        if (took > f->worst)
            f->worst = took;
        if (took > ROUND_TRIP_LIMIT)
            FAIL("honest round trip %d took %.3f s (limit %.1f s)", f->rounds, took,
                 ROUND_TRIP_LIMIT);
        long growth = rss_kib(server) - rss0;
        if (growth > f->rss_growth_kib)
            f->rss_growth_kib = growth;
        if (growth > RSS_LIMIT_KIB)
            FAIL("the server's RSS grew by %ld KiB", growth);
        sleep_s(0.05);
    }
}

/* ---- a pc_listener ---- */

struct echo_server {
    pc_listener *l;
    atomic_bool stop;
    atomic_int refused; /* accepts that failed (the hostile peers' handshakes) */
    pthread_t thread;
};

/* Accepts until told to stop; echoes one message on each authenticated connection. */
static void *echo_server_main(void *arg)
{
    struct echo_server *s = arg;
    while (!atomic_load(&s->stop)) {
        pc_connection *c = NULL;
        int st = pc_listener_accept(s->l, 0.2, &c);
        if (st == PC_OK) {
            char buf[64];
            size_t n = 0;
            if (pc_connection_recv_bytes_into(c, buf, sizeof buf, 0, &n) == PC_OK)
                (void)pc_connection_send_bytes(c, buf, n);
            pc_connection_free(c);
        } else if (st != PC_ERR_TIMEOUT || tu_contains(pc_last_error(), "handshake")) {
            atomic_fetch_add(&s->refused, 1);
        }
    }
    return NULL;
}

static void listener_round(void *ctx, int round)
{
    pc_listener *l = ctx;
    pc_connection *c = NULL;
    CHECK_OK(pc_client_connect(pc_listener_address(l), KEY, KEYLEN, &c));
    char msg[32];
    int len = snprintf(msg, sizeof msg, "round %d", round);
    CHECK_OK(pc_connection_send_bytes(c, msg, (size_t)len));
    recv_expect(c, msg, (size_t)len);
    pc_connection_free(c);
}

static void test_listener(void)
{
    static struct hostile h;
    int n = hostile_budget(2, LISTENER_HOSTILE); /* our end and the accepted end */
    pc_listener *l;
    CHECK_OK(pc_listener_new("tcp://127.0.0.1:0", 1024, KEY, KEYLEN, &l));
    struct echo_server s = {.l = l};
    CHECK(pthread_create(&s.thread, NULL, echo_server_main, &s) == 0);
    struct figures f = {0};
    honest_rounds(listener_round, l, 0.3, 0, &f);

    hostile_start(&h, pc_listener_address(l), n, 4);
    honest_rounds(listener_round, l, HOSTILE_SECONDS, 0, &f);
    hostile_stop(&h);
    honest_rounds(listener_round, l, 0.5, 0, &f);

    atomic_store(&s.stop, true);
    CHECK(pthread_join(s.thread, NULL) == 0);
    fprintf(stderr,
            "   listener: %d hostile peers, %d refused, %d honest rounds, worst %.3f s, "
            "RSS growth %ld KiB\n",
            n, atomic_load(&s.refused), f.rounds, f.worst, f.rss_growth_kib);
    CHECK(atomic_load(&s.refused) > 0);
    pc_listener_free(l);
}

/* ---- a manager's server ---- */

struct manager_ctx {
    const char *address;
    pc_dict *d;
};

static void manager_round(void *ctx, int round)
{
    struct manager_ctx *m = ctx;
    /* A fresh connection and handshake per round, and a call on the proxy's channel. */
    pc_manager *client = connected(m->address);
    size_t objects;
    CHECK_OK(pc_manager_number_of_objects(client, &objects));
    pc_manager_free(client);
    DSET(m->d, pc_item_int(round), pc_item_int(round * 2));
    DGET_IS(m->d, pc_item_int(round), pc_item_int(round * 2));
}

static void test_manager(void)
{
    static struct hostile h;
    int n = hostile_budget(1, MAX_HOSTILE);
    if (n < MAX_HOSTILE)
        fprintf(stderr, "   so the manager's cap of 1024 connections is not passed\n");
    pid_t server;
    pc_manager *m = started("tcp://127.0.0.1:0", &server);
    struct manager_ctx ctx = {pc_manager_address(m), new_dict(m, NULL)};
    struct figures f = {0};
    honest_rounds(manager_round, &ctx, 0.3, server, &f);

    hostile_start(&h, ctx.address, n, 1); /* all silent but the slowloris peers */
    honest_rounds(manager_round, &ctx, HOSTILE_SECONDS, server, &f);
    hostile_stop(&h);
    honest_rounds(manager_round, &ctx, 0.5, server, &f);

    fprintf(stderr,
            "   manager: %d silent or slowloris peers, %d honest rounds, worst %.3f s, "
            "server RSS growth %ld KiB\n",
            n, f.rounds, f.worst, f.rss_growth_kib);
    CHECK(dict_len(ctx.d) == (size_t)f.rounds);
    pc_dict_free(ctx.d);
    CHECK_OK(pc_manager_shutdown(m));
    pc_manager_free(m);
    CHECK(wait_pid_gone(server, 5.0));
}

int main(int argc, char **argv)
{
    tu_init(argv[0], 100);
    tu_select(argc, argv);
    RUN(test_listener);
    RUN(test_manager);
    return tu_done();
}
