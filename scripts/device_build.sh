#!/usr/bin/env bash
# Build unlearn (library, models, the unlearn command, tests) against a CUDA LibTorch on a machine
# that has CMake, Ninja, a compiler and PyTorch but none of Debian's -dev packages and no network
# (e.g. a rented GPU host). The header-only dependencies, GoogleTest's sources and zlib travel in
# one folder, .devdeps/ (ignored by git), that this script fills from a Debian 12 machine.
#
#   scripts/device_build.sh --pack                 on Debian 12 (with scripts/setup.sh's packages
#                                                  and googletest): fills .devdeps/
#   scripts/device_build.sh [BUILD_DIR] [cmake args...]
#                                                  on the GPU host: configure (Ninja, Release,
#                                                  -DUNLEARN_DEPS_DIR=.devdeps) and build everything
#   then: ctest --test-dir BUILD_DIR --output-on-failure   (test_gpu runs on the GPU)
#
# Environment: TORCH_PREFIX (default: python3's torch.utils.cmake_prefix_path), JOBS (default:
# nproc), DEPS (default: .devdeps), CUDA_HOME (default: /usr/local/cuda when it exists),
# TARGETS (default: all; e.g. "test_gpu unlearn").
# No CUDA language is enabled: the project has no .cu files; CUDA comes with LibTorch.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DEPS=${DEPS:-$PWD/.devdeps}

pack() {
  local arch
  arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
  for p in /usr/include/fmt/format.h /usr/include/nlohmann/json.hpp /usr/include/CLI/CLI.hpp \
           /usr/include/zlib.h /usr/include/gloo/algorithm.h /usr/src/googletest/CMakeLists.txt; do
    [ -e "$p" ] || { echo "device_build: $p is missing (apt-get install libfmt-dev nlohmann-json3-dev libcli11-dev zlib1g-dev libgloo-dev googletest)" >&2; exit 1; }
  done
  rm -rf "$DEPS"
  mkdir -p "$DEPS/include" "$DEPS/gloo/include" "$DEPS/lib"
  cp -r /usr/include/fmt /usr/include/nlohmann /usr/include/CLI "$DEPS/include/"
  cp /usr/include/zlib.h /usr/include/zconf.h "$DEPS/include/"
  cp -r /usr/include/gloo "$DEPS/gloo/include/"
  cp -r /usr/src/googletest "$DEPS/googletest"
  cp -L "/usr/lib/$arch/libz.so.1" "$DEPS/lib/libz.so.1"
  echo "device_build: packed $(du -sh "$DEPS" | cut -f1) into $DEPS"
}

build() {
  local build_dir=${1:-build-device}
  shift || true
  local jobs=${JOBS:-$(nproc 2>/dev/null || echo 4)}
  [ -f "$DEPS/include/fmt/format.h" ] || { echo "device_build: $DEPS is not packed (run --pack on Debian and carry it)" >&2; exit 1; }
  local torch_prefix=${TORCH_PREFIX:-$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')}
  local cuda_home=${CUDA_HOME:-/usr/local/cuda}
  [ -x "$cuda_home/bin/nvcc" ] && export PATH="$cuda_home/bin:$PATH" CUDA_HOME="$cuda_home"
  # LibTorch's CMake files look for the CUDA toolkit (and, when LibTorch was built with cuDNN,
  # cuDNN): point them at the pip packages' copies when there is no system one.
  export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}
  local extra=()
  local cudnn
  cudnn=$(python3 -c 'import nvidia.cudnn as m; print(list(m.__path__)[0])' 2>/dev/null || true)
  if [ -n "$cudnn" ] && [ -d "$cudnn/include" ]; then
    local lib
    lib=$(ls "$cudnn"/lib/libcudnn.so* 2>/dev/null | head -1 || true)
    [ -n "$lib" ] && extra+=(-DCUDNN_INCLUDE_PATH="$cudnn/include" -DCUDNN_LIBRARY_PATH="$lib")
  fi
  echo "device_build: torch $(python3 -c 'import torch; print(torch.__version__)' 2>/dev/null || echo '?') at $torch_prefix, nvcc $(command -v nvcc || echo none), $jobs jobs"
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_PREFIX_PATH="$torch_prefix" -DUNLEARN_DEPS_DIR="$DEPS" \
        -DCMAKE_POLICY_VERSION_MINIMUM=3.5 "${extra[@]}" "$@"
  # -k 0: every target that can build does, and every error shows in one go.
  local targets=()
  [ -n "${TARGETS:-}" ] && targets=(--target ${TARGETS})
  cmake --build "$build_dir" -j"$jobs" "${targets[@]}" -- -k 0
}

case "${1:-}" in
  --pack) pack ;;
  -h|--help) sed -n '2,20p' "$0" ;;
  *) build "$@" ;;
esac
