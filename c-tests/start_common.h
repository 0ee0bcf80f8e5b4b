/* start_common.h: what the test_start_*.c tests share. */
#ifndef START_COMMON_H
#define START_COMMON_H

#include <stddef.h>

/* The start methods: the two that exec first, then fork. */
extern const char *const START_METHODS[3];
#define EXEC_METHODS 2
#define ALL_METHODS 3

/* Runs fn(method) for the first `n` of START_METHODS, each in a sub-process of its own
 * (which owns any forkserver it starts: tu_done checks that no child is left), and fails
 * unless each exits with 0. */
void by_methods(int (*fn)(void *method), size_t n);

#endif
