// The exact store against a brute-force double-precision reference, in both scan modes
// and all three metrics, plus its error paths.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <random>

#include "harness.h"
#include "index/exact_store.h"

using namespace loci;
using namespace loci::index;

namespace {

double reference_distance(Metric metric, const float* a, const float* b, size_t dim) {
  double dot = 0, na = 0, nb = 0, l2 = 0;
  for (size_t i = 0; i < dim; ++i) {
    dot += double(a[i]) * b[i], na += double(a[i]) * a[i], nb += double(b[i]) * b[i];
    l2 += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
  }
  switch (metric) {
    case Metric::l2: return l2;
    case Metric::inner_product: return 1 - dot;
    case Metric::cosine:
      if (na == 0 || nb == 0) return (na == 0 && nb == 0) ? 0 : 1;
      return 1 - dot / std::sqrt(na * nb);
  }
  return 0;
}

std::unique_ptr<ExactStore> make_store(size_t dim, Metric metric, Quantization quantization) {
  std::unique_ptr<ExactStore> store;
  Status status = ExactStore::create({dim, metric, quantization}, &store);
  CHECK(status.is_ok());
  return store;
}

// Clustered data: a few Gaussian blobs, so neighbours are meaningful and INT8 ordering
// errors would show up as recall loss.
std::vector<float> clustered(std::mt19937_64& rng, size_t count, size_t dim, size_t clusters) {
  std::normal_distribution<float> normal(0, 1);
  std::vector<float> centers(clusters * dim), data(count * dim);
  for (auto& c : centers) c = normal(rng) * 3;
  std::uniform_int_distribution<size_t> pick(0, clusters - 1);
  for (size_t i = 0; i < count; ++i) {
    size_t c = pick(rng);
    for (size_t d = 0; d < dim; ++d) data[i * dim + d] = centers[c * dim + d] + normal(rng);
  }
  return data;
}

std::vector<std::string> make_ids(size_t count, const char* prefix) {
  std::vector<std::string> ids;
  for (size_t i = 0; i < count; ++i) ids.push_back(prefix + std::to_string(i));
  return ids;
}

}  // namespace

TEST(exact_f32_matches_brute_force_for_every_metric) {
  std::mt19937_64 rng(loci::test::test_seed());
  const size_t dim = 37, count = 700, k = 10;
  for (Metric metric : {Metric::l2, Metric::inner_product, Metric::cosine}) {
    auto store = make_store(dim, metric, Quantization::none);
    auto data = clustered(rng, count, dim, 8);
    auto ids = make_ids(count, "v");
    CHECK(store->add(ids, data.data(), count, WriteMode::insert).is_ok());
    CHECK(store->size() == count);
    for (int q = 0; q < 20; ++q) {
      auto query = clustered(rng, 1, dim, 8);
      std::vector<std::pair<double, size_t>> truth;
      for (size_t i = 0; i < count; ++i) truth.push_back({reference_distance(metric, query.data(), &data[i * dim], dim), i});
      std::sort(truth.begin(), truth.end());
      std::vector<SearchHit> hits;
      CHECK(store->search(query.data(), {k, false, 0}, &hits).is_ok());
      CHECK(hits.size() == k);
      for (size_t r = 0; r < hits.size(); ++r) {
        // The r-th distance equals the true r-th distance (ids may swap on exact ties).
        CHECK_NEAR(hits[r].distance, truth[r].first, 1e-3 * (1 + std::fabs(truth[r].first)));
      }
    }
  }
}

TEST(int8_mode_reranks_to_exact_distances_with_high_recall) {
  std::mt19937_64 rng(loci::test::test_seed() + 1);
  const size_t dim = 96, count = 3000, k = 10;
  for (Metric metric : {Metric::l2, Metric::inner_product, Metric::cosine}) {
    auto exact = make_store(dim, metric, Quantization::none);
    auto quantized = make_store(dim, metric, Quantization::int8);
    auto data = clustered(rng, count, dim, 16);
    auto ids = make_ids(count, "v");
    CHECK(exact->add(ids, data.data(), count, WriteMode::insert).is_ok());
    CHECK(quantized->add(ids, data.data(), count, WriteMode::insert).is_ok());
    size_t found = 0, wanted = 0;
    for (int q = 0; q < 50; ++q) {
      auto query = clustered(rng, 1, dim, 16);
      std::vector<SearchHit> truth, got, forced;
      CHECK(exact->search(query.data(), {k, false, 0}, &truth).is_ok());
      CHECK(quantized->search(query.data(), {k, false, 0}, &got).is_ok());
      CHECK(quantized->search(query.data(), {k, true, 0}, &forced).is_ok());
      for (size_t r = 0; r < k; ++r) CHECK(forced[r].id == truth[r].id);
      for (auto& hit : got) {
        size_t slot = std::stoul(hit.id.substr(1));
        CHECK_NEAR(hit.distance, reference_distance(metric, query.data(), &data[slot * dim], dim),
                   1e-3 * (1 + std::fabs(hit.distance)));
        for (auto& t : truth) found += (t.id == hit.id);
      }
      wanted += k;
    }
    double recall = double(found) / wanted;
    CHECK_MSG(recall >= 0.99, "recall@10 " + std::to_string(recall));
  }
}

TEST(upsert_delete_and_get_keep_rows_consistent) {
  std::mt19937_64 rng(loci::test::test_seed() + 2);
  const size_t dim = 16;
  for (Quantization quantization : {Quantization::none, Quantization::int8}) {
    auto store = make_store(dim, Metric::l2, quantization);
    std::map<std::string, std::vector<float>> model;
    std::normal_distribution<float> normal(0, 1);
    std::uniform_int_distribution<int> op(0, 2), id_pick(0, 199);
    for (int step = 0; step < 3000; ++step) {
      std::string id = "id" + std::to_string(id_pick(rng));
      std::vector<float> v(dim);
      for (auto& x : v) x = normal(rng);
      int what = op(rng);
      if (what == 0) {
        Status s = store->add({id}, v.data(), 1, WriteMode::insert);
        CHECK(s.is_ok() == !model.count(id));
        if (!s.is_ok()) CHECK(s.code() == StatusCode::already_exists);
        if (s.is_ok()) model[id] = v;
      } else if (what == 1) {
        CHECK(store->add({id}, v.data(), 1, WriteMode::upsert).is_ok());
        model[id] = v;
      } else {
        Status s = store->remove({id});
        CHECK(s.is_ok() == (model.erase(id) == 1));
      }
    }
    CHECK(store->size() == model.size());
    std::vector<float> out(dim);
    for (auto& [id, v] : model) {
      CHECK(store->get(id, out.data()).is_ok());
      CHECK(out == v);
      // Each stored vector is its own nearest neighbour at distance 0.
      std::vector<SearchHit> hits;
      CHECK(store->search(v.data(), {1, false, 0}, &hits).is_ok());
      CHECK(hits.size() == 1 && hits[0].distance == 0.0f);
    }
  }
}

TEST(batches_are_all_or_nothing) {
  auto store = make_store(4, Metric::l2, Quantization::none);
  std::vector<float> two = {1, 2, 3, 4, 5, 6, 7, 8};
  CHECK(store->add({"a", "b"}, two.data(), 2, WriteMode::insert).is_ok());
  // One duplicate in a batch of new ids: nothing is added.
  Status s = store->add({"c", "a"}, two.data(), 2, WriteMode::insert);
  CHECK(s.code() == StatusCode::already_exists);
  CHECK(!store->contains("c"));
  s = store->add({"d", "d"}, two.data(), 2, WriteMode::insert);
  CHECK(s.code() == StatusCode::already_exists && !store->contains("d"));
  // A NaN anywhere: nothing is written.
  std::vector<float> bad = {1, 2, 3, 4, 5, std::numeric_limits<float>::quiet_NaN(), 7, 8};
  s = store->add({"e", "f"}, bad.data(), 2, WriteMode::upsert);
  CHECK(s.code() == StatusCode::invalid_vector && !store->contains("e"));
  // An unknown id in a delete: nothing is deleted.
  s = store->remove({"a", "zzz"});
  CHECK(s.code() == StatusCode::not_found && store->contains("a"));
  CHECK(store->size() == 2);
}

TEST(add_validated_skips_the_checks_but_still_refuses_a_stored_id) {
  auto store = make_store(4, Metric::l2, Quantization::none);
  std::vector<float> three = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  CHECK(store->add_validated({"a", "b"}, three.data(), 2, WriteMode::insert).is_ok());
  // An insert meeting a stored id stops there: the items before it stay added.
  Status s = store->add_validated({"c", "a", "d"}, three.data(), 3, WriteMode::insert);
  CHECK(s.code() == StatusCode::already_exists);
  CHECK(store->contains("c") && !store->contains("d") && store->size() == 3);
  std::vector<float> out(4);
  CHECK(store->get("a", out.data()).is_ok() && out[0] == 1);  // untouched
  // An upsert replaces, as add() does.
  CHECK(store->add_validated({"a"}, three.data() + 8, 1, WriteMode::upsert).is_ok());
  CHECK(store->get("a", out.data()).is_ok() && out[0] == 9 && store->size() == 3);
  std::vector<SearchHit> hits;
  SearchParams params;
  params.k = 3;
  CHECK(store->search(three.data() + 8, params, &hits).is_ok());
  CHECK(hits.size() == 3 && hits[0].id == "a" && hits[0].distance == 0);
}

TEST(bad_arguments_are_errors_not_crashes) {
  std::unique_ptr<ExactStore> store;
  CHECK(ExactStore::create({0, Metric::l2, Quantization::none}, &store).code() == StatusCode::invalid_argument);
  CHECK(ExactStore::create({kMaxDim + 1, Metric::l2, Quantization::none}, &store).code() == StatusCode::invalid_argument);
  CHECK(ExactStore::create({4, Metric(7), Quantization::none}, &store).code() == StatusCode::invalid_argument);
  store = make_store(4, Metric::cosine, Quantization::int8);
  std::vector<float> v = {1, 0, 0, 0};
  CHECK(store->add({""}, v.data(), 1, WriteMode::insert).code() == StatusCode::invalid_argument);
  CHECK(store->add({std::string(kMaxIdBytes + 1, 'x')}, v.data(), 1, WriteMode::insert).code() == StatusCode::invalid_argument);
  std::vector<SearchHit> hits;
  CHECK(store->search(v.data(), {0, false, 0}, &hits).code() == StatusCode::invalid_argument);
  CHECK(store->search(v.data(), {kMaxK + 1, false, 0}, &hits).code() == StatusCode::invalid_argument);
  std::vector<float> inf = {std::numeric_limits<float>::infinity(), 0, 0, 0};
  CHECK(store->search(inf.data(), {1, false, 0}, &hits).code() == StatusCode::invalid_vector);
  // Searching an empty store is not an error: it finds nothing.
  CHECK(store->search(v.data(), {5, false, 0}, &hits).is_ok() && hits.empty());
  std::vector<float> out(4);
  CHECK(store->get("missing", out.data()).code() == StatusCode::not_found);
  // k larger than the store returns every row.
  CHECK(store->add({"one"}, v.data(), 1, WriteMode::insert).is_ok());
  CHECK(store->search(v.data(), {50, false, 0}, &hits).is_ok() && hits.size() == 1);
  // A zero vector under cosine has a defined distance.
  std::vector<float> zero = {0, 0, 0, 0};
  CHECK(store->search(zero.data(), {1, false, 0}, &hits).is_ok() && hits[0].distance == 1.0f);
}

LOCI_TEST_MAIN()
