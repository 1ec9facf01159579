// IdMap: a hash map from item id (std::string) to a value, for the tables that hold one
// entry per item (the engine's item table, each index's id -> slot map).
//
// Why not std::unordered_map: it allocates a node per entry and chains buckets, so
// filling it with a million ids at open is a million mallocs and two or three cache
// misses each (~300-400 ns an insert on our 2-core machines, most of a 1M-item reopen).
// Here the entries live in one dense vector (insertion order; an erase moves the last
// entry into the hole) and an open-addressing index of 8-byte buckets (entry position
// and the key's hash) points into it: an insert is an append plus, usually, one bucket
// probe; a miss compares hashes, not strings. Linear probing with backward-shift
// deletion, so there are no tombstones to sweep.
//
// The subset of std::unordered_map's interface the callers use, with two differences:
// an insert may move every entry (iterators and references do not survive one), and an
// erase moves the last entry into the erased one's place.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "common/huge_pages.h"

namespace loci {

template <class Value>
class IdMap {
 public:
  using value_type = std::pair<std::string, Value>;
  using iterator = typename std::vector<value_type, HugePageAllocator<value_type>>::iterator;
  using const_iterator = typename std::vector<value_type, HugePageAllocator<value_type>>::const_iterator;

  IdMap() = default;

  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  iterator begin() { return entries_.begin(); }
  iterator end() { return entries_.end(); }
  const_iterator begin() const { return entries_.begin(); }
  const_iterator end() const { return entries_.end(); }

  /// Buckets in the index (0 before the first insert or reserve).
  size_t bucket_count() const { return buckets_.size(); }
  float max_load_factor() const { return max_load_; }
  /// Clamped to [0.25, 0.9]: linear probing degrades fast past 0.9.
  void max_load_factor(float load) { max_load_ = load < 0.25f ? 0.25f : load > 0.9f ? 0.9f : load; }

  /// Room for `count` entries without growing the index or moving the entries.
  void reserve(size_t count) {
    if (count > entries_.capacity()) entries_.reserve(count);
    if (count > capacity_for(buckets_.size())) rebuild(buckets_for(count));
  }

  /// Bytes of memory held: the touched part of the entries and the whole index (the
  /// entries' own heap parts, e.g. long ids, are the caller's to count).
  size_t memory_bytes() const { return entries_.size() * sizeof(value_type) + buckets_.size() * sizeof(Bucket); }

  iterator find(const std::string& key) { return entries_.begin() + position_of(key); }
  const_iterator find(const std::string& key) const { return entries_.begin() + position_of(key); }
  size_t count(const std::string& key) const { return position_of(key) == entries_.size() ? 0 : 1; }

  /// Inserts (key, Value(args...)) unless `key` is present; the entry and whether it
  /// was inserted.
  template <class... Args>
  std::pair<iterator, bool> try_emplace(const std::string& key, Args&&... args) {
    return insert_with(key, hash_of(key), [&] { entries_.emplace_back(std::piecewise_construct, std::forward_as_tuple(key), std::forward_as_tuple(std::forward<Args>(args)...)); });
  }
  template <class... Args>
  std::pair<iterator, bool> try_emplace(std::string&& key, Args&&... args) {
    const uint64_t hash = hash_of(key);
    return insert_with(key, hash, [&] { entries_.emplace_back(std::piecewise_construct, std::forward_as_tuple(std::move(key)), std::forward_as_tuple(std::forward<Args>(args)...)); });
  }
  template <class Key, class V>
  std::pair<iterator, bool> emplace(Key&& key, V&& value) {
    return try_emplace(std::forward<Key>(key), std::forward<V>(value));
  }
  template <class It>
  void insert(It first, It last) {
    for (; first != last; ++first) try_emplace(first->first, first->second);
  }
  Value& operator[](const std::string& key) { return try_emplace(key).first->second; }

  /// Removes the entry at `it` (which must be valid); the last entry moves into its place.
  void erase(const_iterator it) {
    const size_t position = static_cast<size_t>(it - entries_.cbegin());
    remove_bucket(bucket_holding(hash_of(entries_[position].first), position));
    const size_t last = entries_.size() - 1;
    if (position != last) {
      buckets_[bucket_holding(hash_of(entries_[last].first), last)].position = static_cast<uint32_t>(position + 1);
      entries_[position] = std::move(entries_[last]);
    }
    entries_.pop_back();
  }

  void clear() {
    entries_.clear();
    std::fill(buckets_.begin(), buckets_.end(), Bucket{});
  }

  void swap(IdMap& other) noexcept {
    entries_.swap(other.entries_);
    buckets_.swap(other.buckets_);
    std::swap(max_load_, other.max_load_);
  }

 private:
  // position: the entry's index + 1 (0: empty). hash: the low 32 bits of the key's hash,
  // which also give its home bucket (the index never exceeds 2^32 buckets).
  struct Bucket {
    uint32_t position = 0;
    uint32_t hash = 0;
  };

  static uint64_t hash_of(const std::string& key) { return std::hash<std::string>{}(key); }
  size_t mask() const { return buckets_.size() - 1; }
  size_t capacity_for(size_t buckets) const { return static_cast<size_t>(double(buckets) * max_load_); }
  size_t buckets_for(size_t count) const {
    size_t buckets = 16;
    while (capacity_for(buckets) < count) buckets *= 2;
    return buckets;
  }

  // The entry's position, or size() if absent.
  size_t position_of(const std::string& key) const {
    if (buckets_.empty()) return entries_.size();
    const uint32_t hash = static_cast<uint32_t>(hash_of(key));
    for (size_t b = hash & mask();; b = (b + 1) & mask()) {
      const Bucket& bucket = buckets_[b];
      if (bucket.position == 0) return entries_.size();
      if (bucket.hash == hash && entries_[bucket.position - 1].first == key) return bucket.position - 1;
    }
  }

  // The bucket that points at entry `position` (which is in the map).
  size_t bucket_holding(uint64_t hash, size_t position) const {
    for (size_t b = hash & mask();; b = (b + 1) & mask()) {
      if (buckets_[b].position == position + 1) return b;
    }
  }

  template <class Append>
  std::pair<iterator, bool> insert_with(const std::string& key, uint64_t full_hash, Append&& append) {
    if (entries_.size() + 1 > capacity_for(buckets_.size())) rebuild(buckets_for(entries_.size() + 1));
    const uint32_t hash = static_cast<uint32_t>(full_hash);
    size_t b = hash & mask();
    for (;; b = (b + 1) & mask()) {
      const Bucket& bucket = buckets_[b];
      if (bucket.position == 0) break;
      if (bucket.hash == hash && entries_[bucket.position - 1].first == key) {
        return {entries_.begin() + (bucket.position - 1), false};
      }
    }
    append();  // may move `key` (the caller's rvalue) into the entry: not read after this
    buckets_[b] = Bucket{static_cast<uint32_t>(entries_.size()), hash};
    return {entries_.end() - 1, true};
  }

  // Backward-shift deletion: pull later entries of the probe run into the hole until
  // one sits at its home bucket or the run ends, so every lookup still finds its key.
  void remove_bucket(size_t hole) {
    for (size_t next = (hole + 1) & mask();; next = (next + 1) & mask()) {
      const Bucket& bucket = buckets_[next];
      if (bucket.position == 0) break;
      const size_t home = bucket.hash & mask();
      // The entry at `next` may move back to `hole` unless its home lies in (hole, next].
      const bool home_after_hole = hole <= next ? (hole < home && home <= next) : (hole < home || home <= next);
      if (home_after_hole) continue;
      buckets_[hole] = bucket;
      hole = next;
    }
    buckets_[hole] = Bucket{};
  }

  // Re-places every bucket by its stored hash (no key is hashed again).
  void rebuild(size_t bucket_count) {
    std::vector<Bucket, HugePageAllocator<Bucket>> buckets(bucket_count);
    const size_t mask = bucket_count - 1;
    for (const Bucket& old : buckets_) {
      if (old.position == 0) continue;
      size_t b = old.hash & mask;
      while (buckets[b].position != 0) b = (b + 1) & mask;
      buckets[b] = old;
    }
    buckets_.swap(buckets);
  }

  // From 2 MiB pages once large (common/huge_pages.h): a reopen fills both at once.
  std::vector<value_type, HugePageAllocator<value_type>> entries_;
  std::vector<Bucket, HugePageAllocator<Bucket>> buckets_;
  float max_load_ = 0.5f;
};

}  // namespace loci
