// The file layer: every byte Loci reads or writes on disk goes through an Env, so tests
// can swap in FaultInjectionEnv (storage/fault_env.h) to make writes and syncs fail or
// to simulate a machine crash that drops unsynced data.
//
// Semantics every implementation keeps:
//  - append() writes all bytes or returns an error (short writes and EINTR are retried);
//  - sync() makes every byte appended so far durable (fdatasync);
//  - a failed write or sync leaves the file's durable state unknown: callers treat the
//    file as poisoned (the engine stops accepting writes until it is reopened);
//  - errors are Status IO_ERROR (LOCKED for lock()) whose message names the path and
//    the OS error (strerror and errno name, e.g. "ENOSPC").
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace loci::storage {

/// A file written sequentially from its end.
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  virtual Status append(const void* data, size_t size) = 0;
  /// fdatasync: everything appended is durable when this returns ok.
  virtual Status sync() = 0;
  /// Starts writing the file's dirty pages to the disk and returns without waiting
  /// (Linux sync_file_range), so a later sync() has less left to wait for. Only a hint:
  /// it promises nothing about durability, and where there is no such call it does nothing.
  virtual void start_writeback() {}
  virtual Status close() = 0;
  /// Bytes in the file: its size when opened plus everything appended since.
  virtual uint64_t size() const = 0;
  virtual const std::string& path() const = 0;
};

/// A file read at arbitrary offsets (pread); safe to use from several threads.
class RandomAccessFile {
 public:
  virtual ~RandomAccessFile() = default;
  /// Reads exactly `size` bytes at `offset`; IO_ERROR if the file is shorter.
  virtual Status read(uint64_t offset, size_t size, void* out) const = 0;
  virtual uint64_t size() const = 0;
  virtual const std::string& path() const = 0;
};

/// A read-only memory mapping of a whole file as it was when mapped.
class MappedFile {
 public:
  virtual ~MappedFile() = default;
  virtual const uint8_t* data() const = 0;
  virtual size_t size() const = 0;
};

/// An exclusive lock on a file; released when destroyed (or when the process dies).
class FileLock {
 public:
  virtual ~FileLock() = default;
};

class Env {
 public:
  virtual ~Env() = default;

  /// The process-wide POSIX implementation (never destroyed).
  static Env* posix();

  /// Opens `path` for appending. `truncate` true: creates it or empties it;
  /// false: creates it if missing, else appends after its current end.
  virtual Status new_writable(const std::string& path, bool truncate, std::unique_ptr<WritableFile>* file) = 0;
  virtual Status new_random_access(const std::string& path, std::unique_ptr<RandomAccessFile>* file) = 0;
  /// Maps the whole file read-only (an empty file maps to data() == nullptr, size 0).
  virtual Status map(const std::string& path, std::unique_ptr<MappedFile>* file) = 0;
  /// Reads a whole (small) file into *contents.
  virtual Status read_file(const std::string& path, std::string* contents) = 0;

  virtual bool exists(const std::string& path) = 0;
  virtual Status file_size(const std::string& path, uint64_t* size) = 0;
  /// Names of the entries of `dir` (not "." or ".."), in no particular order.
  virtual Status list_dir(const std::string& dir, std::vector<std::string>* names) = 0;
  /// Creates `dir` (and missing parents); ok if it exists.
  virtual Status create_dir(const std::string& dir) = 0;
  virtual Status remove_file(const std::string& path) = 0;
  /// Atomically replaces `to` with `from` (rename(2)); call sync_dir to make it durable.
  virtual Status rename(const std::string& from, const std::string& to) = 0;
  virtual Status truncate(const std::string& path, uint64_t size) = 0;
  /// fsync on the directory, so created, renamed and removed entries are durable.
  virtual Status sync_dir(const std::string& dir) = 0;
  /// Takes an exclusive advisory lock (fcntl F_SETLK) on `path`, creating it. A lock
  /// held by another process, or already by this process through this Env, gives
  /// LOCKED with a message that says so.
  virtual Status lock(const std::string& path, std::unique_ptr<FileLock>* lock) = 0;
};

/// Joins a directory and a file name.
inline std::string join_path(const std::string& dir, const std::string& name) {
  if (dir.empty() || dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

}  // namespace loci::storage
