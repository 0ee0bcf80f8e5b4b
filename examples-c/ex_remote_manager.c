/*
 * ex_remote_manager.c: the seed's "Using a remote manager": a server for a shared queue
 * that clients use knowing only its address and key. In Python (the seed's recipe, as
 * Python 3 writes it):
 *
 *     # the server
 *     queue = Queue()
 *     class QueueManager(BaseManager): pass
 *     QueueManager.register('get_queue', callable=lambda: queue)
 *     m = QueueManager(address=('', 50000), authkey=b'abracadabra')
 *     m.get_server().serve_forever()
 *
 *     # one client
 *     QueueManager.register('get_queue')
 *     m = QueueManager(address=('foo.bar.org', 50000), authkey=b'abracadabra')
 *     m.connect()
 *     m.get_queue().put('hello')
 *
 *     # another client
 *     ...
 *     m.get_queue().get()          # 'hello'
 *
 * Here one program plays all three parts:
 *
 *   - the server: a manager on tcp://127.0.0.1:0 (port 0: the system picks a free one)
 *     with the key "abracadabra"; pc_manager_expose(m, "get_queue", "Queue", "queue")
 *     is the register('get_queue', callable=lambda: queue) line: the typeid get_queue
 *     gives the queue named "queue", made on first use. pc_manager_serve_forever serves
 *     from the calling thread, so a thread of this process runs it (the server's
 *     objects then live in this process); pc_manager_start would fork a server process
 *     instead. Once it is bound, pc_manager_address tells the port it got;
 *   - a client: a process that knows only that address string and the key. It makes
 *     its own manager handle, pc_manager_connect, takes the named queue with
 *     pc_manager_queue(m, "queue", …) and puts the str 'hello' (pc_queue_put_item:
 *     a managed queue carries Python values, not only bytes);
 *   - another client: the parent, with a handle of its own, gets 'hello'
 *     (pc_queue_get_item). It also takes the queue the way a Python client does, through
 *     the typeid (pc_manager_create(m, "get_queue", …), which is m.get_queue()), and
 *     checks it is the same queue.
 *
 * A Python client finds that very queue with the snippet printed below (the real
 * address). Run `ex_remote_manager --wait 60` to try it: the program then waits up to
 * 60 s for what the snippet puts, and prints it.
 *
 * Then the main thread shuts the server down (pc_manager_shutdown on the serving handle
 * makes serve_forever return) and joins the thread, and the program checks nothing is
 * left: the queue was empty, the server held nothing but the named queue, and no server
 * answers at the address any more.
 *
 * Every result is checked and every wait bounded; it exits with 0 only if all held.
 *
 * Build: cc ex_remote_manager.c -lprocessing -lpthread
 */
#include <processing.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KEY "abracadabra"
#define TIMEOUT 10.0 /* seconds: the bound on every wait */

/* ---- checking ---- */

static const char *my_name(void)
{
    const pc_process *me;
    return pc_current_process(&me) == PC_OK ? pc_process_name(me) : "?";
}

/* Reports a failed check, with the process and the library's explanation; returns 1. */
static int fail(int line, const char *what, int status, int wanted)
{
    if (wanted == PC_OK)
        fprintf(stderr, "%s: line %d: %s: %s (%s)\n", my_name(), line, what,
                pc_status_str(status), pc_last_error());
    else
        fprintf(stderr, "%s: line %d: %s: %s instead of %s (%s)\n", my_name(), line, what,
                pc_status_str(status), pc_status_str(wanted), pc_last_error());
    return 1;
}

/* Runs a call that returns a pc_status; unless it is PC_OK, reports it and returns 1
 * from the calling function (in the client process: its exit code). */
#define CHECK(call)                                                                       \
    do {                                                                                  \
        pc_status check_status_ = (call);                                                 \
        if (check_status_ != PC_OK)                                                       \
            return fail(__LINE__, #call, check_status_, PC_OK);                           \
    } while (0)

/* Runs a call that must fail with `want`. */
#define CHECK_STATUS(call, want)                                                          \
    do {                                                                                  \
        pc_status check_status_ = (call);                                                 \
        if (check_status_ != (want))                                                      \
            return fail(__LINE__, #call, check_status_, (want));                          \
    } while (0)

#define EXPECT(cond)                                                                      \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "%s: line %d: expected %s\n", my_name(), __LINE__, #cond);    \
            return 1;                                                                     \
        }                                                                                 \
    } while (0)

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

static bool is_str(const pc_item *item, const char *s)
{
    return item->kind == PC_KIND_STR && item->len == strlen(s) &&
           memcmp(item->data, s, item->len) == 0;
}

/* ---- the server, on a thread of this process ---- */

struct server {
    pc_manager *m;
    pthread_t thread;
    atomic_bool done;      /* serve_forever returned */
    int status;            /* what it returned */
    char error[512];       /* and pc_last_error() of that thread, if it failed */
};

static void *serve(void *arg)
{
    struct server *s = arg;
    s->status = pc_manager_serve_forever(s->m);
    if (s->status != PC_OK)
        snprintf(s->error, sizeof s->error, "%s", pc_last_error());
    atomic_store(&s->done, true);
    return NULL;
}

/* The address once the server is bound (the port it got), or NULL if it stopped. */
static const char *wait_until_bound(struct server *s)
{
    double deadline = now() + TIMEOUT;
    for (;;) {
        const char *address = pc_manager_address(s->m);
        if (address)
            return address;
        if (atomic_load(&s->done)) {
            fprintf(stderr, "pc_manager_serve_forever: %s (%s)\n", pc_status_str(s->status),
                    s->error);
            return NULL;
        }
        if (now() >= deadline) {
            fprintf(stderr, "the server was not bound after %g s\n", TIMEOUT);
            return NULL;
        }
        sleep_s(0.005);
    }
}

/* ---- the client process: it knows the address and the key, nothing else ---- */

static int client(void *arg)
{
    const char *address = arg;
    pc_manager *m;
    pc_queue *q;
    CHECK(pc_manager_new(address, KEY, strlen(KEY), &m));
    CHECK(pc_manager_connect(m));
    CHECK(pc_manager_queue(m, "queue", 0, &q));
    CHECK(pc_queue_put_item(q, pc_item_str("hello"), TIMEOUT));
    printf("%s put 'hello'\n", my_name());
    pc_queue_free(q);
    pc_manager_free(m); /* a connected handle: the server goes on */
    return 0;
}

/* ---- the parent, as the other client ---- */

/* A connected handle to the server at `address`. */
static int connect_to(const char *address, const char *key, pc_manager **m)
{
    CHECK(pc_manager_new(address, key, strlen(key), m));
    pc_status s = pc_manager_connect(*m);
    if (s != PC_OK) {
        pc_manager_free(*m);
        *m = NULL;
    }
    return s;
}

/* The typeid get_queue, which a Python client calls as m.get_queue(), gives the same
 * queue as the name "queue": what is put through one comes out of the other. */
static int check_same_queue(pc_manager *m, pc_queue *q)
{
    pc_proxy *get_queue;
    CHECK(pc_manager_create(m, "get_queue", NULL, NULL, 0, &get_queue));
    pc_item goodbye = pc_item_str("goodbye"), answer;
    CHECK(pc_proxy_call(get_queue, "put", &goodbye, 1, NULL));
    CHECK(pc_proxy_call(get_queue, "qsize", NULL, 0, &answer));
    EXPECT(answer.kind == PC_KIND_INT && answer.i == 1);
    CHECK(pc_queue_get_item(q, TIMEOUT, &answer));
    bool same = is_str(&answer, "goodbye");
    pc_item_release(&answer);
    EXPECT(same);
    CHECK(pc_proxy_call(get_queue, "empty", NULL, 0, &answer));
    EXPECT(answer.kind == PC_KIND_BOOL && answer.i == 1);
    pc_proxy_free(get_queue);
    printf("get_queue gives the same queue: 'goodbye' put through it came out of "
           "the named queue\n");

    /* Nothing left: the queue is empty, and the server holds one object, the named
     * queue (the client's references went with it; named objects stay until shutdown). */
    size_t n = 99;
    CHECK(pc_queue_qsize(q, &n));
    EXPECT(n == 0 && pc_queue_empty(q));
    CHECK(pc_manager_number_of_objects(m, &n));
    EXPECT(n == 1);
    printf("the queue is empty; the server holds %zu object, the named queue\n", n);
    return 0;
}

/* Prints how a Python client uses the queue; with --wait, waits for what it puts. */
static int python_client(const char *address, pc_queue *q, double wait)
{
    const char *port = strrchr(address, ':');
    EXPECT(strncmp(address, "tcp://127.0.0.1:", 16) == 0 && port != NULL);
    printf("A Python client uses the same queue with:\n\n"
           "    from multiprocessing.managers import BaseManager\n"
           "    class QueueManager(BaseManager): pass\n"
           "    QueueManager.register('get_queue')\n"
           "    m = QueueManager(address=('127.0.0.1', %s), authkey=b'%s')\n"
           "    m.connect()\n"
           "    m.get_queue().put('hello from Python')\n\n",
           port + 1, KEY);
    if (wait <= 0) {
        printf("(run with --wait SECONDS to try it)\n");
        return 0;
    }
    printf("waiting up to %g s for it...\n", wait);
    fflush(stdout);
    pc_item item;
    pc_status s = pc_queue_get_item(q, wait, &item);
    if (s == PC_ERR_EMPTY) {
        printf("nothing came\n");
        return 0;
    }
    CHECK(s);
    if (item.kind == PC_KIND_STR || item.kind == PC_KIND_BYTES)
        printf("got %s'%.*s'\n", item.kind == PC_KIND_BYTES ? "b" : "", (int)item.len,
               (const char *)item.data);
    else if (item.kind == PC_KIND_INT)
        printf("got %lld\n", (long long)item.i);
    else
        printf("got a value of kind %d\n", (int)item.kind);
    pc_item_release(&item);
    return 0;
}

/* Runs the client, takes its 'hello', and checks the queue through both typeids. */
static int use_the_queue(const char *address, double wait)
{
    /* A wrong key is refused by the server's handshake. */
    pc_manager *intruder = NULL;
    CHECK_STATUS(connect_to(address, "not the key", &intruder), PC_ERR_AUTH);
    printf("a client with another key is refused: PC_ERR_AUTH\n");

    pc_process *p;
    CHECK(pc_process_new(client, (void *)address, &p));
    int failed = 0;
    pc_status s = pc_process_start(p);
    if (s != PC_OK)
        failed = fail(__LINE__, "pc_process_start(p)", s, PC_OK);

    /* This process's own handle: as another program would, from the address and key. */
    pc_manager *m = NULL;
    pc_queue *q = NULL;
    if (!failed && (s = connect_to(address, KEY, &m)) != PC_OK)
        failed = fail(__LINE__, "connect_to(address, KEY, &m)", s, PC_OK);
    if (!failed && (s = pc_manager_queue(m, "queue", 0, &q)) != PC_OK)
        failed = fail(__LINE__, "pc_manager_queue(m, \"queue\", 0, &q)", s, PC_OK);
    if (!failed) {
        pc_item item;
        s = pc_queue_get_item(q, TIMEOUT, &item);
        if (s != PC_OK) {
            failed = fail(__LINE__, "pc_queue_get_item(q, TIMEOUT, &item)", s, PC_OK);
        } else if (!is_str(&item, "hello")) {
            fprintf(stderr, "got an item of kind %d, not 'hello'\n", (int)item.kind);
            failed = 1;
        } else {
            printf("%s got 'hello' from %s\n", my_name(), pc_process_name(p));
        }
        pc_item_release(&item);
    }

    /* The client exited with 0 (after a failure here, it is stopped first). */
    if (failed && pc_process_pid(p) != 0)
        pc_process_terminate(p);
    if (pc_process_pid(p) != 0) {
        int code = -1;
        s = pc_process_join(p, TIMEOUT);
        if (s == PC_OK)
            s = pc_process_exitcode(p, &code);
        if (s != PC_OK) {
            failed |= fail(__LINE__, "joining the client", s, PC_OK);
            if (pc_process_kill(p) == PC_OK)
                pc_process_join(p, TIMEOUT);
        } else if (code != 0 && !failed) {
            fprintf(stderr, "%s exited with %d\n", pc_process_name(p), code);
            failed = 1;
        }
    }
    pc_process_free(p);

    if (!failed)
        failed = check_same_queue(m, q);
    if (!failed)
        failed = python_client(address, q, wait);
    pc_queue_free(q);
    pc_manager_free(m);
    return failed;
}

/* Shuts the server down from this thread and joins the serving thread. */
static int stop_server(struct server *srv)
{
    CHECK(pc_manager_shutdown(srv->m));
    double deadline = now() + TIMEOUT;
    while (!atomic_load(&srv->done)) {
        if (now() >= deadline) {
            fprintf(stderr, "serve_forever did not return %g s after the shutdown\n",
                    TIMEOUT);
            return 1; /* the thread cannot be joined: exiting ends it */
        }
        sleep_s(0.005);
    }
    EXPECT(pthread_join(srv->thread, NULL) == 0);
    if (srv->status != PC_OK) {
        fprintf(stderr, "pc_manager_serve_forever: %s (%s)\n", pc_status_str(srv->status),
                srv->error);
        return 1;
    }
    printf("the server was shut down and its thread joined\n");
    return 0;
}

int main(int argc, char **argv)
{
    double wait = 0;
    if (argc == 3 && strcmp(argv[1], "--wait") == 0) {
        wait = atof(argv[2]);
    } else if (argc != 1) {
        fprintf(stderr, "usage: %s [--wait SECONDS]\n", argv[0]);
        return 2;
    }

    /* The server: a free TCP port on the loopback, the key, and the get_queue typeid. */
    static struct server srv;
    CHECK(pc_manager_new("tcp://127.0.0.1:0", KEY, strlen(KEY), &srv.m));
    CHECK(pc_manager_expose(srv.m, "get_queue", "Queue", "queue"));
    if (pthread_create(&srv.thread, NULL, serve, &srv) != 0) {
        fprintf(stderr, "pthread_create failed\n");
        return 1;
    }
    const char *bound = wait_until_bound(&srv);
    if (bound == NULL)
        return 1; /* exiting ends the thread */
    static char address[128];
    snprintf(address, sizeof address, "%s", bound);
    printf("serving at %s\n", address);

    int failed = use_the_queue(address, wait);
    failed |= stop_server(&srv);

    /* Nothing answers at the address any more. */
    pc_manager *late = NULL;
    if (!failed) {
        pc_status s = connect_to(address, KEY, &late);
        if (s != PC_ERR_EOF)
            failed = fail(__LINE__, "connect_to(address, KEY, &late)", s, PC_ERR_EOF);
        else
            printf("a client connecting now gets PC_ERR_EOF: nothing is left\n");
    }
    pc_manager_free(late);
    pc_manager_free(srv.m);
    if (!failed)
        printf("all checks passed\n");
    return failed;
}
