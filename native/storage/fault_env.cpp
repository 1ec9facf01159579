// FaultInjectionEnv (see fault_env.h for the crash model). Directory-changing calls hold
// mutex_ across the call to the base Env, so the tracking always matches the disk.
#include "storage/fault_env.h"

#include <algorithm>
#include <utility>

#include "storage/errno_name.h"

namespace loci::storage {
namespace {

// The operation word a real failure of the same call would carry in env_posix.cpp, so
// an injected error reads exactly like one from the OS.
const char* operation_name(FaultOp op) {
  switch (op) {
    case FaultOp::append: return "write";
    case FaultOp::sync: return "fdatasync";
    case FaultOp::sync_dir: return "fsync directory";
    case FaultOp::rename: return "rename";
    case FaultOp::create: return "open";
  }
  return "unknown operation";
}

// "a/b/" -> "a/b", "/" stays "/", "" -> ".".
std::string normalize_dir(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir.empty() ? "." : dir;
}

std::string parent_dir(const std::string& path) {
  std::string trimmed = path;
  while (trimmed.size() > 1 && trimmed.back() == '/') trimmed.pop_back();
  size_t slash = trimmed.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return normalize_dir(trimmed.substr(0, slash));
}

class FaultWritableFile final : public WritableFile {
 public:
  FaultWritableFile(FaultInjectionEnv* env, std::unique_ptr<WritableFile> base) : env_(env), base_(std::move(base)) {}

  Status append(const void* data, size_t size) override {
    LOCI_RETURN_IF_ERROR(env_->check(FaultOp::append, base_->path()));
    return base_->append(data, size);
  }

  Status sync() override {
    LOCI_RETURN_IF_ERROR(env_->check(FaultOp::sync, base_->path()));
    LOCI_RETURN_IF_ERROR(base_->sync());
    env_->note_synced(base_->path(), base_->size());
    return Status::ok();
  }

  void start_writeback() override { base_->start_writeback(); }
  Status close() override { return base_->close(); }
  uint64_t size() const override { return base_->size(); }
  const std::string& path() const override { return base_->path(); }

 private:
  FaultInjectionEnv* env_;
  std::unique_ptr<WritableFile> base_;
};

}  // namespace

void FaultInjectionEnv::fail(FaultOp op, uint64_t successes, int error_number, uint64_t times) {
  sync::MutexLock guard(mutex_);
  Fault& fault = faults_[op];
  fault = Fault();
  fault.successes = successes;
  fault.error_number = error_number;
  fault.times = times;
  fault.armed = true;
}

void FaultInjectionEnv::clear_faults() {
  sync::MutexLock guard(mutex_);
  faults_.clear();
}

uint64_t FaultInjectionEnv::calls(FaultOp op) const {
  sync::MutexLock guard(mutex_);
  auto found = calls_.find(op);
  return found == calls_.end() ? 0 : found->second;
}

Status FaultInjectionEnv::check(FaultOp op, const std::string& path) {
  sync::MutexLock guard(mutex_);
  return check_locked(op, path);
}

Status FaultInjectionEnv::check_locked(FaultOp op, const std::string& path) {
  ++calls_[op];
  auto found = faults_.find(op);
  if (found == faults_.end() || !found->second.armed) return Status::ok();
  Fault& fault = found->second;
  // `successes` counts down the calls still allowed through before the first failure.
  if (fault.successes > 0) {
    --fault.successes;
    return Status::ok();
  }
  if (fault.times != 0 && fault.failed >= fault.times) {
    fault.armed = false;
    return Status::ok();
  }
  ++fault.failed;
  return os_error(operation_name(op), path, fault.error_number);
}

void FaultInjectionEnv::note_synced(const std::string& path, uint64_t size) {
  sync::MutexLock guard(mutex_);
  synced_size_[path] = size;
}

void FaultInjectionEnv::move_tracking_locked(const std::string& from, const std::string& to) {
  auto synced = synced_size_.find(from);
  if (synced != synced_size_.end()) {
    uint64_t size = synced->second;
    synced_size_.erase(synced);
    synced_size_[to] = size;
  } else {
    synced_size_.erase(to);  // an untracked file is durable as it stands
  }
  if (created_since_dir_sync_.erase(from) > 0) {
    created_since_dir_sync_.insert(to);
  } else {
    created_since_dir_sync_.erase(to);
  }
}

Status FaultInjectionEnv::new_writable(const std::string& path, bool truncate, std::unique_ptr<WritableFile>* file) {
  sync::MutexLock guard(mutex_);
  bool existed = base_->exists(path);
  if (!existed) LOCI_RETURN_IF_ERROR(check_locked(FaultOp::create, path));
  std::unique_ptr<WritableFile> base_file;
  LOCI_RETURN_IF_ERROR(base_->new_writable(path, truncate, &base_file));
  if (truncate || !existed) {
    synced_size_[path] = 0;
  } else if (synced_size_.count(path) == 0) {
    // Opened before by another Env or an earlier run: what is there now is durable.
    synced_size_[path] = base_file->size();
  }
  if (!existed) created_since_dir_sync_.insert(path);
  file->reset(new FaultWritableFile(this, std::move(base_file)));
  return Status::ok();
}

Status FaultInjectionEnv::new_random_access(const std::string& path, std::unique_ptr<RandomAccessFile>* file) {
  return base_->new_random_access(path, file);
}

Status FaultInjectionEnv::map(const std::string& path, std::unique_ptr<MappedFile>* file) {
  return base_->map(path, file);
}

Status FaultInjectionEnv::read_file(const std::string& path, std::string* contents) {
  return base_->read_file(path, contents);
}

bool FaultInjectionEnv::exists(const std::string& path) { return base_->exists(path); }

Status FaultInjectionEnv::file_size(const std::string& path, uint64_t* size) { return base_->file_size(path, size); }

Status FaultInjectionEnv::list_dir(const std::string& dir, std::vector<std::string>* names) {
  return base_->list_dir(dir, names);
}

Status FaultInjectionEnv::create_dir(const std::string& dir) { return base_->create_dir(dir); }

Status FaultInjectionEnv::remove_file(const std::string& path) {
  sync::MutexLock guard(mutex_);
  LOCI_RETURN_IF_ERROR(base_->remove_file(path));
  synced_size_.erase(path);
  created_since_dir_sync_.erase(path);
  // Removals count as durable at once, so a pending rename onto this path is settled:
  // undoing it later would resurrect the name.
  pending_renames_.erase(std::remove_if(pending_renames_.begin(), pending_renames_.end(),
                                        [&](const PendingRename& pending) { return pending.to == path; }),
                         pending_renames_.end());
  return Status::ok();
}

Status FaultInjectionEnv::rename(const std::string& from, const std::string& to) {
  sync::MutexLock guard(mutex_);
  LOCI_RETURN_IF_ERROR(check_locked(FaultOp::rename, from + " -> " + to));
  PendingRename pending;
  pending.from = from;
  pending.to = to;
  pending.unsynced_dirs = {parent_dir(from), parent_dir(to)};
  // A crash before the rename is durable brings back the file it replaced, as far as
  // that file was durable. A replaced file that was itself never made durable just goes.
  if (base_->exists(to) && created_since_dir_sync_.count(to) == 0) {
    LOCI_RETURN_IF_ERROR(base_->read_file(to, &pending.replaced_contents));
    auto synced = synced_size_.find(to);
    if (synced != synced_size_.end() && synced->second < pending.replaced_contents.size()) {
      pending.replaced_contents.resize(size_t(synced->second));
    }
    pending.restore_replaced = true;
  }
  LOCI_RETURN_IF_ERROR(base_->rename(from, to));
  move_tracking_locked(from, to);
  pending_renames_.push_back(std::move(pending));
  return Status::ok();
}

Status FaultInjectionEnv::truncate(const std::string& path, uint64_t size) {
  sync::MutexLock guard(mutex_);
  LOCI_RETURN_IF_ERROR(base_->truncate(path, size));
  // Pessimistic: the cut is taken as durable, and whatever was synced beyond it is gone.
  auto synced = synced_size_.find(path);
  if (synced != synced_size_.end()) synced->second = std::min(synced->second, size);
  return Status::ok();
}

Status FaultInjectionEnv::sync_dir(const std::string& dir) {
  sync::MutexLock guard(mutex_);
  LOCI_RETURN_IF_ERROR(check_locked(FaultOp::sync_dir, dir));
  LOCI_RETURN_IF_ERROR(base_->sync_dir(dir));
  std::string synced_dir = normalize_dir(dir);
  for (auto it = created_since_dir_sync_.begin(); it != created_since_dir_sync_.end();) {
    it = parent_dir(*it) == synced_dir ? created_since_dir_sync_.erase(it) : std::next(it);
  }
  for (PendingRename& pending : pending_renames_) pending.unsynced_dirs.erase(synced_dir);
  pending_renames_.erase(std::remove_if(pending_renames_.begin(), pending_renames_.end(),
                                        [](const PendingRename& pending) { return pending.unsynced_dirs.empty(); }),
                         pending_renames_.end());
  return Status::ok();
}

Status FaultInjectionEnv::lock(const std::string& path, std::unique_ptr<FileLock>* lock) {
  return base_->lock(path, lock);
}

Status FaultInjectionEnv::simulate_crash() {
  sync::MutexLock guard(mutex_);
  // Keep going after an error so the disk ends as close to the crash state as possible;
  // report the first error.
  Status first_error;
  auto note = [&first_error](Status status) {
    if (!status.is_ok() && first_error.is_ok()) first_error = std::move(status);
  };

  // Newest first, so a chain a -> b -> c unwinds to a.
  for (auto pending = pending_renames_.rbegin(); pending != pending_renames_.rend(); ++pending) {
    if (base_->exists(pending->to)) {
      Status moved_back = base_->rename(pending->to, pending->from);
      if (moved_back.is_ok()) move_tracking_locked(pending->to, pending->from);
      note(std::move(moved_back));
    }
    if (pending->restore_replaced) {
      std::unique_ptr<WritableFile> restored;
      Status status = base_->new_writable(pending->to, true, &restored);
      if (status.is_ok()) status = restored->append(pending->replaced_contents.data(), pending->replaced_contents.size());
      if (status.is_ok()) status = restored->sync();
      if (status.is_ok()) status = restored->close();
      note(std::move(status));
      synced_size_.erase(pending->to);
      created_since_dir_sync_.erase(pending->to);
    }
  }
  pending_renames_.clear();

  for (const auto& [path, synced] : synced_size_) {
    uint64_t size = 0;
    if (!base_->file_size(path, &size).is_ok()) continue;  // removed outside this Env
    if (size > synced) note(base_->truncate(path, synced));
  }
  for (const std::string& path : created_since_dir_sync_) {
    if (base_->exists(path)) note(base_->remove_file(path));
  }
  synced_size_.clear();
  created_since_dir_sync_.clear();
  return first_error;
}

}  // namespace loci::storage
