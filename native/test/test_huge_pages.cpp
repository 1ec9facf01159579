// 2 MiB pages for file-mapped rows and leaves (common/huge_pages.h): the checkpoint's
// block-aligned writes and the congruent placement of the mappings. Whether the kernel
// then maps 2 MiB pages depends on the kernel and filesystem, so that is reported, not
// checked; what Loci controls is checked exactly.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "common/float_buffer.h"
#include "common/huge_pages.h"
#include "common/private_map.h"
#include "harness.h"
#include "storage/block_aligned_writer.h"
#include "storage/env.h"

using namespace loci;
using namespace loci::storage;

namespace {

// A WritableFile in memory that records the end offset of every append.
class RecordingFile final : public WritableFile {
 public:
  explicit RecordingFile(std::string initial = "") : bytes_(std::move(initial)) {}
  Status append(const void* data, size_t size) override {
    if (fail_next_) {
      fail_next_ = false;
      return Status::error(StatusCode::io_error, "write test: ENOSPC");
    }
    bytes_.append(static_cast<const char*>(data), size);
    write_ends_.push_back(bytes_.size());
    return Status::ok();
  }
  Status sync() override { return Status::ok(); }
  Status close() override { return Status::ok(); }
  uint64_t size() const override { return bytes_.size(); }
  const std::string& path() const override { return path_; }

  std::string bytes_;
  std::vector<uint64_t> write_ends_;
  bool fail_next_ = false;

 private:
  std::string path_ = "recording";
};

std::string temp_file(const std::string& name) {
  const char* base = std::getenv("TMPDIR");
  return std::string(base && *base ? base : "/tmp") + "/loci-test-huge-pages-" + std::to_string(::getpid()) + "-" + name;
}

uint64_t file_pmd_mapped_kib() {
  std::ifstream smaps("/proc/self/smaps_rollup");
  std::string line;
  while (std::getline(smaps, line)) {
    if (line.rfind("FilePmdMapped:", 0) == 0) return std::strtoull(line.c_str() + 14, nullptr, 10);
  }
  return 0;
}

}  // namespace

TEST(block_aligned_writer_ends_every_write_but_the_last_on_a_block_boundary) {
  std::mt19937_64 random(test::test_seed());
  for (int trial = 0; trial < 200; ++trial) {
    const size_t block = size_t(1) << (6 + random() % 6);  // 64 B .. 2 KiB
    RecordingFile file(std::string(random() % 3 == 0 ? random() % (3 * block) : 0, 'p'));  // may start mid-block
    const size_t start = file.bytes_.size();
    BlockAlignedWriter writer(&file, block);
    std::string expected = file.bytes_;
    const int appends = 1 + int(random() % 40);
    for (int a = 0; a < appends; ++a) {
      // Mostly small, sometimes many blocks at once.
      const size_t size = random() % 4 == 0 ? random() % (5 * block) : random() % (block / 2 + 1);
      std::string chunk(size, '\0');
      for (char& c : chunk) c = char(random());
      CHECK(writer.append(chunk.data(), chunk.size()).is_ok());
      expected += chunk;
      CHECK(writer.size() == expected.size());
    }
    CHECK(writer.flush().is_ok());
    CHECK(file.bytes_ == expected);
    for (size_t w = 0; w + 1 < file.write_ends_.size(); ++w) {
      CHECK_MSG(file.write_ends_[w] % block == 0, "write " + std::to_string(w) + " ends at " + std::to_string(file.write_ends_[w]) +
                                                      ", not on a " + std::to_string(block) + "-byte boundary");
    }
    // No write is wasted: at most one per boundary crossed, plus the last.
    const size_t boundaries = expected.size() / block - start / block;
    CHECK(file.write_ends_.size() <= boundaries + 1);
  }
}

TEST(block_aligned_writer_passes_whole_blocks_through_in_one_write) {
  RecordingFile file;
  BlockAlignedWriter writer(&file, 4096);
  std::vector<char> header(100, 'h'), rows(5 * 4096 + 7, 'r');
  CHECK(writer.append(header.data(), header.size()).is_ok());
  CHECK(file.write_ends_.empty());  // gathered
  CHECK(writer.append(rows.data(), rows.size()).is_ok());
  // The first block filled from the buffer, then the 4 whole blocks after it in one write.
  CHECK(file.write_ends_.size() == 2);
  CHECK(file.write_ends_[0] == 4096 && file.write_ends_[1] == 5 * 4096);
  CHECK(writer.flush().is_ok());
  CHECK(file.write_ends_.size() == 3 && file.bytes_.size() == 100 + rows.size());
}

TEST(block_aligned_writer_reports_a_failed_write) {
  RecordingFile file;
  BlockAlignedWriter writer(&file, 64);
  std::vector<char> bytes(40, 'x');
  CHECK(writer.append(bytes.data(), bytes.size()).is_ok());
  file.fail_next_ = true;
  Status status = writer.append(bytes.data(), bytes.size());
  CHECK(!status.is_ok() && status.message().find("ENOSPC") != std::string::npos);
  file.fail_next_ = true;
  CHECK(writer.append(std::string(200, 'y').data(), 200).code() == StatusCode::io_error);
}

TEST(reserve_congruent_places_the_range_at_the_offset_modulo_2_mib) {
  for (uint64_t offset : {uint64_t(0), uint64_t(4096), uint64_t(kHugePageBytes - 4096), uint64_t(3 * kHugePageBytes + 65536)}) {
    for (size_t bytes : {size_t(4096), size_t(5) << 20}) {
      void* range = reserve_congruent(bytes, offset);
      CHECK(range != nullptr);
      CHECK(reinterpret_cast<uintptr_t>(range) % kHugePageBytes == offset % kHugePageBytes);
      // The whole range is ours: mapping memory over it with MAP_FIXED succeeds.
      void* memory = mmap(range, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
      CHECK(memory == range);
      std::memset(memory, 1, bytes);
      CHECK(munmap(range, bytes) == 0);
    }
  }
}

TEST(float_buffer_rows_are_congruent_to_the_vectors_files_rows_offset) {
  FloatBuffer anonymous;
  anonymous.resize(1000);
  CHECK(reinterpret_cast<uintptr_t>(anonymous.data()) % kHugePageBytes == FloatBuffer::kMappedRowsOffset);
  anonymous.resize(size_t(300) << 20);  // past the first reservation: it moves
  CHECK(reinterpret_cast<uintptr_t>(anonymous.data()) % kHugePageBytes == FloatBuffer::kMappedRowsOffset);
  anonymous.clear();

  // A file laid out like a vectors file (rows from 4096), written block-aligned.
  const std::string path = temp_file("vectors");
  const size_t count = (size_t(6) << 20) / sizeof(float);
  {
    std::unique_ptr<WritableFile> file;
    CHECK(Env::posix()->new_writable(path, true, &file).is_ok());
    BlockAlignedWriter writer(file.get(), kHugePageBytes);
    std::vector<char> header(FloatBuffer::kMappedRowsOffset, 'h');
    std::vector<float> rows(count);
    for (size_t i = 0; i < count; ++i) rows[i] = float(i);
    CHECK(writer.append(header.data(), header.size()).is_ok());
    CHECK(writer.append(rows.data(), rows.size() * sizeof(float)).is_ok());
    CHECK(writer.flush().is_ok());
    CHECK(file->sync().is_ok());
    CHECK(file->close().is_ok());
  }
  const uint64_t pmd_before = file_pmd_mapped_kib();
  FloatBuffer mapped;
  CHECK(mapped.map_file(path, FloatBuffer::kMappedRowsOffset, count).is_ok());
  CHECK(reinterpret_cast<uintptr_t>(mapped.data()) % kHugePageBytes == FloatBuffer::kMappedRowsOffset);
  bool same = true;
  for (size_t i = 0; i < count; i += 1024) same = same && mapped[i] == float(i);
  CHECK(same);
  std::printf("    file rows mapped with 2 MiB pages here: %llu KiB (kernel and filesystem permitting)\n",
              static_cast<unsigned long long>(file_pmd_mapped_kib() - pmd_before));
  // A write still stays private: the file keeps its bytes.
  mapped[5] = -1.0f;
  FloatBuffer again;
  CHECK(again.map_file(path, FloatBuffer::kMappedRowsOffset, count).is_ok());
  CHECK(again[5] == 5.0f && mapped[5] == -1.0f);
  ::unlink(path.c_str());
}

TEST(private_map_is_congruent_to_its_file_offset) {
  const std::string path = temp_file("pages");
  const uint64_t offset = 3 * 65536;
  {
    std::unique_ptr<WritableFile> file;
    CHECK(Env::posix()->new_writable(path, true, &file).is_ok());
    std::vector<uint8_t> bytes(offset + (size_t(4) << 20));
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = uint8_t(i * 7);
    CHECK(file->append(bytes.data(), bytes.size()).is_ok());
    CHECK(file->close().is_ok());
  }
  std::shared_ptr<PrivateMap> map;
  CHECK(PrivateMap::map(path, offset, size_t(4) << 20, &map).is_ok());
  CHECK(reinterpret_cast<uintptr_t>(map->data()) % kHugePageBytes == offset % kHugePageBytes);
  CHECK(map->data()[0] == uint8_t(offset * 7) && map->data()[12345] == uint8_t((offset + 12345) * 7));
  CHECK(PrivateMap::map(path + ".missing", 0, 4096, &map).code() == StatusCode::io_error);
  ::unlink(path.c_str());
}

LOCI_TEST_MAIN()
