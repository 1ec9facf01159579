// One named test per corruption mode of every file of a store (checkpoint files, blob
// arena, MANIFEST, WAL): open and Engine::verify both refuse it as CORRUPT naming the
// file and an offset, or recover as the recovery mode documents, and never crash (the
// tests run under ASan/UBSan).
#include "batch_codec.h"
#include "engine_fixture.h"

// --- corruption of the checkpoint files -------------------------------------------------------

namespace {

// A closed store whose checkpoint generation holds every item (close() had nothing left
// to checkpoint), for mutating one file and reopening.
struct CheckpointedStore {
  TempDir dir{"engine"};
  int kind;
  Model model;
  uint64_t gen = 0, arena_gen = 0, wal_seq = 0;

  explicit CheckpointedStore(int kind_, size_t count = 400) : kind(kind_) {
    std::mt19937_64 rng(loci::test::test_seed() + 30 + kind);
    auto engine = open_engine(options_for(dir.path(), kind));
    if (!engine) return;
    add_items(engine.get(), &model, rng, count, "item", 100);
    CHECK_OK(write_and_model(engine.get(), remove_batch({"item3", "item30"}), &model));
    CHECK_OK(engine->checkpoint(false));
    gen = engine->manifest().checkpoint_gen;
    arena_gen = engine->manifest().arena_gen;
    wal_seq = engine->manifest().wal_seq;
    CHECK_OK(engine->close());
  }
  std::string file(const char* what) const { return dir.file(gen_name(what, gen)); }
  std::string blobs() const { return dir.file(gen_name("blobs", arena_gen)); }
  std::string manifest() const { return dir.file("MANIFEST"); }
  EngineOptions options() const { return options_for(dir.path(), kind); }
  uint64_t size(const std::string& path) const { return uint64_t(loci::test::file_bytes(path)); }
};

// open() and verify() both refuse the store as CORRUPT naming `named` and an offset.
void expect_corrupt(const CheckpointedStore& store, const std::string& named, const std::string& what) {
  std::unique_ptr<Engine> engine;
  Status opened = Engine::open(store.options(), &engine);
  CHECK_MSG(opened.code() == StatusCode::corrupt && contains(opened.message(), named) && contains(opened.message(), "offset"),
            std::string(kind_name(store.kind)) + " " + what + ": open should be CORRUPT naming " + named +
                " and an offset, got " + status_text(opened));
  CHECK(opened.is_ok() == bool(engine));
  engine.reset();
  std::string report;
  Status verified = Engine::verify(store.dir.path(), &report);
  CHECK_MSG(verified.code() == StatusCode::corrupt && contains(verified.message(), named) &&
                contains(verified.message(), "offset"),
            std::string(kind_name(store.kind)) + " " + what + ": verify should be CORRUPT naming " + named +
                " and an offset, got " + status_text(verified));
}

// Flips each byte in `offsets` of `path` in turn (restoring it after), expecting CORRUPT.
void expect_flips_corrupt(const CheckpointedStore& store, const std::string& path, const std::vector<uint64_t>& offsets,
                          const std::string& what) {
  for (uint64_t at : offsets) {
    if (!loci::test::flip_byte(path, at, 0x01)) {
      CHECK_MSG(false, "cannot flip " + path + " at " + std::to_string(at));
      continue;
    }
    expect_corrupt(store, path, what + " byte " + std::to_string(at));
    CHECK(loci::test::flip_byte(path, at, 0x01));
  }
}

std::vector<uint64_t> span(uint64_t first, uint64_t end) {
  std::vector<uint64_t> offsets;
  for (uint64_t at = first; at < end; ++at) offsets.push_back(at);
  return offsets;
}

// `count` seeded random offsets in [first, end).
std::vector<uint64_t> sample(uint64_t first, uint64_t end, size_t count, uint64_t salt) {
  std::mt19937_64 rng(loci::test::test_seed() + salt);
  std::vector<uint64_t> offsets;
  for (size_t i = 0; i < count && end > first; ++i) offsets.push_back(first + rng() % (end - first));
  return offsets;
}

void expect_truncations_corrupt(const CheckpointedStore& store, const std::string& path, const std::vector<uint64_t>& sizes,
                                const std::string& what) {
  const std::string original = loci::test::read_bytes(path);
  for (uint64_t size : sizes) {
    CHECK(loci::test::truncate_file(path, size));
    expect_corrupt(store, path, what + " cut to " + std::to_string(size) + " bytes");
    CHECK(loci::test::write_bytes(path, original));
  }
}

void expect_removal_corrupt(const CheckpointedStore& store, const std::string& path, const std::string& what) {
  CHECK(loci::test::remove_file(path));
  expect_corrupt(store, path, what + " removed");
}

}  // namespace

TEST(engine_items_header_flip_is_corrupt) {
  for (int kind : {kFlat, kAtlas}) {
    CheckpointedStore store(kind);
    expect_flips_corrupt(store, store.file("items"), span(0, kFileHeaderBytes), "items header");
  }
}

TEST(engine_items_record_flip_is_corrupt) {
  for (int kind : {kFlat, kAtlas}) {
    CheckpointedStore store(kind);
    const std::string path = store.file("items");
    // The first record's header (crc, length, type) and a sample of every record after it.
    std::vector<uint64_t> offsets = span(kFileHeaderBytes, kFileHeaderBytes + kRecordHeaderBytes + 4);
    for (uint64_t at : sample(kFileHeaderBytes, store.size(path), 40, 1)) offsets.push_back(at);
    expect_flips_corrupt(store, path, offsets, "items record");
  }
}

TEST(engine_items_end_record_flip_is_corrupt) {
  CheckpointedStore store(kFlat);
  const std::string path = store.file("items");
  const uint64_t size = store.size(path);
  expect_flips_corrupt(store, path, span(size - kRecordHeaderBytes - 16, size), "items end record");
}

TEST(engine_items_truncated_is_corrupt) {
  for (int kind : {kFlat, kAtlas}) {
    CheckpointedStore store(kind);
    const std::string path = store.file("items");
    const uint64_t size = store.size(path);
    expect_truncations_corrupt(store, path, {0, 10, kFileHeaderBytes, kFileHeaderBytes + 5, size / 2, size - 25, size - 1},
                               "items");
  }
}

TEST(engine_items_removed_is_corrupt) {
  for (int kind : {kFlat, kAtlas}) {
    CheckpointedStore store(kind);
    expect_removal_corrupt(store, store.file("items"), "items");
  }
}

TEST(engine_vectors_header_flip_is_corrupt) {
  for (int kind : {kFlat, kAtlas}) {
    CheckpointedStore store(kind);
    expect_flips_corrupt(store, store.file("vectors"), span(0, 64), "vectors header");
  }
}

TEST(engine_vectors_header_padding_flip_is_corrupt) {
  // Bytes [64, 4096) are zero padding, outside every CRC.
  for (int kind : {kFlat, kAtlas}) {
    CheckpointedStore store(kind);
    std::vector<uint64_t> offsets = {64, 65, 1000, kVectorsRows - 1};
    for (uint64_t at : sample(64, kVectorsRows, 10, 7)) offsets.push_back(at);
    expect_flips_corrupt(store, store.file("vectors"), offsets, "vectors header padding");
  }
}

TEST(engine_vectors_row_group_flip_is_corrupt) {
  for (int kind : {kFlat, kAtlas}) {
    CheckpointedStore store(kind);
    const std::string path = store.file("vectors");
    const uint64_t rows_end = store.size(path) - 4 * 2;  // about 400 rows: two row groups, two CRCs
    const uint64_t second_group = kVectorsRows + 256 * kDim * 4;
    std::vector<uint64_t> offsets = {kVectorsRows, second_group - 1, second_group, rows_end - 1};
    for (uint64_t at : sample(kVectorsRows, rows_end, 30, 2)) offsets.push_back(at);
    expect_flips_corrupt(store, path, offsets, "vectors rows");
  }
}

TEST(engine_vectors_group_checksum_flip_is_corrupt) {
  for (int kind : {kFlat, kAtlas}) {
    CheckpointedStore store(kind);
    const std::string path = store.file("vectors");
    const uint64_t size = store.size(path);
    expect_flips_corrupt(store, path, span(size - 8, size), "vectors row-group CRCs");
  }
}

TEST(engine_vectors_truncated_is_corrupt) {
  for (int kind : {kFlat, kAtlas}) {
    CheckpointedStore store(kind);
    const std::string path = store.file("vectors");
    const uint64_t size = store.size(path);
    expect_truncations_corrupt(store, path, {0, 32, 64, kVectorsRows, kVectorsRows + kDim * 4, size - 4, size - 1},
                               "vectors");
  }
}

TEST(engine_vectors_removed_is_corrupt) {
  for (int kind : {kFlat, kAtlas}) {
    CheckpointedStore store(kind);
    expect_removal_corrupt(store, store.file("vectors"), "vectors");
  }
}

TEST(engine_pages_inner_page_header_flip_is_corrupt) {
  CheckpointedStore store(kAtlas);
  expect_flips_corrupt(store, store.file("pages"), span(0, 64), "inner page header");
}

TEST(engine_pages_inner_page_body_flip_is_corrupt) {
  CheckpointedStore store(kAtlas);
  std::vector<uint64_t> offsets = {64, 65, 70, 100, kPageSize - 1};
  for (uint64_t at : sample(64, kPageSize, 30, 3)) offsets.push_back(at);
  expect_flips_corrupt(store, store.file("pages"), offsets, "inner page body");
}

TEST(engine_pages_leaf_page_header_flip_is_corrupt) {
  CheckpointedStore store(kAtlas);
  const std::string path = store.file("pages");
  const uint64_t size = store.size(path);
  CHECK(size % kPageSize == 0 && size >= 3 * kPageSize);
  // The first leaf (page 1) and the last; byte 7 holds flag bits 8-15, which pages.md
  // makes safe to ignore and which lie outside the page CRC ([12, page_size)): a flip
  // there is not damage a reader can see (engine_pages_leaf_page_high_flag_bits_are_ignored).
  std::vector<uint64_t> offsets;
  for (uint64_t page_start : {uint64_t(kPageSize), size - kPageSize}) {
    for (uint64_t at = 0; at < 64; ++at) {
      if (at != 7) offsets.push_back(page_start + at);
    }
  }
  expect_flips_corrupt(store, path, offsets, "leaf page header");
}

TEST(engine_pages_leaf_page_high_flag_bits_are_ignored) {
  CheckpointedStore store(kAtlas);
  const std::string path = store.file("pages");
  CHECK(loci::test::flip_byte(path, kPageSize + 7, 0x80));
  auto engine = open_engine(store.options());
  if (engine) CHECK_MATCHES(*engine, store.model, "leaf with an unknown high flag bit");
}

TEST(engine_pages_leaf_page_body_flip_is_corrupt) {
  CheckpointedStore store(kAtlas);
  const std::string path = store.file("pages");
  const uint64_t size = store.size(path);
  std::vector<uint64_t> offsets = {kPageSize + 64, kPageSize + 64 * 10, size - 1};
  for (uint64_t at : sample(kPageSize, size, 60, 4)) {
    if (at % kPageSize >= 8) offsets.push_back(at);  // page bodies and CRC-covered header fields
  }
  expect_flips_corrupt(store, path, offsets, "leaf page");
}

TEST(engine_pages_truncated_is_corrupt) {
  CheckpointedStore store(kAtlas);
  const std::string path = store.file("pages");
  const uint64_t size = store.size(path);
  expect_truncations_corrupt(store, path, {0, 64, kPageSize / 2, kPageSize, kPageSize + 100, size - 1}, "pages");
}

TEST(engine_pages_truncated_by_a_whole_leaf_is_corrupt) {
  CheckpointedStore store(kAtlas);
  const std::string path = store.file("pages");
  const uint64_t size = store.size(path);
  expect_truncations_corrupt(store, path, {size - kPageSize, size - 2 * kPageSize}, "pages");
}

TEST(engine_pages_removed_is_corrupt) {
  CheckpointedStore store(kAtlas);
  expect_removal_corrupt(store, store.file("pages"), "pages");
}

TEST(engine_every_checkpoint_file_sampled_flips_are_corrupt) {
  // A broader sweep: seeded random single-byte flips anywhere in each checkpoint file.
  for (int kind : {kFlat, kAtlas}) {
    CheckpointedStore store(kind);
    for (const char* what : {"items", "vectors", "pages"}) {
      if (kind == kFlat && std::string(what) == "pages") continue;
      const std::string path = store.file(what);
      std::vector<uint64_t> offsets;
      for (uint64_t at : sample(0, store.size(path), 40, 5 + kind)) {
        if (std::string(what) == "pages" && at % kPageSize == 7) continue;  // see engine_pages_leaf_page_high_flag_bits_are_ignored
        offsets.push_back(at);
      }
      expect_flips_corrupt(store, path, offsets, what);
    }
  }
}

// --- damage that keeps every CRC valid: a writer's bug, not the disk's ---------------------------

namespace {

uint32_t masked_crc(const std::string& bytes, size_t from, size_t to) {
  return crc32c::mask(crc32c::value(bytes.data() + from, to - from));
}

void put_u32_at(std::string* bytes, size_t offset, uint32_t value) {
  for (int i = 0; i < 4; ++i) (*bytes)[offset + i] = char(uint8_t(value >> (8 * i)));
}

uint32_t get_u32_at(const std::string& bytes, size_t offset) {
  uint32_t value = 0;
  for (int i = 3; i >= 0; --i) value = (value << 8) | uint8_t(bytes[offset + i]);
  return value;
}

// Rewrites page `page` of a pages file with `edit` applied, and seals its CRC again
// (masked CRC32C of [12, page_size) at offset 8, docs/format/pages.md).
void edit_page(const std::string& path, size_t page, const std::function<void(std::string*, size_t)>& edit) {
  std::string bytes = loci::test::read_bytes(path);
  const size_t start = page * kPageSize;
  CHECK(bytes.size() >= start + kPageSize);
  if (bytes.size() < start + kPageSize) return;
  edit(&bytes, start);
  put_u32_at(&bytes, start + 8, masked_crc(bytes, start + 12, start + kPageSize));
  CHECK(loci::test::write_bytes(path, bytes));
}

}  // namespace

TEST(engine_pages_leaf_count_beyond_capacity_is_corrupt) {
  CheckpointedStore store(kAtlas);
  const std::string path = store.file("pages");
  edit_page(path, 1, [](std::string* bytes, size_t start) {
    put_u32_at(bytes, start + 16, get_u32_at(*bytes, start + 20) + 1);  // count = capacity + 1
  });
  expect_corrupt(store, path, "leaf count beyond capacity");
}

TEST(engine_pages_leaf_dim_disagreeing_with_the_manifest_is_corrupt) {
  CheckpointedStore store(kAtlas);
  const std::string path = store.file("pages");
  edit_page(path, 1, [](std::string* bytes, size_t start) { put_u32_at(bytes, start + 24, kDim + 1); });
  expect_corrupt(store, path, "leaf dim");
}

// checkpoint.md: "a slot in a page beyond the slot table", "a tree whose refs are out
// of range". The index refuses them; the message must still name the pages file and an
// offset (README.md), so a user or `loci verify` can tell which file is damaged.
TEST(engine_pages_leaf_slot_beyond_the_slot_table_is_corrupt) {
  CheckpointedStore store(kAtlas);
  const std::string path = store.file("pages");
  edit_page(path, 1, [](std::string* bytes, size_t start) {
    put_u32_at(bytes, start + 64, 1000000);  // slots[0], the first array after the header
  });
  expect_corrupt(store, path, "leaf slot beyond the slot table");
}

TEST(engine_pages_tree_child_reference_out_of_range_is_corrupt) {
  CheckpointedStore store(kAtlas);
  const std::string path = store.file("pages");
  edit_page(path, 0, [](std::string* bytes, size_t start) {
    // tree payload := root leaves nodes leaf_parent[leaves] node...; node := parent children child...
    const size_t payload = start + 64;
    const uint32_t leaves = get_u32_at(*bytes, payload + 4);
    const size_t first_child = payload + 12 + 4 * size_t(leaves) + 8;
    put_u32_at(bytes, first_child, 999999);  // its ref
  });
  expect_corrupt(store, path, "tree child reference out of range");
}

// blobs.md: "a reference past the end of the arena", here from an item table whose CRCs
// are valid: CORRUPT naming the items file and an offset.
TEST(engine_items_blob_reference_past_the_arena_is_corrupt) {
  CheckpointedStore store(kFlat);
  const std::string path = store.file("items");
  std::string bytes = loci::test::read_bytes(path);
  // The first record: crc u32, length u32, type u8 (1 = items), then count varint and
  // item := id bytes, time f64, blob_offset u64, blob_length u32.
  const size_t record = kFileHeaderBytes;
  CHECK(uint8_t(bytes[record + 8]) == 1);
  size_t at = record + kRecordHeaderBytes;
  while (uint8_t(bytes[at]) & 0x80) ++at;  // count
  ++at;
  const size_t id_length = uint8_t(bytes[at]);  // ids here are short: a one-byte varint
  at += 1 + id_length + 8;
  for (int i = 0; i < 8; ++i) bytes[at + i] = char(i == 2 ? 0x10 : 0);  // blob_offset = 1 MiB
  bytes[at + 8] = 5;                                                     // blob_length = 5
  const uint32_t length = get_u32_at(bytes, record + 4);
  put_u32_at(&bytes, record, masked_crc(bytes, record + 8, record + kRecordHeaderBytes + length));
  CHECK(loci::test::write_bytes(path, bytes));
  expect_corrupt(store, path, "blob reference past the arena");
}

TEST(engine_flat_store_with_a_pages_file_of_another_generation_ignores_it) {
  // Stale files are removed at open, not read.
  CheckpointedStore store(kFlat);
  CHECK(loci::test::write_bytes(store.dir.file(gen_name("pages", store.gen + 5)), "junk"));
  auto engine = open_engine(store.options());
  if (engine) CHECK_MATCHES(*engine, store.model, "stale file");
  engine.reset();
  CHECK(!loci::test::file_exists(store.dir.file(gen_name("pages", store.gen + 5))));
}

// --- corruption of the arena, the MANIFEST and the WAL ------------------------------------------

TEST(engine_blob_flip_is_corrupt_on_get_and_verify_and_other_items_stay_readable) {
  for (int kind : {kFlat, kAtlas}) {
    CheckpointedStore store(kind);
    // A payload byte of the first blob in the arena (it starts right after the header).
    CHECK(loci::test::flip_byte(store.blobs(), kFileHeaderBytes + 8 + 1));
    // Blobs are checked when read, not at open.
    auto engine = open_engine(store.options());
    if (!engine) return;
    std::vector<std::string> damaged;
    ItemView view;
    for (const auto& entry : store.model) {
      Status status = engine->get(entry.first, nullptr, &view);
      if (status.is_ok()) {
        CHECK(view.text == entry.second.text && view.meta == entry.second.meta);
        continue;
      }
      damaged.push_back(entry.first);
      CHECK_MSG(status.code() == StatusCode::corrupt && contains(status.message(), store.blobs()) &&
                    contains(status.message(), "at offset " + std::to_string(kFileHeaderBytes)),
                status_text(status));
    }
    CHECK_MSG(damaged.size() == 1, std::to_string(damaged.size()) + " items report a damaged blob");
    if (damaged.size() != 1) return;
    // The damaged item's vector is still there, and it is still found by search.
    std::vector<float> vector(kDim);
    CHECK_OK(engine->get(damaged[0], vector.data(), nullptr));
    CHECK(vector == store.model[damaged[0]].vector);
    index::SearchParams params;
    params.k = 1;
    params.exact = true;
    std::vector<index::SearchHit> hits;
    CHECK_OK(engine->index().search(vector.data(), params, &hits));
    CHECK(hits.size() == 1 && hits[0].id == damaged[0]);
    engine.reset();
    std::string report;
    Status verified = Engine::verify(store.dir.path(), &report);
    CHECK_MSG(verified.code() == StatusCode::corrupt && contains(verified.message(), store.blobs()) &&
                  contains(verified.message(), "offset"),
              status_text(verified));
  }
}

TEST(engine_blobs_header_flip_is_corrupt) {
  CheckpointedStore store(kFlat);
  expect_flips_corrupt(store, store.blobs(), span(0, kFileHeaderBytes), "blob arena header");
}

TEST(engine_blobs_shorter_than_the_manifest_says_is_corrupt) {
  for (int kind : {kFlat, kAtlas}) {
    CheckpointedStore store(kind);
    const uint64_t size = store.size(store.blobs());
    expect_truncations_corrupt(store, store.blobs(), {0, 16, kFileHeaderBytes, size / 2, size - 1}, "blob arena");
  }
}

TEST(engine_blobs_removed_is_corrupt) {
  CheckpointedStore store(kAtlas);
  expect_removal_corrupt(store, store.blobs(), "blob arena");
}

TEST(engine_blob_bytes_past_the_manifest_are_cut_at_open) {
  CheckpointedStore store(kFlat);
  const uint64_t size = store.size(store.blobs());
  const std::string junk(1000, 'j');
  const std::string original = loci::test::read_bytes(store.blobs());
  CHECK(loci::test::write_bytes(store.blobs(), original + junk));
  auto engine = open_engine(store.options());
  if (!engine) return;
  CHECK(loci::test::file_bytes(store.blobs()) == int64_t(size));
  CHECK_MATCHES(*engine, store.model, "after cutting the arena");
}

TEST(engine_manifest_removed_while_store_files_exist_is_corrupt) {
  for (int kind : {kFlat, kAtlas}) {
    CheckpointedStore store(kind);
    CHECK(loci::test::remove_file(store.manifest()));
    expect_corrupt(store, "MANIFEST", "MANIFEST removed");
    // Nothing was written: the directory still holds no MANIFEST, and the files remain.
    CHECK(!loci::test::file_exists(store.manifest()));
    CHECK(loci::test::file_exists(store.file("items")));
  }
}

// store.md, "Open" step 2: Loci files but no MANIFEST is CORRUPT, also when open() is
// not given a dim (regression: it used to say "holds no Loci store: pass dim").
TEST(engine_manifest_removed_open_without_dim_is_corrupt) {
  CheckpointedStore store(kFlat);
  CHECK(loci::test::remove_file(store.manifest()));
  EngineOptions options;
  options.dir = store.dir.path();
  std::unique_ptr<Engine> engine;
  CHECK_CORRUPT(Engine::open(options, &engine), "MANIFEST");
}

TEST(engine_manifest_flip_is_corrupt) {
  CheckpointedStore store(kAtlas);
  std::vector<uint64_t> offsets = {0, 4, 6, 8, 12, 16, 20, 32, 40, 48, 64, 100, 103};
  for (uint64_t at : sample(0, 104, 20, 6)) offsets.push_back(at);
  expect_flips_corrupt(store, store.manifest(), offsets, "MANIFEST");
}

TEST(engine_manifest_truncated_is_corrupt) {
  CheckpointedStore store(kFlat);
  expect_truncations_corrupt(store, store.manifest(), {0, 50, 103}, "MANIFEST");
}

TEST(engine_manifest_naming_a_missing_generation_is_corrupt) {
  // A MANIFEST that names checkpoint files that are gone (all three at once).
  CheckpointedStore store(kAtlas);
  for (const char* what : {"items", "vectors", "pages"}) CHECK(loci::test::remove_file(store.file(what)));
  std::unique_ptr<Engine> engine;
  CHECK_CORRUPT(Engine::open(store.options(), &engine), gen_name("items", store.gen));
}

namespace {

// A store whose WAL holds 5 batch records after the checkpoint (a crash kept them there).
struct StoreWithWal {
  TempDir dir{"engine"};
  FaultInjectionEnv env{Env::posix()};
  Model model;
  std::vector<Model> states;  // after the checkpoint, then after each WAL record
  std::string wal_path;
  explicit StoreWithWal(int kind) {
    std::mt19937_64 rng(loci::test::test_seed() + 40);
    auto engine = open_engine(options_for(dir.path(), kind, &env));
    if (!engine) return;
    add_items(engine.get(), &model, rng, 50, "c");
    CHECK_OK(engine->checkpoint(false));
    wal_path = dir.file("wal/" + wal_file_name(engine->manifest().wal_seq));
    states.push_back(model);
    for (int i = 0; i < 5; ++i) {
      CHECK_OK(write_and_model(engine.get(), put_batch(BatchOp::add, {{"w" + std::to_string(i), random_item(rng)}}), &model));
      states.push_back(model);
    }
    crash(&engine, &env);
  }
};

// Offsets of the records in a WAL file.
std::vector<uint64_t> record_offsets(const std::string& path) {
  const std::string bytes = loci::test::read_bytes(path);
  std::vector<uint64_t> offsets;
  uint64_t offset = kFileHeaderBytes;
  while (offset + kRecordHeaderBytes <= bytes.size()) {
    offsets.push_back(offset);
    uint32_t length = 0;
    std::memcpy(&length, bytes.data() + offset + 4, 4);
    offset += kRecordHeaderBytes + length;
  }
  return offsets;
}

}  // namespace

TEST(engine_wal_damage_before_the_tail_is_corrupt) {
  StoreWithWal store(kFlat);
  std::vector<uint64_t> records = record_offsets(store.wal_path);
  CHECK(records.size() == 5);
  if (records.size() != 5) return;
  CHECK(loci::test::flip_byte(store.wal_path, records[2] + kRecordHeaderBytes + 3));
  // Bytes past the MANIFEST's arena length, as a process crash leaves them (the blobs of
  // the records after the checkpoint).
  const std::string arena_path = store.dir.file(gen_name("blobs", 1));
  CHECK(loci::test::write_bytes(arena_path, loci::test::read_bytes(arena_path) + std::string(100, 'b')));
  const std::string arena_before = loci::test::read_bytes(arena_path);
  std::unique_ptr<Engine> engine;
  CHECK_CORRUPT(Engine::open(options_for(store.dir.path(), kFlat), &engine), store.wal_path);
  // An open that fails changes nothing (docs/format/wal.md): the arena is not cut back.
  CHECK(loci::test::read_bytes(arena_path) == arena_before);
  CHECK(loci::test::file_exists(store.wal_path) && !loci::test::file_exists(store.wal_path + ".corrupt"));
  std::string report;
  CHECK_CORRUPT(Engine::verify(store.dir.path(), &report), store.wal_path);
  // Absolute refuses it too; point-in-time opens as of the record before the damage.
  EngineOptions options = options_for(store.dir.path(), kFlat);
  options.recovery = RecoveryMode::absolute;
  CHECK_CORRUPT(Engine::open(options, &engine), store.wal_path);
  options.recovery = RecoveryMode::point_in_time;
  OpenReport open_report;
  CHECK_OK(Engine::open(options, &engine, &open_report));
  if (!engine) return;
  CHECK_MATCHES(*engine, store.states[2], "point-in-time");
  CHECK(contains(open_report.recovery_note, store.wal_path));
  // The salvaged store then opens normally, after a clean close and after a crash.
  auto& env = store.env;
  engine.reset();
  CHECK_OK(Engine::open(options_for(store.dir.path(), kFlat, &env), &engine));
  if (engine) CHECK_MATCHES(*engine, store.states[2], "default open after point-in-time");
}

TEST(engine_wal_record_with_a_good_crc_and_a_non_finite_vector_is_corrupt) {
  // Replay decodes records in place and checks each vector as it copies it into its
  // group: a NaN that the record's CRC vouches for (written by a bug, not the disk)
  // fails the open as CORRUPT at that record, changing nothing, in either index.
  for (int kind : {kFlat, kAtlas}) {
    StoreWithWal store(kind);
    std::vector<uint64_t> records = record_offsets(store.wal_path);
    CHECK(records.size() == 5);
    if (records.size() != 5) return;
    std::string bytes = loci::test::read_bytes(store.wal_path);
    const uint64_t at = records[2];
    uint32_t length = 0;
    std::memcpy(&length, bytes.data() + at + 4, 4);
    const uint8_t type = uint8_t(bytes[at + 8]);
    WriteBatch batch;
    uint64_t lsn = 0;
    CHECK(loci::test::decode_batch(reinterpret_cast<const uint8_t*>(bytes.data()) + at + kRecordHeaderBytes, length, kDim, &lsn,
                                   &batch));
    batch.vectors[kDim - 1] = std::numeric_limits<float>::quiet_NaN();
    std::string payload, record;
    batch.encode(lsn, kDim, &payload);
    frame_record(&record, type, payload.data(), payload.size());
    CHECK(record.size() == kRecordHeaderBytes + length);
    bytes.replace(at, record.size(), record);
    CHECK(loci::test::write_bytes(store.wal_path, bytes));
    std::unique_ptr<Engine> engine;
    Status opened = Engine::open(options_for(store.dir.path(), kind), &engine);
    CHECK_CORRUPT_AT(opened, store.wal_path, at);
    CHECK_MSG(contains(opened.message(), "non-finite"), opened.message());
    CHECK(loci::test::read_bytes(store.wal_path) == bytes);
    std::string report;
    CHECK_CORRUPT(Engine::verify(store.dir.path(), &report), store.wal_path);
  }
}

TEST(engine_point_in_time_salvage_then_crash_then_default_open) {
  // Damage in the first record after the checkpoint of an older WAL file: point-in-time
  // applies nothing (so close() has nothing to checkpoint) and sets later files aside;
  // a crash then a default open must still find a whole WAL sequence.
  StoreWithWal store(kFlat);
  auto& env = store.env;
  // A second WAL file after the first: reopen, write one more, crash again.
  std::unique_ptr<Engine> engine;
  CHECK_OK(Engine::open(options_for(store.dir.path(), kFlat, &env), &engine));
  if (!engine) return;
  std::mt19937_64 rng(7);
  CHECK_OK(write_and_model(engine.get(), put_batch(BatchOp::add, {{"second-file", random_item(rng)}}), &store.model));
  crash(&engine, &env);
  std::vector<uint64_t> records = record_offsets(store.wal_path);
  if (records.empty()) return;
  CHECK(loci::test::flip_byte(store.wal_path, records[0] + kRecordHeaderBytes + 3));
  EngineOptions options = options_for(store.dir.path(), kFlat, &env);
  options.recovery = RecoveryMode::point_in_time;
  CHECK_OK(Engine::open(options, &engine));
  if (!engine) return;
  CHECK_MATCHES(*engine, store.states[0], "point-in-time");
  crash(&engine, &env);
  Status reopened = Engine::open(options_for(store.dir.path(), kFlat, &env), &engine);
  CHECK_MSG(reopened.is_ok(), status_text(reopened));
  if (engine) CHECK_MATCHES(*engine, store.states[0], "default open after salvage and crash");
}

TEST(engine_wal_torn_tail_is_dropped_at_open) {
  StoreWithWal store(kAtlas);
  std::vector<uint64_t> records = record_offsets(store.wal_path);
  CHECK(records.size() == 5);
  if (records.size() != 5) return;
  CHECK(loci::test::truncate_file(store.wal_path, records[4] + 12));
  OpenReport report;
  auto engine = open_engine(options_for(store.dir.path(), kAtlas), &report);
  if (!engine) return;
  CHECK(report.replayed_records == 4);
  CHECK(contains(report.recovery_note, store.wal_path));
  CHECK_MATCHES(*engine, store.states[4], "after the torn tail");
}

TEST(engine_wal_removed_is_corrupt) {
  StoreWithWal store(kFlat);
  CHECK(loci::test::remove_file(store.wal_path));
  std::unique_ptr<Engine> engine;
  CHECK_CORRUPT(Engine::open(options_for(store.dir.path(), kFlat), &engine), store.wal_path);
  std::string report;
  CHECK_CORRUPT(Engine::verify(store.dir.path(), &report), store.wal_path);
}

LOCI_TEST_MAIN()
