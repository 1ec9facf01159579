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
//
// Locks (checked by clang -Wthread-safety, scripts/test-thread-safety.sh), in the order
// they may be taken: commit_mutex_, then sync_mutex_ or items_mutex_, then error_mutex_.
// queue_mutex_ is never held together with another. docs/architecture.md#locking.
#pragma once

#include <atomic>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "common/id_map.h"
#include "engine/checkpoint.h"
#include "engine/replay_pipeline.h"
#include "engine/wal.h"
#include "index/vector_index.h"
#include "storage/blob_arena.h"
#include "storage/env.h"
#include "storage/manifest.h"
#include "sync/thread_annotations.h"

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
  size_t replicas = 1;           // atlas: leaves each write goes into (a write policy, not stored)
  double build_fill = 0;         // atlas: bulk-build leaf fill, 0 = Atlas's default (a build policy, not stored)
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
  std::shared_ptr<PendingWrite> submit(WriteBatch batch) EXCLUDES(queue_mutex_);
  /// Waits until the batch is committed (leading a group commit if no one is) and
  /// returns its outcome.
  Status commit(const std::shared_ptr<PendingWrite>& write) EXCLUDES(queue_mutex_, commit_mutex_);
  /// submit + commit.
  Status write(WriteBatch batch) { return commit(submit(std::move(batch))); }

  Status get(const std::string& id, float* vector, ItemView* item) const EXCLUDES(items_mutex_);
  /// Whether `id` is stored, and how many items are, from the item table: they take
  /// items_mutex_ only briefly (a writer holds it only to update the table), so the
  /// addon can call them on the JS thread.
  bool contains(const std::string& id) const EXCLUDES(items_mutex_);
  size_t size() const EXCLUDES(items_mutex_);
  const index::VectorIndex& index() const { return *index_; }

  /// Writes a checkpoint now. `compact`: also drop tombstones and collect the arena.
  Status checkpoint(bool compact) EXCLUDES(queue_mutex_, commit_mutex_);
  /// Checkpoints (durable stores with changes), stops background work, releases the lock.
  Status close() EXCLUDES(queue_mutex_, commit_mutex_, sync_mutex_);

  /// Never waits for a group commit or a checkpoint (only for an item-table update).
  EngineStats stats() const EXCLUDES(items_mutex_);
  /// The store's shape: dim, metric, quantization, index, page_size and fanout (the
  /// other fields are zero). Fixed at open, so any thread may read it without a lock.
  const storage::Manifest& shape() const { return shape_; }
  /// A copy of the current MANIFEST (in memory: the shape). Waits for a group commit or
  /// checkpoint in progress.
  storage::Manifest manifest() const EXCLUDES(commit_mutex_);
  bool durable() const { return !dir_.empty(); }

  /// Checks every checksum and invariant of a closed store without changing it.
  static Status verify(const std::string& dir, std::string* report, storage::Env* env = nullptr);

 private:
  Engine() = default;
  // Fields without an annotation below are set while open() or verify() has the engine
  // to itself and never change after (index_ is internally synchronised: writes reach it
  // only from the commit_mutex_ holder). open() and verify() hold commit_mutex_ while
  // they fill the engine in, so what they call is checked like everything else.
  Status create_index();
  Status load(OpenReport* report) REQUIRES(commit_mutex_);
  Status commit_group(std::vector<std::shared_ptr<PendingWrite>>& group) REQUIRES(commit_mutex_);
  Status apply(WriteBatch& batch, const std::vector<storage::BlobRef>& refs) REQUIRES(commit_mutex_) EXCLUDES(items_mutex_);
  void grow_item_table(size_t adding) REQUIRES(commit_mutex_) EXCLUDES(items_mutex_);
  // Replay: consecutive batches of the same kind are gathered into one group (fewer,
  // larger index writes) in replay_->filling() until replay_flush() hands the group to
  // the pipeline's applier thread.
  Status replay_batch(const BatchView& batch, const RecordPosition& position) REQUIRES(commit_mutex_);
  Status replay_flush() REQUIRES(commit_mutex_);
  // On the applier thread, while the opening thread holds commit_mutex_ for the whole
  // replay and touches neither the index nor the item table: apply() runs under it.
  // A group that does not apply is CORRUPT, naming where its records begin.
  Status apply_replayed(ReplayGroup& group) NO_THREAD_SAFETY_ANALYSIS;
  Status checkpoint_locked(bool compact) REQUIRES(commit_mutex_) EXCLUDES(sync_mutex_, items_mutex_);
  void sync_loop() EXCLUDES(sync_mutex_);
  Status poisoned() const EXCLUDES(error_mutex_);
  void poison(const Status& status) EXCLUDES(error_mutex_);

  storage::Env* env_ = nullptr;
  std::string dir_;
  EngineOptions options_;
  storage::Manifest shape_;  // see shape()
  std::unique_ptr<storage::FileLock> lock_;
  std::unique_ptr<index::VectorIndex> index_;

  // Held by the group leader and by checkpoints: one of them at a time touches the WAL,
  // the arena and the index's writes.
  mutable sync::Mutex commit_mutex_;
  storage::Manifest manifest_ GUARDED_BY(commit_mutex_);  // the current MANIFEST (in memory: the shape)
  ReplayPipeline* replay_ GUARDED_BY(commit_mutex_) = nullptr;  // during load() only
  // Hashes of the ids in the group being filled: a repeated id starts a new group (a
  // collision of two different ids only starts one early).
  std::unordered_set<size_t> replay_ids_ GUARDED_BY(commit_mutex_);
  // Replaced only by checkpoint_locked(), which holds sync_mutex_ too (open() sets it
  // before the syncer starts), so the syncer may use it holding sync_mutex_ alone:
  // wal_for_syncer().
  std::unique_ptr<WalWriter> wal_ GUARDED_BY(commit_mutex_);
  std::string group_records_ GUARDED_BY(commit_mutex_);  // a group's encoded WAL records
  std::string group_blobs_ GUARDED_BY(commit_mutex_);    // and blobs
  // Replaced (by a collection) holding items_mutex_ too, so readers copy the pointer
  // holding items_mutex_ alone (arena_for_readers()), and the arena they read from lives
  // until they finish.
  std::shared_ptr<storage::BlobArena> arena_ GUARDED_BY(commit_mutex_);
  // Written only by the commit_mutex_ holder; atomic so stats() and close() read them
  // without waiting for a group commit or a checkpoint (relaxed: each is one figure).
  std::atomic<uint64_t> lsn_{0}, checkpoint_lsn_{0};  // checkpoint_lsn_: manifest_'s, published
  std::atomic<uint64_t> wal_bytes_since_checkpoint_{0}, checkpoint_files_bytes_{0};
  std::atomic<uint64_t> checkpoints_{0}, groups_{0}, batches_{0};

  WalWriter& wal_for_syncer() REQUIRES(sync_mutex_) NO_THREAD_SAFETY_ANALYSIS { return *wal_; }
  std::shared_ptr<storage::BlobArena> arena_for_readers() const REQUIRES_SHARED(items_mutex_) NO_THREAD_SAFETY_ANALYSIS {
    return arena_;
  }

  // Item table. Invariant: one entry per live item of the index.
  mutable sync::SharedMutex items_mutex_ ACQUIRED_AFTER(commit_mutex_);
  IdMap<ItemRecord> items_ GUARDED_BY(items_mutex_);
  uint64_t arena_live_bytes_ GUARDED_BY(items_mutex_) = 0;

  // Write queue (group commit).
  sync::Mutex queue_mutex_;
  sync::CondVar queue_cv_;
  std::deque<std::shared_ptr<PendingWrite>> queue_ GUARDED_BY(queue_mutex_);
  bool leader_active_ GUARDED_BY(queue_mutex_) = false;

  // Durability `interval`: a thread fsyncs the WAL every sync_interval_ms.
  sync::Mutex sync_mutex_ ACQUIRED_AFTER(commit_mutex_);  // keeps wal_ from being replaced under the syncer
  sync::CondVar sync_cv_;
  bool stop_syncer_ GUARDED_BY(sync_mutex_) = false;
  std::atomic<bool> wal_dirty_{false};
  std::thread syncer_;

  mutable sync::Mutex error_mutex_ ACQUIRED_AFTER(commit_mutex_, items_mutex_, sync_mutex_);
  Status background_error_ GUARDED_BY(error_mutex_);
  bool closed_ GUARDED_BY(error_mutex_) = false;
  bool read_only_ = false;  // verify: load and replay without changing a byte
  std::string registry_key_;  // set when shared through acquire()
};

}  // namespace loci::engine
