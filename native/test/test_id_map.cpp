// IdMap against std::unordered_map under random inserts, upserts, erases, lookups,
// growth and copies: after every step both hold the same entries.
#include <random>
#include <string>
#include <unordered_map>

#include "common/id_map.h"
#include "harness.h"

namespace loci {
namespace {

void check_same(const IdMap<uint32_t>& map, const std::unordered_map<std::string, uint32_t>& model) {
  CHECK(map.size() == model.size());
  for (const auto& [key, value] : model) {
    auto found = map.find(key);
    CHECK_MSG(found != map.end() && found->second == value, key);
  }
  size_t seen = 0;
  for (const auto& [key, value] : map) {
    auto found = model.find(key);
    CHECK_MSG(found != model.end() && found->second == value, key);
    ++seen;
  }
  CHECK(seen == model.size());
}

TEST(id_map_matches_unordered_map_under_random_operations) {
  std::mt19937_64 random(test::test_seed());
  IdMap<uint32_t> map;
  std::unordered_map<std::string, uint32_t> model;
  // A small key space, so inserts collide with present keys and erases hit often; keys
  // long and short (SSO and heap strings).
  auto key_of = [](uint64_t n) { return n % 3 == 0 ? "id-with-a-long-prefix-past-sso-" + std::to_string(n) : std::to_string(n); };
  for (int step = 0; step < 200000; ++step) {
    const std::string key = key_of(random() % 3000);
    const uint32_t value = static_cast<uint32_t>(random());
    switch (random() % 5) {
      case 0: {
        auto [it, inserted] = map.try_emplace(key, value);
        auto [model_it, model_inserted] = model.try_emplace(key, value);
        CHECK(inserted == model_inserted);
        CHECK(it->second == model_it->second);
        break;
      }
      case 1:
        map[key] = value;
        model[key] = value;
        break;
      case 2:
      case 3: {
        auto found = map.find(key);
        CHECK((found != map.end()) == (model.count(key) == 1));
        if (found != map.end()) map.erase(found);
        model.erase(key);
        break;
      }
      case 4:
        CHECK(map.count(key) == model.count(key));
        break;
    }
    if (step % 20000 == 0) check_same(map, model);
  }
  check_same(map, model);
  // Erase down to empty, then refill: the index must hold no stale bucket.
  while (!map.empty()) map.erase(map.begin());
  CHECK(map.find("1") == map.end());
  model.clear();
  for (uint32_t n = 0; n < 5000; ++n) {
    map.emplace(key_of(n), n);
    model.emplace(key_of(n), n);
  }
  check_same(map, model);
}

TEST(id_map_reserve_copy_and_swap) {
  IdMap<uint32_t> map;
  map.reserve(1000);
  const size_t buckets = map.bucket_count();
  CHECK(buckets * map.max_load_factor() >= 1000);
  for (uint32_t n = 0; n < 1000; ++n) CHECK(map.try_emplace(std::to_string(n), n).second);
  CHECK(map.bucket_count() == buckets);  // reserved: no growth
  CHECK(!map.try_emplace("7", 99u).second);
  CHECK(map.find("7")->second == 7);
  IdMap<uint32_t> grown;
  grown.reserve(4000);
  grown.insert(map.begin(), map.end());
  std::unordered_map<std::string, uint32_t> model;
  for (uint32_t n = 0; n < 1000; ++n) model.emplace(std::to_string(n), n);
  check_same(grown, model);
  map.swap(grown);
  check_same(map, model);
  CHECK(grown.size() == 1000);
  map.clear();
  CHECK(map.empty() && map.count("1") == 0);
  CHECK(map.memory_bytes() == map.bucket_count() * 8);
}

TEST(id_map_collisions_in_one_probe_run) {
  // Keys chosen so many share a home bucket in a 16-bucket index: erasing from the
  // middle of long runs exercises the backward shift's wrap-around.
  IdMap<uint32_t> map;
  map.max_load_factor(0.9f);
  std::unordered_map<std::string, uint32_t> model;
  std::mt19937_64 random(test::test_seed() + 1);
  for (int round = 0; round < 2000; ++round) {
    for (int i = 0; i < 14; ++i) {
      const std::string key = "k" + std::to_string(random() % 40);
      map.try_emplace(key, uint32_t(i));
      model.try_emplace(key, uint32_t(i));
    }
    for (int i = 0; i < 10; ++i) {
      const std::string key = "k" + std::to_string(random() % 40);
      auto found = map.find(key);
      if (found != map.end()) map.erase(found);
      model.erase(key);
    }
    check_same(map, model);
  }
}

TEST(huge_page_allocator_serves_large_blocks_aligned_and_small_ones_from_the_heap) {
  HugePageAllocator<uint64_t> allocator;
  const size_t large = kHugeAllocationBytes / sizeof(uint64_t) + 1000;  // not a whole number of 2 MiB
  uint64_t* block = allocator.allocate(large);
  CHECK(reinterpret_cast<uintptr_t>(block) % kHugePageBytes == 0);
  for (size_t i = 0; i < large; ++i) block[i] = i;  // writable to its last byte
  CHECK(block[large - 1] == large - 1);
  allocator.deallocate(block, large);
  uint64_t* small = allocator.allocate(16);
  small[15] = 7;
  CHECK(small[15] == 7);
  allocator.deallocate(small, 16);
}

TEST(id_map_past_the_huge_page_threshold_keeps_every_entry) {
  // 300,000 entries: the entries (40 B each) and buckets both pass 4 MiB, and the
  // growth from small to large blocks moves them across allocation kinds.
  IdMap<uint32_t> map;
  for (uint32_t i = 0; i < 300000; ++i) CHECK(map.try_emplace("id-" + std::to_string(i), i).second);
  CHECK(map.size() == 300000);
  for (uint32_t i = 0; i < 300000; i += 997) {
    auto found = map.find("id-" + std::to_string(i));
    CHECK(found != map.end() && found->second == i);
  }
  CHECK(map.find("id-300000") == map.end());
}

}  // namespace
}  // namespace loci

LOCI_TEST_MAIN()
