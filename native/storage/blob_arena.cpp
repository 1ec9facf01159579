#include "storage/blob_arena.h"

#include <cstdio>

#include "common/coding.h"
#include "common/crc32c.h"
#include "storage/log_format.h"

namespace loci::storage {

std::string blob_file_name(uint64_t gen) {
  char name[40];
  std::snprintf(name, sizeof name, "blobs.%016llu", static_cast<unsigned long long>(gen));
  return name;
}

Status BlobArena::create(Env* env, const std::string& dir, uint64_t gen, std::unique_ptr<BlobArena>* arena) {
  std::unique_ptr<BlobArena> result(new BlobArena(env, join_path(dir, blob_file_name(gen)), gen));
  LOCI_RETURN_IF_ERROR(env->new_writable(result->path_, true, &result->file_));
  FileHeader header;
  header.magic = kBlobArenaMagic;
  header.first = gen;
  std::string bytes = header.encode();
  LOCI_RETURN_IF_ERROR(result->file_->append(bytes.data(), bytes.size()));
  LOCI_RETURN_IF_ERROR(result->file_->sync());
  result->size_ = bytes.size();
  *arena = std::move(result);
  return Status::ok();
}

Status BlobArena::open(Env* env, const std::string& dir, uint64_t gen, uint64_t durable_bytes,
                       std::unique_ptr<BlobArena>* arena, bool read_only) {
  std::unique_ptr<BlobArena> result(new BlobArena(env, join_path(dir, blob_file_name(gen)), gen));
  const std::string& path = result->path_;
  auto corrupt = [&](uint64_t offset, const std::string& why) {
    return Status::error(StatusCode::corrupt, path + " at offset " + std::to_string(offset) + ": " + why);
  };
  if (!env->exists(path)) return corrupt(0, "the blob arena the MANIFEST names is missing");
  uint64_t size = 0;
  LOCI_RETURN_IF_ERROR(env->file_size(path, &size));
  if (size < durable_bytes || durable_bytes < kFileHeaderBytes) {
    return corrupt(size, "file is " + std::to_string(size) + " bytes, but the MANIFEST says " +
                             std::to_string(durable_bytes) + " were synced");
  }
  std::unique_ptr<RandomAccessFile> reader;
  LOCI_RETURN_IF_ERROR(env->new_random_access(path, &reader));
  uint8_t header_bytes[kFileHeaderBytes];
  LOCI_RETURN_IF_ERROR(reader->read(0, kFileHeaderBytes, header_bytes));
  FileHeader header;
  std::string why;
  if (!header.decode(header_bytes, kBlobArenaMagic, &why)) return corrupt(0, why);
  if (header.first != gen) return corrupt(8, "generation " + std::to_string(header.first) + " in a file named " + std::to_string(gen));
  result->size_ = durable_bytes;
  result->read_only_ = read_only;
  if (read_only) {
    *arena = std::move(result);
    return Status::ok();
  }
  // Bytes past the checkpoint were written after it; the WAL replay writes them again.
  // They are cut off when the first bytes are written (see the header).
  if (size > durable_bytes) result->cut_to_ = durable_bytes;
  result->size_ = durable_bytes;
  *arena = std::move(result);
  return Status::ok();
}

void BlobArena::encode(std::string_view text, std::string_view meta, std::string* batch, BlobRef* ref) const {
  if (text.empty() && meta.empty()) {
    *ref = BlobRef{};
    return;
  }
  // Written in place: the CRC and length slots first, then the payload, then the slots
  // are filled in (no payload copy: this runs once per item written or replayed).
  const size_t start = batch->size();
  ref->offset = size() + start;
  batch->append(8, '\0');
  coding::put_string(batch, text);
  coding::put_string(batch, meta);
  const size_t length = batch->size() - start - 8;
  ref->length = static_cast<uint32_t>(length);
  char* blob = &(*batch)[start];
  coding::encode_u32(reinterpret_cast<uint8_t*>(blob), crc32c::mask(crc32c::value(blob + 8, length)));
  coding::encode_u32(reinterpret_cast<uint8_t*>(blob + 4), ref->length);
}

Status BlobArena::append(const std::string& batch) {
  if (read_only_) return Status::error(StatusCode::internal, path_ + " is open read-only");
  LOCI_RETURN_IF_ERROR(flush());
  if (batch.empty()) return Status::ok();
  LOCI_RETURN_IF_ERROR(file_->append(batch.data(), batch.size()));
  size_.fetch_add(batch.size(), std::memory_order_release);
  return Status::ok();
}

Status BlobArena::append_buffered(std::string&& batch) {
  if (batch.empty()) return Status::ok();
  size_.fetch_add(batch.size(), std::memory_order_release);
  held_bytes_ += batch.size();
  // Kept as the caller's buffers, not copied into one: a replay may hold hundreds of MiB.
  held_.push_back(std::move(batch));
  batch.clear();
  return held_bytes_ >= (4u << 20) && cut_to_ == 0 && file_ ? flush() : Status::ok();
}

Status BlobArena::open_for_writing() {
  if (file_) return Status::ok();
  if (read_only_) return Status::error(StatusCode::internal, path_ + " is open read-only");
  if (cut_to_) LOCI_RETURN_IF_ERROR(env_->truncate(path_, cut_to_));
  cut_to_ = 0;
  return env_->new_writable(path_, false, &file_);
}

Status BlobArena::flush() {
  if (read_only_) return held_.empty() ? Status::ok() : Status::error(StatusCode::internal, path_ + " is open read-only");
  LOCI_RETURN_IF_ERROR(open_for_writing());
  for (size_t i = 0; i < held_.size(); ++i) {
    Status written = file_->append(held_[i].data(), held_[i].size());
    if (!written.is_ok()) {
      held_.erase(held_.begin(), held_.begin() + static_cast<std::ptrdiff_t>(i));  // what is left to write
      return written;
    }
    held_bytes_ -= held_[i].size();
  }
  held_.clear();
  return Status::ok();
}

Status BlobArena::sync() {
  if (read_only_) return Status::ok();
  LOCI_RETURN_IF_ERROR(flush());
  return file_->sync();
}

Status BlobArena::mapping_covering(uint64_t end, std::shared_ptr<MappedFile>* mapping) const {
  sync::MutexLock lock(map_mutex_);
  if (!mapping_ || mapping_->size() < end) {
    std::unique_ptr<MappedFile> fresh;
    LOCI_RETURN_IF_ERROR(env_->map(path_, &fresh));
    mapping_ = std::move(fresh);  // readers of the old mapping still hold it
  }
  *mapping = mapping_;
  return Status::ok();
}

Status BlobArena::read(BlobRef ref, std::string* text, std::string* meta) const {
  text->clear();
  meta->clear();
  if (ref.empty()) return Status::ok();
  auto corrupt = [&](const std::string& why) {
    return Status::error(StatusCode::corrupt, path_ + " at offset " + std::to_string(ref.offset) + ": " + why +
                                                  " (run `loci verify`)");
  };
  // Checked without overflow: a damaged reference can hold any 64-bit offset.
  const uint64_t arena_size = size();
  if (ref.offset < kFileHeaderBytes || ref.offset > arena_size || arena_size - ref.offset < kBlobHeaderBytes + uint64_t(ref.length)) {
    return corrupt("blob reference lies outside the arena");
  }
  const uint64_t end = ref.offset + kBlobHeaderBytes + ref.length;
  std::shared_ptr<MappedFile> mapping;
  LOCI_RETURN_IF_ERROR(mapping_covering(end, &mapping));
  if (mapping->size() < end) return corrupt("the arena file is shorter than its blobs");
  const uint8_t* blob = mapping->data() + ref.offset;
  if (coding::decode_u32(blob + 4) != ref.length) return corrupt("blob length does not match its reference");
  const uint8_t* payload = blob + kBlobHeaderBytes;
  if (coding::decode_u32(blob) != crc32c::mask(crc32c::value(payload, ref.length))) return corrupt("blob checksum mismatch");
  coding::Reader reader(payload, ref.length);
  if (!reader.string(text, ref.length) || !reader.string(meta, ref.length) || reader.remaining() != 0) {
    return corrupt("malformed blob payload");
  }
  return Status::ok();
}

}  // namespace loci::storage
