// Kernel benchmark, native half of `npm run bench:kernels`: nanoseconds per vector for
// the f32 and i8 kernels with no JS call in the loop (a JS -> native call alone costs
// 60-160 ns, more than the work measured here).
//
// For every kernel variant this CPU can run and d in {384, 768, 1536}:
//  - pair:          dot_f32, l2sq_f32, dot_i8 over a few vectors that stay in L1, ns per call;
//  - page in cache: dot_f32_rows, l2sq_f32_rows, dot_i8_rows over one page of 64
//                   contiguous rows, scanned again and again, ns per vector;
//  - L1 block:      the same row kernels over the most rows (a multiple of 4) that fit in
//                   24 KiB, so the rows stay in L1 even where a 64-row page does not: the
//                   compute floor of the kernel, apart from where the page lives;
//  - out of cache:  the streaming forms of the row kernels (kernels/stream.h) over at least 100K rows and at least 8x the
//                   last-level cache, in 64-row pages from first to last, so every pass
//                   reads DRAM.
// In the same run it measures the read bandwidth one thread gets from buffers the size of
// each working set (a plain streaming read, no arithmetic to speak of): over 1 GiB that is
// this machine's memory bandwidth, the ceiling of the out-of-cache figures; over a page it
// is the ceiling of the in-cache figure. Then it prints the d=768 targets of the kernel
// issue as PASS/MISS.
//
// Every kernel figure is the median of `trials` trials of at least `min_trial_ms` each,
// timed with steady_clock. All measurements are calibrated first and their trials spread
// over `rounds` passes through the whole list, so on a shared machine a neighbour's burst
// lands in a few trials of many figures instead of every trial of one. Read ceilings are
// the best trial; the memory bandwidth is the best 1 GiB pass of those run at the start,
// before every out-of-cache measurement and at the end. Kernels are called through the
// KernelSet function pointers (defined in another translation unit, so nothing can be
// folded away) and their results go into a volatile sink.
//
// Usage: bench_kernels [--quick] [--json <file>] [--isa <name>]
//   --quick   fewer, shorter trials, one round, a smaller out-of-cache set (CI smoke, < 20 s)
//   --json    also write every figure, the hardware, date and compiler as JSON
//   --isa     measure only this variant (serial, haswell, skylake, icelake, neon, neon_sdot)
// Build it optimised and without sanitizers: bench/kernels-native.sh does.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#include <sys/utsname.h>
#endif
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif

#include "kernels/kernels.h"
#include "kernels/quantize.h"
#include "kernels/stream.h"

using namespace loci::kernels;

namespace {

using Clock = std::chrono::steady_clock;

const size_t kDims[] = {384, 768, 1536};
constexpr size_t kPageRows = 64;
constexpr size_t kOutOfCacheRows = 100000;
constexpr size_t kL1BlockBytes = 24 << 10;  // leaves a 32 KiB L1d room for query and stack

// The targets of the kernel issue, checked at d = 768.
constexpr size_t kTargetDim = 768;
constexpr double kTargetI8PageNs = 4.5;
constexpr double kTargetI8OverF32 = 4.0;
constexpr double kTargetBandwidthShare = 0.80;

volatile double g_sink;  // every timed loop ends by storing what it computed here

struct Settings {
  bool quick = false;
  int trials = 15;
  int rounds = 3;  // the trials of each measurement are spread over this many rounds
  double min_trial_seconds = 0.020;
  size_t bandwidth_bytes = size_t(1) << 30;
  int bandwidth_passes = 8;
  size_t last_level_multiple = 8;  // out-of-cache sets are at least this many times the LLC
  std::string json_path;
  std::string only_isa;
};

// Makes the compiler assume any memory may have changed, so a pure function of a buffer
// (the read loops below) is not computed once and reused across repetitions.
inline void clobber_memory() {
#if defined(__GNUC__) || defined(__clang__)
  asm volatile("" : : : "memory");
#else
  std::atomic_signal_fence(std::memory_order_seq_cst);
#endif
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// ---------------------------------------------------------------------------------------
// Buffers: large ones are 2 MiB aligned and, on Linux, asked for transparent huge pages,
// so that neither the bandwidth pass nor the out-of-cache scan pays for 4 KiB TLB misses
// the other does not. Every buffer is written before any timing, which faults it in.

template <class T>
struct Buffer {
  T* data = nullptr;
  size_t count = 0;
  size_t alignment = 64;

  Buffer() = default;
  explicit Buffer(size_t n) : count(n) {
    const size_t bytes = std::max<size_t>(n * sizeof(T), 64);
    alignment = bytes >= (size_t(4) << 20) ? (size_t(2) << 20) : 64;
    const size_t rounded = (bytes + alignment - 1) / alignment * alignment;
    data = static_cast<T*>(::operator new(rounded, std::align_val_t(alignment)));
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (alignment > 64) madvise(data, rounded, MADV_HUGEPAGE);
#endif
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  Buffer(Buffer&& other) noexcept { *this = std::move(other); }
  Buffer& operator=(Buffer&& other) noexcept {
    std::swap(data, other.data), std::swap(count, other.count), std::swap(alignment, other.alignment);
    return *this;
  }
  ~Buffer() {
    if (data) ::operator delete(data, std::align_val_t(alignment));
  }
  size_t bytes() const { return count * sizeof(T); }
};

// SplitMix64: fast enough to fill a gigabyte; the values do not change any timing.
struct Random {
  uint64_t state;
  explicit Random(uint64_t seed) : state(seed) {}
  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  float uniform() { return float(next() >> 40) * (2.0f / 16777216.0f) - 1.0f; }  // [-1, 1)
};

void fill_floats(Random& random, float* values, size_t count) {
  for (size_t i = 0; i < count; ++i) values[i] = random.uniform();
}

// Rows of i8 codes made by the real quantizer (codes in [-127, 127]), with their sums.
void quantize_rows(const float* values, size_t rows, size_t dim, int8_t* codes, int32_t* sums) {
  for (size_t r = 0; r < rows; ++r) sums[r] = quantize_i8(values + r * dim, dim, codes + r * dim).code_sum;
}

// ---------------------------------------------------------------------------------------
// Timing.

struct Figure {
  double median_ns = 0;  // per item (call or vector)
  double min_ns = 0;
  double max_ns = 0;
  size_t reps_per_trial = 0;
};

// One thing to time. body(reps) does `reps` units of work (a unit is items_per_rep
// calls or vectors) and returns something to sink.
struct Timed {
  Timed(std::function<double(size_t)> timed_body, double items) : body(std::move(timed_body)), items_per_rep(items) {}
  std::function<double(size_t)> body;
  double items_per_rep;
  size_t reps = 1;                  // per trial, set by calibrate()
  std::vector<double> per_item_ns;  // one entry per trial
};

double time_once(Timed& timed) {
  auto start = Clock::now();
  g_sink = timed.body(timed.reps);
  return seconds_since(start);
}

// Finds reps so one trial lasts at least min_trial_seconds; the runs double as warm-up.
void calibrate(Timed& timed, const Settings& settings) {
  timed.reps = 1;
  for (;;) {
    double seconds = time_once(timed);
    if (seconds >= settings.min_trial_seconds) break;
    double scale = seconds > 0 ? 1.25 * settings.min_trial_seconds / seconds : 100.0;
    timed.reps = std::max(timed.reps + 1, size_t(double(timed.reps) * std::min(scale, 100.0)));
  }
}

void run_trials(Timed& timed, int trials) {
  for (int t = 0; t < trials; ++t)
    timed.per_item_ns.push_back(time_once(timed) * 1e9 / (double(timed.reps) * timed.items_per_rep));
}

Figure summarise(const Timed& timed) {
  std::vector<double> sorted = timed.per_item_ns;
  std::sort(sorted.begin(), sorted.end());
  Figure figure;
  const size_t n = sorted.size();
  figure.median_ns = n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
  figure.min_ns = sorted.front();
  figure.max_ns = sorted.back();
  figure.reps_per_trial = timed.reps;
  return figure;
}

Figure measure(std::function<double(size_t)> body, double items_per_rep, const Settings& settings) {
  Timed timed{std::move(body), items_per_rep};
  calibrate(timed, settings);
  run_trials(timed, settings.trials);
  return summarise(timed);
}

// ---------------------------------------------------------------------------------------
// Read bandwidth: one thread reads a buffer front to back and sums it. The sum is 64-bit
// integer adds into independent accumulators, far cheaper than the loads, so the loop runs
// at the speed the cache or memory level holding the buffer delivers to one core.

#if defined(__x86_64__) || defined(_M_X64)
__attribute__((target("avx2"))) uint64_t read_sum_avx2(const uint64_t* words, size_t count) {
  __m256i acc0 = _mm256_setzero_si256(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
  size_t i = 0;
  for (; i + 16 <= count; i += 16) {
    acc0 = _mm256_add_epi64(acc0, _mm256_load_si256(reinterpret_cast<const __m256i*>(words + i)));
    acc1 = _mm256_add_epi64(acc1, _mm256_load_si256(reinterpret_cast<const __m256i*>(words + i + 4)));
    acc2 = _mm256_add_epi64(acc2, _mm256_load_si256(reinterpret_cast<const __m256i*>(words + i + 8)));
    acc3 = _mm256_add_epi64(acc3, _mm256_load_si256(reinterpret_cast<const __m256i*>(words + i + 12)));
  }
  __m256i acc = _mm256_add_epi64(_mm256_add_epi64(acc0, acc1), _mm256_add_epi64(acc2, acc3));
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), acc);
  uint64_t sum = lanes[0] + lanes[1] + lanes[2] + lanes[3];
  for (; i < count; ++i) sum += words[i];
  return sum;
}

// 64-byte loads: on CPUs with two 512-bit load ports, 32-byte loads would understate L1.
__attribute__((target("avx512f"))) uint64_t read_sum_avx512(const uint64_t* words, size_t count) {
  __m512i acc0 = _mm512_setzero_si512(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
  size_t i = 0;
  for (; i + 32 <= count; i += 32) {
    acc0 = _mm512_add_epi64(acc0, _mm512_load_si512(words + i));
    acc1 = _mm512_add_epi64(acc1, _mm512_load_si512(words + i + 8));
    acc2 = _mm512_add_epi64(acc2, _mm512_load_si512(words + i + 16));
    acc3 = _mm512_add_epi64(acc3, _mm512_load_si512(words + i + 24));
  }
  alignas(64) uint64_t lanes[8];
  _mm512_store_si512(lanes, _mm512_add_epi64(_mm512_add_epi64(acc0, acc1), _mm512_add_epi64(acc2, acc3)));
  uint64_t sum = 0;
  for (uint64_t lane : lanes) sum += lane;
  for (; i < count; ++i) sum += words[i];
  return sum;
}
#endif

uint64_t read_sum_portable(const uint64_t* words, size_t count) {
  uint64_t sums[8] = {};
  size_t i = 0;
  for (; i + 8 <= count; i += 8)
    for (int k = 0; k < 8; ++k) sums[k] += words[i + k];
  for (; i < count; ++i) sums[0] += words[i];
  uint64_t sum = 0;
  for (uint64_t s : sums) sum += s;
  return sum;
}

uint64_t read_sum(const uint64_t* words, size_t count) {
#if defined(__x86_64__) || defined(_M_X64)
  if (__builtin_cpu_supports("avx512f")) return read_sum_avx512(words, count);
  if (__builtin_cpu_supports("avx2")) return read_sum_avx2(words, count);
#endif
  return read_sum_portable(words, count);
}

// Memory bandwidth: whole passes over a buffer much larger than any cache. Passes run at
// the start, once before every out-of-cache measurement and at the end; the figure is the
// best of them all, so neither a busy moment nor a lucky one decides the share alone.
struct Bandwidth {
  size_t bytes = 0;
  std::vector<double> start_gbps, during_gbps, end_gbps;  // every pass, in the order run
  double best_gbps = 0;
};

double bandwidth_pass(const Buffer<uint64_t>& buffer, Bandwidth& bandwidth, std::vector<double>& passes) {
  clobber_memory();
  auto start = Clock::now();
  g_sink = double(read_sum(buffer.data, buffer.count));
  double gbps = double(buffer.bytes()) / seconds_since(start) / 1e9;
  passes.push_back(gbps);
  bandwidth.best_gbps = std::max(bandwidth.best_gbps, gbps);
  return gbps;
}

// Read ceiling for a working set that fits a cache: the same read over and over, best trial.
double measure_read_ceiling(size_t bytes, const Settings& settings) {
  Buffer<uint64_t> buffer((bytes + 7) / 8);
  for (size_t i = 0; i < buffer.count; ++i) buffer.data[i] = i;
  Figure figure = measure(
      [&](size_t reps) {
        uint64_t sum = 0;
        for (size_t rep = 0; rep < reps; ++rep) {
          clobber_memory();
          sum += read_sum(buffer.data, buffer.count);
        }
        return double(sum);
      },
      double(buffer.bytes()), settings);
  return 1.0 / figure.min_ns;  // bytes per ns = GB/s
}

// ---------------------------------------------------------------------------------------
// The kernel measurements.

enum class Mode { pair, l1_block, page, out_of_cache };
const Mode kModes[] = {Mode::pair, Mode::l1_block, Mode::page, Mode::out_of_cache};
const char* mode_name(Mode mode) {
  switch (mode) {
    case Mode::pair: return "pair";
    case Mode::l1_block: return "l1_block";
    case Mode::page: return "page_in_cache";
    case Mode::out_of_cache: return "out_of_cache";
  }
  return "?";
}

enum class Op { dot_f32, l2sq_f32, dot_i8 };
const Op kOps[] = {Op::dot_f32, Op::l2sq_f32, Op::dot_i8};
const char* op_name(Op op) {
  switch (op) {
    case Op::dot_f32: return "dot_f32";
    case Op::l2sq_f32: return "l2sq_f32";
    case Op::dot_i8: return "dot_i8";
  }
  return "?";
}
size_t element_bytes(Op op) { return op == Op::dot_i8 ? 1 : 4; }

struct Result {
  Isa isa;
  size_t dim;
  Op op;
  Mode mode;
  std::string kernel;        // the KernelSet member timed
  size_t rows;               // rows scanned per pass (0 for pair)
  size_t working_set_bytes;  // bytes the timed loop cycles through
  Figure figure;             // ns per call (pair) or per vector (scans)
  double ceiling_gbps = 0;   // read bandwidth for this working set (scans only)
  double gbps() const {      // row bytes read per second, at the median
    return mode == Mode::pair ? 0 : double(dim * element_bytes(op)) / figure.median_ns;
  }
};

// Data for one dimension, shared by every variant.
struct DimData {
  size_t dim = 0;
  size_t pair_count = 0;  // vectors the query meets in the pair loop
  Buffer<float> pair_f32; // the query, then pair_count vectors
  Buffer<int8_t> pair_i8;
  Buffer<float> query_f32;
  Buffer<int8_t> query_codes;
  Buffer<uint8_t> query_biased;
  // In-cache rows: one page; the L1 block is its first rows.
  Buffer<float> page_f32;
  Buffer<int8_t> page_i8;
  Buffer<int32_t> page_sums;
  // Out-of-cache rows.
  size_t big_rows_f32 = 0, big_rows_i8 = 0;
  Buffer<float> big_f32;
  Buffer<int8_t> big_i8;
  Buffer<int32_t> big_sums;
};

size_t out_of_cache_rows(size_t row_bytes, size_t min_bytes) {
  size_t rows = std::max(kOutOfCacheRows, (min_bytes + row_bytes - 1) / row_bytes);
  return (rows + kPageRows - 1) / kPageRows * kPageRows;
}

// The most rows, a multiple of 4 (the row kernels' pass), within kL1BlockBytes; at least 4.
size_t l1_block_rows(size_t row_bytes) {
  return std::min(kPageRows, std::max<size_t>(4, kL1BlockBytes / row_bytes / 4 * 4));
}

DimData make_data(size_t dim, size_t out_of_cache_min_bytes, uint64_t seed) {
  DimData data;
  data.dim = dim;
  Random random(seed);
  // About 24 KiB of f32 vectors: fits a 32 KiB L1 with room for the stack.
  data.pair_count = std::clamp<size_t>(kL1BlockBytes / (dim * sizeof(float)), 2, 9) - 1;
  data.pair_f32 = Buffer<float>((1 + data.pair_count) * dim);
  fill_floats(random, data.pair_f32.data, data.pair_f32.count);
  data.pair_i8 = Buffer<int8_t>((1 + data.pair_count) * dim);
  std::vector<int32_t> scratch_sums(1 + data.pair_count);
  quantize_rows(data.pair_f32.data, 1 + data.pair_count, dim, data.pair_i8.data, scratch_sums.data());

  data.query_f32 = Buffer<float>(dim);
  fill_floats(random, data.query_f32.data, dim);
  data.query_codes = Buffer<int8_t>(dim);
  data.query_biased = Buffer<uint8_t>(dim);
  quantize_i8(data.query_f32.data, dim, data.query_codes.data);
  bias_query_codes(data.query_codes.data, dim, data.query_biased.data);

  data.page_f32 = Buffer<float>(kPageRows * dim);
  fill_floats(random, data.page_f32.data, data.page_f32.count);
  data.page_i8 = Buffer<int8_t>(kPageRows * dim);
  data.page_sums = Buffer<int32_t>(kPageRows);
  quantize_rows(data.page_f32.data, kPageRows, dim, data.page_i8.data, data.page_sums.data);

  data.big_rows_f32 = out_of_cache_rows(dim * sizeof(float), out_of_cache_min_bytes);
  data.big_rows_i8 = out_of_cache_rows(dim, out_of_cache_min_bytes);
  data.big_f32 = Buffer<float>(data.big_rows_f32 * dim);
  fill_floats(random, data.big_f32.data, data.big_f32.count);
  data.big_i8 = Buffer<int8_t>(data.big_rows_i8 * dim);
  data.big_sums = Buffer<int32_t>(data.big_rows_i8);
  // Quantize the f32 rows there are and repeat them if the i8 set needs more rows.
  const size_t source_rows = std::min(data.big_rows_f32, data.big_rows_i8);
  quantize_rows(data.big_f32.data, source_rows, dim, data.big_i8.data, data.big_sums.data);
  for (size_t r = source_rows; r < data.big_rows_i8; r += source_rows) {
    size_t n = std::min(source_rows, data.big_rows_i8 - r);
    std::memcpy(data.big_i8.data + r * dim, data.big_i8.data, n * dim);
    std::memcpy(data.big_sums.data + r, data.big_sums.data, n * sizeof(int32_t));
  }
  return data;
}

// A scan over `count` rows, page by page, as the index does it.
using F32Rows = void (*)(const float*, const float*, size_t, size_t, size_t, float*);
using I8Rows = void (*)(I8Query, const int8_t*, size_t, size_t, size_t, const int32_t*, int32_t*);

// Out of cache the index scans with the streaming kernels (kernels/stream.h), which
// prefetch the next block of rows; in cache with the plain ones.
double scan_f32(const KernelSet& set, bool dot, bool stream, const float* query, const float* rows, size_t count,
                size_t dim, float* out) {
  const F32Rows kernel = dot ? set.dot_f32_rows : set.l2sq_f32_rows;
  double acc = 0;
  for (size_t r = 0; r < count; r += kPageRows) {
    size_t n = std::min(kPageRows, count - r);
    if (stream) {
      (dot ? loci::kernels::dot_f32_rows_stream : loci::kernels::l2sq_f32_rows_stream)(set, query, rows + r * dim, n, dim, dim, out);
    } else {
      kernel(query, rows + r * dim, n, dim, dim, out);
    }
    acc += out[n - 1];
  }
  return acc;
}

double scan_i8(const KernelSet& set, bool stream, I8Query query, const int8_t* rows, const int32_t* sums, size_t count,
               size_t dim, int32_t* out) {
  int64_t acc = 0;
  for (size_t r = 0; r < count; r += kPageRows) {
    size_t n = std::min(kPageRows, count - r);
    if (stream) {
      loci::kernels::dot_i8_rows_stream(set, query, rows + r * dim, n, dim, dim, sums + r, out);
    } else {
      set.dot_i8_rows(query, rows + r * dim, n, dim, dim, sums + r, out);
    }
    acc += out[n - 1];
  }
  return double(acc);
}

// Sets up the timing of one kernel, one dimension, one mode: fills `result` but its figure.
Timed prepare_one(const KernelSet& set, const DimData& data, Op op, Mode mode, Result& result) {
  const size_t dim = data.dim;
  const size_t row_bytes = dim * element_bytes(op);
  result = Result{set.isa, dim, op, mode, "", 0, 0, {}, 0};

  if (mode == Mode::pair) {
    // The query against each of pair_count vectors in turn.
    std::function<double(size_t)> body;
    if (op == Op::dot_i8) {
      auto fn = set.dot_i8;
      body = [&data, dim, fn](size_t reps) {
        const int8_t* a = data.pair_i8.data;
        int64_t acc = 0;
        for (size_t rep = 0; rep < reps; ++rep)
          for (size_t k = 1; k <= data.pair_count; ++k) acc += fn(a, a + k * dim, dim);
        return double(acc);
      };
    } else {
      auto fn = op == Op::dot_f32 ? set.dot_f32 : set.l2sq_f32;
      body = [&data, dim, fn](size_t reps) {
        const float* a = data.pair_f32.data;
        double acc = 0;
        for (size_t rep = 0; rep < reps; ++rep)
          for (size_t k = 1; k <= data.pair_count; ++k) acc += fn(a, a + k * dim, dim);
        return acc;
      };
    }
    result.kernel = op_name(op);
    result.working_set_bytes = (1 + data.pair_count) * row_bytes;
    return Timed{std::move(body), double(data.pair_count)};
  }

  // Row scans: which rows, how many.
  size_t rows = 0;
  const float* f32_rows = nullptr;
  const int8_t* i8_rows = nullptr;
  const int32_t* sums = nullptr;
  switch (mode) {
    case Mode::l1_block:
    case Mode::page:
      rows = mode == Mode::page ? kPageRows : l1_block_rows(row_bytes);
      f32_rows = data.page_f32.data, i8_rows = data.page_i8.data, sums = data.page_sums.data;
      break;
    case Mode::out_of_cache:
      rows = op == Op::dot_i8 ? data.big_rows_i8 : data.big_rows_f32;
      f32_rows = data.big_f32.data, i8_rows = data.big_i8.data, sums = data.big_sums.data;
      break;
    case Mode::pair: break;
  }
  std::function<double(size_t)> body;
  if (op == Op::dot_i8) {
    const I8Query query{data.query_codes.data, data.query_biased.data};
    const bool stream = mode == Mode::out_of_cache;
    body = [=, &set](size_t reps) {
      int32_t out[kPageRows];
      double acc = 0;
      for (size_t rep = 0; rep < reps; ++rep) acc += scan_i8(set, stream, query, i8_rows, sums, rows, dim, out);
      return acc;
    };
  } else {
    const float* query = data.query_f32.data;
    const bool stream = mode == Mode::out_of_cache, dot = op == Op::dot_f32;
    body = [=, &set](size_t reps) {
      float out[kPageRows];
      double acc = 0;
      for (size_t rep = 0; rep < reps; ++rep) acc += scan_f32(set, dot, stream, query, f32_rows, rows, dim, out);
      return acc;
    };
  }
  result.kernel = std::string(op_name(op)) + "_rows";
  result.rows = rows;
  result.working_set_bytes = rows * row_bytes;
  return Timed{std::move(body), double(rows)};
}

// ---------------------------------------------------------------------------------------
// The machine.

std::string trim(const std::string& text) {
  size_t begin = text.find_first_not_of(" \t\n"), end = text.find_last_not_of(" \t\n");
  return begin == std::string::npos ? "" : text.substr(begin, end - begin + 1);
}

std::string read_first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return trim(line);
}

// The value of the first /proc/cpuinfo line whose key is exactly `key`.
std::string cpuinfo(const char* key) {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    size_t colon = line.find(':');
    if (colon != std::string::npos && trim(line.substr(0, colon)) == key) return trim(line.substr(colon + 1));
  }
  return "";
}

std::string cpu_model() {
  std::string model = cpuinfo("model name");  // x86
  if (model.empty()) model = cpuinfo("Model");  // some aarch64 kernels
  if (model.empty()) model = cpuinfo("CPU part").empty() ? "unknown" : "CPU part " + cpuinfo("CPU part");
  return model;
}

// Cache size in bytes at `level` (data or unified), from sysfs, else sysconf; 0 if unknown.
size_t cache_bytes(int level) {
  for (int index = 0; index < 8; ++index) {
    std::string base = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index) + "/";
    std::string text = read_first_line(base + "level");
    if (text.empty()) break;
    if (std::atoi(text.c_str()) != level || read_first_line(base + "type") == "Instruction") continue;
    std::string size = read_first_line(base + "size");
    size_t value = std::strtoull(size.c_str(), nullptr, 10);
    if (!size.empty() && size.back() == 'K') value <<= 10;
    if (!size.empty() && size.back() == 'M') value <<= 20;
    return value;
  }
  return 0;
}

std::string load_average() {
  std::string line = read_first_line("/proc/loadavg");  // "0.25 0.12 0.04 1/82 3466"
  size_t cut = 0;
  for (int spaces = 0; cut < line.size(); ++cut)
    if (line[cut] == ' ' && ++spaces == 3) break;
  return line.empty() ? "unknown" : line.substr(0, cut);
}

std::string utc_now() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
#if defined(_WIN32)
  gmtime_s(&tm, &now);
#else
  gmtime_r(&now, &tm);
#endif
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

std::string compiler() {
#if defined(__clang__)
  return std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  return std::string("GCC ") + __VERSION__;
#elif defined(_MSC_VER)
  return "MSVC " + std::to_string(_MSC_FULL_VER);
#else
  return "unknown";
#endif
}

std::string os_name() {
#if defined(__linux__)
  utsname name{};
  if (uname(&name) == 0) return std::string(name.sysname) + " " + name.release + " " + name.machine;
#endif
  return "unknown";
}

// Why figures from this binary would not be meaningful; empty if none.
std::string build_warning() {
  std::string warning;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  warning += "built with sanitizers; ";
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
  warning += "built with sanitizers; ";
#endif
#endif
#if !defined(__OPTIMIZE__) && !defined(_MSC_VER)
  warning += "built without optimisation; ";
#endif
  return warning;
}

// ---------------------------------------------------------------------------------------
// Output.

std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\', out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
      out += escaped;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string json_number(double value) {
  if (!std::isfinite(value)) return "null";
  char text[64];
  std::snprintf(text, sizeof text, "%.7g", value);
  return text;
}

const Result* find(const std::vector<Result>& results, Isa isa, size_t dim, Op op, Mode mode) {
  for (const Result& r : results)
    if (r.isa == isa && r.dim == dim && r.op == op && r.mode == mode) return &r;
  return nullptr;
}

struct Target {
  std::string name;
  std::string description;
  double value;
  double threshold;
  bool higher_is_better;
  std::string unit;
  bool pass() const { return std::isfinite(value) && (higher_is_better ? value >= threshold : value <= threshold); }
};

std::vector<Target> check_targets(const std::vector<Result>& results, Isa isa, double bandwidth_gbps) {
  const Result* i8_page = find(results, isa, kTargetDim, Op::dot_i8, Mode::page);
  const Result* f32_page = find(results, isa, kTargetDim, Op::dot_f32, Mode::page);
  const Result* i8_far = find(results, isa, kTargetDim, Op::dot_i8, Mode::out_of_cache);
  return {
      {"i8_page_scan_ns_per_vector", "i8 page scan (64 rows) in cache, ns per vector",
       i8_page ? i8_page->figure.median_ns : NAN, kTargetI8PageNs, false, "ns"},
      {"i8_over_f32_page_scan", "i8 page scan speed over f32 dot page scan, in cache",
       i8_page && f32_page ? f32_page->figure.median_ns / i8_page->figure.median_ns : NAN, kTargetI8OverF32, true,
       "x"},
      {"i8_out_of_cache_bandwidth_share", "i8 scan out of cache, share of the measured memory bandwidth",
       i8_far && bandwidth_gbps > 0 ? i8_far->gbps() / bandwidth_gbps : NAN, kTargetBandwidthShare, true,
       "fraction"},
  };
}

std::string size_text(size_t bytes) {
  char text[32];
  if (bytes >= (size_t(1) << 30) && bytes % (size_t(1) << 30) == 0)
    std::snprintf(text, sizeof text, "%zu GiB", bytes >> 30);
  else if (bytes >= (size_t(1) << 20)) std::snprintf(text, sizeof text, "%zu MiB", bytes >> 20);
  else std::snprintf(text, sizeof text, "%zu KiB", bytes >> 10);
  return text;
}

void print_table(const std::vector<Result>& results, const std::vector<Isa>& isas, double bandwidth_gbps) {
  for (Isa isa : isas) {
    std::printf("\n%s\n", isa_name(isa));
    std::printf("  %5s  %-8s  %8s | %8s | %8s %6s %5s | %8s %6s %5s\n", "", "", "pair", "L1 block", "page", "in",
                "cache", "out", "of", "cache");
    std::printf("  %5s  %-8s  %8s | %8s | %8s %6s %5s | %8s %6s %5s\n", "d", "kernel", "ns/call", "ns/vec", "ns/vec",
                "GB/s", "%ceil", "ns/vec", "GB/s", "%bw");
    for (size_t dim : kDims) {
      for (Op op : kOps) {
        const Result* pair = find(results, isa, dim, op, Mode::pair);
        const Result* block = find(results, isa, dim, op, Mode::l1_block);
        const Result* page = find(results, isa, dim, op, Mode::page);
        const Result* far = find(results, isa, dim, op, Mode::out_of_cache);
        if (!pair || !block || !page || !far) continue;
        std::printf("  %5zu  %-8s  %8.2f | %8.2f | %8.2f %6.1f %4.0f%% | %8.2f %6.1f %4.0f%%\n", dim, op_name(op),
                    pair->figure.median_ns, block->figure.median_ns, page->figure.median_ns, page->gbps(),
                    100.0 * page->gbps() / page->ceiling_gbps, far->figure.median_ns, far->gbps(),
                    100.0 * far->gbps() / bandwidth_gbps);
      }
    }
  }
}

struct Run {
  Settings settings;
  std::string date, load_start, load_end;
  Isa selected;
  std::vector<Isa> isas;
  Bandwidth bandwidth;
  std::map<size_t, double> read_ceilings;  // working set bytes -> GB/s
  std::vector<Result> results;
  Isa target_isa;
  std::vector<Target> targets;
  std::vector<size_t> rows_f32, rows_i8;  // out-of-cache rows per dim
  double total_seconds = 0;
};

bool write_json(const std::string& path, const Run& run) {
  std::FILE* file = std::fopen(path.c_str(), "w");
  if (!file) return false;
  auto list = [](const std::vector<double>& values) {
    std::string text = "[";
    for (size_t i = 0; i < values.size(); ++i) text += (i ? ", " : "") + json_number(values[i]);
    return text + "]";
  };
  const Settings& s = run.settings;
  std::fprintf(file, "{\n");
  std::fprintf(file, "  \"benchmark\": \"kernels-native\",\n");
  std::fprintf(file, "  \"date\": %s,\n", json_string(run.date).c_str());
  std::fprintf(file, "  \"hardware\": {\n");
  std::fprintf(file, "    \"cpu_model\": %s,\n", json_string(cpu_model()).c_str());
  std::fprintf(file, "    \"cpu_family\": %s,\n", json_string(cpuinfo("cpu family")).c_str());
  std::fprintf(file, "    \"cpu_model_number\": %s,\n", json_string(cpuinfo("model")).c_str());
  std::fprintf(file, "    \"cores\": %u,\n", std::thread::hardware_concurrency());
  std::fprintf(file, "    \"l1d_bytes\": %zu,\n", cache_bytes(1));
  std::fprintf(file, "    \"l2_bytes\": %zu,\n", cache_bytes(2));
  std::fprintf(file, "    \"l3_bytes\": %zu,\n", cache_bytes(3));
  std::fprintf(file, "    \"os\": %s,\n", json_string(os_name()).c_str());
  std::fprintf(file, "    \"transparent_hugepages\": %s\n",
               json_string(read_first_line("/sys/kernel/mm/transparent_hugepage/enabled")).c_str());
  std::fprintf(file, "  },\n");
  std::fprintf(file, "  \"compiler\": %s,\n", json_string(compiler()).c_str());
  std::fprintf(file, "  \"build_warning\": %s,\n", json_string(build_warning()).c_str());
  std::fprintf(file, "  \"selected_isa\": %s,\n", json_string(isa_name(run.selected)).c_str());
  std::fprintf(file, "  \"measured_isas\": [");
  for (size_t i = 0; i < run.isas.size(); ++i)
    std::fprintf(file, "%s%s", i ? ", " : "", json_string(isa_name(run.isas[i])).c_str());
  std::fprintf(file, "],\n");
  std::fprintf(file, "  \"load_average\": {\"start\": %s, \"end\": %s},\n", json_string(run.load_start).c_str(),
               json_string(run.load_end).c_str());
  std::fprintf(file,
               "  \"settings\": {\"quick\": %s, \"trials\": %d, \"rounds\": %d, \"min_trial_ms\": %s, \"statistic\": "
               "\"median of trials\", \"page_rows\": %zu, \"l1_block_bytes\": %zu, \"out_of_cache_min_rows\": %zu, "
               "\"out_of_cache_min_last_level_multiple\": %zu},\n",
               s.quick ? "true" : "false", s.trials, s.rounds, json_number(s.min_trial_seconds * 1e3).c_str(),
               kPageRows, kL1BlockBytes, kOutOfCacheRows, s.last_level_multiple);
  std::fprintf(file, "  \"memory_bandwidth\": {\n");
  std::fprintf(file, "    \"method\": \"one thread, streaming read and sum of the buffer; best pass of those at the "
                     "start, before each out-of-cache measurement and at the end\",\n");
  std::fprintf(file, "    \"buffer_bytes\": %zu,\n", run.bandwidth.bytes);
  std::fprintf(file, "    \"gbps\": %s,\n", json_number(run.bandwidth.best_gbps).c_str());
  std::fprintf(file, "    \"passes_gbps_start\": %s,\n", list(run.bandwidth.start_gbps).c_str());
  std::fprintf(file, "    \"passes_gbps_during\": %s,\n", list(run.bandwidth.during_gbps).c_str());
  std::fprintf(file, "    \"passes_gbps_end\": %s\n", list(run.bandwidth.end_gbps).c_str());
  std::fprintf(file, "  },\n");
  std::fprintf(file, "  \"read_ceilings_gbps\": {");
  size_t index = 0;
  for (const auto& [bytes, gbps] : run.read_ceilings)
    std::fprintf(file, "%s\"%zu\": %s", index++ ? ", " : "", bytes, json_number(gbps).c_str());
  std::fprintf(file, "},\n");
  std::fprintf(file, "  \"results\": [\n");
  for (size_t i = 0; i < run.results.size(); ++i) {
    const Result& r = run.results[i];
    const bool pair = r.mode == Mode::pair;
    std::fprintf(file,
                 "    {\"isa\": %s, \"dim\": %zu, \"op\": %s, \"mode\": %s, \"kernel\": %s, \"rows\": %zu, "
                 "\"working_set_bytes\": %zu, \"%s\": %s, \"min_ns\": %s, \"max_ns\": %s, \"reps_per_trial\": %zu",
                 json_string(isa_name(r.isa)).c_str(), r.dim, json_string(op_name(r.op)).c_str(),
                 json_string(mode_name(r.mode)).c_str(), json_string(r.kernel).c_str(), r.rows, r.working_set_bytes,
                 pair ? "ns_per_call" : "ns_per_vector", json_number(r.figure.median_ns).c_str(),
                 json_number(r.figure.min_ns).c_str(), json_number(r.figure.max_ns).c_str(), r.figure.reps_per_trial);
    if (!pair)
      std::fprintf(file, ", \"gbps\": %s, \"ceiling_gbps\": %s, \"ceiling_share\": %s", json_number(r.gbps()).c_str(),
                   json_number(r.ceiling_gbps).c_str(), json_number(r.gbps() / r.ceiling_gbps).c_str());
    std::fprintf(file, "}%s\n", i + 1 < run.results.size() ? "," : "");
  }
  std::fprintf(file, "  ],\n");
  std::fprintf(file, "  \"targets\": {\"isa\": %s, \"dim\": %zu, \"checks\": [\n",
               json_string(isa_name(run.target_isa)).c_str(), kTargetDim);
  for (size_t i = 0; i < run.targets.size(); ++i) {
    const Target& t = run.targets[i];
    std::fprintf(file,
                 "    {\"name\": %s, \"description\": %s, \"value\": %s, \"threshold\": %s, \"unit\": %s, "
                 "\"comparison\": %s, \"pass\": %s}%s\n",
                 json_string(t.name).c_str(), json_string(t.description).c_str(), json_number(t.value).c_str(),
                 json_number(t.threshold).c_str(), json_string(t.unit).c_str(),
                 json_string(t.higher_is_better ? ">=" : "<=").c_str(), t.pass() ? "true" : "false",
                 i + 1 < run.targets.size() ? "," : "");
  }
  std::fprintf(file, "  ]},\n");
  std::fprintf(file, "  \"total_seconds\": %s\n", json_number(run.total_seconds).c_str());
  std::fprintf(file, "}\n");
  return std::fclose(file) == 0;
}

int usage(const char* program, std::FILE* to) {
  std::fprintf(to, "usage: %s [--quick] [--json <file>] [--isa <name>]\n", program);
  return to == stdout ? 0 : 2;
}

}  // namespace

int main(int argc, char** argv) {
  Run run;
  Settings& settings = run.settings;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--quick") {
      settings.quick = true;
    } else if (arg == "--json" && i + 1 < argc) {
      settings.json_path = argv[++i];
    } else if (arg == "--isa" && i + 1 < argc) {
      settings.only_isa = argv[++i];
    } else if (arg == "--help" || arg == "-h") {
      return usage(argv[0], stdout);
    } else {
      return usage(argv[0], stderr);
    }
  }
  if (settings.quick) {
    settings.trials = 5;
    settings.rounds = 1;
    settings.min_trial_seconds = 0.003;
    settings.bandwidth_bytes = size_t(512) << 20;
    settings.bandwidth_passes = 3;
    settings.last_level_multiple = 2;
  }
  const auto started = Clock::now();
  run.date = utc_now();
  run.load_start = load_average();

  run.selected = active().isa;
  for (int i = 0; i < kIsaCount; ++i) {
    Isa isa = static_cast<Isa>(i);
    if (!for_isa(isa)) continue;
    if (!settings.only_isa.empty() && settings.only_isa != isa_name(isa)) continue;
    run.isas.push_back(isa);
  }
  if (run.isas.empty()) {
    std::fprintf(stderr, "no runnable kernel variant is named %s\n", settings.only_isa.c_str());
    return 2;
  }

  // "Out of cache" must mean DRAM: at least 100K rows and several times the last level.
  const size_t last_level = std::max({cache_bytes(3), cache_bytes(2), size_t(8) << 20});
  const size_t out_of_cache_min_bytes = settings.last_level_multiple * last_level;

  std::printf("loci kernel benchmark, native: ns per vector, no JS in the loop\n");
  std::printf("date %s; cpu %s (family %s, model %s), %u cores; L1d %zu KiB, L2 %zu KiB, L3 %zu MiB\n",
              run.date.c_str(), cpu_model().c_str(), cpuinfo("cpu family").c_str(), cpuinfo("model").c_str(),
              std::thread::hardware_concurrency(), cache_bytes(1) >> 10, cache_bytes(2) >> 10, cache_bytes(3) >> 20);
  std::printf("compiler %s; os %s; load average at start %s\n", compiler().c_str(), os_name().c_str(),
              run.load_start.c_str());
  std::printf("selected isa %s%s; measuring", isa_name(run.selected), std::getenv("LOCI_ISA") ? " (LOCI_ISA)" : "");
  for (Isa isa : run.isas) std::printf(" %s", isa_name(isa));
  std::printf("\nmedians of %d trials of >= %.0f ms, spread over %d round%s; page = %zu rows; L1 block = rows "
              "within %zu KiB; out of cache = max(%zu rows, %zu MiB) in pages%s\n",
              settings.trials, settings.min_trial_seconds * 1e3, settings.rounds, settings.rounds == 1 ? "" : "s",
              kPageRows, kL1BlockBytes >> 10, kOutOfCacheRows,
              out_of_cache_min_bytes >> 20, settings.quick ? "\nQUICK run: a smoke test, not a record" : "");
  if (!build_warning().empty()) std::printf("WARNING: %sthese figures are not meaningful\n", build_warning().c_str());
  std::fflush(stdout);

  Buffer<uint64_t> bandwidth_buffer(settings.bandwidth_bytes / sizeof(uint64_t));
  for (size_t i = 0; i < bandwidth_buffer.count; ++i) bandwidth_buffer.data[i] = i;
  run.bandwidth.bytes = bandwidth_buffer.bytes();
  for (int p = 0; p < settings.bandwidth_passes; ++p)
    bandwidth_pass(bandwidth_buffer, run.bandwidth, run.bandwidth.start_gbps);
  std::printf("memory bandwidth (1 thread, streaming read of %s): best of %d passes at the start %.1f GB/s\n",
              size_text(run.bandwidth.bytes).c_str(), settings.bandwidth_passes, run.bandwidth.best_gbps);
  std::fflush(stdout);

  // Every measurement is calibrated first, then its trials are spread over `rounds`
  // rounds through the whole list, so a neighbour's burst on a shared machine lands in a
  // few trials of many measurements rather than in all trials of one.
  std::vector<std::unique_ptr<DimData>> data;
  for (size_t dim : kDims) {
    data.push_back(std::make_unique<DimData>(make_data(dim, out_of_cache_min_bytes, 0x5EED0000 + dim)));
    run.rows_f32.push_back(data.back()->big_rows_f32);
    run.rows_i8.push_back(data.back()->big_rows_i8);
  }
  std::vector<Timed> timings;
  for (const auto& dim_data : data)
    for (Isa isa : run.isas)
      for (Op op : kOps)
        for (Mode mode : kModes) {
          run.results.emplace_back();
          timings.push_back(prepare_one(*for_isa(isa), *dim_data, op, mode, run.results.back()));
          calibrate(timings.back(), settings);
        }
  for (int round = 0; round < settings.rounds; ++round) {
    const int trials = settings.trials / settings.rounds + (round < settings.trials % settings.rounds ? 1 : 0);
    for (size_t i = 0; i < timings.size(); ++i) {
      if (run.results[i].mode == Mode::out_of_cache)
        bandwidth_pass(bandwidth_buffer, run.bandwidth, run.bandwidth.during_gbps);
      run_trials(timings[i], trials);
    }
  }
  for (size_t i = 0; i < timings.size(); ++i) run.results[i].figure = summarise(timings[i]);
  data.clear();

  for (int p = 0; p < settings.bandwidth_passes; ++p)
    bandwidth_pass(bandwidth_buffer, run.bandwidth, run.bandwidth.end_gbps);
  const double bandwidth_gbps = run.bandwidth.best_gbps;
  auto best = [](const std::vector<double>& passes) { return *std::max_element(passes.begin(), passes.end()); };
  std::printf("memory bandwidth: best pass %.1f GB/s at the start, %.1f during (%zu passes), %.1f at the end; "
              "used: %.1f GB/s\n",
              best(run.bandwidth.start_gbps), best(run.bandwidth.during_gbps), run.bandwidth.during_gbps.size(),
              best(run.bandwidth.end_gbps), bandwidth_gbps);

  // Read ceilings for every in-cache working set.
  for (Result& r : run.results) {
    if (r.mode == Mode::pair) continue;
    if (r.mode == Mode::out_of_cache) {
      r.ceiling_gbps = bandwidth_gbps;
      continue;
    }
    auto known = run.read_ceilings.find(r.working_set_bytes);
    if (known == run.read_ceilings.end())
      known = run.read_ceilings.emplace(r.working_set_bytes, measure_read_ceiling(r.working_set_bytes, settings)).first;
    r.ceiling_gbps = known->second;
  }
  std::printf("read ceilings (1 thread, the same read over a buffer of the working set's size, best trial):");
  for (const auto& [bytes, gbps] : run.read_ceilings) std::printf(" %s %.0f GB/s;", size_text(bytes).c_str(), gbps);
  std::printf("\n");

  print_table(run.results, run.isas, bandwidth_gbps);
  std::printf("\nout-of-cache rows:");
  for (size_t i = 0; i < std::size(kDims); ++i)
    std::printf(" d=%zu f32 %zu (%s), i8 %zu (%s);", kDims[i], run.rows_f32[i],
                size_text(run.rows_f32[i] * kDims[i] * 4).c_str(), run.rows_i8[i],
                size_text(run.rows_i8[i] * kDims[i]).c_str());
  std::printf("\n");

  run.target_isa =
      std::find(run.isas.begin(), run.isas.end(), run.selected) != run.isas.end() ? run.selected : run.isas.back();
  run.targets = check_targets(run.results, run.target_isa, bandwidth_gbps);
  {
    const Result* i8_page = find(run.results, run.target_isa, kTargetDim, Op::dot_i8, Mode::page);
    const Result* f32_page = find(run.results, run.target_isa, kTargetDim, Op::dot_f32, Mode::page);
    const Result* i8_far = find(run.results, run.target_isa, kTargetDim, Op::dot_i8, Mode::out_of_cache);
    const Target &page = run.targets[0], &ratio = run.targets[1], &share = run.targets[2];
    std::printf("\ntargets at d=%zu (isa %s):\n", kTargetDim, isa_name(run.target_isa));
    std::printf("  %s  i8 page scan in cache: %.2f ns per vector (target <= %.1f; page %s, read ceiling %.2f ns)\n",
                page.pass() ? "PASS" : "MISS", page.value, page.threshold,
                size_text(i8_page->working_set_bytes).c_str(), double(kTargetDim) / i8_page->ceiling_gbps);
    std::printf("  %s  i8 vs f32 page scan in cache: %.2fx (target >= %.0fx; f32 %.2f ns, i8 %.2f ns per vector)\n",
                ratio.pass() ? "PASS" : "MISS", ratio.value, ratio.threshold, f32_page->figure.median_ns,
                i8_page->figure.median_ns);
    std::printf("  %s  i8 scan out of cache: %.0f%% of memory bandwidth (target >= %.0f%%; %.1f of %.1f GB/s)\n",
                share.pass() ? "PASS" : "MISS", 100.0 * share.value, 100.0 * share.threshold, i8_far->gbps(),
                bandwidth_gbps);
  }

  run.load_end = load_average();
  run.total_seconds = seconds_since(started);
  std::printf("\nload average at end %s; total %.1f s\n", run.load_end.c_str(), run.total_seconds);
  if (!settings.json_path.empty()) {
    if (!write_json(settings.json_path, run)) {
      std::fprintf(stderr, "cannot write %s\n", settings.json_path.c_str());
      return 1;
    }
    std::printf("json written to %s\n", settings.json_path.c_str());
  }
  return 0;
}
