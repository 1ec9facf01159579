// Opening a store: creating it or loading its checkpoint and replaying its WAL (read on
// this thread, applied on a second), verify, and one shared engine per directory in a
// process. Writes, reads and checkpoints are in engine.cpp.
#include <algorithm>
#include <cstdlib>
#include <tuple>
#include <unordered_map>

#include "engine/clock.h"
#include "engine/engine.h"
#include "index/atlas.h"
#include "index/exact_store.h"
#include "storage/log_format.h"
#include "sync/grow_map.h"

namespace loci::engine {
namespace {

bool starts_with(const std::string& text, const char* prefix) { return text.rfind(prefix, 0) == 0; }

// A file (or the wal/ directory) that only a Loci store holds; LOCK and MANIFEST.tmp
// are not counted (an open that failed early can leave them).
bool is_store_file(const std::string& name) {
  return name == "wal" || starts_with(name, "blobs.") || starts_with(name, "items.") || starts_with(name, "vectors.") ||
         starts_with(name, "pages.");
}

// "<kind>.<16 digits>" -> gen
bool parse_gen(const std::string& name, const char* kind, uint64_t* gen) {
  const size_t prefix = std::string(kind).size() + 1;
  if (name.size() != prefix + 16 || !starts_with(name, kind) || name[prefix - 1] != '.') return false;
  uint64_t value = 0;
  for (size_t i = prefix; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return false;
    value = value * 10 + (name[i] - '0');
  }
  *gen = value;
  return true;
}

index::AtlasOptions atlas_options(const storage::Manifest& shape, const EngineOptions& policy) {
  index::AtlasOptions options;
  options.replicas = policy.replicas;
  if (policy.build_fill != 0) options.build_fill = policy.build_fill;
  options.dim = shape.dim;
  options.metric = static_cast<index::Metric>(shape.metric);
  options.page_size = shape.page_size;
  options.fanout = shape.fanout;
  return options;
}

Status mismatch(const char* what, const std::string& stored, const std::string& given) {
  return Status::error(StatusCode::invalid_argument, std::string("the store was created with ") + what + " " + stored +
                                                         ", but open() was given " + given +
                                                         ": omit it or pass the stored value");
}

Status mismatch(const char* what, uint64_t stored, uint64_t given) {
  return mismatch(what, std::to_string(stored), std::to_string(given));
}

// The names users pass to Store.open (src/store.ts), for messages.
std::string enum_name(const char* what, int value) {
  static const char* const metrics[] = {"'l2'", "'ip'", "'cosine'"};
  static const char* const quantizations[] = {"'none'", "'int8'"};
  static const char* const indexes[] = {"'flat'", "'atlas'"};
  const std::string kind = what;
  if (kind == "metric" && value >= 0 && value < 3) return metrics[value];
  if (kind == "quantization" && value >= 0 && value < 2) return quantizations[value];
  if (kind == "index" && value >= 0 && value < 2) return indexes[value];
  return std::to_string(value);
}

// The shape options passed to open() against a store's stored shape: each one given
// (dim > 0, enums >= 0, sizes > 0) must equal the stored value.
Status check_shape(const EngineOptions& options, const storage::Manifest& stored_shape) {
  const storage::Manifest& s = stored_shape;
  if (options.dim && options.dim != s.dim) return mismatch("dim", s.dim, options.dim);
  for (auto [name, stored, given] : {std::tuple<const char*, int, int>{"metric", s.metric, options.metric},
                                     {"index", s.index, options.index},
                                     {"quantization", s.quantization, options.quantization}}) {
    if (given >= 0 && given != stored) return mismatch(name, enum_name(name, stored), enum_name(name, given));
  }
  if (options.page_size && options.page_size != s.page_size) return mismatch("pageSize", s.page_size, options.page_size);
  if (options.fanout && options.fanout != s.fanout) return mismatch("fanout", s.fanout, options.fanout);
  return Status::ok();
}

// The shape of a new store from open()'s options.
Status shape_from_options(const EngineOptions& options, storage::Manifest* shape) {
  if (options.dim == 0) return Status::error(StatusCode::invalid_argument, "dim is required to create a store");
  shape->dim = static_cast<uint32_t>(options.dim);
  shape->metric = static_cast<uint8_t>(options.metric < 0 ? 2 : options.metric);
  shape->index = static_cast<uint8_t>(options.index < 0 ? 0 : options.index);
  shape->quantization = static_cast<uint8_t>(options.quantization < 0 ? (shape->index == 1 ? 1 : 0) : options.quantization);
  shape->page_size = static_cast<uint32_t>(shape->index == 1 ? (options.page_size ? options.page_size : 262144) : 0);
  shape->fanout = static_cast<uint32_t>(shape->index == 1 ? (options.fanout ? options.fanout : 64) : 0);
  return Status::ok();
}

// A MANIFEST's fields that never change once the store exists (Engine::shape()).
storage::Manifest shape_of(const storage::Manifest& manifest) {
  storage::Manifest shape;
  shape.dim = manifest.dim;
  shape.metric = manifest.metric;
  shape.quantization = manifest.quantization;
  shape.index = manifest.index;
  shape.page_size = manifest.page_size;
  shape.fanout = manifest.fanout;
  return shape;
}

}  // namespace

// ---- open -----------------------------------------------------------------------------

Status Engine::open(const EngineOptions& options, std::unique_ptr<Engine>* result, OpenReport* report) {
  OpenReport local_report;
  if (!report) report = &local_report;
  *report = OpenReport{};
  std::unique_ptr<Engine> engine(new Engine());
  engine->options_ = options;
  engine->env_ = options.env ? options.env : storage::Env::posix();
  engine->dir_ = options.dir;
  // No other thread can reach the engine until open() returns; the lock is held so the
  // analysis checks what open() fills in like any other write. Declared after `engine`:
  // released before a failed open destroys it.
  sync::MutexLock commit_lock(engine->commit_mutex_);
  storage::Manifest manifest;

  if (engine->dir_.empty()) {
    LOCI_RETURN_IF_ERROR(shape_from_options(options, &manifest));
    engine->shape_ = shape_of(manifest);
    engine->manifest_ = manifest;
    LOCI_RETURN_IF_ERROR(engine->create_index());
    report->created = true;
    *result = std::move(engine);
    return Status::ok();
  }

  storage::Env* env = engine->env_;
  const std::string& dir = engine->dir_;
  if (options.dim == 0 && !env->exists(dir)) {
    return Status::error(StatusCode::invalid_argument, dir + " does not exist: pass dim to create a store there");
  }
  if (options.dim == 0 && !env->exists(storage::join_path(dir, "MANIFEST"))) {
    // Decided before taking the lock, so a refused open leaves no LOCK file behind.
    std::vector<std::string> names;
    LOCI_RETURN_IF_ERROR(env->list_dir(dir, &names));
    bool store_files = false;
    for (const std::string& name : names) {
      store_files |= is_store_file(name);
    }
    if (!store_files) return Status::error(StatusCode::invalid_argument, dir + " holds no Loci store: pass dim to create one");
  }
  LOCI_RETURN_IF_ERROR(env->create_dir(dir));
  LOCI_RETURN_IF_ERROR(env->lock(storage::join_path(dir, "LOCK"), &engine->lock_));
  Status read = storage::read_manifest(env, dir, &manifest);
  if (read.code() == StatusCode::not_found) {
    // A new store, unless files of one exist (then the MANIFEST was lost). Files left by a
    // creation that crashed before its MANIFEST (an empty arena and WAL) are redone.
    std::vector<std::string> names;
    LOCI_RETURN_IF_ERROR(env->list_dir(dir, &names));
    for (const std::string& name : names) {
      uint64_t size = 0;
      if (name == "LOCK" || name == "MANIFEST.tmp") continue;
      if (name == storage::blob_file_name(1) && env->file_size(storage::join_path(dir, name), &size).is_ok() &&
          size <= storage::kFileHeaderBytes) {
        continue;
      }
      if (name == "wal") {
        std::vector<std::string> wal_names;
        LOCI_RETURN_IF_ERROR(env->list_dir(wal_dir(dir), &wal_names));
        bool fresh = wal_names.empty() || (wal_names.size() == 1 && wal_names[0] == wal_file_name(1) &&
                                           env->file_size(storage::join_path(wal_dir(dir), wal_names[0]), &size).is_ok() &&
                                           size <= storage::kFileHeaderBytes);
        if (fresh) continue;
      }
      if (is_store_file(name)) {
        return Status::error(StatusCode::corrupt, storage::join_path(dir, "MANIFEST") +
                                                      " at offset 0: the MANIFEST is missing but the directory holds "
                                                      "store files (" + name + "); restore it from a backup");
      }
    }
    if (options.dim == 0) return Status::error(StatusCode::invalid_argument, dir + " holds no Loci store: pass dim to create one");
    LOCI_RETURN_IF_ERROR(shape_from_options(options, &manifest));
    engine->shape_ = shape_of(manifest);
    LOCI_RETURN_IF_ERROR(engine->create_index());
    manifest.arena_gen = 1;
    manifest.wal_seq = 1;
    manifest.created_ms = now_ms();
    std::unique_ptr<storage::BlobArena> arena;
    LOCI_RETURN_IF_ERROR(storage::BlobArena::create(env, dir, 1, &arena));
    engine->arena_ = std::move(arena);
    manifest.arena_bytes = engine->arena_->size();
    LOCI_RETURN_IF_ERROR(WalWriter::create(env, dir, 1, manifest.dim, &engine->wal_));
    LOCI_RETURN_IF_ERROR(env->sync_dir(wal_dir(dir)));
    manifest.checkpoint_ms = now_ms();
    LOCI_RETURN_IF_ERROR(storage::write_manifest(env, dir, manifest));
    engine->manifest_ = manifest;
    report->created = true;
  } else {
    LOCI_RETURN_IF_ERROR(read);
    LOCI_RETURN_IF_ERROR(check_shape(options, manifest));
    engine->shape_ = shape_of(manifest);
    engine->manifest_ = manifest;
    LOCI_RETURN_IF_ERROR(engine->load(report));
  }
  if (options.durability == Durability::interval) engine->syncer_ = std::thread([e = engine.get()] { e->sync_loop(); });
  *result = std::move(engine);
  return Status::ok();
}

Status Engine::create_index() {
  const storage::Manifest& s = shape_;
  if (s.index == 0) {
    std::unique_ptr<index::ExactStore> store;
    LOCI_RETURN_IF_ERROR(index::ExactStore::create(
        {s.dim, static_cast<index::Metric>(s.metric), static_cast<index::Quantization>(s.quantization)}, &store));
    index_ = std::move(store);
  } else if (s.index == 1) {
    std::unique_ptr<index::Atlas> atlas;
    LOCI_RETURN_IF_ERROR(index::Atlas::create(atlas_options(s, options_), &atlas));
    index_ = std::move(atlas);
  } else {
    return Status::error(StatusCode::invalid_argument, "unknown index kind: use 'flat' or 'atlas'");
  }
  return Status::ok();
}

Status Engine::load(OpenReport* report) {
  storage::Env* env = env_;
  const std::string& dir = dir_;
  const storage::Manifest& s = manifest_;
  auto started = std::chrono::steady_clock::now();
  if (s.checkpoint_gen == 0) {
    LOCI_RETURN_IF_ERROR(create_index());
  } else {
    std::unique_ptr<CheckpointReader> reader;
    LOCI_RETURN_IF_ERROR(CheckpointReader::open(
        env, dir, {s.dim, s.index == 1 ? s.page_size : 0, s.checkpoint_gen, s.checkpoint_lsn, s.arena_bytes}, &reader));
    // The item table is decoded and its hash map built on a thread of its own while the
    // index loads (its slots, id map, vectors, pages): both are mostly cache misses over
    // 1M ids, and one after the other they left a core idle.
    uint64_t live_bytes = 0;
    Status items_read;
    std::thread item_table([this, &reader, &items_read, &live_bytes] {
      sync::WriterLock lock(items_mutex_);  // uncontended: nothing else reads items_ during open
      sync::reserve_for_load(items_, reader->item_count());
      // Decoded straight into the table (a failed open discards the engine, table and all).
      items_read = reader->items([this, &live_bytes](ItemRecord&& item) NO_THREAD_SAFETY_ANALYSIS {
        live_bytes += item.blob.footprint();
        std::string id = std::move(item.id);  // the key holds the id; the value's stays empty
        items_.emplace(std::move(id), std::move(item));
      });
    });
    struct Joiner {  // joins on every return below, including errors
      std::thread& thread;
      ~Joiner() {
        if (thread.joinable()) thread.join();
      }
    } joiner{item_table};
    Status index_read;
    if (s.index == 0) {
      std::unique_ptr<index::ExactStore> store;
      index_read = index::ExactStore::load(
          {s.dim, static_cast<index::Metric>(s.metric), static_cast<index::Quantization>(s.quantization)}, reader.get(), &store);
      index_ = std::move(store);
    } else {
      std::unique_ptr<index::Atlas> atlas;
      index_read = index::Atlas::load(atlas_options(s, options_), reader.get(), &atlas);
      index_ = std::move(atlas);
    }
    item_table.join();
    // Damage to both: the item records come first in the file, so they are reported first.
    LOCI_RETURN_IF_ERROR(items_read);
    LOCI_RETURN_IF_ERROR(index_read);
    {
      sync::WriterLock lock(items_mutex_);
      arena_live_bytes_ = live_bytes;
      // Each id in both tables is checked by verify (below); open checks the counts.
      if (read_only_) {
        for (const auto& entry : items_) {
          if (!index_->contains(entry.first)) {
            return Status::error(StatusCode::corrupt, storage::join_path(dir, checkpoint_file_name("items", s.checkpoint_gen)) +
                                                          " at offset 0: item " + entry.first + " is not in the index");
          }
        }
      }
      if (items_.size() != index_->size()) {
        return Status::error(StatusCode::corrupt, storage::join_path(dir, checkpoint_file_name("items", s.checkpoint_gen)) +
                                                      " at offset 0: item table and index disagree on the number of items");
      }
    }
    uint64_t bytes = 0;
    for (const char* kind : {"items", "vectors", "pages"}) {
      uint64_t size = 0;
      if (env->file_size(storage::join_path(dir, checkpoint_file_name(kind, s.checkpoint_gen)), &size).is_ok()) bytes += size;
    }
    checkpoint_files_bytes_.store(bytes, std::memory_order_relaxed);
  }
  std::unique_ptr<storage::BlobArena> arena;
  LOCI_RETURN_IF_ERROR(storage::BlobArena::open(env, dir, s.arena_gen, s.arena_bytes, &arena, read_only_));
  arena_ = std::move(arena);
  report->load_ms = elapsed_ms(started);

  started = std::chrono::steady_clock::now();
  ReplayResult replay;
  {
    // This thread reads, checks and decodes the WAL, writes the blobs to the arena and
    // gathers groups; the pipeline's thread applies them to the index and item table.
    ReplayPipeline pipeline([this](ReplayGroup& group) { return apply_replayed(group); });
    replay_ = &pipeline;
    struct Detach {  // on every return below: the pipeline goes with this scope
      ReplayPipeline*& pointer;
      ~Detach() { pointer = nullptr; }
    } detach{replay_};
    LOCI_RETURN_IF_ERROR(replay_wal(env, dir, s.wal_seq, s.dim, s.checkpoint_lsn, options_.recovery, read_only_,
                                    [this](const BatchView& batch, uint64_t, const RecordPosition& position) {
                                      commit_mutex_.assert_held();  // replay_wal calls back on this thread, in this call
                                      return replay_batch(batch, position);
                                    },
                                    &replay));
    LOCI_RETURN_IF_ERROR(replay_flush());
    LOCI_RETURN_IF_ERROR(pipeline.finish());
  }
  replay_ids_.clear();
  LOCI_RETURN_IF_ERROR(arena_->flush());
  report->replay_ms = elapsed_ms(started);
  report->replayed_records = replay.records;
  report->replayed_bytes = replay.bytes;
  report->recovery_note = replay.note;
  lsn_.store(replay.last_lsn, std::memory_order_relaxed);
  checkpoint_lsn_.store(s.checkpoint_lsn, std::memory_order_relaxed);
  wal_bytes_since_checkpoint_.store(replay.bytes, std::memory_order_relaxed);
  if (read_only_) return Status::ok();
  uint64_t next_seq = 0;
  LOCI_RETURN_IF_ERROR(remove_empty_wal_tail(env, dir, replay, &next_seq));
  LOCI_RETURN_IF_ERROR(WalWriter::create(env, dir, next_seq, s.dim, &wal_));
  LOCI_RETURN_IF_ERROR(env->sync_dir(wal_dir(dir)));

  // Files no MANIFEST refers to: a checkpoint or a collection that crashed before its
  // MANIFEST switch, or one that crashed after it but before removing the old files.
  // The MANIFEST just read may itself not be durable yet (its rename's directory fsync
  // failed before a crash): make it so before removing what an older one names.
  LOCI_RETURN_IF_ERROR(env->sync_dir(dir));
  std::vector<std::string> names;
  LOCI_RETURN_IF_ERROR(env->list_dir(dir, &names));
  for (const std::string& name : names) {
    uint64_t gen = 0;
    bool stale = name == "MANIFEST.tmp" || (parse_gen(name, "blobs", &gen) && gen != s.arena_gen);
    for (const char* kind : {"items", "vectors", "pages"}) {
      if (parse_gen(name, kind, &gen) && gen != s.checkpoint_gen) stale = true;
    }
    if (stale) LOCI_RETURN_IF_ERROR(env->remove_file(storage::join_path(dir, name)));
  }
  return Status::ok();
}

Status Engine::apply_replayed(ReplayGroup& group) {
  Status applied = apply(group.batch, group.refs);
  if (applied.is_ok()) return applied;
  return Status::error(StatusCode::corrupt, group.first_path + " at offset " + std::to_string(group.first_offset) +
                                                ": a record of the group replayed from here does not apply: " + applied.message());
}

Status Engine::replay_batch(const BatchView& batch, const RecordPosition& position) {
  // A batch joins the group being filled if it is of the same kind and touches none of
  // its ids (then applying both at once is the same as applying them in turn).
  constexpr size_t kReplayGroup = 4096;
  ReplayGroup* group = &replay_->filling();
  bool joins = group->size() == 0 || (group->batch.op == batch.op && group->size() + batch.size() <= kReplayGroup);
  const std::hash<std::string_view> hash;  // the same as std::hash<std::string>
  for (size_t i = 0; joins && i < batch.size(); ++i) joins = !replay_ids_.count(hash(batch.ids[i]));
  if (!joins) {
    LOCI_RETURN_IF_ERROR(replay_flush());
    group = &replay_->filling();
  }
  WriteBatch& pending = group->batch;
  // Vectors first: a bad one fails the record before any of it joins the group.
  if (batch.op != BatchOp::remove) LOCI_RETURN_IF_ERROR(batch.append_vectors(shape_.dim, &pending.vectors));
  if (group->size() == 0) {
    group->first_path = position.path;
    group->first_offset = position.offset;
  }
  const size_t first = group->refs.size();
  group->refs.resize(first + batch.size());
  // verify replays into memory only: the texts were checked by the record's CRC.
  // The group's blobs gather in group_blobs_ (no group commit runs during open: its
  // scratch is free) and reach the arena's buffer in one append when the group is
  // handed over.
  if (batch.op != BatchOp::remove && !read_only_) {
    for (size_t i = 0; i < batch.size(); ++i) arena_->encode(batch.texts[i], batch.metas[i], &group_blobs_, &group->refs[first + i]);
  }
  pending.op = batch.op;
  for (size_t i = 0; i < batch.size(); ++i) {
    replay_ids_.insert(hash(batch.ids[i]));
    pending.ids.emplace_back(batch.ids[i]);
  }
  if (batch.op != BatchOp::remove) pending.times.insert(pending.times.end(), batch.times.begin(), batch.times.end());
  return Status::ok();
}

Status Engine::replay_flush() {
  replay_ids_.clear();
  if (!group_blobs_.empty()) {
    LOCI_RETURN_IF_ERROR(arena_->append_buffered(std::move(group_blobs_)));
  }
  return replay_->hand_over();
}

Status Engine::verify(const std::string& dir, std::string* report, storage::Env* env) {
  std::unique_ptr<Engine> engine(new Engine());
  engine->env_ = env ? env : storage::Env::posix();
  engine->dir_ = dir;
  engine->read_only_ = true;
  engine->options_.recovery = RecoveryMode::tolerate_torn_tail;
  if (!engine->env_->exists(storage::join_path(dir, "MANIFEST"))) {
    std::vector<std::string> names;
    bool store_files = false;
    if (engine->env_->list_dir(dir, &names).is_ok()) {
      for (const std::string& name : names) store_files |= is_store_file(name);
    }
    if (store_files) {
      return Status::error(StatusCode::corrupt, storage::join_path(dir, "MANIFEST") +
                                                    " at offset 0: the MANIFEST is missing but the directory holds store files");
    }
    return Status::error(StatusCode::invalid_argument, dir + " is not a Loci store (it has no MANIFEST)");
  }
  LOCI_RETURN_IF_ERROR(engine->env_->lock(storage::join_path(dir, "LOCK"), &engine->lock_));
  storage::Manifest manifest;
  LOCI_RETURN_IF_ERROR(storage::read_manifest(engine->env_, dir, &manifest));
  // As in open(): the engine is this thread's alone; held for the analysis. Released
  // before the engine is destroyed.
  sync::MutexLock commit_lock(engine->commit_mutex_);
  engine->shape_ = shape_of(manifest);
  engine->manifest_ = manifest;
  OpenReport open;
  LOCI_RETURN_IF_ERROR(engine->load(&open));
  Status invariants = engine->index_->check();
  if (!invariants.is_ok()) return Status::error(StatusCode::corrupt, dir + ": index " + invariants.message());
  uint64_t blobs = 0;
  size_t items = 0;
  std::string text, meta;
  {
    sync::ReaderLock lock(engine->items_mutex_);
    items = engine->items_.size();
    for (const auto& entry : engine->items_) {
      if (entry.second.blob.empty()) continue;
      LOCI_RETURN_IF_ERROR(engine->arena_->read(entry.second.blob, &text, &meta));
      ++blobs;
    }
  }
  const storage::Manifest& s = manifest;
  *report = "MANIFEST: dim " + std::to_string(s.dim) + ", checkpoint " + std::to_string(s.checkpoint_gen) + " at LSN " +
            std::to_string(s.checkpoint_lsn) + "\nitems: " + std::to_string(items) +
            " (index checked: " + std::to_string(engine->index_->size()) + " live)\nblobs: " + std::to_string(blobs) +
            " checked in " + engine->arena_->path() + "\nWAL: " + std::to_string(open.replayed_records) +
            " records after the checkpoint (" + std::to_string(open.replayed_bytes) + " bytes)\n";
  if (!open.recovery_note.empty()) *report += "note: a torn tail (an unacknowledged write cut by a crash) would be dropped at open:" + open.recovery_note + "\n";
  sync::MutexLock error_lock(engine->error_mutex_);
  engine->closed_ = true;
  return Status::ok();
}

}  // namespace loci::engine

// ---- sharing one engine per directory in a process ----------------------------------------

namespace loci::engine {
namespace {

struct SharedEngine {
  std::shared_ptr<Engine> engine;
  size_t users = 0;
};

// Never destroyed: worker threads may still use it while the process exits. Its mutex
// comes before every engine mutex: release() closes an engine holding it.
struct Registry {
  sync::Mutex mutex;
  std::unordered_map<std::string, SharedEngine> by_dir GUARDED_BY(mutex);  // key: the directory's real path
};

Registry& registry() {
  static Registry* instance = new Registry();
  return *instance;
}

std::string canonical_dir(const std::string& dir) {
  char* resolved = ::realpath(dir.c_str(), nullptr);
  if (!resolved) return dir;
  std::string path(resolved);
  std::free(resolved);
  return path;
}

}  // namespace

Status Engine::acquire(const EngineOptions& options, std::shared_ptr<Engine>* result, OpenReport* report) {
  if (options.dir.empty()) {
    std::unique_ptr<Engine> engine;
    LOCI_RETURN_IF_ERROR(open(options, &engine, report));
    *result = std::move(engine);
    return Status::ok();
  }
  Registry& shared = registry();
  // Held across the open, so two threads opening one directory get one engine.
  sync::MutexLock lock(shared.mutex);
  const std::string key = canonical_dir(options.dir);
  auto found = shared.by_dir.find(key);
  if (found != shared.by_dir.end()) {
    Engine& engine = *found->second.engine;
    const storage::Manifest& s = engine.shape();
    LOCI_RETURN_IF_ERROR(check_shape(options, s));
    LOCI_RETURN_IF_ERROR(engine.poisoned());
    ++found->second.users;
    if (report) *report = OpenReport{};
    *result = found->second.engine;
    return Status::ok();
  }
  std::unique_ptr<Engine> engine;
  LOCI_RETURN_IF_ERROR(open(options, &engine, report));
  std::shared_ptr<Engine> opened(std::move(engine));
  shared.by_dir[key] = SharedEngine{opened, 1};
  opened->registry_key_ = key;
  *result = std::move(opened);
  return Status::ok();
}

Status Engine::release(std::shared_ptr<Engine> engine) {
  if (!engine) return Status::ok();
  if (engine->registry_key_.empty()) return engine->close();
  Registry& shared = registry();
  // The last user closes under the registry lock, so an open of the same directory
  // from another thread waits for the close (and its LOCK release) instead of failing.
  sync::MutexLock lock(shared.mutex);
  auto found = shared.by_dir.find(engine->registry_key_);
  if (found == shared.by_dir.end() || found->second.engine != engine) return Status::ok();
  if (--found->second.users > 0) return Status::ok();
  shared.by_dir.erase(found);
  return engine->close();
}

}  // namespace loci::engine
