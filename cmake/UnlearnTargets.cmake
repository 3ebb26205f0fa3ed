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

function(unlearn_use_pch target)
  unlearn_warnings(${target})
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "EXECUTABLE")
    # The shared PCH is compiled -fPIC (it serves the libraries); an executable compiled -fPIE
    # would reject it (-Winvalid-pch) and reparse torch's headers in every file.
    set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE OFF)
    target_compile_options(${target} PRIVATE -fPIC)
  endif()
  if(UNLEARN_USE_PCH)
    target_precompile_headers(${target} REUSE_FROM unlearn_pch)
  endif()
endfunction()

# Executables get jemalloc: glibc malloc mmaps every large temporary (PERF-NOTES.md).
find_library(UNLEARN_JEMALLOC_LIBRARY NAMES jemalloc)
function(unlearn_fast_allocator target)
  if(UNLEARN_USE_JEMALLOC AND UNLEARN_JEMALLOC_LIBRARY)
    target_link_libraries(${target} PRIVATE ${UNLEARN_JEMALLOC_LIBRARY})
  endif()
endfunction()
