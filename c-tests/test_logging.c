/*
 * test_logging.c: pc_enable_logging, pc_logging_enabled, pc_log, pc_log_level
 * (include/processing.h): the seed's format and levels, the level children inherit, custom
 * formats, bad arguments, standard error as the default handler, and the library's own
 * messages about children (in the child and the parent).
 *
 * The logging configuration is global: what needs a fresh one runs in a sub-process.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* prctl, pthread_kill, … */
#endif
#include "testutil.h"

#include <ctype.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- a handler that collects the records, for the calling process ---- */

#define MAX_RECORDS 64

struct record {
    void *ctx;
    int level;
    char name[64];
    char line[256];
};

static pthread_mutex_t records_lock = PTHREAD_MUTEX_INITIALIZER;
static struct record records[MAX_RECORDS];
static int n_records = 0;

static void collect(void *ctx, int level, const char *process_name, const char *line)
{
    pthread_mutex_lock(&records_lock);
    if (n_records < MAX_RECORDS) {
        struct record *r = &records[n_records++];
        r->ctx = ctx;
        r->level = level;
        snprintf(r->name, sizeof r->name, "%s", process_name ? process_name : "(NULL)");
        snprintf(r->line, sizeof r->line, "%s", line ? line : "(NULL)");
    }
    pthread_mutex_unlock(&records_lock);
}

static void clear_records(void)
{
    pthread_mutex_lock(&records_lock);
    n_records = 0;
    pthread_mutex_unlock(&records_lock);
}

static int record_count(void)
{
    pthread_mutex_lock(&records_lock);
    int n = n_records;
    pthread_mutex_unlock(&records_lock);
    return n;
}

/* The single record logged since clear_records(): its line must be `want`. */
static void check_one_line(const char *want)
{
    int n = record_count();
    if (n != 1)
        FAIL("%d records, expected one: \"%s\"", n, want);
    if (strcmp(records[0].line, want) != 0)
        FAIL("logged \"%s\", expected \"%s\"", records[0].line, want);
}

static int ctx_marker;

/* ---- a handler that writes "level|name|line\n" to the pipe fd in ctx (any process) ---- */

static void to_pipe(void *ctx, int level, const char *process_name, const char *line)
{
    int fd = *(const int *)ctx;
    char buf[512];
    int n = snprintf(buf, sizeof buf, "%d|%s|%s\n", level, process_name, line);
    if (n > 0)
        write_all(fd, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* ---- a fresh process: disabled at first; NULL handler writes to standard error ---- */

static int stderr_fd;

static void count_only(void *ctx, int level, const char *name, const char *line)
{
    (void)level, (void)name, (void)line;
    ++*(int *)ctx;
}

static int sub_fresh_logging(void *arg)
{
    (void)arg;
    if (dup2(stderr_fd, 2) != 2)
        return 10;
    if (pc_logging_enabled())
        return 11;
    if (pc_log(PC_LOG_CRITICAL, "dropped while disabled") != PC_OK)
        return 12;
    static int counted = 0;
    if (pc_enable_logging(PC_LOG_INFO, count_only, &counted, NULL) != PC_OK)
        return 13;
    if (!pc_logging_enabled())
        return 14;
    if (pc_log(PC_LOG_WARNING, "to the handler") != PC_OK || counted != 1)
        return 15;
    /* NULL handler: standard error, replacing the earlier handler. */
    if (pc_enable_logging(PC_LOG_INFO, NULL, NULL, NULL) != PC_OK)
        return 16;
    if (!pc_logging_enabled())
        return 17;
    if (pc_log(PC_LOG_WARNING, "doomed") != PC_OK)
        return 18;
    if (pc_log(PC_LOG_DEBUG, "below the level") != PC_OK)
        return 19;
    if (counted != 1)
        return 20;
    return 0;
}

static void test_fresh_process_and_stderr(void)
{
    char out[1024];
    run_sub_collecting(sub_fresh_logging, &stderr_fd, out, sizeof out, 10.0, "sub_fresh_logging");
    if (strcmp(out, "[WARNING/MainProcess] doomed\n") != 0)
        FAIL("standard error got \"%s\", expected \"[WARNING/MainProcess] doomed\\n\"", out);
}

/* ---- the handler, levels, the default format ---- */

static void test_handler_and_levels(void)
{
    CHECK_OK(pc_enable_logging(PC_LOG_INFO, collect, &ctx_marker, NULL));
    CHECK(pc_logging_enabled());

    clear_records();
    CHECK_OK(pc_log(PC_LOG_WARNING, "doomed"));
    check_one_line("[WARNING/MainProcess] doomed");
    CHECK(records[0].level == 30);
    CHECK(records[0].level == PC_LOG_WARNING);
    CHECK(strcmp(records[0].name, "MainProcess") == 0);
    CHECK(records[0].ctx == &ctx_marker);

    /* Below the level: dropped; at the level: kept. */
    clear_records();
    CHECK_OK(pc_log(PC_LOG_DEBUG, "debug"));
    CHECK_OK(pc_log(PC_LOG_SUBDEBUG, "subdebug"));
    CHECK_OK(pc_log(PC_LOG_INFO - 1, "just below"));
    CHECK(record_count() == 0);
    CHECK_OK(pc_log(PC_LOG_INFO, "info"));
    check_one_line("[INFO/MainProcess] info");
    CHECK(records[0].level == PC_LOG_INFO);

    /* Every level's name, with level 0 (everything). */
    CHECK_OK(pc_enable_logging(0, collect, &ctx_marker, NULL));
    static const struct {
        int level;
        const char *name;
    } levels[] = {
        {PC_LOG_SUBDEBUG, "SUBDEBUG"}, {PC_LOG_DEBUG, "DEBUG"}, {PC_LOG_INFO, "INFO"},
        {PC_LOG_SUBWARNING, "SUBWARNING"}, {PC_LOG_WARNING, "WARNING"}, {PC_LOG_ERROR, "ERROR"},
        {PC_LOG_CRITICAL, "CRITICAL"}, {35, "Level 35"}, {0, "Level 0"}, {1000, "Level 1000"},
    };
    CHECK(PC_LOG_SUBDEBUG == 5 && PC_LOG_DEBUG == 10 && PC_LOG_INFO == 20 &&
          PC_LOG_SUBWARNING == 25 && PC_LOG_WARNING == 30 && PC_LOG_ERROR == 40 &&
          PC_LOG_CRITICAL == 50);
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        clear_records();
        CHECK_OK(pc_log(levels[i].level, "m"));
        char want[64];
        snprintf(want, sizeof want, "[%s/MainProcess] m", levels[i].name);
        check_one_line(want);
        CHECK(records[0].level == levels[i].level);
    }

    /* The message is copied as is: no format expansion, UTF-8 kept, empty allowed. */
    CHECK_OK(pc_enable_logging(PC_LOG_INFO, collect, &ctx_marker, NULL));
    clear_records();
    CHECK_OK(pc_log(PC_LOG_WARNING, "100% %(message)s %s %%"));
    check_one_line("[WARNING/MainProcess] 100% %(message)s %s %%");
    clear_records();
    CHECK_OK(pc_log(PC_LOG_WARNING, "gr\xc3\xbc\xc3\x9f \xe2\x9c\x93"));
    check_one_line("[WARNING/MainProcess] gr\xc3\xbc\xc3\x9f \xe2\x9c\x93");
    clear_records();
    CHECK_OK(pc_log(PC_LOG_WARNING, ""));
    check_one_line("[WARNING/MainProcess] ");

    /* Each call replaces the previous configuration: the old handler is not called. */
    static int replaced = 0;
    CHECK_OK(pc_enable_logging(PC_LOG_INFO, count_only, &replaced, NULL));
    clear_records();
    CHECK_OK(pc_log(PC_LOG_WARNING, "to the new handler"));
    CHECK(replaced == 1);
    CHECK(record_count() == 0);
    CHECK(pc_logging_enabled());
}

/* ---- formats ---- */

static void test_formats(void)
{
    CHECK_OK(pc_enable_logging(PC_LOG_INFO, collect, NULL,
                               "%(levelname)s|%(process)d|%(message)s|%%"));
    clear_records();
    CHECK_OK(pc_log(PC_LOG_WARNING, "doomed"));
    char want[128];
    snprintf(want, sizeof want, "WARNING|%d|doomed|%%", (int)getpid());
    check_one_line(want);
    CHECK(records[0].ctx == NULL);

    CHECK_OK(pc_enable_logging(PC_LOG_INFO, collect, NULL, "<%(processName)s> plain text"));
    clear_records();
    CHECK_OK(pc_log(PC_LOG_ERROR, "ignored by the format"));
    check_one_line("<MainProcess> plain text");

    CHECK_OK(pc_enable_logging(PC_LOG_INFO, collect, NULL, ""));
    clear_records();
    CHECK_OK(pc_log(PC_LOG_ERROR, "x"));
    check_one_line("");

    /* %(asctime)s: "YYYY-MM-DD HH:MM:SS,mmm" */
    CHECK_OK(pc_enable_logging(PC_LOG_INFO, collect, NULL, "%(asctime)s|%(message)s"));
    clear_records();
    CHECK_OK(pc_log(PC_LOG_WARNING, "t"));
    CHECK(record_count() == 1);
    const char *line = records[0].line;
    const char *pattern = "dddd-dd-dd dd:dd:dd,ddd|t";
    bool ok = strlen(line) == strlen(pattern);
    for (size_t i = 0; ok && pattern[i]; i++)
        ok = pattern[i] == 'd' ? isdigit((unsigned char)line[i]) != 0 : line[i] == pattern[i];
    if (!ok)
        FAIL("asctime line \"%s\" does not look like \"YYYY-MM-DD HH:MM:SS,mmm|t\"", line);
    int year = atoi(line), month = atoi(line + 5), day = atoi(line + 8);
    int hour = atoi(line + 11), minute = atoi(line + 14), second = atoi(line + 17);
    CHECK(year >= 2024 && month >= 1 && month <= 12 && day >= 1 && day <= 31);
    CHECK(hour <= 23 && minute <= 59 && second <= 60);
    /* %(process)s is accepted as %(process)d */
    CHECK_OK(pc_enable_logging(PC_LOG_INFO, collect, NULL, "%(process)s"));
    clear_records();
    CHECK_OK(pc_log(PC_LOG_WARNING, "x"));
    snprintf(want, sizeof want, "%d", (int)getpid());
    check_one_line(want);
}

/* ---- bad arguments ---- */

static void test_bad_arguments(void)
{
    /* A known configuration to compare with after each refused call. */
    CHECK_OK(pc_enable_logging(PC_LOG_WARNING, collect, &ctx_marker, NULL));

    CHECK_STATUS(pc_enable_logging(PC_LOG_INFO, collect, NULL, "%(bogus)s"),
                 PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_enable_logging");
    CHECK_ERRMSG("bogus");
    static const char *const bad_formats[] = {
        "%(message)", "%d", "tail %", "%(levelname)d", "%(message", "%()s", "[%(Message)s]",
        "\xff\xfe%(message)s",
    };
    for (size_t i = 0; i < sizeof bad_formats / sizeof bad_formats[0]; i++) {
        pc_status s = pc_enable_logging(PC_LOG_INFO, collect, NULL, bad_formats[i]);
        if (s != PC_ERR_INVALID_ARGUMENT)
            FAIL("format \"%s\": %d (%s), expected PC_ERR_INVALID_ARGUMENT", bad_formats[i], s,
                 pc_status_str(s));
        CHECK_ERRMSG("format");
    }
    CHECK_STATUS(pc_enable_logging(-1, collect, NULL, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("level");
    CHECK_STATUS(pc_enable_logging(INT_MIN, NULL, NULL, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("level");

    /* The refused calls left the configuration as it was. */
    CHECK(pc_logging_enabled());
    clear_records();
    CHECK_OK(pc_log(PC_LOG_INFO, "below WARNING"));
    CHECK(record_count() == 0);
    CHECK_OK(pc_log(PC_LOG_WARNING, "still here"));
    check_one_line("[WARNING/MainProcess] still here");
    CHECK(records[0].ctx == &ctx_marker);

    clear_records();
    CHECK_STATUS(pc_log(PC_LOG_WARNING, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("pc_log");
    CHECK_ERRMSG("message");
    CHECK_STATUS(pc_log(PC_LOG_WARNING, "bad \xff utf-8"), PC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG("message");
    /* Dropped or not, a NULL message is an error. */
    CHECK_STATUS(pc_log(PC_LOG_DEBUG, NULL), PC_ERR_INVALID_ARGUMENT);
    CHECK(record_count() == 0);
    /* Any level may be logged, negative ones included (dropped here). */
    CHECK_OK(pc_log(-5, "negative"));
    CHECK(record_count() == 0);
}

/* ---- the library's messages about a child, in the child and the parent ---- */

static int target_log_and_return_5(void *arg)
{
    (void)arg;
    pc_log(PC_LOG_WARNING, "from the child");
    return 5;
}

static int pipe_ctx_fd; /* static: the handler's ctx must outlive every logging call */

static void test_child_lifecycle_messages(void)
{
    int fds[2];
    CHECK(pipe(fds) == 0);
    pipe_ctx_fd = fds[1];
    CHECK_OK(pc_enable_logging(PC_LOG_DEBUG, to_pipe, &pipe_ctx_fd, NULL));

    pc_process *p;
    CHECK_OK(pc_process_new(target_log_and_return_5, NULL, &p));
    /* The first child of this test program. */
    CHECK(strcmp(pc_process_name(p), "Process-1") == 0);
    CHECK_OK(pc_process_start(p));
    CHECK_OK(pc_process_join(p, 10.0));
    int code;
    CHECK_OK(pc_process_exitcode(p, &code));
    CHECK(code == 5);
    pid_t pid = pc_process_pid(p);
    pc_process_free(p);

    /* Switch logging away from the pipe before reading it. */
    CHECK_OK(pc_enable_logging(PC_LOG_CRITICAL, collect, NULL, NULL));
    char out[4096];
    read_available(fds[0], out, sizeof out);
    close(fds[0]);
    close(fds[1]);

    const char *child_lines[] = {
        "20|Process-1|[INFO/Process-1] child process calling self.run()\n",
        "30|Process-1|[WARNING/Process-1] from the child\n",
        "20|Process-1|[INFO/Process-1] process exiting with exitcode 5\n",
    };
    const char *at = out;
    for (size_t i = 0; i < 3; i++) {
        const char *found = strstr(at, child_lines[i]);
        if (!found)
            FAIL("missing (or out of order) log line \"%.*s\" in:\n%s",
                 (int)strlen(child_lines[i]) - 1, child_lines[i], out);
        CHECK(count_occurrences(out, child_lines[i]) == 1);
        at = found + strlen(child_lines[i]);
    }
    /* The parent logs the child's end at DEBUG, with its exit code. */
    char ended[128];
    snprintf(ended, sizeof ended, "ended with exitcode 5");
    const char *line = strstr(out, ended);
    if (!line)
        FAIL("no \"%s\" line from the parent in:\n%s", ended, out);
    const char *bol = line;
    while (bol > out && bol[-1] != '\n')
        bol--;
    if (strncmp(bol, "10|MainProcess|[DEBUG/MainProcess] ", 35) != 0)
        FAIL("the end of the child is not logged by MainProcess at DEBUG: \"%.*s\"",
             (int)(strchr(line, '\n') - bol), bol);
    char with_pid[32];
    snprintf(with_pid, sizeof with_pid, "%d", (int)pid);
    CHECK(strstr(bol, "Process-1") != NULL && strstr(bol, "Process-1") < line);
    CHECK(strstr(bol, with_pid) != NULL && strstr(bol, with_pid) < line);
    CHECK(count_occurrences(out, ended) == 1);
    /* Nothing the child logged is attributed to MainProcess. */
    CHECK(strstr(out, "MainProcess] child process calling") == NULL);
    CHECK(strstr(out, "MainProcess] process exiting") == NULL);
}

/* At INFO, the seed's session: only the INFO lines of the child, none of DEBUG. */
static void test_child_messages_at_info(void)
{
    int fds[2];
    CHECK(pipe(fds) == 0);
    pipe_ctx_fd = fds[1];
    CHECK_OK(pc_enable_logging(PC_LOG_INFO, to_pipe, &pipe_ctx_fd, NULL));
    pc_process *p;
    CHECK_OK(pc_process_new(NULL, NULL, &p));
    CHECK_OK(pc_process_set_name(p, "Worker"));
    CHECK_OK(pc_process_start(p));
    CHECK_OK(pc_process_join(p, 10.0));
    pc_process_free(p);
    CHECK_OK(pc_enable_logging(PC_LOG_CRITICAL, collect, NULL, NULL));
    char out[4096];
    read_available(fds[0], out, sizeof out);
    close(fds[0]);
    close(fds[1]);
    const char *want = "20|Worker|[INFO/Worker] child process calling self.run()\n"
                       "20|Worker|[INFO/Worker] process exiting with exitcode 0\n";
    if (strcmp(out, want) != 0)
        FAIL("at INFO, logged:\n%s\nexpected:\n%s", out, want);
}

/* ---- the level (CPython: test_level) ---- */

/* A library child's target: exit 0 when it sees the level `*(int *)arg`. */
static int report_level(void *arg)
{
    return pc_log_level() == *(int *)arg ? 0 : 1;
}

/* In a sub-process (the configuration is global): the level is -1 until logging is
 * enabled, then the last pc_enable_logging's, here and in the children started after it
 * (Python's child sees getLogger().getEffectiveLevel() of its parent). */
static int sub_level(void *arg)
{
    (void)arg;
    if (pc_log_level() != -1)
        return 10;
    static int counted = 0;
    int level = 32;
    if (pc_enable_logging(level, count_only, &counted, NULL) != PC_OK)
        return 11;
    if (pc_log_level() != 32)
        return 12;
    pc_process *p = NULL;
    if (pc_process_new(report_level, &level, &p) != PC_OK || pc_process_start(p) != PC_OK)
        return 13;
    if (finish_quietly(p, 10.0) != 0)
        return 14;
    /* A refused level leaves the configuration as it was. */
    if (pc_enable_logging(-5, NULL, NULL, NULL) != PC_ERR_INVALID_ARGUMENT)
        return 16;
    if (pc_log_level() != 32)
        return 17;
    level = 37;
    if (pc_enable_logging(level, count_only, &counted, NULL) != PC_OK || pc_log_level() != 37)
        return 18;
    if (pc_process_new(report_level, &level, &p) != PC_OK || pc_process_start(p) != PC_OK)
        return 19;
    return finish_quietly(p, 10.0) == 0 ? 0 : 20;
}

static void test_level(void)
{
    check_sub_ok(fork_sub(sub_level, NULL), 20.0, "sub_level");
}

int main(void)
{
    tu_init("test_logging", 60);
    RUN(test_level);                    /* logging not enabled here yet */
    RUN(test_fresh_process_and_stderr); /* logging not enabled here yet */
    CHECK(!pc_logging_enabled());
    RUN(test_handler_and_levels);
    RUN(test_formats);
    RUN(test_bad_arguments);
    RUN(test_child_lifecycle_messages); /* its child is "Process-1": no child before it */
    RUN(test_child_messages_at_info);
    return tu_done();
}
