#!/usr/bin/env bash
# Cross-builds the native core for aarch64 and runs the native tests (ctest) under
# qemu-user on three emulated CPUs (every suite on the first; all but the engine suite,
# which has no ISA-specific code and is the slowest under emulation, on the other two):
#   QEMU_CPU=max         has dotprod: dispatch must pick neon_sdot, and test_kernels checks
#                        every runnable variant (serial, neon, neon_sdot) against serial.
#   QEMU_CPU=cortex-a53  Armv8.0, no dotprod: dispatch must fall back to neon, and no
#                        test may die of SIGILL.
#   QEMU_CPU=neoverse-n1 (AWS Graviton2) dotprod without i8mm: neon_sdot again. simsimd
#                        compiles some of its i8 kernels with "+i8mm" enabled, and
#                        dispatch checks only dotprod.
# It also disassembles the kernels to prove that SDOT/UDOT appear only in neon_sdot code
# and that no i8mm instruction appears at all (dispatch checks dotprod, not i8mm).
#
# Installs g++-aarch64-linux-gnu and qemu-user with apt-get if they are missing.
# Usage: bash scripts/test-aarch64.sh   (from anywhere; exits non-zero on any failure)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
build=build-aarch64
target_prefix=/usr/aarch64-linux-gnu
started=$SECONDS
jobs=${LOCI_JOBS:-2}

phase() { echo; echo "== $* ($((SECONDS - started)) s)"; }

# --- tools -----------------------------------------------------------------------------
missing=()
command -v aarch64-linux-gnu-g++ >/dev/null || missing+=(g++-aarch64-linux-gnu)
command -v qemu-aarch64 >/dev/null || missing+=(qemu-user)
command -v cmake >/dev/null || missing+=(cmake)
command -v ninja >/dev/null || missing+=(ninja-build)
if ((${#missing[@]})); then
  phase "installing ${missing[*]}"
  sudo=()
  if [[ $(id -u) != 0 ]]; then sudo=(sudo); fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi

# --- build -----------------------------------------------------------------------------
# No sanitizers: ASan under qemu-user is unreliable (its fixed shadow-memory mappings
# collide with the address space qemu reserves for the guest, so it aborts at start-up or
# crawls); the x86 test build runs ASan + UBSan on the same code.
phase "configuring $build"
# Absolute toolchain path: CMake resolves a relative one against the build tree, then the
# source tree (native/), never the working directory.
cmake -S native -B "$build" -G Ninja -DLOCI_BUILD_TESTS=ON -DLOCI_SANITIZE=OFF \
  -DCMAKE_TOOLCHAIN_FILE="$root/native/cmake/aarch64-linux-gnu.cmake"

phase "building"
ninja -C "$build" -j "$jobs"

# A one-line program that prints the ISA dispatch picks, so each run below can check it.
probe="$build/loci_active_isa"
aarch64-linux-gnu-g++ -std=c++17 -O2 -I native -x c++ - -x none "$build/libloci_core.a" \
  -pthread -o "$probe" <<'CPP'
#include <cstdio>
#include "kernels/kernels.h"
int main() { std::printf("%s\n", loci::kernels::isa_name(loci::kernels::active().isa)); }
CPP

# --- static checks on the kernels ------------------------------------------------------
phase "checking instructions in the kernels"
failed=0
# Functions allowed to hold SDOT/UDOT: ours marked neon_sdot (and their SdotStep) and
# simsimd's i8/u8 *_neon kernels, which only the neon_sdot set uses.
dotprod_ok='neon_sdot|SdotStep|simsimd_[a-z0-9_]*_[iu]8_neon'
violations=$(aarch64-linux-gnu-objdump -d --no-show-raw-insn -C "$build/libloci_core.a" | awk -v ok="$dotprod_ok" '
  /^[0-9a-f]+ <.*>:$/ { fn = $0; next }
  $2 ~ /^(usdot|sudot|smmla|ummla|usmmla)$/ { print "i8mm " $2 " in " fn; next }
  $2 ~ /^(sdot|udot)$/ && fn !~ ok { print "dotprod " $2 " in " fn }' | sort | uniq -c)
if [[ -n $violations ]]; then
  echo "FAILED: instructions a CPU without them would trap on:"
  echo "$violations"
  failed=1
else
  echo "ok: SDOT/UDOT only in neon_sdot code, no i8mm instructions"
fi

# --- tests under qemu ------------------------------------------------------------------
run_tests() {
  local cpu=$1 expected=$2 selected exclude=()
  # The engine suite (WAL, recovery, faults) holds no ISA-specific code of its own and
  # takes two minutes per CPU under emulation: it runs once, on the first CPU; every
  # suite that calls the kernels directly runs on all three.
  if [[ ${3:-} == skip-engine ]]; then exclude=(-E '^test_engine'); fi
  phase "ctest under qemu-aarch64, QEMU_CPU=$cpu (expect $expected)"
  selected=$(QEMU_CPU=$cpu qemu-aarch64 -L "$target_prefix" "$probe") || selected="(probe failed)"
  echo "dispatch selected: $selected"
  if [[ $selected != "$expected" ]]; then
    echo "FAILED: expected $expected on $cpu"
    failed=1
  fi
  # Under emulation the concurrency stress runs shorter (it runs in full natively).
  if ! (cd "$build" && QEMU_CPU=$cpu LOCI_STRESS_WRITES=${LOCI_STRESS_WRITES:-1500} ctest --output-on-failure -j "$jobs" "${exclude[@]}"); then
    failed=1
  fi
}
run_tests max neon_sdot
run_tests cortex-a53 neon skip-engine
run_tests neoverse-n1 neon_sdot skip-engine

phase "done"
if ((failed)); then
  echo "aarch64 tests FAILED"
  exit 1
fi
echo "aarch64 tests passed"
