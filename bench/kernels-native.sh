#!/usr/bin/env bash
# Native half of `npm run bench:kernels`: builds native/bench/bench_kernels.cpp in an
# optimised build without sanitizers (build-bench/, separate from the ASan test build)
# and runs it. Arguments go to the benchmark, e.g.
#   bash bench/kernels-native.sh --json bench/results/kernels-native.json
#   bash bench/kernels-native.sh --quick            # CI smoke, under 20 s
# Build output goes to stderr, so stdout is the benchmark's report alone.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build-bench"

{
  cmake -S "$root/native" -B "$build" -G Ninja -DLOCI_BUILD_TESTS=ON -DLOCI_SANITIZE=OFF \
    -DCMAKE_BUILD_TYPE=Release
  cmake --build "$build" --target bench_kernels -- -j2
} >&2

exec "$build/bench_kernels" "$@"
