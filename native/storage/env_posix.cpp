// The POSIX Env (Linux and macOS). Every file descriptor is opened O_CLOEXEC so a child
// process spawned by the host application never inherits Loci's files or locks.
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <map>
#include <utility>

#include "storage/env.h"
#include "storage/errno_name.h"
#include "sync/thread_annotations.h"

namespace loci::storage {
namespace {

// open(2) that retries EINTR (possible on FIFOs and some network filesystems).
int open_retrying(const char* path, int flags, mode_t mode = 0) {
  int fd;
  do {
    fd = ::open(path, flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

// Durability of the data written so far. fdatasync skips the metadata a reader does not
// need (mtime) but still flushes the size, which is what appends change.
int sync_data(int fd) {
#if defined(__APPLE__)
  // macOS fsync only reaches the drive's cache; F_FULLFSYNC asks the drive to flush it.
  // Untested here (no macOS machine). Some filesystems refuse it: fall back to fsync.
  if (::fcntl(fd, F_FULLFSYNC) == 0) return 0;
  return ::fsync(fd);
#else
  return ::fdatasync(fd);
#endif
}

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd, uint64_t size) : path_(std::move(path)), fd_(fd), size_(size) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }

  Status append(const void* data, size_t size) override {
    if (fd_ < 0) return os_error("write", path_, EBADF);
    const char* bytes = static_cast<const char*>(data);
    while (size > 0) {
      ssize_t written = ::write(fd_, bytes, size);
      if (written < 0) {
        if (errno == EINTR) continue;
        return os_error("write", path_, errno);
      }
      // A short write (a signal, a nearly full disk) is not an error yet: the next
      // write() either takes the rest or reports why it cannot.
      bytes += written;
      size -= size_t(written);
      size_ += uint64_t(written);
    }
    return Status::ok();
  }

  Status sync() override {
    if (fd_ < 0) return os_error("fdatasync", path_, EBADF);
    // After a failed fsync Linux marks the dirty pages clean, so a second fsync can
    // return success although the data never reached the disk. Remember the failure and
    // keep reporting it: this file stays poisoned until it is reopened.
    if (sync_error_ != 0) return os_error("fdatasync", path_, sync_error_);
    int result;
    do {
      result = sync_data(fd_);
    } while (result != 0 && errno == EINTR);
    if (result != 0) {
      sync_error_ = errno;
      return os_error("fdatasync", path_, sync_error_);
    }
    return Status::ok();
  }

  void start_writeback() override {
#if defined(__linux__)
    // Errors are left to sync(), which reports them (and remembers them).
    if (fd_ >= 0) ::sync_file_range(fd_, 0, 0, SYNC_FILE_RANGE_WRITE);
#endif
  }

  Status close() override {
    if (fd_ < 0) return Status::ok();
    // close() is not retried on EINTR: on Linux the descriptor is already released, and
    // a retry could close one another thread has just been given.
    int result = ::close(fd_);
    fd_ = -1;
    if (result != 0 && errno != EINTR) return os_error("close", path_, errno);
    return Status::ok();
  }

  uint64_t size() const override { return size_; }
  const std::string& path() const override { return path_; }

 private:
  std::string path_;
  int fd_;
  uint64_t size_;
  int sync_error_ = 0;
};

class PosixRandomAccessFile final : public RandomAccessFile {
 public:
  PosixRandomAccessFile(std::string path, int fd, uint64_t size) : path_(std::move(path)), fd_(fd), size_(size) {}
  ~PosixRandomAccessFile() override { ::close(fd_); }

  Status read(uint64_t offset, size_t size, void* out) const override {
    char* destination = static_cast<char*>(out);
    uint64_t position = offset;
    size_t remaining = size;
    while (remaining > 0) {
      if (position > uint64_t(std::numeric_limits<off_t>::max())) return os_error("pread", path_, EINVAL);
      ssize_t got = ::pread(fd_, destination, remaining, off_t(position));
      if (got < 0) {
        if (errno == EINTR) continue;
        return os_error("pread", path_, errno);
      }
      if (got == 0) {
        return Status::error(StatusCode::io_error, "pread " + path_ + ": unexpected end of file reading " +
                                                       std::to_string(size) + " bytes at offset " +
                                                       std::to_string(offset) + " (file has " +
                                                       std::to_string(position) + " bytes)");
      }
      destination += got;
      position += uint64_t(got);
      remaining -= size_t(got);
    }
    return Status::ok();
  }

  // The size when opened: a file still being appended to is read up to that point.
  uint64_t size() const override { return size_; }
  const std::string& path() const override { return path_; }

 private:
  std::string path_;
  int fd_;
  uint64_t size_;
};

class PosixMappedFile final : public MappedFile {
 public:
  PosixMappedFile(void* address, size_t size) : address_(address), size_(size) {}
  ~PosixMappedFile() override {
    if (address_) ::munmap(address_, size_);
  }
  const uint8_t* data() const override { return static_cast<const uint8_t*>(address_); }
  size_t size() const override { return size_; }

 private:
  void* address_;  // nullptr for an empty file (mmap of length 0 is EINVAL)
  size_t size_;
};

// fcntl locks belong to the process, not the descriptor: a second F_SETLK from this
// process on the same file succeeds, and closing ANY descriptor of the file drops the
// lock. So this process's own locks are tracked here, by inode, and a second lock of a
// held file is refused before the file is even opened.
struct FileIdentity {
  dev_t device;
  ino_t inode;
  bool operator<(const FileIdentity& other) const {
    return device != other.device ? device < other.device : inode < other.inode;
  }
};

class HeldLocks {
 public:
  static HeldLocks& instance() {
    static HeldLocks* held = new HeldLocks();  // never destroyed: locks may outlive main()
    return *held;
  }
  sync::Mutex mutex;
  // The pid that took each lock. A child made by fork() inherits this map but not the
  // fcntl locks, so entries recorded by another pid are stale and ignored.
  std::map<FileIdentity, pid_t> owners GUARDED_BY(mutex);

  bool held_by_this_process(const FileIdentity& identity) const REQUIRES(mutex) {
    auto found = owners.find(identity);
    return found != owners.end() && found->second == ::getpid();
  }
};

class PosixFileLock final : public FileLock {
 public:
  PosixFileLock(int fd, FileIdentity identity) : fd_(fd), identity_(identity), owner_(::getpid()) {}
  ~PosixFileLock() override {
    HeldLocks& held = HeldLocks::instance();
    sync::MutexLock guard(held.mutex);
    // Close before forgetting, under the mutex: once forgotten another thread may lock
    // the file again, and a later close of this descriptor would drop its fcntl lock.
    ::close(fd_);
    auto found = held.owners.find(identity_);
    if (found != held.owners.end() && found->second == owner_ && owner_ == ::getpid()) held.owners.erase(found);
  }

 private:
  int fd_;
  FileIdentity identity_;
  pid_t owner_;
};

Status locked_error(const std::string& path, const std::string& holder) {
  return Status::error(StatusCode::locked, path + " is locked by another Loci writer (" + holder +
                                               "): close the other store first");
}

class PosixEnv final : public Env {
 public:
  Status new_writable(const std::string& path, bool truncate, std::unique_ptr<WritableFile>* file) override {
    // O_APPEND even when truncating: every write lands at the end, which is the contract.
    int fd = open_retrying(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | (truncate ? O_TRUNC : 0), 0644);
    if (fd < 0) return os_error("open", path, errno);
    uint64_t size = 0;
    if (!truncate) {
      struct stat info;
      if (::fstat(fd, &info) != 0) {
        int error_number = errno;
        ::close(fd);
        return os_error("stat", path, error_number);
      }
      size = uint64_t(info.st_size);
    }
    file->reset(new PosixWritableFile(path, fd, size));
    return Status::ok();
  }

  // Opens `path` read-only and reads its size; on failure nothing stays open.
  static Status open_for_reading(const std::string& path, int* fd, uint64_t* size) {
    *fd = open_retrying(path.c_str(), O_RDONLY);
    if (*fd < 0) return os_error("open", path, errno);
    struct stat info;
    if (::fstat(*fd, &info) != 0) {
      int error_number = errno;
      ::close(*fd);
      return os_error("stat", path, error_number);
    }
    *size = uint64_t(info.st_size);
    return Status::ok();
  }

  Status new_random_access(const std::string& path, std::unique_ptr<RandomAccessFile>* file) override {
    int fd = -1;
    uint64_t file_size = 0;
    LOCI_RETURN_IF_ERROR(open_for_reading(path, &fd, &file_size));
    file->reset(new PosixRandomAccessFile(path, fd, file_size));
    return Status::ok();
  }

  Status map(const std::string& path, std::unique_ptr<MappedFile>* file) override {
    int fd = -1;
    uint64_t file_size = 0;
    LOCI_RETURN_IF_ERROR(open_for_reading(path, &fd, &file_size));
    if (file_size > uint64_t(std::numeric_limits<size_t>::max())) {
      ::close(fd);
      return os_error("mmap", path, EFBIG);  // only possible in a 32-bit process
    }
    size_t size = size_t(file_size);
    void* address = nullptr;
    if (size > 0) {
      address = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
      if (address == MAP_FAILED) {
        int error_number = errno;
        ::close(fd);
        return os_error("mmap", path, error_number);
      }
      // Mapped files (WAL, items) are read front to back once: ask for read-ahead.
      ::madvise(address, size, MADV_SEQUENTIAL);
    }
    // The mapping keeps the file alive; the descriptor is no longer needed.
    ::close(fd);
    file->reset(new PosixMappedFile(address, size));
    return Status::ok();
  }

  Status read_file(const std::string& path, std::string* contents) override {
    int fd = open_retrying(path.c_str(), O_RDONLY);
    if (fd < 0) return os_error("open", path, errno);
    contents->clear();
    char buffer[64 * 1024];
    // Read to end of file rather than trusting fstat's size: the file may be growing.
    for (;;) {
      ssize_t got = ::read(fd, buffer, sizeof buffer);
      if (got < 0) {
        if (errno == EINTR) continue;
        int error_number = errno;
        ::close(fd);
        return os_error("read", path, error_number);
      }
      if (got == 0) break;
      contents->append(buffer, size_t(got));
    }
    ::close(fd);
    return Status::ok();
  }

  bool exists(const std::string& path) override {
    struct stat info;
    return ::stat(path.c_str(), &info) == 0;
  }

  Status file_size(const std::string& path, uint64_t* size) override {
    struct stat info;
    if (::stat(path.c_str(), &info) != 0) return os_error("stat", path, errno);
    *size = uint64_t(info.st_size);
    return Status::ok();
  }

  Status list_dir(const std::string& dir, std::vector<std::string>* names) override {
    names->clear();
    DIR* stream = ::opendir(dir.c_str());
    if (!stream) return os_error("opendir", dir, errno);
    for (;;) {
      errno = 0;  // readdir returns nullptr both at the end and on error; errno tells which
      struct dirent* entry = ::readdir(stream);
      if (!entry) break;
      if (std::strcmp(entry->d_name, ".") == 0 || std::strcmp(entry->d_name, "..") == 0) continue;
      names->emplace_back(entry->d_name);
    }
    int error_number = errno;
    ::closedir(stream);
    if (error_number != 0) return os_error("readdir", dir, error_number);
    return Status::ok();
  }

  Status create_dir(const std::string& dir) override {
    if (dir.empty()) return os_error("mkdir", dir, ENOENT);
    // Each prefix that ends a component, then the whole path: mkdir -p.
    for (size_t slash = dir.find('/', 1); slash != std::string::npos; slash = dir.find('/', slash + 1)) {
      if (dir[slash - 1] == '/') continue;  // "a//b"
      LOCI_RETURN_IF_ERROR(make_one_dir(dir.substr(0, slash)));
    }
    return make_one_dir(dir);
  }

  Status remove_file(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return os_error("unlink", path, errno);
    return Status::ok();
  }

  Status rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) return os_error("rename", from + " -> " + to, errno);
    return Status::ok();
  }

  Status truncate(const std::string& path, uint64_t size) override {
    if (size > uint64_t(std::numeric_limits<off_t>::max())) return os_error("truncate", path, EFBIG);
    int result;
    do {
      result = ::truncate(path.c_str(), off_t(size));
    } while (result != 0 && errno == EINTR);
    if (result != 0) return os_error("truncate", path, errno);
    return Status::ok();
  }

  Status sync_dir(const std::string& dir) override {
    int fd = open_retrying(dir.c_str(), O_RDONLY | O_DIRECTORY);
    if (fd < 0) return os_error("open", dir, errno);
    int result;
    do {
      result = ::fsync(fd);
    } while (result != 0 && errno == EINTR);
    int error_number = errno;
    ::close(fd);
    if (result != 0) return os_error("fsync directory", dir, error_number);
    return Status::ok();
  }

  Status lock(const std::string& path, std::unique_ptr<FileLock>* lock) override {
    HeldLocks& held = HeldLocks::instance();
    sync::MutexLock guard(held.mutex);

    // Refuse this process's own second lock before opening the file: opening and then
    // closing it would silently drop the lock the first holder has.
    struct stat info;
    if (::stat(path.c_str(), &info) == 0 && held.held_by_this_process({info.st_dev, info.st_ino})) {
      return locked_error(path, "process " + std::to_string(::getpid()) + ", this one");
    }

    int fd = open_retrying(path.c_str(), O_RDWR | O_CREAT, 0644);
    if (fd < 0) return os_error("open", path, errno);
    if (::fstat(fd, &info) != 0) {
      int error_number = errno;
      ::close(fd);
      return os_error("stat", path, error_number);
    }
    FileIdentity identity{info.st_dev, info.st_ino};
    if (held.held_by_this_process(identity)) {
      // Only if the path was renamed onto a held lock file between stat and open. The
      // close below drops that lock's fcntl part (the in-process refusal still holds).
      ::close(fd);
      return locked_error(path, "process " + std::to_string(::getpid()) + ", this one");
    }

    struct flock request = {};
    request.l_type = F_WRLCK;
    request.l_whence = SEEK_SET;
    request.l_start = 0;
    request.l_len = 0;  // the whole file, however it grows
    int result;
    do {
      result = ::fcntl(fd, F_SETLK, &request);
    } while (result != 0 && errno == EINTR);
    if (result != 0) {
      int error_number = errno;
      if (error_number != EACCES && error_number != EAGAIN) {
        ::close(fd);
        return os_error("lock", path, error_number);
      }
      // Who holds it, for the message. Racy (the holder may just have exited) and
      // meaningless across hosts on NFS, so it is only a hint.
      std::string holder = "process unknown";
      struct flock query = {};
      query.l_type = F_WRLCK;
      query.l_whence = SEEK_SET;
      if (::fcntl(fd, F_GETLK, &query) == 0 && query.l_type != F_UNLCK && query.l_pid > 0) {
        holder = "process " + std::to_string(query.l_pid);
      }
      ::close(fd);
      return locked_error(path, holder);
    }
    held.owners[identity] = ::getpid();
    lock->reset(new PosixFileLock(fd, identity));
    return Status::ok();
  }

 private:
  static Status make_one_dir(const std::string& dir) {
    // stat first: mkdir of an existing directory may fail with EROFS or EACCES on a
    // read-only or foreign parent rather than EEXIST.
    struct stat info;
    if (::stat(dir.c_str(), &info) == 0) {
      return S_ISDIR(info.st_mode) ? Status::ok() : os_error("mkdir", dir, ENOTDIR);  // a file is in the way
    }
    if (::mkdir(dir.c_str(), 0755) == 0) return Status::ok();
    int error_number = errno;
    // Another thread or process may have created it in between.
    if (error_number == EEXIST && ::stat(dir.c_str(), &info) == 0 && S_ISDIR(info.st_mode)) return Status::ok();
    return os_error("mkdir", dir, error_number);
  }
};

}  // namespace

Env* Env::posix() {
  static Env* env = new PosixEnv();  // never destroyed: files may be closed during exit
  return env;
}

}  // namespace loci::storage
