// Byte-mutation helpers for the corruption tests (test_wal, test_manifest,
// test_blob_arena, test_engine): flip a byte, overwrite bytes, truncate or remove a
// file, copy a store directory, plus the fresh temporary directory every test works in.
// They use POSIX directly, not an Env, so they damage files behind the back of any
// FaultInjectionEnv, as a disk or another process would.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "harness.h"
#include "storage/errno_name.h"

namespace loci::test {

/// A fresh directory under $TMPDIR (or /tmp), removed with everything in it.
class TempDir {
 public:
  explicit TempDir(const char* tag = "mutate") {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base && *base ? base : "/tmp") + "/loci-test-" + tag + "-XXXXXX";
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    if (::mkdtemp(buffer.data())) path_ = buffer.data();
    if (path_.empty()) fail(__FILE__, __LINE__, "mkdtemp " + pattern + ": " + storage::describe_errno(errno));
  }
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

inline std::string status_text(const Status& status) {
  return std::string(code_name(status.code())) + ": " + status.message();
}

/// Size of a file, or -1 if it cannot be read.
inline int64_t file_bytes(const std::string& path) {
  struct stat info;
  return ::stat(path.c_str(), &info) == 0 ? int64_t(info.st_size) : -1;
}

inline bool file_exists(const std::string& path) {
  struct stat info;
  return ::stat(path.c_str(), &info) == 0;
}

/// The whole file as bytes ("" if it cannot be read).
inline std::string read_bytes(const std::string& path) {
  std::string contents;
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return contents;
  char buffer[1 << 16];
  for (;;) {
    ssize_t got = ::read(fd, buffer, sizeof buffer);
    if (got <= 0) break;
    contents.append(buffer, size_t(got));
  }
  ::close(fd);
  return contents;
}

/// Replaces the file with `contents`.
inline bool write_bytes(const std::string& path, const std::string& contents) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return false;
  bool ok = ::write(fd, contents.data(), contents.size()) == ssize_t(contents.size());
  return ::close(fd) == 0 && ok;
}

/// Overwrites bytes in place at `offset` (which must lie inside the file).
inline bool overwrite(const std::string& path, uint64_t offset, const std::string& bytes) {
  if (file_bytes(path) < int64_t(offset + bytes.size())) return false;
  int fd = ::open(path.c_str(), O_WRONLY);
  if (fd < 0) return false;
  bool ok = ::pwrite(fd, bytes.data(), bytes.size(), off_t(offset)) == ssize_t(bytes.size());
  return ::close(fd) == 0 && ok;
}

/// The byte at `offset`, or -1 past the end.
inline int byte_at(const std::string& path, uint64_t offset) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return -1;
  unsigned char byte = 0;
  ssize_t got = ::pread(fd, &byte, 1, off_t(offset));
  ::close(fd);
  return got == 1 ? int(byte) : -1;
}

/// XORs the byte at `offset` with `mask` (default: every bit). Flipping twice restores it.
inline bool flip_byte(const std::string& path, uint64_t offset, uint8_t mask = 0xFF) {
  int byte = byte_at(path, offset);
  if (byte < 0) return false;
  return overwrite(path, offset, std::string(1, char(uint8_t(byte) ^ mask)));
}

/// Cuts (or extends with zeros) the file to `size` bytes.
inline bool truncate_file(const std::string& path, uint64_t size) { return ::truncate(path.c_str(), off_t(size)) == 0; }

inline bool remove_file(const std::string& path) { return ::unlink(path.c_str()) == 0; }

/// Copies a directory tree (a store) to `to`, which must not exist yet.
inline bool copy_dir(const std::string& from, const std::string& to) {
  std::error_code error;
  std::filesystem::copy(from, to, std::filesystem::copy_options::recursive, error);
  return !error;
}

/// Names in `dir` (not recursive), sorted.
inline std::vector<std::string> list_names(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

/// Runs `body` in a forked child and returns its exit code (128 + signal if it died),
/// for a case that might crash the process: a crash then fails one check instead of
/// ending the whole test program. The child's own failed checks make it exit 1.
inline int run_in_child(const std::function<int()>& body) {
  std::fflush(stdout);
  std::fflush(stderr);
  pid_t pid = ::fork();
  if (pid == 0) {
    int before = failures();
    int code = body();
    std::fflush(stdout);
    std::fflush(stderr);
    ::_exit(failures() != before && code == 0 ? 1 : code);
  }
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid) return -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace loci::test

#define CHECK_OK(expr)                                                                    \
  do {                                                                                    \
    ::loci::Status check_status_ = (expr);                                                \
    CHECK_MSG(check_status_.is_ok(), #expr " -> " + ::loci::test::status_text(check_status_)); \
  } while (0)

// A CORRUPT status naming exactly "<path> at offset <offset>".
#define CHECK_CORRUPT_AT(expr, path, offset)                                                              \
  do {                                                                                                   \
    ::loci::Status at_status_ = (expr);                                                                  \
    const std::string at_where_ = std::string(path) + " at offset " + std::to_string(offset);            \
    CHECK_MSG(at_status_.code() == ::loci::StatusCode::corrupt && ::loci::test::contains(at_status_.message(), at_where_), \
              "expected CORRUPT naming '" + at_where_ + "', got " + ::loci::test::status_text(at_status_)); \
  } while (0)

// A CORRUPT status whose message names `file_part` (a file name or path) and an offset.
#define CHECK_CORRUPT(expr, file_part)                                                               \
  do {                                                                                               \
    ::loci::Status check_status_ = (expr);                                                           \
    const std::string check_part_ = (file_part);                                                     \
    CHECK_MSG(check_status_.code() == ::loci::StatusCode::corrupt &&                                 \
                  ::loci::test::contains(check_status_.message(), check_part_) &&                    \
                  ::loci::test::contains(check_status_.message(), "offset"),                         \
              std::string(#expr " should be CORRUPT naming ") + check_part_ + " and an offset, got " + \
                  ::loci::test::status_text(check_status_));                                         \
  } while (0)
