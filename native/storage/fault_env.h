// FaultInjectionEnv: an Env for tests that wraps another (usually Env::posix()) and
//  - fails chosen operations with a chosen errno (ENOSPC, EIO, ...) after N successes,
//    once or from then on, as the real OS would report them (IO_ERROR naming the errno);
//  - records how much of each file has been synced, and simulate_crash() cuts every
//    file back to its last synced size (and forgets unsynced directory changes such as
//    created files), as a power loss would. Tests use it to prove that an acknowledged
//    write in `sync` mode survives a machine crash, which a SIGKILL cannot show (the
//    page cache survives a killed process).
//
// The crash model, precisely (paths are compared as spelled, so use one spelling per
// file, e.g. always join_path(dir, name)):
//  - a file's durable length is its size at its last successful sync(); 0 for a file
//    created or truncated by new_writable(truncate = true); for an existing file opened
//    to append, its size when first opened through this Env; truncate() lowers it;
//  - a file created through this Env is durable once sync_dir() of its directory;
//  - rename(from, to) is durable once sync_dir() of both directories; until then
//    simulate_crash() moves the file back to `from` and restores the file `to` had
//    replaced (its durable contents, kept in memory at the rename);
//  - remove_file() is treated as durable at once (a crash never brings a file back);
//  - close every file opened through this Env before simulate_crash(): a file object
//    that outlives it would keep writing at the cut-back end.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "storage/env.h"
#include "sync/thread_annotations.h"

namespace loci::storage {

enum class FaultOp { append, sync, sync_dir, rename, create };

class FaultInjectionEnv final : public Env {
 public:
  explicit FaultInjectionEnv(Env* base) : base_(base) {}

  /// From the (successes+1)-th call of `op` after this one on, fail with `error_number`
  /// (e.g. ENOSPC); `times` failures in a row, then succeed again (times 0 = fail for
  /// ever). Replaces any earlier fault on `op`. A failed call does nothing underneath.
  void fail(FaultOp op, uint64_t successes, int error_number, uint64_t times = 0);
  /// Stops every injected failure.
  void clear_faults();
  /// Truncates every file written through this Env to its last synced size, undoes
  /// renames not yet made durable and removes files created since the last sync_dir of
  /// their directory; then forgets all tracking (what is left is all durable).
  Status simulate_crash();
  /// Calls of `op` so far (successful or failed).
  uint64_t calls(FaultOp op) const;

  Status new_writable(const std::string& path, bool truncate, std::unique_ptr<WritableFile>* file) override;
  Status new_random_access(const std::string& path, std::unique_ptr<RandomAccessFile>* file) override;
  Status map(const std::string& path, std::unique_ptr<MappedFile>* file) override;
  Status read_file(const std::string& path, std::string* contents) override;
  bool exists(const std::string& path) override;
  Status file_size(const std::string& path, uint64_t* size) override;
  Status list_dir(const std::string& dir, std::vector<std::string>* names) override;
  Status create_dir(const std::string& dir) override;
  Status remove_file(const std::string& path) override;
  Status rename(const std::string& from, const std::string& to) override;
  Status truncate(const std::string& path, uint64_t size) override;
  Status sync_dir(const std::string& dir) override;
  Status lock(const std::string& path, std::unique_ptr<FileLock>* lock) override;

  // Used by the wrapped files.
  Status check(FaultOp op, const std::string& path);
  void note_synced(const std::string& path, uint64_t size);

 private:
  struct Fault {
    uint64_t successes = 0;
    int error_number = 0;
    uint64_t times = 0;
    uint64_t failed = 0;
    bool armed = false;
  };
  // A rename whose directory entries are not durable yet.
  struct PendingRename {
    std::string from, to;
    std::set<std::string> unsynced_dirs;  // of `from` and `to`; durable when empty
    bool restore_replaced = false;        // `to` existed durably before the rename
    std::string replaced_contents;        // its durable bytes, written back on a crash
  };
  Status check_locked(FaultOp op, const std::string& path) REQUIRES(mutex_);
  void move_tracking_locked(const std::string& from, const std::string& to) REQUIRES(mutex_);

  Env* base_;
  mutable sync::Mutex mutex_;
  std::map<FaultOp, Fault> faults_ GUARDED_BY(mutex_);
  std::map<FaultOp, uint64_t> calls_ GUARDED_BY(mutex_);
  std::map<std::string, uint64_t> synced_size_ GUARDED_BY(mutex_);   // files written through this Env
  std::set<std::string> created_since_dir_sync_ GUARDED_BY(mutex_);  // new files whose dir entry is not durable
  std::vector<PendingRename> pending_renames_ GUARDED_BY(mutex_);    // oldest first
};

}  // namespace loci::storage
