# The test docs.api_reference (cmake/Docs.cmake): runs Doxygen on the generated Doxyfile and fails
# when it wrote any warning (an undocumented public symbol, a malformed comment), printing them.
#   cmake -DDOXYGEN=doxygen -DDOXYFILE=build/docs/api/Doxyfile -DWARNINGS=build/docs/api/warnings.txt
#         -DSOURCE_DIR=. -P cmake/CheckDocsWarnings.cmake
foreach(_var DOXYGEN DOXYFILE WARNINGS SOURCE_DIR)
  if(NOT DEFINED ${_var})
    message(FATAL_ERROR "CheckDocsWarnings.cmake: -D${_var}=... is required")
  endif()
endforeach()

# A fresh log each run: a stale one could neither fail nor pass the test honestly.
file(REMOVE ${WARNINGS})
execute_process(COMMAND ${DOXYGEN} ${DOXYFILE}
                WORKING_DIRECTORY ${SOURCE_DIR}
                RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _err)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "doxygen ${DOXYFILE} failed (exit ${_rc}):\n${_out}${_err}")
endif()
if(NOT EXISTS ${WARNINGS})
  message(FATAL_ERROR "doxygen wrote no ${WARNINGS} (WARN_LOGFILE in ${DOXYFILE}?)")
endif()

file(READ ${WARNINGS} _text)
if(NOT _text STREQUAL "")
  string(REGEX MATCHALL "warning:" _hits "${_text}")
  list(LENGTH _hits _count)
  string(REPLACE "${SOURCE_DIR}/" "" _text "${_text}")
  message("${_text}")  # as Doxygen wrote them (FATAL_ERROR would re-wrap the lines)
  message(FATAL_ERROR "Doxygen: ${_count} warning(s) in the public headers, listed above "
                      "(document those symbols; log: ${WARNINGS})")
endif()
message(STATUS "API reference: no Doxygen warnings")
