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
#pragma once

#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "index/leaf_page.h"
#include "index/vector_index.h"

namespace loci::index {

struct AtlasOptions {
  size_t dim = 0;
  Metric metric = Metric::l2;
  size_t page_size = 262144;  // leaf page bytes, a multiple of 4 KiB (default: docs/atlas.md)
  size_t fanout = 64;        // children per inner node at most
  double build_fill = 0.75;  // bulk build fills leaves to this fraction of capacity
  unsigned build_threads = 2;
};

class Atlas final : public VectorIndex {
 public:
  static constexpr double kDefaultEffort = 0.35;

  static Status create(const AtlasOptions& options, std::unique_ptr<Atlas>* atlas);
  /// Loads an Atlas saved by save() (atlas_image.cpp); CORRUPT if the image is inconsistent.
  static Status load(const AtlasOptions& options, ImageReader* reader, std::unique_ptr<Atlas>* atlas);

  Status add(const std::vector<std::string>& ids, const float* vectors, size_t count, WriteMode mode) override;
  Status remove(const std::vector<std::string>& ids) override;
  Status get(const std::string& id, float* out) const override;
  bool contains(const std::string& id) const override;
  size_t size() const override;
  size_t dim() const override { return options_.dim; }
  Status search(const float* query, const SearchParams& params, std::vector<SearchHit>* hits) const override;
  IndexStats stats() const override;
  Status save(ImageWriter* writer) const override;
  void compact() override;
  Status check() const override { return check_invariants(); }

  /// Rebuilds the tree over the live items by the bulk build.
  Status rebuild();

  /// Checks every structural invariant; used by tests. Returns the first violation.
  Status check_invariants() const;

  /// The search parameters `effort` resolves to for this tree (for docs and benchmarks).
  SearchParams resolve(const SearchParams& params) const;

 private:
  static constexpr uint32_t kNone = 0xFFFFFFFFu;

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
    size_t size() const { return refs.size(); }
  };
  struct Leaf {
    std::unique_ptr<LeafPage> page;
    uint32_t parent = kNone;
  };
  struct Child {
    bool is_leaf;
    uint32_t ref;
  };

  explicit Atlas(const AtlasOptions& options, const LeafLayout& layout);

  // Item table.
  uint32_t allocate_slot(const std::string& id);
  void store_vector(uint32_t slot, const float* vector);
  bool entry_live(uint32_t slot, uint32_t version) const { return alive_[slot] && versions_[slot] == version; }
  void release_entry(uint32_t slot);  // an entry referencing slot was dropped
  void routing_vector(uint32_t slot, float* out) const;  // the vector in routing space

  // Tree (atlas_write.cpp, atlas_build.cpp).
  void clear_tree();
  Child build_subtree(const float* base, std::vector<uint32_t>& positions, const std::vector<uint32_t>& slots,
                      uint32_t parent, uint64_t seed, float* centroid_out);
  uint32_t new_leaf(uint32_t parent);
  uint32_t new_node(uint32_t parent);
  void set_child_centroid(InnerNode& node, size_t child, const float* centroid);
  void add_child(uint32_t node, Child child, const float* centroid, uint32_t count);
  size_t child_index(const InnerNode& node, Child child) const;
  uint32_t route(const float* routed) const;
  void append_entry(uint32_t leaf, uint32_t slot);
  void move_entry(uint32_t from_leaf, uint32_t entry, uint32_t to_leaf);
  void compact_leaf(uint32_t leaf);
  uint32_t split_leaf(uint32_t leaf);
  void reassign_after_split(uint32_t parent, uint32_t first, uint32_t second, const float* old_centroid);
  void split_node(uint32_t node);
  void insert(uint32_t slot);
  void update_path_centroids(uint32_t leaf, const float* routed);
  float routing_distance(const float* a, const float* b) const;
  float estimate(float dot, float query_norm, float row_norm) const;

  const AtlasOptions options_;
  const LeafLayout layout_;
  mutable std::shared_mutex mutex_;

  // Invariant: for every slot s < ids_.size(): alive_[s] iff slot_of_[ids_[s]] == s;
  // entry_refs_[s] counts the leaf entries holding s (live or stale); a slot is on
  // free_slots_ iff it is dead and entry_refs_[s] == 0.
  std::vector<std::string> ids_;
  std::unordered_map<std::string, uint32_t> slot_of_;
  FloatBuffer vectors_;  // slots x dim; mapped from the checkpoint after a reopen
  std::vector<float> norms_;
  std::vector<uint32_t> versions_;
  std::vector<uint8_t> alive_;
  std::vector<uint32_t> entry_refs_;
  std::vector<uint32_t> free_slots_;
  size_t live_count_ = 0;

  std::vector<InnerNode> nodes_;  // nodes_[root_] is the root
  std::vector<Leaf> leaves_;
  uint32_t root_ = 0;
};

}  // namespace loci::index
