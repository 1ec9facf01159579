#include "quantize.h"

#include <algorithm>
#include <cmath>

namespace loci::kernels {

QuantizedVector quantize_i8(const float* values, size_t dim, int8_t* codes) {
  float max_abs = 0;
  for (size_t i = 0; i < dim; ++i) max_abs = std::max(max_abs, std::fabs(values[i]));
  if (max_abs == 0) {
    std::fill(codes, codes + dim, int8_t{0});
    return {0.0f, 0};
  }
  const float scale = max_abs / 127.0f;
  const float inverse = 127.0f / max_abs;
  int32_t code_sum = 0;
  for (size_t i = 0; i < dim; ++i) {
    // x * (127 / max) can round a hair past +-127; the clamp keeps -128 out.
    float code = std::nearbyint(values[i] * inverse);
    code = std::min(127.0f, std::max(-127.0f, code));
    codes[i] = static_cast<int8_t>(code);
    code_sum += codes[i];
  }
  return {scale, code_sum};
}

void bias_query_codes(const int8_t* codes, size_t dim, uint8_t* biased) {
  for (size_t i = 0; i < dim; ++i) biased[i] = static_cast<uint8_t>(int32_t(codes[i]) + 128);
}

}  // namespace loci::kernels
