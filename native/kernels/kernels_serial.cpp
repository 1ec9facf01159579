// Portable reference kernels. Every SIMD variant is tested against these, so they
// favour obviously-correct code; f32 sums accumulate in double to be a fair oracle.
#include <cmath>

#include "variants.h"

namespace loci::kernels {

float cosine_distance_from(double dot, double norm_a_sq, double norm_b_sq) {
  // Both zero: identical, distance 0. One zero: no direction to compare, distance 1.
  if (norm_a_sq == 0 && norm_b_sq == 0) return 0.0f;
  if (norm_a_sq == 0 || norm_b_sq == 0) return 1.0f;
  double cosine = dot / std::sqrt(norm_a_sq * norm_b_sq);
  double distance = 1.0 - cosine;
  return static_cast<float>(distance < 0 ? 0 : distance);
}

namespace {

float dot_f32_serial(const float* a, const float* b, size_t dim) {
  double sum = 0;
  for (size_t i = 0; i < dim; ++i) sum += double(a[i]) * double(b[i]);
  return static_cast<float>(sum);
}

float l2sq_f32_serial(const float* a, const float* b, size_t dim) {
  double sum = 0;
  for (size_t i = 0; i < dim; ++i) {
    double diff = double(a[i]) - double(b[i]);
    sum += diff * diff;
  }
  return static_cast<float>(sum);
}

float cos_f32_serial(const float* a, const float* b, size_t dim) {
  double dot = 0, norm_a = 0, norm_b = 0;
  for (size_t i = 0; i < dim; ++i) {
    dot += double(a[i]) * double(b[i]);
    norm_a += double(a[i]) * double(a[i]);
    norm_b += double(b[i]) * double(b[i]);
  }
  return cosine_distance_from(dot, norm_a, norm_b);
}

// i8 products fit in i16 and a 768-d sum in i32 with room to spare: 127*127*dim
// overflows i32 only past dim = 133,000, far above the largest dimension we accept.
int32_t dot_i8_serial(const int8_t* a, const int8_t* b, size_t dim) {
  int32_t sum = 0;
  for (size_t i = 0; i < dim; ++i) sum += int32_t(a[i]) * int32_t(b[i]);
  return sum;
}

int32_t l2sq_i8_serial(const int8_t* a, const int8_t* b, size_t dim) {
  int32_t sum = 0;
  for (size_t i = 0; i < dim; ++i) {
    int32_t diff = int32_t(a[i]) - int32_t(b[i]);
    sum += diff * diff;
  }
  return sum;
}

float cos_i8_serial(const int8_t* a, const int8_t* b, size_t dim) {
  int64_t dot = 0, norm_a = 0, norm_b = 0;
  for (size_t i = 0; i < dim; ++i) {
    dot += int32_t(a[i]) * int32_t(b[i]);
    norm_a += int32_t(a[i]) * int32_t(a[i]);
    norm_b += int32_t(b[i]) * int32_t(b[i]);
  }
  return cosine_distance_from(double(dot), double(norm_a), double(norm_b));
}

void dot_f32_rows_serial(const float* query, const float* rows, size_t count, size_t dim,
                         size_t stride, float* out) {
  for (size_t r = 0; r < count; ++r) out[r] = dot_f32_serial(query, rows + r * stride, dim);
}

void l2sq_f32_rows_serial(const float* query, const float* rows, size_t count, size_t dim,
                          size_t stride, float* out) {
  for (size_t r = 0; r < count; ++r) out[r] = l2sq_f32_serial(query, rows + r * stride, dim);
}

void dot_i8_rows_serial(I8Query query, const int8_t* rows, size_t count, size_t dim,
                        size_t stride, const int32_t* /*row_sums*/, int32_t* out) {
  for (size_t r = 0; r < count; ++r) out[r] = dot_i8_serial(query.codes, rows + r * stride, dim);
}

const KernelSet kSerial = {
    Isa::serial,       dot_f32_serial,     l2sq_f32_serial,      cos_f32_serial,
    dot_i8_serial,     l2sq_i8_serial,     cos_i8_serial,        dot_f32_rows_serial,
    l2sq_f32_rows_serial, dot_i8_rows_serial,
};

}  // namespace

const KernelSet& serial_kernels() { return kSerial; }

}  // namespace loci::kernels
