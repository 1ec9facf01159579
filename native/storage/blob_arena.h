// The blob arena: an append-only file of each item's text and JSON metadata, read
// through a memory map. See docs/format/blobs.md.
//
// Thread safety: one writer (append, sync) at a time, any number of concurrent readers.
// A reader holds the mapping it read from (a shared_ptr) until it has copied the blob,
// so growing the map never frees bytes under a reader.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "storage/env.h"
#include "sync/thread_annotations.h"

namespace loci::storage {

constexpr uint32_t kBlobArenaMagic = 0x4142434C;  // "LCBA"
constexpr size_t kBlobHeaderBytes = 8;

/// Where an item's blob is: the offset of its header and its payload length.
/// {0, 0} = the item has neither text nor metadata.
struct BlobRef {
  uint64_t offset = 0;
  uint32_t length = 0;
  bool empty() const { return offset == 0; }
  /// Bytes the blob takes in the arena, header included.
  uint64_t footprint() const { return offset == 0 ? 0 : kBlobHeaderBytes + length; }
};

std::string blob_file_name(uint64_t gen);

class BlobArena {
 public:
  /// Creates <dir>/blobs.<gen> with its header, synced (the directory is not).
  static Status create(Env* env, const std::string& dir, uint64_t gen, std::unique_ptr<BlobArena>* arena);
  /// Opens <dir>/blobs.<gen>; CORRUPT if it is shorter than `durable_bytes` (what the
  /// MANIFEST covers) or its header is damaged. Bytes past `durable_bytes` (written after
  /// the checkpoint; the WAL replay writes them again) are cut off by the first flush(),
  /// not at open: until then append_buffered() holds everything in memory, so an open
  /// that fails during replay leaves the file as it found it.
  /// With `read_only` (verify), nothing is cut back and append() fails.
  static Status open(Env* env, const std::string& dir, uint64_t gen, uint64_t durable_bytes,
                     std::unique_ptr<BlobArena>* arena, bool read_only = false);

  /// Appends the blob for (text, meta) to *batch, a buffer that will be written at the
  /// arena's end by append(); *ref is where the blob will be. Empty text and meta give
  /// an empty ref and no bytes.
  void encode(std::string_view text, std::string_view meta, std::string* batch, BlobRef* ref) const;
  /// Writes a buffer built by encode() (since the last append) at the end of the file.
  Status append(const std::string& batch);
  /// Like append(), but may hold the bytes in memory until flush() (or until 4 MiB are
  /// held): for WAL replay, which appends many batches and reads none of them. Takes
  /// the buffer over (it is left empty).
  Status append_buffered(std::string&& batch);
  Status flush();
  /// fsyncs the file: every appended blob is durable.
  Status sync();
  /// Reads and checks a blob. CORRUPT naming the file and offset if it fails its CRC or
  /// lies outside the file.
  Status read(BlobRef ref, std::string* text, std::string* meta) const;

  uint64_t size() const { return size_.load(std::memory_order_acquire); }
  uint64_t gen() const { return gen_; }
  const std::string& path() const { return path_; }

 private:
  BlobArena(Env* env, std::string path, uint64_t gen) : env_(env), path_(std::move(path)), gen_(gen) {}
  Status mapping_covering(uint64_t end, std::shared_ptr<MappedFile>* mapping) const;
  Status open_for_writing();

  Env* env_;
  std::string path_;
  uint64_t gen_;
  std::unique_ptr<WritableFile> file_;
  // Bytes appended (written or held); encode() places blobs from here. Atomic: readers
  // check references against it while the writer appends.
  std::atomic<uint64_t> size_{0};
  std::vector<std::string> held_;  // appended by append_buffered, not yet written
  uint64_t held_bytes_ = 0;
  uint64_t cut_to_ = 0;        // if non-zero: truncate the file to this before writing
  bool read_only_ = false;
  // The writer's fields above (file_, held_, cut_to_) have no lock of their own: the
  // caller runs one writer at a time (the engine's commit_mutex_).
  mutable sync::Mutex map_mutex_;
  mutable std::shared_ptr<MappedFile> mapping_ GUARDED_BY(map_mutex_);
};

}  // namespace loci::storage
