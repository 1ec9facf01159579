// The engine: one store, in memory or durable in a directory. It owns the index (exact
// store or Atlas), the item table (times, blob references), and for a durable store the
// WAL, the blob arena, the MANIFEST, the checkpoints and the directory lock.
// Formats and life cycle: docs/format/store.md and the files it links.
//
// Writes: submit() queues a batch on the calling thread (so writes apply in call
// order); commit() then runs on any thread: the first caller to find no leader becomes
// the leader, commits every queued batch as one group (validate, blobs to the arena,
// one WAL append, one fsync, apply in order) and wakes the others (group commit).
// Reads (get, search through index()) run concurrently with writes.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "engine/checkpoint.h"
#include "engine/wal.h"
#include "index/vector_index.h"
#include "storage/blob_arena.h"
#include "storage/env.h"
#include "storage/manifest.h"

namespace loci::engine {

enum class Durability { sync, interval, none };

struct EngineOptions {
  std::string dir;               // empty: an in-memory store (no files, no WAL)
  // Shape. For an existing store, 0 / -1 means "as stored"; a value that differs from
  // the MANIFEST is refused.
  size_t dim = 0;
  int metric = -1;               // index::Metric
  int quantization = -1;         // index::Quantization
  int index = -1;                // 0 flat, 1 atlas
  size_t page_size = 0;
  size_t fanout = 0;
  Durability durability = Durability::sync;
  uint32_t sync_interval_ms = 10;
  uint64_t checkpoint_bytes = 64ull << 20;
  RecoveryMode recovery = RecoveryMode::tolerate_torn_tail;
  storage::Env* env = nullptr;   // default Env::posix()
};

/// What open() found and did, for stats and tests.
struct OpenReport {
  bool created = false;
  uint64_t replayed_records = 0;
  uint64_t replayed_bytes = 0;
  double load_ms = 0, replay_ms = 0;
  std::string recovery_note;  // records dropped or set aside by the recovery mode
};

struct EngineStats {
  uint64_t lsn = 0, checkpoint_lsn = 0, checkpoints = 0;
  uint64_t wal_bytes = 0, arena_bytes = 0, arena_live_bytes = 0, disk_bytes = 0;
  uint64_t groups = 0, batches = 0;  // group commits and the batches they held
};

/// An item's stored fields (the vector is read separately).
struct ItemView {
  double time = 0;
  std::string text, meta;
};

struct PendingWrite;

class Engine {
 public:
  static Status open(const EngineOptions& options, std::unique_ptr<Engine>* engine, OpenReport* report = nullptr);
  ~Engine();

  /// Opens a store once per process: a durable store's directory already open here
  /// (from any thread, e.g. several worker_threads) gives the same engine, shared and
  /// counted; shape options must agree with it (durability and recovery are the first
  /// opener's). In-memory stores are never shared. Pair each success with release().
  static Status acquire(const EngineOptions& options, std::shared_ptr<Engine>* engine, OpenReport* report = nullptr);
  /// Gives up one acquire(); the last one closes the engine (checkpoint, unlock) and
  /// returns close()'s status.
  static Status release(std::shared_ptr<Engine> engine);

  /// Queues a batch (call on the thread that defines the order). Shape checks (dims,
  /// finite values, ids) must already be done; existence is checked at commit.
  std::shared_ptr<PendingWrite> submit(WriteBatch batch);
  /// Waits until the batch is committed (leading a group commit if no one is) and
  /// returns its outcome.
  Status commit(const std::shared_ptr<PendingWrite>& write);
  /// submit + commit.
  Status write(WriteBatch batch) { return commit(submit(std::move(batch))); }

  Status get(const std::string& id, float* vector, ItemView* item) const;
  /// Whether `id` is stored, and how many items are, from the item table: they take
  /// items_mutex_, which a writer holds only to update the table, not the index's lock,
  /// which it holds for a whole batch's insert (the addon calls these on the JS thread).
  bool contains(const std::string& id) const;
  size_t size() const;
  const index::VectorIndex& index() const { return *index_; }

  /// Writes a checkpoint now. `compact`: also drop tombstones and collect the arena.
  Status checkpoint(bool compact);
  /// Checkpoints (durable stores with changes), stops background work, releases the lock.
  Status close();

  EngineStats stats() const;
  const storage::Manifest& shape() const { return shape_; }
  bool durable() const { return !dir_.empty(); }

  /// Checks every checksum and invariant of a closed store without changing it.
  static Status verify(const std::string& dir, std::string* report, storage::Env* env = nullptr);

 private:
  Engine() = default;
  Status create_index();
  Status load(OpenReport* report);
  Status commit_group(std::vector<std::shared_ptr<PendingWrite>>& group);
  Status apply(WriteBatch& batch, const std::vector<storage::BlobRef>& refs);
  // Replay: consecutive batches of the same kind are applied as one (fewer, larger
  // index writes); `replay_pending_` collects them until replay_flush().
  Status replay_batch(WriteBatch& batch, uint64_t lsn);
  Status replay_flush();
  WriteBatch replay_pending_;
  std::vector<storage::BlobRef> replay_refs_;
  std::unordered_set<std::string> replay_ids_;
  Status checkpoint_locked(bool compact);
  Status collect_arena();
  void sync_loop();
  Status poisoned() const;
  void poison(const Status& status);

  storage::Env* env_ = nullptr;
  std::string dir_;
  EngineOptions options_;
  storage::Manifest shape_;  // the current MANIFEST (durable) or the shape (in memory)
  std::unique_ptr<storage::FileLock> lock_;
  std::unique_ptr<index::VectorIndex> index_;

  // Item table. Invariant: one entry per live item of the index.
  mutable std::shared_mutex items_mutex_;
  std::unordered_map<std::string, ItemRecord> items_;
  uint64_t arena_live_bytes_ = 0;

  // Write queue (group commit).
  std::mutex queue_mutex_;
  std::condition_variable queue_cv_;
  std::deque<std::shared_ptr<PendingWrite>> queue_;
  bool leader_active_ = false;

  // Held by the group leader and by checkpoints: one of them at a time touches the WAL,
  // the arena and the index's writes.
  std::mutex commit_mutex_;
  std::unique_ptr<WalWriter> wal_;
  std::string group_records_, group_blobs_;  // a group's encoded WAL records and blobs
  // Replaced by a collection (under items_mutex_); readers copy the pointer under that
  // lock, so an arena they read from lives until they finish.
  std::shared_ptr<storage::BlobArena> arena_;
  uint64_t lsn_ = 0;
  uint64_t wal_bytes_since_checkpoint_ = 0;
  uint64_t checkpoint_files_bytes_ = 0;
  std::atomic<uint64_t> checkpoints_{0}, groups_{0}, batches_{0};

  // Durability `interval`: a thread fsyncs the WAL every sync_interval_ms.
  std::mutex sync_mutex_;  // guards wal_ against rotation while the syncer uses it
  std::condition_variable sync_cv_;
  bool stop_syncer_ = false;
  std::atomic<bool> wal_dirty_{false};
  std::thread syncer_;

  mutable std::mutex error_mutex_;
  Status background_error_;
  bool closed_ = false;
  bool read_only_ = false;  // verify: load and replay without changing a byte
  std::string registry_key_;  // set when shared through acquire()
};

}  // namespace loci::engine
