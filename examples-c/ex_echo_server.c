/*
 * ex_echo_server.c: an echo server on a Listener with an authkey, and its clients in C
 * and in Python (ex_echo_client.py, using multiprocessing.connection.Client).
 *
 *     ex_echo_server               a demo that runs by itself (as ctest runs it): listen
 *                                  on tcp://127.0.0.1:0 (a free port), refuse a client
 *                                  with the wrong key, then serve a Python client and a
 *                                  C client it starts itself, and check how they ended.
 *     ex_echo_server ADDRESS N     serve N clients at ADDRESS (tcp://HOST:PORT,
 *                                  unix:PATH or unix:@NAME), then exit.
 *
 * For example, in two shells:
 *
 *     ex_echo_server tcp://127.0.0.1:6000 1
 *     python3 ex_echo_client.py tcp://127.0.0.1:6000 'secret password'
 *
 * The server accepts a client (the listener runs multiprocessing's HMAC handshake: a
 * client without the key is refused, PC_ERR_AUTH, and the listener carries on) and hands
 * the connection to a new process that echoes every message back until the client
 * closes its end (PC_ERR_EOF). The server process keeps accepting meanwhile. The wire
 * format is Python's, so a C client and a Python one are the same to the server.
 *
 * The demo's Python client is a process whose target execs python3: started with
 * pc_process_start, it is joined like any other child, and its exit code tells whether
 * every echo was right. Without python3 the demo says so and serves a C client instead.
 *
 * Build: cc ex_echo_server.c -lprocessing
 */
#include <processing.h>

#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char AUTHKEY[] = "secret password";
#define AUTHKEY_LEN (sizeof AUTHKEY - 1)

/* The longest message the server takes: a server facing clients it does not control
 * limits what it allocates (longer: PC_ERR_TOO_LARGE, and the connection is closed). */
#define MAX_MESSAGE (1024 * 1024)

#define MAX_CLIENTS 16

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

/* Starts a child running target(arg); NULL (after saying why) on failure. */
static pc_process *start(pc_target_fn target, void *arg)
{
    pc_process *p = NULL;
    pc_status s = pc_process_new(target, arg, &p);
    if (s == PC_OK && (s = pc_process_start(p)) != PC_OK) {
        pc_process_free(p);
        p = NULL;
    }
    if (s != PC_OK)
        fail("starting a child", s);
    return p;
}

/* Joins a child, frees it, and returns 0 when it exited with 0. */
static int join(pc_process *p, const char *what)
{
    int code = -1;
    pc_status s = pc_process_join(p, 30.0);
    if (s == PC_OK)
        s = pc_process_exitcode(p, &code);
    pc_process_free(p);
    if (s != PC_OK)
        return fail(what, s);
    if (code != 0)
        fprintf(stderr, "%s exited with %d\n", what, code);
    return code != 0;
}

/* ---- the server ---- */

struct session {
    pc_listener *listener; /* the children's copy is closed first thing */
    pc_connection *conn;
};

/* Runs in a child for each client: echo every message until the client closes. */
static int echo_session(void *arg)
{
    const struct session *s = arg;
    pc_listener_close(s->listener); /* only the server process accepts */
    long messages = 0, bytes = 0;
    for (;;) {
        pc_bytes msg = {0};
        pc_status st = pc_connection_recv_bytes(s->conn, MAX_MESSAGE, &msg);
        if (st == PC_ERR_EOF)
            break; /* the client is done */
        TRY(st);
        st = pc_connection_send_bytes(s->conn, msg.data, msg.len);
        messages++;
        bytes += (long)msg.len;
        pc_bytes_free(&msg);
        TRY(st);
    }
    const pc_process *me;
    pc_current_process(&me);
    printf("  %s echoed %ld messages, %ld bytes\n", pc_process_name(me), messages, bytes);
    pc_connection_free(s->conn);
    return 0;
}

/* Accepts `nclients` authenticated clients (waiting at most `timeout` for each), serves
 * each in a process of its own, and waits for those to finish. */
static int serve(pc_listener *listener, int nclients, double timeout)
{
    pc_process *sessions[MAX_CLIENTS];
    int served = 0, failed = 0;
    while (served < nclients) {
        struct session s = {listener, NULL};
        pc_status st = pc_listener_accept(listener, timeout, &s.conn);
        if (st == PC_ERR_AUTH) {
            /* The client failed the handshake; it is gone, the listener is fine. */
            printf("refused a client: %s\n", pc_last_error());
            continue;
        }
        TRY(st);
        printf("connection accepted from %s\n", pc_listener_last_accepted(listener));
        fflush(stdout);
        /* The child gets the connection (and a copy of `s`) at fork... */
        sessions[served] = start(echo_session, &s);
        /* ...so the server's own copy can go: the client talks to the child. */
        pc_connection_free(s.conn);
        if (!sessions[served])
            return 1;
        served++;
    }
    for (int i = 0; i < served; i++)
        failed |= join(sessions[i], "an echo session");
    return failed;
}

/* ---- a client in C ---- */

struct client_args {
    pc_listener *listener; /* the server's, inherited: closed in the client */
    const char *address;
    const char *authkey;
};

static int c_client(void *arg)
{
    const struct client_args *a = arg;
    pc_listener_close(a->listener);
    pc_connection *conn;
    pc_status st = pc_client_connect(a->address, a->authkey, strlen(a->authkey), &conn);
    if (strcmp(a->authkey, AUTHKEY) != 0) {
        /* The wrong key: the handshake must fail, on our side too. */
        printf("  a client with the wrong key: %s\n", pc_status_str(st));
        return st == PC_ERR_AUTH ? 0 : 1;
    }
    TRY(st);
    static char big[100 * 1024];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)i;
    const struct {
        const void *data;
        size_t len;
    } msgs[] = {{"hello from C", 12}, {NULL, 0}, {big, sizeof big}};
    for (size_t i = 0; i < sizeof msgs / sizeof msgs[0]; i++) {
        TRY(pc_connection_send_bytes(conn, msgs[i].data, msgs[i].len));
        pc_bytes echo = {0};
        TRY(pc_connection_recv_bytes(conn, 0, &echo));
        int same = echo.len == msgs[i].len &&
                   (echo.len == 0 || memcmp(echo.data, msgs[i].data, echo.len) == 0);
        pc_bytes_free(&echo);
        if (!same) {
            fprintf(stderr, "C client: wrong echo of message %zu\n", i);
            return 1;
        }
    }
    printf("  C client: 3 echoes checked\n");
    pc_connection_free(conn); /* the server sees EOF */
    return 0;
}

/* ---- a client in Python ---- */

struct python_args {
    char python[PATH_MAX]; /* python3, found in PATH */
    char script[PATH_MAX]; /* ex_echo_client.py */
    const char *address;
};

/* The child's target: become `python3 ex_echo_client.py ADDRESS AUTHKEY`. The process
 * object stays the same, so the parent joins it and reads Python's exit code. */
static int python_client(void *arg)
{
    const struct python_args *a = arg;
    execl(a->python, "python3", a->script, a->address, AUTHKEY, (char *)NULL);
    perror("exec python3");
    return 127;
}

/* Finds python3 in PATH and ex_echo_client.py next to this source file (ctest sets
 * PC_SOURCE_DIR; otherwise the directory this file was compiled from). */
static int find_python(struct python_args *a)
{
    const char *path = getenv("PATH");
    char dirs[4096];
    snprintf(dirs, sizeof dirs, "%s", path ? path : "/usr/bin:/bin");
    a->python[0] = '\0';
    for (char *save, *dir = strtok_r(dirs, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        snprintf(a->python, sizeof a->python, "%s/python3", dir);
        if (access(a->python, X_OK) == 0)
            break;
        a->python[0] = '\0';
    }
    const char *src = getenv("PC_SOURCE_DIR");
    if (src) {
        snprintf(a->script, sizeof a->script, "%s/examples-c/ex_echo_client.py", src);
    } else {
        char here[PATH_MAX];
        snprintf(here, sizeof here, "%s", __FILE__);
        snprintf(a->script, sizeof a->script, "%s/ex_echo_client.py", dirname(here));
    }
    if (!a->python[0])
        printf("python3 is not in PATH: a C client takes its place\n");
    else if (access(a->script, R_OK) != 0)
        printf("%s not found: a C client takes the Python client's place\n", a->script);
    else
        return 1;
    return 0;
}

/* ---- the demo ---- */

static int demo(void)
{
    pc_listener *listener;
    TRY(pc_listener_new("tcp://127.0.0.1:0", 5, AUTHKEY, AUTHKEY_LEN, &listener));
    const char *address = pc_listener_address(listener);
    printf("echo server listening on %s\n", address);
    fflush(stdout);

    /* 1. A client with the wrong key is refused; the listener stays usable. */
    struct client_args intruder = {listener, address, "wrong password"};
    pc_process *p = start(c_client, &intruder);
    if (!p)
        return 1;
    pc_connection *conn = NULL;
    pc_status st = pc_listener_accept(listener, 10.0, &conn);
    printf("accept: %s (%s)\n", pc_status_str(st), pc_last_error());
    if (st != PC_ERR_AUTH) {
        pc_connection_free(conn);
        return fail("accepting a client with the wrong key", st);
    }
    int failed = join(p, "the wrong-key client");

    /* 2. A Python client and a C client, served at the same time. */
    struct python_args py = {.address = address};
    struct client_args good = {listener, address, AUTHKEY};
    pc_process *clients[2];
    clients[0] = find_python(&py) ? start(python_client, &py) : start(c_client, &good);
    clients[1] = start(c_client, &good);
    if (!clients[0] || !clients[1])
        return 1;
    failed |= serve(listener, 2, 20.0);
    failed |= join(clients[0], "the first client");
    failed |= join(clients[1], "the second client");

    pc_listener_free(listener);
    printf(failed ? "something failed\n" : "all done\n");
    return failed;
}

int main(int argc, char **argv)
{
    if (argc == 1)
        return demo();
    int n = argc == 3 ? atoi(argv[2]) : 0;
    if (n < 1 || n > MAX_CLIENTS) {
        fprintf(stderr, "usage: %s [ADDRESS NCLIENTS]  (NCLIENTS 1-%d)\n", argv[0], MAX_CLIENTS);
        return 2;
    }
    pc_listener *listener;
    TRY(pc_listener_new(argv[1], 5, AUTHKEY, AUTHKEY_LEN, &listener));
    printf("echo server listening on %s, authkey '%s'\n", pc_listener_address(listener), AUTHKEY);
    fflush(stdout);
    int failed = serve(listener, n, PC_FOREVER);
    pc_listener_free(listener);
    return failed;
}
