// Epoch-based reclamation (sync/epoch.h): nothing a pinned reader can still see is
// freed, everything else is, pins nest, and threads give their slot back when they exit.
// The stress case runs readers against a writer that keeps replacing and retiring the
// object they read; under ASan (and TSan, scripts/test-tsan.sh) a premature free or a
// race is reported.
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "harness.h"
#include "sync/epoch.h"

using loci::sync::EpochDomain;

namespace {

constexpr uint64_t kAlive = 0xA11CEA11CEA11CEull;
constexpr uint64_t kDead = 0xDEADDEADDEADDEADull;

struct Node {
  uint64_t canary = kAlive;
  uint64_t value = 0;
  uint64_t twice = 0;  // always 2 * value while alive
};

std::atomic<uint64_t> freed_count{0};

void free_node(void* p) {
  auto* node = static_cast<Node*>(p);
  node->canary = kDead;
  freed_count.fetch_add(1);
  delete node;
}

}  // namespace

TEST(epoch_nothing_pinned_is_freed_until_unpinned) {
  EpochDomain domain;
  freed_count = 0;
  domain.pin();
  domain.retire(new Node(), free_node);
  CHECK(domain.reclaim() == 0);
  CHECK(domain.retired() == 1);
  domain.unpin();
  CHECK(domain.reclaim() == 1);
  CHECK(freed_count.load() == 1);
  CHECK(domain.retired() == 0);
}

TEST(epoch_objects_retired_before_a_pin_are_freed_while_it_lasts) {
  EpochDomain domain;
  freed_count = 0;
  domain.retire(new Node(), free_node);  // unreachable before the pin below
  domain.pin();
  CHECK(domain.reclaim() == 1);
  domain.retire(new Node(), free_node);  // retired while pinned: kept
  CHECK(domain.reclaim() == 0);
  domain.unpin();
  CHECK(domain.reclaim() == 1);
}

TEST(epoch_pins_nest) {
  EpochDomain domain;
  domain.pin();
  domain.pin();
  domain.retire(new Node(), free_node);
  domain.unpin();
  CHECK(domain.reclaim() == 0);  // still pinned once
  domain.unpin();
  CHECK(domain.reclaim() == 1);
  domain.unpin();  // an extra unpin is harmless
  CHECK(domain.reclaim() == 0);
}

TEST(epoch_a_pin_in_another_thread_holds_objects) {
  EpochDomain domain;
  std::atomic<int> stage{0};
  std::thread reader([&] {
    EpochDomain::Guard guard(domain);
    stage = 1;
    while (stage.load() != 2) std::this_thread::yield();
  });
  while (stage.load() != 1) std::this_thread::yield();
  domain.retire(new Node(), free_node);
  CHECK(domain.reclaim() == 0);
  stage = 2;
  reader.join();
  CHECK(domain.reclaim() == 1);
}

TEST(epoch_exited_threads_give_their_slots_back) {
  EpochDomain domain;
  // More threads in turn than there are slots: each exit must free its slot.
  for (size_t round = 0; round < EpochDomain::kMaxThreads + 200; round += 8) {
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) threads.emplace_back([&] { EpochDomain::Guard guard(domain); });
    for (auto& thread : threads) thread.join();
  }
  domain.retire(new Node(), free_node);
  CHECK(domain.reclaim() == 1);
}

TEST(epoch_stress_readers_never_see_a_freed_object) {
  EpochDomain domain;
  std::atomic<Node*> shared{new Node()};
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> reads{0}, bad{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      uint64_t local = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        EpochDomain::Guard guard(domain);
        Node* node = shared.load();
        if (node->canary != kAlive || node->twice != 2 * node->value) bad.fetch_add(1);
        ++local;
      }
      reads.fetch_add(local);
    });
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(800);
  uint64_t writes = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    Node* fresh = new Node();
    fresh->value = ++writes;
    fresh->twice = 2 * fresh->value;
    Node* old = shared.exchange(fresh);
    domain.retire(old, free_node);
    if (writes % 64 == 0) domain.reclaim();
  }
  stop = true;
  for (auto& reader : readers) reader.join();
  domain.reclaim();
  CHECK(bad.load() == 0);
  CHECK(writes > 1000);
  CHECK(reads.load() > 1000);
  CHECK(domain.retired() == 0);  // no reader pinned any more: everything went
  delete shared.load();
}

LOCI_TEST_MAIN()
