// The write-ahead log: batch records, the WAL files and their replay.
// See docs/format/wal.md.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "storage/env.h"

namespace loci::engine {

enum class BatchOp : uint8_t { add = 1, upsert = 2, remove = 3 };

/// One add / upsert / delete call: the unit of atomicity and of the WAL.
struct WriteBatch {
  BatchOp op = BatchOp::add;
  std::vector<std::string> ids;
  std::vector<float> vectors;  // ids.size() * dim (add, upsert)
  const float* vector_data() const { return vectors.data(); }
  std::vector<double> times;   // Unix ms, NaN = none (add, upsert)
  std::vector<std::string> texts;
  std::vector<std::string> metas;  // JSON text, "" = none

  size_t size() const { return ids.size(); }
  /// Appends the batch's WAL payload (lsn first) to *out.
  void encode(uint64_t lsn, size_t dim, std::string* out) const;
};

/// A batch record read in place: ids, texts and metas are views of the payload and each
/// vector is where the payload holds it, so replay copies every field once, straight to
/// where it stays (the group it joins, the arena's buffer). Valid while the payload is;
/// decoded into again and again, its vectors keep their capacity.
struct BatchView {
  BatchOp op = BatchOp::add;
  std::vector<std::string_view> ids;
  std::vector<double> times;  // add, upsert
  std::vector<std::string_view> texts, metas;
  std::vector<const uint8_t*> vectors;  // dim f32 little-endian each, not aligned

  size_t size() const { return ids.size(); }
  /// Parses a payload; false if it is malformed for `dim`. The vectors are not checked
  /// here: append_vectors() checks each as it copies it.
  bool decode(const uint8_t* payload, size_t size, size_t dim, uint64_t* lsn);
  /// Appends the vectors to *rows, each checked as the write path checks it (finite, its
  /// squared length within float32). On a bad one *rows is left as it was and the error
  /// names the item.
  Status append_vectors(size_t dim, std::vector<float>* rows) const;
};

enum class RecoveryMode { tolerate_torn_tail, absolute, point_in_time };

std::string wal_dir(const std::string& dir);
std::string wal_file_name(uint64_t seq);

class WalWriter {
 public:
  /// Creates wal/<seq>.log with its header, synced (the caller syncs the directory).
  static Status create(storage::Env* env, const std::string& dir, uint64_t seq, size_t dim,
                       std::unique_ptr<WalWriter>* writer);
  Status append(const std::string& records) { return file_->append(records.data(), records.size()); }
  Status sync() { return file_->sync(); }
  Status close() { return file_->close(); }
  uint64_t seq() const { return seq_; }
  uint64_t size() const { return file_->size(); }

 private:
  WalWriter() = default;
  std::unique_ptr<storage::WritableFile> file_;
  uint64_t seq_ = 0;
};

struct ReplayResult {
  uint64_t last_lsn = 0;    // the last LSN applied or skipped
  uint64_t last_seq = 0;    // the newest WAL file found (0 if none)
  uint64_t records = 0;     // records applied
  uint64_t bytes = 0;       // WAL bytes read
  uint64_t empty_tail = 0;  // newest files, after first_seq, that held no record (header only, undamaged)
  bool dropped_tail = false;
  std::string note;         // what recovery dropped or set aside, if anything
};

/// Where a replayed record lies: its WAL file and byte offset (for error messages).
struct RecordPosition {
  const std::string& path;
  uint64_t offset;
};

/// Replays wal/<seq>.log for seq >= first_seq in order: every batch record with
/// lsn > after_lsn is passed to `apply`, as a view of the mapped file. An error `apply`
/// returns fails the replay as CORRUPT naming the record (one already CORRUPT is returned as it is). Damage is
/// handled as `mode` documents (docs/format/wal.md). With `read_only`, nothing is
/// truncated or renamed (verify).
Status replay_wal(storage::Env* env, const std::string& dir, uint64_t first_seq, size_t dim, uint64_t after_lsn,
                  RecoveryMode mode, bool read_only,
                  const std::function<Status(const BatchView&, uint64_t lsn, const RecordPosition& position)>& apply,
                  ReplayResult* result);

/// Removes the files `replay` found empty at the end of the sequence (its `empty_tail`),
/// the newest first, so the sequence stays whole even if this is interrupted, and syncs
/// the directory if any went. Each open starts a new WAL file and a close with nothing to
/// checkpoint leaves it empty: without this they pile up, and every open replays (and
/// syncs) each of them. `*next_seq` is the number the next WAL file must take.
Status remove_empty_wal_tail(storage::Env* env, const std::string& dir, const ReplayResult& replay, uint64_t* next_seq);

}  // namespace loci::engine
