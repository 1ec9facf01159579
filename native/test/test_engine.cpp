// The durable engine (docs/format/store.md and the formats it links): open / write /
// checkpoint / close / reopen for the flat (exact) store and Atlas; crash recovery with
// FaultInjectionEnv::simulate_crash(); a random property test checked against a model;
// reads racing writes and checkpoints (run under TSan too). Corruption of every file is
// in test_engine_corruption.cpp, fault injection in test_engine_faults.cpp.
#include "engine_fixture.h"

// --- open / write / close / reopen ----------------------------------------------------------

namespace {

void check_write_close_reopen(int kind) {
  TempDir dir("engine");
  std::mt19937_64 rng(loci::test::test_seed() + kind);
  Model model;
  OpenReport report;
  auto engine = open_engine(options_for(dir.path(), kind), &report);
  if (!engine) return;
  CHECK(report.created && engine->durable());
  CHECK(engine->shape().dim == kDim && engine->shape().index == kind);
  add_items(engine.get(), &model, rng, 300, "item");
  // Upserts (new text, vector, time) and deletes.
  std::vector<std::pair<std::string, Item>> upserts;
  for (int i = 0; i < 20; ++i) upserts.push_back({"item" + std::to_string(i * 7), random_item(rng)});
  upserts.push_back({"fresh-by-upsert", random_item(rng)});
  CHECK_OK(write_and_model(engine.get(), put_batch(BatchOp::upsert, upserts), &model));
  CHECK_OK(write_and_model(engine.get(), remove_batch({"item1", "item2", "item299"}), &model));
  CHECK_MATCHES(*engine, model, "before close");
  const std::string search_before = search_mismatch(*engine, model, rng, kind);
  CHECK_MSG(search_before.empty(), "before close: " + search_before);
  // Atlas: the approximate search gives the same answers after the reopen (the tree is saved as is).
  std::vector<float> query(kDim, 0.1f);
  std::vector<index::SearchHit> before, after;
  CHECK_OK(engine->index().search(query.data(), index::SearchParams{}, &before));
  CHECK_OK(engine->close());
  CHECK(engine->write(remove_batch({"item3"})).code() == StatusCode::closed);
  engine.reset();

  engine = open_engine(options_for(dir.path(), kind), &report);
  if (!engine) return;
  CHECK(!report.created);
  CHECK(report.replayed_records == 0);  // close() checkpointed
  CHECK_MATCHES(*engine, model, "after reopen");
  const std::string search_after = search_mismatch(*engine, model, rng, kind);
  CHECK_MSG(search_after.empty(), "after reopen: " + search_after);
  CHECK_OK(engine->index().search(query.data(), index::SearchParams{}, &after));
  CHECK(before.size() == after.size());
  for (size_t i = 0; i < std::min(before.size(), after.size()); ++i) CHECK(before[i].id == after[i].id);
  // Shape options may be omitted on reopen.
  engine.reset();
  EngineOptions adopt;
  adopt.dir = dir.path();
  engine = open_engine(adopt);
  if (!engine) return;
  CHECK(engine->shape().dim == kDim && engine->shape().index == kind && engine->shape().metric == 0);
  CHECK_MATCHES(*engine, model, "reopen adopting the stored shape");
  engine.reset();
  std::string verify_report;
  CHECK_OK(Engine::verify(dir.path(), &verify_report));
  CHECK(contains(verify_report, "items: " + std::to_string(model.size())));
}

}  // namespace

TEST(engine_flat_write_close_reopen) { check_write_close_reopen(kFlat); }
TEST(engine_atlas_write_close_reopen) { check_write_close_reopen(kAtlas); }

TEST(engine_atlas_copies_made_with_replicas_survive_a_reopen_without_them) {
  // replicas is a write policy of one open: a store written with copies reopens (and
  // verifies) under the default of 1, keeping the copies, and stays exact.
  TempDir dir("engine");
  std::mt19937_64 rng(loci::test::test_seed() + 41);
  Model model;
  EngineOptions options = options_for(dir.path(), kAtlas);
  options.replicas = 4;
  auto engine = open_engine(options);
  if (!engine) return;
  for (int round = 0; round < 10; ++round) add_items(engine.get(), &model, rng, 60, "r" + std::to_string(round) + "-");
  CHECK_OK(write_and_model(engine.get(), remove_batch({"r0-1", "r3-7"}), &model));
  const size_t entries = engine->index().stats().leaf_entries;
  CHECK_MSG(entries > model.size(), "no copies made: " + std::to_string(entries) + " entries for " + std::to_string(model.size()) + " items");
  CHECK_OK(engine->index().check());
  CHECK_OK(engine->close());
  engine.reset();
  engine = open_engine(options_for(dir.path(), kAtlas));
  if (!engine) return;
  CHECK_MATCHES(*engine, model, "reopened without replicas");
  CHECK(engine->index().stats().leaf_entries >= model.size());
  const std::string mismatch = search_mismatch(*engine, model, rng, kAtlas);
  CHECK_MSG(mismatch.empty(), mismatch);
  add_items(engine.get(), &model, rng, 50, "later-");
  CHECK_OK(engine->index().check());
  engine.reset();
  std::string report;
  CHECK_OK(Engine::verify(dir.path(), &report));
}

TEST(engine_reopen_with_another_shape_is_invalid_argument) {
  TempDir dir("engine");
  { auto engine = open_engine(options_for(dir.path(), kFlat)); }
  std::unique_ptr<Engine> engine;
  EngineOptions options = options_for(dir.path(), kFlat);
  options.dim = kDim + 1;
  Status status = Engine::open(options, &engine);
  CHECK(status.code() == StatusCode::invalid_argument && contains(status.message(), std::to_string(kDim)));
  options = options_for(dir.path(), kAtlas);
  CHECK(Engine::open(options, &engine).code() == StatusCode::invalid_argument);
}

TEST(engine_second_open_of_the_same_store_is_locked) {
  TempDir dir("engine");
  auto first = open_engine(options_for(dir.path(), kFlat));
  std::unique_ptr<Engine> second;
  CHECK(Engine::open(options_for(dir.path(), kFlat), &second).code() == StatusCode::locked);
  first.reset();
  CHECK_OK(Engine::open(options_for(dir.path(), kFlat), &second));
}

TEST(engine_write_errors_leave_the_store_unchanged) {
  TempDir dir("engine");
  std::mt19937_64 rng(loci::test::test_seed());
  auto engine = open_engine(options_for(dir.path(), kFlat));
  if (!engine) return;
  Model model;
  add_items(engine.get(), &model, rng, 10, "x");
  CHECK(engine->write(put_batch(BatchOp::add, {{"x1", random_item(rng)}})).code() == StatusCode::already_exists);
  CHECK(engine->write(remove_batch({"x1", "nope"})).code() == StatusCode::not_found);
  CHECK(engine->write(put_batch(BatchOp::add, {{"y", random_item(rng)}, {"y", random_item(rng)}})).code() ==
        StatusCode::already_exists);
  CHECK_MATCHES(*engine, model, "after refused writes");
  engine.reset();
  engine = open_engine(options_for(dir.path(), kFlat));
  if (engine) CHECK_MATCHES(*engine, model, "after reopen");
}

TEST(engine_checkpoint_then_more_writes_then_crash_replays_the_wal) {
  for (int kind : {kFlat, kAtlas}) {
    TempDir dir("engine");
    FaultInjectionEnv env(Env::posix());
    std::mt19937_64 rng(loci::test::test_seed() + kind);
    Model model;
    auto engine = open_engine(options_for(dir.path(), kind, &env));
    if (!engine) return;
    add_items(engine.get(), &model, rng, 200, "a");
    CHECK_OK(engine->checkpoint(false));
    CHECK(engine->manifest().checkpoint_gen == 1 && engine->manifest().checkpoint_lsn == engine->stats().lsn);
    add_items(engine.get(), &model, rng, 60, "b", 10);  // six batches after the checkpoint
    CHECK_OK(write_and_model(engine.get(), remove_batch({"a5", "b7"}), &model));
    crash(&engine, &env);
    OpenReport report;
    engine = open_engine(options_for(dir.path(), kind, &env), &report);
    if (!engine) return;
    CHECK_MSG(report.replayed_records == 7, kind_name(kind) + std::string(": replayed ") + std::to_string(report.replayed_records));
    CHECK_MATCHES(*engine, model, kind_name(kind));
    CHECK_MSG(search_mismatch(*engine, model, rng, kind).empty(), kind_name(kind));
    // And once more: the replayed store checkpoints at close and reopens without replay.
    engine.reset();
    engine = open_engine(options_for(dir.path(), kind, &env), &report);
    if (!engine) return;
    CHECK(report.replayed_records == 0);
    CHECK_MATCHES(*engine, model, kind_name(kind));
  }
}

namespace {

size_t wal_files(const std::string& dir) {
  size_t count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir + "/wal")) count += entry.path().extension() == ".log";
  return count;
}

}  // namespace

// Each open starts a new WAL file; one left empty (nothing written, or a crash right
// after the open) is removed by the next open instead of piling up to be replayed and
// synced by every open after it. A file holding records is never removed.
TEST(engine_reopens_without_writes_leave_no_pile_of_empty_wal_files) {
  TempDir dir("engine");
  FaultInjectionEnv env(Env::posix());
  std::mt19937_64 rng(loci::test::test_seed());
  Model model;
  auto engine = open_engine(options_for(dir.path(), kFlat, &env));
  if (!engine) return;
  add_items(engine.get(), &model, rng, 100, "a");
  CHECK_OK(engine->close());
  engine.reset();
  for (int i = 0; i < 8; ++i) {
    engine = open_engine(options_for(dir.path(), kFlat, &env));
    if (!engine) return;
    CHECK_OK(engine->close());
    engine.reset();
  }
  CHECK_MSG(wal_files(dir.path()) <= 2, std::to_string(wal_files(dir.path())) + " WAL files after 8 empty open/close cycles");
  // Records in the WAL, then crashes right after opens: the file with the records stays
  // (and is replayed every time), the empty ones above it go.
  engine = open_engine(options_for(dir.path(), kFlat, &env));
  if (!engine) return;
  add_items(engine.get(), &model, rng, 30, "b", 10);
  crash(&engine, &env);
  for (int i = 0; i < 4; ++i) {
    OpenReport report;
    engine = open_engine(options_for(dir.path(), kFlat, &env), &report);
    if (!engine) return;
    CHECK_MSG(report.replayed_records == 3, "crash " + std::to_string(i) + ": replayed " + std::to_string(report.replayed_records));
    CHECK_MATCHES(*engine, model, "after crash " + std::to_string(i));
    crash(&engine, &env);
  }
  CHECK_MSG(wal_files(dir.path()) <= 3, std::to_string(wal_files(dir.path())) + " WAL files after 4 crashes after opens");
  engine = open_engine(options_for(dir.path(), kFlat, &env));
  if (!engine) return;
  CHECK_MATCHES(*engine, model, "after the last crash");
  CHECK_OK(engine->close());
  engine.reset();
  std::string verify_report;
  CHECK_OK(Engine::verify(dir.path(), &verify_report));
}

// After a checkpoint the index serves its f32 originals from the vectors file it wrote
// (FloatBuffer::map_prefix): the same bytes at the same addresses, rows written later
// copied on write, and the next checkpoint remaps onto its own file while the previous
// one, still mapped, is removed.
TEST(engine_checkpoint_serves_the_vectors_from_the_file_it_wrote) {
  for (int kind : {kFlat, kAtlas}) {
    TempDir dir("engine");
    std::mt19937_64 rng(loci::test::test_seed() + 31 + kind);
    Model model;
    auto engine = open_engine(options_for(dir.path(), kind));
    if (!engine) return;
    add_items(engine.get(), &model, rng, 400, "a");
    CHECK(engine->index().stats().vector_mapped_bytes == 0);
    CHECK_OK(engine->checkpoint(false));
    const index::IndexStats mapped = engine->index().stats();
    CHECK_MSG(mapped.vector_mapped_bytes >= 400 * kDim * sizeof(float) / 4096 * 4096 && mapped.vector_mapped_bytes > 0,
              kind_name(kind) + std::string(": mapped ") + std::to_string(mapped.vector_mapped_bytes));
    CHECK_MATCHES(*engine, model, kind_name(kind) + std::string(": after the first checkpoint"));
    // Writes into and after the mapped rows.
    std::vector<std::pair<std::string, Item>> upserts;
    for (int i = 0; i < 40; ++i) upserts.push_back({"a" + std::to_string(i * 9), random_item(rng)});
    CHECK_OK(write_and_model(engine.get(), put_batch(BatchOp::upsert, upserts), &model));
    CHECK_OK(write_and_model(engine.get(), remove_batch({"a1", "a2", "a399"}), &model));
    add_items(engine.get(), &model, rng, 100, "b");
    CHECK_MATCHES(*engine, model, kind_name(kind) + std::string(": writes over mapped rows"));
    CHECK_MSG(search_mismatch(*engine, model, rng, kind).empty(), kind_name(kind));
    CHECK_OK(engine->checkpoint(false));
    CHECK(!std::filesystem::exists(dir.path() + "/" + gen_name("vectors", 1)));
    CHECK(engine->index().stats().vector_mapped_bytes >= mapped.vector_mapped_bytes);
    CHECK_MATCHES(*engine, model, kind_name(kind) + std::string(": after the second checkpoint"));
    CHECK_MSG(search_mismatch(*engine, model, rng, kind).empty(), kind_name(kind));
    engine.reset();
    engine = open_engine(options_for(dir.path(), kind));
    if (!engine) return;
    CHECK_MATCHES(*engine, model, kind_name(kind) + std::string(": after reopen"));
  }
}

// Replay gathers records into groups of up to 4,096 items, applied on a second thread
// while the next group is read (engine/replay_pipeline.h): more items than three groups
// hold, with every kind of group break (an upsert or delete of an id in the group being
// filled, a change of kind, a full group), must come back exactly.
TEST(engine_replay_across_many_groups_restores_every_write) {
  for (int kind : {kFlat, kAtlas}) {
    TempDir dir("engine");
    FaultInjectionEnv env(Env::posix());
    std::mt19937_64 rng(loci::test::test_seed() + 60 + kind);
    Model model;
    auto engine = open_engine(options_for(dir.path(), kind, &env));
    if (!engine) return;
    add_items(engine.get(), &model, rng, 100, "base");
    CHECK_OK(engine->checkpoint(false));
    const uint64_t checkpoint_lsn = engine->stats().lsn;
    add_items(engine.get(), &model, rng, 13000, "g", 1000);  // 13 records: groups of 4, 4, 4, 1 batches
    for (int i = 0; i < 40; ++i) {
      // Upserts of ids in the group being filled, then one of an older item.
      const std::string id = i % 10 == 9 ? "base" + std::to_string(i) : "g" + std::to_string(12000 + i);
      CHECK_OK(write_and_model(engine.get(), put_batch(BatchOp::upsert, {{id, random_item(rng)}}), &model));
      CHECK_OK(write_and_model(engine.get(), put_batch(BatchOp::add, {{"t" + std::to_string(i), random_item(rng)}}), &model));
      if (i % 4 == 0) CHECK_OK(write_and_model(engine.get(), remove_batch({"g" + std::to_string(i * 7)}), &model));
    }
    const uint64_t records = engine->stats().lsn - checkpoint_lsn;
    crash(&engine, &env);
    OpenReport report;
    engine = open_engine(options_for(dir.path(), kind, &env), &report);
    if (!engine) return;
    CHECK_MSG(report.replayed_records == records, kind_name(kind) + std::string(": replayed ") +
                                                      std::to_string(report.replayed_records) + " of " + std::to_string(records));
    CHECK_MATCHES(*engine, model, kind_name(kind));
    CHECK_MSG(search_mismatch(*engine, model, rng, kind).empty(), kind_name(kind));
  }
}

// A record whose checksum holds but which cannot be applied (here an add of an id the
// store holds; no Loci writes one) fails the open as CORRUPT naming the WAL, however
// many groups replay has in flight, and the failed open leaves the arena as it was.
TEST(engine_replayed_record_that_does_not_apply_is_corrupt) {
  TempDir dir("engine");
  FaultInjectionEnv env(Env::posix());
  std::mt19937_64 rng(loci::test::test_seed() + 70);
  Model model;
  auto engine = open_engine(options_for(dir.path(), kFlat, &env));
  if (!engine) return;
  add_items(engine.get(), &model, rng, 50, "c");
  CHECK_OK(engine->checkpoint(false));
  add_items(engine.get(), &model, rng, 9000, "d", 1000);
  const uint64_t lsn = engine->stats().lsn;
  const std::string wal_path = dir.file("wal/" + wal_file_name(engine->manifest().wal_seq));
  crash(&engine, &env);
  WriteBatch again = put_batch(BatchOp::add, {{"d17", random_item(rng)}});
  std::string payload, record;
  again.encode(lsn + 1, kDim, &payload);
  frame_record(&record, 1, payload.data(), payload.size());  // type 1: a batch (docs/format/wal.md)
  CHECK(loci::test::write_bytes(wal_path, loci::test::read_bytes(wal_path) + record));
  const std::string arena_path = dir.file(gen_name("blobs", 1));
  const std::string arena_before = loci::test::read_bytes(arena_path);
  std::unique_ptr<Engine> failed;
  CHECK_CORRUPT(Engine::open(options_for(dir.path(), kFlat), &failed), wal_path);
  CHECK(loci::test::read_bytes(arena_path) == arena_before);
}

TEST(engine_compacting_checkpoint_collects_the_arena_and_keeps_texts) {
  for (int kind : {kFlat, kAtlas}) {
    TempDir dir("engine");
    std::mt19937_64 rng(loci::test::test_seed() + kind);
    Model model;
    auto engine = open_engine(options_for(dir.path(), kind));
    if (!engine) return;
    add_items(engine.get(), &model, rng, 100, "t");
    // Dead blobs: upsert every item twice with new texts, delete a few.
    for (int round = 0; round < 2; ++round) {
      std::vector<std::pair<std::string, Item>> upserts;
      for (int i = 0; i < 100; ++i) {
        Item item = random_item(rng);
        item.text = "round " + std::to_string(round) + " of t" + std::to_string(i) + std::string(40, 'z');
        upserts.push_back({"t" + std::to_string(i), item});
      }
      CHECK_OK(write_and_model(engine.get(), put_batch(BatchOp::upsert, upserts), &model));
    }
    CHECK_OK(write_and_model(engine.get(), remove_batch({"t0", "t50"}), &model));
    const uint64_t arena_gen = engine->manifest().arena_gen;
    const uint64_t arena_before = engine->stats().arena_bytes;
    CHECK_OK(engine->checkpoint(true));
    CHECK(engine->manifest().arena_gen == arena_gen + 1);
    CHECK(engine->stats().arena_bytes < arena_before);
    CHECK(engine->stats().arena_bytes == engine->stats().arena_live_bytes + kFileHeaderBytes);
    CHECK(!loci::test::file_exists(dir.file(gen_name("blobs", arena_gen))));
    CHECK(loci::test::file_exists(dir.file(gen_name("blobs", arena_gen + 1))));
    CHECK_MATCHES(*engine, model, "after the compacting checkpoint");
    // Writes after it land in the new arena and survive a reopen with the rest.
    add_items(engine.get(), &model, rng, 10, "after", 5);
    engine.reset();
    engine = open_engine(options_for(dir.path(), kind));
    if (!engine) return;
    CHECK_MATCHES(*engine, model, "after reopen");
    CHECK_MSG(search_mismatch(*engine, model, rng, kind).empty(), kind_name(kind));
  }
}

// --- crash recovery ---------------------------------------------------------------------------

TEST(engine_crash_keeps_every_acknowledged_write_with_durability_sync) {
  for (int kind : {kFlat, kAtlas}) {
    TempDir dir("engine");
    FaultInjectionEnv env(Env::posix());
    std::mt19937_64 rng(loci::test::test_seed() + 10 + kind);
    Model model;
    auto engine = open_engine(options_for(dir.path(), kind, &env));
    if (!engine) return;
    for (int round = 0; round < 4; ++round) {
      add_items(engine.get(), &model, rng, 30, "r" + std::to_string(round) + "-", 7);
      std::vector<std::pair<std::string, Item>> upserts = {{"r0-1", random_item(rng)}, {"new" + std::to_string(round), random_item(rng)}};
      CHECK_OK(write_and_model(engine.get(), put_batch(BatchOp::upsert, upserts), &model));
      CHECK_OK(write_and_model(engine.get(), remove_batch({"r" + std::to_string(round) + "-3"}), &model));
      if (round == 1) CHECK_OK(engine->checkpoint(round % 2 == 1));
      crash(&engine, &env);
      engine = open_engine(options_for(dir.path(), kind, &env));
      if (!engine) return;
      CHECK_MATCHES(*engine, model, std::string(kind_name(kind)) + " after crash " + std::to_string(round));
    }
    // A plain Env sees the same.
    engine.reset();
    engine = open_engine(options_for(dir.path(), kind));
    if (engine) CHECK_MATCHES(*engine, model, "plain env");
  }
}

TEST(engine_crash_with_durability_none_opens_at_a_consistent_point) {
  for (int kind : {kFlat, kAtlas}) {
    TempDir dir("engine");
    FaultInjectionEnv env(Env::posix());
    std::mt19937_64 rng(loci::test::test_seed() + 20 + kind);
    Model model;
    auto engine = open_engine(options_for(dir.path(), kind, &env, Durability::none));
    if (!engine) return;
    add_items(engine.get(), &model, rng, 40, "base", 8);
    CHECK_OK(engine->checkpoint(false));
    // Every state the writes after the checkpoint pass through.
    std::vector<Model> states = {model};
    for (int i = 0; i < 12; ++i) {
      WriteBatch batch = i % 3 == 2 ? remove_batch({"base" + std::to_string(i)})
                                    : put_batch(i % 3 ? BatchOp::upsert : BatchOp::add, {{"after" + std::to_string(i), random_item(rng)}});
      CHECK_OK(write_and_model(engine.get(), batch, &model));
      states.push_back(model);
    }
    crash(&engine, &env);
    engine = open_engine(options_for(dir.path(), kind, &env, Durability::none));
    if (!engine) return;
    bool matched = false;
    for (const Model& state : states) matched = matched || mismatch(*engine, state).empty();
    CHECK_MSG(matched, std::string(kind_name(kind)) + ": the reopened store is not a state the writes passed through: " +
                           mismatch(*engine, states.front()));
    // It keeps working: write, close, reopen.
    add_items(engine.get(), &model, rng, 5, "later");
    Model now = model;
    engine.reset();
    engine = open_engine(options_for(dir.path(), kind, &env, Durability::none));
    if (!engine) return;
    for (const auto& entry : now) {
      if (entry.first.rfind("later", 0) == 0) CHECK(engine->index().contains(entry.first));
    }
    std::string report;
    engine.reset();
    CHECK_OK(Engine::verify(dir.path(), &report));
  }
}

TEST(engine_crash_during_store_creation_then_open_creates_it) {
  // Every call of every kind during creation, failed once, then a crash: the next open
  // either finds the store or creates it afresh, never refuses the directory.
  for (FaultOp op : {FaultOp::create, FaultOp::append, FaultOp::sync, FaultOp::sync_dir, FaultOp::rename}) {
    for (uint64_t successes = 0; successes < 16; ++successes) {
      TempDir dir("engine");
      FaultInjectionEnv env(Env::posix());
      env.fail(op, successes, EIO, 1);
      std::unique_ptr<Engine> engine;
      Status first = Engine::open(options_for(dir.path(), kFlat, &env), &engine);
      const bool failed = !first.is_ok();
      CHECK_MSG(!failed || (first.code() == StatusCode::io_error && contains(first.message(), "EIO")), status_text(first));
      if (engine) crash(&engine, &env);
      env.clear_faults();
      CHECK_OK(env.simulate_crash());
      Status second = Engine::open(options_for(dir.path(), kFlat, &env), &engine);
      CHECK_MSG(second.is_ok(), "op " + std::to_string(int(op)) + " after " + std::to_string(successes) + ": " + status_text(second));
      if (engine) {
        std::mt19937_64 rng(successes);
        Model model;
        add_items(engine.get(), &model, rng, 3, "c");
        crash(&engine, &env);
        CHECK_OK(Engine::open(options_for(dir.path(), kFlat, &env), &engine));
        if (engine) CHECK_MATCHES(*engine, model, "after creation faults");
      }
      if (!failed) break;  // the fault was past the last call of `op`
    }
  }
}

// --- property test: random interleavings against a model ---------------------------------------------

namespace {

void property_test(int kind, int steps, uint64_t seed) {
  TempDir dir("engine-property");
  FaultInjectionEnv env(Env::posix());
  std::mt19937_64 rng(seed);
  Model model;
  int next_id = 0;
  EngineOptions options = options_for(dir.path(), kind, &env);
  auto engine = open_engine(options);
  if (!engine) return;
  for (int step = 0; step < steps; ++step) {
    const std::string where = std::string(kind_name(kind)) + " seed " + std::to_string(seed) + " step " + std::to_string(step);
    const int action = int(rng() % 20);
    if (action < 14) {
      WriteBatch batch = random_write(rng, model, &next_id);
      if (action == 0) {
        // A larger add: Atlas may rebuild or split.
        std::vector<std::pair<std::string, Item>> items;
        for (int i = 0; i < 60; ++i) items.push_back({"bulk" + std::to_string(next_id++), random_item(rng)});
        batch = put_batch(BatchOp::add, items);
      }
      Status written = write_and_model(engine.get(), batch, &model);
      CHECK_MSG(written.is_ok(), where + ": " + status_text(written));
    } else if (action < 16) {
      Status checkpoint = engine->checkpoint(action == 15);
      CHECK_MSG(checkpoint.is_ok(), where + ": checkpoint: " + status_text(checkpoint));
    } else if (action < 18) {
      engine.reset();
      engine = open_engine(options);
    } else {
      crash(&engine, &env);
      engine = open_engine(options);
    }
    if (!engine) return;
    // A sample of gets every step, everything now and then.
    if (step % 10 == 9 || action >= 16) {
      const std::string differs = mismatch(*engine, model);
      CHECK_MSG(differs.empty(), where + ": " + differs);
      if (!differs.empty()) return;
    } else if (!model.empty()) {
      auto it = model.begin();
      std::advance(it, rng() % model.size());
      std::vector<float> vector(kDim);
      ItemView view;
      Status got = engine->get(it->first, vector.data(), &view);
      CHECK_MSG(got.is_ok() && vector == it->second.vector && view.text == it->second.text &&
                    view.meta == it->second.meta && same_time(view.time, it->second.time),
                where + ": get('" + it->first + "') " + status_text(got));
    }
    const std::string search = search_mismatch(*engine, model, rng, kind, 1);
    CHECK_MSG(search.empty(), where + ": " + search);
    if (!search.empty()) return;
  }
  engine.reset();
  std::string report;
  CHECK_OK(Engine::verify(dir.path(), &report));
}

}  // namespace

TEST(engine_property_random_interleavings_flat) { property_test(kFlat, 600, loci::test::test_seed() + 100); }
TEST(engine_property_random_interleavings_atlas) { property_test(kAtlas, 500, loci::test::test_seed() + 101); }

// --- threads ---------------------------------------------------------------------------------

// Two writers (group commit), checkpoints (some compacting, which replaces the arena) and
// the interval syncer, while a reader calls stats(), shape(), manifest() and get(): what
// the lock annotations in engine.h claim, run under TSan by scripts/test-tsan.sh.
// (Regression: stats() read the commit path's counters and the arena without a lock, and
// shape() was the MANIFEST a checkpoint rewrites.)
TEST(engine_reads_during_writes_and_checkpoints_are_race_free) {
  TempDir dir("engine");
  EngineOptions options = options_for(dir.path(), kFlat, nullptr, Durability::interval);
  options.sync_interval_ms = 1;
  auto engine = open_engine(options);
  if (!engine) return;
  constexpr int kWriters = 2, kBatches = 200, kBatchSize = 4;
  std::atomic<int> writers_left{kWriters};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      std::mt19937_64 rng(loci::test::test_seed() + 300 + w);
      for (int b = 0; b < kBatches; ++b) {
        std::vector<std::pair<std::string, Item>> items;
        for (int i = 0; i < kBatchSize; ++i) {
          items.push_back({"w" + std::to_string(w) + "-" + std::to_string(b * kBatchSize + i), random_item(rng)});
        }
        CHECK_OK(engine->write(put_batch(BatchOp::add, items)));
      }
      writers_left.fetch_sub(1);
    });
  }
  threads.emplace_back([&] {
    for (int round = 0; writers_left.load() > 0; ++round) CHECK_OK(engine->checkpoint(round % 3 == 2));
  });
  threads.emplace_back([&] {
    uint64_t last_lsn = 0;
    ItemView item;
    while (writers_left.load() > 0) {
      const EngineStats stats = engine->stats();
      CHECK(stats.lsn >= last_lsn && stats.checkpoint_lsn <= stats.lsn);
      last_lsn = stats.lsn;
      CHECK(engine->shape().dim == kDim && engine->shape().checkpoint_gen == 0);
      CHECK(engine->manifest().checkpoint_lsn <= engine->stats().lsn);
      Status got = engine->get("w0-0", nullptr, &item);
      CHECK_MSG(got.is_ok() || got.code() == StatusCode::not_found, status_text(got));
    }
  });
  for (std::thread& thread : threads) thread.join();
  CHECK(engine->index().size() == size_t(kWriters * kBatches * kBatchSize));
  CHECK(engine->stats().lsn == uint64_t(kWriters * kBatches));
  CHECK_OK(engine->close());
}


LOCI_TEST_MAIN()
