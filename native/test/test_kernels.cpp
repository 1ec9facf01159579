// Every compiled kernel variant this CPU can run, against the serial reference, on
// random inputs with odd lengths (so every tail path runs) and row strides > dim.
#include <cmath>
#include <random>

#include "harness.h"
#include "kernels/kernels.h"
#include "kernels/quantize.h"
#include "kernels/stream.h"
#include "kernels/variants.h"

using namespace loci::kernels;

namespace {

const size_t kDims[] = {1, 3, 7, 15, 16, 17, 31, 33, 63, 64, 65, 100, 127, 129, 255, 384, 768, 769, 1536, 1537, 1600, 2049};

std::vector<const KernelSet*> runnable_variants() {
  std::vector<const KernelSet*> sets;
  for (int i = 0; i < kIsaCount; ++i) {
    if (const KernelSet* set = for_isa(static_cast<Isa>(i))) sets.push_back(set);
  }
  return sets;
}

std::vector<float> random_floats(std::mt19937_64& rng, size_t count) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> values(count);
  for (auto& v : values) v = normal(rng);
  return values;
}

std::vector<int8_t> random_codes(std::mt19937_64& rng, size_t count) {
  std::uniform_int_distribution<int> uniform(-127, 127);
  std::vector<int8_t> codes(count);
  for (auto& c : codes) c = static_cast<int8_t>(uniform(rng));
  return codes;
}

// f32 sums in a different order differ by rounding: allow a relative error on the
// magnitude of what was summed.
double f32_tolerance(const float* a, const float* b, size_t dim) {
  double magnitude = 0;
  for (size_t i = 0; i < dim; ++i) magnitude += std::fabs(double(a[i]) * b[i]) + double(a[i]) * a[i] + double(b[i]) * b[i];
  return 1e-5 * magnitude + 1e-6;
}

}  // namespace

TEST(serial_is_always_runnable) {
  std::printf("active isa: %s\n", isa_name(active().isa));
  CHECK(supported(Isa::serial));
  CHECK(for_isa(Isa::serial) == &serial_kernels());
  CHECK(supported(active().isa));
}

TEST(pair_kernels_match_serial) {
  std::mt19937_64 rng(loci::test::test_seed());
  const KernelSet& ref = serial_kernels();
  for (const KernelSet* set : runnable_variants()) {
    for (size_t dim : kDims) {
      auto a = random_floats(rng, dim), b = random_floats(rng, dim);
      double tol = f32_tolerance(a.data(), b.data(), dim);
      std::string where = std::string(isa_name(set->isa)) + " dim " + std::to_string(dim);
      CHECK_MSG(std::fabs(set->dot_f32(a.data(), b.data(), dim) - ref.dot_f32(a.data(), b.data(), dim)) <= tol, where);
      CHECK_MSG(std::fabs(set->l2sq_f32(a.data(), b.data(), dim) - ref.l2sq_f32(a.data(), b.data(), dim)) <= tol, where);
      // simsimd's cosine normalises with an approximate reciprocal square root.
      CHECK_MSG(std::fabs(set->cos_f32(a.data(), b.data(), dim) - ref.cos_f32(a.data(), b.data(), dim)) <= 2e-3, where);

      auto x = random_codes(rng, dim), y = random_codes(rng, dim);
      CHECK_MSG(set->dot_i8(x.data(), y.data(), dim) == ref.dot_i8(x.data(), y.data(), dim), where);
      CHECK_MSG(set->l2sq_i8(x.data(), y.data(), dim) == ref.l2sq_i8(x.data(), y.data(), dim), where);
      CHECK_MSG(std::fabs(set->cos_i8(x.data(), y.data(), dim) - ref.cos_i8(x.data(), y.data(), dim)) <= 2e-3, where);
    }
  }
}

TEST(i8_extremes_do_not_saturate) {
  // All +127 against all -127 (and +127 squared): the largest products the i16 steps of
  // the AVX2 / AVX-512BW kernels and the biased VNNI path can see.
  for (const KernelSet* set : runnable_variants()) {
    for (size_t dim : {64u, 768u, 1537u}) {
      std::vector<int8_t> plus(dim, 127), minus(dim, -127);
      std::vector<int32_t> sums = {int32_t(-127 * (int)dim)};
      std::vector<uint8_t> biased(dim);
      bias_query_codes(plus.data(), dim, biased.data());
      int32_t out = 0;
      set->dot_i8_rows({plus.data(), biased.data()}, minus.data(), 1, dim, dim, sums.data(), &out);
      CHECK_MSG(out == -127 * 127 * int32_t(dim), isa_name(set->isa));
      CHECK_MSG(set->dot_i8(plus.data(), plus.data(), dim) == 127 * 127 * int32_t(dim), isa_name(set->isa));
    }
  }
}

TEST(row_kernels_match_serial) {
  std::mt19937_64 rng(loci::test::test_seed() + 1);
  const KernelSet& ref = serial_kernels();
  for (const KernelSet* set : runnable_variants()) {
    for (size_t dim : kDims) {
      for (size_t count : {1u, 3u, 4u, 5u, 64u, 67u}) {
        size_t stride = dim + (dim % 3);  // sometimes padded, sometimes not
        auto query = random_floats(rng, dim);
        auto rows = random_floats(rng, stride * count);
        std::vector<float> got(count), want(count);
        std::string where = std::string(isa_name(set->isa)) + " dim " + std::to_string(dim) + " rows " + std::to_string(count);
        set->dot_f32_rows(query.data(), rows.data(), count, dim, stride, got.data());
        ref.dot_f32_rows(query.data(), rows.data(), count, dim, stride, want.data());
        for (size_t r = 0; r < count; ++r)
          CHECK_MSG(std::fabs(got[r] - want[r]) <= f32_tolerance(query.data(), rows.data() + r * stride, dim), where);
        set->l2sq_f32_rows(query.data(), rows.data(), count, dim, stride, got.data());
        ref.l2sq_f32_rows(query.data(), rows.data(), count, dim, stride, want.data());
        for (size_t r = 0; r < count; ++r)
          CHECK_MSG(std::fabs(got[r] - want[r]) <= f32_tolerance(query.data(), rows.data() + r * stride, dim), where);

        auto q_codes = random_codes(rng, dim);
        auto row_codes = random_codes(rng, stride * count);
        std::vector<uint8_t> biased(dim);
        bias_query_codes(q_codes.data(), dim, biased.data());
        std::vector<int32_t> row_sums(count, 0);
        for (size_t r = 0; r < count; ++r)
          for (size_t i = 0; i < dim; ++i) row_sums[r] += row_codes[r * stride + i];
        std::vector<int32_t> got_i8(count), want_i8(count);
        set->dot_i8_rows({q_codes.data(), biased.data()}, row_codes.data(), count, dim, stride, row_sums.data(), got_i8.data());
        ref.dot_i8_rows({q_codes.data(), biased.data()}, row_codes.data(), count, dim, stride, row_sums.data(), want_i8.data());
        for (size_t r = 0; r < count; ++r) CHECK_MSG(got_i8[r] == want_i8[r], where);
      }
    }
  }
}

TEST(stream_kernels_match_plain_kernels) {
  std::mt19937_64 rng(loci::test::test_seed() + 3);
  for (const KernelSet* set : runnable_variants()) {
    for (size_t dim : {7u, 64u, 769u}) {
      for (size_t count : {1u, 7u, 8u, 9u, 17u, 100u}) {
        const size_t stride = dim + 3;
        auto query = random_floats(rng, dim);
        auto rows = random_floats(rng, stride * count);
        std::vector<float> plain(count), streamed(count);
        set->dot_f32_rows(query.data(), rows.data(), count, dim, stride, plain.data());
        dot_f32_rows_stream(*set, query.data(), rows.data(), count, dim, stride, streamed.data());
        CHECK(plain == streamed);
        set->l2sq_f32_rows(query.data(), rows.data(), count, dim, stride, plain.data());
        l2sq_f32_rows_stream(*set, query.data(), rows.data(), count, dim, stride, streamed.data());
        CHECK(plain == streamed);
        auto q_codes = random_codes(rng, dim);
        auto row_codes = random_codes(rng, stride * count);
        std::vector<uint8_t> biased(dim);
        bias_query_codes(q_codes.data(), dim, biased.data());
        std::vector<int32_t> sums(count, 0), plain_i8(count), streamed_i8(count);
        for (size_t r = 0; r < count; ++r)
          for (size_t i = 0; i < dim; ++i) sums[r] += row_codes[r * stride + i];
        set->dot_i8_rows({q_codes.data(), biased.data()}, row_codes.data(), count, dim, stride, sums.data(), plain_i8.data());
        dot_i8_rows_stream(*set, {q_codes.data(), biased.data()}, row_codes.data(), count, dim, stride, sums.data(),
                           streamed_i8.data());
        CHECK(plain_i8 == streamed_i8);
      }
    }
  }
}

TEST(cosine_zero_vector_convention) {
  for (const KernelSet* set : runnable_variants()) {
    std::vector<float> zero(17, 0.0f), one(17, 1.0f);
    CHECK_MSG(set->cos_f32(zero.data(), zero.data(), 17) == 0.0f, isa_name(set->isa));
    CHECK_MSG(set->cos_f32(zero.data(), one.data(), 17) == 1.0f, isa_name(set->isa));
    CHECK_MSG(std::fabs(set->cos_f32(one.data(), one.data(), 17)) < 1e-3, isa_name(set->isa));
  }
}

TEST(quantize_round_trip_and_range) {
  std::mt19937_64 rng(loci::test::test_seed() + 2);
  for (size_t dim : kDims) {
    auto values = random_floats(rng, dim);
    values[0] = 1e30f;  // a huge component must not overflow anything
    std::vector<int8_t> codes(dim);
    QuantizedVector q = quantize_i8(values.data(), dim, codes.data());
    int32_t sum = 0;
    for (size_t i = 0; i < dim; ++i) {
      CHECK(codes[i] != -128);  // int8_t cannot exceed 127; -128 is the one code the quantizer must never produce
      CHECK(std::fabs(codes[i] * q.scale - values[i]) <= q.scale * 0.5001f);
      sum += codes[i];
    }
    CHECK(sum == q.code_sum);
    CHECK(codes[0] == 127);
  }
  std::vector<float> zero(9, 0.0f);
  std::vector<int8_t> codes(9, 5);
  QuantizedVector q = quantize_i8(zero.data(), 9, codes.data());
  CHECK(q.scale == 0.0f && q.code_sum == 0);
  for (auto c : codes) CHECK(c == 0);
}

TEST(quantize_rounds_like_nearbyint_ties_to_even) {
  // The quantizer rounds without nearbyint; it must give the same codes. With max|x| =
  // 127 the factor is exactly 1, so k + 0.5 are exact ties (even wins: 2.5 -> 2).
  std::vector<float> ties;
  ties.push_back(127.0f);
  for (int k = -127; k < 127; ++k) ties.push_back(float(k) + 0.5f);
  for (int k = -127; k <= 127; ++k) ties.push_back(float(k) + 0.25f * float(k % 4));
  ties.push_back(-0.0f);
  ties.push_back(1e-40f);  // subnormal
  std::mt19937_64 rng(loci::test::test_seed() + 9);
  std::vector<std::vector<float>> inputs = {ties};
  for (size_t dim : kDims) inputs.push_back(random_floats(rng, dim));
  for (const auto& values : inputs) {
    const size_t dim = values.size();
    std::vector<int8_t> codes(dim);
    const QuantizedVector q = quantize_i8(values.data(), dim, codes.data());
    float max_abs = 0;
    for (float v : values) max_abs = std::max(max_abs, std::fabs(v));
    CHECK(q.scale == max_abs / 127.0f);
    int32_t sum = 0;
    for (size_t i = 0; i < dim; ++i) {
      const float expected = std::min(127.0f, std::max(-127.0f, std::nearbyint(values[i] * (127.0f / max_abs))));
      CHECK_MSG(codes[i] == int8_t(expected), std::to_string(values[i]) + " -> " + std::to_string(codes[i]));
      sum += codes[i];
    }
    CHECK(sum == q.code_sum);
  }
  std::vector<int8_t> codes(3);
  const float halves[3] = {127.0f, 2.5f, -3.5f};
  quantize_i8(halves, 3, codes.data());
  CHECK(codes[1] == 2 && codes[2] == -4);
}

LOCI_TEST_MAIN()
