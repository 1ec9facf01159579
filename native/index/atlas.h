// Atlas: Loci's k-NN index, a page-clustered tree.
//
//   inner nodes (RAM)   up to `fanout` children each: f32 centroids (routing, splits) and
//                       their INT8 codes (the SIMD descent), child refs, counts
//   leaves (pages)      SPANN posting lists: INT8 codes + per-entry fields of up to
//                       `capacity` vectors in one fixed-size page (docs/format/pages.md)
//   item table          id <-> slot, the f32 originals (rerank), norms, versions
//
// Search: best-first descent over inner nodes with INT8 kernels (at most `beam`
// expansions), then the nearest leaves are scanned while d(q, c_j) <= (1+eps) d(q, c_1)
// (SPANN's query-aware pruning) up to `probes` leaves, with the INT8 row kernel; the best
// `rerank` candidates are re-scored with f32 and the top k returned with exact distances.
// `effort` in (0, 1] sets all three from the tree's size; effort 1 scans every leaf.
//
// Writes: a batch at least as large as the store rebuilds the tree by hierarchical
// balanced k-means (the bulk build); smaller batches insert online: route to the nearest
// leaf and append; a full leaf first drops its stale entries, then splits by balanced
// 2-means, after which vectors of nearby leaves that are now closer to a new centroid
// move to it (SPFresh's reassignment); a node with too many children splits B+-tree
// style, up to a new root. Deletes and upserts bump the item's version (a tombstone):
// old entries stay in their pages, are skipped by searches, and are dropped when their
// leaf is compacted or split.
//
// Concurrency: searches take no lock. They pin an epoch (sync/epoch.h) and read a
// published TreeView: route nodes and leaf pages that are never changed once readers
// can see them, except that a leaf's entries may be appended (written, then the count
// released). Writers (serialised by write_mutex_) keep their own tree (nodes_, leaves_),
// change copies, publish them with one atomic store each and retire what they replaced;
// it is freed once no pinned reader can still hold it. An item's slot (id, f32 vector,
// norm) never changes while the item lives: an upsert takes a new slot, and a dead slot
// is reused only after every page that named it is unreachable and a grace period has
// passed. A search therefore sees each item as it was at some moment during the search,
// and returns exact distances for what it returns.
#pragma once

#include <atomic>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "common/id_map.h"
#include "index/leaf_page.h"
#include "index/vector_index.h"
#include "sync/stable_array.h"
#include "sync/thread_annotations.h"

namespace loci::index {

struct AtlasOptions {
  size_t dim = 0;
  Metric metric = Metric::l2;
  size_t page_size = 262144;  // leaf page bytes, a multiple of 4 KiB (default: docs/atlas.md)
  size_t fanout = 64;        // children per inner node at most
  double build_fill = 0.85;  // bulk build fills leaves to this fraction of capacity (docs/atlas.md "Defaults")
  unsigned build_threads = 2;
  // Leaves each vector is written into, 1 to kMaxReplicas (SPANN's boundary replication:
  // docs/atlas.md, "Replication"). A write policy, not part of the stored shape.
  size_t replicas = 1;
};

class Atlas final : public VectorIndex {
 public:
  static constexpr double kDefaultEffort = 0.35;
  static constexpr size_t kMaxReplicas = 8;
  // A replica goes only to a leaf whose centroid is at most this much farther (as a
  // distance, not squared) than the nearest leaf's: vectors near a boundary only.
  static constexpr double kReplicaClosure = 0.1;

  static Status create(const AtlasOptions& options, std::unique_ptr<Atlas>* atlas);
  /// Loads an Atlas saved by save() (atlas_image.cpp); CORRUPT if the image is inconsistent.
  static Status load(const AtlasOptions& options, ImageReader* reader, std::unique_ptr<Atlas>* atlas);
  ~Atlas() override;

  Status add(const std::vector<std::string>& ids, const float* vectors, size_t count, WriteMode mode) override;
  Status add_validated(const std::vector<std::string>& ids, const float* vectors, size_t count,
                       WriteMode mode) override;
  Status remove(const std::vector<std::string>& ids) override;
  Status get(const std::string& id, float* out) const override;
  bool contains(const std::string& id) const override;
  size_t size() const override;
  size_t dim() const override { return options_.dim; }
  Status search(const float* query, const SearchParams& params, std::vector<SearchHit>* hits) const override;
  IndexStats stats() const override;
  Status save(ImageWriter* writer) const override;
  Status map_saved_vectors(const std::string& path, uint64_t offset) override;
  void compact() override;
  Status check() const override { return check_invariants(); }

  /// Rebuilds the tree over the live items by the bulk build.
  Status rebuild() EXCLUDES(write_mutex_);

  /// Checks every structural invariant; used by tests. Returns the first violation.
  Status check_invariants() const;

  /// The search parameters `effort` resolves to for this tree (for docs and benchmarks).
  SearchParams resolve(const SearchParams& params) const;

  /// Publishes every pending centroid update, so searches descend on exactly the writer's
  /// centroids (tests; searches otherwise see them once kDriftPublish have gathered).
  void publish_all_drift();

  /// Drift updates a node gathers before it is republished: each republish copies the
  /// node, and a centroid moved by a few running-mean steps routes the same.
  static constexpr uint32_t kDriftPublish = 32;

 private:
  static constexpr uint32_t kNone = 0xFFFFFFFFu;

  // The writer's inner node: the published RouteNode plus what only writers use.
  struct InnerNode {
    uint32_t parent = kNone;
    std::vector<uint32_t> refs;      // leaf index or inner node index
    std::vector<uint8_t> is_leaf;
    std::vector<uint32_t> counts;    // vectors below each child (approximate after deletes)
    std::vector<float> centroids;    // children x dim, in routing space
    std::vector<int8_t> codes;       // children x dim
    std::vector<float> scales;
    std::vector<int32_t> code_sums;
    std::vector<float> norms;
    bool reshaped = false;           // children changed since the last publish
    uint32_t drift = 0;              // centroid updates since the last publish
    size_t size() const { return refs.size(); }
  };
  // What a search reads of an inner node: immutable once published.
  struct RouteNode {
    std::vector<uint32_t> refs;
    std::vector<uint8_t> is_leaf;
    std::vector<int8_t> codes;
    std::vector<float> scales;
    std::vector<int32_t> code_sums;
    std::vector<float> norms;
    size_t size() const { return refs.size(); }
  };
  // The tree searches see. Owns the route nodes and pages stored in it; a slot is null
  // between its creation and its first publish (searches skip it).
  struct TreeView {
    std::atomic<uint32_t> root{0};
    sync::StableArray<std::atomic<const RouteNode*>> nodes;
    sync::StableArray<std::atomic<LeafPage*>> leaves;
    ~TreeView();
  };
  struct Leaf {
    LeafPage* page = nullptr;  // published: owned by the view; fresh: the writer's until publish
    uint32_t parent = kNone;
    bool fresh = false;        // created or copied since the last publish
  };
  struct Child {
    bool is_leaf;
    uint32_t ref;
  };

  explicit Atlas(const AtlasOptions& options, const LeafLayout& layout);

  // Item table.
  // add() and add_validated() after their checks.
  Status add_locked(const std::vector<std::string>& ids, const float* vectors, size_t count, WriteMode mode)
      REQUIRES(write_mutex_) EXCLUDES(map_mutex_);
  uint32_t allocate_slot(const std::string& id) REQUIRES(write_mutex_);  // the caller maps the id to it
  void store_vector(uint32_t slot, const float* vector) REQUIRES(write_mutex_);
  void kill_slot(uint32_t slot) REQUIRES(write_mutex_);  // the item is deleted or has moved to a new slot
  bool alive(uint32_t slot) const { return alive_[slot].load(std::memory_order_acquire) != 0; }
  uint32_t version(uint32_t slot) const { return versions_[slot].load(std::memory_order_relaxed); }
  bool entry_live(uint32_t slot, uint32_t entry_version) const { return alive(slot) && version(slot) == entry_version; }
  void release_entry(uint32_t slot) REQUIRES(write_mutex_);  // an entry referencing slot was dropped
  void routing_vector(uint32_t slot, float* out) const;  // the vector in routing space

  // Publication (atlas_publish.cpp).
  void publish(bool all_drift) REQUIRES(write_mutex_);           // fresh leaves, reshaped and drifted nodes, the root
  void publish_everything(TreeView* view) REQUIRES(write_mutex_);  // a new view: every node and leaf
  void finish_write() REQUIRES(write_mutex_) EXCLUDES(map_mutex_);  // ...and refreshes the stats snapshot
  IndexStats compute_stats() const REQUIRES(write_mutex_) EXCLUDES(map_mutex_);                    // after publishing: slot grace periods, reclamation
  void discard_fresh_pages() REQUIRES(write_mutex_);             // the writer's unpublished pages (before a rebuild)
  RouteNode* route_node(const InnerNode& node) const;
  void mark_reshaped(uint32_t node) REQUIRES(write_mutex_);
  LeafPage* new_page(uint32_t leaf) const;
  void replace_page(uint32_t leaf, LeafPage* page) REQUIRES(write_mutex_);  // a fresh page for the leaf
  Status rebuild_locked() REQUIRES(write_mutex_);
  Status load_locked(ImageReader* reader) EXCLUDES(write_mutex_, map_mutex_);

  // Tree (atlas_tree.cpp).
  void clear_tree() REQUIRES(write_mutex_);
  Child build_subtree(const float* base, std::vector<uint32_t>& positions, const std::vector<uint32_t>& slots,
                      uint32_t parent, uint64_t seed, size_t leaf_limit, float* centroid_out) REQUIRES(write_mutex_);
  uint32_t new_leaf(uint32_t parent) REQUIRES(write_mutex_);
  uint32_t new_node(uint32_t parent) REQUIRES(write_mutex_);
  void set_child_centroid(InnerNode& node, size_t child, const float* centroid);
  void add_child(uint32_t node, Child child, const float* centroid, uint32_t count) REQUIRES(write_mutex_);
  size_t child_index(const InnerNode& node, Child child) const;
  uint32_t route(const float* routed) const REQUIRES(write_mutex_);
  void append_entry(uint32_t leaf, uint32_t slot) REQUIRES(write_mutex_);
  void move_entry(uint32_t from_leaf, uint32_t entry, uint32_t to_leaf);
  void compact_leaf(uint32_t leaf) REQUIRES(write_mutex_);
  uint32_t split_leaf(uint32_t leaf) REQUIRES(write_mutex_);
  void reassign_after_split(uint32_t parent, uint32_t first, uint32_t second, const float* old_centroid) REQUIRES(write_mutex_);
  void split_node(uint32_t node) REQUIRES(write_mutex_);
  void insert(uint32_t slot) REQUIRES(write_mutex_);
  void replicate(uint32_t slot, uint32_t leaf, const float* routed) REQUIRES(write_mutex_);  // copies beside `leaf`
  void update_path_centroids(uint32_t leaf, const float* routed) REQUIRES(write_mutex_);
  float routing_distance(const float* a, const float* b) const;
  float estimate(float dot, float query_norm, float row_norm) const;

  const AtlasOptions options_;
  const LeafLayout layout_;
  // Serialises writers (and save, check, stats, which read the writer's state).
  mutable sync::Mutex write_mutex_;
  // Guards slot_of_ between writers and get()/contains(); searches do not use it.
  mutable sync::SharedMutex map_mutex_ ACQUIRED_AFTER(write_mutex_);

  // Item table, read by searches without a lock (sync::StableArray: never moves).
  // Invariant: for every slot s < ids_.size(): alive_[s] iff slot_of_[ids_[s]] == s;
  // entry_refs_[s] counts the leaf entries holding s (live or stale); a dead slot with
  // no entries is on retiring_slots_ (waiting for readers) or free_slots_.
  sync::StableArray<std::string> ids_;
  sync::StableArray<float> norms_;
  sync::StableArray<std::atomic<uint32_t>> versions_;
  sync::StableArray<std::atomic<uint8_t>> alive_;
  FloatBuffer vectors_;  // slots x dim; mapped from the checkpoint after a reopen
  IdMap<uint32_t> slot_of_ GUARDED_BY(map_mutex_);
  std::vector<uint32_t> entry_refs_ GUARDED_BY(write_mutex_);
  // The sum of entry_refs_, which is the entries in all leaves: kept as writes go, so a
  // write's stats snapshot does not read every leaf page (check_invariants recounts it).
  size_t leaf_entries_ GUARDED_BY(write_mutex_) = 0;
  // Live entries an item may have: options_.replicas, or more where a store reopened
  // with fewer replicas holds older copies (raised by load).
  size_t most_copies_ GUARDED_BY(write_mutex_);
  std::vector<uint32_t> free_slots_ GUARDED_BY(write_mutex_);
  std::vector<uint32_t> unlinked_slots_ GUARDED_BY(write_mutex_);  // freed by this write, tagged in finish_write()
  // (epoch tag, slots) waiting for the searches that could see them to finish.
  std::deque<std::pair<uint64_t, std::vector<uint32_t>>> retiring_slots_ GUARDED_BY(write_mutex_);
  std::atomic<size_t> live_count_{0};
  size_t id_heap_bytes_ GUARDED_BY(write_mutex_) = 0;  // ids too long for the string's own buffer

  // stats() returns the snapshot the last write left, so it never waits for a write.
  mutable sync::Mutex stats_mutex_ ACQUIRED_AFTER(map_mutex_);
  IndexStats stats_ GUARDED_BY(stats_mutex_);

  // The writer's tree: nodes_[root_] is the root.
  std::vector<InnerNode> nodes_ GUARDED_BY(write_mutex_);
  std::vector<Leaf> leaves_ GUARDED_BY(write_mutex_);
  uint32_t root_ GUARDED_BY(write_mutex_) = 0;
  // Nodes drifted since their last publish (with stale and repeated entries, pruned when
  // the list outgrows the tree), and the ones the next publish() must take: reshaped, or
  // with kDriftPublish updates gathered. A write's publish() orders only the latter.
  std::vector<uint32_t> dirty_nodes_ GUARDED_BY(write_mutex_);
  std::vector<uint32_t> ready_nodes_ GUARDED_BY(write_mutex_);
  std::vector<uint32_t> fresh_leaves_ GUARDED_BY(write_mutex_);  // leaves whose page is fresh

  std::atomic<TreeView*> view_{nullptr};  // what searches read
};

}  // namespace loci::index
