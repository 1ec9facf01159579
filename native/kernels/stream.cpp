#include "stream.h"

#include <algorithm>

namespace loci::kernels {
namespace {

// Prefetches `row_count` rows of `row_bytes` bytes, `stride_bytes` apart. Every 64-byte
// line is requested: prefetching every other line measured no better than none.
inline void prefetch_rows(const void* first, size_t row_count, size_t row_bytes, size_t stride_bytes) {
  const char* row = static_cast<const char*>(first);
  for (size_t r = 0; r < row_count; ++r, row += stride_bytes) {
    for (size_t offset = 0; offset < row_bytes; offset += 64) __builtin_prefetch(row + offset);
  }
}

template <class T, class Kernel>
void stream_rows(const T* rows, size_t count, size_t dim, size_t stride, Kernel&& kernel) {
  for (size_t first = 0; first < count; first += kStreamBlockRows) {
    const size_t block = std::min(kStreamBlockRows, count - first);
    const size_t next = std::min(kStreamBlockRows, count - first - block);
    if (next) prefetch_rows(rows + (first + block) * stride, next, dim * sizeof(T), stride * sizeof(T));
    kernel(first, block);
  }
}

}  // namespace

void dot_i8_rows_stream(const KernelSet& set, I8Query query, const int8_t* rows, size_t count, size_t dim,
                        size_t stride, const int32_t* row_sums, int32_t* out) {
  // E.g. the VNNI kernel below 1600 dimensions (query in registers, rows in order) reads
  // DRAM at ~27 GB/s on its own at d=768; with these prefetches ~21 GB/s.
  if (dim < set.dot_i8_rows_in_order_below) return set.dot_i8_rows(query, rows, count, dim, stride, row_sums, out);
  stream_rows(rows, count, dim, stride, [&](size_t first, size_t block) {
    set.dot_i8_rows(query, rows + first * stride, block, dim, stride, row_sums + first, out + first);
  });
}

void dot_f32_rows_stream(const KernelSet& set, const float* query, const float* rows, size_t count, size_t dim,
                         size_t stride, float* out) {
  stream_rows(rows, count, dim, stride, [&](size_t first, size_t block) {
    set.dot_f32_rows(query, rows + first * stride, block, dim, stride, out + first);
  });
}

void l2sq_f32_rows_stream(const KernelSet& set, const float* query, const float* rows, size_t count, size_t dim,
                          size_t stride, float* out) {
  stream_rows(rows, count, dim, stride, [&](size_t first, size_t block) {
    set.l2sq_f32_rows(query, rows + first * stride, block, dim, stride, out + first);
  });
}

}  // namespace loci::kernels
