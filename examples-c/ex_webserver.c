/*
 * ex_webserver.c: a pre-forked web server, the C version of the seed's ex_webserver.py.
 * One listening TCP socket is shared by several processes: each accepts connections on
 * it and answers HTTP/1.0 requests with a page naming the process that served it.
 *
 * Why a plain socket and not a pc_listener: a Listener speaks multiprocessing's framing
 * and handshake, which browsers do not. The library's part here is the processes: the
 * socket is made before the workers are started, so each worker (forked by
 * pc_process_start) inherits the very same listening socket, and the kernel hands each
 * new connection to one of the processes waiting on it. Every process waits with poll
 * (pc_wait_any) and accepts without blocking: when several wake up for one connection,
 * the losers get EAGAIN and go back to waiting instead of sitting in accept().
 *
 * As in the seed, the parent serves too, next to NWORKERS workers. To show it work, the
 * example starts one more process, a client, that sends a handful of requests at once
 * and prints who answered each. The parent serves until that client exits (its sentinel
 * becomes readable), then terminates the workers.
 *
 * Build: cc ex_webserver.c -lprocessing
 * (Run it with an argument, e.g. `ex_webserver 8000`, to serve on that port until
 * Ctrl-C, and point a browser at http://127.0.0.1:8000/.)
 */
#include <processing.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define NWORKERS 3
#define NREQUESTS 8

/* The listening socket, made by main before any process is started. */
static int listen_fd = -1;

/* Prints the failing call with the library's explanation; returns 1 (an exit code). */
static int fail(const char *what, pc_status status)
{
    fprintf(stderr, "%s: %s (%s)\n", what, pc_status_str(status), pc_last_error());
    return 1;
}

/* Runs a call that returns a pc_status; on failure, reports it and returns 1. */
#define TRY(call)                                                                            \
    do {                                                                                     \
        pc_status try_status_ = (call);                                                      \
        if (try_status_ != PC_OK)                                                            \
            return fail(#call, try_status_);                                                 \
    } while (0)

/* A listening TCP socket on 127.0.0.1:port (0: any free port), non-blocking. */
static int listen_on(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 64) != 0) {
        perror("listening socket");
        return -1;
    }
    return fd;
}

static int port_of(int fd)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    getsockname(fd, (struct sockaddr *)&addr, &len);
    return ntohs(addr.sin_port);
}

/* ---- the server ---- */

/* Answers one HTTP request on `conn`. */
static void handle(int conn)
{
    /* Read the request head (a real server would parse it; this one answers any path). */
    struct timeval limit = {5, 0};
    setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    char req[2048];
    size_t got = 0;
    while (got < sizeof req - 1) {
        ssize_t n = recv(conn, req + got, sizeof req - 1 - got, 0);
        if (n <= 0)
            return; /* gone, or too slow */
        got += (size_t)n;
        req[got] = '\0';
        if (strstr(req, "\r\n\r\n"))
            break;
    }
    char path[256] = "/";
    sscanf(req, "GET %255s", path);

    usleep(50 * 1000); /* the "work" of making the page: others take the next requests */

    const pc_process *me;
    pc_current_process(&me);
    char body[512], head[256];
    int blen = snprintf(body, sizeof body,
                        "<html><body><h1>%s</h1><p>Served by %s (pid %d)</p></body></html>\n",
                        path, pc_process_name(me), (int)getpid());
    int hlen = snprintf(head, sizeof head,
                        "HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n"
                        "Content-Length: %d\r\n\r\n", blen);
    /* MSG_NOSIGNAL: a client that left gives EPIPE, not a SIGPIPE that kills us. */
    send(conn, head, (size_t)hlen, MSG_NOSIGNAL);
    send(conn, body, (size_t)blen, MSG_NOSIGNAL);
}

/* Accepts and answers connections on listen_fd until `stop_fd` (if not -1) is readable. */
static int serve(int stop_fd)
{
    pc_waitable items[2] = {{.conn = NULL, .fd = listen_fd}, {.conn = NULL, .fd = stop_fd}};
    size_t n = stop_fd < 0 ? 1 : 2;
    for (;;) {
        TRY(pc_wait_any(items, n, PC_FOREVER));
        if (n == 2 && items[1].ready)
            return 0;
        int conn = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (conn < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ||
                errno == ECONNABORTED)
                continue; /* another process got it first */
            perror("accept");
            return 1;
        }
        handle(conn);
        close(conn);
    }
}

/* A worker's target: serve until terminated. */
static int worker(void *arg)
{
    (void)arg;
    return serve(-1);
}

/* ---- the client ---- */

static int client(void *arg)
{
    int port = *(const int *)arg;
    close(listen_fd); /* inherited, but the client does not accept */
    int conns[NREQUESTS];
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    /* Send every request first, so that several processes are busy at once. */
    for (int i = 0; i < NREQUESTS; i++) {
        char req[128];
        int len = snprintf(req, sizeof req, "GET /page-%d HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", i);
        conns[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (conns[i] < 0 || connect(conns[i], (struct sockaddr *)&addr, sizeof addr) != 0 ||
            send(conns[i], req, (size_t)len, MSG_NOSIGNAL) != len) {
            perror("client: request");
            return 1;
        }
    }
    /* Read each answer (HTTP/1.0: the server closes when done) and see who served it. */
    char servers[NREQUESTS][64];
    int distinct = 0;
    for (int i = 0; i < NREQUESTS; i++) {
        struct timeval limit = {10, 0};
        setsockopt(conns[i], SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
        char resp[2048];
        size_t got = 0;
        ssize_t n;
        while (got < sizeof resp - 1 &&
               (n = recv(conns[i], resp + got, sizeof resp - 1 - got, 0)) > 0)
            got += (size_t)n;
        resp[got] = '\0';
        close(conns[i]);
        const char *by = strstr(resp, "Served by ");
        if (strncmp(resp, "HTTP/1.0 200 OK\r\n", 17) != 0 || !by ||
            sscanf(by, "Served by %63[^<]", servers[i]) != 1) {
            fprintf(stderr, "client: request %d: a bad answer: \"%s\"\n", i, resp);
            return 1;
        }
        printf("  GET /page-%d: served by %s\n", i, servers[i]);
        int seen = 0;
        for (int j = 0; j < i; j++)
            seen |= strcmp(servers[j], servers[i]) == 0;
        distinct += !seen;
    }
    printf("  %d requests, served by %d different processes\n", NREQUESTS, distinct);
    return 0;
}

/* ---- main ---- */

int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[1]) : 0;
    listen_fd = listen_on(port);
    if (listen_fd < 0)
        return 1;
    port = port_of(listen_fd);
    printf("serving on http://127.0.0.1:%d/ with %d processes\n", port, NWORKERS + 1);
    fflush(stdout);

    /* The workers inherit listen_fd: it was made before they are started. */
    pc_process *workers[NWORKERS];
    for (int i = 0; i < NWORKERS; i++) {
        TRY(pc_process_new(worker, NULL, &workers[i]));
        TRY(pc_process_start(workers[i]));
    }

    int failed;
    if (argc > 1) {
        failed = serve(-1); /* until Ctrl-C */
    } else {
        /* The demo: a client process sends requests while the parent serves with the
         * workers; when the client is done, its sentinel ends the parent's serve(). */
        pc_process *c;
        TRY(pc_process_new(client, &port, &c));
        TRY(pc_process_start(c));
        failed = serve(pc_process_sentinel(c));
        int code = -1;
        TRY(pc_process_join(c, 10.0));
        TRY(pc_process_exitcode(c, &code));
        failed |= code != 0;
        pc_process_free(c);
    }
    close(listen_fd);

    /* The workers serve forever: stop them (SIGTERM) and reap them. */
    for (int i = 0; i < NWORKERS; i++) {
        int code = 0;
        TRY(pc_process_terminate(workers[i]));
        TRY(pc_process_join(workers[i], 10.0));
        TRY(pc_process_exitcode(workers[i], &code));
        if (code != -SIGTERM) {
            fprintf(stderr, "%s ended with %d, not -SIGTERM\n", pc_process_name(workers[i]), code);
            failed = 1;
        }
        pc_process_free(workers[i]);
    }
    printf(failed ? "something failed\n" : "all done\n");
    return failed;
}
