/* sharedctypes_common.c: the helpers declared in sharedctypes_common.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pipe2 */
#endif
#include "testutil.h"

#include <fcntl.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <wchar.h>
#include "sharedctypes_common.h"

pc_lock *new_given_lock(enum guard g)
{
    pc_lock *lock = NULL;
    if (g == WITH_LOCK)
        CHECK_OK(pc_lock_new(&lock));
    else
        CHECK_OK(pc_rlock_new(&lock));
    return lock;
}

void check_same_lock(pc_lock *a, pc_lock *b)
{
    CHECK(a != NULL && b != NULL);
    CHECK_OK(pc_lock_acquire(a, 0));
    CHECK_OK(pc_lock_release(b));
    CHECK_STATUS(pc_lock_release(a), PC_ERR_NOT_OWNER);
}

pc_array *new_array_guarded(char code, size_t len, const void *init, enum guard g,
                                   pc_lock **lock)
{
    pc_array *a = NULL;
    *lock = NULL;
    switch (g) {
    case OWN:
        CHECK_OK(pc_array_new(code, len, init, &a));
        CHECK(pc_array_lock(a) != NULL);
        break;
    case WITH_LOCK:
    case WITH_RLOCK:
        *lock = new_given_lock(g);
        CHECK_OK(pc_array_new_with_lock(code, len, init, *lock, &a));
        check_same_lock(*lock, pc_array_lock(a));
        break;
    default:
        CHECK_OK(pc_raw_array_new(code, len, init, &a));
        CHECK(pc_array_lock(a) == NULL);
        break;
    }
    CHECK(a != NULL);
    return a;
}
