#!/usr/bin/env bash
# The index concurrency stress test (Atlas and the exact store) for longer than `npm test`
# runs it: readers search and get() without a lock while a writer performs
# LOCI_STRESS_WRITES write operations (inserts, upserts, deletes, splits, rebuilds,
# compactions, saves), under ASan+UBSan (build-test/) and then TSan (build-tsan/).
# Every result is checked (native/test/test_index_concurrency.cpp).
# Usage: scripts/stress-indexes.sh [writes] [tsan-writes]; TSan runs about 10x slower,
# so it gets writes / 7 unless told.
set -euo pipefail
cd "$(dirname "$0")/.."
writes=${1:-200000}
tsan_writes=${2:-$((writes / 7))}
cmake -S native -B build-test -G Ninja -DLOCI_BUILD_TESTS=ON -DLOCI_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-test -j 2 --target test_index_concurrency
cmake -S native -B build-tsan -G Ninja -DLOCI_BUILD_TESTS=ON -DLOCI_TSAN=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-tsan -j 2 --target test_index_concurrency
echo "== ASan+UBSan, $writes writes"
LOCI_STRESS_WRITES=$writes ./build-test/test_index_concurrency
echo "== TSan, $tsan_writes writes"
LOCI_STRESS_WRITES=$tsan_writes TSAN_OPTIONS="halt_on_error=1" ./build-tsan/test_index_concurrency
