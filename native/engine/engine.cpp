// The engine at work: group-committed writes, reads, checkpoints, close and stats.
// Opening, recovery and verify are in engine_open.cpp.
#include "engine/engine.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <thread>
#include <tuple>
#include <unordered_set>

#include "engine/clock.h"
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

}  // namespace

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
      if (batch.op == BatchOp::add && (repeated || exists(id))) {
        check = index::id_exists(id, repeated);
        break;
      }
      if (batch.op == BatchOp::remove && !repeated && !exists(id)) {
        check = index::delete_of_unknown_id(id);
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
    // Validated already: by commit_group before its WAL record was written, or, replayed,
    // by the record's decoding (wal.cpp) and the replay group's distinct ids.
    LOCI_RETURN_IF_ERROR(index_->add_validated(batch.ids, batch.vector_data(), batch.size(),
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
