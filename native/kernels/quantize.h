// Symmetric per-vector INT8 quantization.
//
// scale = max|x_i| / 127 and code_i = round(x_i / scale), clamped to [-127, 127]
// (never -128: see kernels.h). A per-vector scale keeps the full 8 bits of resolution
// whatever the vector's range: peers that assume components in [-1, 1] lose almost all
// of it on data such as pixel values (0..255). An all-zero vector gets scale 0 and
// all-zero codes.
//
// The dot product of two vectors is estimated as scale_a * scale_b * dot_i8(a, b).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels.h"

namespace loci::kernels {

struct QuantizedVector {
  float scale;       // multiply a code by this to get the original component back
  int32_t code_sum;  // sum of the codes: the VNNI row kernel's bias correction
};

/// The largest |component| as IEEE-754 bits with the sign cleared: for finite floats
/// these order as the magnitudes do (infinity and NaN lie at and above 0x7f800000). One
/// integer max, which the compiler vectorises with the baseline ISA, unlike a float max
/// without -ffinite-math-only. Signed: with the sign bit clear the bits are non-negative
/// int32s, and SSE2 has a signed compare but no unsigned one (emulating it took seven
/// instructions a step, measured 3% of a WAL replay).
int32_t max_magnitude_bits(const float* values, size_t dim);

/// Quantizes `dim` floats into `codes`. The input must be finite.
QuantizedVector quantize_i8(const float* values, size_t dim, int8_t* codes);

/// Fills `biased` with codes[i] + 128, the u8 form the VNNI row kernel reads.
void bias_query_codes(const int8_t* codes, size_t dim, uint8_t* biased);

}  // namespace loci::kernels
