#include "storage/block_aligned_writer.h"

#include <algorithm>

namespace loci::storage {

BlockAlignedWriter::BlockAlignedWriter(WritableFile* file, size_t block) : file_(file), block_(block) {}

Status BlockAlignedWriter::append(const void* data, size_t size) {
  const char* bytes = static_cast<const char*>(data);
  while (size > 0) {
    const uint64_t position = this->size();
    const size_t to_boundary = block_ - size_t(position & (block_ - 1));
    if (pending_.empty() && size >= to_boundary) {
      // Straight from the caller: up to the boundary and every whole block after it.
      const size_t direct = to_boundary + (size - to_boundary) / block_ * block_;
      LOCI_RETURN_IF_ERROR(file_->append(bytes, direct));
      bytes += direct;
      size -= direct;
      continue;
    }
    const size_t take = std::min(size, to_boundary);
    pending_.append(bytes, take);
    bytes += take;
    size -= take;
    if (take == to_boundary) LOCI_RETURN_IF_ERROR(flush());
  }
  return Status::ok();
}

Status BlockAlignedWriter::flush() {
  if (pending_.empty()) return Status::ok();
  Status status = file_->append(pending_.data(), pending_.size());
  // Dropped even on failure: a failed append poisons the file (env.h), and keeping the
  // bytes would only write them twice if the caller tried again.
  pending_.clear();
  return status;
}

}  // namespace loci::storage
