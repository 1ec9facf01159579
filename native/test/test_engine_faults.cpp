// Fault injection on every write path of the engine (FaultInjectionEnv makes appends,
// syncs, creations, renames and directory syncs fail with ENOSPC or EIO): the error
// reaches the caller and the store reopens with every earlier acknowledged write; then
// a random fault-injection loop checked against a model.
#include "engine_fixture.h"

// --- fault injection: writes --------------------------------------------------------------------

namespace {

// A store with 20 acknowledged items (with texts), open on a FaultInjectionEnv.
struct FaultStore {
  TempDir dir{"engine"};
  // Replaced after a session through a plain Env: its crash model would cut files back
  // to sizes it tracked before that session wrote and synced them.
  std::unique_ptr<FaultInjectionEnv> env_holder = std::make_unique<FaultInjectionEnv>(Env::posix());
  Model model;
  std::mt19937_64 rng{loci::test::test_seed() + 50};
  std::unique_ptr<Engine> engine;
  int kind;
  explicit FaultStore(int kind_, Durability durability = Durability::sync) : kind(kind_) {
    engine = open_engine(options_for(dir.path(), kind, env_holder.get(), durability));
    if (engine) add_items(engine.get(), &model, rng, 20, "ok", 5);
  }
  FaultInjectionEnv& fault_env() { return *env_holder; }
  WriteBatch new_batch(const std::string& id) {
    Item item = random_item(rng);
    item.text = "text of " + id;  // a blob, so the arena is written
    return put_batch(BatchOp::add, {{id, item}});
  }
  // Reopens (clean env, or after a crash), and checks every acknowledged write is there.
  // `uncertain`: a batch that failed, which may be there whole or not at all.
  void reopen_and_check(bool after_crash, bool plain_env, const WriteBatch* uncertain, const std::string& where) {
    if (after_crash) {
      crash(&engine, &fault_env());
    } else {
      engine.reset();
    }
    fault_env().clear_faults();
    Status opened = Engine::open(options_for(dir.path(), kind, plain_env ? nullptr : &fault_env()), &engine);
    CHECK_MSG(opened.is_ok(), where + ": reopen " + (after_crash ? "after a crash" : "after a clean close") + ": " +
                                  status_text(opened));
    if (!engine) return;
    std::string differs = mismatch(*engine, model);
    if (!differs.empty() && uncertain) {
      Model with = model;
      apply_to_model(*uncertain, &with);
      if (mismatch(*engine, with).empty()) {
        model = with;
        differs.clear();
      }
    }
    CHECK_MSG(differs.empty(), where + ": " + differs);
    if (plain_env) {
      // Back to a fresh FaultInjectionEnv, for which every file now on disk is durable.
      engine.reset();
      env_holder = std::make_unique<FaultInjectionEnv>(Env::posix());
      engine = open_engine(options_for(dir.path(), kind, &fault_env()));
      if (engine) CHECK_MATCHES(*engine, model, where + " (back on a FaultInjectionEnv)");
    }
  }
};

void check_io_error(const Status& status, const char* errno_name, const std::string& where) {
  CHECK_MSG(status.code() == StatusCode::io_error && contains(status.message(), errno_name),
            where + ": expected IO_ERROR naming " + errno_name + ", got " + status_text(status));
}

void check_poisoned(FaultStore& store, const std::string& where) {
  store.fault_env().clear_faults();
  Status later = store.engine->write(store.new_batch("after-poison"));
  CHECK_MSG(later.code() == StatusCode::io_error && contains(later.message(), "reopen"),
            where + ": a write after the failure should be refused, got " + status_text(later));
  Status checkpoint = store.engine->checkpoint(false);
  CHECK_MSG(checkpoint.code() == StatusCode::io_error, where + ": checkpoint of a poisoned store: " + status_text(checkpoint));
  // Reads still work.
  CHECK_MATCHES(*store.engine, store.model, where + " (reads while poisoned)");
}

}  // namespace

TEST(engine_fault_enospc_on_wal_append_poisons_and_recovers) {
  for (bool after_crash : {false, true}) {
    for (int kind : {kFlat, kAtlas}) {
      FaultStore store(kind);
      if (!store.engine) return;
      // One append for the arena (the blob), then the WAL's.
      store.fault_env().fail(FaultOp::append, 1, ENOSPC);
      WriteBatch failed = store.new_batch("lost");
      check_io_error(store.engine->write(failed), "ENOSPC", "WAL append");
      check_poisoned(store, "WAL append");
      store.reopen_and_check(after_crash, !after_crash, nullptr, "after ENOSPC on the WAL");
      if (store.engine) CHECK(!store.engine->index().contains("lost"));  // nothing of it reached the WAL
      // The reopened store takes writes again.
      if (store.engine) CHECK_OK(write_and_model(store.engine.get(), store.new_batch("again"), &store.model));
      store.reopen_and_check(after_crash, false, nullptr, "after the next write");
    }
  }
}

TEST(engine_fault_eio_on_wal_sync_poisons_and_recovers) {
  for (bool after_crash : {false, true}) {
    FaultStore store(kFlat);
    if (!store.engine) return;
    store.fault_env().fail(FaultOp::sync, 0, EIO, 1);
    WriteBatch failed = store.new_batch("unsynced");
    check_io_error(store.engine->write(failed), "EIO", "WAL sync");
    check_poisoned(store, "WAL sync");
    store.reopen_and_check(after_crash, false, &failed, "after EIO on the WAL sync");
    // After a crash the unsynced record is gone.
    if (store.engine && after_crash) CHECK(!store.engine->index().contains("unsynced"));
  }
}

TEST(engine_fault_on_arena_append_fails_the_write_and_recovers) {
  for (bool after_crash : {false, true}) {
    FaultStore store(kAtlas);
    if (!store.engine) return;
    store.fault_env().fail(FaultOp::append, 0, EIO, 1);
    WriteBatch failed = store.new_batch("no-blob");
    check_io_error(store.engine->write(failed), "EIO", "arena append");
    store.fault_env().clear_faults();
    // A failed arena append leaves the arena's state unknown: the store is poisoned too.
    Status later = store.engine->write(store.new_batch("later"));
    CHECK_MSG(later.code() == StatusCode::io_error, status_text(later));
    store.reopen_and_check(after_crash, true, nullptr, "after a failed arena append");
    if (store.engine) CHECK(!store.engine->index().contains("no-blob"));
  }
}

TEST(engine_fault_with_durability_none_still_reports_write_errors) {
  FaultStore store(kFlat, Durability::none);
  if (!store.engine) return;
  store.fault_env().fail(FaultOp::append, 1, ENOSPC);
  check_io_error(store.engine->write(store.new_batch("x")), "ENOSPC", "WAL append (durability none)");
  store.fault_env().clear_faults();
  CHECK(store.engine->write(store.new_batch("y")).code() == StatusCode::io_error);
  // No crash: with `none` the acknowledged writes are in the page cache, so they survive.
  store.reopen_and_check(false, true, nullptr, "durability none");
}

// --- fault injection: checkpoints -----------------------------------------------------------------

namespace {

// Fails the (successes+1)-th call of `op` inside a checkpoint, for every such call in
// turn: the checkpoint reports IO_ERROR naming the errno, the store keeps taking writes,
// and a reopen (after a crash, or clean) holds every acknowledged write.
void sweep_checkpoint_faults(FaultOp op, int error_number, const char* errno_name, bool compact, int kind) {
  int failures_seen = 0;
  for (uint64_t successes = 0; successes < 200; ++successes) {
    const std::string where = std::string(kind_name(kind)) + " op " + std::to_string(int(op)) +
                              (compact ? " compact" : "") + ", call " + std::to_string(successes + 1);
    FaultStore store(kind);
    if (!store.engine) return;
    // Dead blobs, so a compacting checkpoint has an arena to collect.
    std::vector<std::pair<std::string, Item>> upserts;
    for (int i = 0; i < 10; ++i) upserts.push_back({"ok" + std::to_string(i), random_item(store.rng)});
    CHECK_OK(write_and_model(store.engine.get(), put_batch(BatchOp::upsert, upserts), &store.model));
    store.fault_env().fail(op, successes, error_number, 1);
    Status checkpoint = store.engine->checkpoint(compact);
    store.fault_env().clear_faults();
    const bool failed = !checkpoint.is_ok();
    if (failed) {
      ++failures_seen;
      check_io_error(checkpoint, errno_name, where);
      // The failed checkpoint left the old one and the WAL in place. The store may go on
      // taking writes or refuse them until reopened (after a failed fsync the files'
      // durable state is unknown); an acknowledged one must survive either way.
      Status after = write_and_model(store.engine.get(), store.new_batch("after-failed-checkpoint"), &store.model);
      CHECK_MSG(after.is_ok() || (after.code() == StatusCode::io_error && contains(after.message(), "reopen")),
                where + ": write after a failed checkpoint: " + status_text(after));
      CHECK_MATCHES(*store.engine, store.model, where + " (in memory)");
    }
    // Half the cases crash, the others reopen cleanly (close() checkpoints again).
    store.reopen_and_check(successes % 2 == 0, successes % 4 == 1, nullptr, where);
    if (store.engine) {
      CHECK_OK(write_and_model(store.engine.get(), store.new_batch("after-reopen"), &store.model));
      store.reopen_and_check(true, false, nullptr, where + ", second reopen");
    }
    if (!failed) break;  // the fault was past the checkpoint's last call of `op`
  }
  CHECK_MSG(failures_seen > 0, "no checkpoint call of op " + std::to_string(int(op)) + " was failed");
}

}  // namespace

TEST(engine_fault_on_checkpoint_writes_is_reported_and_recovered) {
  for (int kind : {kFlat, kAtlas}) {
    sweep_checkpoint_faults(FaultOp::append, ENOSPC, "ENOSPC", false, kind);
    sweep_checkpoint_faults(FaultOp::append, ENOSPC, "ENOSPC", true, kind);
  }
}

TEST(engine_fault_on_checkpoint_syncs_is_reported_and_recovered) {
  for (int kind : {kFlat, kAtlas}) {
    sweep_checkpoint_faults(FaultOp::sync, EIO, "EIO", false, kind);
    sweep_checkpoint_faults(FaultOp::sync, EIO, "EIO", true, kind);
  }
}

TEST(engine_fault_on_checkpoint_file_creation_is_reported_and_recovered) {
  for (int kind : {kFlat, kAtlas}) sweep_checkpoint_faults(FaultOp::create, EMFILE, "EMFILE", true, kind);
}

TEST(engine_fault_on_manifest_rename_is_reported_and_recovered) {
  for (int kind : {kFlat, kAtlas}) {
    sweep_checkpoint_faults(FaultOp::rename, EIO, "EIO", false, kind);
    sweep_checkpoint_faults(FaultOp::rename, EIO, "EIO", true, kind);
  }
}

TEST(engine_fault_on_wal_directory_sync_in_checkpoint_is_reported_and_recovered) {
  // The checkpoint's first sync_dir (the new WAL file's directory), before its commit point.
  FaultStore store(kFlat);
  if (!store.engine) return;
  store.fault_env().fail(FaultOp::sync_dir, 0, EIO, 1);
  check_io_error(store.engine->checkpoint(false), "EIO", "sync_dir of wal/");
  store.fault_env().clear_faults();
  Status after = write_and_model(store.engine.get(), store.new_batch("after"), &store.model);
  CHECK_MSG(after.is_ok() || after.code() == StatusCode::io_error, status_text(after));
  store.reopen_and_check(true, false, nullptr, "sync_dir of wal/, crash");
}

TEST(engine_fault_on_checkpoint_directory_syncs_then_clean_reopen) {
  // Every sync_dir of a checkpoint failed in turn (the new WAL file's, the new files',
  // the one after the MANIFEST rename), then a clean reopen: whatever MANIFEST is on
  // disk, the files it names are there (regression: the files of a generation whose
  // MANIFEST rename had happened were removed).
  for (bool compact : {false, true}) {
    for (uint64_t successes = 0; successes < 8; ++successes) {
      const std::string where = std::string("sync_dir call ") + std::to_string(successes + 1) + (compact ? " compact" : "");
      FaultStore store(kAtlas);
      if (!store.engine) return;
      store.fault_env().fail(FaultOp::sync_dir, successes, EIO, 1);
      Status checkpoint = store.engine->checkpoint(compact);
      store.fault_env().clear_faults();
      if (checkpoint.is_ok()) break;
      check_io_error(checkpoint, "EIO", where);
      store.reopen_and_check(false, true, nullptr, where + ", clean reopen");
    }
  }
}

// A clean reopen after a checkpoint whose directory fsync after the MANIFEST rename
// failed, then a crash: the open must make the MANIFEST it read durable before removing
// the generation an older one names (regression: the crash brought the old MANIFEST
// back over deleted files, CORRUPT "the checkpoint file the MANIFEST names is missing").
TEST(engine_reopen_after_failed_manifest_dir_sync_then_crash_keeps_the_checkpoint) {
  for (uint64_t successes = 0; successes < 8; ++successes) {
    const std::string where = "sync_dir call " + std::to_string(successes + 1);
    FaultStore store(kFlat);
    if (!store.engine) return;
    // A first checkpoint, so the one that fails has a previous generation to replace.
    CHECK_OK(store.engine->checkpoint(false));
    CHECK_OK(write_and_model(store.engine.get(), store.new_batch("between"), &store.model));
    store.fault_env().fail(FaultOp::sync_dir, successes, EIO, 1);
    Status checkpoint = store.engine->checkpoint(false);
    store.fault_env().clear_faults();
    if (checkpoint.is_ok()) break;
    store.reopen_and_check(false, false, nullptr, where + ", clean reopen");
    if (!store.engine) continue;
    CHECK_OK(write_and_model(store.engine.get(), store.new_batch("after-reopen"), &store.model));
    store.reopen_and_check(true, false, nullptr, where + ", clean reopen, write, crash");
  }
}

// A write whose WAL fsync failed is appended but not durable; a clean reopen replays it
// from the page cache and the next write goes, synced, into a new WAL file. A crash must
// not then leave the WAL with a hole (LSN n+2 after n): open must sync what it replayed
// before building on it (regression: it was CORRUPT "LSN ... does not follow ...").
TEST(engine_replayed_unsynced_wal_record_then_crash_leaves_no_lsn_gap) {
  FaultStore store(kFlat);
  if (!store.engine) return;
  Model before = store.model;
  store.fault_env().fail(FaultOp::sync, 0, EIO, 1);
  WriteBatch unsynced = store.new_batch("unsynced");
  check_io_error(store.engine->write(unsynced), "EIO", "WAL sync");
  store.reopen_and_check(false, false, &unsynced, "clean reopen after a failed WAL sync");
  if (!store.engine) return;
  WriteBatch acknowledged = store.new_batch("acknowledged");
  CHECK_OK(store.engine->write(acknowledged));
  crash(&store.engine, &store.fault_env());
  std::unique_ptr<Engine> engine;
  Status opened = Engine::open(options_for(store.dir.path(), kFlat, &store.fault_env()), &engine);
  CHECK_MSG(opened.is_ok(), "reopen after the crash: " + status_text(opened));
  if (!engine) return;
  // `unsynced` may be there or not; `acknowledged` must be.
  Model with = before, without = before;
  apply_to_model(unsynced, &with);
  apply_to_model(acknowledged, &with);
  apply_to_model(acknowledged, &without);
  CHECK_MSG(mismatch(*engine, with).empty() || mismatch(*engine, without).empty(), mismatch(*engine, without));
}

TEST(engine_fault_on_sync_dir_after_manifest_rename_then_crash_recovers) {
  // With a crash right after, the rename is undone and the old checkpoint is whole.
  for (bool compact : {false, true}) {
    FaultStore store(kFlat);
    if (!store.engine) return;
    store.fault_env().fail(FaultOp::sync_dir, 1, EIO, 1);
    check_io_error(store.engine->checkpoint(compact), "EIO", "sync_dir after the MANIFEST rename");
    store.fault_env().clear_faults();
    store.reopen_and_check(true, false, nullptr, "sync_dir after the MANIFEST rename, crash");
  }
}

// With durability `interval`, a checkpoint rotates the WAL. If the checkpoint then fails
// on its own files (ENOSPC creating items.<g>), writes go on into the new WAL file, which
// the background thread syncs; the records written before the rotation must be durable
// too, or a crash leaves a hole in the WAL (regression: the old file was closed without
// an fsync, and open was CORRUPT "LSN n+2 does not follow n" for writes resolved long
// before the crash).
TEST(engine_interval_durability_failed_checkpoint_then_crash_keeps_earlier_writes) {
  TempDir dir("engine");
  FaultInjectionEnv env(Env::posix());
  std::mt19937_64 rng(loci::test::test_seed() + 60);
  EngineOptions options = options_for(dir.path(), kFlat, &env, Durability::interval);
  options.sync_interval_ms = 300;  // the background sync does not run before the checkpoint below
  auto engine = open_engine(options);
  if (!engine) return;
  Model model;
  add_items(engine.get(), &model, rng, 5, "early", 5);  // acknowledged, not synced yet
  env.fail(FaultOp::create, 1, ENOSPC, 1);               // the new WAL file is created, items.<g> is not
  Status checkpoint = engine->checkpoint(false);
  env.clear_faults();
  check_io_error(checkpoint, "ENOSPC", "checkpoint creating items");
  const uint64_t syncs = env.calls(FaultOp::sync);
  Status later = write_and_model(engine.get(), put_batch(BatchOp::add, {{"later", random_item(rng)}}), &model);
  if (!later.is_ok()) {
    // A store that refuses writes after a failed checkpoint cannot leave this hole.
    CHECK_MSG(later.code() == StatusCode::io_error, status_text(later));
    return;
  }
  // Wait for the background sync of the new WAL file (at most a few intervals).
  for (int waited = 0; env.calls(FaultOp::sync) == syncs && waited < 5000; waited += 10) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(env.calls(FaultOp::sync) > syncs);
  crash(&engine, &env);
  Status opened = Engine::open(options, &engine);
  CHECK_MSG(opened.is_ok(), "reopen after the crash: " + status_text(opened));
  if (engine) CHECK_MATCHES(*engine, model, "interval durability after a failed checkpoint and a crash");
}

TEST(engine_fault_on_reopen_is_reported_then_the_next_open_succeeds) {
  for (FaultOp op : {FaultOp::create, FaultOp::append, FaultOp::sync, FaultOp::sync_dir}) {
    FaultStore store(kAtlas);
    if (!store.engine) return;
    CHECK_OK(write_and_model(store.engine.get(), store.new_batch("in-wal"), &store.model));
    crash(&store.engine, &store.fault_env());
    store.fault_env().fail(op, 0, EIO);
    std::unique_ptr<Engine> engine;
    Status opened = Engine::open(options_for(store.dir.path(), kAtlas, &store.fault_env()), &engine);
    check_io_error(opened, "EIO", "open with op " + std::to_string(int(op)) + " failing");
    engine.reset();
    store.fault_env().clear_faults();
    CHECK_OK(store.fault_env().simulate_crash());
    store.engine = open_engine(options_for(store.dir.path(), kAtlas, &store.fault_env()));
    if (store.engine) CHECK_MATCHES(*store.engine, store.model, "open after a failed open");
  }
}

// --- random fault injection against a model --------------------------------------------------------

namespace {

const char* errno_label(int error_number) {
  switch (error_number) {
    case EIO: return "EIO";
    case ENOSPC: return "ENOSPC";
    default: return "EDQUOT";
  }
}

const char* op_name(FaultOp op) {
  switch (op) {
    case FaultOp::append: return "append";
    case FaultOp::sync: return "sync";
    case FaultOp::sync_dir: return "sync_dir";
    case FaultOp::rename: return "rename";
    case FaultOp::create: return "create";
  }
  return "?";
}

// LOCI_TEST_TRACE=1 prints every step of the random loops, to replay a failure.
bool tracing() { return std::getenv("LOCI_TEST_TRACE") != nullptr; }

// Each iteration: reopen (now and then under a fault), check the store against the
// model (a write that failed may be there whole or not at all), arm a random fault (op,
// errno, how many calls succeed first, how many fail), run random writes and
// checkpoints, then a crash or a clean close. It stops at the first divergence, naming
// the seed and iteration; replay it with LOCI_TEST_SEED and LOCI_TEST_TRACE=1.
void random_fault_loop(int kind, int iterations, uint64_t seed) {
  TempDir dir("engine-faults");
  FaultInjectionEnv env(Env::posix());
  std::mt19937_64 rng(seed);
  Model model;
  std::optional<WriteBatch> uncertain;
  int next_id = 0;
  EngineOptions options = options_for(dir.path(), kind, &env);
  options.checkpoint_bytes = 3000;  // checkpoints run inside writes too
  const FaultOp ops[] = {FaultOp::append, FaultOp::sync, FaultOp::sync_dir, FaultOp::rename, FaultOp::create};
  const int errnos[] = {EIO, ENOSPC, EDQUOT};
  for (int iteration = 0; iteration < iterations; ++iteration) {
    const std::string where = std::string(kind_name(kind)) + " seed " + std::to_string(seed) + " iteration " +
                              std::to_string(iteration);
    std::unique_ptr<Engine> engine;
    FaultOp op = ops[rng() % 5];
    int error_number = errnos[rng() % 3];
    uint64_t successes = rng() % 12, times = rng() % 3;
    // Now and then the fault hits the open itself.
    if (rng() % 5 == 0) {
      if (tracing()) std::printf("  [%d] open with %s failing after %llu (times %llu)\n", iteration, op_name(op),
                                 (unsigned long long)successes, (unsigned long long)times);
      env.fail(op, successes, error_number, times);
      Status opened = Engine::open(options, &engine);
      if (!opened.is_ok()) {
        CHECK_MSG(opened.code() == StatusCode::io_error && contains(opened.message(), errno_label(error_number)),
                  where + ": open under a fault: " + status_text(opened));
        engine.reset();
        env.clear_faults();
        CHECK_OK(env.simulate_crash());
      } else {
        crash(&engine, &env);
      }
      env.clear_faults();
    }
    Status opened = Engine::open(options, &engine);
    if (!opened.is_ok()) {
      CHECK_MSG(false, where + ": reopen failed: " + status_text(opened));
      return;
    }
    std::string differs = mismatch(*engine, model);
    if (!differs.empty() && uncertain) {
      Model with = model;
      apply_to_model(*uncertain, &with);
      if (mismatch(*engine, with).empty()) {
        model = with;
        differs.clear();
      }
    }
    uncertain.reset();
    if (!differs.empty()) {
      CHECK_MSG(false, where + ": after reopen: " + differs);
      return;
    }
    if (iteration % 5 == 0) {
      const std::string search = search_mismatch(*engine, model, rng, kind, 1);
      CHECK_MSG(search.empty(), where + ": " + search);
    }

    op = ops[rng() % 5];
    error_number = errnos[rng() % 3];
    successes = rng() % 12;
    times = rng() % 3;
    env.fail(op, successes, error_number, times);
    if (tracing()) std::printf("  [%d] opened at LSN %llu; %s fails after %llu (times %llu)\n", iteration,
                               (unsigned long long)engine->stats().lsn, op_name(op), (unsigned long long)successes,
                               (unsigned long long)times);
    for (int step = 0; step < 8; ++step) {
      if (rng() % 6 == 0) {
        const bool compact = rng() % 3 == 0;
        Status checkpoint = engine->checkpoint(compact);
        if (tracing()) std::printf("  [%d] checkpoint(%d): %s\n", iteration, int(compact), status_text(checkpoint).c_str());
        CHECK_MSG(checkpoint.is_ok() || (checkpoint.code() == StatusCode::io_error &&
                                         contains(checkpoint.message(), errno_label(error_number))),
                  where + ": checkpoint: " + status_text(checkpoint));
        continue;
      }
      WriteBatch batch = random_write(rng, model, &next_id);
      Status written = engine->write(batch);
      if (tracing()) std::printf("  [%d] write op %d of %zu: %s (lsn %llu, checkpoints %llu)\n", iteration, int(batch.op),
                                 batch.size(), status_text(written).c_str(), (unsigned long long)engine->stats().lsn,
                                 (unsigned long long)engine->stats().checkpoints);
      if (written.is_ok()) {
        apply_to_model(batch, &model);
        continue;
      }
      CHECK_MSG(written.code() == StatusCode::io_error && contains(written.message(), errno_label(error_number)),
                where + ": write: " + status_text(written));
      uncertain = batch;
      break;  // the store is poisoned until reopened
    }
    env.clear_faults();
    const bool crashed = rng() % 2;
    if (tracing()) std::printf("  [%d] %s\n", iteration, crashed ? "crash" : "close");
    if (crashed) {
      crash(&engine, &env);
    } else {
      engine.reset();
    }
  }
  // Finally, through a plain Env, and verify.
  std::unique_ptr<Engine> engine;
  options.env = nullptr;
  CHECK_OK(Engine::open(options, &engine));
  if (engine) {
    std::string differs = mismatch(*engine, model);
    if (!differs.empty() && uncertain) {
      Model with = model;
      apply_to_model(*uncertain, &with);
      if (mismatch(*engine, with).empty()) differs.clear();
    }
    CHECK_MSG(differs.empty(), std::string(kind_name(kind)) + " final: " + differs);
  }
  engine.reset();
  std::string report;
  CHECK_OK(Engine::verify(dir.path(), &report));
}

}  // namespace

TEST(engine_random_fault_injection_flat) { random_fault_loop(kFlat, 200, loci::test::test_seed()); }
TEST(engine_random_fault_injection_atlas) { random_fault_loop(kAtlas, 150, loci::test::test_seed() + 1); }

LOCI_TEST_MAIN()
