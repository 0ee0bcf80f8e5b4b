/*
 * start_target_lib.c: a shared library that test_start_methods loads with dlopen at run
 * time, whose functions a child started by spawn or forkserver runs: the child finds the
 * library by its path and each function by its offset in it.
 */
#include <stdint.h>
#include <string.h>

#include "processing.h"

int start_target_in_library(void *arg);
int start_task_in_library(const void *arg, size_t len, pc_buffer *result);

/* A process target: returns 100 plus the first byte of its argument. */
int start_target_in_library(void *arg)
{
    uint8_t first;
    memcpy(&first, arg, 1);
    return 100 + first;
}

/* A pool task: writes "lib:" and its argument. */
int start_task_in_library(const void *arg, size_t len, pc_buffer *result)
{
    return pc_buffer_write(result, "lib:", 4) != PC_OK ||
           pc_buffer_write(result, arg, len) != PC_OK;
}
