// StableArray<T>: a growable array whose elements never move, for data that searches
// read without a lock while one writer appends. Element i lives in chunk
// floor(log2(i / 64 + 1)), chunks double in size, and the chunk table is a fixed array
// of atomic pointers, so growing allocates a chunk and never copies or frees one: a
// reader's element reference stays valid for the array's lifetime.
//
// Concurrency contract: one writer (serialised by its owner) calls resize() and writes
// elements; readers may read element i once they have synchronised with the writer's
// publication of i (size() is released, so `i < size()` read by a reader is enough,
// and so is any other release/acquire pair the owner uses, e.g. a leaf page's count).
// Elements that are written while readers may read them must be atomics.
//
// A `width` > 1 makes each index a row of `width` elements (row(i)); rows of one chunk
// are contiguous, and run(i) says how many follow row i in its chunk, so kernels can
// scan blocks of rows that stay inside one chunk.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace loci::sync {

template <class T>
class StableArray {
 public:
  static constexpr unsigned kFirstChunkBits = 6;  // the first chunk holds 64 elements
  static constexpr unsigned kChunks = 40;         // room for 64 * (2^40 - 1) elements

  StableArray() = default;
  explicit StableArray(size_t width) : width_(width) {}
  ~StableArray() {
    for (auto& chunk : chunks_) delete[] chunk.load(std::memory_order_relaxed);
  }
  StableArray(const StableArray&) = delete;
  StableArray& operator=(const StableArray&) = delete;

  /// Elements published so far (acquire: elements below it are initialised).
  size_t size() const { return size_.load(std::memory_order_acquire); }

  T& operator[](size_t i) { return element(i); }
  const T& operator[](size_t i) const { return const_cast<StableArray*>(this)->element(i); }
  T* row(size_t i) { return &element(i); }
  const T* row(size_t i) const { return &const_cast<StableArray*>(this)->element(i); }

  /// Indexes from i to the end of i's chunk: [i, i + run(i)) are contiguous.
  static size_t run(size_t i) {
    const size_t j = i + (size_t(1) << kFirstChunkBits);
    const unsigned high_bit = 63 - static_cast<unsigned>(__builtin_clzll(j));
    return (size_t(2) << high_bit) - j;
  }

  /// Writer only: grows to `count` elements (new ones value-initialised) and publishes
  /// the new size. Never shrinks: elements stay where readers may be looking.
  void grow_to(size_t count) {
    while (capacity_ < count) {
      const unsigned chunk = chunk_count_++;
      chunks_[chunk].store(new T[chunk_size(chunk) * width_](), std::memory_order_release);
      capacity_ += chunk_size(chunk);
    }
    if (count > size_.load(std::memory_order_relaxed)) size_.store(count, std::memory_order_release);
  }

  /// Writer only: appends one element and publishes it.
  void push_back(T value) {
    const size_t i = size_.load(std::memory_order_relaxed);
    if (i >= capacity_) grow_to(i + 1);
    element(i) = std::move(value);
    size_.store(i + 1, std::memory_order_release);
  }

  /// Bytes the chunks take (for stats).
  size_t bytes() const { return capacity_ * width_ * sizeof(T); }

 private:
  static size_t chunk_size(unsigned chunk) { return size_t(1) << (chunk + kFirstChunkBits); }

  T& element(size_t i) {
    // Chunk c starts at element 64 * (2^c - 1): with j = i + 64, c = log2(j) - 6.
    const size_t j = i + (size_t(1) << kFirstChunkBits);
    const unsigned high_bit = 63 - static_cast<unsigned>(__builtin_clzll(j));
    const unsigned chunk = high_bit - kFirstChunkBits;
    return chunks_[chunk].load(std::memory_order_acquire)[(j - (size_t(1) << high_bit)) * width_];
  }

  std::atomic<T*> chunks_[kChunks] = {};
  std::atomic<size_t> size_{0};
  const size_t width_ = 1;
  size_t capacity_ = 0;       // writer only
  unsigned chunk_count_ = 0;  // writer only
};

}  // namespace loci::sync
