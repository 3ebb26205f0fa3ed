# Dependencies carried in UNLEARN_DEPS_DIR instead of found as system packages: for a machine
# that has CMake, a compiler and a LibTorch (e.g. a GPU host with CUDA LibTorch) but none of the
# Debian -dev packages, and cannot download. scripts/device_build.sh --pack fills the folder from
# this machine's Debian packages:
#
#   include/        fmt/ (used header-only: FMT_HEADER_ONLY), nlohmann/, CLI/, zlib.h, zconf.h
#   gloo/include/   gloo/: c10d's ProcessGroupGloo.hpp includes it; searched after LibTorch's own
#                   include folders, so a LibTorch that ships gloo's headers uses its own
#   googletest/     GoogleTest's sources (Debian's /usr/src/googletest), built here
#   lib/libz.so.1   used only when the machine has no libz.so.1 of its own
#
# Everything defines the imported targets the normal build gets from find_package, with the same
# names, so nothing else in the project changes.
set(_deps "${UNLEARN_DEPS_DIR}")
foreach(_f include/fmt/format.h include/nlohmann/json.hpp include/zlib.h)
  if(NOT EXISTS "${_deps}/${_f}")
    message(FATAL_ERROR "UNLEARN_DEPS_DIR=${_deps} has no ${_f} (scripts/device_build.sh --pack makes the folder)")
  endif()
endforeach()
message(STATUS "unlearn: dependencies from UNLEARN_DEPS_DIR=${_deps}")

# Before every other include folder (LibTorch's too), so that no other copy of these headers
# shadows the carried ones.
include_directories(BEFORE SYSTEM "${_deps}/include")

add_library(fmt::fmt INTERFACE IMPORTED)
set_target_properties(fmt::fmt PROPERTIES
  INTERFACE_INCLUDE_DIRECTORIES "${_deps}/include"
  INTERFACE_COMPILE_DEFINITIONS "FMT_HEADER_ONLY=1")

add_library(nlohmann_json::nlohmann_json INTERFACE IMPORTED)
set_target_properties(nlohmann_json::nlohmann_json PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_deps}/include")

if(UNLEARN_BUILD_APPS)
  if(NOT EXISTS "${_deps}/include/CLI/CLI.hpp")
    message(FATAL_ERROR "UNLEARN_DEPS_DIR=${_deps} has no include/CLI/CLI.hpp (needed by the unlearn command)")
  endif()
  add_library(CLI11::CLI11 INTERFACE IMPORTED)
  set_target_properties(CLI11::CLI11 PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_deps}/include")
endif()

# zlib: the carried header, the machine's libz.so.1 (every Linux with Python has one), else the
# carried copy.
set(ZLIB_INCLUDE_DIR "${_deps}/include" CACHE PATH "zlib headers (carried)")
find_library(ZLIB_LIBRARY NAMES libz.so.1 z PATHS "${_deps}/lib")
find_package(ZLIB REQUIRED)

# gloo: after LibTorch's own include folders.
if(EXISTS "${_deps}/gloo/include/gloo")
  set_property(TARGET torch APPEND PROPERTY INTERFACE_INCLUDE_DIRECTORIES "${_deps}/gloo/include")
endif()

# GoogleTest from source, with LibTorch's C++ ABI flag so that std::string crosses the boundary.
if(UNLEARN_BUILD_TESTS)
  if(NOT EXISTS "${_deps}/googletest/CMakeLists.txt")
    message(FATAL_ERROR "UNLEARN_DEPS_DIR=${_deps} has no googletest/ (or configure with -DUNLEARN_BUILD_TESTS=OFF)")
  endif()
  set(BUILD_GMOCK OFF CACHE BOOL "" FORCE)
  set(INSTALL_GTEST OFF CACHE BOOL "" FORCE)
  add_subdirectory("${_deps}/googletest" "${CMAKE_BINARY_DIR}/_deps/googletest" EXCLUDE_FROM_ALL)
  separate_arguments(_torch_flags UNIX_COMMAND "${TORCH_CXX_FLAGS}")
  foreach(_t gtest gtest_main)
    target_compile_options(${_t} PRIVATE ${_torch_flags} -w)  # -w: a newer compiler's warnings are not ours
    set_target_properties(${_t} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  endforeach()
  if(NOT TARGET GTest::gtest)  # GoogleTest >= 1.11 defines these aliases itself
    add_library(GTest::gtest ALIAS gtest)
    add_library(GTest::gtest_main ALIAS gtest_main)
  endif()
endif()
