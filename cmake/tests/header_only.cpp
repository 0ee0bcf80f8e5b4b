// header_cxx17: include/processing.h alone must compile as strict C++17.
#include <processing.h>

int pc_header_only_check();
int pc_header_only_check() { return PC_OK + PC_VERSION_MAJOR * 0; }
