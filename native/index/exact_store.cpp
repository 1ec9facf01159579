#include "index/exact_store.h"

#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_set>

#include "index/distinct_hits.h"
#include "index/topk.h"
#include "index/validate.h"
#include "kernels/kernels.h"
#include "kernels/quantize.h"
#include "kernels/stream.h"
#include "sync/epoch.h"
#include "sync/grow_map.h"

namespace loci::index {
namespace {

// Rows scored per kernel call: large enough to amortise the call, small enough that the
// distance buffer stays in L1.
constexpr size_t kScanBlock = 256;

// Below this many bytes a full scan mostly hits L2/L3 and the streaming kernels'
// prefetches only cost time (measured: 1,000 x 768 f32, 41 us plain vs 59 us streamed).
constexpr size_t kStreamScanBytes = size_t(8) << 20;

// In double: a float32 sum of squares underflows to 0 for |v| < ~1e-19, and cosine would
// then treat a short vector as the zero vector.
// The SIMD kernel, not a double loop: reopening a store recomputes every norm.
float vector_norm(const float* vector, size_t dim) {
  return std::sqrt(std::max(0.0f, kernels::active().dot_f32(vector, vector, dim)));
}

}  // namespace

Status ExactStore::create(const ExactStoreOptions& options, std::unique_ptr<ExactStore>* store) {
  if (options.dim == 0 || options.dim > kMaxDim) {
    return Status::error(StatusCode::invalid_argument,
                         "dim must be an integer from 1 to " + std::to_string(kMaxDim));
  }
  if (options.metric > Metric::cosine) return Status::error(StatusCode::invalid_argument, "unknown metric: use l2 (0), inner_product (1) or cosine (2)");
  if (options.quantization > Quantization::int8) {
    return Status::error(StatusCode::invalid_argument, "unknown quantization: use none (0) or int8 (1)");
  }
  store->reset(new ExactStore(options));
  return Status::ok();
}

namespace {

sync::EpochDomain& epochs() { return sync::EpochDomain::global(); }

// The vectors buffer moved out of a region searches may still read: unmap it later.
void unmap_later(void* base, size_t bytes) {
  struct Region {
    void* base;
    size_t bytes;
  };
  epochs().retire(new Region{base, bytes}, [](void* object) {
    Region* region = static_cast<Region*>(object);
    munmap(region->base, region->bytes);
    delete region;
  });
}

}  // namespace

ExactStore::ExactStore(const ExactStoreOptions& options) : options_(options) {
  table_.store(new_table(), std::memory_order_release);
}

ExactStore::~ExactStore() {
  delete table_.load(std::memory_order_relaxed);  // no search runs now (the owner's contract)
  epochs().reclaim();
}

ExactStore::Table* ExactStore::new_table() const {
  Table* table = new Table(options_.dim);
  table->vectors.set_region_releaser(unmap_later);
  return table;
}

void ExactStore::grow(Table* table, size_t count) const {
  // Everything but the count, which the caller releases once the rows are written.
  table->norms.grow_to(count);
  table->alive.grow_to(count);
  if (options_.quantization == Quantization::int8) {
    table->codes.grow_to(count);
    table->scales.grow_to(count);
    table->code_sums.grow_to(count);
  }
  table->ids.grow_to(count);
}

void ExactStore::derive_row(Table* table, size_t row) const {
  const size_t dim = options_.dim;
  const float* vector = table->vectors.data() + row * dim;
  table->norms[row] = vector_norm(vector, dim);
  if (options_.quantization == Quantization::int8) {
    kernels::QuantizedVector q = kernels::quantize_i8(vector, dim, table->codes.row(row));
    table->scales[row] = q.scale;
    table->code_sums[row] = q.code_sum;
  }
}

uint32_t ExactStore::append_row(const std::string& id, const float* vector) {
  Table* table = table_.load(std::memory_order_relaxed);
  const size_t row = table->count.load(std::memory_order_relaxed);
  const size_t dim = options_.dim;
  table->vectors.resize((row + 1) * dim);
  std::memcpy(table->vectors.data() + row * dim, vector, dim * sizeof(float));
  grow(table, row + 1);
  derive_row(table, row);
  table->ids[row] = id;
  table->id_bytes += id.capacity() + 16;  // the string's heap part and a map entry
  table->alive[row].store(1, std::memory_order_relaxed);
  table->count.store(row + 1, std::memory_order_release);  // publishes the row
  live_.fetch_add(1, std::memory_order_relaxed);
  return static_cast<uint32_t>(row);
}

void ExactStore::kill_row(size_t row) {
  Table* table = table_.load(std::memory_order_relaxed);
  table->alive[row].store(0, std::memory_order_release);
  ++table->dead;
  live_.fetch_sub(1, std::memory_order_relaxed);
}

void ExactStore::compact_locked() {
  Table* old = table_.load(std::memory_order_relaxed);
  if (old->dead == 0) return;
  const size_t dim = options_.dim, count = old->count.load(std::memory_order_relaxed);
  Table* dense = new_table();
  const size_t live = count - old->dead;
  dense->vectors.resize(live * dim);
  grow(dense, live);
  size_t row = 0;
  sync::WriterLock map_lock(map_mutex_);
  for (size_t r = 0; r < count; ++r) {
    if (!old->alive[r].load(std::memory_order_relaxed)) continue;
    std::memcpy(dense->vectors.data() + row * dim, old->vectors.data() + r * dim, dim * sizeof(float));
    dense->norms[row] = old->norms[r];
    if (options_.quantization == Quantization::int8) {
      std::memcpy(dense->codes.row(row), old->codes.row(r), dim);
      dense->scales[row] = old->scales[r];
      dense->code_sums[row] = old->code_sums[r];
    }
    dense->ids[row] = old->ids[r];
    dense->id_bytes += dense->ids[row].capacity() + 16;
    dense->alive[row].store(1, std::memory_order_relaxed);
    slot_of_[dense->ids[row]] = static_cast<uint32_t>(row);
    ++row;
  }
  dense->count.store(row, std::memory_order_release);
  table_.store(dense, std::memory_order_release);
  epochs().retire(old);  // searches still scanning it keep it until they unpin
}

void ExactStore::maybe_compact() {
  const Table* table = table_.load(std::memory_order_relaxed);
  if (table->dead > 1024 && table->dead > live_.load(std::memory_order_relaxed)) compact_locked();
  epochs().reclaim();
  refresh_stats();
}

Status ExactStore::add(const std::vector<std::string>& ids, const float* vectors, size_t count,
                       WriteMode mode) {
  LOCI_RETURN_IF_ERROR(check_batch(ids, vectors, count, options_.dim));
  sync::MutexLock lock(write_mutex_);
  if (mode == WriteMode::insert) {
    sync::ReaderLock map_lock(map_mutex_);  // only writers change the map, and this is one
    LOCI_RETURN_IF_ERROR(check_new_ids(ids, slot_of_));
  }
  return add_locked(ids, vectors, count, mode);
}

Status ExactStore::add_validated(const std::vector<std::string>& ids, const float* vectors, size_t count,
                                 WriteMode mode) {
  sync::MutexLock lock(write_mutex_);
  return add_locked(ids, vectors, count, mode);
}

Status ExactStore::add_locked(const std::vector<std::string>& ids, const float* vectors, size_t count, WriteMode mode) {
  const size_t dim = options_.dim;
  Status status = Status::ok();
  sync::grow_map_outside_lock(slot_of_, map_mutex_, count);  // no rehash under the item locks below
  for (size_t i = 0; i < count; ++i) {
    // Per item: get() and contains() (on the JS thread) wait for one row at most.
    sync::WriterLock map_lock(map_mutex_);
    // An upsert appends the new vector and retires the old row: searches may be
    // reading it. Later duplicates in a batch win.
    auto [entry, inserted] = slot_of_.try_emplace(ids[i], 0u);  // one hash lookup per item
    if (!inserted) {
      if (mode == WriteMode::insert) {  // only unchecked by add_validated's caller
        status = id_exists(ids[i], false);
        break;
      }
      kill_row(entry->second);
    }
    entry->second = append_row(ids[i], vectors + i * dim);
  }
  maybe_compact();
  return status;
}

Status ExactStore::remove(const std::vector<std::string>& ids) {
  sync::MutexLock lock(write_mutex_);
  {
    sync::WriterLock map_lock(map_mutex_);
    LOCI_RETURN_IF_ERROR(check_known_ids(ids, slot_of_));
    for (const std::string& id : ids) {
      auto found = slot_of_.find(id);
      if (found == slot_of_.end()) continue;  // a repeated id is removed once
      kill_row(found->second);
      slot_of_.erase(found);
    }
  }
  maybe_compact();
  return Status::ok();
}

void ExactStore::compact() {
  sync::MutexLock lock(write_mutex_);
  compact_locked();
  epochs().reclaim();
  refresh_stats();
}

Status ExactStore::get(const std::string& id, float* out) const {
  sync::EpochDomain::Guard pin(epochs());  // a compaction may retire the table meanwhile
  sync::ReaderLock lock(map_mutex_);
  auto found = slot_of_.find(id);
  if (found == slot_of_.end()) return unknown_id(id);
  // Under the map lock the row and the table agree (compaction renumbers under it too).
  const Table* table = table_.load(std::memory_order_acquire);
  std::memcpy(out, table->vectors.data() + size_t(found->second) * options_.dim, options_.dim * sizeof(float));
  return Status::ok();
}

bool ExactStore::contains(const std::string& id) const {
  sync::ReaderLock lock(map_mutex_);
  return slot_of_.count(id) != 0;
}

IndexStats ExactStore::stats() const {
  sync::MutexLock lock(stats_mutex_);
  IndexStats stats = stats_;
  stats.items = live_.load(std::memory_order_relaxed);
  return stats;
}

void ExactStore::refresh_stats() {
  const Table* table = table_.load(std::memory_order_relaxed);
  IndexStats stats;
  stats.items = live_.load();
  // Rows held: capacity committed ahead but not written yet costs no memory.
  stats.vector_bytes = table->vectors.size() * sizeof(float);
  stats.vector_mapped_bytes = table->vectors.mapped_bytes();
  stats.index_bytes = table->norms.bytes() + table->codes.bytes() + table->scales.bytes() + table->code_sums.bytes() +
                      table->alive.bytes() + table->ids.bytes() + table->id_bytes;
  sync::MutexLock lock(stats_mutex_);
  stats_ = stats;
}

size_t ExactStore::size() const { return live_.load(std::memory_order_relaxed); }

float ExactStore::exact_distance(const Table& table, const float* query, float query_norm, size_t row) const {
  const kernels::KernelSet& k = kernels::active();
  const float* vector = table.vectors.data() + row * options_.dim;
  switch (options_.metric) {
    case Metric::l2: return k.l2sq_f32(query, vector, options_.dim);
    case Metric::inner_product: return 1.0f - k.dot_f32(query, vector, options_.dim);
    case Metric::cosine: return cosine_distance(k.dot_f32(query, vector, options_.dim), query_norm, table.norms[row]);
  }
  return 0;
}

template <class Sink>
void ExactStore::scan_f32(const Table& table, size_t count, const float* query, float query_norm, Sink&& sink) const {
  const kernels::KernelSet& k = kernels::active();
  const size_t dim = options_.dim;
  const bool stream = count * dim * sizeof(float) > kStreamScanBytes;
  const float* vectors = table.vectors.data();  // after the count: holds every row below it
  float distances[kScanBlock];
  for (size_t first = 0; first < count;) {
    // Blocks stay inside one chunk of the per-row arrays.
    const size_t rows = std::min({kScanBlock, count - first, table.norms.run(first)});
    const float* block = vectors + first * dim;
    if (options_.metric == Metric::l2) {
      if (stream) {
        kernels::l2sq_f32_rows_stream(k, query, block, rows, dim, dim, distances);
      } else {
        k.l2sq_f32_rows(query, block, rows, dim, dim, distances);
      }
    } else {
      if (stream) {
        kernels::dot_f32_rows_stream(k, query, block, rows, dim, dim, distances);
      } else {
        k.dot_f32_rows(query, block, rows, dim, dim, distances);
      }
      const float* norms = table.norms.row(first);
      for (size_t r = 0; r < rows; ++r) {
        distances[r] = options_.metric == Metric::cosine ? cosine_distance(distances[r], query_norm, norms[r])
                                                         : 1.0f - distances[r];
      }
    }
    for (size_t r = 0; r < rows; ++r) sink(distances[r], first + r);
    first += rows;
  }
}

Status ExactStore::search(const float* query, const SearchParams& params, std::vector<SearchHit>* hits) const {
  if (params.k == 0 || params.k > kMaxK) {
    return Status::error(StatusCode::invalid_argument, "k must be an integer from 1 to " + std::to_string(kMaxK));
  }
  LOCI_RETURN_IF_ERROR(check_vector(query, options_.dim, "query", SIZE_MAX));
  const size_t dim = options_.dim;
  const float query_norm = vector_norm(query, dim);
  // No lock: the pin keeps the table (and any region its vectors moved out of) alive.
  sync::EpochDomain::Guard pin(epochs());
  const Table& table = *table_.load(std::memory_order_acquire);
  const size_t count = table.count.load(std::memory_order_acquire);
  auto live = [&table](size_t row) { return table.alive[row].load(std::memory_order_acquire) != 0; };
  const size_t keep = params.k + kDuplicateSlack;  // see distinct_hits.h
  std::vector<Candidate> best;

  if (options_.quantization == Quantization::none || params.exact) {
    TopK top(keep);
    scan_f32(table, count, query, query_norm, [&](float distance, size_t row) {
      if (distance < top.threshold() && live(row)) top.push(distance, static_cast<uint32_t>(row));
    });
    best = top.take_sorted();
  } else {
    // INT8 scan: estimated distances pick the candidates, f32 decides their order.
    const kernels::KernelSet& k = kernels::active();
    std::vector<int8_t> query_codes(dim);
    std::vector<uint8_t> query_biased(dim);
    const kernels::QuantizedVector q = kernels::quantize_i8(query, dim, query_codes.data());
    kernels::bias_query_codes(query_codes.data(), dim, query_biased.data());
    const kernels::I8Query prepared{query_codes.data(), query_biased.data()};
    const size_t depth = std::max(params.k, params.rerank ? params.rerank : std::max<size_t>(4 * params.k, 40));
    TopK candidates(depth);
    int32_t dots[kScanBlock];
    const float query_norm_sq = query_norm * query_norm;
    for (size_t first = 0; first < count;) {
      const size_t rows = std::min({kScanBlock, count - first, table.codes.run(first)});
      const int8_t* codes = table.codes.row(first);
      const int32_t* code_sums = table.code_sums.row(first);
      if (count * dim > kStreamScanBytes) {
        kernels::dot_i8_rows_stream(k, prepared, codes, rows, dim, dim, code_sums, dots);
      } else {
        k.dot_i8_rows(prepared, codes, rows, dim, dim, code_sums, dots);
      }
      const float* scales = table.scales.row(first);
      const float* norms = table.norms.row(first);
      for (size_t r = 0; r < rows; ++r) {
        const float dot = q.scale * scales[r] * float(dots[r]);
        float estimate;
        switch (options_.metric) {
          case Metric::l2: estimate = query_norm_sq + norms[r] * norms[r] - 2 * dot; break;
          case Metric::inner_product: estimate = 1.0f - dot; break;
          default: estimate = cosine_distance(dot, query_norm, norms[r]); break;
        }
        if (estimate < candidates.threshold() && live(first + r)) candidates.push(estimate, static_cast<uint32_t>(first + r));
      }
      first += rows;
    }
    TopK top(keep);
    for (const Candidate& c : candidates.take_sorted()) top.push(exact_distance(table, query, query_norm, c.slot), c.slot);
    best = top.take_sorted();
  }

  distinct_hits(best, params.k, [&table](uint32_t slot) -> const std::string& { return table.ids[slot]; }, hits);
  return Status::ok();
}

Status ExactStore::save(ImageWriter* writer) const {
  sync::MutexLock lock(write_mutex_);
  // The image holds live rows only: drop dead ones first. Compaction changes no item,
  // and writes are held off while a checkpoint saves (vector_index.h).
  const_cast<ExactStore*>(this)->compact_locked();
  const Table& table = *table_.load(std::memory_order_relaxed);
  const size_t count = table.count.load(std::memory_order_relaxed);
  LOCI_RETURN_IF_ERROR(writer->slots(count, [&table](size_t row) { return SlotRecord{&table.ids[row], 0, true}; }));
  return writer->vectors(table.vectors.data(), count);
}

Status ExactStore::map_saved_vectors(const std::string& path, uint64_t offset) {
  sync::MutexLock lock(write_mutex_);
  // save() left the current table dense, and writes have been held off since.
  Table* table = table_.load(std::memory_order_relaxed);
  Status status = table->vectors.map_prefix(path, offset, table->count.load(std::memory_order_relaxed) * options_.dim);
  refresh_stats();
  return status;
}

Status ExactStore::load(const ExactStoreOptions& options, ImageReader* reader, std::unique_ptr<ExactStore>* result) {
  std::unique_ptr<ExactStore> store;
  LOCI_RETURN_IF_ERROR(create(options, &store));
  LOCI_RETURN_IF_ERROR(store->load_image(reader));
  *result = std::move(store);
  return Status::ok();
}

Status ExactStore::fill_ids(Table* table, ImageReader* reader) {
  sync::reserve_for_load(slot_of_, reader->slot_count());
  return reader->slots([this, table, reader](size_t row, bool alive, uint32_t, std::string&& id) NO_THREAD_SAFETY_ANALYSIS {
    if (!alive || id.empty()) {
      return Status::error(StatusCode::corrupt, reader->where_slots() + ": slot " + std::to_string(row) + " is not a live item");
    }
    if (!slot_of_.emplace(id, static_cast<uint32_t>(row)).second) {
      return Status::error(StatusCode::corrupt, reader->where_slots() + ": id stored twice: " + id);
    }
    table->ids[row] = std::move(id);
    table->id_bytes += table->ids[row].capacity() + 16;
    table->alive[row].store(1, std::memory_order_relaxed);
    return Status::ok();
  });
}

Status ExactStore::load_image(ImageReader* reader) {
  const size_t count = reader->slot_count();
  // No search can run yet: the table is filled in place (the locks are for the analysis).
  sync::MutexLock lock(write_mutex_);
  sync::WriterLock map_lock(map_mutex_);
  Table* table = table_.load(std::memory_order_relaxed);
  grow(table, count);
  // The id map is filled on a second thread while the reader checks the vectors on two
  // more: one after the other, one core sat idle while the map was built.
  Status ids_filled;
  std::thread id_filler([&] { ids_filled = fill_ids(table, reader); });
  // Norms and codes are derived, not stored: each row group's are computed as soon as the
  // reader has checked it, while its rows are still in cache.
  const ExactStore* raw = this;
  Status vectors_read = reader->vectors(count, &table->vectors, [raw, table](size_t first, size_t rows) {
    for (size_t row = first; row < first + rows; ++row) raw->derive_row(table, row);
  });
  id_filler.join();
  LOCI_RETURN_IF_ERROR(ids_filled);  // the slot table comes first in the checkpoint
  LOCI_RETURN_IF_ERROR(vectors_read);
  table->count.store(count, std::memory_order_release);
  live_.store(count);
  refresh_stats();
  return Status::ok();
}

}  // namespace loci::index
