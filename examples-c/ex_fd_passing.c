/*
 * ex_fd_passing.c: a server whose parent accepts TCP connections and hands each accepted
 * socket to a worker process over a pipe (pc_connection_send_fd and pc_connection_recv_fd,
 * Python's multiprocessing.reduction.send_handle and recv_handle).
 *
 * ex_webserver.c shares one listening socket between processes that each accept; here
 * only the parent accepts, and it chooses the worker (round robin). The worker receives
 * a descriptor of the same connection, answers on it and closes it; the parent closes its
 * own as soon as it is sent. A client process sends a few lines, one connection each,
 * and prints who answered. When it is done the parent closes the pipes, and each worker,
 * seeing end-of-file where the next descriptor would be, returns.
 *
 * Build: cc ex_fd_passing.c -lprocessing
 */
#include <processing.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define NWORKERS 2
#define NREQUESTS 6

static int listen_fd = -1;
/* The pipes, made before any process starts: the parent sends on to_worker[i], worker i
 * receives on from_parent[i]. */
static pc_connection *to_worker[NWORKERS], *from_parent[NWORKERS];

/* In a started process: closes its copies of the descriptors it does not use (a worker
 * keeps its own from_parent end; -1: none), so that each pipe ends when the parent closes
 * its end. */
static void close_inherited(int keep)
{
    close(listen_fd);
    for (int i = 0; i < NWORKERS; i++) {
        pc_connection_close(to_worker[i]);
        if (i != keep)
            pc_connection_close(from_parent[i]);
    }
}

/* Whether a call returned PC_OK; if not, says which and why. */
static bool ok(pc_status status, const char *what)
{
    if (status != PC_OK)
        fprintf(stderr, "%s: %s (%s)\n", what, pc_status_str(status), pc_last_error());
    return status == PC_OK;
}
#define OK(call) ok((call), #call)

/* A worker: answers each connection it is handed, until its pipe ends. */
static int worker(void *arg)
{
    int index = (int)(intptr_t)arg;
    close_inherited(index);
    const pc_process *me;
    if (!OK(pc_current_process(&me)))
        return 1;
    for (;;) {
        int conn = -1;
        pc_status st = pc_connection_recv_fd(from_parent[index], 10.0, &conn);
        if (st == PC_ERR_EOF)
            return 0; /* the parent is done */
        if (!ok(st, "pc_connection_recv_fd"))
            return 1;
        char line[128] = "";
        ssize_t n = recv(conn, line, sizeof line - 1, 0);
        line[n > 0 ? n : 0] = '\0';
        line[strcspn(line, "\n")] = '\0';
        char reply[256];
        int len = snprintf(reply, sizeof reply, "%s answers \"%s\"\n", pc_process_name(me), line);
        send(conn, reply, (size_t)len, MSG_NOSIGNAL);
        close(conn);
    }
}

/* The client: one connection per request, each answered by some worker. */
static int client(void *arg)
{
    int port = *(const int *)arg;
    close_inherited(-1);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < NREQUESTS; i++) {
        char req[64], reply[256] = "";
        int len = snprintf(req, sizeof req, "request %d\n", i);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
            send(fd, req, (size_t)len, MSG_NOSIGNAL) != len) {
            perror("client");
            return 1;
        }
        size_t got = 0;
        ssize_t n;
        while (got < sizeof reply - 1 && (n = recv(fd, reply + got, sizeof reply - 1 - got, 0)) > 0)
            got += (size_t)n;
        close(fd);
        if (strstr(reply, "answers \"request") == NULL) {
            fprintf(stderr, "client: a bad answer: \"%s\"\n", reply);
            return 1;
        }
        printf("  %s", reply);
    }
    return 0;
}

int main(void)
{
    listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof addr;
    if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        listen(listen_fd, 16) != 0 || getsockname(listen_fd, (struct sockaddr *)&addr, &alen)) {
        perror("listening socket");
        return 1;
    }
    int port = ntohs(addr.sin_port);

    printf("the parent accepts, %d workers answer:\n", NWORKERS);
    pc_process *workers[NWORKERS];
    for (int i = 0; i < NWORKERS; i++)
        if (!OK(pc_pipe(false, &from_parent[i], &to_worker[i])))
            return 1;
    for (int i = 0; i < NWORKERS; i++) {
        if (!OK(pc_process_new(worker, (void *)(intptr_t)i, &workers[i])))
            return 1;
        if (!OK(pc_process_start(workers[i])))
            return 1;
    }
    pc_process *c;
    if (!OK(pc_process_new(client, &port, &c)))
        return 1;
    if (!OK(pc_process_start(c)))
        return 1;
    for (int i = 0; i < NWORKERS; i++)
        pc_connection_free(from_parent[i]); /* the workers' ends */

    for (int i = 0; i < NREQUESTS; i++) {
        pc_waitable items[2] = {{.conn = NULL, .fd = listen_fd},
                                {.conn = NULL, .fd = pc_process_sentinel(c)}};
        if (!OK(pc_wait_any(items, 2, 10.0)))
            return 1;
        if (!items[0].ready)
            break; /* the client ended early */
        int conn = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (conn < 0) {
            perror("accept");
            return 1;
        }
        if (!OK(pc_connection_send_fd(to_worker[i % NWORKERS], conn)))
            return 1;
        close(conn); /* the worker has its own descriptor of it now */
    }
    if (!OK(pc_process_join(c, 10.0)))
        return 1;
    int code = -1;
    if (!OK(pc_process_exitcode(c, &code)))
        return 1;
    pc_process_free(c);
    for (int i = 0; i < NWORKERS; i++) {
        pc_connection_free(to_worker[i]); /* the worker sees EOF and returns */
        if (!OK(pc_process_join(workers[i], 10.0)))
            return 1;
        int wcode = -1;
        if (!OK(pc_process_exitcode(workers[i], &wcode)))
            return 1;
        code |= wcode;
        pc_process_free(workers[i]);
    }
    close(listen_fd);
    printf("done (exit code %d)\n", code);
    return code == 0 ? 0 : 1;
}
