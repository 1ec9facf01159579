// What every Loci index offers the addon: the exact store (the oracle) and Atlas (the
// tree). Implementations are thread-safe: searches may run concurrently with each other,
// writes are serialised against everything.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "common/status.h"
#include "index/image.h"
#include "index/metric.h"

namespace loci::index {

struct SearchParams {
  size_t k = 10;
  bool exact = false;  // scan the f32 originals of every item (the oracle path)
  size_t rerank = 0;   // INT8 candidates re-scored in f32; 0 = the index's default
  // Atlas only (0 / negative = derived from `effort`):
  double effort = 0;   // (0, 1]: the one recall-vs-speed knob; 0 = the default
  size_t probes = 0;   // leaves scanned at most
  size_t beam = 0;     // inner nodes expanded at most
  double eps = -1;     // SPANN pruning: probe leaf j only while d(q,c_j) <= (1+eps) d(q,c_1)
};

struct SearchHit {
  std::string id;
  float distance;
};

enum class WriteMode { insert, upsert };

struct IndexStats {
  size_t items = 0;
  size_t index_bytes = 0;   // codes, pages, tree, id table: what the index adds
  size_t vector_bytes = 0;  // the f32 originals kept for rerank
  size_t vector_mapped_bytes = 0;  // of those, served from a checkpoint's vectors file
  size_t leaves = 0;
  size_t inner_nodes = 0;
  size_t depth = 0;
  size_t page_size = 0;
  size_t leaf_capacity = 0;
  size_t leaf_entries = 0;  // entries in the leaves: items, their copies, stale entries
};

class VectorIndex {
 public:
  virtual ~VectorIndex() = default;
  /// Adds `count` vectors (row-major). All or nothing.
  virtual Status add(const std::vector<std::string>& ids, const float* vectors, size_t count, WriteMode mode) = 0;
  /// add() for a caller that has validated the batch itself (check_batch, and for an
  /// insert that no id is stored or repeated): the same writes without a second pass
  /// over the vectors and the id table. The engine validates each batch before its WAL
  /// record is written, so replay and the write path both use this. Not all or nothing:
  /// an insert that meets a stored id anyway stops there with ALREADY_EXISTS, the items
  /// before it added (a replay that fails discards the whole store in memory).
  virtual Status add_validated(const std::vector<std::string>& ids, const float* vectors, size_t count,
                               WriteMode mode) = 0;
  /// Removes the ids. All or nothing: an unknown id removes nothing.
  virtual Status remove(const std::vector<std::string>& ids) = 0;
  virtual Status get(const std::string& id, float* out) const = 0;
  virtual bool contains(const std::string& id) const = 0;
  virtual size_t size() const = 0;
  virtual size_t dim() const = 0;
  /// The k nearest items to `query`, nearest first, with exact f32 distances.
  virtual Status search(const float* query, const SearchParams& params, std::vector<SearchHit>* hits) const = 0;
  virtual IndexStats stats() const = 0;
  /// Writes the index's image (slot table, vectors, tree). Writes to the index must be
  /// held off by the caller until it returns; searches may run.
  virtual Status save(ImageWriter* writer) const = 0;
  /// After a checkpoint has written this index's image, serves the f32 vectors it saved
  /// from the vectors file (`path`, rows from byte `offset`) instead of memory: same
  /// bytes, same addresses, but the kernel may evict them. Writes are held off by the
  /// caller, as for save(); searches may run. A failure leaves the rows in memory.
  virtual Status map_saved_vectors(const std::string& path, uint64_t offset) {
    (void)path;
    (void)offset;
    return Status::ok();
  }
  /// Drops what deletes and upserts left behind (Atlas: stale leaf entries).
  virtual void compact() {}
  /// Checks the index's structural invariants (INTERNAL naming the first violation).
  virtual Status check() const { return Status::ok(); }
};

}  // namespace loci::index
