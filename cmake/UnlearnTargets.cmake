# Helpers shared by every target of the project.

# Warnings on for our code (not for torch's headers, which come in as system includes).
function(unlearn_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter)
endfunction()

# One precompiled header for <torch/torch.h>, built once and reused by every target:
# torch's headers dominate compile time (tens of seconds a translation unit otherwise).
add_library(unlearn_pch OBJECT ${CMAKE_CURRENT_LIST_DIR}/pch_anchor.cpp)
target_link_libraries(unlearn_pch PUBLIC torch fmt::fmt nlohmann_json::nlohmann_json)
unlearn_warnings(unlearn_pch)
if(UNLEARN_USE_PCH)
  target_precompile_headers(unlearn_pch PRIVATE <torch/torch.h> <fmt/format.h> <nlohmann/json.hpp>
                            <vector> <string> <memory> <optional>)
endif()

# The compiler's own libstdc++.so.6 (see unlearn_use_pch: it goes first in every executable).
set(UNLEARN_LIBSTDCXX "")
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  execute_process(COMMAND ${CMAKE_CXX_COMPILER} -print-file-name=libstdc++.so.6
                  OUTPUT_VARIABLE UNLEARN_LIBSTDCXX OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(NOT IS_ABSOLUTE "${UNLEARN_LIBSTDCXX}" OR NOT EXISTS "${UNLEARN_LIBSTDCXX}")
    # A toolchain without its own shared libstdc++: the system's, which is what runs anyway.
    find_library(UNLEARN_LIBSTDCXX_SO NAMES libstdc++.so.6
                 PATHS /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE} /usr/lib/x86_64-linux-gnu /usr/lib64 /lib64)
    set(UNLEARN_LIBSTDCXX "${UNLEARN_LIBSTDCXX_SO}")
    if(NOT UNLEARN_LIBSTDCXX_SO)
      set(UNLEARN_LIBSTDCXX "-lstdc++")
    endif()
  endif()
endif()

function(unlearn_use_pch target)
  unlearn_warnings(${target})
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "EXECUTABLE")
    # The shared PCH is compiled -fPIC (it serves the libraries); an executable compiled -fPIE
    # would reject it (-Winvalid-pch) and reparse torch's headers in every file.
    set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE OFF)
    target_compile_options(${target} PRIVATE -fPIC)
    # LibTorch's pip wheels and official zips (2.5 on, pytorch/pytorch#133437) export copies of
    # libstdc++'s std::filesystem from libtorch*.so. An executable that needs libtorch before
    # libstdc++ binds std::filesystem::remove_all to such a copy, which jumps to address 0 (seen
    # with torch 2.11+cu130). libstdc++.so.6 first in DT_NEEDED makes every such symbol
    # libstdc++'s own. The file itself, not -lstdc++: a toolchain's libstdc++.so may be a linker
    # script whose AS_NEEDED drops it from the front of the line.
    if(UNLEARN_LIBSTDCXX)
      target_link_options(${target} PRIVATE "SHELL:-Wl,--push-state,--no-as-needed ${UNLEARN_LIBSTDCXX} -Wl,--pop-state")
    endif()
  endif()
  if(UNLEARN_USE_PCH)
    target_precompile_headers(${target} REUSE_FROM unlearn_pch)
  endif()
endfunction()

# Executables get jemalloc: glibc malloc mmaps every large temporary (docs/performance.md).
find_library(UNLEARN_JEMALLOC_LIBRARY NAMES jemalloc)
# Its options (no purging of freed pages) are compiled in by cmake/jemalloc_config.cpp.
function(unlearn_fast_allocator target)
  if(UNLEARN_USE_JEMALLOC AND UNLEARN_JEMALLOC_LIBRARY)
    target_sources(${target} PRIVATE ${PROJECT_SOURCE_DIR}/cmake/jemalloc_config.cpp)
    set_source_files_properties(${PROJECT_SOURCE_DIR}/cmake/jemalloc_config.cpp PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
    # --no-as-needed: Debian's GCC links with --as-needed by default, and an executable whose own
    # objects call no malloc directly (the `unlearn` command, main() = run_cli) would otherwise
    # drop libjemalloc silently and run on glibc's malloc (measured: a VI step 16.9 ms instead of
    # 2.5). tests/CMakeLists.txt checks that the command really runs on jemalloc.
    target_link_libraries(${target} PRIVATE "-Wl,--push-state,--no-as-needed" ${UNLEARN_JEMALLOC_LIBRARY}
                                            "-Wl,--pop-state")
  endif()
endfunction()
