// Atlas images: save() at a checkpoint, load() at open. Formats: docs/format/checkpoint.md.
#include <cmath>
#include <cstring>
#include <mutex>

#include "common/coding.h"
#include "index/atlas.h"
#include "sync/grow_map.h"

namespace loci::index {

Status Atlas::save(ImageWriter* writer) const {
  sync::MutexLock lock(write_mutex_);
  LOCI_RETURN_IF_ERROR(writer->slots(ids_.size(), [this](size_t slot) {
    return SlotRecord{&ids_[slot], version(static_cast<uint32_t>(slot)), alive(static_cast<uint32_t>(slot))};
  }));
  LOCI_RETURN_IF_ERROR(writer->vectors(vectors_.data(), ids_.size()));
  std::string payload;
  coding::put_u32(&payload, root_);
  coding::put_u32(&payload, static_cast<uint32_t>(leaves_.size()));
  coding::put_u32(&payload, static_cast<uint32_t>(nodes_.size()));
  for (const Leaf& leaf : leaves_) coding::put_u32(&payload, leaf.parent);  // one per leaf, in order
  for (const InnerNode& node : nodes_) {
    coding::put_u32(&payload, node.parent);
    coding::put_u32(&payload, static_cast<uint32_t>(node.size()));
    for (size_t c = 0; c < node.size(); ++c) {
      coding::put_u32(&payload, node.refs[c]);
      coding::put_u8(&payload, node.is_leaf[c]);
      coding::put_u32(&payload, node.counts[c]);
    }
    for (float value : node.centroids) coding::put_f32(&payload, value);
  }
  LOCI_RETURN_IF_ERROR(writer->tree(payload));
  for (const Leaf& leaf : leaves_) LOCI_RETURN_IF_ERROR(writer->leaf(*leaf.page));
  return Status::ok();
}

void Atlas::compact() {
  sync::MutexLock lock(write_mutex_);
  for (uint32_t l = 0; l < leaves_.size(); ++l) compact_leaf(l);  // copies only leaves with stale entries
  publish(true);
  finish_write();
}

Status Atlas::map_saved_vectors(const std::string& path, uint64_t offset) {
  sync::MutexLock lock(write_mutex_);
  // save() wrote one row per slot, and writes have been held off since.
  Status status = vectors_.map_prefix(path, offset, ids_.size() * options_.dim);
  finish_write();  // the stats snapshot now counts the mapped bytes
  return status;
}

Status Atlas::load(const AtlasOptions& options, ImageReader* reader, std::unique_ptr<Atlas>* result) {
  std::unique_ptr<Atlas> atlas;
  LOCI_RETURN_IF_ERROR(create(options, &atlas));
  Status status = atlas->load_locked(reader);
  if (!status.is_ok()) return status;
  {
    sync::MutexLock lock(atlas->write_mutex_);
    atlas->finish_write();  // the first stats snapshot (it takes map_mutex_, which load_locked held)
  }
  // Checked after the locks are gone (check_invariants takes them).
  Status invariants = atlas->check_invariants();
  if (!invariants.is_ok()) {
    return Status::error(StatusCode::corrupt, reader->where_tree() + ": " + invariants.message() +
                                                  " (tree and leaf pages disagree; run `loci verify`; restore the store from a backup)");
  }
  *result = std::move(atlas);
  return Status::ok();
}

Status Atlas::load_locked(ImageReader* reader) {
  // Nobody else can reach the new index yet: the locks are for the analysis.
  sync::MutexLock lock(write_mutex_);
  sync::WriterLock map_lock(map_mutex_);
  const AtlasOptions& options = options_;
  const size_t dim = options.dim;
  // Messages name the file and offset the reader says the part came from.
  auto corrupt_at = [](const std::string& where, const std::string& why) {
    return Status::error(StatusCode::corrupt, where + ": " + why + " (run `loci verify`; restore the store from a backup)");
  };
  auto corrupt = [&](const std::string& why) { return corrupt_at(reader->where_tree(), why); };

  // Slot table and vectors. No search can run yet: plain stores will do.
  std::vector<std::string> ids;
  std::vector<uint32_t> versions;
  std::vector<uint8_t> alive_flags;
  LOCI_RETURN_IF_ERROR(reader->slots(&ids, &versions, &alive_flags));
  const size_t slots = ids.size();
  if (slots >= kNone) return corrupt("too many slots");
  LOCI_RETURN_IF_ERROR(reader->vectors(slots, &vectors_));
  ids_.grow_to(slots);
  versions_.grow_to(slots);
  alive_.grow_to(slots);
  // Norms come from the live leaf entries below (each holds its item's norm), which
  // saves recomputing them from every vector.
  norms_.grow_to(slots);
  entry_refs_.assign(slots, 0);
  leaf_entries_ = 0;
  sync::reserve_for_load(slot_of_, slots);
  size_t live = 0;
  for (uint32_t slot = 0; slot < slots; ++slot) {
    versions_[slot].store(versions[slot], std::memory_order_relaxed);
    alive_[slot].store(alive_flags[slot] ? 1 : 0, std::memory_order_relaxed);
    if (alive_flags[slot]) {
      if (!slot_of_.emplace(ids[slot], slot).second) return corrupt_at(reader->where_slots(), "id stored twice: " + ids[slot]);
      ++live;
    }
    ids_[slot] = std::move(ids[slot]);
  }
  live_count_.store(live);

  // Tree payload: root, leaf parents, inner nodes (centroid codes are recomputed).
  std::string payload;
  LOCI_RETURN_IF_ERROR(reader->tree(&payload));
  coding::Reader in(payload);
  uint32_t root = 0, leaf_count = 0, node_count = 0;
  if (!in.u32(&root) || !in.u32(&leaf_count) || !in.u32(&node_count)) return corrupt("tree header cut short");
  if (node_count == 0 || root >= node_count || leaf_count != reader->leaf_count()) {
    return corrupt("tree header disagrees with the pages (root " + std::to_string(root) + ", " +
                   std::to_string(node_count) + " nodes, " + std::to_string(leaf_count) + " leaves)");
  }
  if (size_t(node_count) * 9 > in.remaining() || size_t(leaf_count) * 4 > in.remaining()) return corrupt("tree cut short");
  std::vector<uint32_t> leaf_parents(leaf_count);
  for (uint32_t& parent : leaf_parents) {
    if (!in.u32(&parent)) return corrupt("leaf parents cut short");
  }
  nodes_.clear();
  leaves_.clear();
  dirty_nodes_.clear();
  ready_nodes_.clear();
  nodes_.resize(node_count);
  for (InnerNode& node : nodes_) {
    uint32_t children = 0;
    if (!in.u32(&node.parent) || !in.u32(&children)) return corrupt("inner node cut short");
    if (children == 0 || children > options.fanout || size_t(children) * (9 + 4 * dim) > in.remaining()) {
      return corrupt("inner node with " + std::to_string(children) + " children");
    }
    node.refs.resize(children);
    node.is_leaf.resize(children);
    node.counts.resize(children);
    for (uint32_t c = 0; c < children; ++c) {
      in.u32(&node.refs[c]);
      in.u8(&node.is_leaf[c]);
      in.u32(&node.counts[c]);
      const uint32_t limit = node.is_leaf[c] ? leaf_count : node_count;
      if (node.is_leaf[c] > 1 || node.refs[c] >= limit) return corrupt("child reference out of range");
    }
    node.centroids.resize(size_t(children) * dim);
    node.codes.resize(size_t(children) * dim);
    node.scales.resize(children);
    node.code_sums.resize(children);
    node.norms.resize(children);
    for (float& value : node.centroids) in.f32(&value);
    if (!in.ok()) return corrupt("inner node cut short");
    for (uint32_t c = 0; c < children; ++c) {
      std::vector<float> centroid(node.centroids.begin() + size_t(c) * dim, node.centroids.begin() + size_t(c + 1) * dim);
      set_child_centroid(node, c, centroid.data());
    }
  }
  if (in.remaining() != 0) return corrupt("trailing bytes after the tree");
  root_ = root;

  // Leaf pages.
  std::vector<std::unique_ptr<LeafPage>> pages;
  LOCI_RETURN_IF_ERROR(reader->leaves(layout_, &pages));
  if (pages.size() != leaf_count) return corrupt("leaf page count disagrees with the tree");
  leaves_.reserve(leaf_count);
  std::vector<uint8_t> copies(slots, 0);  // live entries per slot, at most kMaxReplicas
  for (uint32_t l = 0; l < leaf_count; ++l) {
    std::unique_ptr<LeafPage>& page = pages[l];
    for (uint32_t e = 0; e < page->count(); ++e) {
      const uint32_t slot = page->slots()[e];
      if (slot >= slots) return corrupt_at(reader->where_leaf(l), "leaf " + std::to_string(l) + " refers to slot " + std::to_string(slot) + " of " + std::to_string(slots));
      ++entry_refs_[slot];
      ++leaf_entries_;
      if (!entry_live(slot, page->versions()[e])) continue;
      norms_[slot] = page->norms()[e];
      if (++copies[slot] > kMaxReplicas) {
        return corrupt_at(reader->where_leaf(l), "slot " + std::to_string(slot) + " has more than " +
                                                     std::to_string(kMaxReplicas) + " live entries");
      }
      most_copies_ = std::max<size_t>(most_copies_, copies[slot]);
    }
    if (leaf_parents[l] >= node_count) return corrupt("leaf parent out of range");
    leaves_.push_back({page.release(), leaf_parents[l], true});
    fresh_leaves_.push_back(l);
  }
  for (uint32_t slot = 0; slot < slots; ++slot) {
    if (!alive(slot) && entry_refs_[slot] == 0) {
      ids_[slot].clear();
      free_slots_.push_back(slot);
    }
  }
  id_heap_bytes_ = 0;
  for (uint32_t slot = 0; slot < slots; ++slot) id_heap_bytes_ += ids_[slot].size() > 15 ? ids_[slot].capacity() : 0;
  // The loaded tree becomes the view searches read (the empty one create() made goes).
  TreeView* view = new TreeView();
  publish_everything(view);
  delete view_.exchange(view);
  return Status::ok();
}

}  // namespace loci::index
