// PrivateMap: a private, writable (copy-on-write) memory map of a file region. Atlas
// serves its leaf pages straight from the checkpoint's pages file this way after a
// reopen: nothing is read or copied up front, and a page that changes is copied by the
// kernel one 4 KiB block at a time. The file itself is never written through it. The
// mapping is placed so that 2 MiB page-cache folios map as 2 MiB pages (huge_pages.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"

namespace loci {

/// Maps `bytes` of `path` from `offset` (a multiple of the page size), private and
/// writable: updates stay in this process (copy on write) and never reach the file,
/// which belongs to a finished checkpoint. At `at` over whatever is there (MAP_FIXED),
/// or where the kernel chooses if `at` is null. The file must hold `needed` bytes from
/// `offset`: a page mapped past its end would fault (SIGBUS) when read. FloatBuffer
/// maps its rows with it, PrivateMap the leaf pages.
Status map_file_private(const std::string& path, uint64_t offset, size_t bytes, size_t needed, void* at, void** view);

class PrivateMap {
 public:
  /// Maps `bytes` of `path` from `offset` (a multiple of the page size).
  static Status map(const std::string& path, uint64_t offset, size_t bytes, std::shared_ptr<PrivateMap>* result);
  ~PrivateMap();
  PrivateMap(const PrivateMap&) = delete;
  PrivateMap& operator=(const PrivateMap&) = delete;

  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  PrivateMap(uint8_t* data, size_t size) : data_(data), size_(size) {}
  uint8_t* data_;
  size_t size_;
};

}  // namespace loci
