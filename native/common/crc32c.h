// CRC32C (Castagnoli), the checksum on every Loci record, page and file header.
// Hardware-accelerated where the CPU has it (SSE4.2 crc32 on x86-64, the ARMv8 CRC32
// extension on aarch64), chosen once at run time; a table-driven version elsewhere.
//
// Stored checksums are masked (LevelDB's rule): computing the CRC of a string that
// itself contains CRCs gives poor checks, so what goes on disk is mask(crc).
#pragma once

#include <cstddef>
#include <cstdint>

namespace loci::crc32c {

/// The CRC32C of data[0, size) continued from `crc` (the CRC of the bytes before it;
/// 0 to start). extend(extend(0, a), b) == value(a + b).
uint32_t extend(uint32_t crc, const void* data, size_t size);

/// The CRC32C of data[0, size).
inline uint32_t value(const void* data, size_t size) { return extend(0, data, size); }

constexpr uint32_t kMaskDelta = 0xa282ead8u;

/// The stored form of a CRC: rotate right by 15 bits and add a constant.
inline uint32_t mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + kMaskDelta; }

/// The inverse of mask().
inline uint32_t unmask(uint32_t masked) {
  uint32_t rotated = masked - kMaskDelta;
  return (rotated >> 17) | (rotated << 15);
}

/// True if the hardware path is in use (reported by capabilities()).
bool hardware_accelerated();

}  // namespace loci::crc32c
