/*
 * bench_manager.c: libprocessing's Manager workloads (see bench/run.py for the table).
 * The floor of the dict round trip is in raw_manager.c, the Python peers in peers.py;
 * bench_manager_server.c is the C server the Python client of the last row talks to.
 *
 * Every workload uses one manager (pc_manager_new with the defaults: a private unix
 * socket and this process's authkey, as Python's SyncManager()), started by the
 * program's first run (bench_main's untimed warm-up) and shut down at exit, and one
 * anonymous managed dict or queue made with it: no repetition pays for starting the
 * server.
 *
 * manager_dict_rtt       pc_dict_set(d, k, i) then pc_dict_get(d, k), N times, with 64
 *                        str keys in turn ("key-00" … "key-63") and int values; every value
 *                        got back is checked. Nanoseconds per set + get (two round trips
 *                        to the server); run.py runs it on one CPU and unpinned.
 * manager_queue_rtt      one process puts a 64-byte message into a managed queue
 *                        (pc_manager_queue, pc_queue_put) and gets it back (pc_queue_get +
 *                        pc_bytes_free), N times; every message carries its number and is
 *                        compared byte for byte. Nanoseconds per put + get.
 * manager_dict_clients_C C client processes (1, 2, 4 or 8) on the one dict, each doing
 *                        N/C set + get pairs on 64 keys of its own ("c3-key-05"). Each child
 *                        makes its first call (which opens its connection to the server
 *                        and takes its reference to the dict) before it says it is ready;
 *                        the clock runs from "go" until the last client's last get. Set +
 *                        get pairs per second, all clients together.
 *
 * manager_link_dict_rtt[_1ms]
 *                        manager_dict_rtt's loop over a network link: the server is
 *                        started in one network namespace on a tcp address, the dict used
 *                        from another through its own connected manager handle (run.py
 *                        makes the two namespaces and the veth pair between them, and, for
 *                        _1ms, adds 1 ms to every round trip; see bench_common.h). Round
 *                        trips per second (a set and a get are two).
 * manager_link_update_1ms
 *                        over the 1 ms link, N values moved BATCH (100) at a time, each
 *                        batch in one pc_dict_update (one round trip) on BATCH keys
 *                        ("item-000" …). Items per second.
 * manager_link_set_1ms   the same N values, one pc_dict_set (one round trip) each. Items per
 *                        second.
 *
 * The clients are started with pc_process_* (daemonic, their own alarm), signal a
 * semaphore and wait for a "go" event, as bench_queue.c's children do; each writes the
 * time it finished into a shared array.
 */
#define _GNU_SOURCE /* bench_link_enter */
#include <stdio.h>

#include "bench_lib.h"
#include "bench_messages.h" /* put_i64, get_i64 */

#define KEYS 64
#define QUEUE_MSG 64
#define MAX_CLIENTS 8
#define BATCH 100

static pc_manager *mgr;
static pc_dict *dict;
static pc_queue *queue;

/* The keys: KEYS per client (client -1: the single-process workloads' "key-NN"). */
static char keys[MAX_CLIENTS + 1][KEYS][16];

/* The run of manager_dict_clients_C under way, set up by the parent. */
static struct {
    long per_client;     /* set + get pairs each client makes */
    pc_semaphore *ready; /* released once by every client before it waits for go */
    pc_event *go;        /* set when all are ready: the clock runs */
    pc_array *ends_shm;  /* int64 [MAX_CLIENTS]: when each client finished */
    int64_t *ends;
} cb;

/* Which side's check fails: a child must _exit, the parent may exit. */
static bool in_child;

#define CHECK(cond, ...)                          \
    do {                                          \
        if (in_child)                             \
            BENCH_CHILD_CHECK(cond, __VA_ARGS__); \
        else                                      \
            BENCH_CHECK(cond, __VA_ARGS__);       \
    } while (0)

/* A pc_status check for the hot loops, in parent or child. */
#define CHECK_OK(st, what)                                                              \
    do {                                                                                \
        pc_status s_ = (st);                                                            \
        if (__builtin_expect(s_ != PC_OK, 0))                                           \
            CHECK(0, "%s: %s: %s", what, pc_status_str(s_), pc_last_error());           \
    } while (0)

/* At exit: the handles first (each drops its reference), then the server (pc_manager_free
 * shuts down a server this process started). */
static void stop_manager(void)
{
    pc_dict_free(dict);
    pc_queue_free(queue);
    pc_manager_free(mgr);
}

static void make_keys(void)
{
    for (int c = 0; c <= MAX_CLIENTS; c++)
        for (int k = 0; k < KEYS; k++) {
            if (c == 0)
                snprintf(keys[c][k], sizeof keys[c][k], "key-%02d", k);
            else
                snprintf(keys[c][k], sizeof keys[c][k], "c%d-key-%02d", c - 1, k);
        }
}

/* The manager of every workload, started on first use. */
static pc_manager *the_manager(void)
{
    if (!mgr) {
        PC_CHECK(pc_manager_new(NULL, NULL, 0, &mgr));
        PC_CHECK(pc_manager_start(mgr));
        BENCH_CHECK(atexit(stop_manager) == 0, "atexit");
        make_keys();
    }
    return mgr;
}

static pc_dict *the_dict(void)
{
    if (!dict)
        PC_CHECK(pc_manager_dict(the_manager(), NULL, &dict));
    return dict;
}

/* One set + get of value `i` under `key` in `d`; the value got back must be `i`. */
static inline void set_get(pc_dict *d, const char *key, int64_t i)
{
    pc_item k = pc_item_str(key);
    CHECK_OK(pc_dict_set(d, k, pc_item_int(i)), "pc_dict_set");
    pc_item got = pc_item_none();
    CHECK_OK(pc_dict_get(d, k, &got), "pc_dict_get");
    CHECK(got.kind == PC_KIND_INT && got.i == i, "%s: set %lld, got kind %d value %lld", key,
          (long long)i, (int)got.kind, (long long)got.i);
    pc_item_release(&got);
}

/* ---- manager_dict_rtt ------------------------------------------------------------- */

static double manager_dict_rtt(long iters)
{
    the_dict();
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < iters; i++)
        set_get(dict, keys[0][i % KEYS], i);
    return (double)(bench_now_ns() - t0) / (double)iters;
}

/* ---- manager_queue_rtt ------------------------------------------------------------ */

static double manager_queue_rtt(long iters)
{
    if (!queue)
        PC_CHECK(pc_manager_queue(the_manager(), NULL, 0, &queue));
    uint8_t msg[QUEUE_MSG];
    for (int k = 0; k < QUEUE_MSG; k++)
        msg[k] = (uint8_t)(k * 7 + 1);
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < iters; i++) {
        put_i64(msg, i);
        PC_CHECK(pc_queue_put(queue, msg, QUEUE_MSG, PC_FOREVER));
        pc_bytes got = {0};
        PC_CHECK(pc_queue_get(queue, PC_FOREVER, &got));
        BENCH_CHECK(got.len == QUEUE_MSG && memcmp(got.data, msg, QUEUE_MSG) == 0,
                    "message %ld: %zu bytes, not the ones put", i, got.len);
        pc_bytes_free(&got);
    }
    return (double)(bench_now_ns() - t0) / (double)iters;
}

/* ---- manager_dict_clients_C ------------------------------------------------------- */

static int dict_client(void *arg)
{
    int me = (int)(intptr_t)arg;
    bench_child_setup();
    in_child = true;
    /* The first call opens this process's connection and takes its reference. */
    set_get(dict, keys[me + 1][0], -1);
    PC_CHILD_CHECK(pc_semaphore_release(cb.ready));
    PC_CHILD_CHECK(pc_event_wait(cb.go, PC_FOREVER));
    for (long i = 0; i < cb.per_client; i++)
        set_get(dict, keys[me + 1][i % KEYS], i);
    cb.ends[me] = (int64_t)bench_now_ns();
    return 0;
}

/* Set + get pairs per second of `clients` processes together. */
static double dict_clients(long iters, int clients)
{
    the_dict();
    cb.per_client = (iters + clients - 1) / clients;
    PC_CHECK(pc_semaphore_new(0, &cb.ready));
    PC_CHECK(pc_event_new(&cb.go));
    PC_CHECK(pc_raw_array_new('q', MAX_CLIENTS, NULL, &cb.ends_shm));
    cb.ends = pc_array_ptr(cb.ends_shm);
    BENCH_CHECK(cb.ends != NULL, "no shared memory: %s", pc_last_error());

    pc_process *p[MAX_CLIENTS];
    for (int c = 0; c < clients; c++) {
        PC_CHECK(pc_process_new(dict_client, (void *)(intptr_t)c, &p[c]));
        PC_CHECK(pc_process_set_daemon(p[c], true));
        PC_CHECK(pc_process_start(p[c]));
    }
    for (int c = 0; c < clients; c++)
        PC_CHECK(pc_semaphore_acquire(cb.ready, PC_FOREVER));
    uint64_t t0 = bench_now_ns();
    PC_CHECK(pc_event_set(cb.go));
    int64_t end = 0;
    for (int c = 0; c < clients; c++) {
        int code = -1;
        PC_CHECK(pc_process_join(p[c], PC_FOREVER));
        PC_CHECK(pc_process_exitcode(p[c], &code));
        BENCH_CHECK(code == 0, "client %d exited with %d", c, code);
        pc_process_free(p[c]);
        BENCH_CHECK(cb.ends[c] > (int64_t)t0, "client %d did not report its end", c);
        if (cb.ends[c] > end)
            end = cb.ends[c];
    }
    pc_array_free(cb.ends_shm);
    pc_event_free(cb.go);
    pc_semaphore_free(cb.ready);
    return (double)(clients * cb.per_client) / ((double)(end - (int64_t)t0) * 1e-9);
}

static double manager_dict_clients_1(long iters)
{
    return dict_clients(iters, 1);
}

static double manager_dict_clients_2(long iters)
{
    return dict_clients(iters, 2);
}

static double manager_dict_clients_4(long iters)
{
    return dict_clients(iters, 4);
}

static double manager_dict_clients_8(long iters)
{
    return dict_clients(iters, 8);
}

/* ---- over a network link ---------------------------------------------------------- */

static pc_manager *link_server, *link_client;
static pc_dict *link_dict;

static void stop_link(void)
{
    pc_dict_free(link_dict);
    pc_manager_free(link_client);
    pc_manager_free(link_server); /* shuts the server down, over the link */
}

/* A dict of a server started in the server's namespace, used from the clients'. */
static pc_dict *the_link_dict(void)
{
    if (!link_dict) {
        char address[128];
        bench_link_enter("SERVER");
        snprintf(address, sizeof address, "tcp://%s", bench_link_env("PC_BENCH_LINK_SERVER"));
        PC_CHECK(pc_manager_new(address, NULL, 0, &link_server));
        PC_CHECK(pc_manager_start(link_server));
        bench_link_enter("CLIENT");
        snprintf(address, sizeof address, "tcp://%s", bench_link_env("PC_BENCH_LINK_CLIENT"));
        PC_CHECK(pc_manager_new(address, NULL, 0, &link_client));
        PC_CHECK(pc_manager_connect(link_client));
        PC_CHECK(pc_manager_dict(link_client, NULL, &link_dict));
        BENCH_CHECK(atexit(stop_link) == 0, "atexit");
        make_keys();
    }
    return link_dict;
}

static double per_second(long ops, uint64_t t0)
{
    return (double)ops / ((double)(bench_now_ns() - t0) * 1e-9);
}

/* Round trips per second: a set and a get each. */
static double manager_link_dict_rtt(long iters)
{
    pc_dict *d = the_link_dict();
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < iters; i++)
        set_get(d, keys[0][i % KEYS], i);
    return per_second(2 * iters, t0);
}

static char item_keys[BATCH][16];

/* Checks that item-(n-1 mod BATCH) holds n - 1, the last value moved. */
static void check_last(pc_dict *d, long n)
{
    pc_item got = pc_item_none();
    PC_CHECK(pc_dict_get(d, pc_item_str(item_keys[(n - 1) % BATCH]), &got));
    BENCH_CHECK(got.kind == PC_KIND_INT && got.i == n - 1, "the last value moved is not there");
}

static pc_dict *the_item_dict(void)
{
    for (int k = 0; k < BATCH; k++)
        snprintf(item_keys[k], sizeof item_keys[k], "item-%03d", k);
    return the_link_dict();
}

/* Items per second, BATCH in one pc_dict_update. */
static double manager_link_update_1ms(long iters)
{
    pc_dict *d = the_item_dict();
    long calls = (iters + BATCH - 1) / BATCH;
    pc_item k[BATCH], v[BATCH];
    uint64_t t0 = bench_now_ns();
    for (long c = 0; c < calls; c++) {
        for (int j = 0; j < BATCH; j++) {
            k[j] = pc_item_str(item_keys[j]);
            v[j] = pc_item_int(c * BATCH + j);
        }
        CHECK_OK(pc_dict_update(d, k, v, BATCH), "pc_dict_update");
    }
    double rate = per_second(calls * BATCH, t0);
    check_last(d, calls * BATCH);
    return rate;
}

/* Items per second, one pc_dict_set each. */
static double manager_link_set_1ms(long iters)
{
    pc_dict *d = the_item_dict();
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < iters; i++)
        CHECK_OK(pc_dict_set(d, pc_item_str(item_keys[i % BATCH]), pc_item_int(i)),
                 "pc_dict_set");
    double rate = per_second(iters, t0);
    check_last(d, iters);
    return rate;
}

static const bench_mode modes[] = {
    {"manager_dict_rtt", BENCH_NS_PER_OP, manager_dict_rtt, 20000},
    {"manager_queue_rtt", BENCH_NS_PER_OP, manager_queue_rtt, 20000},
    {"manager_dict_clients_1", BENCH_OPS_PER_S, manager_dict_clients_1, 20000},
    {"manager_dict_clients_2", BENCH_OPS_PER_S, manager_dict_clients_2, 20000},
    {"manager_dict_clients_4", BENCH_OPS_PER_S, manager_dict_clients_4, 20000},
    {"manager_dict_clients_8", BENCH_OPS_PER_S, manager_dict_clients_8, 20000},
    {"manager_link_dict_rtt", BENCH_OPS_PER_S, manager_link_dict_rtt, 5000},
    {"manager_link_dict_rtt_1ms", BENCH_OPS_PER_S, manager_link_dict_rtt, 200},
    {"manager_link_update_1ms", BENCH_OPS_PER_S, manager_link_update_1ms, 20000},
    {"manager_link_set_1ms", BENCH_OPS_PER_S, manager_link_set_1ms, 500},
};

int main(int argc, char **argv)
{
    return BENCH_MAIN(argc, argv, modes);
}
