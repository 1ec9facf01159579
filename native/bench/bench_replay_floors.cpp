// What bounds a WAL replay on this machine (bench/results/replay-floors.txt):
//   - CRC32C over inputs of a WAL record's size (a one-item 768-d record is ~3.7 KiB, a
//     blob a few hundred bytes) and a large one, the hardware path chosen by
//     crc32c::extend() next to the portable table version in the same run;
//   - the first touch of fresh anonymous memory (2 MiB pages, as FloatBuffer asks for),
//     the way replayed rows land in memory: one thread, then two threads on halves,
//     each in a fresh mapping, and a rewrite of memory already touched. On a virtual
//     machine the first touch is slow when the host must back the pages anew and fast
//     when it still backs them (memory just freed), so it is measured in rounds.
// Usage: bench_replay_floors [MiB of memory per round, default 600]
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "common/crc32c.h"
#include "common/crc32c_internal.h"

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// GB/s of `extend` over consecutive `record`-byte pieces of `data`, best of 7.
double crc_gbps(loci::crc32c::internal::ExtendFunction extend, const std::vector<uint8_t>& data, size_t record) {
  double best = 1e30;
  uint32_t sink = 0;
  for (int run = 0; run < 7; ++run) {
    const auto start = std::chrono::steady_clock::now();
    for (size_t offset = 0; offset + record <= data.size(); offset += record) sink ^= extend(0, data.data() + offset, record);
    best = std::min(best, seconds_since(start));
  }
  if (sink == 0x12345678u) std::printf(" ");  // keeps the loop from being optimised away
  return double(data.size() / record * record) / best / 1e9;
}

char* fresh_mapping(size_t bytes) {
  void* memory = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) {
    std::perror("mmap");
    std::exit(1);
  }
#ifdef MADV_HUGEPAGE
  madvise(memory, bytes, MADV_HUGEPAGE);
#endif
  return static_cast<char*>(memory);
}

// GB/s of writing `bytes` of a fresh mapping with `threads` threads on equal parts.
double first_touch_gbps(size_t bytes, int threads) {
  char* memory = fresh_mapping(bytes);
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> workers;
  const size_t part = bytes / threads;
  for (int t = 0; t < threads; ++t) workers.emplace_back([=] { std::memset(memory + t * part, 1, part); });
  for (std::thread& worker : workers) worker.join();
  const double gbps = double(part * threads) / seconds_since(start) / 1e9;
  munmap(memory, bytes);
  return gbps;
}

double rewrite_gbps(size_t bytes) {
  char* memory = fresh_mapping(bytes);
  std::memset(memory, 1, bytes);
  const auto start = std::chrono::steady_clock::now();
  std::memset(memory, 2, bytes);
  const double gbps = double(bytes) / seconds_since(start) / 1e9;
  munmap(memory, bytes);
  return gbps;
}

}  // namespace

int main(int argc, char** argv) {
  const size_t mib = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 600;
  const size_t bytes = mib << 20;

  std::vector<uint8_t> data(16u << 20);
  for (size_t i = 0; i < data.size(); ++i) data[i] = uint8_t(i * 131 + 7);
  loci::crc32c::internal::ExtendFunction hardware = loci::crc32c::internal::hardware_extend();
  std::printf("crc32c over 16 MiB in pieces, best of 7 (hardware path: %s)\n", hardware ? "yes" : "no");
  for (size_t record : {size_t(600), size_t(3700), size_t(65536)}) {
    const double portable = crc_gbps(&loci::crc32c::internal::extend_portable, data, record);
    const double chosen = crc_gbps(&loci::crc32c::extend, data, record);
    std::printf("  %6zu-byte pieces: extend %6.2f GB/s, portable %5.2f GB/s (%.1fx)\n", record, chosen, portable,
                chosen / portable);
  }

  std::printf("first touch of %zu MiB of fresh memory (2 MiB pages asked for), in rounds 3 s apart\n", mib);
  for (int round = 0; round < 3; ++round) {
    const double one = first_touch_gbps(bytes, 1);
    const double again = first_touch_gbps(bytes, 1);  // right after: pages the process just freed
    std::this_thread::sleep_for(std::chrono::seconds(3));
    const double two = first_touch_gbps(bytes, 2);
    std::printf("  round %d: 1 thread %5.2f GB/s, again at once %5.2f GB/s; 3 s later 2 threads %5.2f GB/s\n", round,
                one, again, two);
    std::this_thread::sleep_for(std::chrono::seconds(3));
  }
  std::printf("rewrite of memory already touched: %.1f GB/s\n", rewrite_gbps(bytes));
  return 0;
}
