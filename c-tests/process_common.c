/* process_common.c: the helpers declared in process_common.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* prctl, pthread_kill, … */
#endif
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include "process_common.h"

double short_sleep = 0.3;

long name_number(const char *name)
{
    if (!name || strncmp(name, "Process-", 8) != 0)
        return -1;
    const char *last = strrchr(name, ':');
    const char *digits = last ? last + 1 : name + 8;
    char *end;
    long n = strtol(digits, &end, 10);
    return (*digits && *end == '\0') ? n : -1;
}

short poll_revents(int fd, int timeout_ms)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int r;
    do {
        r = poll(&pfd, 1, timeout_ms);
    } while (r < 0 && errno == EINTR);
    CHECK(r >= 0);
    return r == 0 ? 0 : pfd.revents;
}
