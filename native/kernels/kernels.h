// Distance kernels: f32 and i8, single pair and "one query against many rows".
//
// Every instruction-set variant is compiled into the same binary (per-function target
// attributes, never -march=native) and one is picked once at start from a CPU check.
// This directory knows nothing else of Loci: it depends only on the C++ standard
// library and the simsimd headers.
//
// Conventions every variant follows (and native/test/test_kernels.cpp checks against
// the serial reference):
//  - dot_*    returns the inner product.
//  - l2sq_*   returns the squared Euclidean distance.
//  - cos_*    returns the cosine *distance*, 1 - cos(a, b); 0 for two zero vectors,
//             1 when exactly one of them is zero.
//  - *_rows   computes one result per row: rows start at `rows`, row i at
//             rows + i * stride (stride in elements, >= dim).
//  - i8 codes must lie in [-127, 127]. -128 is excluded on purpose: the AVX2 and
//    AVX-512BW kernels multiply |q| by sign(q)*r, and negating -128 wraps to -128.
//    The quantizer (quantize.h) never produces -128.
#pragma once

#include <cstddef>
#include <cstdint>

namespace loci::kernels {

enum class Isa : uint8_t {
  serial = 0,  // portable C++, the reference every other variant is tested against
  haswell,     // x86-64 AVX2 + FMA
  skylake,     // x86-64 AVX-512 F/BW/VL/DQ
  icelake,     // x86-64 AVX-512 + VNNI (vpdpbusd)
  neon,        // aarch64 Advanced SIMD (baseline on every aarch64 CPU)
  neon_sdot,   // aarch64 Advanced SIMD + dot product (SDOT, Armv8.2-A)
};

constexpr int kIsaCount = 6;

/// Lower-case name used in capabilities() and the LOCI_ISA override.
const char* isa_name(Isa isa);

/// A query prepared once for the i8 row kernels. `biased[i] == codes[i] + 128`:
/// VNNI's vpdpbusd multiplies unsigned by signed bytes, so the query is shifted into
/// u8 and the kernel subtracts 128 * sum(row) afterwards (row sums are stored with
/// the rows, so the correction costs one multiply-subtract per row).
struct I8Query {
  const int8_t* codes;
  const uint8_t* biased;
};

struct KernelSet {
  Isa isa;

  float (*dot_f32)(const float* a, const float* b, size_t dim);
  float (*l2sq_f32)(const float* a, const float* b, size_t dim);
  float (*cos_f32)(const float* a, const float* b, size_t dim);

  int32_t (*dot_i8)(const int8_t* a, const int8_t* b, size_t dim);
  int32_t (*l2sq_i8)(const int8_t* a, const int8_t* b, size_t dim);
  float (*cos_i8)(const int8_t* a, const int8_t* b, size_t dim);

  void (*dot_f32_rows)(const float* query, const float* rows, size_t count, size_t dim,
                       size_t stride, float* out);
  void (*l2sq_f32_rows)(const float* query, const float* rows, size_t count, size_t dim,
                        size_t stride, float* out);
  // row_sums[i] must equal the sum of row i's codes (see I8Query).
  void (*dot_i8_rows)(I8Query query, const int8_t* rows, size_t count, size_t dim,
                      size_t stride, const int32_t* row_sums, int32_t* out);

  // Below this dimension dot_i8_rows reads its rows one after another in address order,
  // a pattern the hardware prefetcher follows by itself; the streaming wrappers
  // (stream.h) then add no software prefetch, which would only slow it down. 0: never.
  size_t dot_i8_rows_in_order_below = 0;
};

/// The kernels chosen for this process: the best ISA the CPU supports, or the one named
/// by the LOCI_ISA environment variable if that is supported (for tests and benchmarks).
const KernelSet& active();

/// The set for one ISA, or nullptr if it is not compiled into this binary or this CPU
/// cannot run it.
const KernelSet* for_isa(Isa isa);

/// True if this binary contains the variant (whether or not the CPU can run it).
bool compiled(Isa isa);

/// True if this CPU (and OS) can run the variant.
bool supported(Isa isa);

}  // namespace loci::kernels
