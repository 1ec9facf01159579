// Streaming forms of the row kernels, for rows that are probably not in cache (an
// exact scan of a whole store, an Atlas leaf fetched from DRAM). They run the plain
// kernel over blocks of kStreamBlockRows rows and prefetch the next block, line by line,
// before computing the current one.
//
// Why a separate entry point: measured here (AMD EPYC, d = 768), an i8 scan of 150 MiB
// reaches ~10 GB/s with the hardware prefetcher alone and ~19-24 GB/s (the machine's
// streaming-read rate) with these prefetches, while the same prefetches cost ~20% on a
// page that is already in L1/L2. Callers pick by where the data most likely is. A kernel
// that already reads its rows in address order (KernelSet::dot_i8_rows_in_order_below)
// is called as it is: the hardware prefetcher serves it better than these prefetches.
#pragma once

#include "kernels.h"

namespace loci::kernels {

constexpr size_t kStreamBlockRows = 8;

void dot_i8_rows_stream(const KernelSet& set, I8Query query, const int8_t* rows, size_t count, size_t dim,
                        size_t stride, const int32_t* row_sums, int32_t* out);
void dot_f32_rows_stream(const KernelSet& set, const float* query, const float* rows, size_t count, size_t dim,
                         size_t stride, float* out);
void l2sq_f32_rows_stream(const KernelSet& set, const float* query, const float* rows, size_t count, size_t dim,
                          size_t stride, float* out);

}  // namespace loci::kernels
