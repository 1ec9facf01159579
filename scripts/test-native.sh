#!/usr/bin/env bash
# Builds the native tests with ASan + UBSan (build-test/) and runs them with ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S native -B build-test -G Ninja -DLOCI_BUILD_TESTS=ON -DLOCI_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-test -j 2
ctest --test-dir build-test --output-on-failure "$@"
