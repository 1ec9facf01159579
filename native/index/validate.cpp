#include "index/validate.h"

#include "kernels/quantize.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string_view>
#include <unordered_set>

namespace loci::index {

namespace {

constexpr int32_t kInfinityBits = 0x7f800000;

std::string vector_name(const char* what, size_t index) {
  return std::string(what) + (index == SIZE_MAX ? "" : " " + std::to_string(index));
}

}  // namespace

Status check_vector(const float* vector, size_t dim, const char* what, size_t index) {
  // Infinity is kInfinityBits and every NaN lies above it: one integer max (vectorised;
  // a loop that stops at the first bad float is not) finds both and gives the scale.
  const int32_t max_bits = kernels::max_magnitude_bits(vector, dim);
  if (max_bits >= kInfinityBits) {
    size_t i = 0;
    while (std::isfinite(vector[i])) ++i;
    return Status::error(StatusCode::invalid_vector, vector_name(what, index) + " has a non-finite value (" +
                                                         std::to_string(vector[i]) + ") at component " +
                                                         std::to_string(i) + ": vectors must contain only finite numbers");
  }
  float max_abs;
  std::memcpy(&max_abs, &max_bits, sizeof max_abs);
  // |v|^2 <= dim * max|v_i|^2: only a vector that might overflow is summed, in double
  // (the float32 sum is what must not overflow).
  if (double(max_abs) * double(max_abs) * double(dim) <= double(std::numeric_limits<float>::max())) return Status::ok();
  double norm_sq = 0;
  for (size_t i = 0; i < dim; ++i) norm_sq += double(vector[i]) * double(vector[i]);
  if (norm_sq > double(std::numeric_limits<float>::max())) {
    return Status::error(StatusCode::invalid_vector,
                         vector_name(what, index) + " is too long for float32 arithmetic (its squared length exceeds 3.4e38): "
                                                    "scale it down, e.g. normalise it");
  }
  return Status::ok();
}

Status check_batch(const std::vector<std::string>& ids, const float* vectors, size_t count, size_t dim) {
  if (ids.size() != count) {
    return Status::error(StatusCode::invalid_argument,
                         "got " + std::to_string(ids.size()) + " ids for " + std::to_string(count) + " vectors");
  }
  for (size_t i = 0; i < count; ++i) {
    if (ids[i].empty()) {
      return Status::error(StatusCode::invalid_argument,
                           "id at index " + std::to_string(i) + " is empty: ids must be non-empty strings");
    }
    if (ids[i].size() > kMaxIdBytes) {
      return Status::error(StatusCode::invalid_argument, "id at index " + std::to_string(i) + " is " +
                                                             std::to_string(ids[i].size()) + " bytes: ids are limited to " +
                                                             std::to_string(kMaxIdBytes) + " bytes of UTF-8");
    }
    LOCI_RETURN_IF_ERROR(check_vector(vectors + i * dim, dim, "vector of item", i));
  }
  return Status::ok();
}

Status id_exists(const std::string& id, bool repeated_in_batch) {
  return Status::error(StatusCode::already_exists, "id '" + id + "' already exists" +
                                                       (repeated_in_batch ? " (it appears twice in this batch)" : "") +
                                                       ": use upsert() to replace a vector");
}

Status check_new_ids(const std::vector<std::string>& ids, const IdMap<uint32_t>& existing) {
  std::unordered_set<std::string_view> batch;  // views of `ids`: no copies
  if (ids.size() > 1) batch.reserve(ids.size());
  for (const std::string& id : ids) {
    const bool stored = existing.count(id) != 0;
    if (stored || (ids.size() > 1 && !batch.insert(id).second)) return id_exists(id, !stored);
  }
  return Status::ok();
}

Status delete_of_unknown_id(const std::string& id) {
  return Status::error(StatusCode::not_found, "id '" + id + "' is not in the store: nothing was deleted (check with has())");
}

Status check_known_ids(const std::vector<std::string>& ids, const IdMap<uint32_t>& existing) {
  for (const std::string& id : ids) {
    if (!existing.count(id)) return delete_of_unknown_id(id);
  }
  return Status::ok();
}

Status unknown_id(const std::string& id) {
  return Status::error(StatusCode::not_found, "id '" + id + "' is not in the store (check with has())");
}

}  // namespace loci::index
