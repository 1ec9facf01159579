#!/usr/bin/env bash
# Builds the native tests with ThreadSanitizer (build-tsan/) and runs the ones that
# exercise threads: epoch reclamation, lock-free Atlas searches against a writer, the
# file layer's locks, the engine's group commit, recovery and fault paths (the three
# test_engine* suites).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S native -B build-tsan -G Ninja -DLOCI_BUILD_TESTS=ON -DLOCI_TSAN=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-tsan -j 2 --target test_epoch test_storage_env test_engine test_engine_corruption test_engine_faults test_index_concurrency
# halt_on_error: a race fails the run instead of only printing.
# The index stress runs half as long as under ASan: TSan is ~10x slower.
LOCI_STRESS_WRITES=${LOCI_STRESS_WRITES:-3000} TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" ctest --test-dir build-tsan --output-on-failure -R "test_epoch|test_storage_env|test_engine|test_index_concurrency" "$@"
