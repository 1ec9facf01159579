// Epoch-based reclamation (EBR): readers pin an epoch while they use shared objects;
// writers retire objects they have unlinked and free them once no reader pinned at or
// before the retiring epoch is still pinned. Readers take no lock and write only their
// own slot (one cache line each), so searches never wait for writers.
//
// The protocol (every atomic below is sequentially consistent, which is what makes it
// correct; see the proof sketch in epoch.cpp):
//   reader:  pin()   slot = global epoch        ... load shared pointers ...   unpin() slot = idle
//   writer:  unlink object (atomic store), retire(object): tag = global epoch, then
//            advance the global epoch; reclaim() frees objects whose tag < every pinned slot.
//
// One domain per process (EpochDomain::global()): a thread gets a slot on its first pin
// and gives it back when it exits. Pins nest (a thread already pinned pins again for free).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "sync/thread_annotations.h"

namespace loci::sync {

class EpochDomain {
 public:
  static constexpr size_t kMaxThreads = 1024;
  static constexpr uint64_t kIdle = 0;  // a slot's value when its thread is not pinned

  /// The process-wide domain (never destroyed: threads may pin while the process exits).
  static EpochDomain& global();

  EpochDomain();
  ~EpochDomain();  // frees everything still retired
  EpochDomain(const EpochDomain&) = delete;
  EpochDomain& operator=(const EpochDomain&) = delete;

  /// Marks the calling thread as reading. Cheap: one load and one exchange.
  void pin();
  void unpin();

  /// Hands `object` to `free_object` once no reader can still see it. Call after the
  /// object is unreachable for new readers. Thread-safe.
  void retire(void* object, void (*free_object)(void*));
  template <class T>
  void retire(T* object) {
    retire(object, [](void* p) { delete static_cast<T*>(p); });
  }
  /// Frees what no pinned reader can see; returns how many objects it freed.
  size_t reclaim();

  /// For reclamation the owner does itself (e.g. reusing an index slot): call after
  /// unlinking, keep the tag, and reuse once passed(tag). Like retire() without an object.
  uint64_t advance() { return epoch_.fetch_add(1); }
  /// True once no reader that pinned before advance() returned `tag` is still pinned.
  bool passed(uint64_t tag) const { return tag < oldest_pinned(); }
  /// The smallest epoch a reader is pinned at (UINT64_MAX when none is).
  uint64_t oldest_pinned() const;

  uint64_t epoch() const { return epoch_.load(); }
  size_t retired() const;

  /// Scoped pin.
  class Guard {
   public:
    explicit Guard(EpochDomain& domain) : domain_(&domain) { domain_->pin(); }
    ~Guard() {
      if (domain_) domain_->unpin();
    }
    Guard(Guard&& other) noexcept : domain_(other.domain_) { other.domain_ = nullptr; }
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
    Guard& operator=(Guard&&) = delete;

   private:
    EpochDomain* domain_;
  };

 private:
  struct alignas(64) Slot {
    std::atomic<uint64_t> epoch{kIdle};
    std::atomic<bool> taken{false};
  };
  struct Retired {
    void* object;
    void (*free_object)(void*);
    uint64_t tag;  // the epoch in which it was still reachable
  };
  struct ThreadState;

  size_t claim_slot();
  void release_slot(size_t slot);
  ThreadState& thread_state();

  const uint64_t id_;  // tells domains apart even when one reuses another's address
  std::atomic<uint64_t> epoch_{1};
  Slot slots_[kMaxThreads];
  std::atomic<size_t> slot_limit_{0};  // slots [0, limit) may be taken
  mutable Mutex retired_mutex_;
  std::vector<Retired> retired_ GUARDED_BY(retired_mutex_);
};

}  // namespace loci::sync
