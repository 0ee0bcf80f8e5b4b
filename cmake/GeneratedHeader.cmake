# Compares the header build.rs generates with the checked-in include/processing.h
# (MODE=check: the ctest header_fresh) or copies it there (MODE=update: the target header).
# Run with cmake -P. Inputs: MODE, CARGO, SOURCE_DIR, CARGO_TARGET_DIR, BINARY_DIR and
# optionally PROFILE_FLAG (--release).
#
# build.rs writes the header into its OUT_DIR, whose path has a hash in it; cargo names
# it in the build-script-executed message of `--message-format=json`. The build is the
# one the library's own build already did, so cargo only replays its messages.
foreach(var IN ITEMS MODE CARGO SOURCE_DIR CARGO_TARGET_DIR BINARY_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "GeneratedHeader.cmake: ${var} is not set")
  endif()
endforeach()

execute_process(
  COMMAND "${CMAKE_COMMAND}" -E env "CARGO_TARGET_DIR=${CARGO_TARGET_DIR}"
          "${CARGO}" build --lib ${PROFILE_FLAG} --message-format=json
  WORKING_DIRECTORY "${SOURCE_DIR}"
  OUTPUT_VARIABLE _messages
  RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "cargo build failed (${_rc})")
endif()

# This package's build script is the one whose OUT_DIR is build/processing-<hash>/out.
string(REGEX MATCH
  "[^\n]*\"reason\":\"build-script-executed\"[^\n]*\"out_dir\":\"[^\"\n]*/build/processing-[0-9a-f]+/out\"[^\n]*"
  _message "${_messages}")
if(NOT _message)
  message(FATAL_ERROR "cargo reported no build-script-executed message for processing")
endif()
string(JSON _out_dir GET "${_message}" out_dir)
set(_generated "${_out_dir}/processing.h")
set(_checked_in "${SOURCE_DIR}/include/processing.h")
if(NOT EXISTS "${_generated}")
  message(FATAL_ERROR "build.rs did not write ${_generated}")
endif()

if(MODE STREQUAL "update")
  execute_process(COMMAND "${CMAKE_COMMAND}" -E compare_files "${_generated}" "${_checked_in}"
                  RESULT_VARIABLE _differs)
  if(_differs)
    file(COPY_FILE "${_generated}" "${_checked_in}")
    message(STATUS "Updated include/processing.h from ${_generated}")
  else()
    message(STATUS "include/processing.h is up to date")
  endif()
elseif(MODE STREQUAL "check")
  execute_process(COMMAND "${CMAKE_COMMAND}" -E compare_files "${_generated}" "${_checked_in}"
                  RESULT_VARIABLE _differs)
  if(NOT _differs)
    message(STATUS "ok: include/processing.h is what the sources generate")
    return()
  endif()
  find_program(_diff diff)
  if(_diff)
    execute_process(COMMAND "${_diff}" -u "${_checked_in}" "${_generated}")
  endif()
  message(FATAL_ERROR
    "include/processing.h is stale: the sources generate ${_generated}.\n"
    "Update it with `cmake --build ${BINARY_DIR} --target header` and commit it with "
    "the change that caused it.")
else()
  message(FATAL_ERROR "GeneratedHeader.cmake: MODE is check or update, not '${MODE}'")
endif()
