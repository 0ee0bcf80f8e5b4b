/*
 * testutil.h: checks and helpers shared by the C tests of libprocessing.
 *
 * Every check counts itself; the first failing one prints file:line, the expression, the
 * status text and pc_last_error(), kills this process's children (so a failed test
 * leaves nothing running) and ends the program with exit status 1. A test program calls
 * tu_init() first (it arms alarm(60) as a safety net, so no test can hang CI) and ends
 * with `return tu_done();`, which also checks that no child process is left.
 *
 * Child targets must not use CHECK: they report through their exit code or a pipe.
 */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "processing.h"

/* Built with AddressSanitizer? */
#if defined(__SANITIZE_ADDRESS__)
#define TU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TU_ASAN 1
#endif
#endif
#ifndef TU_ASAN
#define TU_ASAN 0
#endif

/* How many times longer the C code may take here: a test's time bounds that detect a hang
 * (not a speed) and the safety alarm are multiplied by it, as CMake's PC_SANITIZE doubles
 * the ctest timeouts. */
#define TU_SLOWDOWN (TU_ASAN ? 2 : 1)

/* An ASan whose allocator is not fork-safe: a child forked while another thread is inside
 * malloc hangs in its first malloc. compiler-rt locks the allocator around fork since LLVM
 * 18 (the asan preset uses clang-19); gcc 12's libsanitizer does not. Tests where several
 * threads fork at once are skipped under it. */
#if TU_ASAN && !(defined(__clang__) && __clang_major__ >= 18)
#define TU_ASAN_FORK_UNSAFE 1
#else
#define TU_ASAN_FORK_UNSAFE 0
#endif

/* Number of checks run so far in this process. */
extern int tu_checks;

/* Arms the safety alarm (seconds, 0 = default 60; times TU_SLOWDOWN) and records the main
 * test process. */
void tu_init(const char *program, unsigned alarm_seconds);
/* Checks that no child process is left, prints the summary and returns 0 (a failure
 * never returns). */
int tu_done(void);

_Noreturn void tu_fail_check(const char *file, int line, const char *expr);
_Noreturn void tu_fail_status(const char *file, int line, const char *expr, int got, int want);
_Noreturn void tu_fail_errmsg(const char *file, int line, const char *substr);
_Noreturn void tu_fail_msg(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Asserts a condition. */
#define CHECK(cond)                                                                          \
    do {                                                                                     \
        tu_checks++;                                                                         \
        if (!(cond))                                                                         \
            tu_fail_check(__FILE__, __LINE__, #cond);                                        \
    } while (0)

/* Asserts that `expr` (a pc_status) equals `want`. */
#define CHECK_STATUS(expr, want)                                                             \
    do {                                                                                     \
        tu_checks++;                                                                         \
        int tu_got_ = (int)(expr);                                                           \
        int tu_want_ = (int)(want);                                                          \
        if (tu_got_ != tu_want_)                                                             \
            tu_fail_status(__FILE__, __LINE__, #expr, tu_got_, tu_want_);                    \
    } while (0)

/* Asserts that `expr` returns PC_OK. */
#define CHECK_OK(expr) CHECK_STATUS(expr, PC_OK)

/* Asserts that pc_last_error() contains `substr`. */
#define CHECK_ERRMSG(substr)                                                                 \
    do {                                                                                     \
        tu_checks++;                                                                         \
        if (!tu_contains(pc_last_error(), (substr)))                                         \
            tu_fail_errmsg(__FILE__, __LINE__, (substr));                                    \
    } while (0)

/* Fails with a printf-style message. */
#define FAIL(...) tu_fail_msg(__FILE__, __LINE__, __VA_ARGS__)

/* Runs one subtest, announcing it on stderr; after tu_select, only the named ones. */
#define RUN(test)                                                                            \
    do {                                                                                     \
        if (tu_selected(#test)) {                                                            \
            fprintf(stderr, "-- %s\n", #test);                                               \
            test();                                                                          \
        }                                                                                    \
    } while (0)

/* `program NAME…` runs only the subtests named (all when none is): call with main's
 * arguments. */
void tu_select(int argc, char **argv);
/* Whether RUN runs `test`. */
bool tu_selected(const char *test);

bool tu_contains(const char *haystack, const char *needle);

/* Monotonic clock, in seconds. */
double now(void);
/* Sleeps `seconds` (resumed after signals). */
void sleep_s(double seconds);

/* Number of open file descriptors of this process (/proc/self/fd), not counting the one
 * that holds the library's shared memory for the process's life. */
int count_open_fds(void);
/* Whether `fd` was already open when tu_init ran (inherited from whoever started us). */
bool fd_open_at_start(int fd);

/* The state letter of `pid` from /proc/<pid>/stat ('R', 'S', 'Z', …), or 0 when there is
 * no such process. `*ppid` (may be NULL) gets its parent. */
char pid_state(pid_t pid, pid_t *ppid);
/* True when `pid` is neither running nor a zombie (no such process). */
bool pid_gone(pid_t pid);
/* Polls until pid_gone(pid), at most `timeout` seconds; true if it went. */
bool wait_pid_gone(pid_t pid, double timeout);
/* True when `pid` runs (exists and is not a zombie). */
bool pid_running(pid_t pid);

/* Writes the pids of this process's children (ppid == getpid(), zombies included) into
 * `out` (at most `cap`) and returns how many there are. */
int list_children(pid_t *out, int cap);
/* Polls until this process has no child at all, at most `timeout` seconds. */
bool wait_no_children(double timeout);
/* For a child subreaper that starts no library children itself: reaps every child
 * (waitpid(-1)) until none is left, at most `timeout` seconds; true if none is left. */
bool reap_orphans(double timeout);
/* SIGKILLs every child of this process and reaps those that are ours to reap. */
void kill_children(void);

/* Starts `n` threads that keep a CPU busy until tu_cpu_load_stop: a machine under load,
 * where every yield of the CPU can last another thread's whole time slice. */
void tu_cpu_load_start(int n);
void tu_cpu_load_stop(void);

/* Plain fork() (not the library): the sub-process runs fn(arg) and exit()s with its
 * return value (so atexit handlers run). C stdio is flushed first. Returns the pid. */
pid_t fork_sub(int (*fn)(void *), void *arg);
/* Waits at most `timeout` seconds for sub-process `pid` (a plain child of ours) and
 * returns its wait status; on timeout it is killed and -1 returned. */
int wait_sub(pid_t pid, double timeout);
/* A wait status as text ("exit 3", "signal 9"), in a static buffer. */
const char *status_text(int wstatus);
/* Waits at most `timeout` seconds for sub-process `pid` and fails unless it exited with 0
 * (`what` names it in the message). */
void check_sub_ok(pid_t pid, double timeout, const char *what);
/* Runs fn(NULL) in a sub-process with `*write_fd` set to the write end of a fresh pipe,
 * collects what it writes there until EOF (at most `timeout` s) into `out`, and fails
 * unless it exits with 0. Returns the (reaped) sub-process's pid. */
pid_t run_sub_collecting(int (*fn)(void *), int *write_fd, char *out, size_t cap, double timeout,
                        const char *what);

/* Reads from `fd` until EOF or until `timeout` seconds passed; returns the bytes read
 * (NUL-terminated in `buf`, at most cap-1). */
size_t read_until_eof(int fd, char *buf, size_t cap, double timeout);
/* Reads what is available now from `fd` (non-blocking); NUL-terminated. */
size_t read_available(int fd, char *buf, size_t cap);
/* Reads exactly `len` bytes, waiting at most `timeout` seconds; false on EOF/timeout. */
bool read_exact(int fd, void *buf, size_t len, double timeout);
/* Writes all `len` bytes (for children: retries on EINTR); false on error. */
bool write_all(int fd, const void *buf, size_t len);
/* Writes a NUL-terminated string. */
bool write_str(int fd, const char *s);

/* Number of non-overlapping occurrences of `needle` in `haystack`. */
int count_occurrences(const char *haystack, const char *needle);

/* A child target that sleeps `*(double *)arg` seconds and returns 0; NULL arg: 20 s
 * (the tests' "forever", bounded so that a broken test leaves nothing for long). */
int target_sleep(void *arg);
/* A child target returning (int)(intptr_t)arg. */
int target_return(void *arg);

/* ---- for the tests of the shared objects (locks, semaphores, conditions, events,
 * barriers, values and arrays) ---- */

/* Memory the test shares with its children (MAP_SHARED, zeroed: a child's writes are
 * seen). Freed with shared_free. */
void *shared_new(size_t size);
void shared_free(void *p, size_t size);

/* Makes and starts a library child running fn(arg). */
pc_process *start(pc_target_fn fn, void *arg);
/* Joins `p` (at most `timeout` s), frees it and returns its exit code. */
int finish(pc_process *p, double timeout);
/* As finish, for child targets (no CHECK): joins `p` (at most `timeout` s), frees it and
 * returns its exit code, or TU_NO_EXITCODE when the join or the exit code failed. */
#define TU_NO_EXITCODE (-1000)
int finish_quietly(pc_process *p, double timeout);
/* How many of the `n` processes in `ps` are alive. */
int count_alive(pc_process **ps, int n);

/* Polls until *flag >= value, at most `timeout` seconds; true if it got there. No CHECK:
 * child targets may use it. */
bool wait_flag(atomic_int *flag, int value, double timeout);

/* A thread that calls pc_interrupt() after `delay` seconds and records when (`at`, a
 * now() time): interrupter_start, then the interrupted wait, then interrupter_join. */
struct interrupter {
    pthread_t thread;
    double delay;
    double at;
};
void interrupter_start(struct interrupter *it, double delay);
void interrupter_join(struct interrupter *it);

/* The names in /dev/shm as "\nname1\nname2\n…" (malloc'ed; just "\n" when /dev/shm
 * cannot be read). */
char *dev_shm_listing(void);
/* Fails when `after` lists a /dev/shm name that `before` did not (both from
 * dev_shm_listing). */
void check_no_new_shm(const char *before, const char *after);
/* Number of lines of /proc/self/maps containing `needle` ("" counts every mapping); -1
 * when it cannot be read. */
int count_maps(const char *needle);

/* What a "nothing left behind" test compares before and after it made and freed many
 * objects: open fds, memory mappings and the names in /dev/shm. */
struct tu_resources {
    int fds;
    int maps;
    char *shm;
};
/* Records them once the children of earlier subtests are gone and the fd count holds
 * still (before->shm is malloc'ed: check_resources_after frees it). */
void resources_before(struct tu_resources *before);
/* Fails unless, compared with `before`, the open fds are the same, the mappings grew by
 * at most 20 and /dev/shm has no new name; `n` and `what` ("locks") say what was made and
 * freed in between (for the message). Frees before->shm. */
void check_resources_after(struct tu_resources *before, int n, const char *what);

/* A wait on `obj` for at most `timeout` seconds: a test's few-line adapter around
 * pc_lock_acquire, pc_event_wait, … (they differ in their handle's type). */
typedef pc_status (*tu_wait_fn)(void *obj, double timeout);
/* Checks how a wait that cannot succeed times out: timeout 0 returns PC_ERR_TIMEOUT at
 * once (pc_last_error() names `fn` and says "timed out"), 0.2 after [0.19, 1.0] s, and
 * 0.01 no sooner than asked. */
void check_timeouts(tu_wait_fn wait, void *obj, const char *fn);
/* Checks that a wait that cannot succeed, wait(obj, timeout), is broken by pc_interrupt()
 * from another thread 0.2 s in: PC_ERR_INTERRUPTED within 1 s of it, and pc_last_error()
 * names `fn` and says "interrupt". */
void check_interrupted(tu_wait_fn wait, void *obj, double timeout, const char *fn);

/* ---- for the tests of connections (pipes, listeners, clients, Python peers) ---- */

/* Fills `len` bytes with a pattern that depends on `seed` and on each byte's position (a
 * shifted, truncated or mixed-up message does not match it). */
void fill_pattern(void *buf, size_t len, unsigned seed);
/* The position of the first byte of `buf` that differs from fill_pattern(…, seed), or
 * `len` when all match. No CHECK: child targets may use it. */
size_t pattern_mismatch(const void *buf, size_t len, unsigned seed);
/* Makes a pipe (pc_pipe) and checks both ends; frees both ends. */
void new_pipe(bool duplex, pc_connection **c1, pc_connection **c2);
void free_pipe(pc_connection *c1, pc_connection *c2);
/* Sends the string `s` (without its NUL) as one message. */
void send_str(pc_connection *c, const char *s);
/* Receives one message on `c` and fails unless it is the string `s`. */
void recv_str(pc_connection *c, const char *s);
/* Receives one message on `c` and fails unless it is the `len` bytes at `want`. */
void recv_expect(pc_connection *c, const void *want, size_t len);
/* Receives one message on `c` and fails unless it is `len` bytes of fill_pattern(seed). */
void recv_pattern(pc_connection *c, size_t len, unsigned seed);

/* A fresh private directory /tmp/<prefix>-XXXXXX (malloc'ed path) for unix socket files. */
char *temp_dir_new(const char *prefix);
/* Fails when anything is left in `dir` (a socket file a listener did not remove), then
 * removes it and frees the path. */
void temp_dir_free(char *dir);

/* ---- diagnostics ---- */

/* This process's open fds as "fd -> target\n" lines (malloc'ed), for a message when a
 * count of fds differs. */
char *fd_listing(void);

/* A queue's qsize (the call checked to succeed). */
size_t queue_qsize(pc_queue *q);
/* Checks a queue's qsize, empty and full together. */
void check_queue_counts(pc_queue *q, size_t n, bool full);

/* ---- pc_item values (the manager tests) ---- */

/* Same kind and value (floats: NaN equals NaN, and the sign of 0 counts). */
bool tu_item_equal(const pc_item *a, const pc_item *b);
/* A short description, in one of 4 rotating static buffers. */
const char *tu_item_text(const pc_item *it);

#define CHECK_ITEM(got, want)                                                                \
    do {                                                                                     \
        tu_checks++;                                                                         \
        pc_item tu_want_ = (want);                                                           \
        if (!tu_item_equal(&(got), &tu_want_))                                               \
            FAIL("%s is %s, expected %s", #got, tu_item_text(&(got)), tu_item_text(&tu_want_)); \
    } while (0)

#endif /* TESTUTIL_H */
