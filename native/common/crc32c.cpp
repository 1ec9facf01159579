// CRC32C: a portable slicing-by-8 version and the CPUs' own crc32c instructions, one of
// which is picked on the first call (see crc32c.h). Every ISA is compiled into the one
// binary through per-function target attributes; no global -m flags.
//
// Convention (the same as LevelDB's, so extend() composes): the public value is the
// finished CRC, i.e. the register inverted. extend() re-inverts it to resume, then
// inverts again at the end, so extend(extend(0, a), b) == value(a + b).
#include "common/crc32c.h"

#include <cstring>

#include "common/crc32c_internal.h"

// GCC and clang only: the selection uses __builtin_cpu_supports (MSVC keeps the table).
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define LOCI_CRC32C_X86_64 1
#endif

// The hardware path feeds 8-byte words loaded in native order; the instructions expect
// little-endian ones, so big-endian aarch64 (rare) keeps the table version.
//
// GCC declares the ACLE crc intrinsics under its own "+crc" target pragma, so one
// function with target("+crc") can use them in a plain armv8-a build. Older clang only
// declares them when the whole file is built with crc, so under clang the hardware path
// exists only when the baseline already has it (Apple Silicon: yes; a generic Linux
// armv8-a build: no, it keeps the table version).
#if defined(__aarch64__) && !defined(__AARCH64EB__) && (defined(__ARM_FEATURE_CRC32) || \
                                                        (defined(__GNUC__) && !defined(__clang__)))
#include <arm_acle.h>
#define LOCI_CRC32C_AARCH64 1
#if defined(__ARM_FEATURE_CRC32)
#define LOCI_TARGET_CRC
#else
#define LOCI_TARGET_CRC __attribute__((target("+crc")))
#endif
#if defined(__linux__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif
#if defined(__APPLE__)
#include <sys/sysctl.h>
#endif
#endif

namespace loci::crc32c {
namespace {

// The Castagnoli polynomial 0x1EDC6F41, bit-reversed because the CRC is computed
// least significant bit first (as iSCSI, ext4 and the crc32c instructions do).
constexpr uint32_t kReflectedPolynomial = 0x82F63B78u;

// slice[0] is the classic byte-at-a-time table; slice[k][b] is the CRC contribution of
// byte b followed by k zero bytes, so eight lookups advance the CRC by eight bytes.
struct SliceTables {
  uint32_t slice[8][256];
};

constexpr SliceTables make_slice_tables() {
  SliceTables tables{};
  for (uint32_t byte = 0; byte < 256; ++byte) {
    uint32_t crc = byte;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ ((crc & 1) ? kReflectedPolynomial : 0);
    tables.slice[0][byte] = crc;
  }
  for (int k = 1; k < 8; ++k) {
    for (uint32_t byte = 0; byte < 256; ++byte) {
      uint32_t previous = tables.slice[k - 1][byte];
      tables.slice[k][byte] = (previous >> 8) ^ tables.slice[0][previous & 0xff];
    }
  }
  return tables;
}

constexpr SliceTables kTables = make_slice_tables();
static_assert(kTables.slice[0][128] == kReflectedPolynomial, "byte 0x80 reduces to the polynomial in 8 steps");

// Explicit little-endian load: the slicing tables assume the first byte in memory is the
// least significant, whatever the CPU's byte order.
inline uint32_t load_le32(const uint8_t* bytes) {
  return uint32_t(bytes[0]) | (uint32_t(bytes[1]) << 8) | (uint32_t(bytes[2]) << 16) | (uint32_t(bytes[3]) << 24);
}

inline uint32_t step_byte(uint32_t state, uint8_t byte) {
  return (state >> 8) ^ kTables.slice[0][(state ^ byte) & 0xff];
}

}  // namespace

namespace internal {

uint32_t extend_portable(uint32_t crc, const void* data, size_t size) {
  const uint8_t* bytes = static_cast<const uint8_t*>(data);
  uint32_t state = ~crc;
  while (size >= 8) {
    uint32_t low = load_le32(bytes) ^ state;
    uint32_t high = load_le32(bytes + 4);
    state = kTables.slice[7][low & 0xff] ^ kTables.slice[6][(low >> 8) & 0xff] ^
            kTables.slice[5][(low >> 16) & 0xff] ^ kTables.slice[4][low >> 24] ^
            kTables.slice[3][high & 0xff] ^ kTables.slice[2][(high >> 8) & 0xff] ^
            kTables.slice[1][(high >> 16) & 0xff] ^ kTables.slice[0][high >> 24];
    bytes += 8;
    size -= 8;
  }
  while (size-- > 0) state = step_byte(state, *bytes++);
  return ~state;
}

}  // namespace internal

namespace {

// The hardware loops take bytes one at a time up to an 8-byte boundary (an unaligned
// 8-byte load is legal on both ISAs but can straddle cache lines), then whole words,
// then the tail. One dependency chain: the crc32 instruction has a 3-cycle latency, so
// this runs near 8 bytes per 3 cycles (several GB/s), far above the disk it guards;
// interleaving three streams and combining them would triple it if that ever matters.

#if defined(LOCI_CRC32C_X86_64)
// Three streams at once. The crc32 instruction has a latency of 3 cycles and a
// throughput of 1 per cycle, so one dependent chain runs at a third of the speed the
// unit allows. Each 3 x kStripe chunk is split into three stripes whose CRCs are
// computed side by side (the 2nd and 3rd starting from 0) and then joined: the CRC
// register is linear, so crc(A || B) = shift(crc(A), |B|) ^ crc(0, B), where shift
// feeds |B| zero bytes through the register, a fixed 32x32 bit matrix applied here with
// four 256-entry tables (built once from the polynomial by repeated squaring).
constexpr size_t kStripe = 4096;
// Inputs of a few KiB never fill a large chunk (a WAL record of one 768-d item is about
// 3.7 KiB, a blob a few hundred bytes), and one chain ran them at a third of the unit's
// speed: what is left after the large chunks goes through 3 x 256-byte chunks, whose
// join costs the same two shifts (eight lookups in 4 KiB of tables) per 768 bytes.
constexpr size_t kSmallStripe = 256;

struct StripeShift {
  uint32_t table[4][256];

  static uint32_t times(const uint32_t* matrix, uint32_t vector) {
    uint32_t sum = 0;
    for (int bit = 0; vector != 0; ++bit, vector >>= 1) {
      if (vector & 1) sum ^= matrix[bit];
    }
    return sum;
  }
  static void multiply(uint32_t* out, const uint32_t* a, const uint32_t* b) {  // out = a * b
    uint32_t result[32];
    for (int n = 0; n < 32; ++n) result[n] = times(a, b[n]);
    std::memcpy(out, result, sizeof result);
  }

  explicit StripeShift(size_t stripe) {
    // One zero bit through the reflected register: bit 0 becomes the polynomial, bit n
    // moves to n - 1.
    uint32_t power[32];
    power[0] = 0x82F63B78u;
    for (int n = 1; n < 32; ++n) power[n] = 1u << (n - 1);
    uint32_t op[32];
    for (int n = 0; n < 32; ++n) op[n] = 1u << n;  // identity
    for (size_t bits = stripe * 8; bits != 0; bits >>= 1) {
      if (bits & 1) multiply(op, power, op);
      multiply(power, power, power);
    }
    for (uint32_t value = 0; value < 256; ++value) {
      for (int k = 0; k < 4; ++k) table[k][value] = times(op, value << (8 * k));
    }
  }

  uint32_t operator()(uint32_t crc) const {
    return table[0][crc & 0xFF] ^ table[1][(crc >> 8) & 0xFF] ^ table[2][(crc >> 16) & 0xFF] ^ table[3][crc >> 24];
  }
};

template <size_t Stripe>
const StripeShift& stripe_shift() {
  static const StripeShift shift(Stripe);
  return shift;
}

// Consumes whole 3 x Stripe chunks from `bytes`, three stripes side by side.
template <size_t Stripe>
__attribute__((target("sse4.2"))) inline uint64_t crc_three_stripes(uint64_t state, const uint8_t*& bytes, size_t& size) {
  if (size < 3 * Stripe) return state;
  const StripeShift& shift = stripe_shift<Stripe>();
  while (size >= 3 * Stripe) {
    uint64_t second = 0, third = 0;
    for (size_t offset = 0; offset < Stripe; offset += 8) {
      uint64_t a, b, c;
      std::memcpy(&a, bytes + offset, 8);
      std::memcpy(&b, bytes + Stripe + offset, 8);
      std::memcpy(&c, bytes + 2 * Stripe + offset, 8);
      state = _mm_crc32_u64(state, a);
      second = _mm_crc32_u64(second, b);
      third = _mm_crc32_u64(third, c);
    }
    uint32_t joined = shift(static_cast<uint32_t>(state)) ^ static_cast<uint32_t>(second);
    joined = shift(joined) ^ static_cast<uint32_t>(third);
    state = joined;
    bytes += 3 * Stripe;
    size -= 3 * Stripe;
  }
  return state;
}

__attribute__((target("sse4.2"))) uint32_t extend_sse42(uint32_t crc, const void* data, size_t size) {
  const uint8_t* bytes = static_cast<const uint8_t*>(data);
  uint32_t state = ~crc;
  while (size > 0 && (reinterpret_cast<uintptr_t>(bytes) & 7) != 0) {
    state = _mm_crc32_u8(state, *bytes++);
    --size;
  }
  uint64_t wide_state = state;
  wide_state = crc_three_stripes<kStripe>(wide_state, bytes, size);
  wide_state = crc_three_stripes<kSmallStripe>(wide_state, bytes, size);
  while (size >= 8) {
    uint64_t word;
    std::memcpy(&word, bytes, 8);
    wide_state = _mm_crc32_u64(wide_state, word);  // the upper 32 bits of the result are zero
    bytes += 8;
    size -= 8;
  }
  state = static_cast<uint32_t>(wide_state);
  while (size-- > 0) state = _mm_crc32_u8(state, *bytes++);
  return ~state;
}
#endif

#if defined(LOCI_CRC32C_AARCH64)
LOCI_TARGET_CRC uint32_t extend_armv8(uint32_t crc, const void* data, size_t size) {
  const uint8_t* bytes = static_cast<const uint8_t*>(data);
  uint32_t state = ~crc;
  while (size > 0 && (reinterpret_cast<uintptr_t>(bytes) & 7) != 0) {
    state = __crc32cb(state, *bytes++);
    --size;
  }
  while (size >= 8) {
    uint64_t word;
    std::memcpy(&word, bytes, 8);
    state = __crc32cd(state, word);
    bytes += 8;
    size -= 8;
  }
  while (size-- > 0) state = __crc32cb(state, *bytes++);
  return ~state;
}
#endif

internal::ExtendFunction chosen_extend() {
  // Function-static: initialised once, thread-safely, on first use, so callers in other
  // translation units' static initialisers still get a valid choice.
  static const internal::ExtendFunction chosen = [] {
    internal::ExtendFunction hardware = internal::hardware_extend();
    return hardware ? hardware : &internal::extend_portable;
  }();
  return chosen;
}

}  // namespace

namespace internal {

ExtendFunction hardware_extend() {
#if defined(LOCI_CRC32C_X86_64)
  // This may run before libgcc's own constructor has filled in the CPU model.
  __builtin_cpu_init();
  if (__builtin_cpu_supports("sse4.2")) return &extend_sse42;
#elif defined(LOCI_CRC32C_AARCH64)
#if defined(__linux__) && defined(HWCAP_CRC32)
  if (getauxval(AT_HWCAP) & HWCAP_CRC32) return &extend_armv8;
#elif defined(__APPLE__)
  // Untested here (no macOS machine): every Apple Silicon core has the CRC32 extension.
  int has = 0;
  size_t size = sizeof has;
  if (sysctlbyname("hw.optional.armv8_crc32", &has, &size, nullptr, 0) == 0 && has != 0) return &extend_armv8;
#endif
#endif
  return nullptr;
}

}  // namespace internal

uint32_t extend(uint32_t crc, const void* data, size_t size) { return chosen_extend()(crc, data, size); }

bool hardware_accelerated() { return chosen_extend() != &internal::extend_portable; }

}  // namespace loci::crc32c
