/*
 * ex_pipe.c: message passing between two processes through a Pipe, the C version of the
 * seed's Pipe examples:
 *
 *     a, b = Pipe()
 *     b.send_bytes(b'thank you');   a.recv_bytes()             -> b'thank you'
 *     arr1 = array('i', range(5));  arr2 = array('i', [0] * 10)
 *     a.send_bytes(arr1);           b.recv_bytes_into(arr2)    -> 20 (5 ints of 4 bytes)
 *     a.poll(0.1)                                              -> False: nothing to read
 *
 *   1. the parent and a child exchange a few messages over a duplex pipe;
 *   2. the child sends an int array, the parent receives it into a larger int array
 *      (recv_bytes_into returns 20 bytes) and shows what a too-small buffer does;
 *   3. poll: wait for a message with a timeout;
 *   4. several children report through one-way pipes, the parent waits on all of them
 *      (pc_wait, Python's connection.wait) until each one has closed its end (EOF).
 *
 * A message is a byte string: C has no pickle, so a program sends the bytes of its data
 * (as Python's send_bytes does) and the receiver knows their layout. A pipe created before
 * pc_process_start is shared with the child; each process closes the end it does not use,
 * so that when one side ends, the other sees EOF. Each wait has a timeout here so a bug
 * cannot hang the example; real programs may pass PC_FOREVER.
 *
 * Build: cc ex_pipe.c -lprocessing
 */
#include <processing.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Prints the failing call with the library's explanation; returns 1 (an exit code). */
static int fail(const char *what, pc_status status)
{
    fprintf(stderr, "%s: %s (%s)\n", what, pc_status_str(status), pc_last_error());
    return 1;
}

/* Runs a call that returns a pc_status; on failure, reports it and returns 1. */
#define TRY(call)                                                                            \
    do {                                                                                     \
        pc_status try_status_ = (call);                                                      \
        if (try_status_ != PC_OK)                                                            \
            return fail(#call, try_status_);                                                 \
    } while (0)

/* Sends a C string (without its NUL) as one message. */
static pc_status send_str(pc_connection *c, const char *s)
{
    return pc_connection_send_bytes(c, s, strlen(s));
}

/* Starts a child running target(arg); returns NULL (after saying why) on failure. */
static pc_process *start(pc_target_fn target, void *arg)
{
    pc_process *p = NULL;
    pc_status s = pc_process_new(target, arg, &p);
    if (s == PC_OK && (s = pc_process_start(p)) != PC_OK) {
        pc_process_free(p);
        p = NULL;
    }
    if (s != PC_OK)
        fail("starting a child", s);
    return p;
}

/* Joins a child and returns 0 when it exited with 0. */
static int join(pc_process *p)
{
    int code = -1;
    pc_status s = pc_process_join(p, 10.0);
    if (s == PC_OK)
        s = pc_process_exitcode(p, &code);
    pc_process_free(p);
    if (s != PC_OK)
        return fail("joining a child", s);
    return code;
}

/* ---- 1-3: one child on a duplex pipe ---- */

struct ends {
    pc_connection *parent, *child;
};

static int child_main(void *arg)
{
    struct ends *e = arg;
    pc_connection_free(e->parent); /* the parent's end: not ours to use */
    pc_connection *conn = e->child;

    /* 1. Answer the parent's greeting. */
    pc_bytes msg = {0};
    TRY(pc_connection_recv_bytes(conn, 0, &msg));
    printf("\tchild got: %.*s\n", (int)msg.len, (const char *)msg.data);
    fflush(stdout);
    pc_bytes_free(&msg);
    TRY(send_str(conn, "thank you"));

    /* 2. Send the bytes of an int array, twice. */
    int arr1[5] = {0, 1, 2, 3, 4};
    TRY(pc_connection_send_bytes(conn, arr1, sizeof arr1));
    TRY(pc_connection_send_bytes(conn, arr1, sizeof arr1));

    /* 3. Wait for the parent's go, then send one more message a little later. */
    TRY(pc_connection_recv_bytes(conn, 0, &msg));
    pc_bytes_free(&msg);
    usleep(200 * 1000);
    TRY(send_str(conn, "late news"));

    pc_connection_free(conn); /* the parent sees EOF */
    return 0;
}

static int duplex_pipe(void)
{
    struct ends e;
    TRY(pc_pipe(true, &e.parent, &e.child)); /* Pipe(duplex=True) */
    pc_process *p = start(child_main, &e);
    if (!p)
        return 1;
    pc_connection_free(e.child); /* the child's end: the child has its own copy */
    pc_connection *conn = e.parent;

    /* 1. A greeting and its answer. */
    TRY(send_str(conn, "hello from the parent"));
    pc_bytes answer = {0};
    TRY(pc_connection_recv_bytes(conn, 0, &answer));
    printf("parent got: %.*s\n", (int)answer.len, (const char *)answer.data);
    int ok = answer.len == 9 && memcmp(answer.data, "thank you", 9) == 0;
    pc_bytes_free(&answer);
    if (!ok)
        return fail("the answer", PC_ERR_PROTOCOL);

    /* 2. recv_bytes_into: the 5 ints land at the start of a 10-int array. The length
     *    returned is in bytes: 5 x 4 = 20. */
    int arr2[10] = {0};
    size_t len = 0;
    TRY(pc_connection_recv_bytes_into(conn, arr2, sizeof arr2, 0, &len));
    printf("recv_bytes_into: %zu bytes:", len);
    for (int i = 0; i < 10; i++)
        printf(" %d", arr2[i]);
    printf("\n");
    if (len != 20 || arr2[4] != 4 || arr2[5] != 0)
        return fail("recv_bytes_into", PC_ERR_PROTOCOL);

    /* A buffer too small for the next message: PC_ERR_BUFFER_TOO_SHORT tells its size,
     * and the message stays queued, so a large enough buffer gets it next. */
    int small[2];
    pc_status s = pc_connection_recv_bytes_into(conn, small, sizeof small, 0, &len);
    printf("into 8 bytes: %s, the message has %zu bytes\n", pc_status_str(s), len);
    if (s != PC_ERR_BUFFER_TOO_SHORT || len != 20)
        return fail("recv_bytes_into a small buffer", s);
    TRY(pc_connection_recv_bytes_into(conn, arr2, sizeof arr2, 5 * sizeof(int), &len));
    printf("the same message at offset 20: arr2[5..9] = %d %d %d %d %d\n", arr2[5], arr2[6],
           arr2[7], arr2[8], arr2[9]);

    /* 3. poll: nothing to read yet, so a short poll times out. */
    s = pc_connection_poll(conn, 0.1);
    printf("poll(0.1) before the go: %s\n", s == PC_ERR_TIMEOUT ? "nothing yet" : pc_status_str(s));
    if (s != PC_ERR_TIMEOUT)
        return fail("poll", s);
    TRY(send_str(conn, "go"));
    TRY(pc_connection_poll(conn, 10.0)); /* ready: the message is there */
    TRY(pc_connection_recv_bytes(conn, 0, &answer));
    printf("poll(10) said ready; got: %.*s\n", (int)answer.len, (const char *)answer.data);
    pc_bytes_free(&answer);

    /* The child closed its end: a receive now reports EOF (Python's EOFError). */
    s = pc_connection_recv_bytes(conn, 0, &answer);
    printf("after the child closed its end: %s\n", pc_status_str(s));
    pc_connection_free(conn);
    if (s != PC_ERR_EOF)
        return fail("expected EOF", s);
    return join(p);
}

/* ---- 4: several one-way pipes and pc_wait ---- */

#define NCHILDREN 3

/* The reading ends, all kept by the parent; a child closes the copies it inherits. */
static pc_connection *readers[NCHILDREN];

struct reporter {
    int number;
    pc_connection *writer; /* this child's writing end */
};

static int reporter_main(void *arg)
{
    struct reporter *r = arg;
    for (int i = 0; i <= r->number; i++)
        pc_connection_free(readers[i]);
    for (int k = 0; k < 3; k++) {
        char line[64];
        usleep((useconds_t)(30000 * (r->number + 1))); /* some work */
        snprintf(line, sizeof line, "child %d, report %d", r->number, k);
        TRY(send_str(r->writer, line));
    }
    return 0; /* our end closes when we exit: the parent sees EOF */
}

static int wait_for_many(void)
{
    struct reporter rep[NCHILDREN];
    pc_process *ps[NCHILDREN];
    for (int i = 0; i < NCHILDREN; i++) {
        /* Pipe(duplex=False): readers[i] only receives, rep[i].writer only sends. */
        TRY(pc_pipe(false, &readers[i], &rep[i].writer));
        rep[i].number = i;
        if (!(ps[i] = start(reporter_main, &rep[i])))
            return 1;
        /* Only the child writes. Closing our copy now also keeps it out of the children
         * started next, so the child's exit alone makes EOF. */
        pc_connection_free(rep[i].writer);
    }

    /* Wait on every pipe still open; read whatever is ready; drop a pipe at its EOF. */
    int open = NCHILDREN, reports = 0;
    while (open > 0) {
        pc_connection *live[NCHILDREN];
        int index[NCHILDREN], n = 0;
        for (int i = 0; i < NCHILDREN; i++)
            if (readers[i]) {
                live[n] = readers[i];
                index[n++] = i;
            }
        bool ready[NCHILDREN];
        TRY(pc_wait(live, (size_t)n, 10.0, ready));
        for (int j = 0; j < n; j++) {
            if (!ready[j])
                continue;
            pc_bytes msg = {0};
            pc_status s = pc_connection_recv_bytes(live[j], 0, &msg);
            if (s == PC_ERR_EOF) {
                printf("pipe %d: EOF\n", index[j]);
                pc_connection_free(readers[index[j]]);
                readers[index[j]] = NULL;
                open--;
                continue;
            }
            TRY(s);
            printf("pipe %d: %.*s\n", index[j], (int)msg.len, (const char *)msg.data);
            pc_bytes_free(&msg);
            reports++;
        }
    }
    int failed = 0;
    for (int i = 0; i < NCHILDREN; i++)
        failed |= join(ps[i]);
    if (reports != 3 * NCHILDREN) {
        fprintf(stderr, "got %d reports, expected %d\n", reports, 3 * NCHILDREN);
        return 1;
    }
    return failed;
}

int main(void)
{
    printf("######## a duplex pipe\n");
    fflush(stdout);
    if (duplex_pipe() != 0)
        return 1;
    printf("\n######## one-way pipes and pc_wait\n");
    fflush(stdout);
    if (wait_for_many() != 0)
        return 1;
    printf("\nall done\n");
    return 0;
}
