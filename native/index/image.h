// How an index saves itself at a checkpoint and loads itself at open, without knowing
// about files: the engine implements ImageWriter / ImageReader over the checkpoint
// files (docs/format/checkpoint.md, native/engine/checkpoint.cpp).
//
// An image is: the slot table (id, version, alive per slot: the numbering the leaf
// pages and the vectors refer to), the f32 vectors by slot, and for Atlas the tree
// payload (inner nodes, leaf parents) and the leaf pages.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/float_buffer.h"
#include "common/status.h"
#include "index/leaf_page.h"

namespace loci::index {

/// One slot of the slot table, as an index hands it to the writer.
struct SlotRecord {
  const std::string* id;
  uint32_t version;
  bool alive;
};

class ImageWriter {
 public:
  virtual ~ImageWriter() = default;
  /// The whole slot table, in slot order: slot_at(s) for s in [0, count).
  virtual Status slots(size_t count, const std::function<SlotRecord(size_t)>& slot_at) = 0;
  /// Every slot's f32 vector, row-major (count rows of dim floats).
  virtual Status vectors(const float* rows, size_t count) = 0;
  /// Atlas: the encoded tree (docs/format/checkpoint.md, "tree payload").
  virtual Status tree(const std::string& payload) = 0;
  /// Atlas: the leaf pages in leaf order (the writer seals its copy: page id, LSN, CRC).
  virtual Status leaf(const LeafPage& page) = 0;
};

class ImageReader {
 public:
  virtual ~ImageReader() = default;
  /// The number of slots in the slot table.
  virtual size_t slot_count() const = 0;
  /// Decodes the slot table in slot order, handing each slot to `take` (which may keep
  /// the id); stops at the first error, the reader's or one `take` returns.
  using TakeSlot = std::function<Status(size_t slot, bool alive, uint32_t version, std::string&& id)>;
  virtual Status slots(const TakeSlot& take) = 0;
  /// The whole slot table as three columns.
  Status slots(std::vector<std::string>* ids, std::vector<uint32_t>* versions, std::vector<uint8_t>* alive) {
    ids->clear();
    versions->clear();
    alive->clear();
    ids->reserve(slot_count());
    versions->reserve(slot_count());
    alive->reserve(slot_count());
    return slots([&](size_t, bool live, uint32_t version, std::string&& id) {
      alive->push_back(live ? 1 : 0);
      versions->push_back(version);
      ids->push_back(std::move(id));
      return Status::ok();
    });
  }
  /// Called with rows [first, first + count) of a vectors() load as soon as their checksum
  /// has matched, on whichever thread checked them (several run at once, on disjoint rows):
  /// the rows are still in cache, so deriving norms or codes here saves a second pass over
  /// memory. A later group may still fail its check, and then the whole load fails.
  using CheckedRows = std::function<void(size_t first, size_t count)>;
  /// `count` rows of dim floats into *rows (mapped from the file where possible), each
  /// row group handed to `on_checked` (if set) once checked.
  virtual Status vectors(size_t count, FloatBuffer* rows, const CheckedRows& on_checked = nullptr) = 0;
  virtual Status tree(std::string* payload) = 0;
  virtual size_t leaf_count() const = 0;
  /// Every leaf page, in leaf order, each checked (CRC, header against `layout`), with
  /// its page id set to its leaf index. The pages may borrow a mapping of the file.
  virtual Status leaves(const LeafLayout& layout, std::vector<std::unique_ptr<LeafPage>>* pages) = 0;
  /// Where a part of the image lives, for CORRUPT messages ("<file> at offset <n>"):
  /// the slot table, the tree payload, or leaf `leaf`.
  virtual std::string where_slots() const = 0;
  virtual std::string where_tree() const = 0;
  virtual std::string where_leaf(size_t leaf) const = 0;
};

}  // namespace loci::index
