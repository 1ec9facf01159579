// The storage foundations: CRC32C (known vectors, extend, every variant against the
// portable one, mask), the POSIX Env (files, directories, mappings, locks across
// processes, error messages) and FaultInjectionEnv (injected errno faults and the
// crash model). Every test works in its own fresh temporary directory.
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/crc32c.h"
#include "common/crc32c_internal.h"
#include "harness.h"
#include "storage/env.h"
#include "storage/errno_name.h"
#include "storage/fault_env.h"

using namespace loci;
using namespace loci::storage;

namespace {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base && *base ? base : "/tmp") + "/loci-test-storage-env-XXXXXX";
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    if (::mkdtemp(buffer.data())) path_ = buffer.data();
    CHECK_MSG(!path_.empty(), "mkdtemp " + pattern + ": " + describe_errno(errno));
  }
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return join_path(path_, name); }

 private:
  std::string path_;
};

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::string status_text(const Status& status) {
  return std::string(code_name(status.code())) + ": " + status.message();
}

#define CHECK_OK(expr)                                                        \
  do {                                                                        \
    ::loci::Status check_status_ = (expr);                                    \
    CHECK_MSG(check_status_.is_ok(), #expr " -> " + status_text(check_status_)); \
  } while (0)

// Writes `contents` to a new file and syncs it (through `env`, so a FaultInjectionEnv tracks it).
void write_file(Env* env, const std::string& path, const std::string& contents) {
  std::unique_ptr<WritableFile> file;
  CHECK_OK(env->new_writable(path, true, &file));
  if (!file) return;
  CHECK_OK(file->append(contents.data(), contents.size()));
  CHECK_OK(file->sync());
  CHECK_OK(file->close());
}

std::string read_all(Env* env, const std::string& path) {
  std::string contents;
  CHECK_OK(env->read_file(path, &contents));
  return contents;
}

std::vector<std::string> sorted_listing(Env* env, const std::string& dir) {
  std::vector<std::string> names;
  CHECK_OK(env->list_dir(dir, &names));
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<uint8_t> random_bytes(std::mt19937_64& rng, size_t size) {
  std::vector<uint8_t> bytes(size);
  for (auto& byte : bytes) byte = uint8_t(rng());
  return bytes;
}

}  // namespace

// --- CRC32C ------------------------------------------------------------------------------

TEST(crc32c_known_vectors) {
  // The check value of CRC-32C and the iSCSI test vectors (RFC 3720 B.4).
  CHECK(crc32c::value("123456789", 9) == 0xE3069283u);
  std::vector<uint8_t> zeros(32, 0x00), ones(32, 0xFF), ascending(32), descending(32);
  for (int i = 0; i < 32; ++i) ascending[i] = uint8_t(i), descending[i] = uint8_t(31 - i);
  CHECK(crc32c::value(zeros.data(), zeros.size()) == 0x8A9136AAu);
  CHECK(crc32c::value(ones.data(), ones.size()) == 0x62A8AB43u);
  CHECK(crc32c::value(ascending.data(), ascending.size()) == 0x46DD794Eu);
  CHECK(crc32c::value(descending.data(), descending.size()) == 0x113FDB5Cu);
  CHECK(crc32c::value(nullptr, 0) == 0);
  // The portable version on its own, whichever one extend() picked.
  CHECK(crc32c::internal::extend_portable(0, "123456789", 9) == 0xE3069283u);
  CHECK(crc32c::internal::extend_portable(0, ascending.data(), 32) == 0x46DD794Eu);
  std::printf("     crc32c path: %s\n", crc32c::hardware_accelerated() ? "hardware" : "portable");
}

TEST(crc32c_extend_equals_one_shot_over_random_splits) {
  std::mt19937_64 rng(loci::test::test_seed());
  std::vector<uint8_t> buffer = random_bytes(rng, 5000);
  for (int trial = 0; trial < 300; ++trial) {
    // Odd starts and lengths exercise the alignment prologue and the tail of every path.
    size_t start = rng() % 17;
    size_t length = rng() % (buffer.size() - start);
    const uint8_t* data = buffer.data() + start;
    uint32_t whole = crc32c::value(data, length);
    size_t parts = 1 + rng() % 5;
    std::vector<size_t> cuts = {0, length};
    for (size_t i = 1; i < parts; ++i) cuts.push_back(length ? rng() % (length + 1) : 0);
    std::sort(cuts.begin(), cuts.end());
    uint32_t pieced = 0, pieced_portable = 0;
    for (size_t i = 0; i + 1 < cuts.size(); ++i) {
      pieced = crc32c::extend(pieced, data + cuts[i], cuts[i + 1] - cuts[i]);
      pieced_portable = crc32c::internal::extend_portable(pieced_portable, data + cuts[i], cuts[i + 1] - cuts[i]);
    }
    CHECK_MSG(pieced == whole && pieced_portable == whole,
              "start " + std::to_string(start) + " length " + std::to_string(length));
  }
}

TEST(crc32c_hardware_matches_portable) {
  crc32c::internal::ExtendFunction hardware = crc32c::internal::hardware_extend();
  CHECK(crc32c::hardware_accelerated() == (hardware != nullptr));
  if (!hardware) {
    std::printf("     no crc32c instructions on this CPU: only the portable path runs\n");
    return;
  }
  std::mt19937_64 rng(loci::test::test_seed());
  std::vector<uint8_t> buffer = random_bytes(rng, 4096 + 16);
  for (size_t start = 0; start < 16; ++start) {
    for (size_t length : {size_t(0), size_t(1), size_t(7), size_t(8), size_t(9), size_t(15), size_t(63), size_t(4096)}) {
      uint32_t seed = uint32_t(rng());
      CHECK_MSG(hardware(seed, buffer.data() + start, length) ==
                    crc32c::internal::extend_portable(seed, buffer.data() + start, length),
                "start " + std::to_string(start) + " length " + std::to_string(length));
    }
  }
  for (int trial = 0; trial < 500; ++trial) {
    size_t start = rng() % 16, length = rng() % 4097;
    uint32_t seed = uint32_t(rng());
    CHECK(hardware(seed, buffer.data() + start, length) ==
          crc32c::internal::extend_portable(seed, buffer.data() + start, length));
  }
  // Inputs of 768 bytes on take the three-stream paths (chunks of 3 x 4 KiB, then of
  // 3 x 256 bytes, joined by shifting): every length around the chunk boundaries, and
  // large ones.
  std::vector<uint8_t> large = random_bytes(rng, 200000 + 16);
  for (size_t length : {size_t(767), size_t(768), size_t(769), size_t(1535), size_t(1536), size_t(3800), size_t(12287),
                        size_t(12288), size_t(12289), size_t(13055), size_t(13056), size_t(24575), size_t(24576), size_t(24583),
                        size_t(100000), size_t(200000)}) {
    for (size_t start : {size_t(0), size_t(3), size_t(8)}) {
      uint32_t seed = uint32_t(rng());
      CHECK_MSG(hardware(seed, large.data() + start, length) ==
                    crc32c::internal::extend_portable(seed, large.data() + start, length),
                "long: start " + std::to_string(start) + " length " + std::to_string(length));
    }
  }
  for (int trial = 0; trial < 50; ++trial) {
    size_t start = rng() % 16, length = rng() % 200000;
    uint32_t seed = uint32_t(rng());
    CHECK(hardware(seed, large.data() + start, length) ==
          crc32c::internal::extend_portable(seed, large.data() + start, length));
  }
}

TEST(crc32c_mask_round_trips_and_changes_the_value) {
  std::mt19937_64 rng(loci::test::test_seed());
  std::vector<uint32_t> values = {0u, 1u, 0xFFFFFFFFu, 0xE3069283u, crc32c::kMaskDelta};
  for (int i = 0; i < 1000; ++i) values.push_back(uint32_t(rng()));
  for (uint32_t crc : values) {
    CHECK(crc32c::unmask(crc32c::mask(crc)) == crc);
    CHECK(crc32c::mask(crc) != crc);
    CHECK(crc32c::mask(crc32c::mask(crc)) != crc);
  }
}

// --- POSIX Env ---------------------------------------------------------------------------

TEST(env_write_append_sync_read) {
  TempDir dir;
  Env* env = Env::posix();
  std::string path = dir.file("data.log");
  std::unique_ptr<WritableFile> file;
  CHECK_OK(env->new_writable(path, true, &file));
  CHECK(file->path() == path);
  CHECK(file->size() == 0);
  CHECK_OK(file->append("hello ", 6));
  CHECK_OK(file->append("world", 5));
  CHECK_OK(file->append("", 0));
  CHECK(file->size() == 11);
  CHECK_OK(file->sync());
  CHECK_OK(file->close());
  CHECK_OK(file->close());  // closing twice is harmless
  CHECK(read_all(env, path) == "hello world");

  // truncate = false appends after the current end and counts the old bytes in size().
  CHECK_OK(env->new_writable(path, false, &file));
  CHECK(file->size() == 11);
  CHECK_OK(file->append("!", 1));
  CHECK(file->size() == 12);
  CHECK_OK(file->close());
  CHECK(read_all(env, path) == "hello world!");
  // A closed file refuses writes instead of writing to a recycled descriptor.
  Status after_close = file->append("x", 1);
  CHECK(after_close.code() == StatusCode::io_error && contains(after_close.message(), "EBADF"));

  // truncate = true empties it.
  CHECK_OK(env->new_writable(path, true, &file));
  CHECK(file->size() == 0);
  CHECK_OK(file->close());
  uint64_t size = 99;
  CHECK_OK(env->file_size(path, &size));
  CHECK(size == 0);

  // A large append goes through whole.
  std::mt19937_64 rng(loci::test::test_seed());
  std::vector<uint8_t> big = random_bytes(rng, 3 << 20);
  CHECK_OK(env->new_writable(path, true, &file));
  CHECK_OK(file->append(big.data(), big.size()));
  CHECK_OK(file->sync());
  file.reset();  // the destructor closes
  std::string contents = read_all(env, path);
  CHECK(contents.size() == big.size() && std::equal(big.begin(), big.end(), contents.begin(),
                                                    [](uint8_t a, char b) { return a == uint8_t(b); }));
}

TEST(env_random_access_reads_at_offsets_and_reports_short_files) {
  TempDir dir;
  Env* env = Env::posix();
  std::string path = dir.file("pages.bin");
  write_file(env, path, "0123456789abcdef");
  std::unique_ptr<RandomAccessFile> file;
  CHECK_OK(env->new_random_access(path, &file));
  CHECK(file->size() == 16);
  CHECK(file->path() == path);
  char buffer[8] = {0};
  CHECK_OK(file->read(10, 6, buffer));
  CHECK(std::string(buffer, 6) == "abcdef");
  CHECK_OK(file->read(0, 0, buffer));
  Status past_end = file->read(12, 8, buffer);
  CHECK(past_end.code() == StatusCode::io_error);
  CHECK_MSG(contains(past_end.message(), path) && contains(past_end.message(), "end of file"), past_end.message());
}

TEST(env_directories_rename_truncate_remove_exists) {
  TempDir dir;
  Env* env = Env::posix();
  std::string nested = join_path(dir.path(), "a/b/c");
  CHECK_OK(env->create_dir(nested));
  CHECK_OK(env->create_dir(nested));  // existing is fine
  CHECK_OK(env->create_dir(nested + "/"));
  CHECK(env->exists(nested));
  CHECK(sorted_listing(env, dir.path()) == std::vector<std::string>{"a"});
  CHECK_OK(env->sync_dir(nested));

  std::string first = join_path(nested, "first"), second = join_path(nested, "second");
  write_file(env, first, "first contents");
  write_file(env, second, "second");
  CHECK((sorted_listing(env, nested) == std::vector<std::string>{"first", "second"}));

  // rename replaces the target.
  CHECK_OK(env->rename(first, second));
  CHECK(!env->exists(first));
  CHECK(read_all(env, second) == "first contents");
  CHECK(sorted_listing(env, nested) == std::vector<std::string>{"second"});

  CHECK_OK(env->truncate(second, 5));
  CHECK(read_all(env, second) == "first");
  uint64_t size = 0;
  CHECK_OK(env->file_size(second, &size));
  CHECK(size == 5);

  CHECK_OK(env->remove_file(second));
  CHECK(!env->exists(second));
  CHECK(sorted_listing(env, nested).empty());

  // A file in the way of create_dir, and a missing directory for list_dir.
  write_file(env, dir.file("plain"), "x");
  Status blocked = env->create_dir(join_path(dir.file("plain"), "sub"));
  CHECK(blocked.code() == StatusCode::io_error && contains(blocked.message(), "ENOTDIR"));
  std::vector<std::string> names;
  Status missing = env->list_dir(dir.file("nope"), &names);
  CHECK(missing.code() == StatusCode::io_error && contains(missing.message(), "ENOENT"));
}

TEST(env_errors_name_the_operation_path_and_errno) {
  TempDir dir;
  Env* env = Env::posix();
  std::string missing = dir.file("missing.log");
  std::unique_ptr<RandomAccessFile> file;
  Status status = env->new_random_access(missing, &file);
  CHECK(status.code() == StatusCode::io_error);
  CHECK_MSG(contains(status.message(), "open " + missing + ": ") && contains(status.message(), "(ENOENT)"),
            status.message());
  std::string contents;
  CHECK(contains(env->read_file(missing, &contents).message(), "ENOENT"));
  uint64_t size = 0;
  CHECK(contains(env->file_size(missing, &size).message(), "stat " + missing));
  CHECK(contains(env->remove_file(missing).message(), "ENOENT"));
  Status rename = env->rename(missing, dir.file("other"));
  CHECK_MSG(contains(rename.message(), "rename " + missing + " -> " + dir.file("other")) &&
                contains(rename.message(), "ENOENT"),
            rename.message());
  CHECK(!env->exists(missing));
  std::unique_ptr<WritableFile> writable;
  CHECK(contains(env->new_writable(join_path(missing, "under-a-file"), true, &writable).message(), "ENOENT"));

  CHECK(describe_errno(ENOSPC) == std::string(std::strerror(ENOSPC)) + " (ENOSPC)");
  CHECK(contains(describe_errno(EDOM), "(errno " + std::to_string(EDOM) + ")"));
  CHECK(os_error("write", "/x/1.log", ENOSPC).message() == "write /x/1.log: " + describe_errno(ENOSPC));
}

TEST(env_map_empty_and_non_empty_files) {
  TempDir dir;
  Env* env = Env::posix();
  std::string empty = dir.file("empty"), full = dir.file("full");
  write_file(env, empty, "");
  write_file(env, full, "mapped bytes");
  std::unique_ptr<MappedFile> mapped;
  CHECK_OK(env->map(empty, &mapped));
  CHECK(mapped && mapped->data() == nullptr && mapped->size() == 0);
  CHECK_OK(env->map(full, &mapped));
  CHECK(mapped && mapped->size() == 12);
  if (mapped && mapped->data()) CHECK(std::string(reinterpret_cast<const char*>(mapped->data()), 12) == "mapped bytes");
  // The mapping outlives the file's name.
  CHECK_OK(env->remove_file(full));
  if (mapped && mapped->data()) CHECK(mapped->data()[0] == 'm');
  mapped.reset();
  Status missing = env->map(full, &mapped);
  CHECK(missing.code() == StatusCode::io_error && contains(missing.message(), "ENOENT"));
}

TEST(env_lock_twice_in_one_process_is_locked_until_released) {
  TempDir dir;
  Env* env = Env::posix();
  std::string path = dir.file("LOCK");
  std::unique_ptr<FileLock> first, second;
  CHECK_OK(env->lock(path, &first));
  CHECK(first != nullptr);
  CHECK(env->exists(path));
  Status again = env->lock(path, &second);
  CHECK(again.code() == StatusCode::locked);
  CHECK(second == nullptr);
  CHECK_MSG(contains(again.message(), path + " is locked by another Loci writer") &&
                contains(again.message(), std::to_string(::getpid())) &&
                contains(again.message(), "close the other store first"),
            again.message());
  // The same file under another spelling is the same lock.
  Status other_spelling = env->lock(join_path(dir.path(), "./LOCK"), &second);
  CHECK(other_spelling.code() == StatusCode::locked);
  first.reset();
  CHECK_OK(env->lock(path, &second));
  CHECK(second != nullptr);
}

TEST(env_lock_race_between_threads_has_one_winner) {
  TempDir dir;
  std::string path = dir.file("LOCK");
  for (int round = 0; round < 20; ++round) {
    std::vector<std::unique_ptr<FileLock>> locks(6);
    std::vector<Status> results(locks.size());
    std::vector<std::thread> threads;
    for (size_t i = 0; i < locks.size(); ++i) {
      threads.emplace_back([&, i] { results[i] = Env::posix()->lock(path, &locks[i]); });
    }
    for (auto& thread : threads) thread.join();
    size_t winners = 0;
    for (const Status& result : results) {
      if (result.is_ok()) {
        ++winners;
      } else {
        CHECK_MSG(result.code() == StatusCode::locked, status_text(result));
      }
    }
    CHECK(winners == 1);
  }
}

namespace {

// Exit codes of a forked child that tries to take a lock.
constexpr int kChildAcquired = 10, kChildLockedByParent = 20, kChildLockedNoPid = 21, kChildOtherError = 30;

int lock_in_child(const std::string& path) {
  pid_t child = ::fork();
  if (child == 0) {
    // Only lock and _exit: no harness calls, no exit handlers, no stdio flushing.
    std::unique_ptr<FileLock> lock;
    Status status = Env::posix()->lock(path, &lock);
    int code = kChildOtherError;
    if (status.is_ok()) {
      code = kChildAcquired;
    } else if (status.code() == StatusCode::locked) {
      bool names_parent = status.message().find("process " + std::to_string(::getppid())) != std::string::npos;
      code = names_parent ? kChildLockedByParent : kChildLockedNoPid;
    }
    ::_exit(code);
  }
  CHECK(child > 0);
  if (child <= 0) return -1;
  int wait_status = 0;
  while (::waitpid(child, &wait_status, 0) < 0 && errno == EINTR) {
  }
  CHECK(WIFEXITED(wait_status));
  return WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1;
}

}  // namespace

TEST(env_lock_held_by_parent_is_locked_in_forked_child) {
  TempDir dir;
  Env* env = Env::posix();
  std::string path = dir.file("LOCK");
  std::unique_ptr<FileLock> held;
  CHECK_OK(env->lock(path, &held));
  // The child inherits this process's memory but not its fcntl locks: the refusal it
  // gets comes from the kernel, naming the parent.
  int code = lock_in_child(path);
  CHECK_MSG(code == kChildLockedByParent, "child exit code " + std::to_string(code));
  held.reset();
  code = lock_in_child(path);
  CHECK_MSG(code == kChildAcquired, "child exit code " + std::to_string(code));
  // The parent can still take it after its child let go.
  CHECK_OK(env->lock(path, &held));
}

// --- FaultInjectionEnv ---------------------------------------------------------------------

TEST(fault_append_fails_with_enospc_after_two_successes) {
  TempDir dir;
  FaultInjectionEnv env(Env::posix());
  std::string path = dir.file("wal.log");
  std::unique_ptr<WritableFile> file;
  CHECK_OK(env.new_writable(path, true, &file));
  env.fail(FaultOp::append, 2, ENOSPC);
  CHECK_OK(file->append("a", 1));
  CHECK_OK(file->append("b", 1));
  Status third = file->append("c", 1);
  CHECK(third.code() == StatusCode::io_error);
  CHECK_MSG(third.message() == "write " + path + ": " + describe_errno(ENOSPC), third.message());
  CHECK(contains(third.message(), "ENOSPC"));
  // times 0: fails for ever, and the failed appends wrote nothing.
  CHECK(!file->append("d", 1).is_ok());
  CHECK(!file->append("e", 1).is_ok());
  CHECK(file->size() == 2);
  CHECK(env.calls(FaultOp::append) == 5);
  env.clear_faults();
  CHECK_OK(file->append("f", 1));
  CHECK_OK(file->close());
  CHECK(read_all(&env, path) == "abf");
}

TEST(fault_times_fails_that_many_calls_then_succeeds) {
  TempDir dir;
  FaultInjectionEnv env(Env::posix());
  std::unique_ptr<WritableFile> file;
  CHECK_OK(env.new_writable(dir.file("f"), true, &file));
  env.fail(FaultOp::append, 1, EIO, 2);
  CHECK_OK(file->append("1", 1));
  CHECK(contains(file->append("2", 1).message(), "(EIO)"));
  CHECK(contains(file->append("3", 1).message(), "(EIO)"));
  CHECK_OK(file->append("4", 1));
  CHECK_OK(file->append("5", 1));
  // A new fail() replaces the old one and counts successes from now.
  env.fail(FaultOp::append, 0, EDQUOT, 1);
  CHECK(contains(file->append("6", 1).message(), "EDQUOT"));
  CHECK_OK(file->append("7", 1));
  CHECK_OK(file->close());
  CHECK(read_all(&env, dir.file("f")) == "1457");
  CHECK(env.calls(FaultOp::append) == 7);
  CHECK(env.calls(FaultOp::sync) == 0);  // counted per operation
}

TEST(fault_env_counts_calls_from_many_threads) {
  TempDir dir;
  FaultInjectionEnv env(Env::posix());
  const int thread_count = 4, appends_per_thread = 200;
  std::vector<std::thread> threads;
  for (int t = 0; t < thread_count; ++t) {
    threads.emplace_back([&, t] {
      std::unique_ptr<WritableFile> file;
      CHECK_OK(env.new_writable(dir.file("thread" + std::to_string(t)), true, &file));
      if (!file) return;
      for (int i = 0; i < appends_per_thread; ++i) {
        CHECK_OK(file->append("x", 1));
        if (i % 50 == 0) CHECK_OK(file->sync());
      }
      CHECK_OK(file->close());
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(env.calls(FaultOp::append) == uint64_t(thread_count * appends_per_thread));
  CHECK(env.calls(FaultOp::sync) == uint64_t(thread_count * (appends_per_thread / 50)));
  CHECK(env.calls(FaultOp::create) == uint64_t(thread_count));
}

TEST(fault_sync_fails_with_eio) {
  TempDir dir;
  FaultInjectionEnv env(Env::posix());
  std::string path = dir.file("wal.log");
  std::unique_ptr<WritableFile> file;
  CHECK_OK(env.new_writable(path, true, &file));
  CHECK_OK(env.sync_dir(dir.path()));
  env.fail(FaultOp::sync, 1, EIO);
  CHECK_OK(file->append("abc", 3));
  CHECK_OK(file->sync());
  CHECK_OK(file->append("def", 3));
  Status failed = file->sync();
  CHECK(failed.code() == StatusCode::io_error);
  CHECK_MSG(failed.message() == "fdatasync " + path + ": " + describe_errno(EIO), failed.message());
  CHECK(env.calls(FaultOp::sync) == 2);
  CHECK_OK(file->close());
  // The failed sync did not count: a crash keeps only the first three bytes.
  CHECK_OK(env.simulate_crash());
  CHECK(read_all(&env, path) == "abc");
}

TEST(fault_create_rename_and_sync_dir_are_counted_and_can_fail) {
  TempDir dir;
  FaultInjectionEnv env(Env::posix());
  std::unique_ptr<WritableFile> file;
  env.fail(FaultOp::create, 1, EMFILE, 1);
  CHECK_OK(env.new_writable(dir.file("one"), true, &file));
  Status create = env.new_writable(dir.file("two"), true, &file);
  CHECK(create.code() == StatusCode::io_error && contains(create.message(), "open " + dir.file("two")) &&
        contains(create.message(), "EMFILE"));
  CHECK(!env.exists(dir.file("two")));
  CHECK_OK(env.new_writable(dir.file("one"), true, &file));  // existing: not a create
  CHECK(env.calls(FaultOp::create) == 2);

  env.fail(FaultOp::rename, 0, EXDEV, 1);
  Status rename = env.rename(dir.file("one"), dir.file("renamed"));
  CHECK(contains(rename.message(), "rename " + dir.file("one") + " -> " + dir.file("renamed")) &&
        contains(rename.message(), "EXDEV"));
  CHECK(env.exists(dir.file("one")) && !env.exists(dir.file("renamed")));
  CHECK_OK(env.rename(dir.file("one"), dir.file("renamed")));
  CHECK(env.calls(FaultOp::rename) == 2);

  env.fail(FaultOp::sync_dir, 0, EIO);
  Status sync_dir = env.sync_dir(dir.path());
  CHECK(sync_dir.code() == StatusCode::io_error && contains(sync_dir.message(), "EIO"));
  CHECK(env.calls(FaultOp::sync_dir) == 1);
  // The failed sync_dir made nothing durable: the new file goes in a crash.
  file.reset();
  env.clear_faults();
  CHECK_OK(env.simulate_crash());
  CHECK(!env.exists(dir.file("renamed")) && !env.exists(dir.file("one")));
}

TEST(fault_crash_drops_unsynced_bytes_and_keeps_synced_ones) {
  TempDir dir;
  FaultInjectionEnv env(Env::posix());
  std::string path = dir.file("wal.log");
  std::unique_ptr<WritableFile> file;
  CHECK_OK(env.new_writable(path, true, &file));
  CHECK_OK(env.sync_dir(dir.path()));  // the file's name is durable
  CHECK_OK(file->append("synced|", 7));
  CHECK_OK(file->sync());
  CHECK_OK(file->append("lost", 4));
  CHECK_OK(file->close());
  CHECK(read_all(&env, path) == "synced|lost");
  CHECK_OK(env.simulate_crash());
  CHECK(read_all(&env, path) == "synced|");

  // After the crash, what is on disk is durable: reopening to append starts from there.
  CHECK_OK(env.new_writable(path, false, &file));
  CHECK_OK(file->append("more", 4));
  CHECK_OK(file->close());
  CHECK_OK(env.simulate_crash());
  CHECK(read_all(&env, path) == "synced|");

  // A file that existed before this Env saw it counts as synced at its size then.
  std::string old_path = dir.file("old.log");
  write_file(Env::posix(), old_path, "before");
  CHECK_OK(env.new_writable(old_path, false, &file));
  CHECK_OK(file->append("+after", 6));
  CHECK_OK(file->close());
  CHECK_OK(env.simulate_crash());
  CHECK(read_all(&env, old_path) == "before");
}

TEST(fault_crash_removes_files_whose_directory_was_never_synced) {
  TempDir dir;
  FaultInjectionEnv env(Env::posix());
  std::string sub = dir.file("sub");
  CHECK_OK(env.create_dir(sub));
  std::string orphan = join_path(sub, "orphan"), kept = dir.file("kept");
  write_file(&env, orphan, "synced but its name is not");
  write_file(&env, kept, "synced, and so is its name");
  CHECK_OK(env.sync_dir(dir.path() + "/"));  // the parent, not sub/; trailing slash allowed
  CHECK_OK(env.simulate_crash());
  CHECK(!env.exists(orphan));
  CHECK(read_all(&env, kept) == "synced, and so is its name");
}

TEST(fault_crash_undoes_renames_until_their_directory_is_synced) {
  TempDir dir;
  FaultInjectionEnv env(Env::posix());
  std::string current = dir.file("CURRENT"), temp = dir.file("CURRENT.tmp");
  write_file(&env, current, "version 1");
  CHECK_OK(env.sync_dir(dir.path()));

  // Write-temp-then-rename without the directory sync: a crash brings version 1 back.
  write_file(&env, temp, "version 2");
  CHECK_OK(env.rename(temp, current));
  CHECK(read_all(&env, current) == "version 2");
  CHECK_OK(env.simulate_crash());
  CHECK(read_all(&env, current) == "version 1");
  CHECK(!env.exists(temp));  // created and never made durable either
  CHECK(sorted_listing(&env, dir.path()) == std::vector<std::string>{"CURRENT"});

  // With the directory sync the rename survives.
  write_file(&env, temp, "version 3");
  CHECK_OK(env.rename(temp, current));
  CHECK_OK(env.sync_dir(dir.path()));
  CHECK_OK(env.simulate_crash());
  CHECK(read_all(&env, current) == "version 3");
  CHECK(!env.exists(temp));

  // A durable file renamed and not dir-synced goes back to its old name.
  CHECK_OK(env.rename(current, dir.file("MOVED")));
  CHECK_OK(env.simulate_crash());
  CHECK(read_all(&env, current) == "version 3");
  CHECK(!env.exists(dir.file("MOVED")));
}

LOCI_TEST_MAIN()
