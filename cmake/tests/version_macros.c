/* version_macros: prints the header's version and the library's, one per line. */
#include <processing.h>
#include <stdio.h>

int main(void) {
    printf("header %d.%d.%d\n", PC_VERSION_MAJOR, PC_VERSION_MINOR, PC_VERSION_PATCH);
    printf("library %s\n", pc_version());
    return 0;
}
