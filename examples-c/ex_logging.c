/*
 * ex_logging.c: the logging session of the processing reference, in C.
 *
 *     >>> import processing, logging
 *     >>> processing.enableLogging(level=logging.INFO)
 *     >>> processing.getLogger().warning('doomed')
 *     [WARNING/MainProcess] doomed
 *
 * Logging goes to standard error by default. With INFO enabled, the library also tells
 * when a child starts running its target and when it exits, with its exit code:
 *
 *     [WARNING/MainProcess] doomed
 *     [INFO/Process-1] child process calling self.run()
 *     [INFO/Process-1] process exiting with exitcode 0
 *
 * Build: cc ex_logging.c -lprocessing
 */
#include <processing.h>

#include <stdio.h>

static int say_hello(void *arg)
{
    (void)arg;
    pc_log(PC_LOG_INFO, "hello from the child"); /* logged as [INFO/Process-1] */
    return 0;
}

int main(void)
{
    /* enableLogging(level=INFO): NULL handler = standard error, NULL format = the
     * default "[%(levelname)s/%(processName)s] %(message)s". */
    pc_status s = pc_enable_logging(PC_LOG_INFO, NULL, NULL, NULL);
    if (s != PC_OK) {
        fprintf(stderr, "pc_enable_logging: %s (%s)\n", pc_status_str(s), pc_last_error());
        return 1;
    }

    /* getLogger().warning('doomed') */
    pc_log(PC_LOG_WARNING, "doomed");
    /* Below the level: not shown. */
    pc_log(PC_LOG_DEBUG, "not shown at INFO");

    /* A child inherits the logging configuration. */
    pc_process *p;
    if ((s = pc_process_new(say_hello, NULL, &p)) != PC_OK ||
        (s = pc_process_start(p)) != PC_OK || (s = pc_process_join(p, 10.0)) != PC_OK) {
        fprintf(stderr, "child: %s (%s)\n", pc_status_str(s), pc_last_error());
        return 1;
    }
    int code = -1;
    pc_process_exitcode(p, &code);
    pc_process_free(p);
    return code == 0 ? 0 : 1;
}
