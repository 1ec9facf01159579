// Internal: one accessor per compiled variant. Only dispatch.cpp and the tests call these.
#pragma once

#include "kernels.h"

namespace loci::kernels {

const KernelSet& serial_kernels();
#if defined(__x86_64__) || defined(_M_X64)
const KernelSet& haswell_kernels();
const KernelSet& skylake_kernels();
const KernelSet& icelake_kernels();
#endif
#if defined(__aarch64__)
const KernelSet& neon_kernels();
const KernelSet& neon_sdot_kernels();
#endif

// Shared by variants that reuse a serial piece (e.g. a cosine built on a dot).
float cosine_distance_from(double dot, double norm_a_sq, double norm_b_sq);

}  // namespace loci::kernels
