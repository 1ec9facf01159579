// The exact (flat) store: every vector scanned for every query. It is the correctness
// oracle for the Atlas index and the baseline in every benchmark, so it favours being
// right over being clever.
//
// Two scan modes:
//  - f32: exact distances from the f32 row kernels.
//  - int8 (Quantization::int8): the i8 row kernels estimate distances from per-vector
//    quantized codes, the best `rerank` candidates are re-scored with f32, and the top k
//    of those are returned with exact distances.
//
// Concurrency: searches take no lock. Rows live in a Table that searches read under an
// epoch pin (sync/epoch.h): a row below the table's published count never changes,
// except its live flag. Writers (serialised by write_mutex_) append rows, clear live
// flags (a delete; an upsert appends the new vector and clears the old row), and once
// dead rows outnumber live ones, copy the live rows into a new dense Table, publish it
// and retire the old one. A search therefore returns each item as it was at some moment
// during the search, with its exact distance.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/id_map.h"
#include "common/status.h"
#include "index/metric.h"
#include "index/vector_index.h"
#include "sync/stable_array.h"
#include "sync/thread_annotations.h"

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
  ~ExactStore() override;

  /// Adds `count` vectors (row-major, count * dim floats). All or nothing: if any id or
  /// vector is invalid (or, for insert, already present), nothing is written.
  Status add(const std::vector<std::string>& ids, const float* vectors, size_t count, WriteMode mode) override;
  Status add_validated(const std::vector<std::string>& ids, const float* vectors, size_t count,
                       WriteMode mode) override;

  /// Removes the ids. All or nothing: if any id is unknown, nothing is removed.
  Status remove(const std::vector<std::string>& ids) override;

  /// Copies the stored vector of `id` into out (dim floats).
  Status get(const std::string& id, float* out) const override;

  bool contains(const std::string& id) const override;
  size_t size() const override;
  size_t dim() const override { return options_.dim; }
  IndexStats stats() const override;
  /// The image: every row is a live slot (dead rows are compacted away first), no tree.
  Status save(ImageWriter* writer) const override;
  Status map_saved_vectors(const std::string& path, uint64_t offset) override;
  /// Copies the live rows into a dense table when any row is dead.
  void compact() override;
  const ExactStoreOptions& options() const { return options_; }

  /// The k nearest stored vectors to `query` (dim floats), nearest first.
  Status search(const float* query, const SearchParams& params, std::vector<SearchHit>* hits) const override;

 private:
  // The rows searches read. Rows below `count` are complete (released by the count) and
  // never change while the table is published, except `alive`.
  struct Table {
    explicit Table(size_t dim) : codes(dim) {}
    FloatBuffer vectors;                         // count * dim; mapped from the checkpoint after a reopen
    sync::StableArray<std::string> ids;
    sync::StableArray<float> norms;              // |v|, for cosine and the l2 estimate
    sync::StableArray<int8_t> codes;             // int8 mode: a row of dim codes per slot
    sync::StableArray<float> scales;             // int8 mode
    sync::StableArray<int32_t> code_sums;        // int8 mode: the VNNI kernel's bias correction
    sync::StableArray<std::atomic<uint8_t>> alive;
    std::atomic<size_t> count{0};
    size_t dead = 0;                             // writer only
    size_t id_bytes = 0;                         // writer only: ids and map entries, for stats
  };

  explicit ExactStore(const ExactStoreOptions& options);
  Table* new_table() const;
  void grow(Table* table, size_t count) const;      // room for `count` rows (writer)
  void derive_row(Table* table, size_t row) const;  // norm and codes from the row's vector
  // Appends and publishes a row; returns it (the caller points the id's map entry at it).
  // add() and add_validated() after their checks.
  Status add_locked(const std::vector<std::string>& ids, const float* vectors, size_t count, WriteMode mode)
      REQUIRES(write_mutex_) EXCLUDES(map_mutex_);
  uint32_t append_row(const std::string& id, const float* vector) REQUIRES(write_mutex_, map_mutex_);
  void kill_row(size_t row) REQUIRES(write_mutex_);
  Status load_image(ImageReader* reader) EXCLUDES(write_mutex_, map_mutex_);
  // load_image's id map and id column, decoded from the slot table on a helper thread
  // while load_image (which holds both locks for it) checks the vectors.
  Status fill_ids(Table* table, ImageReader* reader) NO_THREAD_SAFETY_ANALYSIS;
  // A dense copy of the live rows, published; takes map_mutex_ to renumber.
  void compact_locked() REQUIRES(write_mutex_) EXCLUDES(map_mutex_);
  // When dead rows outnumber live ones; then refreshes the stats snapshot.
  void maybe_compact() REQUIRES(write_mutex_) EXCLUDES(map_mutex_);
  void refresh_stats() REQUIRES(write_mutex_);
  template <class Sink>
  void scan_f32(const Table& table, size_t count, const float* query, float query_norm, Sink&& sink) const;
  float exact_distance(const Table& table, const float* query, float query_norm, size_t row) const;

  const ExactStoreOptions options_;
  mutable sync::Mutex write_mutex_;  // serialises writers, save and stats
  // slot_of_ between writers and get()/contains(); searches do not use it.
  mutable sync::SharedMutex map_mutex_ ACQUIRED_AFTER(write_mutex_);
  IdMap<uint32_t> slot_of_ GUARDED_BY(map_mutex_);  // live id -> row of the current table
  std::atomic<Table*> table_{nullptr};
  std::atomic<size_t> live_{0};
  // stats() returns the snapshot the last write left, so it never waits for a write.
  mutable sync::Mutex stats_mutex_ ACQUIRED_AFTER(map_mutex_);
  IndexStats stats_ GUARDED_BY(stats_mutex_);
};

}  // namespace loci::index
