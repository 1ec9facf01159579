// x86-64 AVX-512: "skylake" (F/BW/VL/DQ) and "icelake" (+ VNNI). Single-pair kernels
// come from simsimd (it has no i8 kernel for plain Skylake, so that one reuses its
// Haswell i8 kernels); the row kernels are ours. Tails use masked loads, which read no
// byte past the end of a row and fill the missing lanes with zeros, so a short tail
// adds exactly nothing to any sum.
// GCC 12 reports a false "may be used uninitialized" inside its own
// _mm512_reduce_add_* sequence intrinsics.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <array>
#include <utility>

#include "simsimd_adapters.h"
#include "variants.h"

#define LOCI_SKYLAKE __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512dq,bmi2")))
#define LOCI_ICELAKE \
  __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512dq,bmi2,avx512vnni")))

namespace loci::kernels {
namespace {

LOCI_SKYLAKE inline __mmask16 tail_mask16(size_t remaining) {
  return static_cast<__mmask16>(_bzhi_u32(0xFFFFu, static_cast<unsigned>(remaining)));
}
LOCI_SKYLAKE inline __mmask64 tail_mask64(size_t remaining) {
  return _bzhi_u64(~0ull, static_cast<unsigned>(remaining));
}

struct DotStep {
  LOCI_SKYLAKE static __m512 apply(__m512 acc, __m512 q, __m512 r) { return _mm512_fmadd_ps(q, r, acc); }
};
struct L2Step {
  LOCI_SKYLAKE static __m512 apply(__m512 acc, __m512 q, __m512 r) {
    __m512 diff = _mm512_sub_ps(q, r);
    return _mm512_fmadd_ps(diff, diff, acc);
  }
};

template <class Step>
LOCI_SKYLAKE void f32_rows(const float* query, const float* rows, size_t count, size_t dim,
                           size_t stride, float* out) {
  const size_t full = dim & ~size_t(15);
  const __mmask16 tail = tail_mask16(dim - full);
  size_t r = 0;
  for (; r + 4 <= count; r += 4) {
    const float* row0 = rows + r * stride;
    const float* row1 = row0 + stride;
    const float* row2 = row1 + stride;
    const float* row3 = row2 + stride;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    for (size_t i = 0; i < full; i += 16) {
      __m512 q = _mm512_loadu_ps(query + i);
      acc0 = Step::apply(acc0, q, _mm512_loadu_ps(row0 + i));
      acc1 = Step::apply(acc1, q, _mm512_loadu_ps(row1 + i));
      acc2 = Step::apply(acc2, q, _mm512_loadu_ps(row2 + i));
      acc3 = Step::apply(acc3, q, _mm512_loadu_ps(row3 + i));
    }
    if (tail) {
      __m512 q = _mm512_maskz_loadu_ps(tail, query + full);
      acc0 = Step::apply(acc0, q, _mm512_maskz_loadu_ps(tail, row0 + full));
      acc1 = Step::apply(acc1, q, _mm512_maskz_loadu_ps(tail, row1 + full));
      acc2 = Step::apply(acc2, q, _mm512_maskz_loadu_ps(tail, row2 + full));
      acc3 = Step::apply(acc3, q, _mm512_maskz_loadu_ps(tail, row3 + full));
    }
    out[r] = _mm512_reduce_add_ps(acc0);
    out[r + 1] = _mm512_reduce_add_ps(acc1);
    out[r + 2] = _mm512_reduce_add_ps(acc2);
    out[r + 3] = _mm512_reduce_add_ps(acc3);
  }
  for (; r < count; ++r) {
    const float* row = rows + r * stride;
    __m512 acc = _mm512_setzero_ps();
    for (size_t i = 0; i < full; i += 16) acc = Step::apply(acc, _mm512_loadu_ps(query + i), _mm512_loadu_ps(row + i));
    if (tail) acc = Step::apply(acc, _mm512_maskz_loadu_ps(tail, query + full), _mm512_maskz_loadu_ps(tail, row + full));
    out[r] = _mm512_reduce_add_ps(acc);
  }
}

void dot_f32_rows_skylake(const float* q, const float* rows, size_t count, size_t dim,
                          size_t stride, float* out) {
  f32_rows<DotStep>(q, rows, count, dim, stride, out);
}
void l2sq_f32_rows_skylake(const float* q, const float* rows, size_t count, size_t dim,
                           size_t stride, float* out) {
  f32_rows<L2Step>(q, rows, count, dim, stride, out);
}

// Without VNNI: the same |q| * sign(q)*r trick as the AVX2 kernel (see there for why
// vpmaddubsw's i16 saturation forbids a biased query). AVX-512 has no vpsignb, so the
// sign is applied with a masked subtract from zero under the mask of negative q lanes.
struct SignedMaddStep {
  LOCI_SKYLAKE static __m512i apply(__m512i acc, __m512i q, __m512i r) {
    const __m512i ones_i16 = _mm512_set1_epi16(1);
    __m512i r_signed = _mm512_mask_sub_epi8(r, _mm512_movepi8_mask(q), _mm512_setzero_si512(), r);
    __m512i products_i16 = _mm512_maddubs_epi16(_mm512_abs_epi8(q), r_signed);
    return _mm512_add_epi32(acc, _mm512_madd_epi16(products_i16, ones_i16));
  }
};

// With VNNI: vpdpbusd multiplies 4 u8 x 4 i8 pairs and adds them into an i32 lane with
// no intermediate saturation, so the query is used biased (q + 128 in [1, 255]) and the
// bias is removed per row afterwards: sum((q+128) r) - 128 sum(r) = sum(q r). Each
// lane grows by at most 4 * 255 * 127 = 129,540 per step, so i32 overflow would need
// dim > 66,000,000.
struct VnniStep {
  LOCI_ICELAKE static __m512i apply(__m512i acc, __m512i q_biased, __m512i r) {
    return _mm512_dpbusd_epi32(acc, q_biased, r);
  }
};

// One body, compiled twice: GCC only inlines a kernel step into a function whose target
// attributes include the step's, so each variant needs its own copy of the loop under
// its own attribute (a shared template would carry one attribute for both).
#define LOCI_DEFINE_I8_ROWS(NAME, TARGET, STEP, BIASED)                                     \
  TARGET void NAME(I8Query query, const int8_t* rows, size_t count, size_t dim,            \
                   size_t stride, const int32_t* row_sums, int32_t* out) {                 \
    const int8_t* q_bytes = BIASED ? reinterpret_cast<const int8_t*>(query.biased)          \
                                   : query.codes;                                          \
    const size_t full = dim & ~size_t(63);                                                 \
    const __mmask64 tail = tail_mask64(dim - full);                                        \
    size_t r = 0;                                                                          \
    for (; r + 4 <= count; r += 4) {                                                       \
      const int8_t* row0 = rows + r * stride;                                              \
      const int8_t* row1 = row0 + stride;                                                  \
      const int8_t* row2 = row1 + stride;                                                  \
      const int8_t* row3 = row2 + stride;                                                  \
      __m512i acc0 = _mm512_setzero_si512(), acc1 = acc0, acc2 = acc0, acc3 = acc0;        \
      for (size_t i = 0; i < full; i += 64) {                                              \
        __m512i q = _mm512_loadu_si512(q_bytes + i);                                       \
        acc0 = STEP::apply(acc0, q, _mm512_loadu_si512(row0 + i));                         \
        acc1 = STEP::apply(acc1, q, _mm512_loadu_si512(row1 + i));                         \
        acc2 = STEP::apply(acc2, q, _mm512_loadu_si512(row2 + i));                         \
        acc3 = STEP::apply(acc3, q, _mm512_loadu_si512(row3 + i));                         \
      }                                                                                    \
      if (tail) {                                                                          \
        __m512i q = _mm512_maskz_loadu_epi8(tail, q_bytes + full);                         \
        acc0 = STEP::apply(acc0, q, _mm512_maskz_loadu_epi8(tail, row0 + full));           \
        acc1 = STEP::apply(acc1, q, _mm512_maskz_loadu_epi8(tail, row1 + full));           \
        acc2 = STEP::apply(acc2, q, _mm512_maskz_loadu_epi8(tail, row2 + full));           \
        acc3 = STEP::apply(acc3, q, _mm512_maskz_loadu_epi8(tail, row3 + full));           \
      }                                                                                    \
      out[r] = _mm512_reduce_add_epi32(acc0) - (BIASED ? 128 * row_sums[r] : 0);           \
      out[r + 1] = _mm512_reduce_add_epi32(acc1) - (BIASED ? 128 * row_sums[r + 1] : 0);   \
      out[r + 2] = _mm512_reduce_add_epi32(acc2) - (BIASED ? 128 * row_sums[r + 2] : 0);   \
      out[r + 3] = _mm512_reduce_add_epi32(acc3) - (BIASED ? 128 * row_sums[r + 3] : 0);   \
    }                                                                                      \
    for (; r < count; ++r) {                                                               \
      const int8_t* row = rows + r * stride;                                               \
      __m512i acc = _mm512_setzero_si512();                                                \
      for (size_t i = 0; i < full; i += 64)                                                \
        acc = STEP::apply(acc, _mm512_loadu_si512(q_bytes + i), _mm512_loadu_si512(row + i)); \
      if (tail)                                                                            \
        acc = STEP::apply(acc, _mm512_maskz_loadu_epi8(tail, q_bytes + full),              \
                          _mm512_maskz_loadu_epi8(tail, row + full));                      \
      out[r] = _mm512_reduce_add_epi32(acc) - (BIASED ? 128 * row_sums[r] : 0);            \
    }                                                                                      \
  }

LOCI_DEFINE_I8_ROWS(dot_i8_rows_skylake, LOCI_SKYLAKE, SignedMaddStep, false)
LOCI_DEFINE_I8_ROWS(dot_i8_rows_icelake_interleaved, LOCI_ICELAKE, VnniStep, true)

// VNNI row kernel for dim < (kMaxResidentChunks + 1) * 64, which covers the embedding
// sizes that matter (384, 768, 1024, 1536): the biased query is loaded into registers
// once (at most 25 of the 32 zmm), and rows are read one after another in address order,
// one 64-byte load per vpdpbusd.
// Why not four rows side by side (the interleaved kernel above, one query load feeding four
// vpdpbusd)? Its loads hop between four rows one row apart inside each 4 KiB page, a
// pattern the hardware prefetchers do not follow: on Zen 4 at d=768 it reads DRAM at
// ~10 GB/s, a third of what one thread's streaming read gets (~30); read in address
// order, this kernel gets ~27 (bench/kernels-native.sh, out of cache). Software prefetch
// in either kernel made it worse. With the query in registers it also needs fewer loads
// than the streamed kernel, which shows in L1 (1.2-1.4x at d=384/768).
constexpr size_t kMaxResidentChunks = 24;

template <size_t kChunks>
LOCI_ICELAKE inline __attribute__((always_inline)) __m512i dot_resident(const __m512i* q_chunks, __m512i q_tail,
                                                                        __mmask64 tail, const int8_t* row) {
  // Two accumulators: each vpdpbusd chain is half as long, the rest of the latency is
  // hidden by the next row, which does not depend on this one.
  __m512i acc0 = _mm512_setzero_si512(), acc1 = acc0;
  size_t c = 0;
  for (; c + 2 <= kChunks; c += 2) {
    acc0 = _mm512_dpbusd_epi32(acc0, q_chunks[c], _mm512_loadu_si512(row + 64 * c));
    acc1 = _mm512_dpbusd_epi32(acc1, q_chunks[c + 1], _mm512_loadu_si512(row + 64 * c + 64));
  }
  if (c < kChunks) acc0 = _mm512_dpbusd_epi32(acc0, q_chunks[c], _mm512_loadu_si512(row + 64 * c));
  if (tail) acc1 = _mm512_dpbusd_epi32(acc1, q_tail, _mm512_maskz_loadu_epi8(tail, row + 64 * kChunks));
  return _mm512_add_epi32(acc0, acc1);
}

// The four horizontal sums of x0..x3, in that order, in one pass of shuffles.
LOCI_ICELAKE inline __m128i sum4_epi32(__m512i x0, __m512i x1, __m512i x2, __m512i x3) {
  __m256i y0 = _mm256_add_epi32(_mm512_castsi512_si256(x0), _mm512_extracti64x4_epi64(x0, 1));
  __m256i y1 = _mm256_add_epi32(_mm512_castsi512_si256(x1), _mm512_extracti64x4_epi64(x1, 1));
  __m256i y2 = _mm256_add_epi32(_mm512_castsi512_si256(x2), _mm512_extracti64x4_epi64(x2, 1));
  __m256i y3 = _mm256_add_epi32(_mm512_castsi512_si256(x3), _mm512_extracti64x4_epi64(x3, 1));
  __m256i pairs = _mm256_hadd_epi32(_mm256_hadd_epi32(y0, y1), _mm256_hadd_epi32(y2, y3));
  return _mm_add_epi32(_mm256_castsi256_si128(pairs), _mm256_extracti128_si256(pairs, 1));
}

template <size_t kChunks>
LOCI_ICELAKE void dot_i8_rows_icelake_resident(I8Query query, const int8_t* rows, size_t count, size_t dim,
                                               size_t stride, const int32_t* row_sums, int32_t* out) {
  const uint8_t* q = query.biased;
  const __mmask64 tail = tail_mask64(dim - 64 * kChunks);
  __m512i q_chunks[kChunks > 0 ? kChunks : 1];
  for (size_t c = 0; c < kChunks; ++c) q_chunks[c] = _mm512_loadu_si512(q + 64 * c);
  const __m512i q_tail = _mm512_maskz_loadu_epi8(tail, q + 64 * kChunks);
  size_t r = 0;
  for (; r + 4 <= count; r += 4) {
    const int8_t* row = rows + r * stride;
    __m512i dot0 = dot_resident<kChunks>(q_chunks, q_tail, tail, row);
    __m512i dot1 = dot_resident<kChunks>(q_chunks, q_tail, tail, row + stride);
    __m512i dot2 = dot_resident<kChunks>(q_chunks, q_tail, tail, row + 2 * stride);
    __m512i dot3 = dot_resident<kChunks>(q_chunks, q_tail, tail, row + 3 * stride);
    // sum((q+128) r) - 128 sum(r), four rows at once; |sum(r)| <= 127 * 1599, so the
    // shift by 7 cannot overflow.
    __m128i bias = _mm_slli_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row_sums + r)), 7);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + r), _mm_sub_epi32(sum4_epi32(dot0, dot1, dot2, dot3), bias));
  }
  for (; r < count; ++r)
    out[r] = _mm512_reduce_add_epi32(dot_resident<kChunks>(q_chunks, q_tail, tail, rows + r * stride)) -
             128 * row_sums[r];
}

using I8RowsKernel = void (*)(I8Query, const int8_t*, size_t, size_t, size_t, const int32_t*, int32_t*);

template <size_t... kChunks>
constexpr std::array<I8RowsKernel, sizeof...(kChunks)> resident_kernels(std::index_sequence<kChunks...>) {
  return {dot_i8_rows_icelake_resident<kChunks>...};
}
constexpr auto kResidentKernels = resident_kernels(std::make_index_sequence<kMaxResidentChunks + 1>());

void dot_i8_rows_icelake(I8Query query, const int8_t* rows, size_t count, size_t dim, size_t stride,
                         const int32_t* row_sums, int32_t* out) {
  const size_t chunks = dim / 64;
  if (chunks <= kMaxResidentChunks) return kResidentKernels[chunks](query, rows, count, dim, stride, row_sums, out);
  dot_i8_rows_icelake_interleaved(query, rows, count, dim, stride, row_sums, out);
}

const KernelSet kSkylake = {
    Isa::skylake,
    adapt::f32<simsimd_dot_f32_skylake>,
    adapt::f32<simsimd_l2sq_f32_skylake>,
    adapt::f32<simsimd_cos_f32_skylake>,
    adapt::i8_exact<simsimd_dot_i8_haswell>,
    adapt::i8_exact<simsimd_l2sq_i8_haswell>,
    adapt::i8_float<simsimd_cos_i8_haswell>,
    dot_f32_rows_skylake,
    l2sq_f32_rows_skylake,
    dot_i8_rows_skylake,
};

const KernelSet kIcelake = {
    Isa::icelake,
    adapt::f32<simsimd_dot_f32_skylake>,
    adapt::f32<simsimd_l2sq_f32_skylake>,
    adapt::f32<simsimd_cos_f32_skylake>,
    adapt::i8_exact<simsimd_dot_i8_ice>,
    adapt::i8_exact<simsimd_l2sq_i8_ice>,
    adapt::i8_float<simsimd_cos_i8_ice>,
    dot_f32_rows_skylake,
    l2sq_f32_rows_skylake,
    dot_i8_rows_icelake,
    (kMaxResidentChunks + 1) * 64,  // rows read in address order below this dim
};

}  // namespace

const KernelSet& skylake_kernels() { return kSkylake; }
const KernelSet& icelake_kernels() { return kIcelake; }

}  // namespace loci::kernels
