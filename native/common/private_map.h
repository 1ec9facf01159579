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
