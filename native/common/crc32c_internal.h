// The CRC32C variants behind crc32c::extend(), exposed so tests can check every
// variant this CPU can run against the portable one. Not for use outside common/ and
// the tests: callers want crc32c::extend(), which picks the best variant once.
#pragma once

#include <cstddef>
#include <cstdint>

namespace loci::crc32c::internal {

using ExtendFunction = uint32_t (*)(uint32_t crc, const void* data, size_t size);

/// The table-driven version (slicing-by-8), correct on every CPU and byte order.
uint32_t extend_portable(uint32_t crc, const void* data, size_t size);

/// The hardware version this build and CPU support (SSE4.2 or ARMv8 CRC32), or nullptr.
ExtendFunction hardware_extend();

}  // namespace loci::crc32c::internal
