// Input checks shared by every index, so the same bad input gets the same LociError
// code and message whichever index is behind the store.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "common/id_map.h"
#include "common/status.h"
#include "index/vector_index.h"

namespace loci::index {

/// A vector must be finite and short enough that |v|^2 fits in a float: then, by
/// Cauchy-Schwarz, no dot product or partial sum in the f32 kernels can overflow and no
/// distance can be NaN. `index` SIZE_MAX means "the query" (no number in the message).
Status check_vector(const float* vector, size_t dim, const char* what, size_t index);

/// Every id non-empty and at most kMaxIdBytes; every vector valid (check_vector).
Status check_batch(const std::vector<std::string>& ids, const float* vectors, size_t count, size_t dim);

/// For an insert: no id may exist already or repeat within the batch.
Status check_new_ids(const std::vector<std::string>& ids, const IdMap<uint32_t>& existing);

/// The ALREADY_EXISTS error of an insert that names a stored id, or one it repeats.
Status id_exists(const std::string& id, bool repeated_in_batch);

/// The NOT_FOUND error of a delete that names an id the store does not hold.
Status delete_of_unknown_id(const std::string& id);

/// For a delete: every id must exist (nothing is deleted otherwise).
Status check_known_ids(const std::vector<std::string>& ids, const IdMap<uint32_t>& existing);

/// The NOT_FOUND error of get().
Status unknown_id(const std::string& id);

}  // namespace loci::index
