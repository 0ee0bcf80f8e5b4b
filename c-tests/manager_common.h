/* manager_common.h: keys, pickles and item and server helpers of test_manager_*.c. */
#ifndef MANAGER_COMMON_H
#define MANAGER_COMMON_H

#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MIB ((size_t)1 << 20)

static const char KEY[] = "manager test key \x01\xff";

#define KEYLEN (sizeof KEY - 1)

static const char WRONG[] = "not the key";

extern uint8_t big[MIB];

/* ---- items ---- */
pc_item item_raw(int kind, const void *data, size_t len);

pc_item item_pickle(const void *data, size_t len);

pc_item item_strn(const char *s, size_t len);

/* Pickles, as Python 3 writes them (or could). */
/* (1, 'a'), protocol 4: pickle.dumps((1, 'a'), protocol=4), whose frame is 9 bytes. */
static const uint8_t P_TUPLE[] = {0x80, 0x04, 0x95, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                  0x00, 0x4b, 0x01, 0x8c, 0x01, 0x61, 0x94, 0x86, 0x94, 0x2e};

/* [1]: a list (unhashable). */
static const uint8_t P_LIST[] = {0x80, 0x04, 0x5d, 0x94, 0x4b, 0x01, 0x61, 0x2e};

/* 5: a plain int in a pickle. */
static const uint8_t P_FIVE[] = {0x80, 0x04, 0x4b, 0x05, 0x2e};

/* Not pickles. */
static const char P_GARBAGE[] = "this is not a pickle";

/* A sentinel an output keeps when a call fails (outputs are written on success only). */
pc_item sentinel(void);

#define CHECK_UNTOUCHED(it) CHECK((it).kind == PC_KIND_INT && (it).i == -777)

/* ---- dict, list, namespace shorthands (fail with the caller's line) ---- */
#define DSET(d, k, v) CHECK_OK(pc_dict_set((d), (k), (v)))

#define DGET_IS(d, k, want)                                                                  \
    do {                                                                                     \
        pc_item got_ = sentinel();                                                           \
        CHECK_OK(pc_dict_get((d), (k), &got_));                                              \
        CHECK_ITEM(got_, want);                                                              \
        pc_item_release(&got_);                                                              \
    } while (0)

#define LGET_IS(l, i, want)                                                                  \
    do {                                                                                     \
        pc_item got_ = sentinel();                                                           \
        CHECK_OK(pc_list_get((l), (i), &got_));                                              \
        CHECK_ITEM(got_, want);                                                              \
        pc_item_release(&got_);                                                              \
    } while (0)

#define NGET_IS(ns, a, want)                                                                 \
    do {                                                                                     \
        pc_item got_ = sentinel();                                                           \
        CHECK_OK(pc_namespace_get((ns), (a), &got_));                                        \
        CHECK_ITEM(got_, want);                                                              \
        pc_item_release(&got_);                                                              \
    } while (0)

#define CALL_IS(p, method, args, nargs, want)                                                \
    do {                                                                                     \
        pc_item got_ = sentinel();                                                           \
        CHECK_OK(pc_proxy_call((p), (method), (args), (nargs), &got_));                      \
        CHECK_ITEM(got_, want);                                                              \
        pc_item_release(&got_);                                                              \
    } while (0)

size_t dict_len(pc_dict *d);

size_t list_len(pc_list *l);

size_t objects(pc_manager *m);
/* Polls objects(m) until it is `want`, at most `timeout` s; the last count. */
size_t wait_objects(pc_manager *m, size_t want, double timeout);

/* ---- managers ---- */

/* The pids of this process's live library children named "SyncManager…". */
int manager_pids(pid_t *out, int cap);

/* Starts `m` and returns its server's pid (the one new SyncManager child). */
pid_t start_server(pc_manager *m);

/* A started manager with KEY (address NULL: private); *pid (may be NULL) its server. */
pc_manager *started(const char *address, pid_t *pid);

/* A manager connected to `address` with KEY. */
pc_manager *connected(const char *address);

bool server_gone_within(pid_t pid, double timeout);

pc_dict *new_dict(pc_manager *m, const char *name);

pc_list *new_list(pc_manager *m, const char *name);

pc_namespace *new_namespace(pc_manager *m, const char *name);

/* A library child using a connected manager's named dict made before it started. */
extern pc_dict *child_dict;

int target_set_in_child(void *arg);

/* ---- state rules ---- */
void *dummy_create(const pc_item *args, size_t nargs, void *ctx);

int dummy_call(void *obj, const char *method, const pc_item *args, size_t nargs,
                      pc_item_builder *b, void *ctx);

static const char *const dummy_exposed[] = {"m", NULL};

/* ---- values ---- */

/* Every kind C reads, with its edge cases. */
int all_items(pc_item *out);

#define MAX_ITEMS 32

/* ---- handles after fork, and threads ---- */
enum { THREADS = 4, THREAD_OPS = 200 };

struct thread_arg {
    pc_dict *d;
    int t;
    int failures;
};

void *thread_writer(void *p);

/* Uses `d` from THREADS threads at once; the number of failures. */
int use_from_threads(pc_dict *d);

int target_use_forked(void *arg);

/* ---- custom types ---- */

/* What the server's C type does, seen from the test: the server is a forked child, so
 * this lives in shared memory made before it started. */
struct counters {
    atomic_int created;
    atomic_int destroyed;
    atomic_int hidden_ran;
    atomic_int in_call;
    atomic_int overlaps;
    atomic_int builder_status[4];
};

#endif
