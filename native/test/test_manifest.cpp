// The MANIFEST (docs/format/manifest.md): encode/decode, the worked example byte by byte,
// the atomic write, and one named test per corruption mode the spec lists. Every
// refusal must be CORRUPT naming MANIFEST and an offset.
#include <cerrno>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "common/coding.h"
#include "common/crc32c.h"
#include "harness.h"
#include "mutate.h"
#include "storage/env.h"
#include "storage/fault_env.h"
#include "storage/manifest.h"

using namespace loci;
using namespace loci::storage;
using loci::test::TempDir;
using loci::test::contains;

namespace {

const std::string kPath = "/some/store/MANIFEST";

// The worked example of manifest.md: a new 768-d cosine Atlas store, 256 KiB pages, fanout 64.
Manifest worked_example() {
  Manifest m;
  m.dim = 768;
  m.metric = 2;
  m.quantization = 1;
  m.index = 1;
  m.page_size = 262144;
  m.fanout = 64;
  m.checkpoint_lsn = 0;
  m.checkpoint_gen = 0;
  m.arena_gen = 1;
  m.arena_bytes = 32;
  m.arena_live_bytes = 0;
  m.wal_seq = 1;
  m.items = 0;
  m.created_ms = 1764000000000ull;
  m.checkpoint_ms = 1764000000123ull;
  return m;
}

Manifest random_manifest(std::mt19937_64& rng) {
  Manifest m;
  m.dim = uint32_t(1 + rng() % 65536);
  m.metric = uint8_t(rng() % 3);
  m.quantization = uint8_t(rng() % 2);
  m.index = uint8_t(rng() % 2);
  m.page_size = m.index == 1 ? uint32_t(4096 * (1 + rng() % 256)) : 0;
  m.fanout = m.index == 1 ? uint32_t(4 + rng() % 1021) : 0;
  m.checkpoint_lsn = rng();
  m.checkpoint_gen = rng();
  m.arena_gen = 1 + rng() % (1ull << 62);
  m.arena_bytes = rng();
  m.arena_live_bytes = m.arena_bytes ? rng() % m.arena_bytes : 0;
  m.wal_seq = 1 + rng() % (1ull << 62);
  m.items = rng();
  m.created_ms = rng();
  m.checkpoint_ms = rng();
  return m;
}

bool same(const Manifest& a, const Manifest& b) {
  return a.dim == b.dim && a.metric == b.metric && a.quantization == b.quantization && a.index == b.index &&
         a.page_size == b.page_size && a.fanout == b.fanout && a.checkpoint_lsn == b.checkpoint_lsn &&
         a.checkpoint_gen == b.checkpoint_gen && a.arena_gen == b.arena_gen && a.arena_bytes == b.arena_bytes &&
         a.arena_live_bytes == b.arena_live_bytes && a.wal_seq == b.wal_seq && a.items == b.items &&
         a.created_ms == b.created_ms && a.checkpoint_ms == b.checkpoint_ms;
}

// Recomputes the CRC after a deliberate edit, so the check after the CRC is the one hit.
void reseal(std::string* bytes) {
  auto* data = reinterpret_cast<uint8_t*>(&(*bytes)[0]);
  coding::encode_u32(data + 100, crc32c::mask(crc32c::value(data, 100)));
}

Status decode(const std::string& bytes, Manifest* out = nullptr) {
  Manifest ignored;
  return Manifest::decode(bytes, kPath, out ? out : &ignored);
}

// CORRUPT naming the MANIFEST and `offset`.
#define CHECK_MANIFEST_CORRUPT_AT(bytes, offset, why_part)                                                    \
  do {                                                                                                        \
    ::loci::Status manifest_status_ = decode(bytes);                                                          \
    const std::string manifest_where_ = kPath + " at offset " + std::to_string(offset);                       \
    CHECK_MSG(manifest_status_.code() == ::loci::StatusCode::corrupt &&                                       \
                  contains(manifest_status_.message(), manifest_where_) &&                                    \
                  contains(manifest_status_.message(), why_part),                                             \
              "expected CORRUPT '" + manifest_where_ + "' (" + why_part + "), got " +                        \
                  ::loci::test::status_text(manifest_status_));                                               \
  } while (0)

// An edit of one field, resealed.
std::string with_field(const Manifest& base, size_t offset, const std::string& field_bytes) {
  std::string bytes = base.encode();
  bytes.replace(offset, field_bytes.size(), field_bytes);
  reseal(&bytes);
  return bytes;
}

std::string u32_bytes(uint32_t value) {
  std::string out;
  coding::put_u32(&out, value);
  return out;
}
std::string u64_bytes(uint64_t value) {
  std::string out;
  coding::put_u64(&out, value);
  return out;
}
std::string u16_bytes(uint16_t value) {
  std::string out;
  coding::put_u16(&out, value);
  return out;
}

}  // namespace

// --- encode / decode -----------------------------------------------------------------------

TEST(manifest_round_trips) {
  std::mt19937_64 rng(loci::test::test_seed());
  for (int trial = 0; trial < 500; ++trial) {
    Manifest m = trial == 0 ? worked_example() : random_manifest(rng);
    std::string bytes = m.encode();
    CHECK(bytes.size() == kManifestBytes);
    Manifest decoded;
    Status status = decode(bytes, &decoded);
    CHECK_MSG(status.is_ok(), loci::test::status_text(status));
    CHECK_MSG(same(m, decoded), "trial " + std::to_string(trial));
  }
}

TEST(manifest_flat_store_with_no_pages_decodes) {
  Manifest m = worked_example();
  m.index = 0;
  m.quantization = 0;
  m.page_size = 0;
  m.fanout = 0;
  Manifest decoded;
  CHECK_OK(decode(m.encode(), &decoded));
  CHECK(same(m, decoded));
}

TEST(manifest_worked_example_bytes_match_docs) {
  const std::string bytes = worked_example().encode();
  CHECK(bytes.size() == 104);
  auto at = [&](size_t offset, size_t size) { return bytes.substr(offset, size); };
  CHECK(at(0, 4) == std::string("\x4C\x43\x4D\x46", 4));  // "LCMF"
  CHECK(at(4, 2) == std::string("\x01\x00", 2));
  CHECK(at(6, 2) == std::string("\x00\x00", 2));
  CHECK(at(8, 4) == std::string("\x00\x03\x00\x00", 4));  // dim 768
  CHECK(bytes[12] == 2 && bytes[13] == 1 && bytes[14] == 1 && bytes[15] == 0);
  CHECK(at(16, 4) == std::string("\x00\x00\x04\x00", 4));  // page_size 256 KiB
  CHECK(at(20, 4) == std::string("\x40\x00\x00\x00", 4));  // fanout 64
  CHECK(at(24, 8) == std::string(8, '\0'));                  // checkpoint_lsn
  CHECK(at(32, 8) == std::string(8, '\0'));                  // checkpoint_gen
  CHECK(at(40, 8) == std::string("\x01\x00\x00\x00\x00\x00\x00\x00", 8));  // arena_gen
  CHECK(at(48, 8) == std::string("\x20\x00\x00\x00\x00\x00\x00\x00", 8));  // arena_bytes 32
  CHECK(at(56, 8) == std::string(8, '\0'));                                // arena_live_bytes
  CHECK(at(64, 8) == std::string("\x01\x00\x00\x00\x00\x00\x00\x00", 8));  // wal_seq
  CHECK(at(72, 8) == std::string(8, '\0'));                                // items
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  CHECK(coding::decode_u64(data + 80) == 1764000000000ull);
  CHECK(coding::decode_u64(data + 88) == 1764000000123ull);
  CHECK(at(96, 4) == std::string(4, '\0'));
  // The CRC, masked by LevelDB's rule written out here rather than taken from crc32c::mask.
  const uint32_t crc = crc32c::value(data, 100);
  const uint32_t masked = ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
  CHECK(coding::decode_u32(data + 100) == masked);
}

TEST(manifest_write_then_read_round_trips_and_leaves_no_temp_file) {
  TempDir dir("manifest");
  Manifest m = worked_example();
  CHECK_OK(write_manifest(Env::posix(), dir.path(), m));
  CHECK(loci::test::list_names(dir.path()) == std::vector<std::string>{"MANIFEST"});
  CHECK(loci::test::file_bytes(dir.file("MANIFEST")) == 104);
  Manifest read;
  CHECK_OK(read_manifest(Env::posix(), dir.path(), &read));
  CHECK(same(m, read));
  // A second write replaces it.
  m.checkpoint_gen = 2;
  m.checkpoint_lsn = 99;
  CHECK_OK(write_manifest(Env::posix(), dir.path(), m));
  CHECK_OK(read_manifest(Env::posix(), dir.path(), &read));
  CHECK(read.checkpoint_gen == 2 && read.checkpoint_lsn == 99);
}

TEST(manifest_missing_is_not_found) {
  TempDir dir("manifest");
  Manifest read;
  Status status = read_manifest(Env::posix(), dir.path(), &read);
  CHECK(status.code() == StatusCode::not_found && contains(status.message(), dir.file("MANIFEST")));
}

TEST(manifest_failed_write_keeps_the_old_one) {
  // The rename is the commit point: any failure before it leaves the old MANIFEST.
  for (FaultOp op : {FaultOp::create, FaultOp::append, FaultOp::sync, FaultOp::rename}) {
    TempDir dir("manifest");
    FaultInjectionEnv env(Env::posix());
    Manifest old_manifest = worked_example();
    CHECK_OK(write_manifest(&env, dir.path(), old_manifest));
    Manifest next = old_manifest;
    next.checkpoint_gen = 5;
    env.fail(op, 0, EIO, 1);
    Status failed = write_manifest(&env, dir.path(), next);
    CHECK_MSG(failed.code() == StatusCode::io_error && contains(failed.message(), "EIO"), loci::test::status_text(failed));
    Manifest read;
    CHECK_OK(read_manifest(&env, dir.path(), &read));
    CHECK(same(read, old_manifest));
    // And a crash after the failure still finds the old one.
    CHECK_OK(env.simulate_crash());
    CHECK_OK(read_manifest(&env, dir.path(), &read));
    CHECK(same(read, old_manifest));
  }
}

TEST(manifest_crash_before_directory_sync_keeps_the_old_one) {
  TempDir dir("manifest");
  FaultInjectionEnv env(Env::posix());
  Manifest old_manifest = worked_example();
  CHECK_OK(write_manifest(&env, dir.path(), old_manifest));
  Manifest next = old_manifest;
  next.checkpoint_gen = 5;
  env.fail(FaultOp::sync_dir, 0, EIO, 1);
  Status failed = write_manifest(&env, dir.path(), next);
  CHECK(failed.code() == StatusCode::io_error && contains(failed.message(), "EIO"));
  CHECK_OK(env.simulate_crash());
  Manifest read;
  CHECK_OK(read_manifest(&env, dir.path(), &read));
  CHECK(same(read, old_manifest));
}

// --- corruption modes (docs/format/manifest.md) -----------------------------------------------

TEST(manifest_wrong_size_is_corrupt) {
  const std::string bytes = worked_example().encode();
  for (size_t size : {size_t(0), size_t(1), size_t(100), size_t(103)}) {
    CHECK_MANIFEST_CORRUPT_AT(bytes.substr(0, size), 0, "size is " + std::to_string(size));
  }
  CHECK_MANIFEST_CORRUPT_AT(bytes + '\0', 0, "size is 105");
  CHECK_MANIFEST_CORRUPT_AT(bytes + bytes, 0, "size is 208");
  // Through the file, as open() reads it.
  TempDir dir("manifest");
  CHECK(loci::test::write_bytes(dir.file("MANIFEST"), bytes.substr(0, 60)));
  Manifest read;
  CHECK_CORRUPT(read_manifest(Env::posix(), dir.path(), &read), dir.file("MANIFEST"));
}

TEST(manifest_bad_magic_is_corrupt) {
  Manifest m = worked_example();
  CHECK_MANIFEST_CORRUPT_AT(with_field(m, 0, "LCWL"), 0, "bad magic");
  CHECK_MANIFEST_CORRUPT_AT(with_field(m, 0, std::string(4, '\0')), 0, "bad magic");
}

TEST(manifest_unknown_version_is_corrupt) {
  Manifest m = worked_example();
  for (uint16_t version : {uint16_t(0), uint16_t(2), uint16_t(0xFFFF)}) {
    CHECK_MANIFEST_CORRUPT_AT(with_field(m, 4, u16_bytes(version)), 4, "unknown format version");
  }
}

TEST(manifest_unknown_low_flag_bits_are_corrupt) {
  Manifest m = worked_example();
  for (int bit = 0; bit < 8; ++bit) {
    CHECK_MANIFEST_CORRUPT_AT(with_field(m, 6, u16_bytes(uint16_t(1u << bit))), 6, "unknown flags");
  }
}

TEST(manifest_high_flag_bits_are_safe_to_ignore) {
  Manifest m = worked_example();
  for (int bit = 8; bit < 16; ++bit) {
    Manifest decoded;
    CHECK_OK(decode(with_field(m, 6, u16_bytes(uint16_t(1u << bit))), &decoded));
    CHECK(same(m, decoded));
  }
}

TEST(manifest_every_flipped_byte_is_a_checksum_mismatch) {
  const std::string bytes = worked_example().encode();
  for (size_t at = 0; at < bytes.size(); ++at) {
    for (uint8_t mask : {uint8_t(0x01), uint8_t(0x80), uint8_t(0xFF)}) {
      std::string damaged = bytes;
      damaged[at] = char(uint8_t(damaged[at]) ^ mask);
      CHECK_MANIFEST_CORRUPT_AT(damaged, 100, "checksum mismatch");
    }
  }
}

TEST(manifest_every_flipped_byte_in_the_file_is_corrupt_at_read) {
  TempDir dir("manifest");
  CHECK_OK(write_manifest(Env::posix(), dir.path(), worked_example()));
  const std::string path = dir.file("MANIFEST");
  for (uint64_t at = 0; at < kManifestBytes; ++at) {
    CHECK(loci::test::flip_byte(path, at, 0x20));
    Manifest read;
    CHECK_CORRUPT(read_manifest(Env::posix(), dir.path(), &read), path);
    CHECK(loci::test::flip_byte(path, at, 0x20));
  }
  Manifest read;
  CHECK_OK(read_manifest(Env::posix(), dir.path(), &read));
}

TEST(manifest_dim_out_of_range_is_corrupt) {
  Manifest m = worked_example();
  CHECK_MANIFEST_CORRUPT_AT(with_field(m, 8, u32_bytes(0)), 8, "dim 0");
  CHECK_MANIFEST_CORRUPT_AT(with_field(m, 8, u32_bytes(65537)), 8, "dim 65537");
  CHECK_OK(decode(with_field(m, 8, u32_bytes(65536))));
  CHECK_OK(decode(with_field(m, 8, u32_bytes(1))));
}

TEST(manifest_unknown_metric_is_corrupt) {
  CHECK_MANIFEST_CORRUPT_AT(with_field(worked_example(), 12, "\x03"), 12, "unknown metric 3");
  CHECK_MANIFEST_CORRUPT_AT(with_field(worked_example(), 12, "\xFF"), 12, "unknown metric");
}

TEST(manifest_unknown_quantization_is_corrupt) {
  CHECK_MANIFEST_CORRUPT_AT(with_field(worked_example(), 13, "\x02"), 13, "unknown quantization 2");
}

TEST(manifest_unknown_index_kind_is_corrupt) {
  CHECK_MANIFEST_CORRUPT_AT(with_field(worked_example(), 14, "\x02"), 14, "unknown index kind 2");
}

TEST(manifest_atlas_page_size_out_of_range_is_corrupt) {
  Manifest m = worked_example();
  for (uint32_t page_size : {0u, 4095u, 5000u, 4096u * 3 + 1, (1u << 20) + 4096}) {
    CHECK_MANIFEST_CORRUPT_AT(with_field(m, 16, u32_bytes(page_size)), 16, "page size " + std::to_string(page_size));
  }
  for (uint32_t page_size : {4096u, 4096u * 3, 1u << 20}) CHECK_OK(decode(with_field(m, 16, u32_bytes(page_size))));
}

TEST(manifest_atlas_fanout_out_of_range_is_corrupt) {
  Manifest m = worked_example();
  for (uint32_t fanout : {0u, 3u, 1025u, 0xFFFFFFFFu}) {
    CHECK_MANIFEST_CORRUPT_AT(with_field(m, 20, u32_bytes(fanout)), 20, "fanout " + std::to_string(fanout));
  }
  for (uint32_t fanout : {4u, 1024u}) CHECK_OK(decode(with_field(m, 20, u32_bytes(fanout))));
}

TEST(manifest_zero_arena_generation_is_corrupt) {
  CHECK_MANIFEST_CORRUPT_AT(with_field(worked_example(), 40, u64_bytes(0)), 40, "arena generation");
}

TEST(manifest_zero_wal_sequence_is_corrupt) {
  CHECK_MANIFEST_CORRUPT_AT(with_field(worked_example(), 64, u64_bytes(0)), 64, "WAL sequence");
}

TEST(manifest_more_live_bytes_than_arena_bytes_is_corrupt) {
  CHECK_MANIFEST_CORRUPT_AT(with_field(worked_example(), 56, u64_bytes(33)), 56, "more live arena bytes");
  CHECK_OK(decode(with_field(worked_example(), 56, u64_bytes(32))));
}

TEST(manifest_corrupt_decode_leaves_the_output_untouched) {
  Manifest out = worked_example();
  out.items = 12345;
  std::string bytes = worked_example().encode();
  bytes[0] ^= 1;
  CHECK(decode(bytes, &out).code() == StatusCode::corrupt);
  CHECK(out.items == 12345);
}

LOCI_TEST_MAIN()
