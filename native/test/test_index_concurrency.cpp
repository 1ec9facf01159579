// Atlas and the exact store under concurrent use: reader threads search (approximate and
// exact) and get() without a lock while one writer inserts, upserts, deletes, splits
// leaves and nodes (Atlas), rebuilds (Atlas), compacts and saves. Run under ASan (no use after free) and TSan (no race,
// scripts/test-tsan.sh). Every result must be valid: each returned id was live at some
// moment during the search, its distance is exact for a vector the id had, results are
// sorted and distinct, and get() returns a vector the id had.
//
// LOCI_STRESS_WRITES sets how many write operations the writer performs (default 6000;
// the readers search until it is done). `scripts/stress-indexes.sh [writes]` runs it longer.
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <random>
#include <thread>

#include "harness.h"
#include "index/atlas.h"
#include "index/exact_store.h"

using namespace loci;
using namespace loci::index;

namespace {

constexpr size_t kDim = 16;
constexpr uint32_t kIds = 3000;


// The vector id `id` has in generation `generation` (>= 1): a function of both, so a
// reader can recompute every vector an id ever had. Ids fall into a few clusters.
void vector_of(uint32_t id, uint32_t generation, float* out) {
  std::mt19937 rng(id * 1000003u + generation);
  std::normal_distribution<float> normal(0, 1);
  std::mt19937 center_rng(id % 7);
  std::normal_distribution<float> center(0, 6);
  for (size_t d = 0; d < kDim; ++d) out[d] = center(center_rng) + normal(rng);
}

float l2(const float* a, const float* b) {
  float sum = 0;
  for (size_t d = 0; d < kDim; ++d) sum += (a[d] - b[d]) * (a[d] - b[d]);
  return sum;
}

// What the writer tells the readers, all atomics: a logical clock that ticks after each
// write, each id's generation (raised before the write that uses it) and the clock
// value at which it was last deleted (0 while it lives or may live).
struct Model {
  std::atomic<uint64_t> clock{2};
  std::atomic<uint32_t> generation[kIds];
  std::atomic<uint64_t> dead_since[kIds];
  Model() {
    for (uint32_t i = 0; i < kIds; ++i) {
      generation[i] = 0;
      dead_since[i] = 1;  // never written: dead since before any search
    }
  }
};

// save() into nothing: walks the slot table, vectors, tree and pages as a checkpoint does.
class CountingImageWriter final : public ImageWriter {
 public:
  Status slots(size_t count, const std::function<SlotRecord(size_t)>& slot_at) override {
    for (size_t s = 0; s < count; ++s) bytes += slot_at(s).id->size();
    return Status::ok();
  }
  Status vectors(const float* rows, size_t count) override {
    for (size_t i = 0; i < count * kDim; ++i) checksum += rows[i];
    return Status::ok();
  }
  Status tree(const std::string& payload) override {
    bytes += payload.size();
    return Status::ok();
  }
  Status leaf(const LeafPage& page) override {
    bytes += page.count();
    return Status::ok();
  }
  size_t bytes = 0;
  double checksum = 0;
};

struct Failures {
  std::atomic<uint64_t> count{0};
  std::atomic<bool> reported{false};
  void add(const std::string& what) {
    count.fetch_add(1);
    if (!reported.exchange(true)) std::fprintf(stderr, "first invalid result: %s\n", what.c_str());
  }
};

uint32_t id_number(const std::string& id) { return static_cast<uint32_t>(std::strtoul(id.c_str() + 1, nullptr, 10)); }

// Checks one search's hits against the model; `start` is the clock before the search.
void check_hits(const Model& model, const float* query, const std::vector<SearchHit>& hits, uint64_t start,
                size_t k, Failures* failures) {
  if (hits.size() > k) failures->add("more than k hits");
  std::vector<uint32_t> seen;
  float previous = -1;
  float vector[kDim];
  for (const SearchHit& hit : hits) {
    const uint32_t id = id_number(hit.id);
    if (id >= kIds) {
      failures->add("unknown id " + hit.id);
      continue;
    }
    for (uint32_t other : seen) {
      if (other == id) failures->add("id twice: " + hit.id);
    }
    seen.push_back(id);
    if (hit.distance < previous) failures->add("hits not sorted");
    previous = hit.distance;
    const uint64_t dead = model.dead_since[id].load();
    if (dead != 0 && dead <= start) failures->add("deleted before the search began: " + hit.id);
    // Newest first: a hit almost always has its id's latest vector or the one before.
    bool exact = false;
    for (uint32_t g = model.generation[id].load(); g >= 1 && !exact; --g) {
      vector_of(id, g, vector);
      const float truth = l2(query, vector);
      exact = std::fabs(truth - hit.distance) <= 1e-3f * std::max(1.0f, truth);
    }
    if (!exact) failures->add("distance matches no vector of " + hit.id + ": " + std::to_string(hit.distance));
  }
}

void writer_loop(VectorIndex* index, Model* model, size_t writes, uint32_t id_range, uint64_t seed, std::atomic<uint64_t>* saves) {
  std::mt19937_64 rng(seed);
  std::vector<uint8_t> live(kIds, 0);
  auto tick = [&] { model->clock.fetch_add(1); };
  for (size_t op = 0; op < writes; ++op) {
    const unsigned kind = rng() % 100;
    if (kind < 70) {
      // Add or upsert a small batch (routing, appends, leaf and node splits).
      const size_t batch = 1 + rng() % 8;
      std::vector<std::string> ids;
      std::vector<float> vectors(batch * kDim);
      for (size_t b = 0; b < batch; ++b) {
        uint32_t id = static_cast<uint32_t>(rng() % id_range);
        bool repeated = false;
        for (const std::string& other : ids) repeated |= id_number(other) == id;
        if (repeated) continue;
        const uint32_t generation = model->generation[id].load() + 1;
        model->generation[id].store(generation);  // before the write: readers may see it at once
        model->dead_since[id].store(0);
        vector_of(id, generation, &vectors[ids.size() * kDim]);
        ids.push_back("i" + std::to_string(id));
        live[id] = 1;
      }
      if (ids.empty()) continue;
      Status status = index->add(ids, vectors.data(), ids.size(), WriteMode::upsert);
      CHECK_MSG(status.is_ok(), status.message());
    } else if (kind < 90) {
      std::vector<std::string> ids;
      std::vector<uint32_t> numbers;
      for (size_t b = 0, batch = 1 + rng() % 6; b < batch; ++b) {
        const uint32_t id = static_cast<uint32_t>(rng() % id_range);
        if (!live[id]) continue;
        live[id] = 0;
        ids.push_back("i" + std::to_string(id));
        numbers.push_back(id);
      }
      if (ids.empty()) continue;
      Status status = index->remove(ids);
      CHECK_MSG(status.is_ok(), status.message());
      tick();
      const uint64_t now = model->clock.load();
      for (uint32_t id : numbers) model->dead_since[id].store(now);
      continue;
    } else if (kind < 95) {
      index->compact();
    } else if (kind < 98) {
      CountingImageWriter image;
      CHECK(index->save(&image).is_ok());
      saves->fetch_add(1);
    } else if (Atlas* atlas = dynamic_cast<Atlas*>(index)) {
      CHECK(atlas->rebuild().is_ok());
    }
    tick();
  }
}

std::unique_ptr<VectorIndex> make_atlas() {
  AtlasOptions options;
  options.dim = kDim;
  options.page_size = 4096;  // ~96 entries a leaf: many splits
  options.fanout = 6;        // and node splits, up to new roots
  options.build_threads = 1;
  std::unique_ptr<Atlas> atlas;
  CHECK(Atlas::create(options, &atlas).is_ok());
  return atlas;
}

std::unique_ptr<VectorIndex> make_exact(Quantization quantization) {
  std::unique_ptr<ExactStore> store;
  CHECK(ExactStore::create({kDim, Metric::l2, quantization}, &store).is_ok());
  return store;
}

void run_stress(std::unique_ptr<VectorIndex> atlas, uint64_t seed, size_t writes, uint32_t id_range, size_t readers) {
  Model model;
  Failures failures;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> searches{0}, gets{0}, saves{0};
  std::vector<std::thread> threads;
  for (size_t r = 0; r < readers; ++r) {
    threads.emplace_back([&, r] {
      std::mt19937_64 rng(seed * 31 + r);
      float query[kDim], vector[kDim];
      std::vector<SearchHit> hits;
      uint64_t local = 0, local_gets = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        vector_of(static_cast<uint32_t>(rng() % id_range), 1 + rng() % 3, query);
        SearchParams params;
        params.k = 1 + rng() % 12;
        params.exact = rng() % 8 == 0;
        params.effort = (rng() % 4 + 1) * 0.25;
        const uint64_t start = model.clock.load();
        Status status = atlas->search(query, params, &hits);
        if (!status.is_ok()) failures.add("search failed: " + status.message());
        check_hits(model, query, hits, start, params.k, &failures);
        ++local;
        // get(): the vector of some generation the id had.
        const uint32_t id = static_cast<uint32_t>(rng() % id_range);
        if (atlas->get("i" + std::to_string(id), vector).is_ok()) {
          bool known = false;
          float expected[kDim];
          for (uint32_t g = model.generation[id].load(); g >= 1 && !known; --g) {
            vector_of(id, g, expected);
            known = l2(expected, vector) == 0;
          }
          if (!known) failures.add("get returned a vector the id never had");
          ++local_gets;
        }
      }
      searches.fetch_add(local);
      gets.fetch_add(local_gets);
    });
  }
  writer_loop(atlas.get(), &model, writes, id_range, seed, &saves);
  stop = true;
  for (auto& thread : threads) thread.join();
  CHECK(failures.count.load() == 0);
  Status invariants = atlas->check();
  CHECK_MSG(invariants.is_ok(), invariants.message());
  std::printf("  %zu writes, %llu searches, %llu gets, %llu saves, %zu live, %zu leaves\n", writes,
              static_cast<unsigned long long>(searches.load()), static_cast<unsigned long long>(gets.load()),
              static_cast<unsigned long long>(saves.load()), atlas->size(), atlas->stats().leaves);
  CHECK(searches.load() > 0);
  if (dynamic_cast<Atlas*>(atlas.get())) CHECK(atlas->stats().leaves > 2);  // the writer did split leaves
}

size_t stress_writes() {
  const char* text = std::getenv("LOCI_STRESS_WRITES");
  return text ? std::strtoull(text, nullptr, 10) : 6000;
}

}  // namespace

TEST(atlas_searches_stay_valid_while_one_writer_changes_the_tree) {
  run_stress(make_atlas(), loci::test::test_seed(), stress_writes(), kIds, 3);
}

TEST(atlas_reused_slots_never_show_a_reader_another_items_vector) {
  // Few ids, many deletes and re-adds: slots are freed and reused as fast as the grace
  // periods allow, while readers hold results from them.
  run_stress(make_atlas(), loci::test::test_seed() + 1, stress_writes() / 2, 300, 2);
}

TEST(exact_store_searches_stay_valid_while_one_writer_changes_it) {
  // Few ids and many upserts and deletes: dead rows pile up and the store compacts into
  // new tables while readers scan the old ones.
  run_stress(make_exact(Quantization::none), loci::test::test_seed() + 2, stress_writes() / 2, 400, 2);
  run_stress(make_exact(Quantization::int8), loci::test::test_seed() + 3, stress_writes() / 2, 400, 2);
}

TEST(atlas_the_check_catches_an_invalid_hit) {
  // The checker can fail: a hit with a wrong distance, and one deleted before the search.
  Model model;
  Failures failures;
  failures.reported = true;  // expected failures: print nothing
  float query[kDim] = {0};
  model.generation[5] = 1;
  model.dead_since[5] = 0;
  check_hits(model, query, {{"i5", 12345.0f}}, 10, 10, &failures);
  CHECK(failures.count.load() == 1);
  float vector[kDim];
  vector_of(5, 1, vector);
  model.dead_since[5] = 3;
  check_hits(model, query, {{"i5", l2(query, vector)}}, 10, 10, &failures);
  CHECK(failures.count.load() == 2);
  model.dead_since[5] = 11;  // deleted after the search began: valid
  check_hits(model, query, {{"i5", l2(query, vector)}}, 10, 10, &failures);
  CHECK(failures.count.load() == 2);
}

LOCI_TEST_MAIN()
