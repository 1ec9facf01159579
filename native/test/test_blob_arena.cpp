// The blob arena (docs/format/blobs.md): create / append / read round trips, the worked
// example, and one named test per corruption mode: a flipped byte in a blob, a bad
// header, an arena shorter than the MANIFEST's durable bytes, bytes past them, and a
// reference past the end.
#include <cerrno>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "common/coding.h"
#include "common/crc32c.h"
#include "harness.h"
#include "mutate.h"
#include "storage/blob_arena.h"
#include "storage/env.h"
#include "storage/fault_env.h"
#include "storage/log_format.h"

using namespace loci;
using namespace loci::storage;
using loci::test::TempDir;
using loci::test::contains;

namespace {

struct Blob {
  std::string text, meta;
  BlobRef ref;
};

// Encodes and appends `blobs` as one batch, filling in their refs.
void append_all(BlobArena* arena, std::vector<Blob>* blobs) {
  std::string batch;
  for (Blob& blob : *blobs) arena->encode(blob.text, blob.meta, &batch, &blob.ref);
  CHECK_OK(arena->append(batch));
}

void check_reads(const BlobArena& arena, const std::vector<Blob>& blobs) {
  for (size_t i = 0; i < blobs.size(); ++i) {
    std::string text = "stale", meta = "stale";
    Status status = arena.read(blobs[i].ref, &text, &meta);
    CHECK_MSG(status.is_ok() && text == blobs[i].text && meta == blobs[i].meta,
              "blob " + std::to_string(i) + ": " + loci::test::status_text(status));
  }
}

std::vector<Blob> three_blobs() {
  return {{"first text", "{\"n\":1}", {}}, {"second text", "{\"n\":2}", {}}, {"third text", "", {}}};
}

std::unique_ptr<BlobArena> create_arena(const TempDir& dir, uint64_t gen = 1, Env* env = Env::posix()) {
  std::unique_ptr<BlobArena> arena;
  CHECK_OK(BlobArena::create(env, dir.path(), gen, &arena));
  return arena;
}

std::unique_ptr<BlobArena> open_arena(const TempDir& dir, uint64_t durable, uint64_t gen = 1, bool read_only = false) {
  std::unique_ptr<BlobArena> arena;
  CHECK_OK(BlobArena::open(Env::posix(), dir.path(), gen, durable, &arena, read_only));
  return arena;
}


}  // namespace

// --- round trips ---------------------------------------------------------------------------

TEST(blob_arena_create_writes_its_header) {
  TempDir dir("blobs");
  auto arena = create_arena(dir, 7);
  if (!arena) return;
  CHECK(arena->path() == dir.file("blobs.0000000000000007"));
  CHECK(arena->size() == kFileHeaderBytes && arena->gen() == 7);
  std::string bytes = loci::test::read_bytes(arena->path());
  CHECK(bytes.size() == 32);
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  CHECK(bytes.substr(0, 4) == "LCBA");
  CHECK(coding::decode_u16(data + 4) == 1 && coding::decode_u16(data + 6) == 0);
  CHECK(coding::decode_u64(data + 8) == 7);
  CHECK(bytes.substr(16, 12) == std::string(12, '\0'));
  CHECK(coding::decode_u32(data + 28) == crc32c::mask(crc32c::value(data, 28)));
}

TEST(blob_arena_worked_example_matches_docs) {
  TempDir dir("blobs");
  auto arena = create_arena(dir);
  if (!arena) return;
  std::vector<Blob> blobs = {{"hi", "{\"a\":1}", {}}, {"next", "", {}}};
  append_all(arena.get(), &blobs);
  CHECK(blobs[0].ref.offset == 32 && blobs[0].ref.length == 11);
  CHECK(blobs[0].ref.footprint() == 19);
  CHECK(blobs[1].ref.offset == 51);
  std::string bytes = loci::test::read_bytes(arena->path());
  const std::string payload("\x02\x68\x69\x07\x7B\x22\x61\x22\x3A\x31\x7D", 11);
  CHECK(bytes.substr(36, 4) == std::string("\x0B\x00\x00\x00", 4));
  CHECK(bytes.substr(40, 11) == payload);
  CHECK(coding::decode_u32(reinterpret_cast<const uint8_t*>(bytes.data()) + 32) ==
        crc32c::mask(crc32c::value(payload.data(), payload.size())));
  check_reads(*arena, blobs);
}

TEST(blob_arena_round_trips_many_blobs_and_a_5mb_blob) {
  TempDir dir("blobs");
  auto arena = create_arena(dir);
  if (!arena) return;
  std::mt19937_64 rng(loci::test::test_seed());
  std::vector<Blob> all;
  for (int round = 0; round < 5; ++round) {
    std::vector<Blob> batch;
    for (int i = 0; i < 40; ++i) {
      Blob blob;
      blob.text.resize(rng() % 200);
      for (char& c : blob.text) c = char('a' + rng() % 26);
      if (rng() % 2) blob.meta = "{\"round\":" + std::to_string(round) + ",\"i\":" + std::to_string(i) + "}";
      if (blob.text.empty() && blob.meta.empty()) blob.text = "x";
      batch.push_back(blob);
    }
    if (round == 2) {
      Blob big;
      big.text.resize(5u << 20);
      for (char& c : big.text) c = char(rng());
      big.meta = "{\"big\":true}";
      batch.push_back(big);
    }
    append_all(arena.get(), &batch);
    all.insert(all.end(), batch.begin(), batch.end());
    check_reads(*arena, all);  // readable straight after each append (the map grows)
  }
  CHECK_OK(arena->sync());
  const uint64_t size = arena->size();
  CHECK(loci::test::file_bytes(arena->path()) == int64_t(size));
  arena.reset();
  auto reopened = open_arena(dir, size);
  if (!reopened) return;
  CHECK(reopened->size() == size);
  check_reads(*reopened, all);
}

TEST(blob_arena_empty_text_and_meta_give_an_empty_ref) {
  TempDir dir("blobs");
  auto arena = create_arena(dir);
  if (!arena) return;
  std::string batch = "unchanged";
  BlobRef ref{99, 99};
  arena->encode("", "", &batch, &ref);
  CHECK(batch == "unchanged");
  CHECK(ref.empty() && ref.offset == 0 && ref.length == 0 && ref.footprint() == 0);
  std::string text = "stale", meta = "stale";
  CHECK_OK(arena->read(BlobRef{}, &text, &meta));
  CHECK(text.empty() && meta.empty());
  CHECK_OK(arena->append(""));
  CHECK(arena->size() == kFileHeaderBytes);
  // Text only and meta only are real blobs.
  std::vector<Blob> blobs = {{"only text", "", {}}, {"", "{\"only\":\"meta\"}", {}}};
  append_all(arena.get(), &blobs);
  CHECK(!blobs[0].ref.empty() && !blobs[1].ref.empty());
  check_reads(*arena, blobs);
}

TEST(blob_arena_failed_append_writes_nothing_and_keeps_the_size) {
  TempDir dir("blobs");
  FaultInjectionEnv env(Env::posix());
  auto arena = create_arena(dir, 1, &env);
  if (!arena) return;
  std::vector<Blob> blobs = three_blobs();
  env.fail(FaultOp::append, 0, ENOSPC, 1);
  std::string batch;
  for (Blob& blob : blobs) arena->encode(blob.text, blob.meta, &batch, &blob.ref);
  Status failed = arena->append(batch);
  CHECK(failed.code() == StatusCode::io_error && contains(failed.message(), "ENOSPC"));
  CHECK(arena->size() == kFileHeaderBytes);
  // Encoding again places the blobs where the failed ones would have gone.
  append_all(arena.get(), &blobs);
  CHECK(blobs[0].ref.offset == kFileHeaderBytes);
  check_reads(*arena, blobs);
}

// --- corruption modes ----------------------------------------------------------------------

namespace {

// Three blobs appended and synced; `damage` mutates the file; then it is reopened.
struct Damaged {
  TempDir dir{"blobs"};
  std::vector<Blob> blobs = three_blobs();
  uint64_t size = 0;
  std::string path;
  std::unique_ptr<BlobArena> arena;
  explicit Damaged(const std::function<void(Damaged&)>& damage) {
    auto writer = create_arena(dir);
    if (!writer) return;
    append_all(writer.get(), &blobs);
    CHECK_OK(writer->sync());
    size = writer->size();
    path = writer->path();
    writer.reset();
    damage(*this);
    arena = open_arena(dir, size);
  }
};

void check_blob_damage(uint64_t offset_in_blob, uint8_t mask) {
  Damaged damaged([&](Damaged& d) { CHECK(loci::test::flip_byte(d.path, d.blobs[1].ref.offset + offset_in_blob, mask)); });
  if (!damaged.arena) return;
  std::string text, meta;
  CHECK_CORRUPT_AT(damaged.arena->read(damaged.blobs[1].ref, &text, &meta), damaged.path, damaged.blobs[1].ref.offset);
  // The others stay readable.
  check_reads(*damaged.arena, {damaged.blobs[0], damaged.blobs[2]});
}

}  // namespace

TEST(blob_arena_flipped_byte_in_blob_payload_is_corrupt_and_others_stay_readable) { check_blob_damage(8 + 3, 0x01); }

TEST(blob_arena_flipped_byte_in_blob_checksum_is_corrupt_and_others_stay_readable) { check_blob_damage(2, 0x40); }

TEST(blob_arena_flipped_byte_in_blob_length_is_corrupt_and_others_stay_readable) { check_blob_damage(4, 0x02); }

TEST(blob_arena_every_flipped_byte_of_a_blob_is_caught) {
  Damaged clean([](Damaged&) {});
  if (!clean.arena) return;
  const Blob& target = clean.blobs[1];
  for (uint64_t at = target.ref.offset; at < target.ref.offset + target.ref.footprint(); ++at) {
    CHECK(loci::test::flip_byte(clean.path, at, 0x10));
    auto arena = open_arena(clean.dir, clean.size);
    std::string text, meta;
    if (arena) CHECK_CORRUPT_AT(arena->read(target.ref, &text, &meta), clean.path, target.ref.offset);
    CHECK(loci::test::flip_byte(clean.path, at, 0x10));
  }
}

TEST(blob_arena_bad_header_is_corrupt_at_open) {
  for (uint64_t at = 0; at < kFileHeaderBytes; ++at) {
    Damaged damaged([&](Damaged& d) {
      CHECK(loci::test::flip_byte(d.path, at, 0x01));
      std::unique_ptr<BlobArena> arena;
      Status status = BlobArena::open(Env::posix(), d.dir.path(), 1, d.size, &arena);
      CHECK_CORRUPT_AT(status, d.path, 0);
      CHECK(!arena);
      CHECK(loci::test::flip_byte(d.path, at, 0x01));
    });
  }
}

TEST(blob_arena_header_of_another_generation_is_corrupt_at_open) {
  TempDir dir("blobs");
  auto arena = create_arena(dir, 1);
  if (!arena) return;
  arena.reset();
  // blobs.2 holding the header of generation 1.
  CHECK(loci::test::write_bytes(dir.file("blobs.0000000000000002"), loci::test::read_bytes(dir.file("blobs.0000000000000001"))));
  std::unique_ptr<BlobArena> opened;
  Status status = BlobArena::open(Env::posix(), dir.path(), 2, kFileHeaderBytes, &opened);
  CHECK_CORRUPT_AT(status, dir.file("blobs.0000000000000002"), 8);
  CHECK(contains(status.message(), "generation 1"));
}

TEST(blob_arena_missing_file_is_corrupt_at_open) {
  TempDir dir("blobs");
  std::unique_ptr<BlobArena> arena;
  Status status = BlobArena::open(Env::posix(), dir.path(), 3, kFileHeaderBytes, &arena);
  CHECK_CORRUPT_AT(status, dir.file("blobs.0000000000000003"), 0);
  CHECK(contains(status.message(), "missing"));
}

TEST(blob_arena_shorter_than_durable_bytes_is_corrupt_at_open) {
  for (uint64_t cut : {uint64_t(0), uint64_t(10), uint64_t(kFileHeaderBytes), uint64_t(50)}) {
    TempDir dir("blobs");
    auto arena = create_arena(dir);
    if (!arena) return;
    std::vector<Blob> blobs = three_blobs();
    append_all(arena.get(), &blobs);
    CHECK_OK(arena->sync());
    const uint64_t durable = arena->size();
    const std::string path = arena->path();
    arena.reset();
    CHECK(loci::test::truncate_file(path, cut));
    std::unique_ptr<BlobArena> opened;
    Status status = BlobArena::open(Env::posix(), dir.path(), 1, durable, &opened);
    CHECK_CORRUPT_AT(status, path, cut);
    CHECK(contains(status.message(), std::to_string(durable)));
    CHECK(!opened);
    CHECK(loci::test::file_bytes(path) == int64_t(cut));  // nothing was changed
  }
}

TEST(blob_arena_durable_bytes_inside_the_header_is_corrupt_at_open) {
  TempDir dir("blobs");
  auto arena = create_arena(dir);
  arena.reset();
  std::unique_ptr<BlobArena> opened;
  CHECK_CORRUPT(BlobArena::open(Env::posix(), dir.path(), 1, 8, &opened), dir.file("blobs.0000000000000001"));
}

// They are cut by the first write after open, not by the open itself: an open that then
// fails (damage found by the WAL replay) must leave the file as it was.
TEST(blob_arena_bytes_past_durable_length_are_cut_before_the_first_write) {
  TempDir dir("blobs");
  auto arena = create_arena(dir);
  if (!arena) return;
  std::vector<Blob> durable = three_blobs();
  append_all(arena.get(), &durable);
  CHECK_OK(arena->sync());
  const uint64_t durable_bytes = arena->size();
  std::vector<Blob> later = {{"written after the checkpoint", "{}", {}}};
  append_all(arena.get(), &later);
  CHECK(arena->size() > durable_bytes);
  arena.reset();

  auto reopened = open_arena(dir, durable_bytes);
  if (!reopened) return;
  CHECK(reopened->size() == durable_bytes);
  CHECK(loci::test::file_bytes(dir.file("blobs.0000000000000001")) > int64_t(durable_bytes));  // untouched by open
  CHECK_OK(reopened->flush());
  CHECK(loci::test::file_bytes(dir.file("blobs.0000000000000001")) == int64_t(durable_bytes));
  check_reads(*reopened, durable);
  std::string text, meta;
  CHECK_CORRUPT(reopened->read(later[0].ref, &text, &meta), reopened->path());
  // The replay appends it again, at the same offset.
  std::vector<Blob> again = later;
  append_all(reopened.get(), &again);
  CHECK(again[0].ref.offset == later[0].ref.offset);
  check_reads(*reopened, again);
}

TEST(blob_arena_read_only_open_cuts_nothing_and_refuses_appends) {
  TempDir dir("blobs");
  auto arena = create_arena(dir);
  if (!arena) return;
  std::vector<Blob> blobs = three_blobs();
  append_all(arena.get(), &blobs);
  const uint64_t full = arena->size();
  arena.reset();
  auto read_only = open_arena(dir, blobs[1].ref.offset, 1, true);
  if (!read_only) return;
  CHECK(loci::test::file_bytes(dir.file("blobs.0000000000000001")) == int64_t(full));
  check_reads(*read_only, {blobs[0]});
  // It reads only what the MANIFEST covers.
  std::string text, meta;
  CHECK_CORRUPT(read_only->read(blobs[2].ref, &text, &meta), read_only->path());
  std::string batch;
  BlobRef ref;
  read_only->encode("x", "", &batch, &ref);
  CHECK(!read_only->append(batch).is_ok());
  CHECK(loci::test::file_bytes(dir.file("blobs.0000000000000001")) == int64_t(full));
}

TEST(blob_arena_reference_past_end_is_corrupt) {
  Damaged damaged([](Damaged&) {});
  if (!damaged.arena) return;
  const BlobArena& arena = *damaged.arena;
  const uint64_t size = arena.size();
  std::string text, meta;
  for (BlobRef ref : {BlobRef{size, 1}, BlobRef{size - 4, 10}, BlobRef{damaged.blobs[2].ref.offset, damaged.blobs[2].ref.length + 1},
                      BlobRef{size + 1000000, 0}, BlobRef{damaged.blobs[0].ref.offset, 0xFFFFFFFFu}}) {
    CHECK_CORRUPT_AT(arena.read(ref, &text, &meta), damaged.path, ref.offset);
  }
  // Inside the header.
  CHECK_CORRUPT_AT(arena.read(BlobRef{4, 3}, &text, &meta), damaged.path, 4);
  // A length that disagrees with the blob's own (but stays inside the file).
  BlobRef shorter = damaged.blobs[0].ref;
  shorter.length -= 1;
  CHECK_CORRUPT_AT(arena.read(shorter, &text, &meta), damaged.path, shorter.offset);
  // A reference into the middle of a blob.
  CHECK_CORRUPT(arena.read(BlobRef{damaged.blobs[1].ref.offset + 3, 5}, &text, &meta), damaged.path);
}

// A reference near 2^64 must not wrap the bounds check (regression: `offset + 8 +
// length` overflowed, the check passed and the read went far outside the mapping). Run
// in a child process so that a crash fails this test only.
TEST(blob_arena_reference_near_2_pow_64_is_corrupt_not_a_wild_read) {
  Damaged damaged([](Damaged&) {});
  if (!damaged.arena) return;
  const std::string path = damaged.path;
  BlobArena* arena = damaged.arena.get();
  int code = loci::test::run_in_child([&] {
    std::string text, meta;
    Status status = arena->read(BlobRef{~uint64_t(0) - 7, 0}, &text, &meta);
    return status.code() == StatusCode::corrupt && contains(status.message(), path) ? 0 : 2;
  });
  CHECK_MSG(code == 0, "the read of a reference near 2^64 did not return CORRUPT: the child " +
                           std::string(code >= 128 ? "died of signal " + std::to_string(code - 128)
                                                   : "exited with " + std::to_string(code)) +
                           " (a sanitizer report above, if any, shows where)");
}

LOCI_TEST_MAIN()
