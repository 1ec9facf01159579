// FloatBuffer: a growable, contiguous array of floats whose prefix can be a private
// (copy-on-write) memory map of a file. The indexes keep their f32 vectors in one:
// opening a store maps the checkpoint's vectors file instead of reading and copying
// gigabytes, and rows written later are copied on write by the kernel. Growth commits
// pages inside an address range reserved ahead (four times what is needed); only
// outgrowing the reservation copies the data.
//
// Elements added by resize() are zero. Not thread-safe: the owner serialises writers
// against readers (the indexes' locks).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/status.h"

namespace loci {

class FloatBuffer {
 public:
  FloatBuffer() = default;
  ~FloatBuffer();
  FloatBuffer(const FloatBuffer&) = delete;
  FloatBuffer& operator=(const FloatBuffer&) = delete;
  FloatBuffer(FloatBuffer&& other) noexcept;
  FloatBuffer& operator=(FloatBuffer&& other) noexcept;

  size_t size() const { return size_; }
  size_t capacity() const { return committed_ / sizeof(float); }
  float* data() { return data_; }
  const float* data() const { return data_; }
  float& operator[](size_t i) { return data_[i]; }
  const float& operator[](size_t i) const { return data_[i]; }

  /// Grows (new elements are 0) or shrinks. Aborts on address-space exhaustion, like
  /// std::vector's bad_alloc would, since callers cannot recover either way.
  void resize(size_t count);
  void reserve(size_t count);
  void clear() { resize(0); }

  /// Replaces the contents with `count` floats mapped privately from `path` at byte
  /// `offset` (a multiple of the page size). Reads come from the page cache; a write
  /// copies the touched page. The file must not shrink while mapped.
  Status map_file(const std::string& path, uint64_t offset, size_t count);

  /// Bytes of the buffer that are a file mapping (0 if none).
  size_t mapped_bytes() const { return mapped_; }

 private:
  void release();
  void ensure_committed(size_t bytes);

  float* data_ = nullptr;
  size_t size_ = 0;        // floats in use
  size_t committed_ = 0;   // bytes readable and writable from data_
  size_t reserved_ = 0;    // bytes of address space reserved at data_
  size_t mapped_ = 0;      // bytes at data_ that map a file
};

}  // namespace loci
