#include "index/validate.h"

#include <cmath>
#include <limits>
#include <unordered_set>

namespace loci::index {

Status check_vector(const float* vector, size_t dim, const char* what, size_t index) {
  const std::string name = std::string(what) + (index == SIZE_MAX ? "" : " " + std::to_string(index));
  double norm_sq = 0;  // in double: the float32 sum is what must not overflow
  for (size_t i = 0; i < dim; ++i) {
    if (!std::isfinite(vector[i])) {
      return Status::error(StatusCode::invalid_vector, name + " has a non-finite value (" + std::to_string(vector[i]) +
                                                           ") at component " + std::to_string(i) +
                                                           ": vectors must contain only finite numbers");
    }
    norm_sq += double(vector[i]) * double(vector[i]);
  }
  if (norm_sq > double(std::numeric_limits<float>::max())) {
    return Status::error(StatusCode::invalid_vector,
                         name + " is too long for float32 arithmetic (its squared length exceeds 3.4e38): "
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

Status check_new_ids(const std::vector<std::string>& ids, const std::unordered_map<std::string, uint32_t>& existing) {
  std::unordered_set<std::string> batch;
  batch.reserve(ids.size());
  for (const std::string& id : ids) {
    const bool stored = existing.count(id) != 0;
    if (stored || !batch.insert(id).second) {
      return Status::error(StatusCode::already_exists, "id '" + id + "' already exists" +
                                                           (stored ? "" : " (it appears twice in this batch)") +
                                                           ": use upsert() to replace a vector");
    }
  }
  return Status::ok();
}

Status check_known_ids(const std::vector<std::string>& ids, const std::unordered_map<std::string, uint32_t>& existing) {
  for (const std::string& id : ids) {
    if (!existing.count(id)) {
      return Status::error(StatusCode::not_found,
                           "id '" + id + "' is not in the store: nothing was deleted (check with has())");
    }
  }
  return Status::ok();
}

Status unknown_id(const std::string& id) {
  return Status::error(StatusCode::not_found, "id '" + id + "' is not in the store (check with has())");
}

}  // namespace loci::index
