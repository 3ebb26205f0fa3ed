#!/usr/bin/env bash
# The test command: build every target (scripts/setup.sh builds only `unlearn`), then run every
# test with its output on failure.
#   scripts/test.sh               all tests
#   scripts/test.sh -L posterior  one area (ctest arguments pass through)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD_DIR=${BUILD_DIR:-build}
jobs=$(nproc 2>/dev/null || echo 2)
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release
fi
cmake --build "$BUILD_DIR" -j"$jobs"   # every target, tests included
ctest --test-dir "$BUILD_DIR" --output-on-failure -j"$jobs" --timeout 600 "$@"
