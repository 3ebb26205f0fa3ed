# The API reference: `cmake --build build --target docs` runs Doxygen on the public headers
# (lib/include, apps/include) and writes HTML to build/docs/api/html/index.html. Undocumented
# symbols are warnings (WARN_IF_UNDOCUMENTED), listed in build/docs/api/warnings.txt. The target
# itself does not fail on them; the test docs.api_reference (label docs, cmake/CheckDocsWarnings.cmake)
# does: it reruns Doxygen and fails, printing them, when warnings.txt is not empty. Without Doxygen
# (Debian: apt-get install doxygen; scripts/setup.sh installs it) the target only says so and the
# test is not added. The guides are the Markdown pages under docs/.
#
# TORCH_ARG(T, name) (the options structs) and TORCH_MODULE(Name) (the module holders) are
# expanded for Doxygen only (PREDEFINED): an option appears as a documented member `T name`
# (with its default), read as opts.name() and set, chainably, as opts.name(value).
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
ENABLE_PREPROCESSING   = YES
MACRO_EXPANSION        = YES
EXPAND_ONLY_PREDEF     = YES
PREDEFINED             = \"TORCH_ARG(T,name)=T name\" \\
                         \"TORCH_MODULE(Name)=class Name : public torch::nn::ModuleHolder<Name##Impl> {}\"
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
  # Every public symbol documented: Doxygen again (about a second), failing on any warning.
  if(UNLEARN_BUILD_TESTS)
    add_test(NAME docs.api_reference
             COMMAND ${CMAKE_COMMAND} -DDOXYGEN=${DOXYGEN_EXECUTABLE} -DDOXYFILE=${_unlearn_doxyfile}
                     -DWARNINGS=${UNLEARN_DOCS_DIR}/warnings.txt -DSOURCE_DIR=${PROJECT_SOURCE_DIR}
                     -P ${PROJECT_SOURCE_DIR}/cmake/CheckDocsWarnings.cmake)
    set_tests_properties(docs.api_reference PROPERTIES LABELS docs TIMEOUT 120)
  endif()
else()
  message(STATUS "docs: Doxygen not found (apt-get install doxygen): no API reference, test docs.api_reference not added")
  add_custom_target(docs
    COMMAND ${CMAKE_COMMAND} -E echo "docs: Doxygen not found (apt-get install doxygen), no API reference built"
    VERBATIM)
endif()
