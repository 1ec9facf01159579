#include "engine/replay_pipeline.h"

#include <utility>

namespace loci::engine {

void ReplayGroup::clear() {
  batch.ids.clear();
  batch.vectors.clear();
  batch.times.clear();
  batch.texts.clear();
  batch.metas.clear();
  refs.clear();
}

ReplayPipeline::ReplayPipeline(ApplyFunction apply) : apply_(std::move(apply)), filling_(new ReplayGroup) {
  {
    sync::MutexLock lock(mutex_);
    for (int i = 0; i < 2; ++i) free_.emplace_back(new ReplayGroup);
  }
  applier_ = std::thread([this] { run(); });
}

ReplayPipeline::~ReplayPipeline() {
  if (!applier_.joinable()) return;
  {
    // Not finished: the replay failed, so what is still queued is dropped, not applied.
    sync::MutexLock lock(mutex_);
    queued_.clear();
    stopping_ = true;
    changed_.notify_all();
  }
  applier_.join();
}

void ReplayPipeline::run() {
  sync::MutexLock lock(mutex_);
  for (;;) {
    while (queued_.empty() && !stopping_) changed_.wait(mutex_);
    if (queued_.empty()) return;  // stopping, and everything queued is applied
    std::unique_ptr<ReplayGroup> group = std::move(queued_.front());
    queued_.pop_front();
    const bool skip = !error_.is_ok();
    lock.unlock();
    Status applied = skip ? Status::ok() : apply_(*group);
    group->clear();
    lock.lock();
    if (error_.is_ok() && !applied.is_ok()) error_ = applied;
    free_.push_back(std::move(group));
    changed_.notify_all();
  }
}

Status ReplayPipeline::hand_over() {
  sync::MutexLock lock(mutex_);
  if (!error_.is_ok()) return error_;
  if (filling_->size() == 0) return Status::ok();
  queued_.push_back(std::move(filling_));
  changed_.notify_all();
  while (free_.empty()) changed_.wait(mutex_);
  filling_ = std::move(free_.back());
  free_.pop_back();
  return error_;
}

Status ReplayPipeline::finish() {
  if (!applier_.joinable()) {
    sync::MutexLock lock(mutex_);
    return error_;
  }
  Status handed = hand_over();
  {
    sync::MutexLock lock(mutex_);
    stopping_ = true;
    changed_.notify_all();
  }
  applier_.join();
  sync::MutexLock lock(mutex_);
  return error_.is_ok() ? handed : error_;
}

}  // namespace loci::engine
