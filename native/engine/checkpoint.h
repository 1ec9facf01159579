// The checkpoint files items.<gen>, vectors.<gen> and pages.<gen>: writing them from an
// index image plus the engine's item table, and reading them back.
// See docs/format/checkpoint.md.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "index/image.h"
#include "index/leaf_page.h"
#include "storage/blob_arena.h"
#include "storage/block_aligned_writer.h"
#include "storage/env.h"

namespace loci::engine {

/// One live item's engine-level fields (the vector lives in the index).
struct ItemRecord {
  std::string id;
  double time = 0;
  storage::BlobRef blob;
  // In-memory stores only (no arena): the text and metadata themselves.
  std::string text, meta;
};

std::string checkpoint_file_name(const char* kind, uint64_t gen);

/// Where the rows begin in a vectors file: a page boundary, so it can be mapped in place.
constexpr uint64_t kVectorsRowsOffset = 4096;

struct CheckpointShape {
  size_t dim = 0;
  size_t page_size = 0;  // 0: no pages file (flat index)
  uint64_t gen = 0;
  uint64_t lsn = 0;
  uint64_t arena_bytes = 0;  // reader: blob references must lie below it
};

/// Writes one checkpoint generation. Use: items(), then index->save(this), then finish().
class CheckpointWriter final : public index::ImageWriter {
 public:
  static Status create(storage::Env* env, const std::string& dir, const CheckpointShape& shape,
                       std::unique_ptr<CheckpointWriter>* writer);
  Status items(const std::vector<ItemRecord>& items);
  Status slots(size_t count, const std::function<index::SlotRecord(size_t)>& slot_at) override;
  Status vectors(const float* rows, size_t count) override;
  Status tree(const std::string& payload) override;
  Status leaf(const index::LeafPage& page) override;
  /// Writes the end record and syncs all three files.
  Status finish();

 private:
  CheckpointWriter() = default;
  Status flush_records(bool force);
  Status write_payload_pages(const std::string& payload);

  storage::Env* env_ = nullptr;
  CheckpointShape shape_;
  std::unique_ptr<storage::WritableFile> items_file_, vectors_file_, pages_file_;
  // The vectors and pages files are mapped back after the checkpoint: written in 2 MiB
  // aligned blocks so their page cache can be mapped with 2 MiB pages.
  std::unique_ptr<storage::BlockAlignedWriter> vectors_out_, pages_out_;
  std::string records_;  // framed records not yet written
  uint64_t item_count_ = 0, slot_count_ = 0, pages_written_ = 0;
};

/// Reads one checkpoint generation, checking every CRC. Use: items() and the index's
/// load() (which calls slots(), vectors(), tree(), leaf()). open() checks the items
/// file's records (frames, CRCs, totals) and items() and slots() decode their part of
/// them, so those two may run at once on two threads; each is called once.
class CheckpointReader final : public index::ImageReader {
 public:
  static Status open(storage::Env* env, const std::string& dir, const CheckpointShape& shape,
                     std::unique_ptr<CheckpointReader>* reader);
  /// Decodes the item table, handing each item to `take` (no copy of the whole table in
  /// between: that would be fresh memory written once more at every open).
  Status items(const std::function<void(ItemRecord&&)>& take);
  uint64_t item_count() const { return item_count_; }
  size_t slot_count() const override { return slot_count_; }
  using index::ImageReader::slots;
  Status slots(const TakeSlot& take) override;
  Status vectors(size_t count, FloatBuffer* rows, const CheckedRows& on_checked = nullptr) override;
  Status tree(std::string* payload) override;
  size_t leaf_count() const override { return leaf_count_; }
  Status leaves(const index::LeafLayout& layout, std::vector<std::unique_ptr<index::LeafPage>>* pages) override;
  std::string where_slots() const override { return items_path_ + " at offset " + std::to_string(slot_records_.empty() ? 0 : slot_records_.front().offset); }
  std::string where_tree() const override { return pages_path_ + " at offset 0"; }
  std::string where_leaf(size_t leaf) const override {
    return pages_path_ + " at offset " + std::to_string((tree_pages_ + leaf) * shape_.page_size);
  }

 private:
  CheckpointReader() = default;
  Status corrupt(const std::string& path, uint64_t offset, const std::string& why) const;
  Status check_leaf(size_t index, uint8_t* bytes, uint32_t capacity) const;
  Status index_records();

  // A record of the items file: its offset (for CORRUPT messages) and payload.
  struct RecordSpan {
    uint64_t offset;
    const uint8_t* payload;
    size_t size;
  };

  storage::Env* env_ = nullptr;
  CheckpointShape shape_;
  std::string items_path_, vectors_path_, pages_path_;
  std::unique_ptr<storage::MappedFile> items_map_;
  std::unique_ptr<storage::RandomAccessFile> vectors_file_, pages_file_;
  std::vector<RecordSpan> item_records_, slot_records_;  // into items_map_
  uint64_t item_count_ = 0, slot_count_ = 0;
  std::string tree_payload_;
  size_t tree_pages_ = 0, leaf_count_ = 0;
};

}  // namespace loci::engine
