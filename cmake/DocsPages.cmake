# Run by the target docs (cmake -P): writes the Doxygen page api_map from README.md's
# section "From the seed's API to C" (its table of Python calls and their C functions),
# so that the README stays the one place that table is written.
# Inputs: README (README.md's path), OUT (the page to write).
file(READ "${README}" _readme)
set(_heading "\n## From the seed's API to C\n")
string(FIND "${_readme}" "${_heading}" _start)
if(_start EQUAL -1)
  message(FATAL_ERROR "${README} has no section \"## From the seed's API to C\"")
endif()
string(LENGTH "${_heading}" _len)
math(EXPR _start "${_start} + ${_len}")
string(SUBSTRING "${_readme}" ${_start} -1 _section)
string(FIND "${_section}" "\n## " _end)
if(NOT _end EQUAL -1)
  string(SUBSTRING "${_section}" 0 ${_end} _section)
endif()
# The README's links to its own sections and to files of the repository lead nowhere in
# the HTML: they become plain text.
string(REGEX REPLACE "\\[([^]]+)\\]\\(#[^)]*\\)" "\\1 (in README.md)"
       _section "${_section}")
string(REGEX REPLACE "\\[([^]]+)\\]\\(([^):]+)\\)" "\\1" _section "${_section}")
# Doxygen 1.9 reads `'c'` as the start of a `quoted' span that a later ' ends: such a
# code span becomes <tt>'c'</tt>.
string(REGEX REPLACE "`'([^'`]*)'`" "<tt>'\\1'</tt>" _section "${_section}")
file(WRITE "${OUT}.tmp" "# From Python's processing to C {#api_map}\n${_section}\n")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
