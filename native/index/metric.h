// Metrics, how a distance is computed from kernel outputs, and the store-wide limits
// shared by every index. Distances: smaller is nearer.
//   l2             squared Euclidean distance |q - r|^2
//   inner_product  1 - q.r
//   cosine         1 - q.r / (|q| |r|); 0 for two zero vectors, 1 if one is zero
#pragma once

#include <cstddef>
#include <cstdint>

namespace loci::index {

enum class Metric : uint8_t { l2 = 0, inner_product = 1, cosine = 2 };
enum class Quantization : uint8_t { none = 0, int8 = 1 };

constexpr size_t kMaxDim = 65536;  // i32 sums of i8 products stay exact up to 133,000
constexpr size_t kMaxK = 10000;
constexpr size_t kMaxIdBytes = 1024;

inline float cosine_distance(float dot, float norm_a, float norm_b) {
  if (norm_a == 0 || norm_b == 0) return (norm_a == 0 && norm_b == 0) ? 0.0f : 1.0f;
  float distance = 1.0f - dot / (norm_a * norm_b);
  return distance < 0 ? 0 : distance;
}

}  // namespace loci::index
