// 2 MiB pages for file-mapped data. A checkpoint's vectors and leaf pages are served
// from a private mapping of its files (FloatBuffer, PrivateMap). With 4 KiB pages every
// row or leaf a search touches is another TLB entry, and the f32 rows of a rerank sit
// scattered over the file: on fashion-mnist, a store whose rows were mapped this way
// answered 7-9% fewer queries per second than one holding them in anonymous 2 MiB pages.
//
// Linux maps a page-cache folio of 2 MiB with one PMD entry when (a) the folio is that
// large and (b) the mapping's virtual address and file offset agree modulo 2 MiB. (a)
// holds on filesystems with large folios (ext4 since Linux 6.16, xfs) when the file was
// written in whole, aligned 2 MiB writes (storage/block_aligned_writer.h): buffered
// writes get folios as large as the write. (b) is what reserve_congruent gives. Both are
// hints: on any other kernel or filesystem the same mappings work with 4 KiB pages.
//
// No MADV_HUGEPAGE on these mappings: on a cold page cache it would make every fault
// read 2 MiB from disk, which costs a store larger than memory far more than it saves.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>

namespace loci {

constexpr size_t kHugePageBytes = size_t(2) << 20;

/// Reserves `bytes` of address space (PROT_NONE, no memory) starting at an address
/// congruent to `file_offset` modulo kHugePageBytes, so a file region mapped there from
/// `file_offset` can use 2 MiB pages. Returns nullptr when the address space is exhausted.
/// Release it with munmap(result, bytes).
void* reserve_congruent(size_t bytes, uint64_t file_offset);

/// Blocks at least this large come from HugePageAllocator's own mappings.
constexpr size_t kHugeAllocationBytes = size_t(4) << 20;

/// Anonymous memory of round_up(bytes, 2 MiB) aligned to 2 MiB, advised MADV_HUGEPAGE;
/// nullptr if the system has none. Release with free_huge(result, bytes).
void* allocate_huge(size_t bytes);
void free_huge(void* block, size_t bytes);

/// A std::allocator that serves large blocks (>= kHugeAllocationBytes) from 2 MiB pages
/// and the rest as std::allocator does. For the tables filled at open, one entry per
/// item (IdMap's entries and buckets), which a reopen writes into fresh memory: one page
/// fault per 2 MiB instead of one per 4 KiB, and on a VM each fault also has the host
/// back the page. Untouched capacity costs no memory either way.
template <class T>
struct HugePageAllocator {
  using value_type = T;
  HugePageAllocator() = default;
  template <class U>
  HugePageAllocator(const HugePageAllocator<U>&) noexcept {}

  T* allocate(size_t count) {
    if (count > SIZE_MAX / sizeof(T)) throw std::bad_array_new_length();
    const size_t bytes = count * sizeof(T);
    if (bytes < kHugeAllocationBytes) return std::allocator<T>().allocate(count);
    void* block = allocate_huge(bytes);
    if (block == nullptr) throw std::bad_alloc();
    return static_cast<T*>(block);
  }
  void deallocate(T* block, size_t count) noexcept {
    const size_t bytes = count * sizeof(T);
    if (bytes < kHugeAllocationBytes) return std::allocator<T>().deallocate(block, count);
    free_huge(block, bytes);
  }
  template <class U>
  bool operator==(const HugePageAllocator<U>&) const noexcept {
    return true;
  }
  template <class U>
  bool operator!=(const HugePageAllocator<U>&) const noexcept {
    return false;
  }
};

}  // namespace loci
