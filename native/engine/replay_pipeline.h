// WAL replay on both cores: the opening thread reads, checks and decodes records and
// gathers them into groups while a second thread applies the previous group to the
// index and the item table (docs/architecture.md, "Recovery").
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "common/status.h"
#include "engine/wal.h"
#include "storage/blob_arena.h"
#include "sync/thread_annotations.h"

namespace loci::engine {

/// Consecutive replayed batches of one kind that touch distinct ids: applying them as
/// one batch is the same as applying them in turn, and far cheaper.
struct ReplayGroup {
  WriteBatch batch;
  std::vector<storage::BlobRef> refs;  // one per item (the arena is written by the reader)
  std::string first_path;              // where the group's first record lies
  uint64_t first_offset = 0;
  size_t size() const { return batch.size(); }
  void clear();  // keeps the buffers' capacity
};

/// Hands groups from the thread that reads the WAL to one that applies them, in order.
/// Three groups circulate (one being filled, up to two waiting or being applied), so
/// their buffers are reused rather than fresh memory being touched for every group.
/// After the applier's first error nothing more is applied and every call returns it.
class ReplayPipeline {
 public:
  using ApplyFunction = std::function<Status(ReplayGroup&)>;
  explicit ReplayPipeline(ApplyFunction apply);
  ~ReplayPipeline();  // without finish(): drops what is queued and stops the applier
  ReplayPipeline(const ReplayPipeline&) = delete;
  ReplayPipeline& operator=(const ReplayPipeline&) = delete;

  /// The group the reader is filling.
  ReplayGroup& filling() { return *filling_; }
  /// Queues the filled group (if not empty) and gives the reader an empty one,
  /// waiting for one to come back if all are in use.
  Status hand_over() EXCLUDES(mutex_);
  /// Hands the last group over and waits until every group has been applied.
  Status finish() EXCLUDES(mutex_);

 private:
  void run() EXCLUDES(mutex_);

  const ApplyFunction apply_;
  std::unique_ptr<ReplayGroup> filling_;  // the reader's alone
  sync::Mutex mutex_;
  sync::CondVar changed_;
  std::deque<std::unique_ptr<ReplayGroup>> queued_ GUARDED_BY(mutex_);
  std::vector<std::unique_ptr<ReplayGroup>> free_ GUARDED_BY(mutex_);
  bool stopping_ GUARDED_BY(mutex_) = false;
  Status error_ GUARDED_BY(mutex_);
  std::thread applier_;
};

}  // namespace loci::engine
