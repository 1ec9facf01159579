# Cross-compiles Loci's native core for 64-bit Arm Linux with Debian's GNU cross toolchain
# and runs the test programs under qemu-user, so `ctest` works on an x86-64 host:
#
#   apt-get install g++-aarch64-linux-gnu qemu-user
#   cmake -S native -B build-aarch64 -G Ninja -DLOCI_BUILD_TESTS=ON -DLOCI_SANITIZE=OFF \
#         -DCMAKE_TOOLCHAIN_FILE=$PWD/native/cmake/aarch64-linux-gnu.cmake
#
# Pass the toolchain file as an absolute path: CMake resolves a relative one against the
# build tree and then the source tree (native/), not the working directory.
# scripts/test-aarch64.sh does all of this and picks the emulated CPU with QEMU_CPU.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

# Debian's cross compiler already searches /usr/aarch64-linux-gnu for headers and
# libraries (it is not a sysroot layout, so no CMAKE_SYSROOT). Programs (node, which the
# build asks where simsimd is installed) come from the host; libraries, headers and
# packages only from the target tree.
set(LOCI_AARCH64_PREFIX /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH ${LOCI_AARCH64_PREFIX})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# ctest (and add_test's COMMAND) runs every target binary through this. -L points qemu at
# the target's dynamic loader and libstdc++. The emulated CPU is chosen at run time with
# the QEMU_CPU environment variable (e.g. max, cortex-a53), which qemu-aarch64 reads.
find_program(LOCI_QEMU_AARCH64 qemu-aarch64)
if(NOT LOCI_QEMU_AARCH64)
  set(LOCI_QEMU_AARCH64 qemu-aarch64)
endif()
set(CMAKE_CROSSCOMPILING_EMULATOR "${LOCI_QEMU_AARCH64};-L;${LOCI_AARCH64_PREFIX}")
