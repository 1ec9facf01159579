// Clocks the engine reports in: wall time for the MANIFEST, steady time for durations.
#pragma once

#include <chrono>
#include <cstdint>

namespace loci::engine {

inline uint64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

inline double elapsed_ms(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - since).count();
}

}  // namespace loci::engine
