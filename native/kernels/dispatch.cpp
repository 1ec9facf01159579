// Picks the kernel set once per process from a CPU check. The choice is reported by
// capabilities() in JS, and LOCI_ISA=<name> forces a lower variant (for tests and
// benchmarks); an unsupported or unknown LOCI_ISA is ignored and the best one is used.
#include <cstdlib>
#include <cstring>

#include "variants.h"

#if defined(__aarch64__) && defined(__linux__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif
#if defined(__aarch64__) && defined(__APPLE__)
#include <sys/sysctl.h>
#endif

namespace loci::kernels {

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::serial: return "serial";
    case Isa::haswell: return "haswell";
    case Isa::skylake: return "skylake";
    case Isa::icelake: return "icelake";
    case Isa::neon: return "neon";
    case Isa::neon_sdot: return "neon_sdot";
  }
  return "unknown";
}

bool compiled(Isa isa) {
  switch (isa) {
    case Isa::serial: return true;
#if defined(__x86_64__) || defined(_M_X64)
    case Isa::haswell:
    case Isa::skylake:
    case Isa::icelake: return true;
#endif
#if defined(__aarch64__)
    case Isa::neon:
    case Isa::neon_sdot: return true;
#endif
    default: return false;
  }
}

bool supported(Isa isa) {
  if (!compiled(isa)) return false;
  switch (isa) {
    case Isa::serial: return true;
#if defined(__x86_64__) || defined(_M_X64)
    // libgcc's CPU model also checks XCR0, so these are false when the OS does not
    // save the AVX / AVX-512 register state.
    case Isa::haswell:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case Isa::skylake:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
             supported(Isa::haswell);
    case Isa::icelake:
      return supported(Isa::skylake) && __builtin_cpu_supports("avx512vnni");
#endif
#if defined(__aarch64__)
    case Isa::neon: return true;
    case Isa::neon_sdot:
#if defined(__linux__) && defined(HWCAP_ASIMDDP)
      return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#elif defined(__APPLE__)
    {
      // Untested here (no macOS machine): every Apple Silicon core has dotprod.
      int has = 0;
      size_t size = sizeof has;
      return sysctlbyname("hw.optional.arm.FEAT_DotProd", &has, &size, nullptr, 0) == 0 && has != 0;
    }
#else
      return false;
#endif
#endif
    default: return false;
  }
}

const KernelSet* for_isa(Isa isa) {
  if (!supported(isa)) return nullptr;
  switch (isa) {
    case Isa::serial: return &serial_kernels();
#if defined(__x86_64__) || defined(_M_X64)
    case Isa::haswell: return &haswell_kernels();
    case Isa::skylake: return &skylake_kernels();
    case Isa::icelake: return &icelake_kernels();
#endif
#if defined(__aarch64__)
    case Isa::neon: return &neon_kernels();
    case Isa::neon_sdot: return &neon_sdot_kernels();
#endif
    default: return nullptr;
  }
}

namespace {

const KernelSet& choose() {
  if (const char* forced = std::getenv("LOCI_ISA")) {
    for (int i = 0; i < kIsaCount; ++i) {
      Isa isa = static_cast<Isa>(i);
      if (std::strcmp(forced, isa_name(isa)) == 0) {
        if (const KernelSet* set = for_isa(isa)) return *set;
      }
    }
  }
  for (int i = kIsaCount - 1; i >= 0; --i) {
    if (const KernelSet* set = for_isa(static_cast<Isa>(i))) return *set;
  }
  return serial_kernels();
}

}  // namespace

const KernelSet& active() {
  static const KernelSet& chosen = choose();  // thread-safe one-time initialisation
  return chosen;
}

}  // namespace loci::kernels
