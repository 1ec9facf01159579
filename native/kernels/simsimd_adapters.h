// Internal: includes simsimd with its ISA targets switched on explicitly and adapts its
// "write a double through a pointer" signature to ours.
//
// Why the defines: left undefined and without -m flags, simsimd compiles only its
// serial kernels (measured here: a 768-d i8 dot took 248 ns instead of 19 ns). Its
// kernels carry per-function target attributes, so enabling them is safe on older CPUs:
// dispatch.cpp only calls a variant the CPU supports.
#pragma once

#if defined(__x86_64__) || defined(_M_X64)
#define SIMSIMD_TARGET_HASWELL 1
#define SIMSIMD_TARGET_SKYLAKE 1
#define SIMSIMD_TARGET_ICE 1
#define SIMSIMD_TARGET_GENOA 0
#define SIMSIMD_TARGET_SAPPHIRE 0
#define SIMSIMD_TARGET_TURIN 0
#define SIMSIMD_TARGET_SIERRA 0
#elif defined(__aarch64__)
#define SIMSIMD_TARGET_NEON 1
#define SIMSIMD_TARGET_NEON_I8 1
#define SIMSIMD_TARGET_NEON_F16 0
#define SIMSIMD_TARGET_NEON_BF16 0
#define SIMSIMD_TARGET_SVE 0
#define SIMSIMD_TARGET_SVE_F16 0
#define SIMSIMD_TARGET_SVE_BF16 0
#define SIMSIMD_TARGET_SVE2 0
#endif
#define SIMSIMD_DYNAMIC_DISPATCH 0
#define SIMSIMD_NATIVE_F16 0
#define SIMSIMD_NATIVE_BF16 0

#include <simsimd/simsimd.h>

#include <cstddef>
#include <cstdint>

namespace loci::kernels::adapt {

using F32Kernel = void (*)(simsimd_f32_t const*, simsimd_f32_t const*, simsimd_size_t,
                           simsimd_distance_t*);
using I8Kernel = void (*)(simsimd_i8_t const*, simsimd_i8_t const*, simsimd_size_t,
                          simsimd_distance_t*);

template <F32Kernel kernel>
float f32(const float* a, const float* b, size_t dim) {
  simsimd_distance_t result = 0;
  kernel(a, b, dim, &result);
  return static_cast<float>(result);
}

// simsimd returns integer i8 dot and l2sq results exactly, as a double.
template <I8Kernel kernel>
int32_t i8_exact(const int8_t* a, const int8_t* b, size_t dim) {
  simsimd_distance_t result = 0;
  kernel(a, b, dim, &result);
  return static_cast<int32_t>(result);
}

template <I8Kernel kernel>
float i8_float(const int8_t* a, const int8_t* b, size_t dim) {
  simsimd_distance_t result = 0;
  kernel(a, b, dim, &result);
  return static_cast<float>(result);
}

}  // namespace loci::kernels::adapt
