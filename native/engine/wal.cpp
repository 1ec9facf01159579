#include "engine/wal.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "common/coding.h"
#include "index/validate.h"
#include "storage/log_format.h"

namespace loci::engine {
namespace {

constexpr uint32_t kWalMagic = 0x4C57434C;  // "LCWL"
constexpr uint8_t kBatchRecord = 1;
constexpr size_t kMaxIdBytes = 1024;
constexpr size_t kMaxBlobBytes = 1u << 30;
// How far past a damaged record recovery looks for a valid one, to tell a torn tail
// (nothing valid follows) from damage in the middle of the log.
constexpr size_t kTailScanBytes = 64u << 20;

bool parse_wal_name(const std::string& name, uint64_t* seq) {
  if (name.size() != 20 || name.compare(16, 4, ".log") != 0) return false;
  uint64_t value = 0;
  for (size_t i = 0; i < 16; ++i) {
    if (name[i] < '0' || name[i] > '9') return false;
    value = value * 10 + (name[i] - '0');
  }
  *seq = value;
  return true;
}

// True if a record that passes its CRC starts anywhere in data[from, size).
bool valid_record_follows(const uint8_t* data, size_t size, size_t from) {
  const size_t limit = std::min(size, from + kTailScanBytes);
  for (size_t offset = from; offset + storage::kRecordHeaderBytes <= limit; ++offset) {
    uint8_t type;
    const uint8_t* payload;
    size_t payload_size, next;
    if (storage::read_record(data, size, offset, &type, &payload, &payload_size, &next) == storage::RecordRead::ok &&
        payload_size >= 8) {
      return true;
    }
  }
  return false;
}

}  // namespace

void WriteBatch::encode(uint64_t lsn, size_t dim, std::string* out) const {
  coding::put_u64(out, lsn);
  coding::put_u8(out, static_cast<uint8_t>(op));
  coding::put_varint(out, ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    coding::put_string(out, ids[i]);
    if (op == BatchOp::remove) continue;
    coding::put_f64(out, times[i]);
    coding::put_string(out, texts[i]);
    coding::put_string(out, metas[i]);
    // f32 little-endian, as in memory (Loci builds only for little-endian targets).
    out->append(reinterpret_cast<const char*>(vector_data() + i * dim), dim * sizeof(float));
  }
}

bool BatchView::decode(const uint8_t* payload, size_t size, size_t dim, uint64_t* lsn) {
  coding::Reader in(payload, size);
  uint8_t op_byte = 0;
  uint64_t count = 0;
  if (!in.u64(lsn) || !in.u8(&op_byte) || op_byte < 1 || op_byte > 3 || !in.varint(&count) || count > size) return false;
  op = static_cast<BatchOp>(op_byte);
  const bool removes = op == BatchOp::remove;
  ids.resize(count);
  times.resize(removes ? 0 : count);
  texts.resize(removes ? 0 : count);
  metas.resize(removes ? 0 : count);
  vectors.resize(removes ? 0 : count);
  for (size_t i = 0; i < count; ++i) {
    if (!in.string_view(&ids[i], kMaxIdBytes) || ids[i].empty()) return false;
    if (removes) continue;
    if (!in.f64(&times[i]) || !in.string_view(&texts[i], kMaxBlobBytes) || !in.string_view(&metas[i], kMaxBlobBytes) ||
        !in.raw(&vectors[i], dim * sizeof(float))) {
      return false;
    }
  }
  return in.ok() && in.remaining() == 0;
}

Status BatchView::append_vectors(size_t dim, std::vector<float>* rows) const {
  const size_t first = rows->size();
  for (size_t i = 0; i < vectors.size(); ++i) {
    // A row at a time: resize() zero-fills, and the zeros it writes are overwritten at
    // once, while they are still in cache (the capacity grows geometrically).
    rows->resize(rows->size() + dim);
    float* row = rows->data() + rows->size() - dim;
    // f32 little-endian, as in memory (Loci builds only for little-endian targets).
    std::memcpy(row, vectors[i], dim * sizeof(float));
    // The write path's own check: replay hands the batch to the index as validated.
    Status checked = index::check_vector(row, dim, "vector of item", i);
    if (!checked.is_ok()) {
      rows->resize(first);
      return checked;
    }
  }
  return Status::ok();
}

std::string wal_dir(const std::string& dir) { return storage::join_path(dir, "wal"); }

std::string wal_file_name(uint64_t seq) {
  char name[32];
  std::snprintf(name, sizeof name, "%016llu.log", static_cast<unsigned long long>(seq));
  return name;
}

Status WalWriter::create(storage::Env* env, const std::string& dir, uint64_t seq, size_t dim,
                         std::unique_ptr<WalWriter>* result) {
  std::unique_ptr<WalWriter> writer(new WalWriter());
  writer->seq_ = seq;
  LOCI_RETURN_IF_ERROR(env->create_dir(wal_dir(dir)));
  LOCI_RETURN_IF_ERROR(env->new_writable(storage::join_path(wal_dir(dir), wal_file_name(seq)), true, &writer->file_));
  storage::FileHeader header;
  header.magic = kWalMagic;
  header.first = seq;
  header.second = dim;
  const std::string bytes = header.encode();
  LOCI_RETURN_IF_ERROR(writer->file_->append(bytes.data(), bytes.size()));
  LOCI_RETURN_IF_ERROR(writer->file_->sync());
  *result = std::move(writer);
  return Status::ok();
}

Status replay_wal(storage::Env* env, const std::string& dir, uint64_t first_seq, size_t dim, uint64_t after_lsn,
                  RecoveryMode mode, bool read_only,
                  const std::function<Status(const BatchView&, uint64_t lsn, const RecordPosition& position)>& apply,
                  ReplayResult* result) {
  *result = ReplayResult{};
  result->last_lsn = after_lsn;
  const std::string directory = wal_dir(dir);
  std::vector<uint64_t> seqs;
  if (env->exists(directory)) {
    std::vector<std::string> names;
    LOCI_RETURN_IF_ERROR(env->list_dir(directory, &names));
    for (const std::string& name : names) {
      uint64_t seq;
      if (parse_wal_name(name, &seq) && seq >= first_seq) seqs.push_back(seq);
    }
  }
  std::sort(seqs.begin(), seqs.end());
  if (seqs.empty() || seqs.front() != first_seq) {
    return Status::error(StatusCode::corrupt, storage::join_path(directory, wal_file_name(first_seq)) +
                                                  " at offset 0: the WAL file the MANIFEST names is missing");
  }
  result->last_seq = seqs.back();

  // Point-in-time recovery stops at the first damage: the rest is set aside.
  auto set_aside_from = [&](size_t file_index) -> Status {
    for (size_t j = file_index; j < seqs.size(); ++j) {
      const std::string path = storage::join_path(directory, wal_file_name(seqs[j]));
      if (!read_only) LOCI_RETURN_IF_ERROR(env->rename(path, path + ".corrupt"));
      result->note += " set aside " + path + ";";
    }
    return Status::ok();
  };

  for (size_t f = 0; f < seqs.size(); ++f) {
    const std::string path = storage::join_path(directory, wal_file_name(seqs[f]));
    const bool newest = f + 1 == seqs.size();
    if (f > 0 && seqs[f] != seqs[f - 1] + 1) {
      return Status::error(StatusCode::corrupt, storage::join_path(directory, wal_file_name(seqs[f - 1] + 1)) +
                                                    " at offset 0: a WAL file is missing from the sequence");
    }
    if (!read_only) {
      // The records below are synced once they are replayed (the end of this loop).
      // After a crash of the process, not of the machine, the page cache may still hold
      // many of them unwritten (durability 'none' or 'interval'): start writing them now,
      // so the disk works while the records are checked and applied.
      std::unique_ptr<storage::WritableFile> file;
      if (env->new_writable(path, false, &file).is_ok()) {
        file->start_writeback();
        file->close();
      }
    }
    std::unique_ptr<storage::MappedFile> map;
    LOCI_RETURN_IF_ERROR(env->map(path, &map));
    const uint8_t* data = map->data();
    const size_t size = map->size();
    result->bytes += size;
    auto damage = [&](uint64_t offset, const std::string& why, bool torn_tail) -> Status {
      const std::string where = path + " at offset " + std::to_string(offset) + ": " + why;
      const bool tolerate = mode == RecoveryMode::point_in_time ||
                            (mode == RecoveryMode::tolerate_torn_tail && torn_tail && newest);
      if (!tolerate) {
        return Status::error(StatusCode::corrupt,
                             where + (torn_tail && newest ? " (a torn tail: open with recovery 'tolerate-torn-tail' to drop it)"
                                                          : " (open with recovery 'point-in-time' to salvage the store up to here)"));
      }
      result->dropped_tail = true;
      result->empty_tail = 0;  // what recovery cut or recreated is not removed
      result->note += " dropped " + where + ";";
      if (!read_only) {
        map.reset();
        if (offset < storage::kFileHeaderBytes) {
          // The header itself is damaged: keep a damaged one aside as evidence (a torn
          // one holds nothing), and start the file afresh, empty, so the sequence of
          // WAL files stays whole.
          if (!torn_tail) LOCI_RETURN_IF_ERROR(env->rename(path, path + ".corrupt"));
          std::unique_ptr<WalWriter> fresh;
          LOCI_RETURN_IF_ERROR(WalWriter::create(env, dir, seqs[f], dim, &fresh));
          LOCI_RETURN_IF_ERROR(fresh->close());
        } else {
          if (!torn_tail) {
            // Intact records may follow the damage: keep every byte from it on, so
            // nothing is destroyed by salvaging (docs/format/wal.md).
            std::unique_ptr<storage::MappedFile> copy;
            LOCI_RETURN_IF_ERROR(env->map(path, &copy));
            std::unique_ptr<storage::WritableFile> aside;
            LOCI_RETURN_IF_ERROR(env->new_writable(path + ".corrupt", true, &aside));
            LOCI_RETURN_IF_ERROR(aside->append(copy->data() + offset, copy->size() - offset));
            LOCI_RETURN_IF_ERROR(aside->sync());
            LOCI_RETURN_IF_ERROR(aside->close());
          }
          LOCI_RETURN_IF_ERROR(env->truncate(path, offset));
        }
      }
      // Later files hold records after the damage: set them aside, and let the next WAL
      // file follow this one.
      result->last_seq = seqs[f];
      if (!newest) return set_aside_from(f + 1);
      return Status::ok();
    };
    if (size < storage::kFileHeaderBytes) {
      LOCI_RETURN_IF_ERROR(damage(0, "file cut short inside its header", true));
      break;
    }
    storage::FileHeader header;
    std::string why;
    if (!header.decode(data, kWalMagic, &why) || header.first != seqs[f] || header.second != dim) {
      if (why.empty()) why = "header names another sequence number or dimension";
      LOCI_RETURN_IF_ERROR(damage(0, why, false));
      break;
    }
    size_t offset = storage::kFileHeaderBytes;
    bool stop = false;
    BatchView batch;  // decoded into again and again: its buffers keep their capacity
    for (;;) {
      uint8_t type;
      const uint8_t* payload;
      size_t payload_size, next;
      storage::RecordRead read = storage::read_record(data, size, offset, &type, &payload, &payload_size, &next);
      if (read == storage::RecordRead::end) break;
      if (read != storage::RecordRead::ok) {
        // Torn only if nothing valid follows: a record whose length was damaged can
        // also seem to run past the end of the file.
        const bool torn = !valid_record_follows(data, size, offset + 1);
        LOCI_RETURN_IF_ERROR(damage(offset, read == storage::RecordRead::truncated ? "record cut short" : "record checksum mismatch", torn));
        stop = true;
        break;
      }
      if (type != kBatchRecord) {
        if (!(type & storage::kRecordIgnorableBit)) {
          return Status::error(StatusCode::corrupt, path + " at offset " + std::to_string(offset) +
                                                        ": unknown record type " + std::to_string(type) +
                                                        " (written by a newer Loci?)");
        }
        offset = next;
        continue;
      }
      uint64_t lsn = 0;
      if (!batch.decode(payload, payload_size, dim, &lsn)) {
        return Status::error(StatusCode::corrupt, path + " at offset " + std::to_string(offset) + ": malformed batch record");
      }
      if (lsn > after_lsn) {
        if (lsn != result->last_lsn + 1) {
          return Status::error(StatusCode::corrupt, path + " at offset " + std::to_string(offset) + ": LSN " +
                                                        std::to_string(lsn) + " does not follow " +
                                                        std::to_string(result->last_lsn));
        }
        Status applied = apply(batch, lsn, RecordPosition{path, offset});
        if (applied.code() == StatusCode::corrupt) return applied;
        if (!applied.is_ok()) {
          return Status::error(StatusCode::corrupt, path + " at offset " + std::to_string(offset) +
                                                        ": record does not apply: " + applied.message());
        }
        result->last_lsn = lsn;
        ++result->records;
      }
      offset = next;
    }
    if (!read_only) {
      // Records replayed from the page cache may never have been synced (a write whose
      // fsync failed, or durability 'none'): sync them before new records follow them,
      // or a power loss could drop them and leave a gap in the LSNs.
      std::unique_ptr<storage::WritableFile> file;
      LOCI_RETURN_IF_ERROR(env->new_writable(path, false, &file));
      LOCI_RETURN_IF_ERROR(file->sync());
      LOCI_RETURN_IF_ERROR(file->close());
    }
    if (stop) break;
    // The file the MANIFEST names stays even if empty: replay requires it.
    result->empty_tail = f > 0 && size == storage::kFileHeaderBytes ? result->empty_tail + 1 : 0;
  }
  return Status::ok();
}

Status remove_empty_wal_tail(storage::Env* env, const std::string& dir, const ReplayResult& replay, uint64_t* next_seq) {
  const uint64_t kept = replay.last_seq - replay.empty_tail;  // the newest file that stays
  for (uint64_t seq = replay.last_seq; seq > kept; --seq) {
    LOCI_RETURN_IF_ERROR(env->remove_file(storage::join_path(wal_dir(dir), wal_file_name(seq))));
  }
  // Durable before a file with a reused number is created: a power loss must not keep
  // the new file and lose a removal, leaving a hole in the sequence.
  if (replay.empty_tail > 0) LOCI_RETURN_IF_ERROR(env->sync_dir(wal_dir(dir)));
  *next_seq = kept + 1;
  return Status::ok();
}

}  // namespace loci::engine
