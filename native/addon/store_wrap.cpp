// NativeStore: the JS face of the engine's store. The TS layer (src/store.ts) validates
// and normalises arguments with precise messages; this layer re-checks only what memory
// safety depends on (types, typed-array lengths) and maps Status to LociError.
//
// Work that can take long (batched writes, async search) runs on the libuv pool through
// PromiseWorker. Inputs are copied before the JS call returns: a caller may transfer or
// detach its ArrayBuffer while the work runs, and a copy is cheap next to the work.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>

#include "addon/addon.h"
#include "index/atlas.h"
#include "index/exact_store.h"

namespace loci::addon {
namespace {

using index::ExactStore;

// Runs `execute` on the libuv pool, then settles a Promise on the JS thread: resolved
// with `resolve(env)` if the Status is ok, rejected with a LociError otherwise.
class PromiseWorker : public Napi::AsyncWorker {
 public:
  PromiseWorker(Napi::Env env, std::function<Status()> execute,
                std::function<Napi::Value(Napi::Env)> resolve)
      : Napi::AsyncWorker(env, "loci"),
        deferred_(Napi::Promise::Deferred::New(env)),
        execute_(std::move(execute)),
        resolve_(std::move(resolve)) {}

  Napi::Promise promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override { status_ = execute_(); }  // no N-API calls here
  void OnOK() override {
    Napi::Env env = Env();
    if (status_.is_ok()) {
      deferred_.Resolve(resolve_(env));
    } else {
      deferred_.Reject(make_error(env, status_).Value());
    }
  }
  void OnError(const Napi::Error& error) override { deferred_.Reject(error.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::function<Status()> execute_;
  std::function<Napi::Value(Napi::Env)> resolve_;
  Status status_;
};

// Ids go back to JS on every search, so their conversion is on the hot path. Building
// one JS array element by element costs ~150 ns per id through N-API; instead all ids go
// back as one string plus their boundaries (in UTF-16 code units, JS's string
// indexing) in a caller-owned Uint32Array, and JS slices them apart, which is far
// cheaper. Pure-ASCII text (the common case) is built as a one-byte string without
// UTF-8 decoding.
Napi::String join_ids(Napi::Env env, const std::vector<index::SearchHit>& hits, uint32_t* boundaries,
                      std::string& joined) {
  joined.clear();
  bool ascii = true;
  uint32_t units = 0;
  boundaries[0] = 0;
  for (size_t i = 0; i < hits.size(); ++i) {
    for (unsigned char c : hits[i].id) {
      ascii &= c < 0x80;
      // UTF-16 length of UTF-8: one unit per lead byte, two for a 4-byte sequence.
      units += (c & 0xC0) != 0x80;
      units += c >= 0xF0;
    }
    joined += hits[i].id;
    boundaries[i + 1] = units;
  }
  napi_value result;
  napi_status status = ascii ? napi_create_string_latin1(env, joined.data(), joined.size(), &result)
                             : napi_create_string_utf8(env, joined.data(), joined.size(), &result);
  NAPI_THROW_IF_FAILED(env, status, Napi::String());
  return Napi::String(env, result);
}

class NativeStore : public Napi::ObjectWrap<NativeStore> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeStore",
                       {
                           InstanceMethod("add", &NativeStore::Add),
                           InstanceMethod("remove", &NativeStore::Remove),
                           InstanceMethod("get", &NativeStore::Get),
                           InstanceMethod("has", &NativeStore::Has),
                           InstanceMethod("size", &NativeStore::Size),
                           InstanceMethod("searchSync", &NativeStore::SearchSync),
                           InstanceMethod("search", &NativeStore::Search),
                           InstanceMethod("close", &NativeStore::Close),
                           InstanceMethod("timeSearch", &NativeStore::TimeSearch),
                           InstanceMethod("stats", &NativeStore::Stats),
                       });
  }

  // new NativeStore(dim, metric, quantization, kind, pageSize, fanout): metric and
  // quantization are the enums of native/index/metric.h; kind 0 = exact store,
  // 1 = Atlas (pageSize and fanout apply to Atlas only).
  explicit NativeStore(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeStore>(info) {
    Napi::Env env = info.Env();
    for (size_t i = 0; i < 6; ++i) {
      if (!info[i].IsNumber()) {
        throw argument_error(env, "NativeStore(dim, metric, quantization, kind, pageSize, fanout) expects six numbers");
      }
    }
    // Out-of-range values map to values create() refuses (no silent wrap to a valid one).
    auto small_enum = [](Napi::Value value) -> uint8_t {
      double number = value.As<Napi::Number>().DoubleValue();
      return (number >= 0 && number <= 254) ? static_cast<uint8_t>(number) : 255;
    };
    auto size_arg = [](Napi::Value value) -> size_t {
      double number = value.As<Napi::Number>().DoubleValue();
      return (number >= 0 && number <= 1e9) ? static_cast<size_t>(number) : 0;
    };
    const size_t dim = size_arg(info[0]);
    const auto metric = static_cast<index::Metric>(small_enum(info[1]));
    const uint8_t kind = small_enum(info[3]);
    Status status;
    if (kind == 0) {
      std::unique_ptr<ExactStore> store;
      status = ExactStore::create({dim, metric, static_cast<index::Quantization>(small_enum(info[2]))}, &store);
      store_ = std::move(store);
    } else if (kind == 1) {
      index::AtlasOptions options;
      options.dim = dim;
      options.metric = metric;
      options.page_size = size_arg(info[4]);
      options.fanout = size_arg(info[5]);
      std::unique_ptr<index::Atlas> atlas;
      status = index::Atlas::create(options, &atlas);
      store_ = std::move(atlas);
    } else {
      status = Status::error(StatusCode::invalid_argument, "unknown index kind: use 0 (exact) or 1 (atlas)");
    }
    if (!status.is_ok()) throw make_error(env, status);
  }

 private:
  // For sync calls: no reference-count traffic; close() cannot run during the call.
  const std::shared_ptr<index::VectorIndex>& open_store_ref(Napi::Env env) {
    if (!store_) {
      throw make_error(env, Status::error(StatusCode::closed, "the store is closed: open it again with Store.open()"));
    }
    return store_;
  }

  // The store, shared with workers in flight so close() cannot free it under them.
  std::shared_ptr<index::VectorIndex> open_store(Napi::Env env) { return open_store_ref(env); }

  std::vector<std::string> read_ids(Napi::Env env, Napi::Value value) {
    if (!value.IsArray()) throw argument_error(env, "ids must be an array of strings");
    Napi::Array array = value.As<Napi::Array>();
    std::vector<std::string> ids(array.Length());
    for (uint32_t i = 0; i < ids.size(); ++i) {
      Napi::Value id = array.Get(i);
      if (!id.IsString()) throw argument_error(env, "id at index " + std::to_string(i) + " is not a string");
      ids[i] = id.As<Napi::String>().Utf8Value();
    }
    return ids;
  }

  // A Float32Array of exactly `length` floats (honouring its byte offset).
  const float* read_floats(Napi::Env env, Napi::Value value, size_t length, const char* what) {
    size_t actual = 0;
    float* data = typed_array<float>(env, value, napi_float32_array, &actual);
    if (!data && actual == SIZE_MAX) throw argument_error(env, std::string(what) + " must be a Float32Array");
    if (actual != length) {
      throw make_error(env, Status::error(StatusCode::dim_mismatch,
                                         std::string(what) + " has " + std::to_string(actual) +
                                             " floats, expected " + std::to_string(length)));
    }
    return data;
  }

  // An output typed array of at least `length` elements.
  template <class T>
  T* read_output(Napi::Env env, Napi::Value value, napi_typedarray_type type, size_t length, const char* message) {
    size_t actual = 0;
    T* data = typed_array<T>(env, value, type, &actual);
    if (actual == SIZE_MAX || actual < length) throw argument_error(env, message);
    return data;
  }

  // One napi_get_typedarray_info call (this is on every search's path): the data
  // pointer (byte offset applied) and element count, or *length = SIZE_MAX if `value`
  // is not a typed array of `type`.
  template <class T>
  static T* typed_array(Napi::Env env, Napi::Value value, napi_typedarray_type type, size_t* length) {
    napi_typedarray_type actual_type;
    void* data = nullptr;
    if (napi_get_typedarray_info(env, value, &actual_type, length, &data, nullptr, nullptr) != napi_ok ||
        actual_type != type) {
      *length = SIZE_MAX;
      return nullptr;
    }
    return static_cast<T*>(data);
  }

  // Search parameters arrive as one Float64Array [k, exact, rerank, effort, probes, beam,
  // eps] (kParamCount): one N-API call instead of seven on every search.
  static constexpr size_t kParamCount = 7;
  index::SearchParams read_params(Napi::Env env, Napi::Value value) {
    size_t length = 0;
    const double* p = typed_array<double>(env, value, napi_float64_array, &length);
    if (length == SIZE_MAX || length < kParamCount) {
      throw argument_error(env, "search parameters must be a Float64Array of 7 numbers");
    }
    auto count = [](double x, double max) { return (x >= 0 && x <= max) ? static_cast<size_t>(x) : 0; };
    index::SearchParams params;
    params.k = count(p[0], double(index::kMaxK));  // 0 (also for NaN) -> INVALID_ARGUMENT from search
    params.exact = p[1] != 0;
    params.rerank = count(p[2], double(index::kMaxK));
    params.effort = (p[3] > 0 && p[3] <= 1) ? p[3] : 0;
    params.probes = count(p[4], 1e9);
    params.beam = count(p[5], 1e9);
    params.eps = p[6] >= 0 ? p[6] : -1;  // NaN and negatives: the default
    return params;
  }

  // add(ids, vectors, upsert) -> Promise<void>
  Napi::Value Add(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto store = open_store(env);
    auto ids = std::make_shared<std::vector<std::string>>(read_ids(env, info[0]));
    const size_t dim = store->dim();
    const float* data = read_floats(env, info[1], ids->size() * dim, "vectors");
    auto vectors = std::make_shared<std::vector<float>>(data, data + ids->size() * dim);
    auto mode = info[2].ToBoolean() ? index::WriteMode::upsert : index::WriteMode::insert;
    auto* worker = new PromiseWorker(
        env, [store, ids, vectors, mode] { return store->add(*ids, vectors->data(), ids->size(), mode); },
        [](Napi::Env env) { return env.Undefined(); });
    worker->Queue();
    return worker->promise();
  }

  // remove(ids) -> Promise<void>
  Napi::Value Remove(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto store = open_store(env);
    auto ids = std::make_shared<std::vector<std::string>>(read_ids(env, info[0]));
    auto* worker = new PromiseWorker(
        env, [store, ids] { return store->remove(*ids); }, [](Napi::Env env) { return env.Undefined(); });
    worker->Queue();
    return worker->promise();
  }

  // get(id) -> Float32Array (a copy)
  Napi::Value Get(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto store = open_store(env);
    if (!info[0].IsString()) throw argument_error(env, "id must be a string");
    Napi::Float32Array out = Napi::Float32Array::New(env, store->dim());
    Status status = store->get(info[0].As<Napi::String>().Utf8Value(), out.Data());
    if (!status.is_ok()) throw make_error(env, status);
    return out;
  }

  Napi::Value Has(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto store = open_store(env);
    if (!info[0].IsString()) throw argument_error(env, "id must be a string");
    return Napi::Boolean::New(env, store->contains(info[0].As<Napi::String>().Utf8Value()));
  }

  Napi::Value Size(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), double(open_store(info.Env())->size()));
  }

  // searchSync(query, params, distancesOut, boundariesOut) -> joined ids.
  // distancesOut (Float32Array, >= k): hit i's distance at [i].
  // boundariesOut (Uint32Array, >= k + 2): [0] = hit count n, [1] = 0, and hit i's id is
  // joined.slice(boundariesOut[i + 1], boundariesOut[i + 2]).
  Napi::Value SearchSync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const auto& store = open_store_ref(env);
    const float* query = read_floats(env, info[0], store->dim(), "query");
    index::SearchParams params = read_params(env, info[1]);
    float* distances = read_output<float>(env, info[2], napi_float32_array, params.k,
                                          "distancesOut must be a Float32Array of at least k floats");
    uint32_t* boundaries = read_output<uint32_t>(env, info[3], napi_uint32_array, params.k + 2,
                                                 "boundariesOut must be a Uint32Array of at least k + 2 elements");
    // The JS thread is the only caller of the sync path: its scratch is reused, so a
    // search allocates nothing here once the buffers have grown.
    std::vector<index::SearchHit>& hits = sync_hits_;
    Status status = store->search(query, params, &hits);
    if (!status.is_ok()) throw make_error(env, status);
    for (size_t i = 0; i < hits.size(); ++i) distances[i] = hits[i].distance;
    boundaries[0] = static_cast<uint32_t>(hits.size());  // count first, then the ends
    return join_ids(env, hits, boundaries + 1, sync_joined_);
  }

  // search(query, params) -> Promise<[joined ids, boundaries, distances]>,
  // the layout of searchSync.
  Napi::Value Search(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto store = open_store(env);
    const size_t dim = store->dim();
    const float* data = read_floats(env, info[0], dim, "query");
    auto query = std::make_shared<std::vector<float>>(data, data + dim);
    index::SearchParams params = read_params(env, info[1]);
    auto hits = std::make_shared<std::vector<index::SearchHit>>();
    auto* worker = new PromiseWorker(
        env, [store, query, params, hits] { return store->search(query->data(), params, hits.get()); },
        [hits](Napi::Env env) -> Napi::Value {
          Napi::Float32Array distances = Napi::Float32Array::New(env, hits->size());
          Napi::Uint32Array boundaries = Napi::Uint32Array::New(env, hits->size() + 2);
          for (size_t i = 0; i < hits->size(); ++i) distances[i] = (*hits)[i].distance;
          boundaries[0] = static_cast<uint32_t>(hits->size());
          std::string scratch;
          Napi::String joined = join_ids(env, *hits, boundaries.Data() + 1, scratch);
          Napi::Array result = Napi::Array::New(env, 3);
          result.Set(0u, joined);
          result.Set(1u, boundaries);
          result.Set(2u, distances);
          return result;
        });
    worker->Queue();
    return worker->promise();
  }

  // timeSearch(query, params, iterations) -> median ns per search, timed in
  // native code. Internal: the kernel benchmark subtracts it from searchSync's time to
  // get the cost of crossing the JS boundary alone.
  Napi::Value TimeSearch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto store = open_store(env);
    const float* query = read_floats(env, info[0], store->dim(), "query");
    index::SearchParams params = read_params(env, info[1]);
    const int iterations = info[2].IsNumber() ? std::max(1, info[2].As<Napi::Number>().Int32Value()) : 1000;
    std::vector<index::SearchHit> hits;
    std::vector<double> rounds;
    for (int round = 0; round < 7; ++round) {
      auto start = std::chrono::steady_clock::now();
      for (int i = 0; i < iterations; ++i) {
        Status status = store->search(query, params, &hits);
        if (!status.is_ok()) throw make_error(env, status);
      }
      std::chrono::duration<double, std::nano> elapsed = std::chrono::steady_clock::now() - start;
      rounds.push_back(elapsed.count() / iterations);
    }
    std::sort(rounds.begin(), rounds.end());
    return Napi::Number::New(env, rounds[rounds.size() / 2]);
  }

  // stats() -> { items, indexBytes, vectorBytes, leaves, innerNodes, depth, pageSize, leafCapacity }
  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    index::IndexStats stats = open_store(env)->stats();
    Napi::Object result = Napi::Object::New(env);
    result.Set("items", double(stats.items));
    result.Set("indexBytes", double(stats.index_bytes));
    result.Set("vectorBytes", double(stats.vector_bytes));
    result.Set("leaves", double(stats.leaves));
    result.Set("innerNodes", double(stats.inner_nodes));
    result.Set("depth", double(stats.depth));
    result.Set("pageSize", double(stats.page_size));
    result.Set("leafCapacity", double(stats.leaf_capacity));
    return result;
  }

  // Drops this handle's reference; work already queued keeps its own until it ends.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    store_.reset();
    return info.Env().Undefined();
  }

  std::shared_ptr<index::VectorIndex> store_;
  std::vector<index::SearchHit> sync_hits_;  // searchSync's scratch (JS thread only)
  std::string sync_joined_;
};

}  // namespace

Napi::Function define_native_store(Napi::Env env, LociAddon* addon) {
  Napi::Function constructor = NativeStore::Define(env);
  addon->store_constructor = Napi::Persistent(constructor);
  return constructor;
}

}  // namespace loci::addon
