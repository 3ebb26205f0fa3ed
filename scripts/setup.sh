#!/usr/bin/env bash
# Installs what unlearn needs from Debian 12's packages (idempotent), points the system BLAS
# at OpenBLAS, then configures a Release tree in build/ and builds the `unlearn` command only
# (scripts/test.sh builds everything else).
#   scripts/setup.sh            install + build
#   BUILD_DIR=out scripts/setup.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD_DIR=${BUILD_DIR:-build}

packages=(
  build-essential cmake ccache pkg-config
  libtorch-dev libfmt-dev nlohmann-json3-dev libgtest-dev libcli11-dev zlib1g-dev
  # Debian's libtorch calls the system libblas.so.3; the default alternative is the slow
  # reference BLAS. OpenBLAS built for OpenMP matches libtorch's own threading.
  libopenblas0-openmp
  # jemalloc: glibc's malloc mmaps every large tensor temporary (see docs/performance.md / README).
  libjemalloc-dev
  # c10d's ProcessGroupGloo headers (data-parallel runs, lib/src/distributed); libtorch itself
  # already links libgloo.
  libgloo-dev
  # Plots (scripts/plot.py) and the Fashion-MNIST data set of the BNN experiments.
  python3-matplotlib dataset-fashion-mnist
  # The API reference (`cmake --build build --target docs`, cmake/Docs.cmake).
  doxygen
)

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
else
  echo "setup: all Debian packages present"
fi

# Make OpenBLAS the system BLAS/LAPACK even if another alternative was chosen by hand.
arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
for lib in libblas.so.3 liblapack.so.3; do
  target=/usr/lib/$arch/openblas-openmp/$lib
  if [ -e "$target" ]; then
    "${sudo_cmd[@]}" update-alternatives --set "$lib-$arch" "$target" >/dev/null 2>&1 || true
  fi
done

jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release
# Only the command, so that `build/unlearn demo` starts as soon as it is linked.
cmake --build "$BUILD_DIR" -j"$jobs" --target unlearn
echo "setup: built $BUILD_DIR/unlearn"
