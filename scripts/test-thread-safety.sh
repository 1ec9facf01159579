#!/usr/bin/env bash
# Builds the native tests with clang++ and -Wthread-safety as errors (build-thread-safety/),
# which checks every lock annotation (native/sync/thread_annotations.h), then runs them
# with ctest: a plain optimised clang build, a second compiler next to the g++ ones.
# Needs clang (Debian: apt-get install clang).
set -euo pipefail
cd "$(dirname "$0")/.."
compiler=${LOCI_CLANGXX:-clang++}
if ! command -v "$compiler" >/dev/null; then
  echo "$compiler not found: apt-get install clang (or set LOCI_CLANGXX)" >&2
  exit 1
fi
cmake -S native -B build-thread-safety -G Ninja -DCMAKE_CXX_COMPILER="$compiler" -DLOCI_BUILD_TESTS=ON \
  -DLOCI_SANITIZE=OFF -DLOCI_THREAD_SAFETY=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-thread-safety -j 2
ctest --test-dir build-thread-safety --output-on-failure "$@"
