// What the engine test programs share (test_engine*.cpp): a model of the store the
// engine is checked against, random items and writes, options and opening, a simulated
// power cut.
#pragma once

#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <chrono>
#include <vector>

#include "common/crc32c.h"
#include "engine/engine.h"
#include "harness.h"
#include "index/vector_index.h"
#include "mutate.h"
#include "storage/env.h"
#include "storage/fault_env.h"
#include "storage/log_format.h"

using namespace loci;
using namespace loci::engine;
using namespace loci::storage;
using loci::test::TempDir;
using loci::test::contains;
using loci::test::status_text;

namespace {


constexpr size_t kDim = 8;
constexpr int kFlat = 0, kAtlas = 1;
constexpr size_t kPageSize = 4096;
constexpr uint64_t kVectorsRows = 4096;  // where vectors.<g> rows start (docs/format/checkpoint.md)

inline const char* kind_name(int kind) { return kind == kFlat ? "flat" : "atlas"; }

// --- the model -----------------------------------------------------------------------------

struct Item {
  std::vector<float> vector;
  double time = 0;
  std::string text, meta;
};
using Model = std::map<std::string, Item>;

inline Item random_item(std::mt19937_64& rng) {
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  Item item;
  for (size_t d = 0; d < kDim; ++d) item.vector.push_back(value(rng));
  switch (rng() % 4) {
    case 0: item.time = std::numeric_limits<double>::quiet_NaN(); break;
    case 1: item.time = 0; break;
    default: item.time = 1.7e12 + double(rng() % 1000000); break;
  }
  if (rng() % 4 != 0) {
    item.text.resize(rng() % 64);
    for (char& c : item.text) c = char('a' + rng() % 26);
  }
  if (rng() % 3 == 0) item.meta = "{\"n\":" + std::to_string(rng() % 1000) + "}";
  return item;
}

inline WriteBatch put_batch(BatchOp op, const std::vector<std::pair<std::string, Item>>& items) {
  WriteBatch batch;
  batch.op = op;
  for (const auto& entry : items) {
    batch.ids.push_back(entry.first);
    batch.vectors.insert(batch.vectors.end(), entry.second.vector.begin(), entry.second.vector.end());
    batch.times.push_back(entry.second.time);
    batch.texts.push_back(entry.second.text);
    batch.metas.push_back(entry.second.meta);
  }
  return batch;
}

inline WriteBatch remove_batch(const std::vector<std::string>& ids) {
  WriteBatch batch;
  batch.op = BatchOp::remove;
  batch.ids = ids;
  return batch;
}

inline void apply_to_model(const WriteBatch& batch, Model* model) {
  for (size_t i = 0; i < batch.size(); ++i) {
    if (batch.op == BatchOp::remove) {
      model->erase(batch.ids[i]);
      continue;
    }
    Item item;
    item.vector.assign(batch.vectors.begin() + i * kDim, batch.vectors.begin() + (i + 1) * kDim);
    item.time = batch.times[i];
    item.text = batch.texts[i];
    item.meta = batch.metas[i];
    (*model)[batch.ids[i]] = item;
  }
}

inline bool same_time(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

// "" if the engine holds exactly the model's items, else the first difference.
inline std::string mismatch(const Engine& engine, const Model& model) {
  if (engine.index().size() != model.size()) {
    return "the index holds " + std::to_string(engine.index().size()) + " items, the model " + std::to_string(model.size());
  }
  std::vector<float> vector(kDim);
  for (const auto& entry : model) {
    ItemView view;
    Status status = engine.get(entry.first, vector.data(), &view);
    if (!status.is_ok()) return "get('" + entry.first + "'): " + status_text(status);
    if (vector != entry.second.vector) return "vector of '" + entry.first + "' differs";
    if (!same_time(view.time, entry.second.time)) return "time of '" + entry.first + "' differs";
    if (view.text != entry.second.text) return "text of '" + entry.first + "' is '" + view.text + "'";
    if (view.meta != entry.second.meta) return "meta of '" + entry.first + "' is '" + view.meta + "'";
    if (!engine.index().contains(entry.first)) return "index does not contain '" + entry.first + "'";
  }
  return "";
}

#define CHECK_MATCHES(engine, model, where)                                  \
  do {                                                                       \
    const std::string mismatch_ = mismatch(engine, model);                   \
    CHECK_MSG(mismatch_.empty(), std::string(where) + ": " + mismatch_);     \
  } while (0)

// The k nearest model items to `query` by squared L2, nearest first.
inline std::vector<std::pair<float, std::string>> brute_force(const Model& model, const float* query, size_t k) {
  std::vector<std::pair<float, std::string>> all;
  for (const auto& entry : model) {
    double sum = 0;
    for (size_t d = 0; d < kDim; ++d) {
      double diff = double(query[d]) - entry.second.vector[d];
      sum += diff * diff;
    }
    all.push_back({float(sum), entry.first});
  }
  std::sort(all.begin(), all.end());
  if (all.size() > k) all.resize(k);
  return all;
}

// Exact search (flat: its default; Atlas: params.exact) equals brute force over the model.
inline std::string search_mismatch(const Engine& engine, const Model& model, std::mt19937_64& rng, int kind, int queries = 3) {
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  for (int q = 0; q < queries; ++q) {
    std::vector<float> query(kDim);
    for (float& v : query) v = value(rng);
    index::SearchParams params;
    params.k = 10;
    params.exact = kind == kAtlas;
    std::vector<index::SearchHit> hits;
    Status status = engine.index().search(query.data(), params, &hits);
    if (!status.is_ok()) return "search: " + status_text(status);
    auto expected = brute_force(model, query.data(), params.k);
    if (hits.size() != expected.size()) {
      return "search returned " + std::to_string(hits.size()) + " hits, brute force " + std::to_string(expected.size());
    }
    for (size_t i = 0; i < hits.size(); ++i) {
      if (hits[i].id != expected[i].second || std::fabs(hits[i].distance - expected[i].first) > 1e-4f * (1 + expected[i].first)) {
        return "hit " + std::to_string(i) + " is '" + hits[i].id + "' at " + std::to_string(hits[i].distance) +
               ", brute force '" + expected[i].second + "' at " + std::to_string(expected[i].first);
      }
    }
    if (kind == kAtlas) {
      // The approximate search: sorted, distinct, live ids.
      params.exact = false;
      if (!engine.index().search(query.data(), params, &hits).is_ok()) return "approximate search failed";
      std::set<std::string> seen;
      for (size_t i = 0; i < hits.size(); ++i) {
        if (!model.count(hits[i].id) || !seen.insert(hits[i].id).second) return "approximate search returned '" + hits[i].id + "'";
        if (i > 0 && hits[i].distance < hits[i - 1].distance) return "approximate search is not sorted";
      }
    }
  }
  return "";
}

// --- stores --------------------------------------------------------------------------------

inline EngineOptions options_for(const std::string& dir, int kind, Env* env = nullptr, Durability durability = Durability::sync) {
  EngineOptions options;
  options.dir = dir;
  options.dim = kDim;
  options.metric = 0;  // l2: brute force is a plain sum
  options.index = kind;
  if (kind == kAtlas) {
    options.page_size = kPageSize;
    options.fanout = 8;
  }
  options.durability = durability;
  options.env = env;
  return options;
}

inline std::unique_ptr<Engine> open_engine(const EngineOptions& options, OpenReport* report = nullptr) {
  std::unique_ptr<Engine> engine;
  Status status = Engine::open(options, &engine, report);
  CHECK_MSG(status.is_ok(), "open " + options.dir + ": " + status_text(status));
  return status.is_ok() ? std::move(engine) : nullptr;
}

inline std::string gen_name(const char* kind, uint64_t gen) {
  char name[48];
  std::snprintf(name, sizeof name, "%s.%016llu", kind, static_cast<unsigned long long>(gen));
  return name;
}

// A power cut: from here on nothing the engine does becomes durable (its destructor's
// close() cannot create, sync or rename a file), then every unsynced byte, created file
// and rename is undone.
inline void crash(std::unique_ptr<Engine>* engine, FaultInjectionEnv* env) {
  for (FaultOp op : {FaultOp::create, FaultOp::sync, FaultOp::sync_dir, FaultOp::rename}) env->fail(op, 0, EIO);
  engine->reset();
  env->clear_faults();
  CHECK_OK(env->simulate_crash());
}

// Adds `count` new random items (ids prefix0, prefix1, ...) in batches.
inline void add_items(Engine* engine, Model* model, std::mt19937_64& rng, size_t count, const std::string& prefix,
               size_t batch_size = 50) {
  for (size_t start = 0; start < count; start += batch_size) {
    std::vector<std::pair<std::string, Item>> items;
    for (size_t i = start; i < std::min(count, start + batch_size); ++i) items.push_back({prefix + std::to_string(i), random_item(rng)});
    WriteBatch batch = put_batch(BatchOp::add, items);
    Status status = engine->write(batch);
    CHECK_MSG(status.is_ok(), "add: " + status_text(status));
    if (status.is_ok()) apply_to_model(batch, model);
  }
}

inline Status write_and_model(Engine* engine, const WriteBatch& batch, Model* model) {
  Status status = engine->write(batch);
  if (status.is_ok()) apply_to_model(batch, model);
  return status;
}


// A random valid write for the model: add new ids, upsert new or existing, remove existing.
inline WriteBatch random_write(std::mt19937_64& rng, const Model& model, int* next_id) {
  const int choice = int(rng() % 10);
  const size_t count = 1 + rng() % 4;
  if (choice < 2 && model.size() > count) {
    std::vector<std::string> ids;
    std::set<std::string> chosen;
    while (chosen.size() < count) {
      auto it = model.begin();
      std::advance(it, rng() % model.size());
      chosen.insert(it->first);
    }
    ids.assign(chosen.begin(), chosen.end());
    return remove_batch(ids);
  }
  std::vector<std::pair<std::string, Item>> items;
  std::set<std::string> chosen;
  const bool upsert = choice >= 6;
  for (size_t i = 0; i < count; ++i) {
    std::string id;
    if (upsert && !model.empty() && rng() % 2) {
      auto it = model.begin();
      std::advance(it, rng() % model.size());
      id = it->first;
    } else {
      id = "id" + std::to_string((*next_id)++);
    }
    if (chosen.insert(id).second) items.push_back({id, random_item(rng)});
  }
  return put_batch(upsert ? BatchOp::upsert : BatchOp::add, items);
}

}  // namespace
