/*
 * ex_processes.c: start a few processes, wait for them, and read their exit codes.
 *
 * The C version of Python's
 *
 *     ps = [Process(target=work, args=(i,)) for i in range(4)]
 *     for p in ps: p.start()
 *     ...
 *     for p in ps: p.join(); print(p.name, p.exitcode)
 *
 * Each child runs a target function; the function's return value is the child's exit
 * code. Worker 3 fails on purpose (exit code 3), and worker 4 sleeps until the parent
 * terminates it (exit code -15, i.e. killed by SIGTERM).
 *
 * Build: cc ex_processes.c -lprocessing
 */
#include <processing.h>

#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#define NWORKERS 4

/* What each worker gets: an argument is any pointer; the parent's memory is copied into
 * the child at fork, so pointing at the parent's variables is fine. */
struct job {
    int number;
};

/* Runs in the child. Its return value becomes the child's exit code (0-255). */
static int work(void *arg)
{
    const struct job *job = arg;

    const pc_process *me;
    pc_current_process(&me); /* this child's own process object */

    if (job->number == 4) {
        /* This one waits to be terminated by the parent. */
        printf("%s (pid %d): sleeping until terminated\n", pc_process_name(me), (int)getpid());
        fflush(stdout); /* before we get killed: a terminated child flushes nothing */
        for (;;)
            pause();
    }

    long sum = 0;
    for (int i = 1; i <= 1000 * job->number; i++)
        sum += i;
    printf("%s (pid %d): sum of 1..%d is %ld\n", pc_process_name(me), (int)getpid(),
           1000 * job->number, sum);
    /* Output still in the buffer is flushed by the library before the child exits. */

    return job->number == 3 ? 3 : 0; /* worker 3 reports a failure */
}

/* Prints the failing call with the library's explanation. */
static int fail(const char *what, pc_status status)
{
    fprintf(stderr, "%s: %s (%s)\n", what, pc_status_str(status), pc_last_error());
    return 1;
}

int main(void)
{
    static struct job jobs[NWORKERS];
    pc_process *workers[NWORKERS];
    pc_status s;

    printf("main process %d, %d CPUs\n", (int)getpid(), pc_cpu_count());

    for (int i = 0; i < NWORKERS; i++) {
        jobs[i].number = i + 1;
        if ((s = pc_process_new(work, &jobs[i], &workers[i])) != PC_OK)
            return fail("pc_process_new", s);
        /* Names default to "Process-1", "Process-2", ...; pc_process_set_name changes them. */
        if ((s = pc_process_start(workers[i])) != PC_OK)
            return fail("pc_process_start", s);
    }

    /* Worker 4 never ends by itself: give it a moment, then terminate it (SIGTERM). */
    if (pc_process_join(workers[3], 0.2) == PC_ERR_TIMEOUT) {
        printf("terminating %s\n", pc_process_name(workers[3]));
        if ((s = pc_process_terminate(workers[3])) != PC_OK)
            return fail("pc_process_terminate", s);
    }

    /* Wait for every worker (with a limit, so a stuck child cannot block us forever). */
    int expected[NWORKERS] = {0, 0, 3, -SIGTERM};
    int ok = 1;
    for (int i = 0; i < NWORKERS; i++) {
        if ((s = pc_process_join(workers[i], 10.0)) != PC_OK)
            return fail("pc_process_join", s);
        int code;
        if ((s = pc_process_exitcode(workers[i], &code)) != PC_OK)
            return fail("pc_process_exitcode", s);
        printf("%s (pid %d) exited with code %d\n", pc_process_name(workers[i]),
               pc_process_pid(workers[i]), code);
        if (code != expected[i])
            ok = 0;
        pc_process_free(workers[i]);
    }

    if (!ok) {
        fprintf(stderr, "unexpected exit codes\n");
        return 1;
    }
    return 0;
}
