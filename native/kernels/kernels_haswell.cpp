// x86-64 AVX2 + FMA. Single-pair kernels come from simsimd; the row kernels (one query
// against a page of rows, four rows per pass so each query load feeds four FMAs) are ours.
#include <immintrin.h>

#include "simsimd_adapters.h"
#include "variants.h"

#define LOCI_HASWELL __attribute__((target("avx2,fma")))

namespace loci::kernels {
namespace {

LOCI_HASWELL inline float sum_f32x8(__m256 v) {
  __m128 low = _mm256_castps256_ps128(v), high = _mm256_extractf128_ps(v, 1);
  __m128 sum = _mm_add_ps(low, high);
  sum = _mm_add_ps(sum, _mm_movehl_ps(sum, sum));
  sum = _mm_add_ss(sum, _mm_movehdup_ps(sum));
  return _mm_cvtss_f32(sum);
}

LOCI_HASWELL inline int32_t sum_i32x8(__m256i v) {
  __m128i sum = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  sum = _mm_add_epi32(sum, _mm_shuffle_epi32(sum, _MM_SHUFFLE(1, 0, 3, 2)));
  sum = _mm_add_epi32(sum, _mm_shuffle_epi32(sum, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(sum);
}

// Accumulate step shared by the f32 row kernels: dot uses q*r, l2sq uses (q-r)^2.
struct DotStep {
  LOCI_HASWELL static __m256 apply(__m256 acc, __m256 q, __m256 r) { return _mm256_fmadd_ps(q, r, acc); }
  static float scalar(float q, float r) { return q * r; }
};
struct L2Step {
  LOCI_HASWELL static __m256 apply(__m256 acc, __m256 q, __m256 r) {
    __m256 diff = _mm256_sub_ps(q, r);
    return _mm256_fmadd_ps(diff, diff, acc);
  }
  static float scalar(float q, float r) { return (q - r) * (q - r); }
};

template <class Step>
LOCI_HASWELL void f32_rows(const float* query, const float* rows, size_t count, size_t dim,
                           size_t stride, float* out) {
  size_t r = 0;
  for (; r + 4 <= count; r += 4) {
    const float* row0 = rows + r * stride;
    const float* row1 = row0 + stride;
    const float* row2 = row1 + stride;
    const float* row3 = row2 + stride;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    size_t i = 0;
    for (; i + 8 <= dim; i += 8) {
      __m256 q = _mm256_loadu_ps(query + i);
      acc0 = Step::apply(acc0, q, _mm256_loadu_ps(row0 + i));
      acc1 = Step::apply(acc1, q, _mm256_loadu_ps(row1 + i));
      acc2 = Step::apply(acc2, q, _mm256_loadu_ps(row2 + i));
      acc3 = Step::apply(acc3, q, _mm256_loadu_ps(row3 + i));
    }
    float sum0 = sum_f32x8(acc0), sum1 = sum_f32x8(acc1), sum2 = sum_f32x8(acc2), sum3 = sum_f32x8(acc3);
    for (; i < dim; ++i) {
      sum0 += Step::scalar(query[i], row0[i]);
      sum1 += Step::scalar(query[i], row1[i]);
      sum2 += Step::scalar(query[i], row2[i]);
      sum3 += Step::scalar(query[i], row3[i]);
    }
    out[r] = sum0, out[r + 1] = sum1, out[r + 2] = sum2, out[r + 3] = sum3;
  }
  for (; r < count; ++r) {
    const float* row = rows + r * stride;
    __m256 acc = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= dim; i += 8) acc = Step::apply(acc, _mm256_loadu_ps(query + i), _mm256_loadu_ps(row + i));
    float sum = sum_f32x8(acc);
    for (; i < dim; ++i) sum += Step::scalar(query[i], row[i]);
    out[r] = sum;
  }
}

void dot_f32_rows_haswell(const float* q, const float* rows, size_t count, size_t dim,
                          size_t stride, float* out) {
  f32_rows<DotStep>(q, rows, count, dim, stride, out);
}
void l2sq_f32_rows_haswell(const float* q, const float* rows, size_t count, size_t dim,
                           size_t stride, float* out) {
  f32_rows<L2Step>(q, rows, count, dim, stride, out);
}

// AVX2 has no u8 x i8 dot with i32 accumulation (VNNI), only vpmaddubsw, which adds
// two u8*i8 products into a *saturating* i16. With a biased query (q+128, up to 255)
// two products reach 2*255*127 = 64,770 and saturate. So instead multiply |q| (u8, at
// most 127) by sign(q)*r: two products reach at most 2*127*127 = 32,258 < 32,767.
// vpsignb(r, q) negates r where q < 0 and zeroes it where q == 0 (|q| is 0 there
// anyway). r = -128 would negate to itself, hence the [-127, 127] rule in kernels.h.
LOCI_HASWELL inline __m256i dot_i8x32_step(__m256i acc, __m256i q_abs, __m256i q, __m256i r,
                                            __m256i ones_i16) {
  __m256i products_i16 = _mm256_maddubs_epi16(q_abs, _mm256_sign_epi8(r, q));
  return _mm256_add_epi32(acc, _mm256_madd_epi16(products_i16, ones_i16));
}

LOCI_HASWELL void dot_i8_rows_haswell(I8Query query, const int8_t* rows, size_t count,
                                      size_t dim, size_t stride, const int32_t*, int32_t* out) {
  const int8_t* q_codes = query.codes;
  const __m256i ones_i16 = _mm256_set1_epi16(1);
  size_t r = 0;
  for (; r + 4 <= count; r += 4) {
    const int8_t* row0 = rows + r * stride;
    const int8_t* row1 = row0 + stride;
    const int8_t* row2 = row1 + stride;
    const int8_t* row3 = row2 + stride;
    __m256i acc0 = _mm256_setzero_si256(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    size_t i = 0;
    for (; i + 32 <= dim; i += 32) {
      __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q_codes + i));
      __m256i q_abs = _mm256_abs_epi8(q);
      acc0 = dot_i8x32_step(acc0, q_abs, q, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row0 + i)), ones_i16);
      acc1 = dot_i8x32_step(acc1, q_abs, q, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row1 + i)), ones_i16);
      acc2 = dot_i8x32_step(acc2, q_abs, q, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row2 + i)), ones_i16);
      acc3 = dot_i8x32_step(acc3, q_abs, q, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row3 + i)), ones_i16);
    }
    int32_t sum0 = sum_i32x8(acc0), sum1 = sum_i32x8(acc1), sum2 = sum_i32x8(acc2), sum3 = sum_i32x8(acc3);
    for (; i < dim; ++i) {
      int32_t q = q_codes[i];
      sum0 += q * row0[i], sum1 += q * row1[i], sum2 += q * row2[i], sum3 += q * row3[i];
    }
    out[r] = sum0, out[r + 1] = sum1, out[r + 2] = sum2, out[r + 3] = sum3;
  }
  for (; r < count; ++r) {
    const int8_t* row = rows + r * stride;
    __m256i acc = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 32 <= dim; i += 32) {
      __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q_codes + i));
      acc = dot_i8x32_step(acc, _mm256_abs_epi8(q), q, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + i)), ones_i16);
    }
    int32_t sum = sum_i32x8(acc);
    for (; i < dim; ++i) sum += int32_t(q_codes[i]) * row[i];
    out[r] = sum;
  }
}

const KernelSet kHaswell = {
    Isa::haswell,
    adapt::f32<simsimd_dot_f32_haswell>,
    adapt::f32<simsimd_l2sq_f32_haswell>,
    adapt::f32<simsimd_cos_f32_haswell>,
    adapt::i8_exact<simsimd_dot_i8_haswell>,
    adapt::i8_exact<simsimd_l2sq_i8_haswell>,
    adapt::i8_float<simsimd_cos_i8_haswell>,
    dot_f32_rows_haswell,
    l2sq_f32_rows_haswell,
    dot_i8_rows_haswell,
};

}  // namespace

const KernelSet& haswell_kernels() { return kHaswell; }

}  // namespace loci::kernels
