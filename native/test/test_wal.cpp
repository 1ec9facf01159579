// The write-ahead log (docs/format/wal.md): record framing (storage/log_format.h), batch
// payloads (WriteBatch), WAL files and replay_wal under each RecoveryMode. One named test
// per corruption mode, built on the byte-mutation helpers of mutate.h.
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "common/coding.h"
#include "common/crc32c.h"
#include "engine/wal.h"
#include "batch_codec.h"
#include "harness.h"
#include "mutate.h"
#include "storage/env.h"
#include "storage/log_format.h"

using namespace loci;
using namespace loci::engine;
using namespace loci::storage;
using loci::test::TempDir;
using loci::test::contains;

namespace {

constexpr size_t kDim = 4;

WriteBatch make_batch(BatchOp op, const std::vector<std::string>& ids, uint32_t seed = 1) {
  WriteBatch batch;
  batch.op = op;
  batch.ids = ids;
  if (op == BatchOp::remove) return batch;
  for (size_t i = 0; i < ids.size(); ++i) {
    for (size_t d = 0; d < kDim; ++d) batch.vectors.push_back(float(seed) + 0.25f * float(i) - float(d));
    batch.times.push_back(1700000000000.0 + seed + i);
    batch.texts.push_back("text of " + ids[i]);
    batch.metas.push_back("{\"seed\":" + std::to_string(seed) + "}");
  }
  return batch;
}

std::string payload_of(const WriteBatch& batch, uint64_t lsn) {
  std::string payload;
  batch.encode(lsn, kDim, &payload);
  return payload;
}

std::string record_of(uint8_t type, const std::string& payload) {
  std::string record;
  frame_record(&record, type, payload.data(), payload.size());
  return record;
}

std::string batch_record(uint64_t lsn, uint32_t seed = 1) {
  return record_of(1, payload_of(make_batch(BatchOp::add, {"id" + std::to_string(lsn)}, seed), lsn));
}

struct WalFile {
  std::string path;
  std::vector<uint64_t> offsets;  // where each record starts
  uint64_t size = 0;
};

// Writes wal/<seq>.log holding `records` (already framed).
WalFile write_wal(const std::string& dir, uint64_t seq, const std::vector<std::string>& records, size_t dim = kDim) {
  WalFile wal;
  wal.path = join_path(wal_dir(dir), wal_file_name(seq));
  std::unique_ptr<WalWriter> writer;
  CHECK_OK(WalWriter::create(Env::posix(), dir, seq, dim, &writer));
  if (!writer) return wal;
  uint64_t offset = kFileHeaderBytes;
  for (const std::string& record : records) {
    wal.offsets.push_back(offset);
    CHECK_OK(writer->append(record));
    offset += record.size();
  }
  CHECK_OK(writer->sync());
  CHECK(writer->size() == offset);
  CHECK_OK(writer->close());
  wal.size = offset;
  return wal;
}

// wal/<seq>.log with `count` batch records, LSNs first_lsn, first_lsn + 1, ...
WalFile write_batches(const std::string& dir, uint64_t seq, uint64_t first_lsn, size_t count) {
  std::vector<std::string> records;
  for (size_t i = 0; i < count; ++i) records.push_back(batch_record(first_lsn + i, uint32_t(first_lsn + i)));
  return write_wal(dir, seq, records);
}

struct Replayed {
  Status status;
  std::vector<uint64_t> lsns;
  std::vector<WriteBatch> batches;
  ReplayResult result;
};

Replayed replay(const std::string& dir, RecoveryMode mode, uint64_t first_seq = 1, uint64_t after_lsn = 0,
                bool read_only = false) {
  Replayed out;
  out.status = replay_wal(Env::posix(), dir, first_seq, kDim, after_lsn, mode, read_only,
                          [&](const BatchView& view, uint64_t lsn, const RecordPosition&) {
                            out.lsns.push_back(lsn);
                            WriteBatch batch;
                            CHECK(loci::test::materialize(view, kDim, &batch));
                            out.batches.push_back(batch);
                            return Status::ok();
                          },
                          &out.result);
  return out;
}

std::vector<uint64_t> range(uint64_t first, uint64_t last) {
  std::vector<uint64_t> values;
  for (uint64_t v = first; v <= last; ++v) values.push_back(v);
  return values;
}

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

bool batches_equal(const WriteBatch& a, const WriteBatch& b) {
  if (a.op != b.op || a.ids != b.ids || a.texts != b.texts || a.metas != b.metas || a.vectors != b.vectors) return false;
  if (a.times.size() != b.times.size()) return false;
  for (size_t i = 0; i < a.times.size(); ++i) {
    if (!same_bits(a.times[i], b.times[i])) return false;
  }
  return true;
}


}  // namespace

// --- record framing ------------------------------------------------------------------------

TEST(framing_empty_payload_round_trips) {
  std::string record;
  frame_record(&record, 7, "", 0);
  CHECK(record.size() == kRecordHeaderBytes);
  CHECK(coding::decode_u32(reinterpret_cast<const uint8_t*>(record.data()) + 4) == 0);
  const auto* data = reinterpret_cast<const uint8_t*>(record.data());
  uint8_t type = 0;
  const uint8_t* payload = nullptr;
  size_t payload_size = 99, next = 0;
  CHECK(read_record(data, record.size(), 0, &type, &payload, &payload_size, &next) == RecordRead::ok);
  CHECK(type == 7 && payload_size == 0 && next == kRecordHeaderBytes);
  CHECK(read_record(data, record.size(), next, &type, &payload, &payload_size, &next) == RecordRead::end);
  // The CRC covers the type: the same empty payload under another type differs.
  std::string other;
  frame_record(&other, 8, "", 0);
  CHECK(other.substr(0, 4) != record.substr(0, 4));
}

TEST(framing_large_payload_round_trips) {
  std::mt19937_64 rng(loci::test::test_seed());
  std::string big(3u << 20, '\0');
  for (char& c : big) c = char(rng());
  std::string record;
  frame_record(&record, 1, big.data(), big.size());
  CHECK(record.size() == kRecordHeaderBytes + big.size());
  uint8_t type = 0;
  const uint8_t* payload = nullptr;
  size_t payload_size = 0, next = 0;
  const auto* data = reinterpret_cast<const uint8_t*>(record.data());
  CHECK(read_record(data, record.size(), 0, &type, &payload, &payload_size, &next) == RecordRead::ok);
  CHECK(type == 1 && payload_size == big.size() && next == record.size());
  CHECK(payload && std::memcmp(payload, big.data(), big.size()) == 0);
}

TEST(framing_many_records_round_trip) {
  std::mt19937_64 rng(loci::test::test_seed());
  std::string stream;
  std::vector<std::string> payloads;
  std::vector<uint8_t> types;
  for (int i = 0; i < 2000; ++i) {
    size_t size = rng() % 4 == 0 ? 0 : rng() % 300;
    std::string payload(size, '\0');
    for (char& c : payload) c = char(rng());
    uint8_t type = uint8_t(rng());
    frame_record(&stream, type, payload.data(), payload.size());
    payloads.push_back(payload);
    types.push_back(type);
  }
  const auto* data = reinterpret_cast<const uint8_t*>(stream.data());
  size_t offset = 0, index = 0;
  for (;;) {
    uint8_t type;
    const uint8_t* payload;
    size_t payload_size, next;
    RecordRead read = read_record(data, stream.size(), offset, &type, &payload, &payload_size, &next);
    if (read == RecordRead::end) break;
    CHECK_MSG(read == RecordRead::ok, "record " + std::to_string(index));
    if (read != RecordRead::ok || index >= payloads.size()) break;
    CHECK(type == types[index]);
    CHECK(std::string(reinterpret_cast<const char*>(payload), payload_size) == payloads[index]);
    offset = next;
    ++index;
  }
  CHECK(index == payloads.size());
}

TEST(framing_every_cut_is_truncated) {
  std::string record = batch_record(1);
  const auto* data = reinterpret_cast<const uint8_t*>(record.data());
  for (size_t cut = 1; cut < record.size(); ++cut) {
    uint8_t type;
    const uint8_t* payload;
    size_t payload_size, next;
    CHECK_MSG(read_record(data, cut, 0, &type, &payload, &payload_size, &next) == RecordRead::truncated,
              "cut at " + std::to_string(cut));
  }
}

TEST(framing_every_flipped_byte_is_detected) {
  std::string record = batch_record(1);
  for (size_t at = 0; at < record.size(); ++at) {
    for (uint8_t mask : {uint8_t(0x01), uint8_t(0x80), uint8_t(0xFF)}) {
      std::string damaged = record;
      damaged[at] = char(uint8_t(damaged[at]) ^ mask);
      uint8_t type;
      const uint8_t* payload;
      size_t payload_size, next;
      RecordRead read = read_record(reinterpret_cast<const uint8_t*>(damaged.data()), damaged.size(), 0, &type, &payload,
                                    &payload_size, &next);
      CHECK_MSG(read == RecordRead::bad_crc || read == RecordRead::truncated, "byte " + std::to_string(at));
    }
  }
}

TEST(framing_length_over_limit_is_refused) {
  std::string record = record_of(1, "12345678");
  auto* bytes = reinterpret_cast<uint8_t*>(&record[0]);
  coding::encode_u32(bytes + 4, kMaxRecordBytes + 1);
  uint8_t type;
  const uint8_t* payload;
  size_t payload_size, next;
  CHECK(read_record(bytes, record.size(), 0, &type, &payload, &payload_size, &next) == RecordRead::bad_crc);
}

// --- batch payloads ------------------------------------------------------------------------

TEST(wal_worked_example_matches_docs) {
  // docs/format/wal.md, "Worked example", with the doc's 2-d store.
  WriteBatch batch;
  batch.op = BatchOp::add;
  batch.ids = {"a"};
  batch.vectors = {1.0f, 2.0f};
  batch.times = {std::numeric_limits<double>::quiet_NaN()};
  batch.texts = {"hi"};
  batch.metas = {""};
  std::string payload;
  batch.encode(1, 2, &payload);
  const unsigned char expected[] = {0x01, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x01, 0x01, 0x61, 0, 0, 0, 0, 0, 0, 0xF8, 0x7F,
                                    0x02, 0x68, 0x69, 0x00, 0, 0, 0x80, 0x3F, 0, 0, 0, 0x40};
  CHECK(payload.size() == 32);
  CHECK(payload == std::string(reinterpret_cast<const char*>(expected), sizeof expected));
  std::string record = record_of(1, payload);
  CHECK(record.size() == 9 + 32);
  CHECK(record.substr(4, 5) == std::string("\x20\x00\x00\x00\x01", 5));
  uint8_t type = 1;
  uint32_t crc = crc32c::extend(crc32c::value(&type, 1), payload.data(), payload.size());
  CHECK(coding::decode_u32(reinterpret_cast<const uint8_t*>(record.data())) == crc32c::mask(crc));
}

TEST(batch_add_round_trips_with_empty_text_meta_and_nan_time) {
  WriteBatch batch = make_batch(BatchOp::add, {"first", "second", "\xC3\xA9t\xC3\xA9"}, 3);
  batch.texts[0] = "";
  batch.metas[0] = "";
  batch.times[0] = std::numeric_limits<double>::quiet_NaN();
  batch.texts[1] = std::string(100000, 'x');  // a varint length of three bytes
  batch.metas[1] = "";
  batch.texts[2] = "";
  batch.times[2] = -0.0;
  std::string payload = payload_of(batch, 42);
  WriteBatch decoded;
  uint64_t lsn = 0;
  CHECK(loci::test::decode_batch(reinterpret_cast<const uint8_t*>(payload.data()), payload.size(), kDim, &lsn, &decoded));
  CHECK(lsn == 42);
  CHECK(batches_equal(batch, decoded));
  CHECK(std::isnan(decoded.times[0]));
  CHECK(decoded.size() == 3);
}

TEST(batch_upsert_round_trips) {
  WriteBatch batch = make_batch(BatchOp::upsert, {"u"}, 9);
  std::string payload = payload_of(batch, 7);
  CHECK(uint8_t(payload[8]) == 2);  // op byte after the lsn
  WriteBatch decoded;
  uint64_t lsn = 0;
  CHECK(loci::test::decode_batch(reinterpret_cast<const uint8_t*>(payload.data()), payload.size(), kDim, &lsn, &decoded));
  CHECK(lsn == 7 && batches_equal(batch, decoded));
}

TEST(batch_remove_round_trips) {
  WriteBatch batch = make_batch(BatchOp::remove, {"gone", "also gone"});
  std::string payload = payload_of(batch, 1ull << 40);
  // lsn, op 3, count 2, then two ids: nothing else.
  CHECK(payload.size() == 8 + 1 + 1 + (1 + 4) + (1 + 9));
  WriteBatch decoded;
  uint64_t lsn = 0;
  CHECK(loci::test::decode_batch(reinterpret_cast<const uint8_t*>(payload.data()), payload.size(), kDim, &lsn, &decoded));
  CHECK(lsn == (1ull << 40) && decoded.op == BatchOp::remove && decoded.ids == batch.ids);
  CHECK(decoded.vectors.empty() && decoded.texts.empty());

  // An empty batch round-trips too.
  WriteBatch empty = make_batch(BatchOp::remove, {});
  payload = payload_of(empty, 5);
  CHECK(loci::test::decode_batch(reinterpret_cast<const uint8_t*>(payload.data()), payload.size(), kDim, &lsn, &decoded));
  CHECK(lsn == 5 && decoded.size() == 0);
}

TEST(batch_decode_rejects_malformed_payloads) {
  WriteBatch batch = make_batch(BatchOp::add, {"a", "b"}, 2);
  const std::string payload = payload_of(batch, 1);
  WriteBatch decoded;
  uint64_t lsn;
  auto decodes = [&](const std::string& bytes, size_t dim = kDim) {
    return loci::test::decode_batch(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), dim, &lsn, &decoded);
  };
  CHECK(decodes(payload));
  for (size_t cut = 0; cut < payload.size(); ++cut) CHECK_MSG(!decodes(payload.substr(0, cut)), "cut " + std::to_string(cut));
  CHECK(!decodes(payload + "x"));            // trailing bytes
  CHECK(!decodes(payload, kDim + 1));        // another dimension
  CHECK(!decodes(payload, kDim - 1));
  for (uint8_t op : {uint8_t(0), uint8_t(4), uint8_t(0xFF)}) {
    std::string bad = payload;
    bad[8] = char(op);
    CHECK_MSG(!decodes(bad), "op " + std::to_string(op));
  }
  // An empty id.
  WriteBatch empty_id = make_batch(BatchOp::remove, {""});
  CHECK(!decodes(payload_of(empty_id, 1)));
  // A non-finite vector component.
  for (float bad_value : {std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN()}) {
    WriteBatch bad = batch;
    bad.vectors[3] = bad_value;
    CHECK(!decodes(payload_of(bad, 1)));
  }
  // A count larger than the payload.
  std::string huge_count = payload.substr(0, 9);
  coding::put_varint(&huge_count, 1ull << 40);
  CHECK(!decodes(huge_count));
}

TEST(batch_view_reads_in_place_and_checks_vectors_as_it_copies_them) {
  WriteBatch batch = make_batch(BatchOp::add, {"a", "b"}, 2);
  batch.texts[1] = "the second text";
  std::string payload = payload_of(batch, 3);
  BatchView view;
  uint64_t lsn = 0;
  const uint8_t* bytes = reinterpret_cast<const uint8_t*>(payload.data());
  CHECK(view.decode(bytes, payload.size(), kDim, &lsn) && lsn == 3 && view.size() == 2);
  // Views of the payload, not copies.
  CHECK(view.texts[1] == "the second text");
  CHECK(view.texts[1].data() >= payload.data() && view.texts[1].data() < payload.data() + payload.size());
  std::vector<float> rows = {7.0f};
  CHECK(view.append_vectors(kDim, &rows).is_ok());
  CHECK(rows.size() == 1 + 2 * kDim && rows[0] == 7.0f);
  CHECK(std::equal(batch.vectors.begin(), batch.vectors.end(), rows.begin() + 1));

  // A non-finite component parses (decode does not read the floats) but does not copy:
  // the rows stay as they were and the error names the item.
  batch.vectors[kDim + 1] = std::numeric_limits<float>::quiet_NaN();
  payload = payload_of(batch, 3);
  CHECK(view.decode(reinterpret_cast<const uint8_t*>(payload.data()), payload.size(), kDim, &lsn));
  rows = {7.0f};
  Status status = view.append_vectors(kDim, &rows);
  CHECK(status.code() == StatusCode::invalid_vector && contains(status.message(), "item 1"));
  CHECK(rows.size() == 1);
}

TEST(wal_file_header_layout) {
  TempDir dir("wal");
  WalFile wal = write_wal(dir.path(), 12, {});
  std::string bytes = loci::test::read_bytes(wal.path);
  CHECK(contains(wal.path, "/wal/0000000000000012.log"));
  CHECK(bytes.size() == kFileHeaderBytes);
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  CHECK(bytes.substr(0, 4) == "LCWL");
  CHECK(coding::decode_u16(data + 4) == 1 && coding::decode_u16(data + 6) == 0);
  CHECK(coding::decode_u64(data + 8) == 12 && coding::decode_u64(data + 16) == kDim);
  CHECK(coding::decode_u32(data + 24) == 0);
  CHECK(coding::decode_u32(data + 28) == crc32c::mask(crc32c::value(data, 28)));
}

// --- replay: clean logs ------------------------------------------------------------------------

TEST(replay_applies_every_record_across_files) {
  TempDir dir("wal");
  write_batches(dir.path(), 1, 1, 3);
  write_batches(dir.path(), 2, 4, 2);
  write_wal(dir.path(), 3, {});  // a fresh, empty newest file
  Replayed replayed = replay(dir.path(), RecoveryMode::tolerate_torn_tail);
  CHECK_OK(replayed.status);
  CHECK(replayed.lsns == range(1, 5));
  CHECK(replayed.result.last_lsn == 5 && replayed.result.last_seq == 3 && replayed.result.records == 5);
  CHECK(!replayed.result.dropped_tail && replayed.result.note.empty());
  CHECK(replayed.batches.size() == 5 && replayed.batches[4].ids == std::vector<std::string>{"id5"});
  CHECK(batches_equal(replayed.batches[0], make_batch(BatchOp::add, {"id1"}, 1)));
}

TEST(replay_skips_records_at_or_before_the_checkpoint_lsn) {
  TempDir dir("wal");
  write_batches(dir.path(), 5, 10, 6);  // LSNs 10..15
  Replayed replayed = replay(dir.path(), RecoveryMode::absolute, 5, 12);
  CHECK_OK(replayed.status);
  CHECK(replayed.lsns == range(13, 15));
  CHECK(replayed.result.last_lsn == 15);
  // Files before first_seq are not read at all.
  write_wal(dir.path(), 4, {"garbage that is not a record"});
  CHECK_OK(replay(dir.path(), RecoveryMode::absolute, 5, 12).status);
}

TEST(replay_of_no_records_keeps_the_checkpoint_lsn) {
  TempDir dir("wal");
  write_wal(dir.path(), 1, {});
  Replayed replayed = replay(dir.path(), RecoveryMode::absolute, 1, 77);
  CHECK_OK(replayed.status);
  CHECK(replayed.lsns.empty() && replayed.result.last_lsn == 77 && replayed.result.last_seq == 1);
}

// --- replay: torn tails --------------------------------------------------------------------------

namespace {

// Three records in one file, the file cut `into` bytes into the third record.
struct TornTail {
  TempDir dir{"wal"};
  WalFile wal;
  uint64_t cut = 0;
  explicit TornTail(size_t into) {
    wal = write_batches(dir.path(), 1, 1, 3);
    cut = wal.offsets[2] + into;
    CHECK(loci::test::truncate_file(wal.path, cut));
  }
};

void check_torn_tail_dropped(size_t into, RecoveryMode mode) {
  TornTail torn(into);
  Replayed replayed = replay(torn.dir.path(), mode);
  CHECK_OK(replayed.status);
  CHECK(replayed.lsns == range(1, 2));
  CHECK(replayed.result.dropped_tail);
  CHECK_MSG(contains(replayed.result.note, torn.wal.path) && contains(replayed.result.note, "offset"), replayed.result.note);
  // The file is cut back to the last good record, so the next replay is clean.
  CHECK(loci::test::file_bytes(torn.wal.path) == int64_t(torn.wal.offsets[2]));
  Replayed again = replay(torn.dir.path(), RecoveryMode::absolute);
  CHECK_OK(again.status);
  CHECK(again.lsns == range(1, 2) && !again.result.dropped_tail);
}

void check_torn_tail_corrupt(size_t into) {
  TornTail torn(into);
  Replayed replayed = replay(torn.dir.path(), RecoveryMode::absolute);
  CHECK_CORRUPT_AT(replayed.status, torn.wal.path, torn.wal.offsets[2]);
  // Absolute consistency changes nothing on disk.
  CHECK(loci::test::file_bytes(torn.wal.path) == int64_t(torn.cut));
}

constexpr size_t kInsideHeader = 4;   // after the crc, inside the length
constexpr size_t kInsidePayload = 9 + 10;

}  // namespace

TEST(replay_torn_tail_in_record_header_dropped_under_tolerate_torn_tail) {
  check_torn_tail_dropped(kInsideHeader, RecoveryMode::tolerate_torn_tail);
}
TEST(replay_torn_tail_in_record_header_corrupt_under_absolute) { check_torn_tail_corrupt(kInsideHeader); }
TEST(replay_torn_tail_in_record_header_dropped_under_point_in_time) {
  check_torn_tail_dropped(kInsideHeader, RecoveryMode::point_in_time);
}
TEST(replay_torn_tail_in_payload_dropped_under_tolerate_torn_tail) {
  check_torn_tail_dropped(kInsidePayload, RecoveryMode::tolerate_torn_tail);
}
TEST(replay_torn_tail_in_payload_corrupt_under_absolute) { check_torn_tail_corrupt(kInsidePayload); }
TEST(replay_torn_tail_in_payload_dropped_under_point_in_time) {
  check_torn_tail_dropped(kInsidePayload, RecoveryMode::point_in_time);
}

TEST(replay_torn_tail_after_every_cut_point_keeps_the_records_before_it) {
  // Every cut inside the last record: the first two records survive, nothing else.
  TempDir dir("wal");
  WalFile wal = write_batches(dir.path(), 1, 1, 3);
  std::string original = loci::test::read_bytes(wal.path);
  for (uint64_t cut = wal.offsets[2] + 1; cut < wal.size; ++cut) {
    CHECK(loci::test::write_bytes(wal.path, original.substr(0, cut)));
    Replayed replayed = replay(dir.path(), RecoveryMode::tolerate_torn_tail);
    CHECK_MSG(replayed.status.is_ok() && replayed.lsns == range(1, 2), "cut at " + std::to_string(cut) + ": " +
                                                                           loci::test::status_text(replayed.status));
  }
}

TEST(replay_flipped_byte_in_last_record_is_a_torn_tail) {
  // Nothing valid follows the damage: indistinguishable from a torn write, so dropped.
  TempDir dir("wal");
  WalFile wal = write_batches(dir.path(), 1, 1, 3);
  CHECK(loci::test::flip_byte(wal.path, wal.offsets[2] + 9 + 3));
  CHECK_CORRUPT_AT(replay(dir.path(), RecoveryMode::absolute).status, wal.path, wal.offsets[2]);
  Replayed replayed = replay(dir.path(), RecoveryMode::tolerate_torn_tail);
  CHECK_OK(replayed.status);
  CHECK(replayed.lsns == range(1, 2) && replayed.result.dropped_tail);
  CHECK(loci::test::file_bytes(wal.path) == int64_t(wal.offsets[2]));
}

TEST(replay_torn_tail_in_older_file_is_corrupt) {
  // Only the newest file can have a torn tail: the end of an older one was synced
  // before the next file was started.
  TempDir dir("wal");
  WalFile older = write_batches(dir.path(), 1, 1, 3);
  write_batches(dir.path(), 2, 4, 1);
  CHECK(loci::test::truncate_file(older.path, older.offsets[2] + kInsidePayload));
  CHECK_CORRUPT_AT(replay(dir.path(), RecoveryMode::tolerate_torn_tail).status, older.path, older.offsets[2]);
  CHECK_CORRUPT_AT(replay(dir.path(), RecoveryMode::absolute).status, older.path, older.offsets[2]);
}

// --- replay: damage before the tail --------------------------------------------------------------

namespace {

// wal/1.log holds LSNs 1..3, wal/2.log LSNs 4..5; `damage` mutates record 2 of file 1.
struct MiddleDamage {
  TempDir dir{"wal"};
  WalFile first, second;
  explicit MiddleDamage(const std::function<void(const WalFile&)>& damage) {
    first = write_batches(dir.path(), 1, 1, 3);
    second = write_batches(dir.path(), 2, 4, 2);
    damage(first);
  }
  uint64_t damaged_offset() const { return first.offsets[1]; }
};

void check_middle_damage_corrupt(const std::function<void(const WalFile&)>& damage, RecoveryMode mode) {
  MiddleDamage damaged(damage);
  const uint64_t size_before = uint64_t(loci::test::file_bytes(damaged.first.path));
  Replayed replayed = replay(damaged.dir.path(), mode);
  CHECK_CORRUPT_AT(replayed.status, damaged.first.path, damaged.damaged_offset());
  CHECK(replayed.lsns == range(1, 1));
  // Nothing is changed on disk: the damage is left for a person (or point-in-time) to see.
  CHECK(loci::test::file_bytes(damaged.first.path) == int64_t(size_before));
  CHECK(loci::test::file_exists(damaged.second.path));
}

void check_middle_damage_point_in_time(const std::function<void(const WalFile&)>& damage) {
  MiddleDamage damaged(damage);
  const std::string before = loci::test::read_bytes(damaged.first.path);
  Replayed replayed = replay(damaged.dir.path(), RecoveryMode::point_in_time);
  CHECK_OK(replayed.status);
  CHECK(replayed.lsns == range(1, 1));
  CHECK(replayed.result.last_lsn == 1);
  CHECK_MSG(contains(replayed.result.note, damaged.first.path) && contains(replayed.result.note, "offset") &&
                contains(replayed.result.note, "set aside " + damaged.second.path),
            replayed.result.note);
  // The damaged file ends at the last good record, the bytes from the damage on are kept
  // in <name>.corrupt (nothing is destroyed by salvaging), later files are set aside.
  CHECK(loci::test::file_bytes(damaged.first.path) == int64_t(damaged.damaged_offset()));
  CHECK(loci::test::read_bytes(damaged.first.path + ".corrupt") == before.substr(damaged.damaged_offset()));
  CHECK(!loci::test::file_exists(damaged.second.path));
  CHECK(loci::test::file_exists(damaged.second.path + ".corrupt"));
  // What is left replays cleanly, even under absolute consistency.
  Replayed again = replay(damaged.dir.path(), RecoveryMode::absolute);
  CHECK_OK(again.status);
  CHECK(again.lsns == range(1, 1));
}

void flip_payload(const WalFile& wal) { CHECK(loci::test::flip_byte(wal.path, wal.offsets[1] + 9 + 12)); }
// The length's low byte, made smaller: the record still lies inside the file.
void flip_length(const WalFile& wal) { CHECK(loci::test::flip_byte(wal.path, wal.offsets[1] + 4, 0x08)); }
void flip_type(const WalFile& wal) { CHECK(loci::test::flip_byte(wal.path, wal.offsets[1] + 8, 0x02)); }
void flip_crc(const WalFile& wal) { CHECK(loci::test::flip_byte(wal.path, wal.offsets[1] + 1)); }
// The length's third byte: the record now claims to run past the end of the file.
void flip_length_past_end(const WalFile& wal) { CHECK(loci::test::flip_byte(wal.path, wal.offsets[1] + 6, 0x01)); }

}  // namespace

TEST(replay_flipped_payload_byte_corrupt_under_tolerate_torn_tail) {
  check_middle_damage_corrupt(flip_payload, RecoveryMode::tolerate_torn_tail);
}
TEST(replay_flipped_payload_byte_corrupt_under_absolute) { check_middle_damage_corrupt(flip_payload, RecoveryMode::absolute); }
TEST(replay_flipped_payload_byte_stops_there_under_point_in_time) { check_middle_damage_point_in_time(flip_payload); }

TEST(replay_flipped_length_byte_corrupt_under_tolerate_torn_tail) {
  check_middle_damage_corrupt(flip_length, RecoveryMode::tolerate_torn_tail);
}
TEST(replay_flipped_length_byte_corrupt_under_absolute) { check_middle_damage_corrupt(flip_length, RecoveryMode::absolute); }
TEST(replay_flipped_length_byte_stops_there_under_point_in_time) { check_middle_damage_point_in_time(flip_length); }

TEST(replay_flipped_type_byte_corrupt_under_tolerate_torn_tail) {
  check_middle_damage_corrupt(flip_type, RecoveryMode::tolerate_torn_tail);
}
TEST(replay_flipped_type_byte_corrupt_under_absolute) { check_middle_damage_corrupt(flip_type, RecoveryMode::absolute); }
TEST(replay_flipped_type_byte_stops_there_under_point_in_time) { check_middle_damage_point_in_time(flip_type); }

TEST(replay_flipped_crc_byte_corrupt_under_tolerate_torn_tail) {
  check_middle_damage_corrupt(flip_crc, RecoveryMode::tolerate_torn_tail);
}
TEST(replay_flipped_crc_byte_stops_there_under_point_in_time) { check_middle_damage_point_in_time(flip_crc); }

TEST(replay_every_flipped_byte_of_a_middle_record_is_caught) {
  // Under absolute consistency no single flipped byte of record 2 (of 3, in the newest
  // file) goes unnoticed or lets a damaged record through.
  TempDir dir("wal");
  WalFile wal = write_batches(dir.path(), 1, 1, 3);
  const std::string original = loci::test::read_bytes(wal.path);
  for (uint64_t at = wal.offsets[1]; at < wal.offsets[2]; ++at) {
    std::string damaged = original;
    damaged[at] = char(uint8_t(damaged[at]) ^ 0x10);
    CHECK(loci::test::write_bytes(wal.path, damaged));
    Replayed replayed = replay(dir.path(), RecoveryMode::absolute);
    CHECK_MSG(replayed.status.code() == StatusCode::corrupt && replayed.lsns == range(1, 1),
              "byte " + std::to_string(at) + ": " + loci::test::status_text(replayed.status));
  }
}

// A flipped bit in a middle record's length can make it claim to run past the end of
// the file; read_record() then says `truncated`, but valid records follow, so it is not
// a torn tail (regression: it used to be dropped with every record after it).
TEST(replay_length_past_end_in_middle_record_of_newest_file_is_corrupt) {
  MiddleDamage damaged(flip_length_past_end);
  // Put the damaged record in the newest file: remove file 2.
  CHECK(loci::test::remove_file(damaged.second.path));
  const int64_t size_before = loci::test::file_bytes(damaged.first.path);
  Replayed replayed = replay(damaged.dir.path(), RecoveryMode::tolerate_torn_tail);
  CHECK_CORRUPT_AT(replayed.status, damaged.first.path, damaged.damaged_offset());
  CHECK_MSG(loci::test::file_bytes(damaged.first.path) == size_before, "the damaged WAL file was truncated: record 3 is lost");
}

TEST(replay_length_past_end_in_middle_record_of_older_file_is_corrupt) {
  check_middle_damage_corrupt(flip_length_past_end, RecoveryMode::tolerate_torn_tail);
  check_middle_damage_corrupt(flip_length_past_end, RecoveryMode::absolute);
}

// --- replay: record types --------------------------------------------------------------------

TEST(replay_unknown_record_type_without_ignorable_bit_is_corrupt) {
  for (RecoveryMode mode : {RecoveryMode::tolerate_torn_tail, RecoveryMode::absolute, RecoveryMode::point_in_time}) {
    TempDir dir("wal");
    WalFile wal = write_wal(dir.path(), 1, {batch_record(1), record_of(5, "from the future"), batch_record(2)});
    Replayed replayed = replay(dir.path(), mode);
    CHECK_CORRUPT_AT(replayed.status, wal.path, wal.offsets[1]);
    CHECK(contains(replayed.status.message(), "unknown record type 5"));
    CHECK(replayed.lsns == range(1, 1));
  }
}

TEST(replay_unknown_record_type_with_ignorable_bit_is_skipped) {
  TempDir dir("wal");
  write_wal(dir.path(), 1, {batch_record(1), record_of(0x85, "a newer, optional record"), record_of(0x80, ""),
                            batch_record(2)});
  Replayed replayed = replay(dir.path(), RecoveryMode::absolute);
  CHECK_OK(replayed.status);
  CHECK(replayed.lsns == range(1, 2) && replayed.result.records == 2);
}

TEST(replay_malformed_batch_with_good_crc_is_corrupt) {
  TempDir dir("wal");
  std::string payload = payload_of(make_batch(BatchOp::add, {"x"}), 2);
  payload.pop_back();  // a vector one byte short, framed with a valid CRC
  WalFile wal = write_wal(dir.path(), 1, {batch_record(1), record_of(1, payload), batch_record(3)});
  for (RecoveryMode mode : {RecoveryMode::tolerate_torn_tail, RecoveryMode::point_in_time}) {
    Replayed replayed = replay(dir.path(), mode);
    CHECK_CORRUPT_AT(replayed.status, wal.path, wal.offsets[1]);
    CHECK(contains(replayed.status.message(), "malformed"));
  }
}

TEST(replay_apply_failure_is_corrupt) {
  TempDir dir("wal");
  WalFile wal = write_batches(dir.path(), 1, 1, 2);
  ReplayResult result;
  Status status = replay_wal(Env::posix(), dir.path(), 1, kDim, 0, RecoveryMode::tolerate_torn_tail, false,
                             [](const BatchView&, uint64_t lsn, const RecordPosition&) {
                               return lsn == 2 ? Status::error(StatusCode::already_exists, "id 'x' already exists")
                                               : Status::ok();
                             },
                             &result);
  CHECK_CORRUPT_AT(status, wal.path, wal.offsets[1]);
  CHECK(contains(status.message(), "already exists"));
}

// --- replay: file headers and the file sequence --------------------------------------------------

namespace {

void check_bad_header(const std::function<void(const WalFile&)>& damage, const char* what) {
  for (RecoveryMode mode : {RecoveryMode::tolerate_torn_tail, RecoveryMode::absolute}) {
    TempDir dir("wal");
    WalFile first = write_batches(dir.path(), 1, 1, 2);
    write_batches(dir.path(), 2, 3, 1);
    damage(first);
    Replayed replayed = replay(dir.path(), mode);
    CHECK_CORRUPT_AT(replayed.status, first.path, 0);
    CHECK_MSG(replayed.lsns.empty(), what);
    // The same damage in the newest file is not a torn tail either.
    TempDir single("wal");
    WalFile only = write_batches(single.path(), 1, 1, 2);
    damage(only);
    CHECK_CORRUPT_AT(replay(single.path(), mode).status, only.path, 0);
  }
  // Point-in-time: the file's records cannot be trusted, so the store stops before it.
  TempDir dir("wal");
  WalFile first = write_batches(dir.path(), 1, 1, 2);
  WalFile second = write_batches(dir.path(), 2, 3, 1);
  damage(first);
  Replayed replayed = replay(dir.path(), RecoveryMode::point_in_time);
  CHECK_OK(replayed.status);
  CHECK_MSG(replayed.lsns.empty() && contains(replayed.result.note, first.path), what);
  CHECK(loci::test::file_exists(second.path + ".corrupt") && !loci::test::file_exists(second.path));
}

}  // namespace

TEST(replay_bad_file_header_magic_is_corrupt) {
  check_bad_header([](const WalFile& wal) { CHECK(loci::test::flip_byte(wal.path, 0)); }, "magic");
}

TEST(replay_bad_file_header_checksum_is_corrupt) {
  check_bad_header([](const WalFile& wal) { CHECK(loci::test::flip_byte(wal.path, 29)); }, "crc");
}

TEST(replay_every_flipped_header_byte_is_corrupt) {
  for (uint64_t at = 0; at < kFileHeaderBytes; ++at) {
    TempDir dir("wal");
    WalFile wal = write_batches(dir.path(), 1, 1, 1);
    CHECK(loci::test::flip_byte(wal.path, at, 0x04));
    Replayed replayed = replay(dir.path(), RecoveryMode::tolerate_torn_tail);
    CHECK_MSG(replayed.status.code() == StatusCode::corrupt && contains(replayed.status.message(), wal.path),
              "byte " + std::to_string(at) + ": " + loci::test::status_text(replayed.status));
  }
}

TEST(replay_header_of_another_sequence_number_is_corrupt) {
  check_bad_header(
      [](const WalFile& wal) {
        // A valid header for seq 9 in the file named 1.
        TempDir other("wal");
        WalFile foreign = write_wal(other.path(), 9, {});
        CHECK(loci::test::overwrite(wal.path, 0, loci::test::read_bytes(foreign.path)));
      },
      "seq");
}

TEST(replay_header_of_another_dimension_is_corrupt) {
  check_bad_header(
      [](const WalFile& wal) {
        TempDir other("wal");
        WalFile foreign = write_wal(other.path(), 1, {}, kDim + 1);
        CHECK(loci::test::overwrite(wal.path, 0, loci::test::read_bytes(foreign.path)));
      },
      "dim");
}

TEST(replay_newest_file_cut_inside_its_header_is_a_torn_tail) {
  TempDir dir("wal");
  write_batches(dir.path(), 1, 1, 2);
  WalFile newest = write_wal(dir.path(), 2, {});
  CHECK(loci::test::truncate_file(newest.path, 10));
  Replayed replayed = replay(dir.path(), RecoveryMode::tolerate_torn_tail);
  CHECK_OK(replayed.status);
  CHECK(replayed.lsns == range(1, 2) && replayed.result.dropped_tail);
  CHECK_MSG(contains(replayed.result.note, newest.path), replayed.result.note);
  // Absolute consistency refuses it.
  TempDir strict("wal");
  write_batches(strict.path(), 1, 1, 2);
  WalFile cut = write_wal(strict.path(), 2, {});
  CHECK(loci::test::truncate_file(cut.path, 10));
  CHECK_CORRUPT_AT(replay(strict.path(), RecoveryMode::absolute).status, cut.path, 0);
}

// A newest WAL file cut inside its header is dropped as a torn tail; the file it leaves
// must replay again once it is no longer the newest (regression: it used to be padded
// to 32 zero bytes, a bad header that made the next open CORRUPT).
TEST(replay_newest_file_cut_inside_its_header_replays_again_when_older) {
  TempDir dir("wal");
  write_batches(dir.path(), 1, 1, 2);
  WalFile newest = write_wal(dir.path(), 2, {});
  CHECK(loci::test::truncate_file(newest.path, 10));
  CHECK_OK(replay(dir.path(), RecoveryMode::tolerate_torn_tail).status);
  // As the engine does after replay: start the next file.
  write_wal(dir.path(), 3, {});
  Replayed again = replay(dir.path(), RecoveryMode::tolerate_torn_tail);
  CHECK_MSG(again.status.is_ok(), "second replay: " + loci::test::status_text(again.status));
  CHECK(again.lsns == range(1, 2));
}

TEST(replay_missing_wal_file_in_the_sequence_is_corrupt) {
  TempDir dir("wal");
  write_batches(dir.path(), 1, 1, 2);
  write_batches(dir.path(), 3, 3, 2);
  const std::string missing = join_path(wal_dir(dir.path()), wal_file_name(2));
  for (RecoveryMode mode : {RecoveryMode::tolerate_torn_tail, RecoveryMode::absolute, RecoveryMode::point_in_time}) {
    CHECK_CORRUPT_AT(replay(dir.path(), mode).status, missing, 0);
  }
}

TEST(replay_missing_first_wal_file_is_corrupt) {
  TempDir dir("wal");
  write_batches(dir.path(), 2, 1, 2);
  CHECK_CORRUPT_AT(replay(dir.path(), RecoveryMode::tolerate_torn_tail, 1).status,
                   join_path(wal_dir(dir.path()), wal_file_name(1)), 0);
  // No wal directory at all.
  TempDir empty("wal");
  CHECK(replay(empty.path(), RecoveryMode::tolerate_torn_tail).status.code() == StatusCode::corrupt);
}

TEST(replay_lsn_gap_is_corrupt) {
  TempDir dir("wal");
  WalFile wal = write_wal(dir.path(), 1, {batch_record(1), batch_record(2), batch_record(4)});
  for (RecoveryMode mode : {RecoveryMode::tolerate_torn_tail, RecoveryMode::absolute, RecoveryMode::point_in_time}) {
    Replayed replayed = replay(dir.path(), mode);
    CHECK_CORRUPT_AT(replayed.status, wal.path, wal.offsets[2]);
    CHECK(contains(replayed.status.message(), "LSN 4 does not follow 2"));
  }
}

TEST(replay_lsn_gap_across_files_is_corrupt) {
  TempDir dir("wal");
  write_batches(dir.path(), 1, 1, 2);
  WalFile second = write_batches(dir.path(), 2, 5, 1);
  CHECK_CORRUPT_AT(replay(dir.path(), RecoveryMode::tolerate_torn_tail).status, second.path, second.offsets[0]);
}

TEST(replay_repeated_lsn_is_corrupt) {
  TempDir dir("wal");
  WalFile wal = write_wal(dir.path(), 1, {batch_record(1), batch_record(2), batch_record(2, 9)});
  CHECK_CORRUPT_AT(replay(dir.path(), RecoveryMode::tolerate_torn_tail).status, wal.path, wal.offsets[2]);
}

TEST(replay_first_lsn_after_the_checkpoint_must_follow_it) {
  // The checkpoint covers LSN 3, the WAL resumes at 5: LSN 4 is lost.
  TempDir dir("wal");
  WalFile wal = write_wal(dir.path(), 1, {batch_record(5)});
  CHECK_CORRUPT_AT(replay(dir.path(), RecoveryMode::tolerate_torn_tail, 1, 3).status, wal.path, wal.offsets[0]);
}

TEST(replay_read_only_changes_nothing) {
  {
    TornTail torn(kInsidePayload);
    Replayed replayed = replay(torn.dir.path(), RecoveryMode::tolerate_torn_tail, 1, 0, true);
    CHECK_OK(replayed.status);
    CHECK(replayed.lsns == range(1, 2) && replayed.result.dropped_tail);
    CHECK(loci::test::file_bytes(torn.wal.path) == int64_t(torn.cut));
  }
  {
    MiddleDamage damaged(flip_payload);
    const int64_t size_before = loci::test::file_bytes(damaged.first.path);
    Replayed replayed = replay(damaged.dir.path(), RecoveryMode::point_in_time, 1, 0, true);
    CHECK_OK(replayed.status);
    CHECK(replayed.lsns == range(1, 1));
    CHECK(loci::test::file_bytes(damaged.first.path) == size_before);
    CHECK(loci::test::file_exists(damaged.second.path) && !loci::test::file_exists(damaged.second.path + ".corrupt"));
  }
}

LOCI_TEST_MAIN()
