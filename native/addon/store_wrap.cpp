// NativeStore: the JS face of the engine's store. The TS layer (src/store.ts) validates
// and normalises arguments with precise messages; this layer re-checks only what memory
// safety depends on (types, typed-array lengths) and maps Status to LociError.
//
// Work that can take long (batched writes, async search) runs on the libuv pool through
// PromiseWorker. Inputs are copied before the JS call returns (a caller may transfer or
// detach its ArrayBuffer while the work runs).
//
// Copying a batch's ids, texts and metas means one N-API string read each, on the JS
// thread (~1.5 us per item with a 500-byte text), so src/store.ts hands a large batch
// over in slices, one per event-loop turn (src/writes.ts): NativeBatch.append() copies a
// slice into a staged WriteBatch, and the write's last call, add() or remove() with the
// NativeBatch as `staged`, adds the final slice and queues the whole batch as one write.
// Vectors arrive a slice at a time too, in a small Float32Array the TS layer reuses, so
// no write allocates an ArrayBuffer the size of its batch (which made V8 collect
// garbage on the event loop under "external memory pressure").

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>

#include "addon/addon.h"
#include "engine/engine.h"
#include "index/validate.h"

namespace loci::addon {
namespace {


// Runs `execute` on the libuv pool, then settles a Promise on the JS thread: resolved
// with `resolve(env)` if the Status is ok, rejected with a LociError otherwise.
class PromiseWorker : public Napi::AsyncWorker {
 public:
  PromiseWorker(Napi::Env env, std::function<Status()> execute,
                std::function<Napi::Value(Napi::Env)> resolve, std::function<void()> settled = nullptr)
      : Napi::AsyncWorker(env, "loci"),
        deferred_(Napi::Promise::Deferred::New(env)),
        execute_(std::move(execute)),
        resolve_(std::move(resolve)),
        settled_(std::move(settled)) {}

  Napi::Promise promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override { status_ = execute_(); }  // no N-API calls here
  void OnOK() override {
    Napi::Env env = Env();
    if (settled_) settled_();
    if (status_.is_ok()) {
      deferred_.Resolve(resolve_(env));
    } else {
      deferred_.Reject(make_error(env, status_).Value());
    }
  }
  void OnError(const Napi::Error& error) override {
    if (settled_) settled_();
    deferred_.Reject(error.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::function<Status()> execute_;
  std::function<Napi::Value(Napi::Env)> resolve_;
  std::function<void()> settled_;  // runs on the JS thread before the Promise settles
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

// Appends the strings of `value`, an array of strings, to *out.
void read_ids(Napi::Env env, Napi::Value value, std::vector<std::string>* out) {
  if (!value.IsArray()) throw argument_error(env, "ids must be an array of strings");
  Napi::Array array = value.As<Napi::Array>();
  const uint32_t length = array.Length();
  out->reserve(out->size() + length);
  for (uint32_t i = 0; i < length; ++i) {
    Napi::Value id = array.Get(i);
    if (!id.IsString()) throw argument_error(env, "id at index " + std::to_string(i) + " is not a string");
    out->push_back(id.As<Napi::String>().Utf8Value());
  }
}

// Appends `count` strings to *out from `value`, an optional array of `count` strings
// (undefined: all empty; an undefined element: empty).
void read_strings(Napi::Env env, Napi::Value value, size_t count, const char* what, std::vector<std::string>* out) {
  const size_t first = out->size();
  out->resize(first + count);
  if (value.IsUndefined() || value.IsNull()) return;
  if (!value.IsArray() || value.As<Napi::Array>().Length() != count) {
    throw argument_error(env, std::string(what) + " must be an array with one string per item");
  }
  Napi::Array array = value.As<Napi::Array>();
  for (uint32_t i = 0; i < count; ++i) {
    Napi::Value item = array.Get(i);
    if (item.IsUndefined() || item.IsNull()) continue;
    if (!item.IsString()) throw argument_error(env, std::string(what) + " at index " + std::to_string(i) + " is not a string");
    (*out)[first + i] = item.As<Napi::String>().Utf8Value();
  }
}

// One napi_get_typedarray_info call (this is on every search's path): the data
// pointer (byte offset applied) and element count, or *length = SIZE_MAX if `value`
// is not a typed array of `type`.
template <class T>
T* typed_array(Napi::Env env, Napi::Value value, napi_typedarray_type type, size_t* length) {
  napi_typedarray_type actual_type;
  void* data = nullptr;
  if (value.IsEmpty() ||
      napi_get_typedarray_info(env, value, &actual_type, length, &data, nullptr, nullptr) != napi_ok ||
      actual_type != type) {
    *length = SIZE_MAX;
    return nullptr;
  }
  return static_cast<T*>(data);
}

// Appends one slice of items to `batch`, all or nothing: ids (checked non-empty and at
// most 1,024 bytes: an error comes back as the Status), and for add and upsert their
// vectors (a Float32Array of exactly ids x dim floats, copied; values are checked on the
// pool), times (Float64Array, or undefined: none), texts and metas (arrays of strings, or
// undefined: none). Throws for arguments of the wrong type or size.
Status append_items(Napi::Env env, engine::WriteBatch* batch, size_t dim, Napi::Value ids, Napi::Value vectors,
                    Napi::Value times, Napi::Value texts, Napi::Value metas) {
  engine::WriteBatch slice;
  read_ids(env, ids, &slice.ids);
  const size_t count = slice.ids.size();
  LOCI_RETURN_IF_ERROR(index::check_batch(slice.ids, nullptr, count, 0));  // ids only: values are checked on the pool
  const bool items = batch->op != engine::BatchOp::remove;
  const float* rows = nullptr;
  if (items) {
    size_t length = 0;
    rows = typed_array<float>(env, vectors, napi_float32_array, &length);
    if (length == SIZE_MAX) throw argument_error(env, "vectors must be a Float32Array");
    if (length != count * dim) {
      throw make_error(env, Status::error(StatusCode::dim_mismatch, "vectors has " + std::to_string(length) +
                                                                        " floats, expected " + std::to_string(count * dim)));
    }
    slice.times.assign(count, std::nan(""));
    if (!times.IsUndefined() && !times.IsNull()) {
      const double* values = typed_array<double>(env, times, napi_float64_array, &length);
      if (length != count) throw argument_error(env, "times must be a Float64Array with one time per item");
      slice.times.assign(values, values + count);
    }
    read_strings(env, texts, count, "texts", &slice.texts);
    read_strings(env, metas, count, "metas", &slice.metas);
  }
  // Nothing below calls into JS: the slice joins the batch whole.
  auto move_into = [](std::vector<std::string>& from, std::vector<std::string>& to) {
    to.insert(to.end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()));
  };
  move_into(slice.ids, batch->ids);
  if (items) {
    batch->vectors.insert(batch->vectors.end(), rows, rows + count * dim);
    batch->times.insert(batch->times.end(), slice.times.begin(), slice.times.end());
    move_into(slice.texts, batch->texts);
    move_into(slice.metas, batch->metas);
  }
  return Status::ok();
}

// NativeBatch: a write being handed over slice by slice (see the top of this file).
// new NativeBatch(op, dim, items): op 0 add or upsert (add() says which), 1 remove; dim
// the store's (checked when the batch is queued); items how many the write holds (a
// hint to reserve room, capped).
class NativeBatch : public Napi::ObjectWrap<NativeBatch> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeBatch", {InstanceMethod("append", &NativeBatch::Append)});
  }

  explicit NativeBatch(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeBatch>(info) {
    Napi::Env env = info.Env();
    // Tagged so that add() and remove() can tell a NativeBatch from any other object
    // (unwrapping one of another class would be undefined behaviour).
    NAPI_THROW_IF_FAILED_VOID(env, napi_type_tag_object(env, info.This(), &kTag));
    auto number = [&](size_t i, double max) {
      const double x = info[i].IsNumber() ? info[i].As<Napi::Number>().DoubleValue() : 0;
      return x >= 0 && x <= max ? static_cast<size_t>(x) : 0;
    };
    batch_.op = number(0, 1) == 1 ? engine::BatchOp::remove : engine::BatchOp::add;
    dim_ = number(1, 1 << 20);
    const size_t items = std::min<size_t>(number(2, 1e9), 1 << 20);
    batch_.ids.reserve(items);
    if (batch_.op != engine::BatchOp::remove) {
      batch_.vectors.reserve(std::min<size_t>(items * dim_, size_t(1) << 26));
      batch_.times.reserve(items);
      batch_.texts.reserve(items);
      batch_.metas.reserve(items);
    }
  }

  // The NativeBatch `value` made for `op` and `dim`, or nullptr if `value` is undefined;
  // throws for anything else and for a batch already queued.
  static NativeBatch* from(Napi::Env env, Napi::Value value, engine::BatchOp op, size_t dim) {
    if (value.IsUndefined()) return nullptr;
    bool tagged = false;
    if (!value.IsObject() || napi_check_object_type_tag(env, value, &kTag, &tagged) != napi_ok || !tagged) {
      throw argument_error(env, "staged must be a NativeBatch");
    }
    NativeBatch* staged = Unwrap(value.As<Napi::Object>());
    if (staged->queued_) throw argument_error(env, "this NativeBatch was already queued");
    const bool remove = op == engine::BatchOp::remove;
    if (remove != (staged->batch_.op == engine::BatchOp::remove) || (!remove && staged->dim_ != dim)) {
      throw argument_error(env, "this NativeBatch was made for another kind of write or another dim");
    }
    return staged;
  }

  engine::WriteBatch* batch() { return &batch_; }
  // The staged batch, given up to be queued.
  engine::WriteBatch take() {
    queued_ = true;
    return std::move(batch_);
  }

 private:
  static constexpr napi_type_tag kTag = {0x6c6f63692d626174ull, 0x63682d7631000001ull};  // "loci-batch-v1"

  // append(ids, vectors?, times?, texts?, metas?): one slice (ids alone for a remove);
  // rejected ids throw their LociError and append nothing.
  void Append(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (queued_) throw argument_error(env, "this NativeBatch was already queued");
    Status status = append_items(env, &batch_, dim_, info[0], info[1], info[2], info[3], info[4]);
    if (!status.is_ok()) throw make_error(env, status);
  }

  engine::WriteBatch batch_;
  size_t dim_ = 0;
  bool queued_ = false;
};

class NativeStore : public Napi::ObjectWrap<NativeStore> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeStore",
                       {
                           InstanceMethod("open", &NativeStore::Open),
                           InstanceMethod("add", &NativeStore::Add),
                           InstanceMethod("remove", &NativeStore::Remove),
                           InstanceMethod("get", &NativeStore::Get),
                           InstanceMethod("getItem", &NativeStore::GetItem),
                           InstanceMethod("has", &NativeStore::Has),
                           InstanceMethod("size", &NativeStore::Size),
                           InstanceMethod("searchSync", &NativeStore::SearchSync),
                           InstanceMethod("search", &NativeStore::Search),
                           InstanceMethod("checkpoint", &NativeStore::Checkpoint),
                           InstanceMethod("close", &NativeStore::Close),
                           InstanceMethod("timeSearch", &NativeStore::TimeSearch),
                           InstanceMethod("stats", &NativeStore::Stats),
                           StaticMethod("verify", &NativeStore::Verify),
                       });
  }

  // new NativeStore(): an empty handle; open(config) attaches an engine.
  explicit NativeStore(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeStore>(info) {}

 private:
  // open(config) -> Promise<report>. config: { dir, dim, metric, quantization, index,
  // pageSize, fanout, replicas, buildFill, durability, syncIntervalMs, checkpointBytes, recovery, faults };
  // numbers, -1 / 0 meaning "default or as stored" (native/engine/engine.h).
  Napi::Value Open(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (engine_ || opening_) throw argument_error(env, "this handle is already open");
    if (!info[0].IsObject()) throw argument_error(env, "open(config) expects an object");
    Napi::Object config = info[0].As<Napi::Object>();
    auto number = [&](const char* name, double fallback) {
      Napi::Value value = config.Get(name);
      if (!value.IsNumber()) return fallback;
      double x = value.As<Napi::Number>().DoubleValue();
      return std::isfinite(x) ? x : fallback;
    };
    auto options = std::make_shared<engine::EngineOptions>();
    Napi::Value dir = config.Get("dir");
    if (dir.IsString()) options->dir = dir.As<Napi::String>().Utf8Value();
    auto clamp = [](double x, double lo, double hi) { return x < lo ? lo : (x > hi ? hi : x); };
    options->dim = static_cast<size_t>(clamp(number("dim", 0), 0, 1e9));
    options->metric = static_cast<int>(clamp(number("metric", -1), -1, 255));
    options->quantization = static_cast<int>(clamp(number("quantization", -1), -1, 255));
    options->index = static_cast<int>(clamp(number("index", -1), -1, 255));
    options->page_size = static_cast<size_t>(clamp(number("pageSize", 0), 0, 1e9));
    options->fanout = static_cast<size_t>(clamp(number("fanout", 0), 0, 1e9));
    options->replicas = static_cast<size_t>(clamp(number("replicas", 1), 0, 1e9));  // range checked by Atlas::create
    options->build_fill = number("buildFill", 0);                                    // likewise; 0 = default
    const int durability = static_cast<int>(clamp(number("durability", 0), 0, 2));
    options->durability = static_cast<engine::Durability>(durability);
    options->sync_interval_ms = static_cast<uint32_t>(clamp(number("syncIntervalMs", 10), 1, 3.6e6));
    options->checkpoint_bytes = static_cast<uint64_t>(clamp(number("checkpointBytes", 64 << 20), 4096, 1e15));
    options->recovery = static_cast<engine::RecoveryMode>(static_cast<int>(clamp(number("recovery", 0), 0, 2)));
    auto result = std::make_shared<std::shared_ptr<engine::Engine>>();
    auto report = std::make_shared<engine::OpenReport>();
    opening_ = true;
    auto* worker = new PromiseWorker(
        env, [options, result, report] { return engine::Engine::acquire(*options, result.get(), report.get()); },
        [this, result, report](Napi::Env env) -> Napi::Value {
          engine_ = std::move(*result);
          const storage::Manifest& shape = engine_->shape();
          Napi::Object out = Napi::Object::New(env);
          out.Set("dim", double(shape.dim));
          out.Set("metric", double(shape.metric));
          out.Set("quantization", double(shape.quantization));
          out.Set("index", double(shape.index));
          out.Set("pageSize", double(shape.page_size));
          out.Set("fanout", double(shape.fanout));
          out.Set("created", report->created);
          out.Set("replayedRecords", double(report->replayed_records));
          out.Set("replayedBytes", double(report->replayed_bytes));
          out.Set("loadMs", report->load_ms);
          out.Set("replayMs", report->replay_ms);
          out.Set("recoveryNote", report->recovery_note);
          return out;
        },
        [this] {
          opening_ = false;
          Unref();
        });
    Ref();  // the handle outlives the open even if JS drops it meanwhile
    worker->Queue();
    return worker->promise();
  }

  static Napi::Value Verify(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsString()) throw argument_error(env, "verify(dir) expects a directory path");
    auto dir = std::make_shared<std::string>(info[0].As<Napi::String>().Utf8Value());
    auto report = std::make_shared<std::string>();
    auto* worker = new PromiseWorker(
        env, [dir, report] { return engine::Engine::verify(*dir, report.get()); },
        [report](Napi::Env env) -> Napi::Value { return Napi::String::New(env, *report); });
    worker->Queue();
    return worker->promise();
  }

  // For sync calls: no reference-count traffic; close() cannot run during the call.
  const std::shared_ptr<engine::Engine>& open_engine_ref(Napi::Env env) {
    if (!engine_) {
      throw make_error(env, Status::error(StatusCode::closed, "the store is closed: open it again with Store.open()"));
    }
    return engine_;
  }

  // The engine, shared with workers in flight so close() cannot free it under them.
  std::shared_ptr<engine::Engine> open_engine(Napi::Env env) { return open_engine_ref(env); }

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

  // A Promise already rejected with `status`: content errors of async calls reject
  // (type errors, which are programming errors, throw).
  static Napi::Value rejected(Napi::Env env, const Status& status) {
    auto deferred = Napi::Promise::Deferred::New(env);
    deferred.Reject(make_error(env, status).Value());
    return deferred.Promise();
  }

  // Queues a batch now (so writes apply in call order) and commits it on the pool.
  Napi::Value QueueWrite(Napi::Env env, const std::shared_ptr<engine::Engine>& engine, engine::WriteBatch batch) {
    auto pending = engine->submit(std::move(batch));
    auto* worker = new PromiseWorker(
        env, [engine, pending] { return engine->commit(pending); }, [](Napi::Env env) { return env.Undefined(); });
    worker->Queue();
    return worker->promise();
  }

  // add(ids, vectors, upsert, times?: Float64Array, texts?: string[], metas?: string[],
  //     staged?: NativeBatch) -> Promise<void>: `vectors` holds ids.length x dim floats.
  // With `staged`, these items are the last slice of the batch staged so far.
  Napi::Value Add(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto engine = open_engine(env);
    const size_t dim = engine->shape().dim;
    NativeBatch* staged = NativeBatch::from(env, info[6], engine::BatchOp::add, dim);
    engine::WriteBatch fresh;
    engine::WriteBatch* batch = staged ? staged->batch() : &fresh;
    batch->op = info[2].ToBoolean() ? engine::BatchOp::upsert : engine::BatchOp::add;
    Status checked = append_items(env, batch, dim, info[0], info[1], info[3], info[4], info[5]);
    if (!checked.is_ok()) return rejected(env, checked);
    return QueueWrite(env, engine, staged ? staged->take() : std::move(fresh));
  }

  // remove(ids, staged?: NativeBatch) -> Promise<void>
  Napi::Value Remove(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto engine = open_engine(env);
    NativeBatch* staged = NativeBatch::from(env, info[1], engine::BatchOp::remove, 0);
    engine::WriteBatch fresh;
    fresh.op = engine::BatchOp::remove;
    engine::WriteBatch* batch = staged ? staged->batch() : &fresh;
    Status checked = append_items(env, batch, 0, info[0], Napi::Value(), Napi::Value(), Napi::Value(), Napi::Value());
    if (!checked.is_ok()) return rejected(env, checked);
    return QueueWrite(env, engine, staged ? staged->take() : std::move(fresh));
  }

  // checkpoint(compact) -> Promise<void>
  Napi::Value Checkpoint(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto engine = open_engine(env);
    const bool compact = info[0].ToBoolean();
    auto* worker = new PromiseWorker(
        env, [engine, compact] { return engine->checkpoint(compact); }, [](Napi::Env env) { return env.Undefined(); });
    worker->Queue();
    return worker->promise();
  }

  // get(id) -> Float32Array (a copy)
  Napi::Value Get(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const auto& engine = open_engine_ref(env);
    if (!info[0].IsString()) throw argument_error(env, "id must be a string");
    Napi::Float32Array out = Napi::Float32Array::New(env, engine->shape().dim);
    Status status = engine->get(info[0].As<Napi::String>().Utf8Value(), out.Data(), nullptr);
    if (!status.is_ok()) throw make_error(env, status);
    return out;
  }

  // getItem(id) -> [vector: Float32Array, time: number, text: string, meta: string]
  Napi::Value GetItem(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const auto& engine = open_engine_ref(env);
    if (!info[0].IsString()) throw argument_error(env, "id must be a string");
    Napi::Float32Array vector = Napi::Float32Array::New(env, engine->shape().dim);
    engine::ItemView item;
    Status status = engine->get(info[0].As<Napi::String>().Utf8Value(), vector.Data(), &item);
    if (!status.is_ok()) throw make_error(env, status);
    Napi::Array out = Napi::Array::New(env, 4);
    out.Set(0u, vector);
    out.Set(1u, Napi::Number::New(env, item.time));
    out.Set(2u, Napi::String::New(env, item.text));
    out.Set(3u, Napi::String::New(env, item.meta));
    return out;
  }

  Napi::Value Has(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const auto& engine = open_engine_ref(env);
    if (!info[0].IsString()) throw argument_error(env, "id must be a string");
    return Napi::Boolean::New(env, engine->contains(info[0].As<Napi::String>().Utf8Value()));
  }

  Napi::Value Size(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), double(open_engine_ref(info.Env())->size()));
  }

  // searchSync(query, params, distancesOut, boundariesOut) -> joined ids.
  // distancesOut (Float32Array, >= k): hit i's distance at [i].
  // boundariesOut (Uint32Array, >= k + 2): [0] = hit count n, [1] = 0, and hit i's id is
  // joined.slice(boundariesOut[i + 1], boundariesOut[i + 2]).
  Napi::Value SearchSync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const index::VectorIndex& store = open_engine_ref(env)->index();
    const float* query = read_floats(env, info[0], store.dim(), "query");
    index::SearchParams params = read_params(env, info[1]);
    float* distances = read_output<float>(env, info[2], napi_float32_array, params.k,
                                          "distancesOut must be a Float32Array of at least k floats");
    uint32_t* boundaries = read_output<uint32_t>(env, info[3], napi_uint32_array, params.k + 2,
                                                 "boundariesOut must be a Uint32Array of at least k + 2 elements");
    // The JS thread is the only caller of the sync path: its scratch is reused, so a
    // search allocates nothing here once the buffers have grown.
    std::vector<index::SearchHit>& hits = sync_hits_;
    Status status = store.search(query, params, &hits);
    if (!status.is_ok()) throw make_error(env, status);
    for (size_t i = 0; i < hits.size(); ++i) distances[i] = hits[i].distance;
    boundaries[0] = static_cast<uint32_t>(hits.size());  // count first, then the ends
    return join_ids(env, hits, boundaries + 1, sync_joined_);
  }

  // search(query, params) -> Promise<[joined ids, boundaries, distances]>,
  // the layout of searchSync.
  Napi::Value Search(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto engine = open_engine(env);
    const size_t dim = engine->shape().dim;
    const float* data = read_floats(env, info[0], dim, "query");
    auto query = std::make_shared<std::vector<float>>(data, data + dim);
    index::SearchParams params = read_params(env, info[1]);
    auto hits = std::make_shared<std::vector<index::SearchHit>>();
    auto* worker = new PromiseWorker(
        env, [engine, query, params, hits] { return engine->index().search(query->data(), params, hits.get()); },
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
    const index::VectorIndex& store = open_engine_ref(env)->index();
    const float* query = read_floats(env, info[0], store.dim(), "query");
    index::SearchParams params = read_params(env, info[1]);
    const int iterations = info[2].IsNumber() ? std::max(1, info[2].As<Napi::Number>().Int32Value()) : 1000;
    std::vector<index::SearchHit> hits;
    std::vector<double> rounds;
    for (int round = 0; round < 7; ++round) {
      auto start = std::chrono::steady_clock::now();
      for (int i = 0; i < iterations; ++i) {
        Status status = store.search(query, params, &hits);
        if (!status.is_ok()) throw make_error(env, status);
      }
      std::chrono::duration<double, std::nano> elapsed = std::chrono::steady_clock::now() - start;
      rounds.push_back(elapsed.count() / iterations);
    }
    std::sort(rounds.begin(), rounds.end());
    return Napi::Number::New(env, rounds[rounds.size() / 2]);
  }

  // stats() -> { items, indexBytes, vectorBytes, vectorMappedBytes, leaves, innerNodes, depth, pageSize,
  //              leafCapacity, leafEntries, lsn, checkpointLsn, checkpoints, walBytes, arenaBytes,
  //              arenaLiveBytes, diskBytes, groupCommits, batches }
  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const auto& engine = open_engine_ref(env);
    index::IndexStats stats = engine->index().stats();
    engine::EngineStats disk = engine->stats();
    Napi::Object result = Napi::Object::New(env);
    result.Set("items", double(stats.items));
    result.Set("indexBytes", double(stats.index_bytes));
    result.Set("vectorBytes", double(stats.vector_bytes));
    result.Set("vectorMappedBytes", double(stats.vector_mapped_bytes));
    result.Set("leaves", double(stats.leaves));
    result.Set("innerNodes", double(stats.inner_nodes));
    result.Set("depth", double(stats.depth));
    result.Set("pageSize", double(stats.page_size));
    result.Set("leafCapacity", double(stats.leaf_capacity));
    result.Set("leafEntries", double(stats.leaf_entries));
    result.Set("lsn", double(disk.lsn));
    result.Set("checkpointLsn", double(disk.checkpoint_lsn));
    result.Set("checkpoints", double(disk.checkpoints));
    result.Set("walBytes", double(disk.wal_bytes));
    result.Set("arenaBytes", double(disk.arena_bytes));
    result.Set("arenaLiveBytes", double(disk.arena_live_bytes));
    result.Set("diskBytes", double(disk.disk_bytes));
    result.Set("groupCommits", double(disk.groups));
    result.Set("batches", double(disk.batches));
    return result;
  }

  // close() -> Promise<void>: checkpoints a durable store and releases its lock once
  // work already queued has finished (the TS layer waits for its own operations first).
  Napi::Value Close(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::shared_ptr<engine::Engine> engine = std::move(engine_);
    engine_.reset();
    if (!engine) {
      auto deferred = Napi::Promise::Deferred::New(env);
      deferred.Resolve(env.Undefined());
      return deferred.Promise();
    }
    auto* worker = new PromiseWorker(
        env, [engine]() mutable { return engine::Engine::release(std::move(engine)); },
        [](Napi::Env env) { return env.Undefined(); });
    worker->Queue();
    return worker->promise();
  }

 public:
  // A handle collected (or its worker torn down) without close() gives up its share;
  // the last share closes the store here, on the JS thread.
  ~NativeStore() override {
    if (engine_) engine::Engine::release(std::move(engine_));
  }

 private:

  std::shared_ptr<engine::Engine> engine_;
  bool opening_ = false;
  std::vector<index::SearchHit> sync_hits_;  // searchSync's scratch (JS thread only)
  std::string sync_joined_;
};

}  // namespace

Napi::Function define_native_store(Napi::Env env, LociAddon* addon) {
  Napi::Function constructor = NativeStore::Define(env);
  addon->store_constructor = Napi::Persistent(constructor);
  return constructor;
}

Napi::Function define_native_batch(Napi::Env env, LociAddon* addon) {
  Napi::Function constructor = NativeBatch::Define(env);
  addon->batch_constructor = Napi::Persistent(constructor);
  return constructor;
}

}  // namespace loci::addon
