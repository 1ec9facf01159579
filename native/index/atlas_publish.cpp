// Atlas: how writers hand their changes to lock-free searches. The writer builds fresh
// pages and edits its own inner nodes; publish() stores each into the TreeView searches
// read (one atomic exchange per page or node) and retires what it replaced, which epoch
// reclamation frees once no pinned search can hold it. See atlas.h, "Concurrency".
#include <sys/mman.h>

#include <algorithm>

#include "index/atlas.h"
#include "sync/epoch.h"

namespace loci::index {
namespace {

sync::EpochDomain& epochs() { return sync::EpochDomain::global(); }

// The vectors buffer moved (it outgrew its reservation): searches may still read rows
// from the old region, so unmap it only after they are done.
struct Region {
  void* base;
  size_t bytes;
};
void unmap_later(void* base, size_t bytes) {
  epochs().retire(new Region{base, bytes}, [](void* object) {
    Region* region = static_cast<Region*>(object);
    munmap(region->base, region->bytes);
    delete region;
  });
}

}  // namespace

Atlas::TreeView::~TreeView() {
  for (size_t n = 0; n < nodes.size(); ++n) delete nodes[n].load(std::memory_order_relaxed);
  for (size_t l = 0; l < leaves.size(); ++l) delete leaves[l].load(std::memory_order_relaxed);
}

Atlas::Atlas(const AtlasOptions& options, const LeafLayout& layout) : options_(options), layout_(layout) {
  vectors_.set_region_releaser(unmap_later);
  sync::MutexLock lock(write_mutex_);  // nobody else can reach it yet; for the analysis
  most_copies_ = options.replicas;
  TreeView* view = new TreeView();
  clear_tree();
  publish_everything(view);
  view_.store(view, std::memory_order_release);
  finish_write();  // the first stats snapshot
}

Atlas::~Atlas() {
  // No search runs now (the owner's contract), so nothing needs a grace period.
  sync::MutexLock lock(write_mutex_);
  discard_fresh_pages();
  delete view_.load(std::memory_order_relaxed);
  epochs().reclaim();
}

LeafPage* Atlas::new_page(uint32_t leaf) const { return new LeafPage(layout_, leaf); }

void Atlas::replace_page(uint32_t leaf, LeafPage* page) {
  Leaf& entry = leaves_[leaf];
  if (entry.fresh) {
    delete entry.page;  // never published: no reader has it
  } else {
    fresh_leaves_.push_back(leaf);  // the published page stays until publish() swaps it
  }
  entry.page = page;
  entry.fresh = true;
}

void Atlas::mark_reshaped(uint32_t node) {
  nodes_[node].reshaped = true;
  ready_nodes_.push_back(node);
}

Atlas::RouteNode* Atlas::route_node(const InnerNode& node) const {
  RouteNode* route = new RouteNode();
  route->refs = node.refs;
  route->is_leaf = node.is_leaf;
  route->codes = node.codes;
  route->scales = node.scales;
  route->code_sums = node.code_sums;
  route->norms = node.norms;
  return route;
}

void Atlas::publish(bool all_drift) {
  TreeView* view = view_.load(std::memory_order_relaxed);
  view->leaves.grow_to(leaves_.size());
  view->nodes.grow_to(nodes_.size());
  // Leaves first: a node published below may name a leaf that is new.
  for (uint32_t leaf : fresh_leaves_) {
    Leaf& entry = leaves_[leaf];
    if (!entry.fresh) continue;  // listed twice
    LeafPage* old = view->leaves[leaf].exchange(entry.page, std::memory_order_acq_rel);
    if (old) epochs().retire(old);
    entry.fresh = false;
  }
  fresh_leaves_.clear();
  // Most writes drift a few nodes a little: only the nodes that must go out now are
  // ordered here, not every node with some drift waiting.
  std::vector<uint32_t>& due = ready_nodes_;
  if (all_drift) due.insert(due.end(), dirty_nodes_.begin(), dirty_nodes_.end());
  if (!due.empty()) {
    // Children before parents (deepest first), so a search rarely meets a child that
    // is not published yet; one that does skips it.
    auto depth = [this](uint32_t node) {
      write_mutex_.assert_held();  // publish() holds it
      size_t d = 0;
      for (uint32_t n = nodes_[node].parent; n != kNone; n = nodes_[n].parent) ++d;
      return d;
    };
    std::sort(due.begin(), due.end());
    due.erase(std::unique(due.begin(), due.end()), due.end());
    std::vector<std::pair<size_t, uint32_t>> order;
    for (uint32_t node : due) order.emplace_back(depth(node), node);
    std::sort(order.rbegin(), order.rend());
    for (const auto& [unused, node] : order) {
      InnerNode& inner = nodes_[node];
      if (!inner.reshaped && (inner.drift == 0 || (!all_drift && inner.drift < kDriftPublish))) continue;
      const RouteNode* old = view->nodes[node].exchange(route_node(inner), std::memory_order_acq_rel);
      if (old) epochs().retire(const_cast<RouteNode*>(old));
      inner.reshaped = false;
      inner.drift = 0;
    }
    due.clear();
  }
  if (all_drift) {
    dirty_nodes_.clear();  // every drift is published
  } else if (dirty_nodes_.size() > 2 * nodes_.size() + 64) {
    // Entries of nodes published since (or listed again after a publish) pile up: keep
    // one entry per node still drifting.
    std::sort(dirty_nodes_.begin(), dirty_nodes_.end());
    dirty_nodes_.erase(std::unique(dirty_nodes_.begin(), dirty_nodes_.end()), dirty_nodes_.end());
    dirty_nodes_.erase(std::remove_if(dirty_nodes_.begin(), dirty_nodes_.end(),
                                      [this](uint32_t node) {
                                        write_mutex_.assert_held();  // publish() holds it
                                        return nodes_[node].drift == 0;
                                      }),
                       dirty_nodes_.end());
  }
  view->root.store(root_, std::memory_order_release);
}

void Atlas::publish_everything(TreeView* view) {
  view->leaves.grow_to(leaves_.size());
  view->nodes.grow_to(nodes_.size());
  for (uint32_t l = 0; l < leaves_.size(); ++l) {
    view->leaves[l].store(leaves_[l].page, std::memory_order_release);
    leaves_[l].fresh = false;
  }
  for (uint32_t n = 0; n < nodes_.size(); ++n) {
    view->nodes[n].store(route_node(nodes_[n]), std::memory_order_release);
    nodes_[n].reshaped = false;
    nodes_[n].drift = 0;
  }
  view->root.store(root_, std::memory_order_release);
  fresh_leaves_.clear();
  dirty_nodes_.clear();
  ready_nodes_.clear();
}

void Atlas::publish_all_drift() {
  sync::MutexLock lock(write_mutex_);
  publish(true);
  finish_write();
}

void Atlas::discard_fresh_pages() {
  for (uint32_t leaf : fresh_leaves_) {
    Leaf& entry = leaves_[leaf];
    if (entry.fresh) delete entry.page;
    entry.fresh = false;
  }
  fresh_leaves_.clear();
}

void Atlas::finish_write() {
  sync::EpochDomain& domain = epochs();
  if (!unlinked_slots_.empty()) {
    // The pages that named these slots are unlinked now: once every search pinned
    // before this tag is gone, nobody can reach the slots and they may be reused.
    retiring_slots_.emplace_back(domain.advance(), std::move(unlinked_slots_));
    unlinked_slots_.clear();
  }
  domain.reclaim();
  while (!retiring_slots_.empty() && domain.passed(retiring_slots_.front().first)) {
    for (uint32_t slot : retiring_slots_.front().second) {
      if (ids_[slot].size() > 15) id_heap_bytes_ -= ids_[slot].capacity();
      ids_[slot].clear();
      free_slots_.push_back(slot);
    }
    retiring_slots_.pop_front();
  }
  IndexStats stats = compute_stats();
  sync::MutexLock lock(stats_mutex_);
  stats_ = stats;
}

}  // namespace loci::index
