// The exact (flat) store: every vector scanned for every query. It is the correctness
// oracle for the Atlas index and the baseline in every benchmark, so it favours being
// right over being clever: rows are dense (a delete moves the last row into the hole),
// and every method takes the store's lock (shared for reads, exclusive for writes).
//
// Two scan modes:
//  - f32: exact distances from the f32 row kernels.
//  - int8 (Quantization::int8): the i8 row kernels estimate distances from per-vector
//    quantized codes, the best `rerank` candidates are re-scored with f32, and the top k
//    of those are returned with exact distances.
#pragma once

#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "index/metric.h"
#include "index/vector_index.h"

namespace loci::index {

struct ExactStoreOptions {
  size_t dim = 0;
  Metric metric = Metric::l2;
  Quantization quantization = Quantization::none;
};

class ExactStore final : public VectorIndex {
 public:
  /// Checks the options; on success *store owns a new empty store.
  static Status create(const ExactStoreOptions& options, std::unique_ptr<ExactStore>* store);
  /// Loads a store saved by save(); CORRUPT if the image is inconsistent.
  static Status load(const ExactStoreOptions& options, ImageReader* reader, std::unique_ptr<ExactStore>* store);

  /// Adds `count` vectors (row-major, count * dim floats). All or nothing: if any id or
  /// vector is invalid (or, for insert, already present), nothing is written.
  Status add(const std::vector<std::string>& ids, const float* vectors, size_t count, WriteMode mode) override;

  /// Removes the ids. All or nothing: if any id is unknown, nothing is removed.
  Status remove(const std::vector<std::string>& ids) override;

  /// Copies the stored vector of `id` into out (dim floats).
  Status get(const std::string& id, float* out) const override;

  bool contains(const std::string& id) const override;
  size_t size() const override;
  size_t dim() const override { return options_.dim; }
  IndexStats stats() const override;
  /// The image: every row is a live slot (rows are dense), no tree.
  Status save(ImageWriter* writer) const override;
  const ExactStoreOptions& options() const { return options_; }

  /// The k nearest stored vectors to `query` (dim floats), nearest first.
  Status search(const float* query, const SearchParams& params, std::vector<SearchHit>* hits) const override;

 private:
  explicit ExactStore(const ExactStoreOptions& options) : options_(options) {}
  void write_slot(uint32_t slot, const float* vector);
  void derive_slot(uint32_t slot);  // norm and codes from the slot's stored vector
  void append_slot(const std::string& id, const float* vector);
  void remove_slot(uint32_t slot);
  template <class Sink>
  void scan_f32(const float* query, float query_norm, Sink&& sink) const;
  float exact_distance(const float* query, float query_norm, uint32_t slot) const;

  const ExactStoreOptions options_;
  mutable std::shared_mutex mutex_;
  // Invariant: every per-slot array has size() rows; slot_of_[ids_[s]] == s.
  std::vector<std::string> ids_;
  std::unordered_map<std::string, uint32_t> slot_of_;
  FloatBuffer vectors_;             // size() * dim; mapped from the checkpoint after a reopen
  std::vector<float> norms_;        // |v|, for cosine and the l2 estimate
  std::vector<int8_t> codes_;       // int8 mode: size() * dim
  std::vector<float> scales_;       // int8 mode
  std::vector<int32_t> code_sums_;  // int8 mode: the VNNI kernel's bias correction
};

}  // namespace loci::index
