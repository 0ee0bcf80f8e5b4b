/*
 * start_target_lib.c: a shared library that test_start_methods loads with dlopen at run
 * time, whose function a spawned child runs: the child finds the library by its path
 * and the function by its offset in it.
 */
#include <stdint.h>
#include <string.h>

int start_target_in_library(void *arg);

/* Returns 100 plus the first byte of its argument. */
int start_target_in_library(void *arg)
{
    uint8_t first;
    memcpy(&first, arg, 1);
    return 100 + first;
}
