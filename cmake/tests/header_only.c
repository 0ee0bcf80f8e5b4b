/* header_c99: include/processing.h alone must compile as strict C99. */
#include <processing.h>

int pc_header_only_check(void);
int pc_header_only_check(void) { return PC_OK + PC_VERSION_MAJOR * 0; }
