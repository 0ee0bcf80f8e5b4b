/*
 * bench_connection.c: libprocessing's Pipe workloads (see bench/run.py for the table).
 * The floors are in raw_connection.c, the Python peers in peers.py.
 *
 * pipe_pingpong         a duplex pc_pipe between the parent (A) and a child (B): A sends a
 *                       64-byte message (pc_connection_send_bytes) and waits for its echo
 *                       (pc_connection_recv_bytes); B receives it and sends it back. Per
 *                       round trip; meant to run on one CPU (the runner uses taskset -c 0).
 * pipe_throughput       one direction: a child sends N messages of 1 MiB, the parent
 *                       receives them with pc_connection_recv_bytes (a fresh buffer per
 *                       message, released with pc_bytes_free, as Python's recv_bytes).
 *                       Bytes per second, from the parent's "go" to the last message.
 * pipe_throughput_into  the same, received with pc_connection_recv_bytes_into into one
 *                       reused buffer (not a row of the table: it shows what the
 *                       allocation of recv_bytes costs).
 *
 * Each program checks what it receives: every ping-pong message carries its round number
 * and comes back byte for byte (B checks the order too); every 1 MiB message has the
 * right length and carries its sequence number at each 64 KiB and in its last 8 bytes.
 * The child is started with pc_process_* before the clock starts and is daemonic, so a
 * failing parent takes it down; it has its own alarm (bench_child_setup), and each side
 * closes the end of the pipe it does not use, so a side that dies is seen as EOF.
 */
#include "bench_lib.h"
#include "bench_messages.h"

/* The pipe of the current run: the parent uses `parent_end`, the child `child_end`. */
static pc_connection *parent_end, *child_end;
static long rounds; /* round trips or messages, after one untimed first one (ping-pong) */

/* Starts a daemonic child running target(NULL), then closes the child's end here. */
static pc_process *start_child(pc_target_fn target)
{
    pc_process *p = NULL;
    PC_CHECK(pc_pipe(true, &parent_end, &child_end));
    PC_CHECK(pc_process_new(target, NULL, &p));
    PC_CHECK(pc_process_set_daemon(p, true));
    PC_CHECK(pc_process_start(p));
    pc_connection_free(child_end); /* the child has its own copy */
    return p;
}

/* In the child, first: the alarm, and the parent's end closed here. */
static void child_setup(void)
{
    bench_child_setup();
    pc_connection_free(parent_end);
}

/* Joins the child, checks that it exited with 0, frees it and the parent's end. */
static void finish(pc_process *p)
{
    int code = -1;
    PC_CHECK(pc_process_join(p, PC_FOREVER));
    PC_CHECK(pc_process_exitcode(p, &code));
    BENCH_CHECK(code == 0, "child exited with %d", code);
    pc_process_free(p);
    pc_connection_free(parent_end);
}

/* ---- pipe_pingpong ---------------------------------------------------------------- */

static int echo_b(void *arg)
{
    (void)arg;
    child_setup();
    for (long i = 0; i <= rounds; i++) {
        pc_bytes m = {0};
        PC_CHILD_CHECK(pc_connection_recv_bytes(child_end, 0, &m));
        BENCH_CHILD_CHECK(m.len == PINGPONG_SIZE && get_i64(m.data) == i,
                          "B: round %ld got %zu bytes", i, m.len);
        PC_CHILD_CHECK(pc_connection_send_bytes(child_end, m.data, m.len));
        pc_bytes_free(&m);
    }
    return 0;
}

/* A's side of round i: send the message numbered i, receive the echo, compare. */
static void pingpong_a_round(uint8_t *msg, long i)
{
    put_i64(msg, i);
    PC_CHECK(pc_connection_send_bytes(parent_end, msg, PINGPONG_SIZE));
    pc_bytes echo = {0};
    PC_CHECK(pc_connection_recv_bytes(parent_end, 0, &echo));
    BENCH_CHECK(echo.len == PINGPONG_SIZE && memcmp(echo.data, msg, PINGPONG_SIZE) == 0,
                "A: round %ld: a wrong echo (%zu bytes)", i, echo.len);
    pc_bytes_free(&echo);
}

static double pipe_pingpong(long iters)
{
    uint8_t msg[PINGPONG_SIZE];
    for (int k = 0; k < PINGPONG_SIZE; k++)
        msg[k] = (uint8_t)(k * 7 + 1);
    rounds = iters;
    pc_process *b = start_child(echo_b);
    pingpong_a_round(msg, 0); /* B is running: start the clock */
    uint64_t t0 = bench_now_ns();
    for (long i = 1; i <= iters; i++)
        pingpong_a_round(msg, i);
    double ns = (double)(bench_now_ns() - t0) / (double)iters;
    finish(b);
    return ns;
}

/* ---- pipe_throughput -------------------------------------------------------------- */

static int sender(void *arg)
{
    (void)arg;
    child_setup();
    uint8_t *buf = malloc(THROUGHPUT_SIZE);
    BENCH_CHILD_CHECK(buf != NULL, "out of memory");
    for (size_t k = 0; k < THROUGHPUT_SIZE; k++)
        buf[k] = (uint8_t)(k * 7 + 1);
    pc_bytes go = {0};
    PC_CHILD_CHECK(pc_connection_recv_bytes(child_end, 0, &go));
    pc_bytes_free(&go);
    for (long i = 0; i < rounds; i++) {
        stamp(buf, i);
        PC_CHILD_CHECK(pc_connection_send_bytes(child_end, buf, THROUGHPUT_SIZE));
    }
    free(buf);
    return 0;
}

static double throughput(long iters, bool into)
{
    uint8_t *buf = NULL;
    if (into) {
        buf = malloc(THROUGHPUT_SIZE);
        BENCH_CHECK(buf != NULL, "out of memory");
        memset(buf, 0, THROUGHPUT_SIZE); /* touched once, as a reused buffer is */
    }
    rounds = iters;
    pc_process *p = start_child(sender);
    uint64_t t0 = bench_now_ns();
    PC_CHECK(pc_connection_send_bytes(parent_end, "go", 2));
    for (long i = 0; i < iters; i++) {
        if (into) {
            size_t len = 0;
            PC_CHECK(pc_connection_recv_bytes_into(parent_end, buf, THROUGHPUT_SIZE, 0, &len));
            check_stamps(buf, len, i);
        } else {
            pc_bytes m = {0};
            PC_CHECK(pc_connection_recv_bytes(parent_end, 0, &m));
            check_stamps(m.data, m.len, i);
            pc_bytes_free(&m);
        }
    }
    double s = (double)(bench_now_ns() - t0) * 1e-9;
    finish(p);
    free(buf);
    return (double)iters * THROUGHPUT_SIZE / s;
}

static double pipe_throughput(long iters)
{
    return throughput(iters, false);
}

static double pipe_throughput_into(long iters)
{
    return throughput(iters, true);
}

static const bench_mode modes[] = {
    {"pipe_pingpong", BENCH_NS_PER_OP, pipe_pingpong, 50000},
    {"pipe_throughput", BENCH_OPS_PER_S, pipe_throughput, 2000},
    {"pipe_throughput_into", BENCH_OPS_PER_S, pipe_throughput_into, 2000},
};

int main(int argc, char **argv)
{
    return BENCH_MAIN(argc, argv, modes);
}
