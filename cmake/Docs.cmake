# The API reference: `cmake --build build --target docs` runs Doxygen on the public headers
# (lib/include, apps/include) and writes HTML to build/docs/api/html/index.html. Undocumented
# symbols are warnings (WARN_IF_UNDOCUMENTED), listed in build/docs/api/warnings.txt; they do not
# fail the build. Without Doxygen (Debian: apt-get install doxygen; scripts/setup.sh installs it)
# the target only says so. The guides are the Markdown pages under docs/.
find_package(Doxygen QUIET)

set(UNLEARN_DOCS_DIR ${PROJECT_BINARY_DIR}/docs/api)
set(_unlearn_docs_inputs "")
foreach(_dir lib/include apps/include)
  if(EXISTS ${PROJECT_SOURCE_DIR}/${_dir})
    string(APPEND _unlearn_docs_inputs " \"${PROJECT_SOURCE_DIR}/${_dir}\"")
  endif()
endforeach()

if(DOXYGEN_FOUND)
  set(_unlearn_doxyfile ${UNLEARN_DOCS_DIR}/Doxyfile)
  file(MAKE_DIRECTORY ${UNLEARN_DOCS_DIR})
  file(WRITE ${_unlearn_doxyfile}
"PROJECT_NAME           = unlearn
PROJECT_NUMBER         = ${PROJECT_VERSION}
PROJECT_BRIEF          = \"Bayesian deep learning that can forget (C++17, LibTorch)\"
OUTPUT_DIRECTORY       = \"${UNLEARN_DOCS_DIR}\"
INPUT                  =${_unlearn_docs_inputs}
STRIP_FROM_PATH        = \"${PROJECT_SOURCE_DIR}/lib/include\" \"${PROJECT_SOURCE_DIR}/apps/include\"
STRIP_FROM_INC_PATH    = \"${PROJECT_SOURCE_DIR}/lib/include\" \"${PROJECT_SOURCE_DIR}/apps/include\"
FILE_PATTERNS          = *.h
RECURSIVE              = YES
EXTRACT_ALL            = NO
EXTRACT_PRIVATE        = NO
EXTRACT_STATIC         = YES
HIDE_UNDOC_MEMBERS     = NO
JAVADOC_AUTOBRIEF      = YES
MARKDOWN_SUPPORT       = YES
BUILTIN_STL_SUPPORT    = YES
EXCLUDE_SYMBOLS        = detail::* *::detail::* *::detail
WARNINGS               = YES
WARN_IF_UNDOCUMENTED   = YES
WARN_IF_DOC_ERROR      = YES
WARN_LOGFILE           = \"${UNLEARN_DOCS_DIR}/warnings.txt\"
QUIET                  = YES
GENERATE_HTML          = YES
GENERATE_LATEX         = NO
GENERATE_TREEVIEW      = YES
SEARCHENGINE           = YES
HAVE_DOT               = NO
")
  add_custom_target(docs
    COMMAND ${DOXYGEN_EXECUTABLE} ${_unlearn_doxyfile}
    COMMAND ${CMAKE_COMMAND} -E echo "docs: ${UNLEARN_DOCS_DIR}/html/index.html (warnings: ${UNLEARN_DOCS_DIR}/warnings.txt)"
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
    COMMENT "Doxygen: the API reference of lib/include and apps/include"
    VERBATIM)
else()
  add_custom_target(docs
    COMMAND ${CMAKE_COMMAND} -E echo "docs: Doxygen not found (apt-get install doxygen), no API reference built"
    VERBATIM)
endif()
