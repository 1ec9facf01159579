#include "common/huge_pages.h"

#include <sys/mman.h>

namespace loci {

void* reserve_congruent(size_t bytes, uint64_t file_offset) {
  // Over-reserve by one huge page, keep the congruent window, give back both ends.
  const size_t padded = bytes + kHugePageBytes;
  void* range = mmap(nullptr, padded, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (range == MAP_FAILED) return nullptr;
  const uintptr_t start = reinterpret_cast<uintptr_t>(range);
  const uintptr_t phase = uintptr_t(file_offset % kHugePageBytes);
  uintptr_t window = start - start % kHugePageBytes + phase;
  if (window < start) window += kHugePageBytes;
  // window - start < kHugePageBytes, so [window, window + bytes) lies inside the range.
  if (window > start) munmap(range, window - start);
  const uintptr_t end = start + padded;
  if (end > window + bytes) munmap(reinterpret_cast<void*>(window + bytes), end - (window + bytes));
  return reinterpret_cast<void*>(window);
}

namespace {
size_t round_to_huge(size_t bytes) { return (bytes + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes; }
}  // namespace

void* allocate_huge(size_t bytes) {
  const size_t rounded = round_to_huge(bytes);
  void* block = reserve_congruent(rounded, 0);  // 2 MiB aligned
  if (block == nullptr) return nullptr;
  if (mprotect(block, rounded, PROT_READ | PROT_WRITE) != 0) {
    munmap(block, rounded);
    return nullptr;
  }
#ifdef MADV_HUGEPAGE
  ::madvise(block, rounded, MADV_HUGEPAGE);  // a hint: 4 KiB pages still work
#endif
  return block;
}

void free_huge(void* block, size_t bytes) {
  if (block != nullptr) munmap(block, round_to_huge(bytes));
}

}  // namespace loci
