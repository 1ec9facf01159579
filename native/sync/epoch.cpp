// Why it is safe (all atomics sequentially consistent, so they fall in one total order):
// a reader that loaded a pointer to object O did so before the writer's unlink of O,
// and its pin (the store of epoch e into its slot) came before that load, so before the
// unlink, before retire() read the tag t (e <= t, since the epoch only grows), and
// before any later reclaim()'s scan of the slots, which therefore sees e <= t and keeps
// O. A reader whose pin the scan does not see pinned after the scan, hence after the
// unlink, and cannot reach O. O is freed only when every pinned slot holds an epoch > t.
#include "sync/epoch.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <unordered_set>

namespace loci::sync {

namespace {

std::atomic<uint64_t> next_domain_id{1};

// Domains alive now, so a thread that exits (or moves to another domain) gives its slot
// back only to a domain that still exists. Never destroyed: threads exit late.
struct LiveDomains {
  Mutex mutex;
  std::unordered_set<uint64_t> ids GUARDED_BY(mutex);
};
LiveDomains& live_domains() {
  static LiveDomains* live = new LiveDomains();
  return *live;
}

}  // namespace

struct EpochDomain::ThreadState {
  EpochDomain* domain = nullptr;
  uint64_t domain_id = 0;
  size_t slot = SIZE_MAX;
  unsigned depth = 0;  // nested pins
  void leave() {
    if (!domain || slot == SIZE_MAX) return;
    LiveDomains& live = live_domains();
    MutexLock lock(live.mutex);
    if (live.ids.count(domain_id)) domain->release_slot(slot);
    domain = nullptr;
    slot = SIZE_MAX;
  }
  ~ThreadState() { leave(); }
};

EpochDomain& EpochDomain::global() {
  static EpochDomain* domain = new EpochDomain();
  return *domain;
}

EpochDomain::EpochDomain() : id_(next_domain_id.fetch_add(1)) {
  LiveDomains& live = live_domains();
  MutexLock lock(live.mutex);
  live.ids.insert(id_);
}

EpochDomain::~EpochDomain() {
  {
    LiveDomains& live = live_domains();
    MutexLock lock(live.mutex);
    live.ids.erase(id_);
  }
  MutexLock lock(retired_mutex_);
  for (const Retired& item : retired_) item.free_object(item.object);
  retired_.clear();
}

size_t EpochDomain::claim_slot() {
  for (size_t i = 0; i < kMaxThreads; ++i) {
    bool expected = false;
    if (slots_[i].taken.compare_exchange_strong(expected, true)) {
      size_t limit = slot_limit_.load();
      while (limit < i + 1 && !slot_limit_.compare_exchange_weak(limit, i + 1)) {
      }
      return i;
    }
  }
  std::fprintf(stderr, "loci: more than %zu threads use stores at once\n", kMaxThreads);
  std::abort();
}

void EpochDomain::release_slot(size_t slot) {
  slots_[slot].epoch.store(kIdle);
  slots_[slot].taken.store(false);
}

EpochDomain::ThreadState& EpochDomain::thread_state() {
  // One slot per thread per domain; the global domain is the one in use, so a single
  // thread_local suffices (a thread that pins another domain too gets a second state).
  thread_local ThreadState global_state;
  thread_local ThreadState other_state;
  ThreadState& state = this == &global() ? global_state : other_state;
  if (state.domain_id != id_) {
    state.leave();
    state.domain = this;
    state.domain_id = id_;
    state.slot = claim_slot();
    state.depth = 0;
  }
  return state;
}

void EpochDomain::pin() {
  ThreadState& state = thread_state();
  if (state.depth++ > 0) return;
  // exchange, not store: a full barrier, so the loads of shared pointers that follow
  // cannot be ordered before the slot is published.
  slots_[state.slot].epoch.exchange(epoch_.load());
}

void EpochDomain::unpin() {
  ThreadState& state = thread_state();
  if (state.depth == 0) return;
  if (--state.depth > 0) return;
  slots_[state.slot].epoch.store(kIdle, std::memory_order_release);
}

void EpochDomain::retire(void* object, void (*free_object)(void*)) {
  const uint64_t tag = epoch_.fetch_add(1);  // readers pinning from now on cannot reach it
  MutexLock lock(retired_mutex_);
  retired_.push_back({object, free_object, tag});
}

uint64_t EpochDomain::oldest_pinned() const {
  uint64_t oldest = UINT64_MAX;
  const size_t limit = slot_limit_.load();
  for (size_t i = 0; i < limit; ++i) {
    const uint64_t pinned = slots_[i].epoch.load();
    if (pinned != kIdle) oldest = std::min(oldest, pinned);
  }
  return oldest;
}

size_t EpochDomain::reclaim() {
  const uint64_t oldest = oldest_pinned();
  std::vector<Retired> ready;
  {
    MutexLock lock(retired_mutex_);
    auto keep = std::partition(retired_.begin(), retired_.end(), [oldest](const Retired& item) { return item.tag >= oldest; });
    ready.assign(keep, retired_.end());
    retired_.erase(keep, retired_.end());
  }
  for (const Retired& item : ready) item.free_object(item.object);
  return ready.size();
}

size_t EpochDomain::retired() const {
  MutexLock lock(retired_mutex_);
  return retired_.size();
}

}  // namespace loci::sync
