/* testutil.c: see testutil.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* prctl, pthread_kill, … */
#endif
#include "testutil.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int tu_checks = 0;
static const char *tu_program = "test";
static pid_t tu_main_pid = 0;

_Noreturn static void tu_die(void)
{
    fflush(stdout);
    fflush(stderr);
    kill_children();
    /* _exit, not exit: the library's exit handler would join children, and a failed
     * test must end at once. */
    _exit(1);
}

static void tu_report(const char *file, int line)
{
    fprintf(stderr, "%s: FAIL at %s:%d (pid %d%s, after %d checks)\n", tu_program, file, line,
            (int)getpid(), getpid() == tu_main_pid ? "" : ", a sub-process", tu_checks);
}

static void tu_report_last_error(void)
{
    const char *err = pc_last_error();
    fprintf(stderr, "    pc_last_error(): \"%s\"\n", err ? err : "(NULL)");
}

void tu_fail_check(const char *file, int line, const char *expr)
{
    tu_report(file, line);
    fprintf(stderr, "    CHECK(%s) is false\n", expr);
    tu_report_last_error();
    tu_die();
}

void tu_fail_status(const char *file, int line, const char *expr, int got, int want)
{
    tu_report(file, line);
    fprintf(stderr, "    %s\n    returned %d (%s), expected %d (%s)\n", expr, got,
            pc_status_str(got), want, pc_status_str(want));
    tu_report_last_error();
    tu_die();
}

void tu_fail_errmsg(const char *file, int line, const char *substr)
{
    tu_report(file, line);
    fprintf(stderr, "    pc_last_error() does not contain \"%s\"\n", substr);
    tu_report_last_error();
    tu_die();
}

void tu_fail_msg(const char *file, int line, const char *fmt, ...)
{
    tu_report(file, line);
    va_list ap;
    va_start(ap, fmt);
    fputs("    ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    tu_report_last_error();
    tu_die();
}

/* LeakSanitizer asks this (when the program defines it) before its check at exit. A
 * sub-process forked from the multi-threaded test (fork_sub) has only the forking thread:
 * what the other threads (the library's reaper) referenced looks leaked there, falsely.
 * So the check runs in the test process itself and in re-executed programs, not in the
 * forked copies. */
__attribute__((visibility("default"), used)) int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void)
{
    return tu_main_pid != 0 && getpid() != tu_main_pid;
}

bool tu_contains(const char *haystack, const char *needle)
{
    return haystack != NULL && needle != NULL && strstr(haystack, needle) != NULL;
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "\ntest: TIMEOUT (safety alarm): a wait did not end\n";
    ssize_t n = write(2, msg, sizeof msg - 1);
    (void)n;
    tu_die();
}

#define TU_MAX_FD 1024
static bool tu_fds_at_start[TU_MAX_FD];

bool fd_open_at_start(int fd)
{
    return fd >= 0 && fd < TU_MAX_FD && tu_fds_at_start[fd];
}

void tu_init(const char *program, unsigned alarm_seconds)
{
    for (int fd = 0; fd < TU_MAX_FD; fd++)
        tu_fds_at_start[fd] = fcntl(fd, F_GETFD) != -1;
    tu_program = program;
    tu_main_pid = getpid();
    signal(SIGALRM, on_alarm);
    alarm((alarm_seconds ? alarm_seconds : 60) * TU_SLOWDOWN);
}

int tu_done(void)
{
    tu_checks++;
    if (!wait_no_children(2.0)) {
        pid_t left[16];
        int n = list_children(left, 16);
        FAIL("%d child process(es) left at the end, the first pid %d", n, n > 0 ? (int)left[0] : 0);
    }
    fprintf(stderr, "%s: all %d checks passed\n", tu_program, tu_checks);
    return 0;
}

double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void sleep_s(double seconds)
{
    if (seconds <= 0)
        return;
    struct timespec ts;
    ts.tv_sec = (time_t)seconds;
    ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

int count_open_fds(void)
{
    DIR *dir = opendir("/proc/self/fd");
    if (!dir)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        /* The shared heap's memfd, made with the first shared object and kept for the
         * process's life (for children started by spawn), is no leak. */
        char path[300], target[64] = {0};
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        if (readlink(path, target, sizeof target - 1) > 0 &&
            strncmp(target, "/memfd:processing-heap", 22) == 0)
            continue;
        n++;
    }
    closedir(dir);
    return n - 1; /* the directory's own fd */
}

char pid_state(pid_t pid, pid_t *ppid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    /* "pid (comm) S ppid …": comm may hold spaces and parentheses. */
    char *close_paren = strrchr(buf, ')');
    if (!close_paren || close_paren[1] == '\0')
        return 0;
    char state = 0;
    int parent = 0;
    if (sscanf(close_paren + 1, " %c %d", &state, &parent) != 2)
        return 0;
    if (ppid)
        *ppid = parent;
    return state;
}

bool pid_gone(pid_t pid)
{
    if (pid <= 0)
        return true;
    if (kill(pid, 0) == -1 && errno == ESRCH)
        return true;
    pid_t ppid = 0;
    char state = pid_state(pid, &ppid);
    if (state == 0)
        return true;
    (void)ppid;
    return false; /* running, or a zombie nobody reaped yet */
}

bool wait_pid_gone(pid_t pid, double timeout)
{
    double deadline = now() + timeout;
    for (;;) {
        if (pid_gone(pid))
            return true;
        if (now() >= deadline)
            return false;
        sleep_s(0.005);
    }
}

bool pid_running(pid_t pid)
{
    char state = pid_state(pid, NULL);
    return state != 0 && state != 'Z' && state != 'X';
}

int list_children(pid_t *out, int cap)
{
    DIR *dir = opendir("/proc");
    if (!dir)
        return -1;
    pid_t self = getpid();
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        pid_t pid = (pid_t)atoi(e->d_name);
        pid_t ppid = 0;
        if (pid_state(pid, &ppid) != 0 && ppid == self) {
            if (n < cap)
                out[n] = pid;
            n++;
        }
    }
    closedir(dir);
    return n;
}

bool wait_no_children(double timeout)
{
    double deadline = now() + timeout;
    for (;;) {
        pid_t pids[1];
        if (list_children(pids, 1) == 0)
            return true;
        if (now() >= deadline)
            return false;
        sleep_s(0.01);
    }
}

bool reap_orphans(double timeout)
{
    double deadline = now() + timeout;
    for (;;) {
        int st;
        while (waitpid(-1, &st, WNOHANG) > 0) {
        }
        pid_t pids[1];
        if (list_children(pids, 1) == 0)
            return true;
        if (now() >= deadline)
            return false;
        sleep_s(0.005);
    }
}

void kill_children(void)
{
    pid_t pids[512];
    int n = list_children(pids, 512);
    if (n > 512)
        n = 512;
    for (int i = 0; i < n; i++)
        kill(pids[i], SIGKILL);
    for (int i = 0; i < n; i++) {
        /* Reap what is ours to reap; the library's children may be reaped by it. */
        for (int tries = 0; tries < 100; tries++) {
            int st;
            pid_t r = waitpid(pids[i], &st, WNOHANG);
            if (r != 0)
                break;
            sleep_s(0.002);
        }
    }
}

pid_t fork_sub(int (*fn)(void *), void *arg)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(30);
        exit(fn(arg));
    }
    if (pid < 0)
        FAIL("fork: %s", strerror(errno));
    return pid;
}

int wait_sub(pid_t pid, double timeout)
{
    double deadline = now() + timeout;
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return st;
        if (r < 0 && errno != EINTR)
            return -1;
        if (now() >= deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -1;
        }
        sleep_s(0.002);
    }
}

const char *status_text(int wstatus)
{
    static char buf[64];
    if (wstatus == -1)
        snprintf(buf, sizeof buf, "timed out (killed)");
    else if (WIFEXITED(wstatus))
        snprintf(buf, sizeof buf, "exit %d", WEXITSTATUS(wstatus));
    else if (WIFSIGNALED(wstatus))
        snprintf(buf, sizeof buf, "signal %d", WTERMSIG(wstatus));
    else
        snprintf(buf, sizeof buf, "status 0x%x", wstatus);
    return buf;
}

size_t read_until_eof(int fd, char *buf, size_t cap, double timeout)
{
    double deadline = now() + timeout;
    size_t got = 0;
    while (got + 1 < cap) {
        double left = deadline - now();
        if (left <= 0)
            break;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int r = poll(&pfd, 1, (int)(left * 1000) + 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        ssize_t n = read(fd, buf + got, cap - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    buf[got] = '\0';
    return got;
}

size_t read_available(int fd, char *buf, size_t cap)
{
    size_t got = 0;
    while (got + 1 < cap) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 0) != 1 || !(pfd.revents & POLLIN))
            break;
        ssize_t n = read(fd, buf + got, cap - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    buf[got] = '\0';
    return got;
}

bool read_exact(int fd, void *buf, size_t len, double timeout)
{
    double deadline = now() + timeout;
    size_t got = 0;
    while (got < len) {
        double left = deadline - now();
        if (left <= 0)
            return false;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int r = poll(&pfd, 1, (int)(left * 1000) + 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        ssize_t n = read(fd, (char *)buf + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        got += (size_t)n;
    }
    return true;
}

bool write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

bool write_str(int fd, const char *s)
{
    return write_all(fd, s, strlen(s));
}

int count_occurrences(const char *haystack, const char *needle)
{
    int n = 0;
    size_t len = strlen(needle);
    if (len == 0)
        return 0;
    for (const char *p = strstr(haystack, needle); p; p = strstr(p + len, needle))
        n++;
    return n;
}

int target_sleep(void *arg)
{
    sleep_s(arg ? *(const double *)arg : 20.0);
    return 0;
}

int target_return(void *arg)
{
    return (int)(intptr_t)arg;
}

void *shared_new(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(p != MAP_FAILED);
    memset(p, 0, size);
    return p;
}

void shared_free(void *p, size_t size)
{
    CHECK(munmap(p, size) == 0);
}

pc_process *start(pc_target_fn fn, void *arg)
{
    pc_process *p;
    CHECK_OK(pc_process_new(fn, arg, &p));
    CHECK_OK(pc_process_start(p));
    return p;
}

int finish(pc_process *p, double timeout)
{
    CHECK_OK(pc_process_join(p, timeout));
    int code = -1000;
    CHECK_OK(pc_process_exitcode(p, &code));
    pc_process_free(p);
    return code;
}

int finish_quietly(pc_process *p, double timeout)
{
    int code = TU_NO_EXITCODE;
    if (pc_process_join(p, timeout) != PC_OK || pc_process_exitcode(p, &code) != PC_OK)
        code = TU_NO_EXITCODE;
    pc_process_free(p);
    return code;
}

int count_alive(pc_process **ps, int n)
{
    int alive = 0;
    for (int i = 0; i < n; i++)
        alive += pc_process_is_alive(ps[i]);
    return alive;
}

bool wait_flag(atomic_int *flag, int value, double timeout)
{
    double deadline = now() + timeout;
    while (atomic_load(flag) < value) {
        if (now() >= deadline)
            return false;
        sleep_s(0.002);
    }
    return true;
}

static void *interrupter_main(void *arg)
{
    struct interrupter *it = arg;
    sleep_s(it->delay);
    it->at = now();
    pc_interrupt();
    return NULL;
}

void interrupter_start(struct interrupter *it, double delay)
{
    it->delay = delay;
    it->at = 0;
    CHECK(pthread_create(&it->thread, NULL, interrupter_main, it) == 0);
}

void interrupter_join(struct interrupter *it)
{
    CHECK(pthread_join(it->thread, NULL) == 0);
}

char *dev_shm_listing(void)
{
    size_t cap = 4096, len = 1;
    char *out = malloc(cap);
    CHECK(out != NULL);
    strcpy(out, "\n");
    DIR *dir = opendir("/dev/shm");
    if (dir) {
        struct dirent *e;
        while ((e = readdir(dir)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            size_t n = strlen(e->d_name) + 1;
            if (len + n + 1 > cap) {
                cap = 2 * (len + n + 1);
                out = realloc(out, cap);
                CHECK(out != NULL);
            }
            memcpy(out + len, e->d_name, n - 1);
            out[len + n - 1] = '\n';
            len += n;
            out[len] = '\0';
        }
        closedir(dir);
    }
    return out;
}

void check_no_new_shm(const char *before, const char *after)
{
    tu_checks++;
    for (const char *name = after + 1; *name; name = strchr(name, '\n') + 1) {
        char needle[300];
        int n = (int)(strchr(name, '\n') - name);
        snprintf(needle, sizeof needle, "\n%.*s\n", n, name);
        if (!strstr(before, needle))
            FAIL("a new entry appeared in /dev/shm: %.*s", n, name);
    }
}

int count_maps(const char *needle)
{
    FILE *f = fopen("/proc/self/maps", "re");
    if (!f)
        return -1;
    char *line = NULL;
    size_t cap = 0;
    int n = 0;
    while (getline(&line, &cap, f) != -1)
        n += strstr(line, needle) != NULL;
    free(line);
    fclose(f);
    return n;
}

enum { TU_LOAD_MAX = 64 };
static pthread_t load_threads[TU_LOAD_MAX];
static int load_count;
static atomic_bool load_stop;

static void *spin(void *arg)
{
    (void)arg;
    while (!atomic_load_explicit(&load_stop, memory_order_relaxed)) {
    }
    return NULL;
}

void tu_cpu_load_start(int n)
{
    CHECK(load_count == 0 && n > 0 && n <= TU_LOAD_MAX);
    atomic_store(&load_stop, false);
    for (; load_count < n; load_count++)
        CHECK(pthread_create(&load_threads[load_count], NULL, spin, NULL) == 0);
}

void tu_cpu_load_stop(void)
{
    atomic_store(&load_stop, true);
    for (; load_count > 0; load_count--)
        CHECK(pthread_join(load_threads[load_count - 1], NULL) == 0);
}

void resources_before(struct tu_resources *before)
{
    /* Children of earlier subtests may still be ending: once the library has reaped them
     * (a library thread may, a moment later), the descriptors it watched them by close.
     * Count when none is left and the count holds still. */
    if (!wait_no_children(10.0 * TU_SLOWDOWN))
        FAIL("children of earlier subtests are still running");
    int fds = count_open_fds();
    for (int settled = 0; settled < 50; settled++) {
        sleep_s(0.02);
        int again = count_open_fds();
        if (again == fds)
            break;
        fds = again;
    }
    before->fds = fds;
    before->maps = count_maps("");
    before->shm = dev_shm_listing();
}

void check_resources_after(struct tu_resources *before, int n, const char *what)
{
    CHECK(count_open_fds() == before->fds);
    int maps_after = count_maps("");
    if (maps_after > before->maps + 20)
        FAIL("%d mappings before, %d after creating and freeing %d %s", before->maps,
             maps_after, n, what);
    char *shm_after = dev_shm_listing();
    check_no_new_shm(before->shm, shm_after);
    free(before->shm);
    free(shm_after);
    before->shm = NULL;
}

void check_timeouts(tu_wait_fn wait, void *obj, const char *fn)
{
    double t0 = now();
    CHECK_STATUS(wait(obj, 0), PC_ERR_TIMEOUT);
    CHECK(now() - t0 < 0.1);
    CHECK_ERRMSG(fn);
    CHECK_ERRMSG("timed out");
    t0 = now();
    CHECK_STATUS(wait(obj, 0.2), PC_ERR_TIMEOUT);
    double took = now() - t0;
    if (took < 0.19 || took > 1.0 * TU_SLOWDOWN)
        FAIL("%s(0.2) returned after %.3f s, expected [0.19, %.1f]", fn, took,
             1.0 * TU_SLOWDOWN);
    t0 = now();
    CHECK_STATUS(wait(obj, 0.01), PC_ERR_TIMEOUT);
    CHECK(now() - t0 >= 0.0095);
}

void check_interrupted(tu_wait_fn wait, void *obj, double timeout, const char *fn)
{
    struct interrupter it;
    interrupter_start(&it, 0.2);
    CHECK_STATUS(wait(obj, timeout), PC_ERR_INTERRUPTED);
    double late = now() - it.at;
    interrupter_join(&it);
    if (late > 1.0 * TU_SLOWDOWN)
        FAIL("the interrupted %s returned %.3f s after pc_interrupt()", fn, late);
    CHECK_ERRMSG(fn);
    CHECK_ERRMSG("interrupt");
}

static uint8_t pattern_byte(size_t i, unsigned seed)
{
    uint64_t x = (uint64_t)i + (uint64_t)seed * 0x9E3779B97F4A7C15ull;
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 32;
    return (uint8_t)x;
}

void fill_pattern(void *buf, size_t len, unsigned seed)
{
    uint8_t *p = buf;
    for (size_t i = 0; i < len; i++)
        p[i] = pattern_byte(i, seed);
}

size_t pattern_mismatch(const void *buf, size_t len, unsigned seed)
{
    const uint8_t *p = buf;
    for (size_t i = 0; i < len; i++) {
        if (p[i] != pattern_byte(i, seed))
            return i;
    }
    return len;
}

void new_pipe(bool duplex, pc_connection **c1, pc_connection **c2)
{
    *c1 = *c2 = NULL;
    CHECK_OK(pc_pipe(duplex, c1, c2));
    CHECK(*c1 != NULL && *c2 != NULL && *c1 != *c2);
    CHECK(pc_connection_fileno(*c1) >= 0);
    CHECK(pc_connection_fileno(*c2) >= 0);
}

void free_pipe(pc_connection *c1, pc_connection *c2)
{
    pc_connection_free(c1);
    pc_connection_free(c2);
}

void send_str(pc_connection *c, const char *s)
{
    CHECK_OK(pc_connection_send_bytes(c, s, strlen(s)));
}

void recv_str(pc_connection *c, const char *s)
{
    recv_expect(c, s, strlen(s));
}

void recv_expect(pc_connection *c, const void *want, size_t len)
{
    pc_bytes got = {NULL, 0};
    CHECK_OK(pc_connection_recv_bytes(c, 0, &got));
    tu_checks++;
    if (got.len != len || (len > 0 && memcmp(got.data, want, len) != 0))
        FAIL("received %zu bytes (\"%.*s\"), expected %zu (\"%.*s\")", got.len,
             (int)(got.len < 40 ? got.len : 40), got.data ? (const char *)got.data : "", len,
             (int)(len < 40 ? len : 40), len ? (const char *)want : "");
    pc_bytes_free(&got);
}

void recv_pattern(pc_connection *c, size_t len, unsigned seed)
{
    pc_bytes got = {NULL, 0};
    CHECK_OK(pc_connection_recv_bytes(c, 0, &got));
    tu_checks++;
    if (got.len != len)
        FAIL("received %zu bytes, expected %zu (pattern %u)", got.len, len, seed);
    size_t at = pattern_mismatch(got.data, len, seed);
    if (at != len)
        FAIL("a %zu-byte message differs from pattern %u at byte %zu", len, seed, at);
    pc_bytes_free(&got);
}

char *temp_dir_new(const char *prefix)
{
    char *dir = malloc(strlen(prefix) + 32);
    CHECK(dir != NULL);
    sprintf(dir, "/tmp/%s-XXXXXX", prefix);
    CHECK(mkdtemp(dir) != NULL);
    return dir;
}

void temp_dir_free(char *dir)
{
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    struct dirent *e;
    char left[256] = "";
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 && !left[0])
            snprintf(left, sizeof left, "%s", e->d_name);
    }
    closedir(d);
    if (left[0])
        FAIL("%s/%s was left behind", dir, left);
    CHECK(rmdir(dir) == 0);
    free(dir);
}

void check_sub_ok(pid_t pid, double timeout, const char *what)
{
    int st = wait_sub(pid, timeout);
    if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        FAIL("%s: %s", what, status_text(st));
}

pid_t run_sub_collecting(int (*fn)(void *), int *write_fd, char *out, size_t cap, double timeout,
                        const char *what)
{
    int fds[2];
    CHECK(pipe(fds) == 0);
    *write_fd = fds[1];
    pid_t sub = fork_sub(fn, NULL);
    close(fds[1]);
    read_until_eof(fds[0], out, cap, timeout);
    close(fds[0]);
    int st = wait_sub(sub, timeout);
    if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        FAIL("%s: %s; it wrote \"%s\"", what, status_text(st), out);
    return sub;
}

char *fd_listing(void)
{
    size_t cap = 4096, len = 0;
    char *out = malloc(cap);
    CHECK(out != NULL);
    out[0] = '\0';
    DIR *dir = opendir("/proc/self/fd");
    if (!dir)
        return out;
    int own = dirfd(dir);
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        if (e->d_name[0] == '.' || atoi(e->d_name) == own)
            continue;
        char path[300], target[256];
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(path, target, sizeof target - 1);
        target[n > 0 ? n : 0] = '\0';
        size_t need = strlen(e->d_name) + strlen(target) + 6;
        if (len + need + 1 > cap) {
            cap = 2 * (len + need + 1);
            out = realloc(out, cap);
            CHECK(out != NULL);
        }
        len += (size_t)snprintf(out + len, cap - len, "%s -> %s\n", e->d_name, target);
    }
    closedir(dir);
    return out;
}

static int tu_sel_argc;
static char **tu_sel_argv;

void tu_select(int argc, char **argv)
{
    tu_sel_argc = argc;
    tu_sel_argv = argv;
}

bool tu_selected(const char *test)
{
    if (tu_sel_argc < 2)
        return true;
    for (int i = 1; i < tu_sel_argc; i++)
        if (strcmp(tu_sel_argv[i], test) == 0)
            return true;
    return false;
}

size_t queue_qsize(pc_queue *q)
{
    size_t n = (size_t)-1;
    CHECK_OK(pc_queue_qsize(q, &n));
    return n;
}

void check_queue_counts(pc_queue *q, size_t n, bool full)
{
    size_t got = queue_qsize(q);
    if (got != n)
        FAIL("qsize is %zu, expected %zu", got, n);
    CHECK(pc_queue_empty(q) == (n == 0));
    CHECK(pc_queue_full(q) == full);
}

/* ---- pc_item values ---- */

bool tu_item_equal(const pc_item *a, const pc_item *b)
{
    if (a->kind != b->kind)
        return false;
    switch (a->kind) {
    case PC_KIND_NONE:
        return true;
    case PC_KIND_BOOL:
        return (a->i != 0) == (b->i != 0);
    case PC_KIND_INT:
        return a->i == b->i;
    case PC_KIND_FLOAT:
        if (isnan(a->f))
            return isnan(b->f);
        return a->f == b->f && signbit(a->f) == signbit(b->f);
    default:
        return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
    }
}

const char *tu_item_text(const pc_item *it)
{
    static char bufs[4][200];
    static int next;
    char *buf = bufs[next++ % 4];
    switch (it->kind) {
    case PC_KIND_NONE:
        snprintf(buf, 200, "None");
        break;
    case PC_KIND_BOOL:
        snprintf(buf, 200, "BOOL %lld", (long long)it->i);
        break;
    case PC_KIND_INT:
        snprintf(buf, 200, "INT %lld", (long long)it->i);
        break;
    case PC_KIND_FLOAT:
        snprintf(buf, 200, "FLOAT %.17g", it->f);
        break;
    case PC_KIND_BYTES:
    case PC_KIND_STR:
    case PC_KIND_PICKLE: {
        const char *k = it->kind == PC_KIND_BYTES ? "BYTES" : it->kind == PC_KIND_STR ? "STR" : "PICKLE";
        int n = snprintf(buf, 200, "%s of %zu bytes: ", k, it->len);
        for (size_t i = 0; i < it->len && i < 24 && n < 190; i++) {
            unsigned char c = ((const unsigned char *)it->data)[i];
            bool plain = c >= 32 && c < 127 && it->kind != PC_KIND_PICKLE;
            n += snprintf(buf + n, (size_t)(200 - n), plain ? "%c" : "\\x%02x", c);
        }
        break;
    }
    default:
        snprintf(buf, 200, "kind %d", (int)it->kind);
    }
    return buf;
}
