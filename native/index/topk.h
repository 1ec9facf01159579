// Keeps the k smallest (distance, slot) pairs seen so far in a bounded max-heap, so a
// scan of n rows costs O(n log k) and rejects most rows with one comparison.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

namespace loci::index {

struct Candidate {
  float distance;
  uint32_t slot;
  bool operator<(const Candidate& other) const {
    // Ties broken by slot so results are deterministic.
    return distance < other.distance || (distance == other.distance && slot < other.slot);
  }
};

class TopK {
 public:
  explicit TopK(size_t k) : k_(k) { heap_.reserve(k); }

  /// The distance a new candidate must beat to enter (infinity until full).
  float threshold() const {
    return heap_.size() < k_ ? std::numeric_limits<float>::infinity() : heap_.front().distance;
  }

  void push(float distance, uint32_t slot) {
    // A NaN would break the heap's ordering; it sorts last instead.
    if (distance != distance) distance = std::numeric_limits<float>::infinity();
    Candidate candidate{distance, slot};
    if (heap_.size() < k_) {
      heap_.push_back(candidate);
      std::push_heap(heap_.begin(), heap_.end());
    } else if (candidate < heap_.front()) {
      std::pop_heap(heap_.begin(), heap_.end());
      heap_.back() = candidate;
      std::push_heap(heap_.begin(), heap_.end());
    }
  }

  /// Sorted nearest first. Leaves the heap empty.
  std::vector<Candidate> take_sorted() {
    std::sort_heap(heap_.begin(), heap_.end());
    return std::move(heap_);
  }

 private:
  size_t k_;
  std::vector<Candidate> heap_;
};

}  // namespace loci::index
