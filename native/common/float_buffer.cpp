#include "common/float_buffer.h"

#include "common/huge_pages.h"
#include "common/private_map.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace loci {
namespace {

size_t page_bytes() {
  static const size_t size = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return size;
}

size_t round_up(size_t bytes, size_t unit) { return (bytes + unit - 1) / unit * unit; }

// Reserves address space only: PROT_NONE and MAP_NORESERVE cost no memory. Placed so a
// file's rows mapped over it can use 2 MiB pages (common/huge_pages.h).
void* reserve_range(size_t bytes) { return reserve_congruent(bytes, FloatBuffer::kMappedRowsOffset); }

// Commits [at, at + bytes) as zeroed, writable memory inside a reservation.
bool commit_range(void* at, size_t bytes) {
  if (mmap(at, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED) return false;
#ifdef MADV_HUGEPAGE
  // Vectors are large and scanned whole: 2 MiB pages mean far fewer page faults and TLB
  // misses where transparent huge pages are enabled "on madvise" (a hint only).
  ::madvise(at, bytes, MADV_HUGEPAGE);
#endif
  return true;
}

[[noreturn]] void out_of_memory(size_t bytes) {
  std::fprintf(stderr, "loci: cannot reserve %zu bytes of address space for vectors: %s\n", bytes, std::strerror(errno));
  std::abort();
}

// Address space is cheap and moving is not (the copy touches fresh memory): start big.
constexpr size_t kMinReservation = size_t(1) << 30;

}  // namespace

FloatBuffer::~FloatBuffer() { release(); }

FloatBuffer::FloatBuffer(FloatBuffer&& other) noexcept { *this = std::move(other); }

FloatBuffer& FloatBuffer::operator=(FloatBuffer&& other) noexcept {
  if (this != &other) {
    release();
    data_.store(other.base());
    releaser_ = other.releaser_;
    size_ = other.size_;
    committed_ = other.committed_;
    reserved_ = other.reserved_;
    mapped_ = other.mapped_;
    other.data_.store(nullptr);
    other.size_ = other.committed_ = other.reserved_ = other.mapped_ = 0;
  }
  return *this;
}

void FloatBuffer::release() {
  if (base()) munmap(base(), reserved_);
  data_.store(nullptr);
  size_ = committed_ = reserved_ = mapped_ = 0;
}

void FloatBuffer::ensure_committed(size_t bytes) {
  if (bytes <= committed_) return;
  if (bytes > reserved_) {
    // A reservation four times larger, so moving (a copy) is rare and amortised. A
    // file-mapped prefix becomes ordinary memory when it moves.
    const size_t reservation = round_up(std::max({bytes * 4, reserved_ * 4, kMinReservation}), page_bytes());
    void* fresh = reserve_range(reservation);
    if (!fresh) out_of_memory(reservation);
    float* old = base();
    if (old) {
      const size_t keep = round_up(size_ * sizeof(float), page_bytes());
      if (keep && !commit_range(fresh, keep)) out_of_memory(reservation);
      std::memcpy(fresh, old, size_ * sizeof(float));
      committed_ = keep;
    }
    // Published before the old region goes: a reader that loads data() from now on
    // gets the copy; one that loaded it before keeps the old region until released.
    data_.store(static_cast<float*>(fresh), std::memory_order_release);
    if (old) {
      if (releaser_) {
        releaser_(old, reserved_);
      } else {
        munmap(old, reserved_);
      }
    }
    reserved_ = reservation;
    mapped_ = 0;
  }
  const size_t target = std::min(reserved_, round_up(std::max(bytes, committed_ + committed_ / 2), page_bytes()));
  // Anonymous pages read as zero until written.
  if (!commit_range(reinterpret_cast<char*>(base()) + committed_, target - committed_)) out_of_memory(target);
  committed_ = target;
}

void FloatBuffer::reserve(size_t count) { ensure_committed(count * sizeof(float)); }

void FloatBuffer::resize(size_t count) {
  const size_t bytes = count * sizeof(float);
  ensure_committed(bytes);
  if (count < size_) {
    // Shrinking: zero the dropped floats, so growing again yields zeros as promised.
    std::memset(base() + count, 0, (size_ - count) * sizeof(float));
  }
  size_ = count;
}

Status FloatBuffer::map_file(const std::string& path, uint64_t offset, size_t count) {
  release();
  const size_t bytes = count * sizeof(float);
  if (bytes == 0) return Status::ok();
  const size_t reservation = round_up(std::max(bytes * 2, kMinReservation), page_bytes());
  void* range = reserve_range(reservation);
  if (!range) return Status::error(StatusCode::io_error, "cannot reserve address space to map " + path);
  const size_t mapped = round_up(bytes, page_bytes());
  void* view = nullptr;
  Status status = map_file_private(path, offset, mapped, bytes, range, &view);
  if (!status.is_ok()) {
    munmap(range, reservation);
    return status;
  }
  data_.store(static_cast<float*>(view), std::memory_order_release);
  reserved_ = reservation;
  committed_ = mapped;
  mapped_ = mapped;
  size_ = count;
  // The last mapped page may extend past the vectors (into the file's CRC table, or
  // past its end, which reads as zero); clear what lies beyond them so growth sees 0.
  if (mapped > bytes) std::memset(reinterpret_cast<char*>(base()) + bytes, 0, mapped - bytes);
  return Status::ok();
}

Status FloatBuffer::map_prefix(const std::string& path, uint64_t offset, size_t count) {
  if (count > size_) return Status::error(StatusCode::internal, path + ": cannot map more rows than the buffer holds");
  const size_t bytes = count * sizeof(float) / page_bytes() * page_bytes();
  // Remapped even where an older generation is mapped already: rows written since (the
  // copies the kernel made on write) go back, and the older file, unlinked by the
  // checkpoint, stops taking disk space.
  if (bytes == 0) return Status::ok();
  // Mapped elsewhere first, so a file that cannot be mapped leaves the buffer untouched...
  void* probe = nullptr;
  LOCI_RETURN_IF_ERROR(map_file_private(path, offset, bytes, bytes, nullptr, &probe));
  munmap(probe, bytes);
  // ...and then over the rows themselves. A MAP_FIXED mapping replaces the old pages in
  // one step under the kernel's mapping lock: a reader's access either reads the old
  // page or faults and waits for the new one, both holding the same bytes.
  void* view = nullptr;
  Status status = map_file_private(path, offset, bytes, bytes, base(), &view);
  if (!status.is_ok()) {
    // The kernel may have dropped the old pages already (only on running out of mapping
    // slots, since the same mapping just succeeded): the rows are gone, so stop here,
    // like any other failure to get memory for vectors.
    std::fprintf(stderr, "loci: cannot map the vectors back over themselves: %s\n", status.message().c_str());
    std::abort();
  }
  mapped_ = bytes;
  return Status::ok();
}

}  // namespace loci
