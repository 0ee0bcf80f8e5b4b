/* A program built against an installed libprocessing (see cmake/tests/consumer.sh):
 * starts one child that exits with 3, joins it, checks the exit code, prints the
 * library's version. Exits 0 when all of that worked. */
#include <processing.h>
#include <stdio.h>
#include <string.h>

static int child(void *arg) {
    (void)arg;
    return 3;
}

int main(void) {
    pc_process *p = NULL;
    int code = -1;
    char header[32];
    snprintf(header, sizeof header, "%d.%d.%d", PC_VERSION_MAJOR, PC_VERSION_MINOR,
             PC_VERSION_PATCH);
    if (strcmp(header, pc_version()) != 0) {
        fprintf(stderr, "consumer: header %s but library %s\n", header, pc_version());
        return 1;
    }
    if (pc_process_new(child, NULL, &p) != PC_OK || pc_process_start(p) != PC_OK ||
        pc_process_join(p, 60.0) != PC_OK || pc_process_exitcode(p, &code) != PC_OK) {
        fprintf(stderr, "consumer: %s\n", pc_last_error());
        pc_process_free(p);
        return 1;
    }
    pc_process_free(p);
    if (code != 3) {
        fprintf(stderr, "consumer: child exited with %d, expected 3\n", code);
        return 1;
    }
    printf("consumer: child exited with 3; libprocessing %s\n", pc_version());
    return 0;
}
