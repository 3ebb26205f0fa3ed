#!/usr/bin/env bash
# run_example.sh BUILD_DIR EXAMPLE_SOURCE WORK_DIR: installs this build to WORK_DIR/prefix, builds
# the example as the out-of-tree project it is (find_package(unlearn)), and runs its run.sh with
# the stock binary of the installed tree.
set -euo pipefail
build=$1; src=$2; work=$3
rm -rf "$work"
cmake --install "$build" --prefix "$work/prefix" >/dev/null
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$work/prefix" \
      "${launcher[@]}" >/dev/null
cmake --build "$work/build" -j2 >/dev/null
bash "$src/run.sh" "$work/prefix/bin/unlearn" "$work/build" "$work/out"
