// FloatBuffer: a growable, contiguous array of floats whose prefix can be a private
// (copy-on-write) memory map of a file. The indexes keep their f32 vectors in one:
// opening a store maps the checkpoint's vectors file instead of reading and copying
// gigabytes, and rows written later are copied on write by the kernel. Growth commits
// pages inside an address range reserved ahead (four times what is needed); only
// outgrowing the reservation copies the data.
//
// Elements added by resize() are zero. One writer at a time (the owner serialises them).
// Readers may run alongside the writer if the owner sets a region releaser that defers
// unmapping a moved-out region until they are done (Atlas hands it to epoch-based
// reclamation): data() is an atomic load, and a reader that loads it after the row it
// wants was published sees that row, in the old region or the new one.
#pragma once

#include <atomic>
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

  /// Where, in the files mapped into it, the rows start (the vectors file's layout,
  /// docs/format/checkpoint.md). The buffer's address space is reserved congruent to it
  /// modulo 2 MiB, so rows mapped from such a file can use 2 MiB pages.
  static constexpr uint64_t kMappedRowsOffset = 4096;

  size_t size() const { return size_; }
  size_t capacity() const { return committed_ / sizeof(float); }
  float* data() { return data_.load(std::memory_order_acquire); }
  const float* data() const { return data_.load(std::memory_order_acquire); }
  float& operator[](size_t i) { return data()[i]; }
  const float& operator[](size_t i) const { return data()[i]; }

  /// How a region the buffer moved out of is released (default: munmap at once).
  using RegionReleaser = void (*)(void* base, size_t bytes);
  void set_region_releaser(RegionReleaser releaser) { releaser_ = releaser; }

  /// Grows (new elements are 0) or shrinks. Aborts on address-space exhaustion, like
  /// std::vector's bad_alloc would, since callers cannot recover either way.
  void resize(size_t count);
  void reserve(size_t count);
  void clear() { resize(0); }

  /// Replaces the contents with `count` floats mapped privately from `path` at byte
  /// `offset` (a multiple of the page size). Reads come from the page cache; a write
  /// copies the touched page. The file must not shrink while mapped.
  Status map_file(const std::string& path, uint64_t offset, size_t count);

  /// Swaps the whole pages holding the first `count` floats, in place, for a private
  /// map of `path` from byte `offset` (a multiple of the page size), which must hold
  /// exactly those floats: a checkpoint has just written them. The address does not
  /// change and every page reads the same bytes before and after, so readers may run
  /// alongside; the anonymous memory goes back to the system and the rows are served
  /// from the page cache, which the kernel may evict (they are on disk). Rows past the
  /// last whole page stay as they are. The file must not shrink while mapped.
  Status map_prefix(const std::string& path, uint64_t offset, size_t count);

  /// Bytes of the buffer that are a file mapping (0 if none).
  size_t mapped_bytes() const { return mapped_; }

 private:
  void release();
  void ensure_committed(size_t bytes);

  float* base() const { return data_.load(std::memory_order_relaxed); }  // the writer's view

  std::atomic<float*> data_{nullptr};
  RegionReleaser releaser_ = nullptr;
  size_t size_ = 0;        // floats in use
  size_t committed_ = 0;   // bytes readable and writable from data_
  size_t reserved_ = 0;    // bytes of address space reserved at data_
  size_t mapped_ = 0;      // bytes at data_ that map a file
};

}  // namespace loci
