// aarch64 Advanced SIMD: "neon" (every aarch64 CPU) and "neon_sdot" (+ the Armv8.2-A dot
// product extension, SDOT). Advanced SIMD is part of the aarch64 baseline, so the neon
// functions carry no target attribute and the baseline build needs no -march flag. Only
// the neon_sdot functions are compiled for dotprod (LOCI_NEON_SDOT, and simsimd's i8
// kernels, which it compiles under "+dotprod"), and dispatch.cpp hands that set out only
// when the kernel reports HWCAP_ASIMDDP, so a CPU without it never meets an SDOT.
//
// Single-pair kernels come from simsimd where it has a kernel for the ISA: its f32 *_neon
// kernels are plain Armv8-A and serve both sets; its i8 *_neon kernels use SDOT/UDOT, so
// they serve neon_sdot only and the plain neon set has its own widening-multiply i8 pair
// kernels. The row kernels (one query against a page of rows, four rows per pass so each
// query load feeds four rows) are ours.
#include <arm_neon.h>

#include "simsimd_adapters.h"
#include "variants.h"

// Armv8.2-A + dotprod: the smallest architecture that defines SDOT. Per function, never a
// global -march: the rest of the binary must still run on an Armv8.0 core (Cortex-A53/A72).
#define LOCI_NEON_SDOT __attribute__((target("arch=armv8.2-a+dotprod")))
// Baseline Advanced SIMD: nothing to switch on. Named so the i8 row macro reads the same
// for both variants.
#define LOCI_NEON

namespace loci::kernels {
namespace {

// ---------------------------------------------------------------------------------------
// f32 rows, shared by both sets (no dotprod involved).

struct DotStep {
  static float32x4_t apply(float32x4_t acc, float32x4_t q, float32x4_t r) { return vfmaq_f32(acc, q, r); }
  static float scalar(float q, float r) { return q * r; }
};
struct L2Step {
  static float32x4_t apply(float32x4_t acc, float32x4_t q, float32x4_t r) {
    float32x4_t diff = vsubq_f32(q, r);
    return vfmaq_f32(acc, diff, diff);
  }
  static float scalar(float q, float r) { return (q - r) * (q - r); }
};

// One row on its own (the 0-3 rows left after the four-row passes).
template <class Step>
inline float f32_row(const float* query, const float* row, size_t dim) {
  float32x4_t acc_low = vdupq_n_f32(0), acc_high = acc_low;
  size_t i = 0;
  for (; i + 8 <= dim; i += 8) {
    acc_low = Step::apply(acc_low, vld1q_f32(query + i), vld1q_f32(row + i));
    acc_high = Step::apply(acc_high, vld1q_f32(query + i + 4), vld1q_f32(row + i + 4));
  }
  if (i + 4 <= dim) {
    acc_low = Step::apply(acc_low, vld1q_f32(query + i), vld1q_f32(row + i));
    i += 4;
  }
  float sum = vaddvq_f32(vaddq_f32(acc_low, acc_high));
  for (; i < dim; ++i) sum += Step::scalar(query[i], row[i]);
  return sum;
}

// Four rows per pass, eight floats per step with two accumulators per row: an FMA's result
// is ready only ~4 cycles later, so eight independent chains keep both FMA pipes of a
// Neoverse/Cortex-A7x core busy where four would leave them half idle. 8 accumulators +
// 2 query + 8 row registers fit easily in the 32 vector registers. The f32 sums run in a
// different order than the serial double-precision reference: the tests allow a relative
// error for that. Tail: one 4-wide step, then at most 3 scalar elements (no byte past the
// end of a row is read).
template <class Step>
void f32_rows(const float* query, const float* rows, size_t count, size_t dim, size_t stride,
              float* out) {
  size_t r = 0;
  for (; r + 4 <= count; r += 4) {
    const float* row0 = rows + r * stride;
    const float* row1 = row0 + stride;
    const float* row2 = row1 + stride;
    const float* row3 = row2 + stride;
    float32x4_t acc0_low = vdupq_n_f32(0), acc1_low = acc0_low, acc2_low = acc0_low, acc3_low = acc0_low;
    float32x4_t acc0_high = acc0_low, acc1_high = acc0_low, acc2_high = acc0_low, acc3_high = acc0_low;
    size_t i = 0;
    for (; i + 8 <= dim; i += 8) {
      float32x4_t q_low = vld1q_f32(query + i), q_high = vld1q_f32(query + i + 4);
      acc0_low = Step::apply(acc0_low, q_low, vld1q_f32(row0 + i));
      acc1_low = Step::apply(acc1_low, q_low, vld1q_f32(row1 + i));
      acc2_low = Step::apply(acc2_low, q_low, vld1q_f32(row2 + i));
      acc3_low = Step::apply(acc3_low, q_low, vld1q_f32(row3 + i));
      acc0_high = Step::apply(acc0_high, q_high, vld1q_f32(row0 + i + 4));
      acc1_high = Step::apply(acc1_high, q_high, vld1q_f32(row1 + i + 4));
      acc2_high = Step::apply(acc2_high, q_high, vld1q_f32(row2 + i + 4));
      acc3_high = Step::apply(acc3_high, q_high, vld1q_f32(row3 + i + 4));
    }
    if (i + 4 <= dim) {
      float32x4_t q = vld1q_f32(query + i);
      acc0_low = Step::apply(acc0_low, q, vld1q_f32(row0 + i));
      acc1_low = Step::apply(acc1_low, q, vld1q_f32(row1 + i));
      acc2_low = Step::apply(acc2_low, q, vld1q_f32(row2 + i));
      acc3_low = Step::apply(acc3_low, q, vld1q_f32(row3 + i));
      i += 4;
    }
    float sum0 = vaddvq_f32(vaddq_f32(acc0_low, acc0_high));
    float sum1 = vaddvq_f32(vaddq_f32(acc1_low, acc1_high));
    float sum2 = vaddvq_f32(vaddq_f32(acc2_low, acc2_high));
    float sum3 = vaddvq_f32(vaddq_f32(acc3_low, acc3_high));
    for (; i < dim; ++i) {
      sum0 += Step::scalar(query[i], row0[i]);
      sum1 += Step::scalar(query[i], row1[i]);
      sum2 += Step::scalar(query[i], row2[i]);
      sum3 += Step::scalar(query[i], row3[i]);
    }
    out[r] = sum0, out[r + 1] = sum1, out[r + 2] = sum2, out[r + 3] = sum3;
  }
  for (; r < count; ++r) out[r] = f32_row<Step>(query, rows + r * stride, dim);
}

void dot_f32_rows_neon(const float* q, const float* rows, size_t count, size_t dim,
                       size_t stride, float* out) {
  f32_rows<DotStep>(q, rows, count, dim, stride, out);
}
void l2sq_f32_rows_neon(const float* q, const float* rows, size_t count, size_t dim,
                        size_t stride, float* out) {
  f32_rows<L2Step>(q, rows, count, dim, stride, out);
}

// ---------------------------------------------------------------------------------------
// i8 steps: 16 codes of the query against 16 codes of a row, added into 4 i32 lanes.
// Both are signed x signed, so unlike VNNI neither needs the biased query: the i8 row
// kernels ignore I8Query::biased and row_sums.

// Plain NEON has no i8 dot instruction. vmull_s8 widens 8 i8 x i8 products to i16 and
// vmlal_high_s8 adds the other 8 on top, so each i16 lane holds the sum of two products:
// at most 2 * 127 * 127 = 32,258 <= 32,767. With -128 allowed, (-128)(-128) * 2 = 32,768
// would wrap to -32,768: one more reason for the [-127, 127] rule in kernels.h.
// vpadalq_s16 then adds adjacent i16 pairs into the i32 accumulator, so an i32 lane gains
// at most 4 * 127 * 127 = 64,516 per 16 codes and the whole sum stays below 2^31 up to
// dim 133,000, the same bound as the serial i32 sum.
struct WideningStep {
  static int32x4_t apply(int32x4_t acc, int8x16_t q, int8x16_t r) {
    int16x8_t products = vmull_s8(vget_low_s8(q), vget_low_s8(r));
    products = vmlal_high_s8(products, q, r);
    return vpadalq_s16(acc, products);
  }
};

// SDOT: each i32 lane += the sum of 4 adjacent i8 x i8 products, computed exactly with no
// narrower intermediate, so nothing saturates (even -128 would be safe here). Same
// 64,516-per-step growth and the same dim 133,000 overflow bound as above.
struct SdotStep {
  LOCI_NEON_SDOT static int32x4_t apply(int32x4_t acc, int8x16_t q, int8x16_t r) {
    return vdotq_s32(acc, q, r);
  }
};

// One body, compiled twice: GCC inlines a step only into a function whose target includes
// the step's, so the SDOT loop must itself carry LOCI_NEON_SDOT, while the plain loop must
// not (else the compiler could auto-vectorise its scalar tail into SDOT, a SIGILL on a
// Cortex-A53). Tail: at most 15 codes per row, added in scalar i32 (reads no byte past
// dim).
#define LOCI_DEFINE_I8_ROWS(NAME, TARGET, STEP)                                             \
  TARGET void NAME(I8Query query, const int8_t* rows, size_t count, size_t dim,            \
                   size_t stride, const int32_t* /*row_sums*/, int32_t* out) {             \
    const int8_t* q_codes = query.codes;                                                   \
    size_t r = 0;                                                                          \
    for (; r + 4 <= count; r += 4) {                                                       \
      const int8_t* row0 = rows + r * stride;                                              \
      const int8_t* row1 = row0 + stride;                                                  \
      const int8_t* row2 = row1 + stride;                                                  \
      const int8_t* row3 = row2 + stride;                                                  \
      int32x4_t acc0 = vdupq_n_s32(0), acc1 = acc0, acc2 = acc0, acc3 = acc0;              \
      size_t i = 0;                                                                        \
      for (; i + 16 <= dim; i += 16) {                                                     \
        int8x16_t q = vld1q_s8(q_codes + i);                                               \
        acc0 = STEP::apply(acc0, q, vld1q_s8(row0 + i));                                   \
        acc1 = STEP::apply(acc1, q, vld1q_s8(row1 + i));                                   \
        acc2 = STEP::apply(acc2, q, vld1q_s8(row2 + i));                                   \
        acc3 = STEP::apply(acc3, q, vld1q_s8(row3 + i));                                   \
      }                                                                                    \
      int32_t sum0 = vaddvq_s32(acc0), sum1 = vaddvq_s32(acc1);                            \
      int32_t sum2 = vaddvq_s32(acc2), sum3 = vaddvq_s32(acc3);                            \
      for (; i < dim; ++i) {                                                               \
        int32_t q = q_codes[i];                                                            \
        sum0 += q * row0[i], sum1 += q * row1[i], sum2 += q * row2[i], sum3 += q * row3[i]; \
      }                                                                                    \
      out[r] = sum0, out[r + 1] = sum1, out[r + 2] = sum2, out[r + 3] = sum3;              \
    }                                                                                      \
    for (; r < count; ++r) {                                                               \
      const int8_t* row = rows + r * stride;                                               \
      int32x4_t acc = vdupq_n_s32(0);                                                      \
      size_t i = 0;                                                                        \
      for (; i + 16 <= dim; i += 16)                                                       \
        acc = STEP::apply(acc, vld1q_s8(q_codes + i), vld1q_s8(row + i));                  \
      int32_t sum = vaddvq_s32(acc);                                                       \
      for (; i < dim; ++i) sum += int32_t(q_codes[i]) * row[i];                            \
      out[r] = sum;                                                                        \
    }                                                                                      \
  }

LOCI_DEFINE_I8_ROWS(dot_i8_rows_neon, LOCI_NEON, WideningStep)
LOCI_DEFINE_I8_ROWS(dot_i8_rows_neon_sdot, LOCI_NEON_SDOT, SdotStep)

// ---------------------------------------------------------------------------------------
// i8 pairs for the plain neon set (simsimd's i8 NEON kernels need dotprod).

int32_t dot_i8_neon(const int8_t* a, const int8_t* b, size_t dim) {
  int32x4_t acc = vdupq_n_s32(0);
  size_t i = 0;
  for (; i + 16 <= dim; i += 16) acc = WideningStep::apply(acc, vld1q_s8(a + i), vld1q_s8(b + i));
  int32_t sum = vaddvq_s32(acc);
  for (; i < dim; ++i) sum += int32_t(a[i]) * b[i];
  return sum;
}

// |a - b| reaches 254. vabdq_s8 returns it in an i8 lane, where 254 reads as -2, but the
// lane's bits are exact as a u8, so the result is reinterpreted as u8. Its square (at most
// 64,516) fits a u16 only once, so unlike the dot there is no vmlal pairing: each u16 lane
// holds one square and vpadalq_u16 widens pairs into u32. The result is returned as i32
// like the serial one, which overflows past dim 33,000 (254^2 * dim > 2^31), far above
// any dimension we accept.
int32_t l2sq_i8_neon(const int8_t* a, const int8_t* b, size_t dim) {
  uint32x4_t acc = vdupq_n_u32(0);
  size_t i = 0;
  for (; i + 16 <= dim; i += 16) {
    uint8x16_t diff = vreinterpretq_u8_s8(vabdq_s8(vld1q_s8(a + i), vld1q_s8(b + i)));
    acc = vpadalq_u16(acc, vmull_u8(vget_low_u8(diff), vget_low_u8(diff)));
    acc = vpadalq_u16(acc, vmull_high_u8(diff, diff));
  }
  uint32_t sum = vaddvq_u32(acc);
  for (; i < dim; ++i) {
    int32_t diff = int32_t(a[i]) - int32_t(b[i]);
    sum += uint32_t(diff * diff);
  }
  return static_cast<int32_t>(sum);
}

// Dot and both squared norms in one pass, each exact in i32 (same bounds as the dot), then
// the serial reference's own double-precision normalisation, so the zero-vector
// convention of kernels.h holds by construction.
float cos_i8_neon(const int8_t* a, const int8_t* b, size_t dim) {
  int32x4_t dot_acc = vdupq_n_s32(0), norm_a_acc = dot_acc, norm_b_acc = dot_acc;
  size_t i = 0;
  for (; i + 16 <= dim; i += 16) {
    int8x16_t va = vld1q_s8(a + i), vb = vld1q_s8(b + i);
    dot_acc = WideningStep::apply(dot_acc, va, vb);
    norm_a_acc = WideningStep::apply(norm_a_acc, va, va);
    norm_b_acc = WideningStep::apply(norm_b_acc, vb, vb);
  }
  int32_t dot = vaddvq_s32(dot_acc), norm_a = vaddvq_s32(norm_a_acc), norm_b = vaddvq_s32(norm_b_acc);
  for (; i < dim; ++i) {
    int32_t x = a[i], y = b[i];
    dot += x * y, norm_a += x * x, norm_b += y * y;
  }
  return cosine_distance_from(double(dot), double(norm_a), double(norm_b));
}

const KernelSet kNeon = {
    Isa::neon,
    adapt::f32<simsimd_dot_f32_neon>,
    adapt::f32<simsimd_l2sq_f32_neon>,
    adapt::f32<simsimd_cos_f32_neon>,
    dot_i8_neon,
    l2sq_i8_neon,
    cos_i8_neon,
    dot_f32_rows_neon,
    l2sq_f32_rows_neon,
    dot_i8_rows_neon,
};

// simsimd's i8 *_neon kernels are SDOT/UDOT loops. Its spatial.h compiles l2sq/cos under
// "+dotprod+i8mm" although they use no i8mm instruction; scripts/test-aarch64.sh checks
// the built objects for i8mm opcodes and runs the tests on a dotprod-without-i8mm CPU.
const KernelSet kNeonSdot = {
    Isa::neon_sdot,
    adapt::f32<simsimd_dot_f32_neon>,
    adapt::f32<simsimd_l2sq_f32_neon>,
    adapt::f32<simsimd_cos_f32_neon>,
    adapt::i8_exact<simsimd_dot_i8_neon>,
    adapt::i8_exact<simsimd_l2sq_i8_neon>,
    adapt::i8_float<simsimd_cos_i8_neon>,
    dot_f32_rows_neon,
    l2sq_f32_rows_neon,
    dot_i8_rows_neon_sdot,
};

}  // namespace

const KernelSet& neon_kernels() { return kNeon; }
const KernelSet& neon_sdot_kernels() { return kNeonSdot; }

}  // namespace loci::kernels
