// BlockAlignedWriter: appends to a WritableFile so that every write(2) but the last ends
// on a 2 MiB boundary of the file. Filesystems with large page-cache folios (ext4 since
// Linux 6.16, xfs) size a buffered write's folios by the write, so the file's page cache
// ends up in 2 MiB folios, which a congruent mapping maps with 2 MiB pages
// (common/huge_pages.h). The checkpoint writes its vectors and pages files through one;
// nothing about the bytes or their durability changes.
//
// Small appends are gathered in a buffer up to the next boundary; the whole blocks of a
// large append go straight to the file, uncopied.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/status.h"
#include "storage/env.h"

namespace loci::storage {

class BlockAlignedWriter {
 public:
  /// Writes through `file` (not owned), from its current end. `block` must be a power of
  /// two; tests pass small ones.
  explicit BlockAlignedWriter(WritableFile* file, size_t block);

  Status append(const void* data, size_t size);
  /// Writes what the buffer holds (a last, short write). Call before syncing the file.
  Status flush();
  /// Bytes appended so far, written or buffered, counted from the file's start.
  uint64_t size() const { return file_->size() + pending_.size(); }

 private:
  WritableFile* file_;
  size_t block_;
  std::string pending_;  // bytes up to the next boundary, not yet written
};

}  // namespace loci::storage
