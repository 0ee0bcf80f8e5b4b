/*
 * test_fd_transfer.c: pc_connection_send_fd and pc_connection_recv_fd (include/processing.h),
 * Python's multiprocessing.reduction.send_handle and recv_handle: a descriptor to a child
 * and back, one numbered above 256, a message where a descriptor was expected (left whole),
 * the received descriptor's close-on-exec flag, bad arguments and connections that carry
 * no descriptor (one-way ends, TCP), nothing left open, and a Python peer on the same
 * socketpair (python3 from $PATH; without it that subtest says so and passes).
 *
 * ctest-timeout: 60
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "testutil.h"

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* An anonymous file to write through, opened read-write. */
static int temp_file(void)
{
    char path[] = "/tmp/pc-fd-transfer-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    CHECK(unlink(path) == 0);
    return fd;
}

/* What the file holds from its start (NUL-terminated). */
static void check_file(int fd, const char *want)
{
    char buf[64] = "";
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    CHECK(n >= 0);
    buf[n < 0 ? 0 : n] = '\0';
    if (strcmp(buf, want) != 0)
        FAIL("the file holds \"%s\", expected \"%s\"", buf, want);
}

/* A child's target: receives a descriptor on `arg` (its end of a pipe), checks it is
 * close-on-exec, writes "foo" through it and reports its number. Exit codes tell the
 * failure. */
static int child_writes_through(void *arg)
{
    pc_connection *c = arg;
    int fd = -1;
    if (pc_connection_recv_fd(c, 10.0, &fd) != PC_OK)
        return 10;
    if (!(fcntl(fd, F_GETFD) & FD_CLOEXEC))
        return 11;
    if (write(fd, "foo", 3) != 3)
        return 12;
    if (pc_connection_send_bytes(c, &fd, sizeof fd) != PC_OK)
        return 13;
    close(fd);
    return 0;
}

/* CPython: test_fd_transfer */
static void test_fd_transfer(void)
{
    int fds = count_open_fds();
    pc_connection *mine, *theirs;
    new_pipe(true, &mine, &theirs);
    pc_process *p = start(child_writes_through, theirs);
    int file = temp_file();
    CHECK_OK(pc_connection_send_fd(mine, file));
    int child_fd = -1;
    pc_bytes m = {NULL, 0};
    CHECK_OK(pc_connection_recv_bytes(mine, 0, &m));
    CHECK(m.len == sizeof child_fd);
    memcpy(&child_fd, m.data, sizeof child_fd);
    pc_bytes_free(&m);
    CHECK(child_fd >= 0);
    CHECK(finish(p, 10.0) == 0);
    check_file(file, "foo");
    /* The sender's descriptor stays open and its own. */
    CHECK(fcntl(file, F_GETFD) >= 0);
    CHECK(close(file) == 0);

    /* Both ways in one process, between messages that stay whole around them. */
    int fd = temp_file();
    send_str(theirs, "before");
    CHECK_OK(pc_connection_send_fd(theirs, fd));
    send_str(theirs, "after");
    recv_str(mine, "before");
    int got = -1;
    CHECK_OK(pc_connection_recv_fd(mine, 5.0, &got));
    CHECK(got >= 0 && got != fd);
    CHECK(fcntl(got, F_GETFD) & FD_CLOEXEC);
    recv_str(mine, "after");
    CHECK(write(got, "bar", 3) == 3);
    check_file(fd, "bar"); /* the same open file */
    close(got);
    close(fd);
    free_pipe(mine, theirs);
    CHECK(count_open_fds() == fds);
}

/* A child's target: receives a descriptor and writes "large" through it. */
static int child_writes_large(void *arg)
{
    int fd = -1;
    if (pc_connection_recv_fd(arg, 10.0, &fd) != PC_OK)
        return 10;
    int ok = write(fd, "large", 5) == 5;
    close(fd);
    return ok ? 0 : 11;
}

/* CPython: test_large_fd_transfer (a descriptor numbered above 256, issue #11657) */
static void test_large_fd_transfer(void)
{
    struct rlimit lim;
    CHECK(getrlimit(RLIMIT_NOFILE, &lim) == 0);
    if (lim.rlim_cur <= 300) {
        fprintf(stderr, "   skipped: RLIMIT_NOFILE is %lu\n", (unsigned long)lim.rlim_cur);
        return;
    }
    int fds = count_open_fds();
    int file = temp_file();
    int large = 256;
    while (fcntl(large, F_GETFD) >= 0)
        large++;
    CHECK(dup2(file, large) == large);
    pc_connection *mine, *theirs;
    new_pipe(true, &mine, &theirs);
    pc_process *p = start(child_writes_large, theirs);
    CHECK_OK(pc_connection_send_fd(mine, large));
    CHECK(close(large) == 0);
    CHECK(finish(p, 10.0) == 0);
    check_file(file, "large");
    close(file);
    free_pipe(mine, theirs);
    CHECK(count_open_fds() == fds);
}

/* A child's target: writes one raw byte, with no descriptor, on its end (CPython's
 * _send_data_without_fd). */
static int child_sends_data_without_fd(void *arg)
{
    return write(pc_connection_fileno(arg), "", 1) == 1 ? 0 : 10;
}

/* CPython: test_missing_fd_transfer */
static void test_missing_fd_transfer(void)
{
    int fds = count_open_fds();
    pc_connection *mine, *theirs;
    new_pipe(true, &mine, &theirs);
    pc_process *p = start(child_sends_data_without_fd, theirs);
    CHECK(finish(p, 10.0) == 0);
    int fd = 12345;
    CHECK_STATUS(pc_connection_recv_fd(mine, 5.0, &fd), PC_ERR_TYPE);
    CHECK_ERRMSG("pc_connection_recv_fd");
    CHECK_ERRMSG("not a descriptor");
    CHECK(fd == 12345);
    free_pipe(mine, theirs);

    /* A message where a descriptor was expected: refused, and the message stays whole
     * (also when a too-short buffer left it pending), with what follows it. */
    new_pipe(true, &mine, &theirs);
    send_str(theirs, "a message");
    int file = temp_file();
    CHECK_OK(pc_connection_send_fd(theirs, file));
    CHECK_STATUS(pc_connection_recv_fd(mine, 5.0, &fd), PC_ERR_TYPE);
    CHECK(fd == 12345);
    char small[2];
    size_t len = 0;
    CHECK_STATUS(pc_connection_recv_bytes_into(mine, small, sizeof small, 0, &len),
                 PC_ERR_BUFFER_TOO_SHORT);
    CHECK_STATUS(pc_connection_recv_fd(mine, 0, &fd), PC_ERR_TYPE);
    recv_str(mine, "a message");
    CHECK_OK(pc_connection_recv_fd(mine, 5.0, &fd));
    CHECK(fd >= 0);
    close(fd);
    close(file);
    /* Nothing sent: a timeout; the peer gone: EOF. */
    double t0 = now();
    CHECK_STATUS(pc_connection_recv_fd(mine, 0.2, &fd), PC_ERR_TIMEOUT);
    CHECK(now() - t0 >= 0.19);
    CHECK_OK(pc_connection_close(theirs));
    CHECK_STATUS(pc_connection_recv_fd(mine, 5.0, &fd), PC_ERR_EOF);
    CHECK_STATUS(pc_connection_send_fd(mine, 0), PC_ERR_EOF);
    free_pipe(mine, theirs);
    CHECK(count_open_fds() == fds);
}

static void test_bad_arguments(void)
{
    int fds = count_open_fds();
    pc_connection *a, *b;
    new_pipe(true, &a, &b);
    int fd = 4242;
    CHECK_STATUS(pc_connection_send_fd(NULL, 0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_connection_send_fd: c is NULL");
    CHECK_STATUS(pc_connection_recv_fd(NULL, 0, &fd), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_connection_recv_fd: c is NULL");
    CHECK_STATUS(pc_connection_recv_fd(a, 0, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("out is NULL");
    CHECK_STATUS(pc_connection_recv_fd(a, NAN, &fd), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("timeout");
    CHECK_STATUS(pc_connection_send_fd(a, -1), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("fd is -1");
    int closed = dup(0);
    CHECK(closed >= 0 && close(closed) == 0);
    CHECK_STATUS(pc_connection_send_fd(a, closed), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("not an open descriptor");
    /* None of them sent anything. */
    CHECK_STATUS(pc_connection_poll(b, 0), PC_ERR_TIMEOUT);
    CHECK(fd == 4242);
    /* A lock is no connection; a closed end is closed. */
    pc_lock *lock;
    CHECK_OK(pc_lock_new(&lock));
    CHECK_STATUS(pc_connection_send_fd((pc_connection *)lock, 0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("is not a pc_connection");
    CHECK_STATUS(pc_connection_recv_fd((pc_connection *)lock, 0, &fd), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("is not a pc_connection");
    pc_lock_free(lock);
    CHECK_OK(pc_connection_close(a));
    CHECK_STATUS(pc_connection_send_fd(a, 0), PC_ERR_CLOSED);
    CHECK_STATUS(pc_connection_recv_fd(a, 0, &fd), PC_ERR_CLOSED);
    free_pipe(a, b);

    /* One-way ends go one way. */
    pc_connection *r, *w;
    new_pipe(false, &r, &w);
    CHECK_STATUS(pc_connection_send_fd(r, 0), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("only receives");
    CHECK_STATUS(pc_connection_recv_fd(w, 0, &fd), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("only sends");
    CHECK_OK(pc_connection_send_fd(w, 0));
    CHECK_OK(pc_connection_recv_fd(r, 5.0, &fd));
    CHECK(fd > 2);
    close(fd);
    free_pipe(r, w);

    /* A unix Listener's and Client's connections carry them. */
    pc_listener *ul;
    CHECK_OK(pc_listener_new(NULL, 1, NULL, 0, &ul));
    pc_connection *uc, *us;
    CHECK_OK(pc_client_connect(pc_listener_address(ul), NULL, 0, &uc));
    CHECK_OK(pc_listener_accept(ul, 5.0, &us));
    CHECK_OK(pc_connection_send_fd(uc, 1));
    CHECK_OK(pc_connection_recv_fd(us, 5.0, &fd));
    CHECK(fd > 2);
    close(fd);
    pc_connection_free(uc);
    pc_connection_free(us);
    pc_listener_free(ul);

    /* TCP carries no descriptor: refused, and the connection stays usable. */
    pc_listener *l;
    CHECK_OK(pc_listener_new("tcp://127.0.0.1:0", 1, NULL, 0, &l));
    pc_connection *client, *server;
    CHECK_OK(pc_client_connect(pc_listener_address(l), NULL, 0, &client));
    CHECK_OK(pc_listener_accept(l, 5.0, &server));
    CHECK_STATUS(pc_connection_send_fd(client, 0), PC_ERR_NOT_SUPPORTED);
    CHECK_ERRMSG("unix sockets only");
    CHECK_STATUS(pc_connection_recv_fd(server, 0, &fd), PC_ERR_NOT_SUPPORTED);
    CHECK_ERRMSG("unix sockets only");
    send_str(client, "still fine");
    recv_str(server, "still fine");
    pc_connection_free(client);
    pc_connection_free(server);
    pc_listener_free(l);
    CHECK(count_open_fds() == fds);
}

/* ---- a Python peer: reduction.recv_handle and send_handle on the same socketpair ---- */

static const char PYTHON_PEER[] =
    "import os\n"
    "from multiprocessing import reduction\n"
    "from multiprocessing.connection import Connection\n"
    "c = Connection(3)\n"
    "fd = reduction.recv_handle(c)\n"
    "os.write(fd, b'from python')\n"
    "os.close(fd)\n"
    "r, w = os.pipe()\n"
    "os.write(w, b'to c')\n"
    "os.close(w)\n"
    "reduction.send_handle(c, r, 0)\n"
    "os.close(r)\n"
    "c.send_bytes(b'done')\n";

static int python_end = -1;

/* The sub-process: its end of the pipe becomes fd 3 (dup2 clears close-on-exec). */
static int exec_python_peer(void *arg)
{
    (void)arg;
    if (dup2(python_end, 3) != 3)
        return 10;
    execlp("python3", "python3", "-c", PYTHON_PEER, (char *)NULL);
    return 127;
}

static void test_python_peer(void)
{
    if (system("command -v python3 >/dev/null 2>&1") != 0) {
        fprintf(stderr, "   skipped: python3 is not in PATH\n");
        return;
    }
    int fds = count_open_fds();
    pc_connection *mine, *theirs;
    new_pipe(true, &mine, &theirs);
    python_end = pc_connection_fileno(theirs);
    pid_t pid = fork_sub(exec_python_peer, NULL);
    pc_connection_free(theirs);
    int file = temp_file();
    CHECK_OK(pc_connection_send_fd(mine, file));
    int got = -1;
    CHECK_OK(pc_connection_recv_fd(mine, 20.0, &got));
    char buf[8] = "";
    CHECK(read_exact(got, buf, 4, 5.0));
    CHECK(memcmp(buf, "to c", 4) == 0);
    close(got);
    CHECK_OK(pc_connection_poll(mine, 20.0));
    recv_str(mine, "done");
    check_sub_ok(pid, 20.0, "the python peer");
    check_file(file, "from python");
    close(file);
    pc_connection_free(mine);
    CHECK(count_open_fds() == fds);
}

int main(int argc, char **argv)
{
    tu_init("test_fd_transfer", 60);
    tu_select(argc, argv);
    RUN(test_fd_transfer);
    RUN(test_large_fd_transfer);
    RUN(test_missing_fd_transfer);
    RUN(test_bad_arguments);
    RUN(test_python_peer);
    return tu_done();
}
