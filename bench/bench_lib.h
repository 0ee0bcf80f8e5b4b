/*
 * bench_lib.h: status checks for the bench programs that use libprocessing
 * (bench_process.c, bench_sync.c, bench_connection.c).
 */
#ifndef BENCH_LIB_H
#define BENCH_LIB_H

#include "processing.h"

#include "bench_common.h"

/* Checks a pc_status, printing the library's own words when it failed. */
#define PC_CHECK(expr)                                                              \
    do {                                                                            \
        pc_status st_ = (expr);                                                     \
        BENCH_CHECK(st_ == PC_OK, "%s: %s", pc_status_str(st_), pc_last_error());   \
    } while (0)

/* The same, in a child: exits with 1 (the parent checks the exit code). */
#define PC_CHILD_CHECK(expr)                                                        \
    do {                                                                            \
        pc_status st_ = (expr);                                                     \
        BENCH_CHILD_CHECK(st_ == PC_OK, "%s: %s", pc_status_str(st_), pc_last_error()); \
    } while (0)

#endif /* BENCH_LIB_H */
