// Atlas: public API, item table and search. Tree construction and online writes are in
// atlas_tree.cpp.
#include "index/atlas.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>
#include <queue>
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

double norm_of(const float* v, size_t dim) {
  double sum = 0;
  for (size_t i = 0; i < dim; ++i) sum += double(v[i]) * double(v[i]);
  return std::sqrt(sum);
}

}  // namespace

Status Atlas::create(const AtlasOptions& options, std::unique_ptr<Atlas>* atlas) {
  if (options.dim == 0 || options.dim > kMaxDim) {
    return Status::error(StatusCode::invalid_argument, "dim must be an integer from 1 to " + std::to_string(kMaxDim));
  }
  if (options.metric > Metric::cosine) {
    return Status::error(StatusCode::invalid_argument, "unknown metric: use l2 (0), inner_product (1) or cosine (2)");
  }
  if (options.page_size % 4096 != 0 || options.page_size < kMinPageSize || options.page_size > kMaxPageSize) {
    return Status::error(StatusCode::invalid_argument, "pageSize must be a multiple of 4096 from 4096 to 1048576");
  }
  LeafLayout layout = LeafLayout::compute(options.page_size, options.dim);
  if (layout.capacity < 8) {
    return Status::error(StatusCode::invalid_argument,
                         "pageSize " + std::to_string(options.page_size) + " holds fewer than 8 vectors of dim " +
                             std::to_string(options.dim) + ": use a larger pageSize");
  }
  if (options.fanout < 4 || options.fanout > 1024) {
    return Status::error(StatusCode::invalid_argument, "fanout must be from 4 to 1024");
  }
  if (!(options.build_fill >= 0.5 && options.build_fill <= 1.0)) {
    return Status::error(StatusCode::invalid_argument, "buildFill must be from 0.5 to 1");
  }
  if (options.replicas < 1 || options.replicas > kMaxReplicas) {
    return Status::error(StatusCode::invalid_argument, "replicas must be from 1 to " + std::to_string(kMaxReplicas));
  }
  atlas->reset(new Atlas(options, layout));
  return Status::ok();
}

// ---- item table -----------------------------------------------------------------------

uint32_t Atlas::allocate_slot(const std::string& id) {
  uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<uint32_t>(ids_.size());
    vectors_.resize(vectors_.size() + options_.dim);
    norms_.grow_to(slot + 1);
    versions_.grow_to(slot + 1);
    alive_.grow_to(slot + 1);
    ids_.grow_to(slot + 1);  // last: the exact scan reads slots below ids_.size()
    entry_refs_.push_back(0);
  }
  // No search can see the slot yet: it is new, or its grace period has passed.
  ids_[slot] = id;
  if (id.size() > 15) id_heap_bytes_ += ids_[slot].capacity();
  return slot;
}

void Atlas::store_vector(uint32_t slot, const float* vector) {
  std::memcpy(&vectors_[size_t(slot) * options_.dim], vector, options_.dim * sizeof(float));
  norms_[slot] = static_cast<float>(norm_of(vector, options_.dim));
  // Released: a search that sees the slot alive sees its id, vector and norm.
  alive_[slot].store(1, std::memory_order_release);
  live_count_.fetch_add(1, std::memory_order_relaxed);
}

void Atlas::kill_slot(uint32_t slot) {
  alive_[slot].store(0, std::memory_order_release);
  versions_[slot].fetch_add(1, std::memory_order_relaxed);  // its entries are stale now
  live_count_.fetch_sub(1, std::memory_order_relaxed);
  if (entry_refs_[slot] == 0) unlinked_slots_.push_back(slot);
}

void Atlas::release_entry(uint32_t slot) {
  --leaf_entries_;
  if (--entry_refs_[slot] == 0 && !alive(slot)) unlinked_slots_.push_back(slot);
}

void Atlas::routing_vector(uint32_t slot, float* out) const {
  const float* v = &vectors_[size_t(slot) * options_.dim];
  // Cosine routes by direction: cluster and descend on unit vectors.
  const float scale = (options_.metric == Metric::cosine && norms_[slot] > 0) ? 1.0f / norms_[slot] : 1.0f;
  for (size_t i = 0; i < options_.dim; ++i) out[i] = v[i] * scale;
}

float Atlas::estimate(float dot, float query_norm, float row_norm) const {
  switch (options_.metric) {
    case Metric::l2: return query_norm * query_norm + row_norm * row_norm - 2 * dot;
    case Metric::inner_product: return 1.0f - dot;
    default: return cosine_distance(dot, query_norm, row_norm);
  }
}

// ---- public writes --------------------------------------------------------------------

Status Atlas::add(const std::vector<std::string>& ids, const float* vectors, size_t count, WriteMode mode) {
  LOCI_RETURN_IF_ERROR(check_batch(ids, vectors, count, options_.dim));
  sync::MutexLock lock(write_mutex_);
  if (mode == WriteMode::insert) {
    sync::ReaderLock map_lock(map_mutex_);  // only writers change the map, and this is one
    LOCI_RETURN_IF_ERROR(check_new_ids(ids, slot_of_));
  }
  return add_locked(ids, vectors, count, mode);
}

Status Atlas::add_validated(const std::vector<std::string>& ids, const float* vectors, size_t count, WriteMode mode) {
  sync::MutexLock lock(write_mutex_);
  return add_locked(ids, vectors, count, mode);
}

Status Atlas::add_locked(const std::vector<std::string>& ids, const float* vectors, size_t count, WriteMode mode) {
  const size_t dim = options_.dim;
  // A batch at least as large as the store: rebuild rather than insert one by one, so a
  // store filled in batches of any size gets the bulk build's balanced tree.
  const bool bulk = count >= std::max<size_t>(live_count_, 2 * layout_.capacity);
  std::vector<uint32_t> written;
  written.reserve(count);
  Status status = Status::ok();
  sync::grow_map_outside_lock(slot_of_, map_mutex_, count);  // no rehash under the item locks below
  for (size_t i = 0; i < count; ++i) {
    // The slot is complete before the map names it: get() may look it up at once.
    const uint32_t slot = allocate_slot(ids[i]);
    store_vector(slot, vectors + i * dim);
    {
      // Per item: get() and contains() (on the JS thread) wait for one map update at most.
      sync::WriterLock map_lock(map_mutex_);
      auto [entry, inserted] = slot_of_.try_emplace(ids[i], slot);  // one hash lookup per item
      if (!inserted && mode == WriteMode::insert) {  // only unchecked by add_validated's caller
        kill_slot(slot);  // never named by the map: recycled like a deleted item's
        status = id_exists(ids[i], false);
        break;
      }
      // An upsert takes a fresh slot: searches may be reading the old one's vector.
      if (!inserted) {
        kill_slot(entry->second);
        entry->second = slot;
      }
    }
    written.push_back(slot);
  }
  // What was written is indexed even after an error, so the tree and the map agree.
  if (bulk && status.is_ok()) {
    status = rebuild_locked();
  } else {
    for (uint32_t slot : written) {
      if (alive(slot)) insert(slot);  // not if a later row of the batch replaced it
    }
    publish(false);
  }
  finish_write();
  return status;
}

Status Atlas::remove(const std::vector<std::string>& ids) {
  sync::MutexLock lock(write_mutex_);
  {
    sync::WriterLock map_lock(map_mutex_);
    LOCI_RETURN_IF_ERROR(check_known_ids(ids, slot_of_));
    for (const std::string& id : ids) {
      auto found = slot_of_.find(id);
      if (found == slot_of_.end()) continue;  // repeated in the batch
      const uint32_t slot = found->second;
      slot_of_.erase(found);
      kill_slot(slot);
    }
  }
  finish_write();
  return Status::ok();
}

Status Atlas::get(const std::string& id, float* out) const {
  // Pinned: an upsert may retire the slot while the row is copied.
  sync::EpochDomain::Guard pin(sync::EpochDomain::global());
  uint32_t slot;
  {
    sync::ReaderLock lock(map_mutex_);
    auto found = slot_of_.find(id);
    if (found == slot_of_.end()) return unknown_id(id);
    slot = found->second;
  }
  std::memcpy(out, vectors_.data() + size_t(slot) * options_.dim, options_.dim * sizeof(float));
  return Status::ok();
}

bool Atlas::contains(const std::string& id) const {
  sync::ReaderLock lock(map_mutex_);
  return slot_of_.count(id) != 0;
}

size_t Atlas::size() const { return live_count_.load(std::memory_order_relaxed); }

IndexStats Atlas::stats() const {
  sync::MutexLock lock(stats_mutex_);
  IndexStats stats = stats_;
  stats.items = live_count_.load(std::memory_order_relaxed);
  return stats;
}

IndexStats Atlas::compute_stats() const {
  IndexStats stats;
  stats.items = live_count_;
  stats.leaves = leaves_.size();
  stats.inner_nodes = nodes_.size();
  stats.page_size = layout_.page_size;
  stats.leaf_capacity = layout_.capacity;
  // Rows held: capacity committed ahead but not written yet costs no memory.
  stats.vector_bytes = vectors_.size() * sizeof(float);
  stats.vector_mapped_bytes = vectors_.mapped_bytes();
  stats.leaf_entries = leaf_entries_;
  size_t bytes = leaves_.size() * (layout_.page_size + sizeof(Leaf) + 2 * sizeof(void*));
  for (const InnerNode& node : nodes_) {
    // The writer's node and the published route node (codes and refs twice).
    bytes += sizeof(InnerNode) + sizeof(RouteNode) + node.refs.capacity() * 18 + node.centroids.capacity() * 4 +
             2 * (node.codes.capacity() + node.scales.capacity() * 4 + node.code_sums.capacity() * 4 + node.norms.capacity() * 4);
  }
  bytes += norms_.bytes() + versions_.bytes() + alive_.bytes() + entry_refs_.capacity() * 4 + ids_.bytes() + id_heap_bytes_;
  {
    sync::ReaderLock map_lock(map_mutex_);
    bytes += slot_of_.memory_bytes();
  }
  stats.index_bytes = bytes;
  size_t depth = 0;
  for (uint32_t node = root_;;) {
    ++depth;
    const InnerNode& n = nodes_[node];
    if (n.size() == 0 || n.is_leaf[0]) break;
    node = n.refs[0];
  }
  stats.depth = depth;
  return stats;
}

// ---- search ---------------------------------------------------------------------------

namespace {

// How `effort` maps to the expert knobs, for a tree of `leaf_count` leaves and
// `node_count` inner nodes.
SearchParams resolve_for(const SearchParams& params, size_t leaf_count, size_t node_count, double default_effort) {
  SearchParams resolved = params;
  const double effort = params.effort > 0 ? std::min(1.0, params.effort) : default_effort;
  const double leaves = std::max<double>(1, leaf_count);
  if (resolved.probes == 0) {
    // Scale-aware: probes grow as a power of the leaf count, so one effort gives a
    // similar recall on small and large trees; effort 1 scans every leaf.
    // The floor of 24 * effort keeps small trees (a few dozen leaves, where the power
    // gives only 3 or 4) at the recall the same effort gives on large ones.
    resolved.probes = effort >= 1 ? leaf_count
                                  : static_cast<size_t>(std::ceil(std::max(std::pow(leaves, effort), 24 * effort)));
    resolved.probes = std::max<size_t>(resolved.probes, 2);
  }
  // Inner nodes are small next to leaves: expanding twice as many as there are probes
  // keeps enough leaf candidates in view for the pruning to choose from.
  if (resolved.beam == 0) resolved.beam = effort >= 1 ? node_count : 4 + 2 * resolved.probes;
  if (resolved.eps < 0) resolved.eps = effort >= 1 ? std::numeric_limits<double>::infinity() : 2.0 + 20.0 * effort;
  if (resolved.rerank == 0) {
    // The INT8 estimates (per-vector scale, exact norms) rank well enough that the true
    // top k are nearly always among the best 1.2k-3.2k: on fashion-mnist and
    // clustered-100k, reranking k * (1.2 + 2 * effort) gave the same recall at every
    // effort as the earlier max(20, k * (2 + 6 * effort)), and fashion-mnist 10-17% more
    // QPS (each f32 row is a DRAM miss). Effort 1 keeps the deep rerank of the exhaustive
    // scan it asks for.
    resolved.rerank = effort >= 1 ? std::max<size_t>(20, 8 * params.k)
                                  : std::max<size_t>(params.k + 5, static_cast<size_t>(std::ceil(params.k * (1.2 + 2 * effort))));
  }
  resolved.rerank = std::max(resolved.rerank, params.k);
  return resolved;
}

}  // namespace

SearchParams Atlas::resolve(const SearchParams& params) const {
  sync::EpochDomain::Guard pin(sync::EpochDomain::global());
  const TreeView* view = view_.load(std::memory_order_acquire);
  return resolve_for(params, view->leaves.size(), view->nodes.size(), kDefaultEffort);
}

Status Atlas::search(const float* query, const SearchParams& params, std::vector<SearchHit>* hits) const {
  if (params.k == 0 || params.k > kMaxK) {
    return Status::error(StatusCode::invalid_argument, "k must be an integer from 1 to " + std::to_string(kMaxK));
  }
  LOCI_RETURN_IF_ERROR(check_vector(query, options_.dim, "query", SIZE_MAX));
  const size_t dim = options_.dim;
  const kernels::KernelSet& kernels = kernels::active();
  // No lock: the pin keeps everything this search can reach alive (atlas.h).
  sync::EpochDomain::Guard pin(sync::EpochDomain::global());
  hits->clear();
  if (live_count_.load(std::memory_order_relaxed) == 0) return Status::ok();
  const float query_norm = static_cast<float>(norm_of(query, dim));
  const TreeView* view = view_.load(std::memory_order_acquire);

  // Loaded when needed, not before: the buffer may move (into a region that holds every
  // row published by then) while the leaves are scanned.
  const float* rows = nullptr;
  auto exact_distance = [&](uint32_t slot) {
    const float* row = rows + size_t(slot) * dim;
    switch (options_.metric) {
      case Metric::l2: return kernels.l2sq_f32(query, row, dim);
      case Metric::inner_product: return 1.0f - kernels.dot_f32(query, row, dim);
      default: return cosine_distance(kernels.dot_f32(query, row, dim), query_norm, norms_[slot]);
    }
  };

  std::vector<Candidate> best;
  if (params.exact) {
    TopK top(params.k + kDuplicateSlack);
    const size_t slots = ids_.size();
    rows = vectors_.data();
    for (uint32_t slot = 0; slot < slots; ++slot) {
      if (alive(slot)) top.push(exact_distance(slot), slot);
    }
    best = top.take_sorted();
  } else {
    const SearchParams resolved = resolve_for(params, view->leaves.size(), view->nodes.size(), kDefaultEffort);
    // The query in routing space (unit length for cosine), quantized once.
    std::vector<float> routed(query, query + dim);
    float routed_norm = query_norm;
    if (options_.metric == Metric::cosine && query_norm > 0) {
      for (float& x : routed) x /= query_norm;
      routed_norm = 1.0f;
    }
    std::vector<int8_t> codes(dim);
    std::vector<uint8_t> biased(dim);
    const kernels::QuantizedVector routed_q = kernels::quantize_i8(routed.data(), dim, codes.data());
    kernels::bias_query_codes(codes.data(), dim, biased.data());
    const kernels::I8Query prepared{codes.data(), biased.data()};

    // Descent: best-first over inner nodes; leaves met on the way are probe candidates.
    using Entry = std::pair<float, uint32_t>;
    std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> frontier;
    std::vector<Entry> leaf_candidates;
    std::vector<int32_t> dots(options_.fanout + 1);
    auto expand = [&](uint32_t node_index) {
      const RouteNode* published = view->nodes[node_index].load(std::memory_order_acquire);
      if (!published) return;  // created by a writer that has not published it yet
      const RouteNode& node = *published;
      const size_t children = node.size();
      if (dots.size() < children) dots.resize(children);
      kernels.dot_i8_rows(prepared, node.codes.data(), children, dim, dim, node.code_sums.data(), dots.data());
      for (size_t c = 0; c < children; ++c) {
        float distance = estimate(routed_q.scale * node.scales[c] * float(dots[c]), routed_norm, node.norms[c]);
        if (node.is_leaf[c]) {
          leaf_candidates.emplace_back(distance, node.refs[c]);
        } else {
          frontier.emplace(distance, node.refs[c]);
        }
      }
    };
    expand(view->root.load(std::memory_order_acquire));
    for (size_t expansions = 1; !frontier.empty() && expansions < resolved.beam; ++expansions) {
      uint32_t next = frontier.top().second;
      frontier.pop();
      expand(next);
    }

    // Probe the nearest leaves, SPANN-pruned.
    const size_t probes = std::min(resolved.probes, leaf_candidates.size());
    std::partial_sort(leaf_candidates.begin(), leaf_candidates.begin() + probes, leaf_candidates.end());
    std::vector<const LeafPage*> pages(probes);
    for (size_t p = 0; p < probes; ++p) pages[p] = view->leaves[leaf_candidates[p].second].load(std::memory_order_acquire);
    const float first = leaf_candidates.empty() ? 0 : leaf_candidates[0].first;
    // For L2 the estimates are squared distances: compare (1+eps)^2.
    const double factor = options_.metric == Metric::l2 ? (1 + resolved.eps) * (1 + resolved.eps) : 1 + resolved.eps;
    const float limit = std::isinf(resolved.eps) ? std::numeric_limits<float>::infinity()
                                                 : static_cast<float>(std::max(0.0f, first) * factor + 1e-6f);

    // Leaf rows are scored against the original query (leaves store the items' own codes).
    std::vector<int8_t> query_codes(dim);
    std::vector<uint8_t> query_biased(dim);
    const kernels::QuantizedVector q = kernels::quantize_i8(query, dim, query_codes.data());
    kernels::bias_query_codes(query_codes.data(), dim, query_biased.data());
    const kernels::I8Query leaf_query{query_codes.data(), query_biased.data()};
    TopK candidates(resolved.rerank);
    std::vector<int32_t> row_dots(layout_.capacity);
    // Leaves come from DRAM: while one is scanned, the next one's small arrays are
    // prefetched, and its codes (count * dim contiguous bytes) line by line unless the
    // row kernel reads rows in address order, which the hardware prefetcher follows
    // better by itself (stream.h; measured on fashion-mnist at recall 0.96: prefetching
    // the codes cost 14% of QPS with the in-order VNNI kernel).
    const bool prefetch_codes = dim >= kernels.dot_i8_rows_in_order_below;
    auto prefetch_leaf = [&](size_t p) {
      if (p >= probes || !pages[p]) return;
      const LeafPage& next = *pages[p];
      if (prefetch_codes) {
        const char* bytes = reinterpret_cast<const char*>(next.codes());
        const size_t length = size_t(next.count()) * dim;
        for (size_t offset = 0; offset < length; offset += 64) __builtin_prefetch(bytes + offset);
      }
      __builtin_prefetch(next.slots());
      __builtin_prefetch(next.versions());
      __builtin_prefetch(next.scales());
      __builtin_prefetch(next.norms());
      __builtin_prefetch(next.code_sums());
    };
    prefetch_leaf(0);
    for (size_t p = 0; p < probes; ++p) {
      if (p > 0 && leaf_candidates[p].first > limit) break;
      prefetch_leaf(p + 1);
      if (!pages[p]) continue;  // a new leaf not published yet
      const LeafPage& page = *pages[p];
      const uint32_t count = page.count();
      kernels::dot_i8_rows_stream(kernels, leaf_query, page.codes(), count, dim, dim, page.code_sums(), row_dots.data());
      const uint32_t* slots = page.slots();
      const uint32_t* versions = page.versions();
      const float* scales = page.scales();
      const float* norms = page.norms();
      for (uint32_t r = 0; r < count; ++r) {
        float distance = estimate(q.scale * scales[r] * float(row_dots[r]), query_norm, norms[r]);
        if (distance < candidates.threshold() && entry_live(slots[r], versions[r])) candidates.push(distance, slots[r]);
      }
    }
    // Rerank: the candidates' f32 rows are scattered in DRAM; request them all before
    // reading any, so their misses overlap instead of queueing one after another.
    std::vector<Candidate> shortlist = candidates.take_sorted();
    // While a writer moves entries between leaves, a search may meet one item in two.
    std::sort(shortlist.begin(), shortlist.end(), [](const Candidate& a, const Candidate& b) { return a.slot < b.slot; });
    shortlist.erase(std::unique(shortlist.begin(), shortlist.end(),
                                [](const Candidate& a, const Candidate& b) { return a.slot == b.slot; }),
                    shortlist.end());
    rows = vectors_.data();
    for (const Candidate& c : shortlist) {
      const char* row = reinterpret_cast<const char*>(rows + size_t(c.slot) * dim);
      for (size_t offset = 0; offset < dim * sizeof(float); offset += 64) __builtin_prefetch(row + offset);
    }
    TopK top(params.k + kDuplicateSlack);
    for (const Candidate& c : shortlist) top.push(exact_distance(c.slot), c.slot);
    best = top.take_sorted();
  }
  distinct_hits(best, params.k, [this](uint32_t slot) -> const std::string& { return ids_[slot]; }, hits);
  return Status::ok();
}

}  // namespace loci::index
