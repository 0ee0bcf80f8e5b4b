/* process_common.h: helpers of the test_process_{lifecycle,attributes,usage}.c tests. */
#ifndef PROCESS_COMMON_H
#define PROCESS_COMMON_H

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

extern double short_sleep;

/* The number in "Process-N" (the last number for "Process-N:M"), -1 if not that form. */
long name_number(const char *name);

/* ---- sentinel ---- */
short poll_revents(int fd, int timeout_ms);

#endif
