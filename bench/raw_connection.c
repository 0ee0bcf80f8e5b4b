/*
 * raw_connection.c: the floors of the Pipe workloads (bench_connection.c): a blocking
 * AF_UNIX socketpair, a child made by fork, and the library's framing written by hand
 * (raw_frames.h): a 4-byte big-endian length, then the body. A message leaves with one
 * writev (header and body together); a receive reads the 4-byte header, then the body,
 * each with read() until complete.
 *
 * pipe_pingpong    A writes a 64-byte message and reads the echo; B reads and writes it
 *                  back. Per round trip (the runner pins both to one CPU).
 * pipe_throughput  a child writes N messages of 1 MiB; the parent reads each into one
 *                  reused buffer. Bytes per second, from the parent's "go" to the last
 *                  message.
 *
 * Every mode checks what bench_connection.c checks.
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include "bench_messages.h"
#include "raw_frames.h" /* send_msg, recv_msg, CHECK */

/* The socketpair of the current run: the parent uses fds[0], the child fds[1]. */
static int fds[2];
static long rounds;

/* Makes the socketpair and forks a child running fn(); the parent keeps fds[0]. */
static pid_t start_child(int (*fn)(void))
{
    BENCH_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0, "socketpair: %s",
                strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    BENCH_CHECK(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        in_child = 1;
        bench_child_setup();
        close(fds[0]);
        _exit(fn());
    }
    close(fds[1]);
    return pid;
}

static void finish(pid_t pid)
{
    int status = 0;
    BENCH_CHECK(waitpid(pid, &status, 0) == pid, "waitpid: %s", strerror(errno));
    BENCH_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x", status);
    close(fds[0]);
}

/* ---- pipe_pingpong ---------------------------------------------------------------- */

static int echo_b(void)
{
    uint8_t m[PINGPONG_SIZE];
    for (long i = 0; i <= rounds; i++) {
        size_t len = recv_msg(fds[1], m, sizeof m);
        CHECK(len == PINGPONG_SIZE && get_i64(m) == i, "B: round %ld got %zu bytes", i, len);
        send_msg(fds[1], m, (uint32_t)len);
    }
    return 0;
}

static void pingpong_a_round(uint8_t *msg, long i)
{
    uint8_t echo[PINGPONG_SIZE];
    put_i64(msg, i);
    send_msg(fds[0], msg, PINGPONG_SIZE);
    size_t len = recv_msg(fds[0], echo, sizeof echo);
    BENCH_CHECK(len == PINGPONG_SIZE && memcmp(echo, msg, PINGPONG_SIZE) == 0,
                "A: round %ld: a wrong echo (%zu bytes)", i, len);
}

static double pipe_pingpong(long iters)
{
    uint8_t msg[PINGPONG_SIZE];
    for (int k = 0; k < PINGPONG_SIZE; k++)
        msg[k] = (uint8_t)(k * 7 + 1);
    rounds = iters;
    pid_t b = start_child(echo_b);
    pingpong_a_round(msg, 0); /* B is running: start the clock */
    uint64_t t0 = bench_now_ns();
    for (long i = 1; i <= iters; i++)
        pingpong_a_round(msg, i);
    double ns = (double)(bench_now_ns() - t0) / (double)iters;
    finish(b);
    return ns;
}

/* ---- pipe_throughput -------------------------------------------------------------- */

static int sender(void)
{
    uint8_t *buf = malloc(THROUGHPUT_SIZE);
    CHECK(buf != NULL, "out of memory");
    for (size_t k = 0; k < THROUGHPUT_SIZE; k++)
        buf[k] = (uint8_t)(k * 7 + 1);
    uint8_t go[8];
    CHECK(recv_msg(fds[1], go, sizeof go) == 2, "no go");
    for (long i = 0; i < rounds; i++) {
        stamp(buf, i);
        send_msg(fds[1], buf, THROUGHPUT_SIZE);
    }
    free(buf);
    return 0;
}

static double pipe_throughput(long iters)
{
    uint8_t *buf = malloc(THROUGHPUT_SIZE);
    BENCH_CHECK(buf != NULL, "out of memory");
    memset(buf, 0, THROUGHPUT_SIZE);
    rounds = iters;
    pid_t p = start_child(sender);
    uint64_t t0 = bench_now_ns();
    send_msg(fds[0], "go", 2);
    for (long i = 0; i < iters; i++) {
        size_t len = recv_msg(fds[0], buf, THROUGHPUT_SIZE);
        check_stamps(buf, len, i);
    }
    double s = (double)(bench_now_ns() - t0) * 1e-9;
    finish(p);
    free(buf);
    return (double)iters * THROUGHPUT_SIZE / s;
}

static const bench_mode modes[] = {
    {"pipe_pingpong", BENCH_NS_PER_OP, pipe_pingpong, 50000},
    {"pipe_throughput", BENCH_OPS_PER_S, pipe_throughput, 2000},
};

int main(int argc, char **argv)
{
    return BENCH_MAIN(argc, argv, modes);
}
