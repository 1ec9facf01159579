// Atlas against the exact store: random interleavings of add, upsert and delete (every
// returned id exists, no deleted id is returned, distances are exact, recall at maximum
// effort is 1.0), structural invariants after every step, and recall of the bulk build.
#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <random>
#include <set>

#include "harness.h"
#include "index/atlas.h"
#include "index/exact_store.h"

using namespace loci;
using namespace loci::index;

namespace {

std::vector<float> clustered(std::mt19937_64& rng, size_t count, size_t dim, size_t clusters, uint64_t centers_seed) {
  std::mt19937_64 centers_rng(centers_seed);
  std::normal_distribution<float> normal(0, 1);
  std::vector<float> centers(clusters * dim), data(count * dim);
  for (auto& c : centers) c = normal(centers_rng) * 4;
  std::uniform_int_distribution<size_t> pick(0, clusters - 1);
  for (size_t i = 0; i < count; ++i) {
    size_t c = pick(rng);
    for (size_t d = 0; d < dim; ++d) data[i * dim + d] = centers[c * dim + d] + normal(rng);
  }
  return data;
}

std::unique_ptr<Atlas> make_atlas(size_t dim, Metric metric, size_t page_size = 4096, size_t fanout = 8, size_t replicas = 1) {
  std::unique_ptr<Atlas> atlas;
  AtlasOptions options;
  options.dim = dim;
  options.metric = metric;
  options.page_size = page_size;
  options.fanout = fanout;
  options.replicas = replicas;
  Status status = Atlas::create(options, &atlas);
  CHECK_MSG(status.is_ok(), status.message());
  return atlas;
}

std::unique_ptr<ExactStore> make_exact(size_t dim, Metric metric) {
  std::unique_ptr<ExactStore> store;
  CHECK(ExactStore::create({dim, metric, Quantization::none}, &store).is_ok());
  return store;
}

double recall(const std::vector<SearchHit>& got, const std::vector<SearchHit>& truth) {
  if (truth.empty()) return got.empty() ? 1.0 : 0.0;
  size_t found = 0;
  for (auto& hit : got)
    for (auto& t : truth) found += hit.id == t.id;
  return double(found) / truth.size();
}

}  // namespace

TEST(atlas_random_interleavings_match_the_exact_store) {
  std::mt19937_64 rng(loci::test::test_seed());
  const size_t dim = 24;  // page 4096: capacity 80, so splits happen early and often
  for (Metric metric : {Metric::l2, Metric::inner_product, Metric::cosine}) {
    auto atlas = make_atlas(dim, metric);
    auto exact = make_exact(dim, metric);
    std::set<std::string> live;
    std::uniform_int_distribution<int> op(0, 9), id_pick(0, 1499);
    for (int step = 0; step < 4000; ++step) {
      const int what = op(rng);
      const std::string id = "i" + std::to_string(id_pick(rng));
      if (what <= 5) {  // upsert (60%)
        auto v = clustered(rng, 1, dim, 12, 99);
        CHECK(atlas->add({id}, v.data(), 1, WriteMode::upsert).is_ok());
        CHECK(exact->add({id}, v.data(), 1, WriteMode::upsert).is_ok());
        live.insert(id);
      } else if (what <= 7) {  // insert (20%): must fail exactly when the id exists
        auto v = clustered(rng, 1, dim, 12, 99);
        Status a = atlas->add({id}, v.data(), 1, WriteMode::insert);
        Status e = exact->add({id}, v.data(), 1, WriteMode::insert);
        CHECK(a.code() == e.code());
        if (a.is_ok()) live.insert(id);
      } else {  // delete (20%)
        Status a = atlas->remove({id});
        Status e = exact->remove({id});
        CHECK(a.code() == e.code());
        live.erase(id);
      }
      if (step % 500 == 499) {
        Status inv = atlas->check_invariants();
        CHECK_MSG(inv.is_ok(), inv.message());
      }
    }
    CHECK(atlas->size() == live.size() && exact->size() == live.size());
    Status inv = atlas->check_invariants();
    CHECK_MSG(inv.is_ok(), inv.message());
    IndexStats stats = atlas->stats();
    CHECK_MSG(stats.leaves > 8 && stats.depth >= 2, "the tree grew: leaves " + std::to_string(stats.leaves));

    for (int q = 0; q < 30; ++q) {
      auto query = clustered(rng, 1, dim, 12, 99);
      std::vector<SearchHit> truth, got, full;
      CHECK(exact->search(query.data(), {10}, &truth).is_ok());
      SearchParams params;
      params.k = 10;
      CHECK(atlas->search(query.data(), params, &got).is_ok());
      params.effort = 1.0;
      CHECK(atlas->search(query.data(), params, &full).is_ok());
      CHECK_MSG(recall(full, truth) == 1.0, "recall at effort 1: " + std::to_string(recall(full, truth)));
      std::set<std::string> seen;
      for (auto& hit : got) {
        CHECK_MSG(live.count(hit.id), "returned an id that is not live: " + hit.id);
        CHECK(seen.insert(hit.id).second);
        std::vector<float> stored(dim);
        CHECK(exact->get(hit.id, stored.data()).is_ok());
        std::vector<SearchHit> self;
        SearchParams one;
        one.k = 1;
        one.exact = true;
        // The distance reported is the exact distance to the stored vector.
        std::vector<SearchHit> truth_all;
        CHECK(exact->search(query.data(), {live.size() < 10000 ? live.size() : 10000}, &truth_all).is_ok());
        for (auto& t : truth_all)
          if (t.id == hit.id) CHECK_NEAR(hit.distance, t.distance, 1e-4 * (1 + std::fabs(t.distance)));
      }
      for (size_t r = 1; r < got.size(); ++r) CHECK(got[r - 1].distance <= got[r].distance);
    }
  }
}

TEST(atlas_bulk_build_recall_on_clustered_data) {
  std::mt19937_64 rng(loci::test::test_seed() + 1);
  const size_t dim = 64, count = 20000;
  auto data = clustered(rng, count, dim, 64, 7);
  std::vector<std::string> ids;
  for (size_t i = 0; i < count; ++i) ids.push_back(std::to_string(i));
  auto atlas = make_atlas(dim, Metric::l2, 16384, 32);
  auto exact = make_exact(dim, Metric::l2);
  CHECK(atlas->add(ids, data.data(), count, WriteMode::insert).is_ok());
  CHECK(exact->add(ids, data.data(), count, WriteMode::insert).is_ok());
  Status inv = atlas->check_invariants();
  CHECK_MSG(inv.is_ok(), inv.message());
  double total = 0, total_full = 0;
  const int queries = 100;
  for (int q = 0; q < queries; ++q) {
    auto query = clustered(rng, 1, dim, 64, 7);
    std::vector<SearchHit> truth, got, full;
    CHECK(exact->search(query.data(), {10}, &truth).is_ok());
    SearchParams params;
    params.k = 10;
    params.effort = 0.5;
    CHECK(atlas->search(query.data(), params, &got).is_ok());
    params.effort = 1;
    CHECK(atlas->search(query.data(), params, &full).is_ok());
    total += recall(got, truth);
    total_full += recall(full, truth);
  }
  CHECK_MSG(total / queries >= 0.9, "recall@10 at effort 0.5: " + std::to_string(total / queries));
  CHECK_MSG(total_full / queries == 1.0, "recall@10 at effort 1: " + std::to_string(total_full / queries));
  std::printf("bulk build: recall@10 %.3f at effort 0.5, %.3f at effort 1\n", total / queries, total_full / queries);
  // Leaves are filled toward build_fill (85%), not left half empty by splitting
  // clusters just over the target in two.
  const IndexStats stats = atlas->stats();
  const double fill = double(stats.leaf_entries) / double(stats.leaves * stats.leaf_capacity);
  std::printf("bulk build: %zu leaves of %zu entries, %.0f%% full\n", stats.leaves, stats.leaf_capacity, 100 * fill);
  CHECK_MSG(fill >= 0.55, "leaves " + std::to_string(100 * fill) + "% full");
}

TEST(atlas_add_validated_refuses_a_stored_id_and_keeps_the_tree_whole) {
  std::mt19937_64 rng(loci::test::test_seed() + 7);
  const size_t dim = 16;
  auto atlas = make_atlas(dim, Metric::l2);
  auto data = clustered(rng, 600, dim, 6, 3);
  std::vector<std::string> ids;
  for (size_t i = 0; i < 600; ++i) ids.push_back("v" + std::to_string(i));
  std::vector<std::string> first(ids.begin(), ids.begin() + 400);
  CHECK(atlas->add_validated(first, data.data(), 400, WriteMode::insert).is_ok());
  // 100 new ids, then a stored one, then more new ones: the 100 are added and indexed.
  std::vector<std::string> mixed(ids.begin() + 400, ids.begin() + 500);
  mixed.push_back("v7");
  mixed.insert(mixed.end(), ids.begin() + 500, ids.end());
  Status s = atlas->add_validated(mixed, data.data() + 400 * dim, mixed.size(), WriteMode::insert);
  CHECK(s.code() == StatusCode::already_exists);
  CHECK(atlas->size() == 500 && atlas->contains("v499") && !atlas->contains("v500"));
  Status inv = atlas->check_invariants();
  CHECK_MSG(inv.is_ok(), inv.message());
  std::vector<float> out(dim);
  CHECK(atlas->get("v7", out.data()).is_ok() && out[0] == data[7 * dim]);
  // The refused item's slot is recycled: the rest go in, and every item is found by
  // an exhaustive search.
  std::vector<std::string> rest(ids.begin() + 500, ids.end());
  CHECK(atlas->add_validated(rest, data.data() + 500 * dim, 100, WriteMode::insert).is_ok());
  inv = atlas->check_invariants();
  CHECK_MSG(inv.is_ok(), inv.message());
  SearchParams params;
  params.k = 1;
  params.effort = 1;
  for (size_t i = 0; i < 600; i += 37) {
    std::vector<SearchHit> hits;
    CHECK(atlas->search(data.data() + i * dim, params, &hits).is_ok());
    CHECK_MSG(!hits.empty() && hits[0].distance == 0, ids[i]);
  }
}

TEST(atlas_centroid_drift_waits_listed_and_publish_all_drift_sends_it_out) {
  // Single inserts drift the centroids on their path; a node goes out to searches once
  // kDriftPublish updates gathered on it (or at once when reshaped by a split), the rest
  // wait on a list that publish_all_drift() empties. check_invariants fails on a
  // drifting node missing from that list, and on published codes that differ from the
  // writer's for a node without drift.
  std::mt19937_64 rng(loci::test::test_seed() + 11);
  const size_t dim = 16, bulk = 3000, singles = 700;
  auto atlas = make_atlas(dim, Metric::l2, 4096, 8);
  auto data = clustered(rng, bulk + singles, dim, 12, 5);
  std::vector<std::string> ids;
  for (size_t i = 0; i < bulk + singles; ++i) ids.push_back("d" + std::to_string(i));
  std::vector<std::string> first(ids.begin(), ids.begin() + bulk);
  CHECK(atlas->add(first, data.data(), bulk, WriteMode::insert).is_ok());
  for (size_t i = bulk; i < bulk + singles; ++i) {
    CHECK(atlas->add({ids[i]}, data.data() + i * dim, 1, WriteMode::insert).is_ok());
    if (i % 50 == 0) {
      Status inv = atlas->check_invariants();
      CHECK_MSG(inv.is_ok(), inv.message());
    }
    if (i % 230 == 0) atlas->publish_all_drift();
  }
  atlas->publish_all_drift();
  Status inv = atlas->check_invariants();  // no drift left: every node's codes are published
  CHECK_MSG(inv.is_ok(), inv.message());
  SearchParams params;
  params.k = 1;
  params.effort = 1;
  for (size_t i = 0; i < bulk + singles; i += 41) {
    std::vector<SearchHit> hits;
    CHECK(atlas->search(data.data() + i * dim, params, &hits).is_ok());
    CHECK_MSG(!hits.empty() && hits[0].distance == 0, ids[i]);
  }
  CHECK(atlas->stats().depth >= 2);
}

TEST(atlas_batches_rebuild_and_deletes_free_slots) {
  std::mt19937_64 rng(loci::test::test_seed() + 2);
  const size_t dim = 16;
  auto atlas = make_atlas(dim, Metric::cosine);
  for (int round = 0; round < 5; ++round) {
    auto data = clustered(rng, 700, dim, 10, 3);
    std::vector<std::string> ids;
    for (size_t i = 0; i < 700; ++i) ids.push_back("r" + std::to_string(round) + "-" + std::to_string(i));
    CHECK(atlas->add(ids, data.data(), 700, WriteMode::insert).is_ok());
    Status inv = atlas->check_invariants();
    CHECK_MSG(inv.is_ok(), inv.message());
  }
  CHECK(atlas->size() == 3500);
  std::vector<std::string> doomed;
  for (size_t i = 0; i < 700; ++i) doomed.push_back("r2-" + std::to_string(i));
  CHECK(atlas->remove(doomed).is_ok());
  CHECK(atlas->size() == 2800);
  CHECK(atlas->remove({"r2-5"}).code() == StatusCode::not_found);
  CHECK(atlas->rebuild().is_ok());
  Status inv = atlas->check_invariants();
  CHECK_MSG(inv.is_ok(), inv.message());
  std::vector<float> out(dim);
  CHECK(atlas->get("r2-5", out.data()).code() == StatusCode::not_found);
  CHECK(atlas->get("r3-5", out.data()).is_ok());
}

TEST(atlas_replication_copies_boundary_vectors_and_results_stay_exact) {
  // Online inserts with replicas 4 beside the same inserts with none: copies are made
  // (but at most 4 per item), searches return each id once with its exact distance, a
  // delete removes every copy, and compaction releases them.
  std::mt19937_64 rng(loci::test::test_seed() + 3);
  const size_t dim = 24, count = 3000;
  auto data = clustered(rng, count, dim, 12, 99);
  auto copied = make_atlas(dim, Metric::l2, 4096, 8, 4);
  auto single = make_atlas(dim, Metric::l2, 4096, 8, 1);
  auto exact = make_exact(dim, Metric::l2);
  for (size_t i = 0; i < count; i += 10) {
    std::vector<std::string> ids;
    for (size_t j = i; j < i + 10; ++j) ids.push_back("v" + std::to_string(j));
    for (VectorIndex* index : std::initializer_list<VectorIndex*>{copied.get(), single.get(), exact.get()}) {
      CHECK(index->add(ids, &data[i * dim], ids.size(), WriteMode::insert).is_ok());
    }
  }
  Status inv = copied->check_invariants();
  CHECK_MSG(inv.is_ok(), inv.message());
  const size_t copied_entries = copied->stats().leaf_entries, single_entries = single->stats().leaf_entries;
  std::printf("replicas 4: %zu leaf entries for %zu items (replicas 1: %zu)\n", copied_entries, count, single_entries);
  CHECK_MSG(single_entries == count, "replicas 1 made copies: " + std::to_string(single_entries));
  CHECK_MSG(copied_entries > count + count / 20 && copied_entries <= 4 * count, "entries " + std::to_string(copied_entries));

  std::set<std::string> deleted;
  std::vector<std::string> doomed;
  for (size_t j = 0; j < count; j += 3) doomed.push_back("v" + std::to_string(j));
  CHECK(copied->remove(doomed).is_ok());
  CHECK(exact->remove(doomed).is_ok());
  deleted.insert(doomed.begin(), doomed.end());
  double total = 0;
  for (int q = 0; q < 40; ++q) {
    auto query = clustered(rng, 1, dim, 12, 99);
    std::vector<SearchHit> truth, got, full;
    CHECK(exact->search(query.data(), {10}, &truth).is_ok());
    SearchParams params;
    params.k = 10;
    CHECK(copied->search(query.data(), params, &got).is_ok());
    params.effort = 1;
    CHECK(copied->search(query.data(), params, &full).is_ok());
    CHECK_MSG(recall(full, truth) == 1.0, "recall at effort 1: " + std::to_string(recall(full, truth)));
    total += recall(got, truth);
    std::set<std::string> seen;
    for (const SearchHit& hit : full) {
      CHECK_MSG(seen.insert(hit.id).second, "returned twice: " + hit.id);
      CHECK_MSG(!deleted.count(hit.id), "returned a deleted id: " + hit.id);
    }
    for (size_t r = 0; r < full.size(); ++r) CHECK_NEAR(full[r].distance, truth[r].distance, 1e-4 * (1 + std::fabs(truth[r].distance)));
  }
  std::printf("replicas 4: recall@10 %.3f at the default effort\n", total / 40);
  copied->compact();
  inv = copied->check_invariants();
  CHECK_MSG(inv.is_ok(), inv.message());
  CHECK_MSG(copied->stats().leaf_entries < copied_entries, "compaction dropped no deleted copies");
  CHECK(copied->rebuild().is_ok());  // the bulk build replicates too
  inv = copied->check_invariants();
  CHECK_MSG(inv.is_ok(), inv.message());
  CHECK(copied->stats().leaf_entries > copied->size());
}

TEST(atlas_rejects_bad_options_and_inputs) {
  std::unique_ptr<Atlas> atlas;
  AtlasOptions options;
  options.dim = 768;
  options.page_size = 4096;  // fewer than 8 vectors of dim 768 fit
  CHECK(Atlas::create(options, &atlas).code() == StatusCode::invalid_argument);
  options.page_size = 5000;
  CHECK(Atlas::create(options, &atlas).code() == StatusCode::invalid_argument);
  options.page_size = 65536;
  options.fanout = 2;
  CHECK(Atlas::create(options, &atlas).code() == StatusCode::invalid_argument);
  options.fanout = 64;
  for (size_t replicas : {size_t(0), Atlas::kMaxReplicas + 1}) {
    options.replicas = replicas;
    CHECK(Atlas::create(options, &atlas).code() == StatusCode::invalid_argument);
  }
  options.replicas = Atlas::kMaxReplicas;
  CHECK(Atlas::create(options, &atlas).is_ok());
  auto store = make_atlas(4, Metric::l2);
  std::vector<float> nan = {1, 2, NAN, 4};
  std::vector<SearchHit> hits;
  CHECK(store->search(nan.data(), {10}, &hits).code() == StatusCode::invalid_vector);
  std::vector<float> fine = {1, 2, 3, 4};
  CHECK(store->search(fine.data(), {10}, &hits).is_ok() && hits.empty());
  CHECK(store->add({"a"}, nan.data(), 1, WriteMode::insert).code() == StatusCode::invalid_vector);
  CHECK(store->size() == 0);
  SearchParams zero;
  zero.k = 0;
  CHECK(store->search(fine.data(), zero, &hits).code() == StatusCode::invalid_argument);
}

LOCI_TEST_MAIN()
