/*
 * ex_workers.c: a hand-made pool of worker processes fed through two queues, the C
 * version of the seed's ex_workers.py:
 *
 *     def worker(input, output):
 *         for func, args in iter(input.get, 'STOP'):
 *             output.put('%s says that %s%s = %s' % (
 *                 currentProcess().getName(), func.__name__, args, func(*args)))
 *
 *     task_queue, done_queue = Queue(), Queue()
 *     task_queue.putMany([(mul, (i, 7)) for i in range(20)])
 *     for i in range(4): Process(target=worker, args=(task_queue, done_queue)).start()
 *     for i in range(20): print('\t', done_queue.get())      # unordered results
 *     for i in range(10): task_queue.put((plus, (i, 8)))
 *     for i in range(10): print('\t', done_queue.get())
 *     for i in range(4): task_queue.put('STOP')
 *
 * C has no pickle, so a queue carries byte strings: a task is a small struct (a function
 * number and two arguments) sent as its bytes, and a result is a struct header followed by
 * the text of the answer. The STOP sentinel is the 4 bytes "STOP": shorter than a task,
 * so a worker tells it apart by its length. Every process sees the same struct layout
 * (the children are forks of this program), so sending the raw bytes is safe.
 *
 * Both queues are created before the workers start: a forked child uses the very same
 * queue. A put copies the message into the queue's shared memory before it returns, so a
 * worker that exits right after its last put loses nothing, and the parent may join the
 * workers before or after draining the results (Python's "joining processes that use
 * queues" deadlock does not exist here).
 *
 * The parent checks every answer against its own arithmetic and that each task was
 * answered exactly once. Each wait has a timeout, so a bug cannot hang the example; real
 * programs may pass PC_FOREVER.
 *
 * Build: cc ex_workers.c -lprocessing
 */
#include <processing.h>

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NUMBER_OF_PROCESSES 4
#define NTASKS1 20 /* mul(i, 7) for i in 0..19, put before the workers start */
#define NTASKS2 10 /* plus(i, 8) for i in 0..9, put once the first results are in */
#define NTASKS (NTASKS1 + NTASKS2)

/* ---- the messages ---- */

enum func { MUL, PLUS };
static const char *const func_names[] = {"mul", "plus"};

/* A task as it travels through the task queue. */
struct task {
    uint32_t id; /* 0..NTASKS-1: lets the parent match each result to its task */
    uint32_t func; /* enum func */
    int32_t a, b;
};

/* A result: this header, then the text (without a NUL) up to the end of the message. */
struct result {
    uint32_t id;
    int32_t value;
};

#define STOP "STOP"
#define STOP_LEN 4

/* ---- helpers ---- */

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

/* The name of the running process ("MainProcess", "Process-3", ...). */
static const char *my_name(void)
{
    const pc_process *me;
    return pc_current_process(&me) == PC_OK ? pc_process_name(me) : "?";
}

/* Sleeps up to `max` seconds, a different time in each process (the original sleeps up
 * to 0.5 s per task; a shorter nap keeps the example quick while still mixing up the
 * order in which results arrive). */
static void random_sleep(double max)
{
    static unsigned seed = 0;
    if (seed == 0)
        seed = (unsigned)getpid() ^ (unsigned)time(NULL);
    double s = max * (double)rand_r(&seed) / RAND_MAX;
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

static int32_t calculate(uint32_t func, int32_t a, int32_t b)
{
    random_sleep(0.02);
    return func == MUL ? a * b : a + b;
}

/* The text a worker sends back, e.g. "Process-2 says that mul(3, 7) = 21". */
static int describe(char *buf, size_t cap, const char *who, const struct task *t,
                    int32_t value)
{
    return snprintf(buf, cap, "%s says that %s(%d, %d) = %d", who, func_names[t->func],
                    (int)t->a, (int)t->b, (int)value);
}

/* ---- the worker ---- */

struct queues {
    pc_queue *tasks; /* parent -> workers: struct task, or STOP */
    pc_queue *done;  /* workers -> parent: struct result + text */
};

/* Runs in each worker: take tasks until STOP, answer each one. */
static int worker(void *arg)
{
    const struct queues *q = arg;
    for (;;) {
        /* A task has a fixed size, so get_into a struct: no allocation. The message's
         * length tells a task from the STOP sentinel. */
        struct task t;
        size_t len = 0;
        TRY(pc_queue_get_into(q->tasks, &t, sizeof t, &len, 10.0));
        if (len == STOP_LEN && memcmp(&t, STOP, STOP_LEN) == 0)
            break;
        if (len != sizeof t || t.func > PLUS) {
            fprintf(stderr, "%s: malformed task of %zu bytes\n", my_name(), len);
            return 1;
        }

        int32_t value = calculate(t.func, t.a, t.b);

        /* The answer: header + text in one message. */
        unsigned char msg[sizeof(struct result) + 128];
        struct result r = {t.id, value};
        memcpy(msg, &r, sizeof r);
        char *text = (char *)msg + sizeof r;
        int n = describe(text, sizeof msg - sizeof r, my_name(), &t, value);
        TRY(pc_queue_put(q->done, msg, sizeof r + (size_t)n, 10.0));
    }

    /* Python's idiom before a process that put data exits: close, then join_thread to
     * wait for the feeder thread to flush. Here each put was in the queue when it
     * returned, so join_thread returns at once; both calls are optional. */
    TRY(pc_queue_close(q->done));
    TRY(pc_queue_join_thread(q->done));
    return 0;
}

/* ---- the parent ---- */

static struct task tasks[NTASKS];
static int answers[NTASKS]; /* how many results came back for each task */
static int per_worker[NUMBER_OF_PROCESSES];
static pc_process *workers[NUMBER_OF_PROCESSES];

/* Takes `count` results off the done queue, prints them and checks each one. */
static int collect(pc_queue *done, int count)
{
    for (int i = 0; i < count; i++) {
        /* A result's size varies with its text: pc_queue_get allocates what it needs. */
        pc_bytes msg = {0};
        TRY(pc_queue_get(done, 10.0, &msg));
        struct result r;
        if (msg.len < sizeof r) {
            fprintf(stderr, "a result of %zu bytes\n", msg.len);
            pc_bytes_free(&msg);
            return 1;
        }
        memcpy(&r, msg.data, sizeof r);
        const char *text = (const char *)msg.data + sizeof r;
        int text_len = (int)(msg.len - sizeof r);
        printf("\t%.*s\n", text_len, text);

        /* Check it: a known task, answered once, the right value, and the text of one
         * of our workers. */
        int ok = r.id < NTASKS && ++answers[r.id] == 1;
        if (ok) {
            const struct task *t = &tasks[r.id];
            int32_t want = t->func == MUL ? t->a * t->b : t->a + t->b;
            ok = r.value == want;
            int who = -1;
            for (int w = 0; w < NUMBER_OF_PROCESSES && ok; w++) {
                char expected[128];
                const char *name = pc_process_name(workers[w]);
                int n = describe(expected, sizeof expected, name, t, want);
                if (n == text_len && memcmp(expected, text, (size_t)n) == 0)
                    who = w;
            }
            if (who < 0)
                ok = 0;
            else
                per_worker[who]++;
        }
        pc_bytes_free(&msg);
        if (!ok) {
            fprintf(stderr, "wrong or duplicate result for task %u\n", (unsigned)r.id);
            return 1;
        }
    }
    return 0;
}

/* Puts tasks[first..first+count-1] on the task queue. */
static int put_tasks(pc_queue *q, int first, int count)
{
    for (int i = first; i < first + count; i++)
        TRY(pc_queue_put(q, &tasks[i], sizeof tasks[i], 10.0));
    return 0;
}

/* The body of the example; main() cleans up after it whatever it returns. */
static int run(struct queues *q)
{
    for (int i = 0; i < NTASKS1; i++)
        tasks[i] = (struct task){(uint32_t)i, MUL, i, 7};
    for (int i = 0; i < NTASKS2; i++)
        tasks[NTASKS1 + i] = (struct task){(uint32_t)(NTASKS1 + i), PLUS, i, 8};

    /* Fill the task queue before any worker runs. An unbounded queue's put never blocks,
     * and qsize is exact: every put that returned is counted. */
    if (put_tasks(q->tasks, 0, NTASKS1) != 0)
        return 1;
    size_t waiting = 0;
    TRY(pc_queue_qsize(q->tasks, &waiting));
    printf("%zu tasks waiting\n", waiting);
    if (waiting != NTASKS1)
        return fail("qsize", PC_ERR_VALUE);

    /* Start the workers. Flush first, or the children inherit (and print again) what
     * stdout still holds. */
    fflush(stdout);
    for (int i = 0; i < NUMBER_OF_PROCESSES; i++) {
        TRY(pc_process_new(worker, q, &workers[i]));
        TRY(pc_process_start(workers[i]));
    }

    printf("Unordered results:\n");
    if (collect(q->done, NTASKS1) != 0)
        return 1;

    /* More work for the same workers: they are still waiting on the task queue. */
    if (put_tasks(q->tasks, NTASKS1, NTASKS2) != 0)
        return 1;
    if (collect(q->done, NTASKS2) != 0)
        return 1;

    /* Tell the workers to stop: one sentinel each. */
    for (int i = 0; i < NUMBER_OF_PROCESSES; i++)
        TRY(pc_queue_put(q->tasks, STOP, STOP_LEN, 10.0));
    return 0;
}

int main(void)
{
    /* Two unbounded queues, Python's Queue(): put never waits (a maxsize > 0 bounds the
     * queue, and put then waits for room). */
    struct queues q = {NULL, NULL};
    TRY(pc_queue_new(0, &q.tasks));
    TRY(pc_queue_new(0, &q.done));

    int failed = run(&q);

    /* Join the workers. After a failure, terminate them first so none is left behind. */
    int terminated = failed;
    for (int i = 0; i < NUMBER_OF_PROCESSES && workers[i]; i++) {
        if (terminated)
            pc_process_terminate(workers[i]);
        int code = -1;
        pc_status s = pc_process_join(workers[i], 10.0);
        if (s == PC_OK)
            s = pc_process_exitcode(workers[i], &code);
        if (s != PC_OK) {
            failed |= fail("joining a worker", s);
            if (pc_process_kill(workers[i]) == PC_OK)
                pc_process_join(workers[i], 10.0);
        } else if (code != 0 && !(terminated && code == -SIGTERM)) {
            fprintf(stderr, "%s exited with %d\n", pc_process_name(workers[i]), code);
            failed = 1;
        }
    }

    if (!failed) {
        /* Every task answered exactly once, and nothing left over in either queue. */
        for (int i = 0; i < NTASKS; i++)
            if (answers[i] != 1) {
                fprintf(stderr, "task %d got %d results\n", i, answers[i]);
                failed = 1;
            }
        if (!pc_queue_empty(q.tasks) || !pc_queue_empty(q.done)) {
            fprintf(stderr, "messages left in a queue\n");
            failed = 1;
        }
    }
    if (!failed) {
        printf("Tasks per worker:");
        for (int i = 0; i < NUMBER_OF_PROCESSES; i++)
            printf(" %s %d%s", pc_process_name(workers[i]), per_worker[i],
                   i + 1 < NUMBER_OF_PROCESSES ? "," : "\n");
        printf("all %d results checked\n", NTASKS);
    }

    for (int i = 0; i < NUMBER_OF_PROCESSES; i++)
        pc_process_free(workers[i]);
    pc_queue_free(q.tasks);
    pc_queue_free(q.done);
    return failed;
}
