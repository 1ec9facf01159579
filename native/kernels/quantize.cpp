#include "quantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace loci::kernels {

int32_t max_magnitude_bits(const float* values, size_t dim) {
  int32_t max_bits = 0;
  for (size_t i = 0; i < dim; ++i) {
    int32_t bits;
    std::memcpy(&bits, values + i, sizeof bits);
    bits &= 0x7fffffff;
    max_bits = bits > max_bits ? bits : max_bits;
  }
  return max_bits;
}

QuantizedVector quantize_i8(const float* values, size_t dim, int8_t* codes) {
  // Both loops vectorize with the baseline ISA: this file is not dispatched, and each
  // insert quantizes its vector and every centroid on its path.
  const int32_t max_bits = max_magnitude_bits(values, dim);
  float max_abs;
  std::memcpy(&max_abs, &max_bits, sizeof max_abs);
  if (max_abs == 0) {
    std::fill(codes, codes + dim, int8_t{0});
    return {0.0f, 0};
  }
  const float scale = max_abs / 127.0f;
  const float inverse = 127.0f / max_abs;
  // Adding and taking away 1.5 * 2^23 rounds to nearest, ties to even, exactly as
  // nearbyint does in the default rounding mode (|x| <= 127 here): without SSE4.1,
  // nearbyint is a libm call per component.
  constexpr float kRounder = 12582912.0f;
  int32_t code_sum = 0;
  for (size_t i = 0; i < dim; ++i) {
    // x * (127 / max) can round a hair past +-127; the clamp keeps -128 out.
    float code = (values[i] * inverse + kRounder) - kRounder;
    code = std::min(127.0f, std::max(-127.0f, code));
    const int32_t integral = static_cast<int32_t>(code);
    codes[i] = static_cast<int8_t>(integral);
    code_sum += integral;
  }
  return {scale, code_sum};
}

void bias_query_codes(const int8_t* codes, size_t dim, uint8_t* biased) {
  for (size_t i = 0; i < dim; ++i) biased[i] = static_cast<uint8_t>(int32_t(codes[i]) + 128);
}

}  // namespace loci::kernels
