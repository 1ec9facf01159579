// Test helpers: a WAL batch payload decoded into an owning WriteBatch (replay itself
// reads records in place, as BatchView, and copies fields straight to where they stay).
#pragma once

#include <cstdint>

#include "engine/wal.h"

namespace loci::test {

// The view's fields copied out; false if a vector is one the write path refuses.
inline bool materialize(const engine::BatchView& view, size_t dim, engine::WriteBatch* batch) {
  batch->op = view.op;
  batch->ids.assign(view.ids.begin(), view.ids.end());
  batch->times = view.times;
  batch->texts.assign(view.texts.begin(), view.texts.end());
  batch->metas.assign(view.metas.begin(), view.metas.end());
  batch->vectors.clear();
  return view.append_vectors(dim, &batch->vectors).is_ok();
}

// Decodes a payload as replay does; false if it is malformed for `dim` or holds a
// vector the write path would have refused.
inline bool decode_batch(const uint8_t* payload, size_t size, size_t dim, uint64_t* lsn, engine::WriteBatch* batch) {
  engine::BatchView view;
  return view.decode(payload, size, dim, lsn) && materialize(view, dim, batch);
}

}  // namespace loci::test
