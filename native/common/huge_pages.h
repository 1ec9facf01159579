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

namespace loci {

constexpr size_t kHugePageBytes = size_t(2) << 20;

/// Reserves `bytes` of address space (PROT_NONE, no memory) starting at an address
/// congruent to `file_offset` modulo kHugePageBytes, so a file region mapped there from
/// `file_offset` can use 2 MiB pages. Returns nullptr when the address space is exhausted.
/// Release it with munmap(result, bytes).
void* reserve_congruent(size_t bytes, uint64_t file_offset);

}  // namespace loci
