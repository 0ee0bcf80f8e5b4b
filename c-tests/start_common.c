/* start_common.c: see start_common.h. */
#include "start_common.h"

#include "testutil.h"

const char *const START_METHODS[3] = {"spawn", "forkserver", "fork"};

void by_methods(int (*fn)(void *method), size_t n)
{
    for (size_t i = 0; i < n && i < ALL_METHODS; i++)
        check_sub_ok(fork_sub(fn, (void *)START_METHODS[i]), 90 * TU_SLOWDOWN, START_METHODS[i]);
}
