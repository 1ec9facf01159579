#include "engine/checkpoint.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <thread>

#include "common/coding.h"
#include "common/crc32c.h"
#include "common/float_buffer.h"
#include "common/huge_pages.h"
#include "common/private_map.h"
#include "storage/log_format.h"

namespace loci::engine {
namespace {

constexpr uint32_t kItemsMagic = 0x5449434C;    // "LCIT"
constexpr uint32_t kVectorsMagic = 0x4556434C;  // "LCVE"
constexpr size_t kVectorsHeaderBytes = 64;
constexpr size_t kRowsPerCrc = 256;
constexpr size_t kRecordBatch = 4096;
constexpr uint8_t kItemsRecord = 1, kSlotsRecord = 2, kEndRecord = 3;
constexpr uint8_t kInnerPageType = 2;
constexpr uint16_t kContinuationFlag = 0x0100;
// Rows are appended this many bytes at a time, after their CRCs are taken, so the
// append still finds them in cache and is large enough to go out uncopied.
constexpr size_t kVectorsSpanBytes = size_t(8) << 20;

static_assert(kVectorsRowsOffset == FloatBuffer::kMappedRowsOffset,
              "FloatBuffer places its address space for the vectors file's rows offset");

uint32_t page_crc(const uint8_t* header, const uint8_t* body, size_t page_size) {
  uint32_t crc = crc32c::value(header + 12, index::kPageHeaderBytes - 12);
  return crc32c::mask(crc32c::extend(crc, body, page_size - index::kPageHeaderBytes));
}

}  // namespace

std::string checkpoint_file_name(const char* kind, uint64_t gen) {
  char name[48];
  std::snprintf(name, sizeof name, "%s.%016llu", kind, static_cast<unsigned long long>(gen));
  return name;
}

// ---- writer ---------------------------------------------------------------------------

Status CheckpointWriter::create(storage::Env* env, const std::string& dir, const CheckpointShape& shape,
                                std::unique_ptr<CheckpointWriter>* result) {
  std::unique_ptr<CheckpointWriter> writer(new CheckpointWriter());
  writer->env_ = env;
  writer->shape_ = shape;
  LOCI_RETURN_IF_ERROR(env->new_writable(storage::join_path(dir, checkpoint_file_name("items", shape.gen)), true,
                                         &writer->items_file_));
  LOCI_RETURN_IF_ERROR(env->new_writable(storage::join_path(dir, checkpoint_file_name("vectors", shape.gen)), true,
                                         &writer->vectors_file_));
  if (shape.page_size) {
    LOCI_RETURN_IF_ERROR(env->new_writable(storage::join_path(dir, checkpoint_file_name("pages", shape.gen)), true,
                                           &writer->pages_file_));
    writer->pages_out_ = std::make_unique<storage::BlockAlignedWriter>(writer->pages_file_.get(), kHugePageBytes);
  }
  writer->vectors_out_ = std::make_unique<storage::BlockAlignedWriter>(writer->vectors_file_.get(), kHugePageBytes);
  storage::FileHeader header;
  header.magic = kItemsMagic;
  header.first = shape.gen;
  header.second = shape.lsn;
  writer->records_ = header.encode();
  *result = std::move(writer);
  return Status::ok();
}

Status CheckpointWriter::flush_records(bool force) {
  if (records_.size() < (1u << 20) && !force) return Status::ok();
  LOCI_RETURN_IF_ERROR(items_file_->append(records_.data(), records_.size()));
  records_.clear();
  return Status::ok();
}

Status CheckpointWriter::items(const std::vector<ItemRecord>& items) {
  std::string payload;
  for (size_t start = 0; start < items.size(); start += kRecordBatch) {
    const size_t end = std::min(items.size(), start + kRecordBatch);
    payload.clear();
    coding::put_varint(&payload, end - start);
    for (size_t i = start; i < end; ++i) {
      coding::put_string(&payload, items[i].id);
      coding::put_f64(&payload, items[i].time);
      coding::put_u64(&payload, items[i].blob.offset);
      coding::put_u32(&payload, items[i].blob.length);
    }
    storage::frame_record(&records_, kItemsRecord, payload.data(), payload.size());
    LOCI_RETURN_IF_ERROR(flush_records(false));
  }
  item_count_ += items.size();
  return Status::ok();
}

Status CheckpointWriter::slots(size_t count, const std::function<index::SlotRecord(size_t)>& slot_at) {
  std::string payload;
  for (size_t start = 0; start < count; start += kRecordBatch) {
    const size_t end = std::min(count, start + kRecordBatch);
    payload.clear();
    coding::put_u32(&payload, static_cast<uint32_t>(start));
    coding::put_varint(&payload, end - start);
    for (size_t s = start; s < end; ++s) {
      const index::SlotRecord slot = slot_at(s);
      coding::put_u8(&payload, slot.alive ? 1 : 0);
      coding::put_u32(&payload, slot.version);
      coding::put_string(&payload, *slot.id);
    }
    storage::frame_record(&records_, kSlotsRecord, payload.data(), payload.size());
    LOCI_RETURN_IF_ERROR(flush_records(false));
  }
  slot_count_ += count;
  return Status::ok();
}

Status CheckpointWriter::vectors(const float* rows, size_t count) {
  std::string header;
  coding::put_u32(&header, kVectorsMagic);
  coding::put_u16(&header, 1);
  coding::put_u16(&header, 0);
  coding::put_u32(&header, static_cast<uint32_t>(shape_.dim));
  coding::put_u32(&header, 0);
  coding::put_u64(&header, count);
  header.resize(60, '\0');
  coding::put_u32(&header, crc32c::mask(crc32c::value(header.data(), 60)));
  header.resize(kVectorsRowsOffset, '\0');
  LOCI_RETURN_IF_ERROR(vectors_out_->append(header.data(), header.size()));
  // Rows are written as they lie in memory: Loci only builds little-endian (leaf_page.h).
  const size_t row_bytes = shape_.dim * sizeof(float);
  const auto* all_rows = reinterpret_cast<const uint8_t*>(rows);
  const size_t groups_per_span = std::max<size_t>(1, kVectorsSpanBytes / (kRowsPerCrc * row_bytes));
  std::string crcs;
  for (size_t span = 0; span < count; span += groups_per_span * kRowsPerCrc) {
    const size_t span_rows = std::min(groups_per_span * kRowsPerCrc, count - span);
    for (size_t start = span; start < span + span_rows; start += kRowsPerCrc) {
      const size_t rows_here = std::min(kRowsPerCrc, span + span_rows - start);
      coding::put_u32(&crcs, crc32c::mask(crc32c::value(all_rows + start * row_bytes, rows_here * row_bytes)));
    }
    LOCI_RETURN_IF_ERROR(vectors_out_->append(all_rows + span * row_bytes, span_rows * row_bytes));
  }
  LOCI_RETURN_IF_ERROR(vectors_out_->append(crcs.data(), crcs.size()));
  return vectors_out_->flush();
}

Status CheckpointWriter::write_payload_pages(const std::string& payload) {
  const size_t page_size = shape_.page_size;
  const size_t per_page = page_size - index::kPageHeaderBytes;
  std::vector<uint8_t> page(page_size);
  size_t offset = 0;
  bool first = true;
  do {
    std::memset(page.data(), 0, page_size);
    const size_t chunk = std::min(per_page, payload.size() - offset);
    coding::encode_u32(page.data(), index::kPageMagic);
    page[4] = kInnerPageType;
    page[5] = index::kPageFormatVersion;
    coding::encode_u16(page.data() + 6, first ? 0 : kContinuationFlag);
    coding::encode_u32(page.data() + 12, static_cast<uint32_t>(pages_written_));
    coding::encode_u32(page.data() + 16, static_cast<uint32_t>(chunk));
    coding::encode_u32(page.data() + 24, static_cast<uint32_t>(shape_.dim));
    coding::encode_u32(page.data() + 28, static_cast<uint32_t>(page_size));
    coding::encode_u64(page.data() + 32, shape_.lsn);
    if (first) coding::encode_u64(page.data() + 40, payload.size());
    std::memcpy(page.data() + index::kPageHeaderBytes, payload.data() + offset, chunk);
    coding::encode_u32(page.data() + 8, page_crc(page.data(), page.data() + index::kPageHeaderBytes, page_size));
    LOCI_RETURN_IF_ERROR(pages_out_->append(page.data(), page_size));
    ++pages_written_;
    offset += chunk;
    first = false;
  } while (offset < payload.size());
  return Status::ok();
}

Status CheckpointWriter::tree(const std::string& payload) {
  if (!pages_file_) return Status::error(StatusCode::internal, "tree written to a checkpoint without pages");
  return write_payload_pages(payload);
}

Status CheckpointWriter::leaf(const index::LeafPage& page) {
  if (!pages_file_) return Status::error(StatusCode::internal, "leaf written to a checkpoint without pages");
  // Seal a copy of the header: file position, checkpoint LSN, CRC. The body is written
  // straight from the live page.
  uint8_t header[index::kPageHeaderBytes];
  std::memcpy(header, page.bytes(), sizeof header);
  coding::encode_u32(header + 12, static_cast<uint32_t>(pages_written_));
  coding::encode_u64(header + 32, shape_.lsn);
  const uint8_t* body = page.bytes() + index::kPageHeaderBytes;
  coding::encode_u32(header + 8, page_crc(header, body, shape_.page_size));
  LOCI_RETURN_IF_ERROR(pages_out_->append(header, sizeof header));
  LOCI_RETURN_IF_ERROR(pages_out_->append(body, shape_.page_size - sizeof header));
  ++pages_written_;
  return Status::ok();
}

Status CheckpointWriter::finish() {
  std::string payload;
  coding::put_u64(&payload, item_count_);
  coding::put_u64(&payload, slot_count_);
  storage::frame_record(&records_, kEndRecord, payload.data(), payload.size());
  LOCI_RETURN_IF_ERROR(flush_records(true));
  if (pages_out_) LOCI_RETURN_IF_ERROR(pages_out_->flush());
  for (auto* file : {items_file_.get(), vectors_file_.get(), pages_file_.get()}) {
    if (!file) continue;
    LOCI_RETURN_IF_ERROR(file->sync());
    LOCI_RETURN_IF_ERROR(file->close());
  }
  return Status::ok();
}

// ---- reader ---------------------------------------------------------------------------

Status CheckpointReader::corrupt(const std::string& path, uint64_t offset, const std::string& why) const {
  return Status::error(StatusCode::corrupt, path + " at offset " + std::to_string(offset) + ": " + why +
                                                " (run `loci verify`; restore the store from a backup)");
}

Status CheckpointReader::open(storage::Env* env, const std::string& dir, const CheckpointShape& shape,
                              std::unique_ptr<CheckpointReader>* result) {
  std::unique_ptr<CheckpointReader> reader(new CheckpointReader());
  reader->env_ = env;
  reader->shape_ = shape;
  reader->items_path_ = storage::join_path(dir, checkpoint_file_name("items", shape.gen));
  reader->vectors_path_ = storage::join_path(dir, checkpoint_file_name("vectors", shape.gen));
  reader->pages_path_ = storage::join_path(dir, checkpoint_file_name("pages", shape.gen));
  for (const std::string* path : {&reader->items_path_, &reader->vectors_path_}) {
    if (!env->exists(*path)) return reader->corrupt(*path, 0, "the checkpoint file the MANIFEST names is missing");
  }
  if (shape.page_size && !env->exists(reader->pages_path_)) {
    return reader->corrupt(reader->pages_path_, 0, "the checkpoint file the MANIFEST names is missing");
  }
  LOCI_RETURN_IF_ERROR(env->map(reader->items_path_, &reader->items_map_));
  LOCI_RETURN_IF_ERROR(reader->index_records());
  LOCI_RETURN_IF_ERROR(env->new_random_access(reader->vectors_path_, &reader->vectors_file_));
  if (shape.page_size) {
    LOCI_RETURN_IF_ERROR(env->new_random_access(reader->pages_path_, &reader->pages_file_));
    // The tree payload: pages 0 .. t-1.
    const size_t page_size = shape.page_size;
    std::vector<uint8_t> page(page_size);
    uint64_t total = 0;
    size_t page_index = 0;
    do {
      const uint64_t offset = uint64_t(page_index) * page_size;
      if (offset + page_size > reader->pages_file_->size()) return reader->corrupt(reader->pages_path_, offset, "file cut short inside the tree");
      LOCI_RETURN_IF_ERROR(reader->pages_file_->read(offset, page_size, page.data()));
      if (coding::decode_u32(page.data()) != index::kPageMagic) return reader->corrupt(reader->pages_path_, offset, "bad page magic");
      if (coding::decode_u32(page.data() + 8) != page_crc(page.data(), page.data() + index::kPageHeaderBytes, page_size)) {
        return reader->corrupt(reader->pages_path_, offset + 8, "page checksum mismatch");
      }
      const uint16_t flags = coding::decode_u16(page.data() + 6);
      const bool continuation = flags & kContinuationFlag;
      if (flags & 0xFF) return reader->corrupt(reader->pages_path_, offset + 6, "unknown page flags (written by a newer Loci?)");
      const uint32_t chunk = coding::decode_u32(page.data() + 16);
      if (page[4] != kInnerPageType || page[5] != index::kPageFormatVersion || continuation != (page_index != 0) ||
          chunk > page_size - index::kPageHeaderBytes) {
        return reader->corrupt(reader->pages_path_, offset, "malformed inner page header");
      }
      if (page_index == 0) total = coding::decode_u64(page.data() + 40);
      reader->tree_payload_.append(reinterpret_cast<char*>(page.data()) + index::kPageHeaderBytes, chunk);
      ++page_index;
      if (reader->tree_payload_.size() > total) return reader->corrupt(reader->pages_path_, offset, "tree longer than its header says");
    } while (reader->tree_payload_.size() < total);
    reader->tree_pages_ = page_index;
    const uint64_t rest = reader->pages_file_->size() - uint64_t(page_index) * page_size;
    if (rest % page_size) return reader->corrupt(reader->pages_path_, reader->pages_file_->size(), "file is not a whole number of pages");
    reader->leaf_count_ = rest / page_size;
    // The tree payload starts with root, leaves, nodes (u32 each).
    if (reader->tree_payload_.size() < 12) return reader->corrupt(reader->pages_path_, 0, "tree payload cut short");
    const uint32_t named = coding::decode_u32(reinterpret_cast<const uint8_t*>(reader->tree_payload_.data()) + 4);
    if (named != reader->leaf_count_) {
      return reader->corrupt(reader->pages_path_, reader->pages_file_->size(),
                             "file holds " + std::to_string(reader->leaf_count_) + " leaf pages, but its tree names " +
                                 std::to_string(named) + " (cut short?)");
    }
  }
  *result = std::move(reader);
  return Status::ok();
}

Status CheckpointReader::index_records() {
  const uint8_t* data = items_map_->data();
  const size_t size = items_map_->size();
  if (size < storage::kFileHeaderBytes) return corrupt(items_path_, 0, "file cut short before its header ends");
  storage::FileHeader header;
  std::string why;
  if (!header.decode(data, kItemsMagic, &why)) return corrupt(items_path_, 0, why);
  if (header.first != shape_.gen || header.second != shape_.lsn) {
    return corrupt(items_path_, 8, "generation or checkpoint LSN disagrees with the MANIFEST");
  }
  uint64_t items = 0, slots = 0;
  size_t offset = storage::kFileHeaderBytes;
  for (;;) {
    uint8_t type;
    const uint8_t* payload;
    size_t payload_size, next;
    storage::RecordRead read = storage::read_record(data, size, offset, &type, &payload, &payload_size, &next);
    if (read == storage::RecordRead::end || read == storage::RecordRead::truncated) {
      return corrupt(items_path_, offset, "file cut short (no end record)");
    }
    if (read == storage::RecordRead::bad_crc) return corrupt(items_path_, offset, "record checksum mismatch");
    coding::Reader in(payload, payload_size);
    uint64_t count = 0;
    if (type == kItemsRecord) {
      if (!in.varint(&count) || count > payload_size) return corrupt(items_path_, offset, "malformed items record");
      item_records_.push_back({offset, payload, payload_size});
      items += count;
    } else if (type == kSlotsRecord) {
      uint32_t first = 0;
      if (!in.u32(&first) || !in.varint(&count) || count > payload_size || first != slots) {
        return corrupt(items_path_, offset, "malformed slots record");
      }
      slot_records_.push_back({offset, payload, payload_size});
      slots += count;
    } else if (type == kEndRecord) {
      uint64_t end_items = 0, end_slots = 0;
      if (!in.u64(&end_items) || !in.u64(&end_slots) || end_items != items || end_slots != slots) {
        return corrupt(items_path_, offset, "end record totals disagree with the records");
      }
      offset = next;
      break;
    } else if (!(type & storage::kRecordIgnorableBit)) {
      return corrupt(items_path_, offset, "unknown record type " + std::to_string(type) + " (written by a newer Loci?)");
    }
    offset = next;
  }
  if (offset != size) return corrupt(items_path_, offset, "bytes after the end record");
  item_count_ = items;
  slot_count_ = slots;
  return Status::ok();
}

Status CheckpointReader::items(const std::function<void(ItemRecord&&)>& take) {
  for (const RecordSpan& record : item_records_) {
    coding::Reader in(record.payload, record.size);
    uint64_t count = 0;
    in.varint(&count);  // checked by index_records()
    for (uint64_t i = 0; i < count; ++i) {
      ItemRecord item;
      in.string(&item.id, 1 << 20);
      in.f64(&item.time);
      in.u64(&item.blob.offset);
      in.u32(&item.blob.length);
      if (!in.ok()) return corrupt(items_path_, record.offset, "malformed items record");
      if (item.blob.offset > shape_.arena_bytes || item.blob.footprint() > shape_.arena_bytes - item.blob.offset) {
        return corrupt(items_path_, record.offset, "item " + item.id + " refers past the end of the blob arena (" +
                                                       std::to_string(shape_.arena_bytes) + " bytes)");
      }
      take(std::move(item));
    }
    if (in.remaining() != 0) return corrupt(items_path_, record.offset, "trailing bytes in a record");
  }
  return Status::ok();
}

Status CheckpointReader::slots(const TakeSlot& take) {
  for (const RecordSpan& record : slot_records_) {
    coding::Reader in(record.payload, record.size);
    uint32_t first = 0;
    uint64_t count = 0;
    in.u32(&first);  // both checked by index_records()
    in.varint(&count);
    for (uint64_t i = 0; i < count; ++i) {
      uint8_t flags = 0;
      uint32_t version = 0;
      std::string id;
      in.u8(&flags);
      in.u32(&version);
      in.string(&id, 1 << 20);
      if (!in.ok()) return corrupt(items_path_, record.offset, "malformed slots record");
      LOCI_RETURN_IF_ERROR(take(first + i, flags & 1, version, std::move(id)));
    }
    if (in.remaining() != 0) return corrupt(items_path_, record.offset, "trailing bytes in a record");
  }
  return Status::ok();
}

Status CheckpointReader::vectors(size_t count, FloatBuffer* rows, const CheckedRows& on_checked) {
  const std::string& path = vectors_path_;
  uint8_t header[kVectorsHeaderBytes];
  if (vectors_file_->size() < kVectorsRowsOffset) return corrupt(path, 0, "file cut short before its rows begin");
  LOCI_RETURN_IF_ERROR(vectors_file_->read(0, sizeof header, header));
  if (coding::decode_u32(header + 60) != crc32c::mask(crc32c::value(header, 60))) return corrupt(path, 60, "header checksum mismatch");
  if (coding::decode_u32(header) != kVectorsMagic || coding::decode_u16(header + 4) != 1) return corrupt(path, 0, "bad magic or version");
  if (coding::decode_u32(header + 8) != shape_.dim || coding::decode_u64(header + 16) != count) {
    return corrupt(path, 8, "dim or row count disagrees with the MANIFEST and item table");
  }
  const size_t row_bytes = shape_.dim * sizeof(float);
  const size_t groups = (count + kRowsPerCrc - 1) / kRowsPerCrc;
  const uint64_t expected = kVectorsRowsOffset + uint64_t(count) * row_bytes + 4 * groups;
  if (vectors_file_->size() != expected) {
    return corrupt(path, vectors_file_->size(), "file is " + std::to_string(vectors_file_->size()) + " bytes, expected " + std::to_string(expected));
  }
  // The padding between header and rows is not under a CRC: it must be zero.
  std::vector<uint8_t> padding(kVectorsRowsOffset - kVectorsHeaderBytes);
  LOCI_RETURN_IF_ERROR(vectors_file_->read(kVectorsHeaderBytes, padding.size(), padding.data()));
  for (size_t i = 0; i < padding.size(); ++i) {
    if (padding[i] != 0) return corrupt(path, kVectorsHeaderBytes + i, "non-zero byte in the header's padding");
  }
  std::vector<uint8_t> crcs(4 * groups);
  if (groups) LOCI_RETURN_IF_ERROR(vectors_file_->read(kVectorsRowsOffset + uint64_t(count) * row_bytes, crcs.size(), crcs.data()));
  // Mapped, not read: the rows stay in the page cache until a write copies one.
  LOCI_RETURN_IF_ERROR(rows->map_file(path, kVectorsRowsOffset, count * shape_.dim));
  // Every row group's CRC is checked now, on both cores (~10 GB/s each with SSE4.2), and
  // handed to on_checked while its 768 KiB are still in cache, so deriving norms does not
  // read every row from memory a second time.
  const auto* bytes = reinterpret_cast<const uint8_t*>(rows->data());
  std::atomic<size_t> first_bad{SIZE_MAX};
  auto check_range = [&](size_t first_group, size_t last_group) {
    for (size_t g = first_group; g < last_group; ++g) {
      const size_t start = g * kRowsPerCrc, rows_here = std::min(kRowsPerCrc, count - start);
      if (coding::decode_u32(&crcs[4 * g]) != crc32c::mask(crc32c::value(bytes + start * row_bytes, rows_here * row_bytes))) {
        size_t seen = first_bad.load();
        while (g < seen && !first_bad.compare_exchange_weak(seen, g)) {
        }
        return;
      }
      if (on_checked) on_checked(start, rows_here);
    }
  };
  std::thread helper(check_range, groups / 2, groups);
  check_range(0, groups / 2);
  helper.join();
  if (first_bad.load() != SIZE_MAX) {
    const size_t start = first_bad.load() * kRowsPerCrc, rows_here = std::min(kRowsPerCrc, count - start);
    rows->clear();
    return corrupt(path, kVectorsRowsOffset + start * row_bytes,
                   "checksum mismatch in rows " + std::to_string(start) + ".." + std::to_string(start + rows_here - 1));
  }
  return Status::ok();
}

Status CheckpointReader::tree(std::string* payload) {
  *payload = std::move(tree_payload_);
  return Status::ok();
}

Status CheckpointReader::check_leaf(size_t index, uint8_t* bytes, uint32_t capacity) const {
  const size_t page_size = shape_.page_size;
  const uint64_t file_page = tree_pages_ + index;
  const uint64_t offset = file_page * page_size;
  if (coding::decode_u32(bytes) != index::kPageMagic) return corrupt(pages_path_, offset, "bad page magic");
  if (coding::decode_u32(bytes + 8) != page_crc(bytes, bytes + index::kPageHeaderBytes, page_size)) {
    return corrupt(pages_path_, offset + 8, "page checksum mismatch");
  }
  if (bytes[4] != index::kLeafPageType || bytes[5] != index::kPageFormatVersion) return corrupt(pages_path_, offset + 4, "not a leaf page of a known version");
  if (coding::decode_u16(bytes + 6) & 0xFF) return corrupt(pages_path_, offset + 6, "unknown page flags (written by a newer Loci?)");
  if (coding::decode_u32(bytes + 12) != file_page) return corrupt(pages_path_, offset + 12, "page id does not match its position");
  if (coding::decode_u32(bytes + 20) != capacity || coding::decode_u32(bytes + 24) != shape_.dim ||
      coding::decode_u32(bytes + 28) != page_size) {
    return corrupt(pages_path_, offset + 20, "capacity, dim or page size disagree with the MANIFEST");
  }
  if (coding::decode_u32(bytes + 16) > capacity) return corrupt(pages_path_, offset + 16, "count exceeds capacity");
  return Status::ok();
}

Status CheckpointReader::leaves(const index::LeafLayout& layout, std::vector<std::unique_ptr<index::LeafPage>>* pages) {
  const size_t page_size = shape_.page_size;
  std::shared_ptr<PrivateMap> map;
  LOCI_RETURN_IF_ERROR(PrivateMap::map(pages_path_, uint64_t(tree_pages_) * page_size, leaf_count_ * page_size, &map));
  // Check every page on both cores; report the first damaged one.
  std::vector<Status> results(2);
  auto check_range = [&](size_t first, size_t last, Status* result) {
    for (size_t l = first; l < last; ++l) {
      Status checked = check_leaf(l, map->data() + l * page_size, layout.capacity);
      if (!checked.is_ok()) {
        *result = checked;
        return;
      }
    }
  };
  std::thread helper(check_range, leaf_count_ / 2, leaf_count_, &results[1]);
  check_range(0, leaf_count_ / 2, &results[0]);
  helper.join();
  for (const Status& result : results) LOCI_RETURN_IF_ERROR(result);
  pages->clear();
  pages->reserve(leaf_count_);
  for (size_t l = 0; l < leaf_count_; ++l) {
    uint8_t* bytes = map->data() + l * page_size;
    // In memory a page's id is its leaf index and its CRC is unset (docs/format/pages.md):
    // this copies the first 4 KiB of each page, the rest stays shared with the file.
    coding::encode_u32(bytes + 12, static_cast<uint32_t>(l));
    coding::encode_u32(bytes + 8, 0);
    pages->push_back(std::make_unique<index::LeafPage>(layout, bytes, map));
  }
  return Status::ok();
}

}  // namespace loci::engine
