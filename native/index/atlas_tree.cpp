// Atlas: the tree. Bulk build (hierarchical balanced k-means), online insert, leaf
// compaction and split with SPFresh reassignment, B+-tree style node splits, and the
// invariant checker the tests use.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>

#include "index/atlas.h"
#include "index/kmeans.h"
#include "kernels/kernels.h"
#include "kernels/quantize.h"
#include "sync/epoch.h"

namespace loci::index {
namespace {

// Balanced 2-means for splits: few points, so no sampling and one thread.
KMeansOptions split_options(uint64_t seed) {
  KMeansOptions options;
  options.k = 2;
  options.iterations = 6;
  options.balance = 0.5f;
  options.seed = seed;
  options.threads = 1;
  return options;
}

// How many vectors a leaf that SPFresh may refill receives from each split neighbour:
// the nearest few leaves are enough, since a split moves the boundary only locally.
constexpr size_t kReassignNeighbours = 8;

}  // namespace

float Atlas::routing_distance(const float* a, const float* b) const {
  return kernels::active().l2sq_f32(a, b, options_.dim);
}

void Atlas::clear_tree() {
  // The published pages belong to the view; fresh ones are the writer's to drop.
  discard_fresh_pages();
  nodes_.clear();
  leaves_.clear();
  dirty_nodes_.clear();
  ready_nodes_.clear();
  root_ = new_node(kNone);
  std::vector<float> zero(options_.dim, 0.0f);
  add_child(root_, {true, new_leaf(root_)}, zero.data(), 0);
}

uint32_t Atlas::new_leaf(uint32_t parent) {
  const uint32_t id = static_cast<uint32_t>(leaves_.size());
  leaves_.push_back({new_page(id), parent, true});
  fresh_leaves_.push_back(id);
  return id;
}

uint32_t Atlas::new_node(uint32_t parent) {
  nodes_.emplace_back();
  nodes_.back().parent = parent;
  const uint32_t id = static_cast<uint32_t>(nodes_.size() - 1);
  mark_reshaped(id);
  return id;
}

void Atlas::set_child_centroid(InnerNode& node, size_t child, const float* centroid) {
  const size_t dim = options_.dim;
  std::memcpy(&node.centroids[child * dim], centroid, dim * sizeof(float));
  kernels::QuantizedVector q = kernels::quantize_i8(centroid, dim, &node.codes[child * dim]);
  node.scales[child] = q.scale;
  node.code_sums[child] = q.code_sum;
  double norm = 0;
  for (size_t i = 0; i < dim; ++i) norm += double(centroid[i]) * centroid[i];
  node.norms[child] = static_cast<float>(std::sqrt(norm));
}

void Atlas::add_child(uint32_t node_index, Child child, const float* centroid, uint32_t count) {
  InnerNode& node = nodes_[node_index];
  const size_t dim = options_.dim;
  node.refs.push_back(child.ref);
  node.is_leaf.push_back(child.is_leaf ? 1 : 0);
  node.counts.push_back(count);
  node.centroids.resize(node.centroids.size() + dim);
  node.codes.resize(node.codes.size() + dim);
  node.scales.push_back(0);
  node.code_sums.push_back(0);
  node.norms.push_back(0);
  set_child_centroid(node, node.size() - 1, centroid);
  mark_reshaped(node_index);
  if (child.is_leaf) {
    leaves_[child.ref].parent = node_index;
  } else {
    nodes_[child.ref].parent = node_index;
  }
}

size_t Atlas::child_index(const InnerNode& node, Child child) const {
  for (size_t c = 0; c < node.size(); ++c) {
    if (node.refs[c] == child.ref && (node.is_leaf[c] != 0) == child.is_leaf) return c;
  }
  return SIZE_MAX;  // unreachable while the invariants hold
}

uint32_t Atlas::route(const float* routed) const {
  std::vector<float> distances;
  uint32_t node_index = root_;
  for (;;) {
    const InnerNode& node = nodes_[node_index];
    distances.resize(node.size());
    kernels::active().l2sq_f32_rows(routed, node.centroids.data(), node.size(), options_.dim, options_.dim,
                                    distances.data());
    size_t best = std::min_element(distances.begin(), distances.end()) - distances.begin();
    if (node.is_leaf[best]) return node.refs[best];
    node_index = node.refs[best];
  }
}

void Atlas::append_entry(uint32_t leaf, uint32_t slot) {
  // In place even on a published page: searches read entries below the count only, and
  // set_count() releases the entry written here.
  LeafPage& page = *leaves_[leaf].page;
  const uint32_t entry = page.count();
  const size_t dim = options_.dim;
  kernels::QuantizedVector q = kernels::quantize_i8(&vectors_[size_t(slot) * dim], dim, page.codes() + size_t(entry) * dim);
  page.slots()[entry] = slot;
  page.versions()[entry] = version(slot);
  page.tenants()[entry] = 0;
  page.scales()[entry] = q.scale;
  page.code_sums()[entry] = q.code_sum;
  page.norms()[entry] = norms_[slot];
  page.set_count(entry + 1);
  ++entry_refs_[slot];
  ++leaf_entries_;
}

void Atlas::compact_leaf(uint32_t leaf) {
  // Into a copy: searches may be scanning the published page.
  const LeafPage& page = *leaves_[leaf].page;
  bool stale = false;
  for (uint32_t e = 0; e < page.count() && !stale; ++e) stale = !entry_live(page.slots()[e], page.versions()[e]);
  if (!stale) return;
  LeafPage* compacted = new_page(leaf);
  uint32_t kept = 0;
  for (uint32_t e = 0; e < page.count(); ++e) {
    const uint32_t slot = page.slots()[e];
    if (entry_live(slot, page.versions()[e])) {
      compacted->copy_entry(kept++, page, e);
    } else {
      release_entry(slot);
    }
  }
  compacted->set_count(kept);
  replace_page(leaf, compacted);
}

void Atlas::update_path_centroids(uint32_t leaf, const float* routed) {
  // Running means up the path: each ancestor's entry for the child drifts toward `routed`.
  Child child{true, leaf};
  uint32_t node_index = leaves_[leaf].parent;
  const size_t dim = options_.dim;
  std::vector<float> centroid(dim);
  while (node_index != kNone) {
    InnerNode& node = nodes_[node_index];
    const size_t c = child_index(node, child);
    const float weight = 1.0f / float(++node.counts[c]);
    float* current = &node.centroids[c * dim];
    for (size_t i = 0; i < dim; ++i) centroid[i] = current[i] + (routed[i] - current[i]) * weight;
    set_child_centroid(node, c, centroid.data());
    // Searches see the drift once publish() finds enough of it (kDriftPublish).
    if (node.drift++ == 0) dirty_nodes_.push_back(node_index);
    if (node.drift == kDriftPublish) ready_nodes_.push_back(node_index);
    child = {false, node_index};
    node_index = node.parent;
  }
}

void Atlas::insert(uint32_t slot) {
  std::vector<float> routed(options_.dim);
  routing_vector(slot, routed.data());
  uint32_t leaf = route(routed.data());
  if (leaves_[leaf].page->full()) compact_leaf(leaf);
  if (leaves_[leaf].page->full()) {
    const uint32_t second = split_leaf(leaf);
    // Put the new vector into whichever half is nearer.
    auto centroid_of = [&](uint32_t l) {
      write_mutex_.assert_held();  // a lambda is checked on its own: insert() holds it
      const InnerNode& parent = nodes_[leaves_[l].parent];
      return &parent.centroids[child_index(parent, {true, l}) * options_.dim];
    };
    const uint32_t first = leaf;
    if (routing_distance(routed.data(), centroid_of(second)) < routing_distance(routed.data(), centroid_of(first))) {
      leaf = second;
    }
    // Invariant: after a split both halves have room (reassignment keeps one entry free).
    if (leaves_[leaf].page->full()) leaf = leaf == second ? first : second;
  }
  append_entry(leaf, slot);
  update_path_centroids(leaf, routed.data());
  if (options_.replicas > 1) replicate(slot, leaf, routed.data());
  publish(false);
}

void Atlas::replicate(uint32_t slot, uint32_t leaf, const float* routed) {
  // SPANN's rule, among the leaves beside `leaf` under its parent: a leaf j gets a copy
  // if its centroid is within the closure of the home leaf's distance, and no leaf
  // already holding the vector lies between it and c_j (that leaf covers c_j's
  // direction). "Between" is the Gabriel form of SPANN's RNG test,
  // d2(v,c_i) + d2(c_i,c_j) < d2(v,c_j): our centroids are means of a few hundred items,
  // far nearer one another than to any item, so the plain RNG test d(c_i,c_j) < d(v,c_j)
  // would refuse nearly every copy. A copy does not pull the leaf's running mean.
  const size_t dim = options_.dim;
  const InnerNode& node = nodes_[leaves_[leaf].parent];
  std::vector<std::pair<float, size_t>> nearby;
  float own = 0;
  size_t own_index = SIZE_MAX;
  for (size_t c = 0; c < node.size(); ++c) {
    if (!node.is_leaf[c]) continue;
    const float distance = routing_distance(routed, &node.centroids[c * dim]);
    if (node.refs[c] == leaf) {
      own = distance;
      own_index = c;
    } else {
      nearby.emplace_back(distance, c);
    }
  }
  if (own_index == SIZE_MAX) return;  // unreachable while the invariants hold
  std::sort(nearby.begin(), nearby.end());
  // Routing distances are squared: square the closure too.
  const float limit = static_cast<float>(own * (1 + kReplicaClosure) * (1 + kReplicaClosure));
  std::vector<size_t> holding = {own_index};
  for (const auto& [distance, c] : nearby) {
    if (holding.size() >= options_.replicas || distance > limit) break;
    bool covered = false;
    for (size_t held : holding) {
      const float to_held = routing_distance(routed, &node.centroids[held * dim]);
      covered = to_held + routing_distance(&node.centroids[held * dim], &node.centroids[c * dim]) < distance;
      if (covered) break;
    }
    if (covered) continue;
    const uint32_t target = node.refs[c];
    // A full leaf takes no copy (a copy never splits a leaf): the vector has its home.
    if (leaves_[target].page->full()) compact_leaf(target);
    if (leaves_[target].page->full()) continue;
    append_entry(target, slot);
    holding.push_back(c);
  }
}

uint32_t Atlas::split_leaf(uint32_t leaf) {
  const size_t dim = options_.dim;
  LeafPage& page = *leaves_[leaf].page;
  const uint32_t n = page.count();
  std::vector<float> routed(size_t(n) * dim);
  for (uint32_t e = 0; e < n; ++e) routing_vector(page.slots()[e], &routed[size_t(e) * dim]);
  std::vector<uint32_t> rows(n);
  for (uint32_t e = 0; e < n; ++e) rows[e] = e;
  KMeansResult halves = balanced_kmeans(routed.data(), rows.data(), n, dim, split_options(leaf * 7919u + n));
  if (halves.sizes.size() < 2) {
    // Identical vectors: any even split will do.
    halves.assignment.assign(n, 0);
    for (uint32_t e = n / 2; e < n; ++e) halves.assignment[e] = 1;
    halves.centroids.resize(2 * dim);
    std::copy(halves.centroids.begin(), halves.centroids.begin() + dim, halves.centroids.begin() + dim);
    halves.sizes = {n / 2, n - n / 2};
  }

  const uint32_t parent = leaves_[leaf].parent;
  const LeafPage& old_page = page;
  const uint32_t second = new_leaf(parent);
  // Both halves are new pages; the old one stays readable until publish() swaps it.
  LeafPage* first_page = new_page(leaf);
  LeafPage& second_page = *leaves_[second].page;
  uint32_t kept = 0, moved = 0;
  for (uint32_t e = 0; e < n; ++e) {
    if (halves.assignment[e] == 0) {
      first_page->copy_entry(kept++, old_page, e);
    } else {
      second_page.copy_entry(moved++, old_page, e);
    }
  }
  first_page->set_count(kept);
  second_page.set_count(moved);
  replace_page(leaf, first_page);  // frees old_page if it was fresh: not used below

  InnerNode& node = nodes_[parent];
  const size_t index = child_index(node, {true, leaf});
  std::vector<float> old_centroid(&node.centroids[index * dim], &node.centroids[index * dim] + dim);
  set_child_centroid(node, index, &halves.centroids[0]);
  node.counts[index] = kept;
  mark_reshaped(parent);
  add_child(parent, {true, second}, &halves.centroids[dim], moved);
  reassign_after_split(parent, leaf, second, old_centroid.data());
  if (nodes_[parent].size() > options_.fanout) split_node(parent);
  return second;
}

void Atlas::reassign_after_split(uint32_t parent, uint32_t first, uint32_t second, const float* old_centroid) {
  const size_t dim = options_.dim;
  InnerNode& node = nodes_[parent];
  const size_t first_index = child_index(node, {true, first}), second_index = child_index(node, {true, second});
  const float* first_centroid = &node.centroids[first_index * dim];
  const float* second_centroid = &node.centroids[second_index * dim];
  std::vector<std::pair<float, size_t>> neighbours;
  for (size_t c = 0; c < node.size(); ++c) {
    if (!node.is_leaf[c] || c == first_index || c == second_index) continue;
    neighbours.emplace_back(routing_distance(&node.centroids[c * dim], old_centroid), c);
  }
  const size_t take = std::min(kReassignNeighbours, neighbours.size());
  std::partial_sort(neighbours.begin(), neighbours.begin() + take, neighbours.end());
  std::vector<float> routed(dim);
  std::vector<uint8_t> moving;
  for (size_t n = 0; n < take; ++n) {
    const size_t c = neighbours[n].second;
    const uint32_t leaf = node.refs[c];
    const LeafPage& page = *leaves_[leaf].page;
    const uint32_t count = page.count();
    moving.assign(count, 0);
    size_t moves = 0;
    for (uint32_t e = 0; e < count; ++e) {
      const uint32_t slot = page.slots()[e];
      if (!entry_live(slot, page.versions()[e])) continue;
      routing_vector(slot, routed.data());
      const float own = routing_distance(routed.data(), &node.centroids[c * dim]);
      const float to_first = routing_distance(routed.data(), first_centroid);
      const float to_second = routing_distance(routed.data(), second_centroid);
      if (std::min(to_first, to_second) >= own) continue;
      const bool into_first = to_first <= to_second;
      LeafPage& target = *leaves_[into_first ? first : second].page;  // fresh: the split made it
      // Keep a free entry in both halves: the insert that caused the split still needs one.
      if (target.count() + 1 >= target.capacity()) continue;
      target.copy_entry(target.count(), page, e);
      target.set_count(target.count() + 1);
      moving[e] = 1;
      ++moves;
      node.counts[c] -= node.counts[c] > 0 ? 1 : 0;
      node.counts[into_first ? first_index : second_index] += 1;
    }
    if (moves == 0) continue;
    // The neighbour loses the moved entries in a copy (searches may be scanning it).
    LeafPage* rest = new_page(leaf);
    uint32_t kept = 0;
    for (uint32_t e = 0; e < count; ++e) {
      if (!moving[e]) rest->copy_entry(kept++, page, e);
    }
    rest->set_count(kept);
    replace_page(leaf, rest);
  }
}

void Atlas::split_node(uint32_t node_index) {
  const size_t dim = options_.dim;
  const size_t m = nodes_[node_index].size();
  std::vector<uint32_t> rows(m);
  for (size_t c = 0; c < m; ++c) rows[c] = static_cast<uint32_t>(c);
  KMeansResult halves = balanced_kmeans(nodes_[node_index].centroids.data(), rows.data(), m, dim,
                                        split_options(node_index * 104729u + m));
  if (halves.sizes.size() < 2) {
    halves.assignment.assign(m, 0);
    for (size_t c = m / 2; c < m; ++c) halves.assignment[c] = 1;
  }
  const uint32_t parent = nodes_[node_index].parent;
  const uint32_t sibling = new_node(parent);
  InnerNode old = std::move(nodes_[node_index]);
  InnerNode& kept = nodes_[node_index];
  kept = InnerNode();
  kept.parent = old.parent;
  std::vector<double> sums[2] = {std::vector<double>(dim, 0.0), std::vector<double>(dim, 0.0)};
  double weights[2] = {0, 0};
  for (size_t c = 0; c < m; ++c) {
    const int side = halves.assignment[c] == 0 ? 0 : 1;
    const uint32_t target = side == 0 ? node_index : sibling;
    add_child(target, {old.is_leaf[c] != 0, old.refs[c]}, &old.centroids[c * dim], old.counts[c]);
    const double weight = std::max<uint32_t>(1, old.counts[c]);
    for (size_t i = 0; i < dim; ++i) sums[side][i] += weight * old.centroids[c * dim + i];
    weights[side] += weight;
  }
  std::vector<float> centroids[2] = {std::vector<float>(dim), std::vector<float>(dim)};
  uint32_t counts[2] = {0, 0};
  for (int side = 0; side < 2; ++side) {
    for (size_t i = 0; i < dim; ++i) centroids[side][i] = static_cast<float>(sums[side][i] / weights[side]);
    for (uint32_t count : nodes_[side == 0 ? node_index : sibling].counts) counts[side] += count;
  }
  if (node_index == root_) {
    const uint32_t new_root = new_node(kNone);
    add_child(new_root, {false, node_index}, centroids[0].data(), counts[0]);
    add_child(new_root, {false, sibling}, centroids[1].data(), counts[1]);
    root_ = new_root;
    return;
  }
  InnerNode& up = nodes_[parent];
  const size_t index = child_index(up, {false, node_index});
  set_child_centroid(up, index, centroids[0].data());
  up.counts[index] = counts[0];
  mark_reshaped(parent);
  add_child(parent, {false, sibling}, centroids[1].data(), counts[1]);
  if (nodes_[parent].size() > options_.fanout) split_node(parent);
}

// ---- bulk build -----------------------------------------------------------------------

Atlas::Child Atlas::build_subtree(const float* base, std::vector<uint32_t>& rows, const std::vector<uint32_t>& row_slots,
                                  uint32_t parent, uint64_t seed, size_t leaf_limit, float* centroid_out) {
  const size_t dim = options_.dim;
  const size_t n = rows.size();
  std::vector<double> sum(dim, 0.0);
  for (uint32_t row : rows) {
    const float* v = base + size_t(row) * dim;
    for (size_t i = 0; i < dim; ++i) sum[i] += v[i];
  }
  for (size_t i = 0; i < dim; ++i) centroid_out[i] = n ? static_cast<float>(sum[i] / n) : 0.0f;

  const size_t leaf_target = std::max<size_t>(1, static_cast<size_t>(layout_.capacity * options_.build_fill));
  if (n <= leaf_limit) {
    const uint32_t leaf = new_leaf(parent);
    for (uint32_t row : rows) append_entry(leaf, row_slots[row]);
    return {true, leaf};
  }
  const uint32_t node = new_node(parent);
  KMeansOptions options;
  const size_t leaves_needed = (n + leaf_target - 1) / leaf_target;
  options.k = std::min(options_.fanout, leaves_needed);
  // A child that fits in a page becomes one leaf, at any level: a cluster the balancing
  // left a little over the target (or a small cluster of skewed data one level up),
  // split in two, would make two leaves of half the target (docs/atlas.md, "Defaults").
  const size_t child_limit = layout_.capacity;
  if (leaves_needed <= options_.fanout) {
    // The children are leaves: each must fit a page, and none should be a sliver.
    options.max_size = layout_.capacity;
    options.min_fraction = 0.25f;
  }
  options.seed = seed;
  options.threads = options_.build_threads;
  KMeansResult clusters = balanced_kmeans(base, rows.data(), n, dim, options);
  std::vector<std::vector<uint32_t>> groups(clusters.sizes.size());
  if (groups.size() < 2) {
    // All points identical: cut them into equal runs, at most fanout of them (deeper
    // levels cut further).
    const size_t runs = std::max<size_t>(2, std::min(options_.fanout, leaves_needed));
    const size_t run = (n + runs - 1) / runs;
    groups.assign(runs, {});
    for (size_t i = 0; i < n; ++i) groups[i / run].push_back(rows[i]);
    while (groups.back().empty()) groups.pop_back();
  } else {
    for (size_t i = 0; i < n; ++i) groups[clusters.assignment[i]].push_back(rows[i]);
  }
  rows.clear();
  rows.shrink_to_fit();
  std::vector<float> child_centroid(dim);
  for (size_t g = 0; g < groups.size(); ++g) {
    const uint32_t count = static_cast<uint32_t>(groups[g].size());
    Child child = build_subtree(base, groups[g], row_slots, node, seed * 6364136223846793005ull + g + 1, child_limit, child_centroid.data());
    add_child(node, child, child_centroid.data(), count);
  }
  return {false, node};
}

Status Atlas::rebuild() {
  sync::MutexLock lock(write_mutex_);
  Status status = rebuild_locked();
  finish_write();
  return status;
}

Status Atlas::rebuild_locked() {
  // The new tree is built beside the published one and replaces it in one store.
  const size_t dim = options_.dim;
  std::vector<uint32_t> live;
  live.reserve(live_count_);
  for (uint32_t slot = 0; slot < ids_.size(); ++slot) {
    if (alive(slot)) {
      live.push_back(slot);
    } else if (entry_refs_[slot] > 0) {
      unlinked_slots_.push_back(slot);  // its entries go with the old tree
    }
    entry_refs_[slot] = 0;
  }
  leaf_entries_ = 0;
  struct Publish {  // whichever way the build ends, searches get the new tree
    Atlas* atlas;
    ~Publish() {
      atlas->write_mutex_.assert_held();  // rebuild_locked()'s caller holds it
      TreeView* fresh = new TreeView();
      atlas->publish_everything(fresh);
      TreeView* old = atlas->view_.exchange(fresh, std::memory_order_acq_rel);
      sync::EpochDomain::global().retire(old);
    }
  } publish{this};
  clear_tree();
  if (live.empty()) return Status::ok();
  discard_fresh_pages();  // clear_tree's empty leaf
  nodes_.clear();
  leaves_.clear();

  // Rows of `base` in routing space: the f32 table itself, or unit copies for cosine.
  std::vector<float> normalized;
  const float* base = vectors_.data();
  std::vector<uint32_t> rows, row_slots;
  if (options_.metric == Metric::cosine) {
    normalized.resize(live.size() * dim);
    row_slots = live;
    for (size_t i = 0; i < live.size(); ++i) routing_vector(live[i], &normalized[i * dim]);
    base = normalized.data();
    rows.resize(live.size());
    for (size_t i = 0; i < live.size(); ++i) rows[i] = static_cast<uint32_t>(i);
  } else {
    row_slots.resize(ids_.size());
    for (uint32_t slot = 0; slot < ids_.size(); ++slot) row_slots[slot] = slot;
    rows = live;
  }
  root_ = new_node(kNone);
  std::vector<float> centroid(dim);
  const uint32_t count = static_cast<uint32_t>(rows.size());
  const size_t leaf_target = std::max<size_t>(1, static_cast<size_t>(layout_.capacity * options_.build_fill));
  Child top = build_subtree(base, rows, row_slots, root_, 0x5eed, leaf_target, centroid.data());
  if (top.is_leaf) {
    add_child(root_, top, centroid.data(), count);
  } else {
    // The subtree's own node becomes the root: drop the placeholder.
    nodes_[top.ref].parent = kNone;
    root_ = top.ref;
    nodes_.erase(nodes_.begin());  // the placeholder is node 0: renumber every node ref
    for (InnerNode& node : nodes_) {
      if (node.parent != kNone) --node.parent;
      for (size_t c = 0; c < node.size(); ++c) {
        if (!node.is_leaf[c]) --node.refs[c];
      }
    }
    for (Leaf& leaf : leaves_) --leaf.parent;
    --root_;
  }
  if (options_.replicas > 1) {
    // Copies after the build, by the online rule: each item's home is the leaf the
    // clustering gave it (collected first, since copies land in the leaves walked).
    std::vector<std::pair<uint32_t, uint32_t>> homes;  // (leaf, slot)
    homes.reserve(live.size());
    for (uint32_t leaf = 0; leaf < leaves_.size(); ++leaf) {
      const LeafPage& page = *leaves_[leaf].page;
      for (uint32_t e = 0; e < page.count(); ++e) homes.emplace_back(leaf, page.slots()[e]);
    }
    std::vector<float> routed(dim);
    for (const auto& [leaf, slot] : homes) {
      routing_vector(slot, routed.data());
      replicate(slot, leaf, routed.data());
    }
  }
  return Status::ok();
}

Status Atlas::check_invariants() const {
  sync::MutexLock lock(write_mutex_);
  sync::ReaderLock map_lock(map_mutex_);
  auto broken = [](const std::string& what) { return Status::error(StatusCode::internal, "atlas invariant: " + what); };
  if (nodes_[root_].parent != kNone) return broken("root has a parent");
  std::vector<uint32_t> refs(ids_.size(), 0), live_entries(ids_.size(), 0);
  std::vector<uint8_t> leaf_seen(leaves_.size(), 0), node_seen(nodes_.size(), 0);
  std::vector<uint32_t> stack = {root_};
  while (!stack.empty()) {
    const uint32_t index = stack.back();
    stack.pop_back();
    if (node_seen[index]++) return broken("node reached twice");
    const InnerNode& node = nodes_[index];
    if (node.size() == 0) return broken("empty inner node");
    if (node.size() > options_.fanout) return broken("node over fanout");
    for (size_t c = 0; c < node.size(); ++c) {
      if (node.is_leaf[c]) {
        const uint32_t leaf = node.refs[c];
        if (leaf >= leaves_.size() || leaves_[leaf].parent != index) return broken("leaf parent mismatch");
        if (leaf_seen[leaf]++) return broken("leaf reached twice");
        const LeafPage& page = *leaves_[leaf].page;
        if (page.count() > page.capacity()) return broken("leaf over capacity");
        for (uint32_t e = 0; e < page.count(); ++e) {
          const uint32_t slot = page.slots()[e];
          if (slot >= ids_.size()) return broken("entry slot out of range");
          ++refs[slot];
          if (entry_live(slot, page.versions()[e])) ++live_entries[slot];
        }
      } else {
        const uint32_t child = node.refs[c];
        if (child >= nodes_.size() || nodes_[child].parent != index) return broken("node parent mismatch");
        stack.push_back(child);
      }
    }
  }
  for (size_t l = 0; l < leaves_.size(); ++l) {
    if (!leaf_seen[l]) return broken("unreachable leaf " + std::to_string(l));
  }
  size_t live = 0;
  for (uint32_t slot = 0; slot < ids_.size(); ++slot) {
    if (refs[slot] != entry_refs_[slot]) return broken("entry_refs mismatch for slot " + std::to_string(slot));
    if (alive(slot)) {
      ++live;
      if (live_entries[slot] < 1 || live_entries[slot] > most_copies_) {
        return broken("live item with " + std::to_string(live_entries[slot]) + " live entries: " + ids_[slot]);
      }
      auto found = slot_of_.find(ids_[slot]);
      if (found == slot_of_.end() || found->second != slot) return broken("id table mismatch");
    }
  }
  if (live != live_count_ || live != slot_of_.size()) return broken("live count mismatch");
  size_t entries = 0;
  for (uint32_t count : refs) entries += count;
  if (entries != leaf_entries_) return broken("leaf entry count mismatch");
  std::vector<uint8_t> unused(ids_.size(), 0);
  auto check_unused = [&](uint32_t slot) {
    write_mutex_.assert_held();  // held by check_invariants(), which runs this lambda
    if (alive(slot) || entry_refs_[slot] != 0 || unused[slot]++) return false;
    return true;
  };
  for (uint32_t slot : free_slots_) {
    if (!check_unused(slot)) return broken("free slot still in use or listed twice");
  }
  for (const auto& batch : retiring_slots_) {
    for (uint32_t slot : batch.second) {
      if (!check_unused(slot)) return broken("retiring slot still in use or listed twice");
    }
  }
  for (uint32_t slot = 0; slot < ids_.size(); ++slot) {
    if (!alive(slot) && entry_refs_[slot] == 0 && !unused[slot]) return broken("dead slot " + std::to_string(slot) + " lost");
  }

  // What searches see: every page and node published as the writer has it (a write
  // publishes before it returns), only centroid drift may wait.
  const TreeView* view = view_.load(std::memory_order_acquire);
  if (!fresh_leaves_.empty()) return broken("unpublished leaf pages after a write");
  if (view->root.load() != root_) return broken("published root differs");
  if (view->leaves.size() < leaves_.size() || view->nodes.size() < nodes_.size()) return broken("view smaller than the tree");
  for (size_t l = 0; l < leaves_.size(); ++l) {
    if (view->leaves[l].load() != leaves_[l].page) return broken("published page differs for leaf " + std::to_string(l));
  }
  for (size_t n = 0; n < nodes_.size(); ++n) {
    const RouteNode* route = view->nodes[n].load();
    if (!route) return broken("unpublished node " + std::to_string(n));
    if (route->refs != nodes_[n].refs || route->is_leaf != nodes_[n].is_leaf) return broken("published node differs: " + std::to_string(n));
    if (nodes_[n].drift == 0 && route->codes != nodes_[n].codes) return broken("published codes differ: node " + std::to_string(n));
  }
  // Drift that waits must be listed, or publish_all_drift() would never send it out.
  std::vector<uint8_t> listed(nodes_.size(), 0);
  for (uint32_t node : dirty_nodes_) {
    if (node < nodes_.size()) listed[node] = 1;
  }
  for (size_t n = 0; n < nodes_.size(); ++n) {
    if (nodes_[n].reshaped) return broken("reshaped node not published: " + std::to_string(n));
    if (nodes_[n].drift > 0 && !listed[n]) return broken("drifting node not listed: " + std::to_string(n));
  }
  return Status::ok();
}

}  // namespace loci::index
