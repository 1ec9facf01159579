#include "engine/engine.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <thread>
#include <tuple>
#include <unordered_set>

#include "index/atlas.h"
#include "index/exact_store.h"
#include "index/validate.h"
#include "storage/log_format.h"
#include "sync/grow_map.h"

namespace loci::engine {

// Not annotated (its lock is the engine's): `done` is read and written under
// queue_mutex_; the leader sets `status` without it, before it sets `done`, and the
// writer reads `status` only once it has seen `done`.
struct PendingWrite {
  WriteBatch batch;
  Status status;
  bool done = false;
};

namespace {

constexpr uint8_t kBatchRecordType = 1;
constexpr uint64_t kArenaCollectMinDead = 1u << 20;
// Group-commit scratch (encoded records and blobs) is reused between groups up to this
// capacity and released above it.
constexpr size_t kGroupScratchKeepBytes = size_t(16) << 20;

uint64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

double elapsed_ms(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - since).count();
}

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
    std::vector<ItemRecord> items;
    LOCI_RETURN_IF_ERROR(reader->items(&items));
    // The item table's hash map is built on the second core while the index loads
    // (its own id map, vectors, pages): both are mostly cache misses over 1M ids.
    uint64_t live_bytes = 0;
    std::thread item_table([this, &items, &live_bytes] {
      sync::WriterLock lock(items_mutex_);  // uncontended: nothing else reads items_ during open
      sync::reserve_for_load(items_, items.size());
      for (ItemRecord& item : items) {
        live_bytes += item.blob.footprint();
        std::string id = std::move(item.id);  // the key holds the id; the value's stays empty
        items_.emplace(std::move(id), std::move(item));
      }
    });
    struct Joiner {  // joins on every return below, including errors
      std::thread& thread;
      ~Joiner() {
        if (thread.joinable()) thread.join();
      }
    } joiner{item_table};
    if (s.index == 0) {
      std::unique_ptr<index::ExactStore> store;
      LOCI_RETURN_IF_ERROR(index::ExactStore::load(
          {s.dim, static_cast<index::Metric>(s.metric), static_cast<index::Quantization>(s.quantization)}, reader.get(), &store));
      index_ = std::move(store);
    } else {
      std::unique_ptr<index::Atlas> atlas;
      LOCI_RETURN_IF_ERROR(index::Atlas::load(atlas_options(s, options_), reader.get(), &atlas));
      index_ = std::move(atlas);
    }
    item_table.join();
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
                                    [this](WriteBatch& batch, uint64_t, const RecordPosition& position) {
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
  LOCI_RETURN_IF_ERROR(WalWriter::create(env, dir, std::max(replay.last_seq, s.wal_seq) + 1, s.dim, &wal_));
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

Status Engine::replay_batch(WriteBatch& batch, const RecordPosition& position) {
  // A batch joins the group being filled if it is of the same kind and touches none of
  // its ids (then applying both at once is the same as applying them in turn).
  constexpr size_t kReplayGroup = 4096;
  ReplayGroup* group = &replay_->filling();
  bool joins = group->size() == 0 || (group->batch.op == batch.op && group->size() + batch.size() <= kReplayGroup);
  const std::hash<std::string> hash;
  for (size_t i = 0; joins && i < batch.size(); ++i) joins = !replay_ids_.count(hash(batch.ids[i]));
  if (!joins) {
    LOCI_RETURN_IF_ERROR(replay_flush());
    group = &replay_->filling();
  }
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
  WriteBatch& pending = group->batch;
  pending.op = batch.op;
  for (size_t i = 0; i < batch.size(); ++i) {
    replay_ids_.insert(hash(batch.ids[i]));
    pending.ids.push_back(std::move(batch.ids[i]));
  }
  if (batch.op != BatchOp::remove) {
    pending.vectors.insert(pending.vectors.end(), batch.vectors.begin(), batch.vectors.end());
    pending.times.insert(pending.times.end(), batch.times.begin(), batch.times.end());
  }
  return Status::ok();
}

Status Engine::replay_flush() {
  replay_ids_.clear();
  if (!group_blobs_.empty()) {
    LOCI_RETURN_IF_ERROR(arena_->append_buffered(std::move(group_blobs_)));
  }
  return replay_->hand_over();
}

Engine::~Engine() { close(); }

// ---- writes ---------------------------------------------------------------------------

std::shared_ptr<PendingWrite> Engine::submit(WriteBatch batch) {
  auto write = std::make_shared<PendingWrite>();
  write->batch = std::move(batch);
  sync::MutexLock lock(queue_mutex_);
  queue_.push_back(write);
  return write;
}

Status Engine::commit(const std::shared_ptr<PendingWrite>& write) {
  sync::MutexLock lock(queue_mutex_);
  while (!write->done && leader_active_) queue_cv_.wait(queue_mutex_);
  if (write->done) return write->status;
  // Lead: commit everything queued so far, in queue order (which is call order).
  leader_active_ = true;
  std::vector<std::shared_ptr<PendingWrite>> group(queue_.begin(), queue_.end());
  lock.unlock();
  Status status;
  {
    sync::MutexLock commit_lock(commit_mutex_);
    status = commit_group(group);
  }
  // The batches are logged and applied: free their rows and strings here, on the
  // committing thread, rather than wherever a PendingWrite's last reference goes (for
  // the addon, the JS thread, where freeing a large batch would hold up the event loop).
  for (auto& member : group) {
    WriteBatch applied = std::move(member->batch);  // freed as it goes out of scope
  }
  lock.lock();
  for (auto& member : group) {
    if (!status.is_ok()) member->status = status;
    member->done = true;
    queue_.pop_front();
  }
  leader_active_ = false;
  queue_cv_.notify_all();
  return write->status;
}

Status Engine::poisoned() const {
  sync::MutexLock lock(error_mutex_);
  if (closed_) return Status::error(StatusCode::closed, "the store is closed: open it again with Store.open()");
  return background_error_;
}

void Engine::poison(const Status& status) {
  sync::MutexLock lock(error_mutex_);
  if (background_error_.is_ok()) {
    background_error_ = Status::error(status.code(), status.message() +
                                                         " (the store refuses writes until it is reopened; every write "
                                                         "acknowledged before this error is safe)");
  }
}

// Validates each batch against the store as the batches before it in the group leave
// it, writes the valid ones to the arena and the WAL, makes them durable, applies them.
Status Engine::commit_group(std::vector<std::shared_ptr<PendingWrite>>& group) {
  LOCI_RETURN_IF_ERROR(poisoned());
  std::unordered_map<std::string, bool> exists_after;  // ids touched by earlier batches of the group
  auto exists = [&](const std::string& id) {
    auto found = exists_after.find(id);
    return found != exists_after.end() ? found->second : index_->contains(id);
  };
  std::vector<PendingWrite*> valid;
  for (auto& member : group) {
    WriteBatch& batch = member->batch;
    // Values are checked here, on the pool, rather than on the JS thread that queued
    // the batch: scanning a large batch there would hold up the event loop.
    Status check = batch.op == BatchOp::remove ? Status::ok()
                                               : index::check_batch(batch.ids, batch.vector_data(), batch.size(), shape_.dim);
    if (!check.is_ok()) {
      member->status = check;
      continue;
    }
    std::unordered_set<std::string> seen;
    for (const std::string& id : batch.ids) {
      const bool repeated = !seen.insert(id).second;
      // The messages match the indexes' own checks (index/validate.cpp).
      if (batch.op == BatchOp::add && (repeated || exists(id))) {
        check = Status::error(StatusCode::already_exists, "id '" + id + "' already exists" +
                                                              (repeated ? " (it appears twice in this batch)" : "") +
                                                              ": use upsert() to replace a vector");
        break;
      }
      if (batch.op == BatchOp::remove && !repeated && !exists(id)) {
        check = Status::error(StatusCode::not_found,
                              "id '" + id + "' is not in the store: nothing was deleted (check with has())");
        break;
      }
    }
    if (!check.is_ok()) {
      member->status = check;
      continue;
    }
    for (const std::string& id : batch.ids) exists_after[id] = batch.op != BatchOp::remove;
    valid.push_back(member.get());
  }
  if (valid.empty()) return Status::ok();

  std::vector<std::vector<storage::BlobRef>> refs(valid.size());
  if (durable()) {
    // Scratch kept across groups (commit_mutex_ is held): no fresh pages per write.
    std::string& blobs = group_blobs_;
    std::string& records = group_records_;
    blobs.clear();
    records.clear();
    for (size_t b = 0; b < valid.size(); ++b) {
      WriteBatch& batch = valid[b]->batch;
      refs[b].resize(batch.size());
      if (batch.op != BatchOp::remove) {
        for (size_t i = 0; i < batch.size(); ++i) arena_->encode(batch.texts[i], batch.metas[i], &blobs, &refs[b][i]);
      }
      // Encoded in place after room for the record header, which is filled in after.
      const size_t start = records.size();
      records.append(storage::kRecordHeaderBytes, '\0');
      batch.encode(lsn_.load(std::memory_order_relaxed) + 1 + b, shape_.dim, &records);
      storage::seal_record(&records, start, kBatchRecordType);
    }
    Status io = arena_->append(blobs);
    if (io.is_ok()) io = wal_->append(records);
    if (io.is_ok() && options_.durability == Durability::sync) io = wal_->sync();
    if (!io.is_ok()) {
      poison(io);
      return io;
    }
    // No lock: the background syncer holds sync_mutex_ across its fsync, and a writer
    // must not wait for that.
    if (options_.durability == Durability::interval) wal_dirty_.store(true, std::memory_order_release);
    wal_bytes_since_checkpoint_.fetch_add(records.size(), std::memory_order_relaxed);
    // ...but not a huge one: a single 100,000-item batch would otherwise leave 400 MB
    // of scratch behind for good.
    if (records.capacity() > kGroupScratchKeepBytes) std::string().swap(records);
    if (blobs.capacity() > kGroupScratchKeepBytes) std::string().swap(blobs);
  } else {
    for (size_t b = 0; b < valid.size(); ++b) refs[b].resize(valid[b]->batch.size());
  }
  for (size_t b = 0; b < valid.size(); ++b) {
    Status applied = apply(valid[b]->batch, refs[b]);
    if (!applied.is_ok()) {
      // The WAL holds a batch the index refused: memory and log disagree from here.
      Status internal = Status::error(StatusCode::internal, "a logged batch failed to apply: " + applied.message());
      poison(internal);
      return internal;
    }
    lsn_.fetch_add(1, std::memory_order_relaxed);
  }
  groups_.fetch_add(1, std::memory_order_relaxed);
  batches_.fetch_add(valid.size(), std::memory_order_relaxed);
  if (durable() && wal_bytes_since_checkpoint_.load(std::memory_order_relaxed) >
                       std::max(options_.checkpoint_bytes, checkpoint_files_bytes_.load(std::memory_order_relaxed) / 4)) {
    // The group's writes are durable already: a failed checkpoint does not fail them.
    // It leaves the previous checkpoint and the whole WAL in place (and poisons the
    // store where the write path's own files are in doubt); it is retried after
    // another checkpoint_bytes of writes.
    if (!checkpoint_locked(false).is_ok()) wal_bytes_since_checkpoint_.store(0, std::memory_order_relaxed);
  }
  return Status::ok();
}

Status Engine::apply(WriteBatch& batch, const std::vector<storage::BlobRef>& refs) {
  if (batch.op == BatchOp::remove) {
    LOCI_RETURN_IF_ERROR(index_->remove(batch.ids));
  } else {
    LOCI_RETURN_IF_ERROR(index_->add(batch.ids, batch.vector_data(), batch.size(),
                                     batch.op == BatchOp::upsert ? index::WriteMode::upsert : index::WriteMode::insert));
  }
  if (batch.op != BatchOp::remove) grow_item_table(batch.size());
  sync::WriterLock lock(items_mutex_);
  for (size_t i = 0; i < batch.size(); ++i) {
    if (batch.op == BatchOp::remove) {
      auto found = items_.find(batch.ids[i]);
      if (found == items_.end()) continue;
      arena_live_bytes_ -= found->second.blob.footprint();
      items_.erase(found);
      continue;
    }
    // One hash lookup per item (each is a cache miss or two in a large table).
    auto [entry, inserted] = items_.try_emplace(batch.ids[i]);  // the map's key is the id
    if (!inserted) arena_live_bytes_ -= entry->second.blob.footprint();
    ItemRecord& item = entry->second;
    item.time = batch.times[i];
    item.blob = refs[i];
    if (!durable()) {
      item.text = batch.texts[i];
      item.meta = batch.metas[i];
    }
    arena_live_bytes_ += refs[i].footprint();
  }
  return Status::ok();
}

void Engine::grow_item_table(size_t adding) {
  // Durable stores only: their records are small (no text); in-memory ones would copy
  // every text.
  if (durable()) sync::grow_map_outside_lock(items_, items_mutex_, adding);
}

// ---- reads ----------------------------------------------------------------------------

Status Engine::get(const std::string& id, float* vector, ItemView* item) const {
  ItemRecord record;
  std::shared_ptr<storage::BlobArena> arena;
  {
    sync::ReaderLock lock(items_mutex_);
    auto found = items_.find(id);
    if (found == items_.end()) return index::unknown_id(id);
    record = found->second;
    arena = arena_for_readers();
  }
  if (vector) LOCI_RETURN_IF_ERROR(index_->get(id, vector));
  if (item) {
    item->time = record.time;
    if (arena) {
      LOCI_RETURN_IF_ERROR(arena->read(record.blob, &item->text, &item->meta));
    } else {
      item->text = std::move(record.text);
      item->meta = std::move(record.meta);
    }
  }
  return Status::ok();
}

bool Engine::contains(const std::string& id) const {
  sync::ReaderLock lock(items_mutex_);
  return items_.count(id) != 0;
}

size_t Engine::size() const {
  sync::ReaderLock lock(items_mutex_);
  return items_.size();
}

// ---- checkpoints ----------------------------------------------------------------------

Status Engine::checkpoint(bool compact) {
  if (!durable()) return poisoned();
  LOCI_RETURN_IF_ERROR(poisoned());
  // Hold the write queue like a group leader would.
  sync::MutexLock lock(queue_mutex_);
  while (leader_active_) queue_cv_.wait(queue_mutex_);
  leader_active_ = true;
  lock.unlock();
  Status status;
  {
    sync::MutexLock commit_lock(commit_mutex_);
    // Nothing written since the last checkpoint: its files already hold the store, and
    // rewriting gigabytes to say so again would be waste (a compaction still runs).
    const bool unchanged = !compact && manifest_.checkpoint_gen > 0 &&
                           lsn_.load(std::memory_order_relaxed) == manifest_.checkpoint_lsn;
    if (!unchanged) status = checkpoint_locked(compact);  // poisons the store itself where it must
  }
  lock.lock();
  leader_active_ = false;
  queue_cv_.notify_all();
  return status;
}

Status Engine::checkpoint_locked(bool compact) {
  storage::Env* env = env_;
  const std::string& dir = dir_;
  storage::Manifest next = manifest_;
  // Failures fall in two kinds. Writing the new generation's own files can fail and
  // leave everything as it was: the new files are removed and writes go on. A failure
  // on a file the write path shares (the arena's fsync), or one that leaves unknown
  // whether the commit point happened (the MANIFEST rename and the fsync after it),
  // poisons the store: after a failed fsync a later one can wrongly succeed, so only a
  // reopen, which recovers from what is really on disk, may write again.
  auto fatal = [this](const Status& status) {
    poison(status);
    return status;
  };
  // 1. New WAL file: writes after this checkpoint go there.
  std::unique_ptr<WalWriter> new_wal;
  LOCI_RETURN_IF_ERROR(WalWriter::create(env, dir, wal_->seq() + 1, shape_.dim, &new_wal));
  Status wal_dir_synced = env->sync_dir(wal_dir(dir));
  if (!wal_dir_synced.is_ok()) {
    env->remove_file(storage::join_path(wal_dir(dir), wal_file_name(new_wal->seq())));
    return wal_dir_synced;
  }
  {
    // The old file's records stay the only copy until this checkpoint commits (and for
    // good if it fails): make them durable before writes move on to the new file, or a
    // machine crash could keep later records and lose these (a hole in the LSNs).
    sync::MutexLock lock(sync_mutex_);
    Status synced = wal_->sync();
    if (!synced.is_ok()) {
      env->remove_file(storage::join_path(wal_dir(dir), wal_file_name(new_wal->seq())));
      return fatal(synced);
    }
    wal_->close();
    wal_ = std::move(new_wal);
    wal_dirty_ = false;
  }
  next.wal_seq = wal_->seq();

  // 2. Items in a stable order, and the arena: synced, or collected into a new generation.
  std::vector<ItemRecord> items;
  uint64_t dead = 0;
  {
    sync::ReaderLock lock(items_mutex_);
    items.reserve(items_.size());
    for (const auto& entry : items_) {
      items.push_back(entry.second);
      items.back().id = entry.first;
    }
    dead = arena_->size() - storage::kFileHeaderBytes - arena_live_bytes_;
  }
  std::sort(items.begin(), items.end(), [](const ItemRecord& a, const ItemRecord& b) { return a.blob.offset < b.blob.offset; });
  std::unique_ptr<storage::BlobArena> new_arena;
  if (compact || (dead > kArenaCollectMinDead && dead * 2 > arena_->size())) {
    LOCI_RETURN_IF_ERROR(storage::BlobArena::create(env, dir, manifest_.arena_gen + 1, &new_arena));
    std::string batch, text, meta;
    for (ItemRecord& item : items) {
      if (item.blob.empty()) continue;
      LOCI_RETURN_IF_ERROR(arena_->read(item.blob, &text, &meta));
      new_arena->encode(text, meta, &batch, &item.blob);
      if (batch.size() > (4u << 20)) {
        LOCI_RETURN_IF_ERROR(new_arena->append(batch));
        batch.clear();
      }
    }
    LOCI_RETURN_IF_ERROR(new_arena->append(batch));
    LOCI_RETURN_IF_ERROR(new_arena->sync());
    next.arena_gen = new_arena->gen();
    next.arena_bytes = new_arena->size();
  } else {
    Status synced = arena_->sync();
    if (!synced.is_ok()) return fatal(synced);
    next.arena_bytes = arena_->size();
  }
  uint64_t live = 0;
  for (const ItemRecord& item : items) live += item.blob.footprint();
  next.arena_live_bytes = live;

  // 3. The checkpoint files.
  next.checkpoint_gen = manifest_.checkpoint_gen + 1;
  next.checkpoint_lsn = lsn_.load(std::memory_order_relaxed);
  next.items = items.size();
  next.checkpoint_ms = now_ms();
  if (compact) index_->compact();
  std::unique_ptr<CheckpointWriter> writer;
  Status written = CheckpointWriter::create(
      env, dir, {shape_.dim, shape_.index == 1 ? shape_.page_size : 0, next.checkpoint_gen, next.checkpoint_lsn}, &writer);
  if (written.is_ok()) written = writer->items(items);
  if (written.is_ok()) written = index_->save(writer.get());
  if (written.is_ok()) written = writer->finish();
  // The new files' directory entries must be durable before a MANIFEST names them.
  if (written.is_ok()) written = env->sync_dir(dir);
  // 4. The commit point: MANIFEST.tmp written and synced, renamed over MANIFEST, the
  // directory synced. Once the rename is attempted its outcome is in doubt on failure.
  bool renamed = false;
  if (written.is_ok()) written = storage::write_manifest(env, dir, next, &renamed);
  if (!written.is_ok() && renamed) return fatal(written);  // keep the files it may name
  if (!written.is_ok()) {
    for (const char* kind : {"items", "vectors", "pages"}) env->remove_file(storage::join_path(dir, checkpoint_file_name(kind, next.checkpoint_gen)));
    if (new_arena) env->remove_file(new_arena->path());
    return written;
  }

  // 5. Switch in memory, then remove what the new MANIFEST no longer names.
  const storage::Manifest previous = manifest_;
  manifest_ = next;
  checkpoint_lsn_.store(next.checkpoint_lsn, std::memory_order_relaxed);
  if (new_arena) {
    sync::WriterLock lock(items_mutex_);
    for (const ItemRecord& item : items) items_[item.id].blob = item.blob;
    arena_ = std::move(new_arena);
    arena_live_bytes_ = live;
    env->remove_file(storage::join_path(dir, storage::blob_file_name(previous.arena_gen)));
  }
  if (previous.checkpoint_gen) {
    for (const char* kind : {"items", "vectors", "pages"}) {
      env->remove_file(storage::join_path(dir, checkpoint_file_name(kind, previous.checkpoint_gen)));
    }
  }
  std::vector<std::string> wal_names;
  if (env->list_dir(wal_dir(dir), &wal_names).is_ok()) {
    for (const std::string& name : wal_names) {
      if (name.size() == 20 && name < wal_file_name(next.wal_seq)) env->remove_file(storage::join_path(wal_dir(dir), name));
    }
  }
  // The originals just written are served from the new vectors file from now on: the
  // memory goes back to the system and the page cache holds them while RAM allows
  // (docs/architecture.md, "Memory"). If mapping fails they simply stay in memory.
  index_->map_saved_vectors(storage::join_path(dir, checkpoint_file_name("vectors", next.checkpoint_gen)), kVectorsRowsOffset);
  uint64_t bytes = 0;
  for (const char* kind : {"items", "vectors", "pages"}) {
    uint64_t size = 0;
    if (env->file_size(storage::join_path(dir, checkpoint_file_name(kind, next.checkpoint_gen)), &size).is_ok()) bytes += size;
  }
  checkpoint_files_bytes_.store(bytes, std::memory_order_relaxed);
  wal_bytes_since_checkpoint_.store(0, std::memory_order_relaxed);
  checkpoints_.fetch_add(1, std::memory_order_relaxed);
  return Status::ok();
}

// ---- background sync, close, stats -----------------------------------------------------

void Engine::sync_loop() {
  sync::MutexLock lock(sync_mutex_);
  while (!stop_syncer_) {
    sync_cv_.wait_for(sync_mutex_, std::chrono::milliseconds(options_.sync_interval_ms));
    if (stop_syncer_ || !wal_dirty_.exchange(false)) continue;
    Status synced = wal_for_syncer().sync();
    if (!synced.is_ok()) poison(synced);
  }
}

Status Engine::close() {
  {
    sync::MutexLock lock(error_mutex_);
    if (closed_) return Status::ok();
  }
  bool writable = false;  // no WAL: verify, or an open that failed before creating it
  {
    sync::MutexLock lock(commit_mutex_);
    writable = wal_ != nullptr;
  }
  Status status;
  if (durable() && writable) {
    // Writes are finished (the addon waits for them). A clean close leaves nothing to
    // replay, unless a write failed earlier (then the WAL is the safer record).
    if (poisoned().is_ok() && lsn_.load(std::memory_order_relaxed) > checkpoint_lsn_.load(std::memory_order_relaxed)) {
      status = checkpoint(false);
    }
    {
      sync::MutexLock lock(sync_mutex_);
      stop_syncer_ = true;
    }
    sync_cv_.notify_all();
    if (syncer_.joinable()) syncer_.join();
    sync::MutexLock lock(commit_mutex_);
    if (poisoned().is_ok()) {
      Status synced = wal_->sync();
      if (status.is_ok()) status = synced;
    }
    wal_->close();
  }
  {
    sync::MutexLock lock(error_mutex_);
    closed_ = true;
  }
  lock_.reset();
  return status;
}

EngineStats Engine::stats() const {
  EngineStats stats;
  stats.lsn = lsn_.load(std::memory_order_relaxed);
  stats.checkpoint_lsn = checkpoint_lsn_.load(std::memory_order_relaxed);
  stats.checkpoints = checkpoints_.load(std::memory_order_relaxed);
  stats.groups = groups_.load(std::memory_order_relaxed);
  stats.batches = batches_.load(std::memory_order_relaxed);
  if (durable()) {
    stats.wal_bytes = wal_bytes_since_checkpoint_.load(std::memory_order_relaxed);
    {
      sync::ReaderLock lock(items_mutex_);
      std::shared_ptr<storage::BlobArena> arena = arena_for_readers();
      stats.arena_bytes = arena ? arena->size() : 0;
      stats.arena_live_bytes = arena_live_bytes_;
    }
    stats.disk_bytes = checkpoint_files_bytes_.load(std::memory_order_relaxed) + stats.arena_bytes + stats.wal_bytes;
  }
  return stats;
}

storage::Manifest Engine::manifest() const {
  sync::MutexLock lock(commit_mutex_);
  return manifest_;
}

}  // namespace loci::engine

namespace loci::engine {

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
