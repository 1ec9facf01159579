// A leaf page of the Atlas tree: a fixed-size, 64-byte aligned buffer holding the INT8
// codes and per-entry fields of up to `capacity` vectors (a SPANN posting list).
// See docs/format/pages.md for the layout; this header is its only implementation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

namespace loci::index {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "Loci's page layout is little-endian and read in place: big-endian targets need byte swaps");

constexpr uint32_t kPageMagic = 0x4750434C;  // "LCPG" in file order
constexpr uint8_t kLeafPageType = 1;
constexpr uint8_t kPageFormatVersion = 1;
constexpr size_t kPageHeaderBytes = 64;
constexpr size_t kMinPageSize = 4096;
constexpr size_t kMaxPageSize = 1 << 20;

/// Where each array of a leaf page starts, for one (page_size, dim) pair.
struct LeafLayout {
  size_t page_size = 0;
  size_t dim = 0;
  uint32_t capacity = 0;
  size_t slots = 0, versions = 0, tenants = 0, scales = 0, code_sums = 0, norms = 0, codes = 0;

  /// The layout, or capacity 0 if not even 4 entries fit (the caller reports it).
  static LeafLayout compute(size_t page_size, size_t dim) {
    auto pad = [](size_t bytes) { return (bytes + 63) & ~size_t(63); };
    LeafLayout layout;
    layout.page_size = page_size;
    layout.dim = dim;
    size_t capacity = ((page_size - kPageHeaderBytes) / (dim + 24)) & ~size_t(3);
    // Padding each array to 64 bytes can push the total past the page: shrink until it fits.
    for (; capacity >= 4; capacity -= 4) {
      size_t offset = kPageHeaderBytes;
      size_t* fields[] = {&layout.slots, &layout.versions, &layout.tenants, &layout.scales, &layout.code_sums, &layout.norms};
      for (size_t* field : fields) {
        *field = offset;
        offset += pad(capacity * 4);
      }
      layout.codes = offset;
      if (offset + capacity * dim <= page_size) {
        layout.capacity = static_cast<uint32_t>(capacity);
        return layout;
      }
    }
    layout.capacity = 0;
    return layout;
  }
};

/// An owned leaf page. Accessors read the arrays in place (little-endian, aligned).
class LeafPage {
 public:
  /// A page over `bytes` that someone else owns (a mapped checkpoint file, kept alive
  /// by `owner`); the caller has checked them (CRC, header) already.
  LeafPage(const LeafLayout& layout, uint8_t* bytes, std::shared_ptr<void> owner)
      : layout_(&layout), bytes_(bytes, AlignedDelete{false}), owner_(std::move(owner)) {}

  LeafPage(const LeafLayout& layout, uint32_t page_id) : layout_(&layout) {
    bytes_.reset(static_cast<uint8_t*>(::operator new[](layout.page_size, std::align_val_t(64))));
    std::memset(bytes_.get(), 0, layout.page_size);
    put32(0, kPageMagic);
    bytes_[4] = kLeafPageType;
    bytes_[5] = kPageFormatVersion;
    put32(12, page_id);
    put32(20, layout.capacity);
    put32(24, static_cast<uint32_t>(layout.dim));
    put32(28, static_cast<uint32_t>(layout.page_size));
  }

  // The count is how a writer publishes entries to searches that read the page without
  // a lock: entries below it are complete (written before the release store) and never
  // change while the page is published; appends write entry `count`, then the count.
  uint32_t count() const { return __atomic_load_n(count_word(), __ATOMIC_ACQUIRE); }
  void set_count(uint32_t count) { __atomic_store_n(count_word(), count, __ATOMIC_RELEASE); }
  uint32_t capacity() const { return layout_->capacity; }
  bool full() const { return count() >= capacity(); }

  uint32_t* slots() { return array<uint32_t>(layout_->slots); }
  uint32_t* versions() { return array<uint32_t>(layout_->versions); }
  uint32_t* tenants() { return array<uint32_t>(layout_->tenants); }
  float* scales() { return array<float>(layout_->scales); }
  int32_t* code_sums() { return array<int32_t>(layout_->code_sums); }
  float* norms() { return array<float>(layout_->norms); }
  int8_t* codes() { return array<int8_t>(layout_->codes); }
  const uint32_t* slots() const { return const_cast<LeafPage*>(this)->slots(); }
  const uint32_t* versions() const { return const_cast<LeafPage*>(this)->versions(); }
  const float* scales() const { return const_cast<LeafPage*>(this)->scales(); }
  const int32_t* code_sums() const { return const_cast<LeafPage*>(this)->code_sums(); }
  const float* norms() const { return const_cast<LeafPage*>(this)->norms(); }
  const int8_t* codes() const { return const_cast<LeafPage*>(this)->codes(); }
  const uint8_t* bytes() const { return bytes_.get(); }
  /// For loading a page from disk: the caller fills all page_size bytes, then checks them.
  uint8_t* mutable_bytes() { return bytes_.get(); }

  /// Copies entry `from` of `source` (same layout) to entry `to` of this page.
  void copy_entry(uint32_t to, const LeafPage& source, uint32_t from) {
    slots()[to] = source.slots()[from];
    versions()[to] = source.versions()[from];
    tenants()[to] = const_cast<LeafPage&>(source).tenants()[from];
    scales()[to] = source.scales()[from];
    code_sums()[to] = source.code_sums()[from];
    norms()[to] = source.norms()[from];
    std::memcpy(codes() + size_t(to) * layout_->dim, source.codes() + size_t(from) * layout_->dim, layout_->dim);
  }

 private:
  struct AlignedDelete {
    // A constructor, not a default member initializer: the latter is not usable inside
    // the enclosing class's definition, where unique_ptr needs it.
    AlignedDelete() : owned(true) {}
    explicit AlignedDelete(bool owns) : owned(owns) {}
    bool owned;
    void operator()(uint8_t* p) const {
      if (owned) ::operator delete[](p, std::align_val_t(64));
    }
  };
  template <class T>
  T* array(size_t offset) const { return reinterpret_cast<T*>(bytes_.get() + offset); }
  uint32_t get32(size_t offset) const {
    uint32_t value;
    std::memcpy(&value, bytes_.get() + offset, 4);
    return value;
  }
  void put32(size_t offset, uint32_t value) { std::memcpy(bytes_.get() + offset, &value, 4); }
  uint32_t* count_word() const { return reinterpret_cast<uint32_t*>(bytes_.get() + 16); }  // 4-aligned

  const LeafLayout* layout_;
  std::unique_ptr<uint8_t[], AlignedDelete> bytes_;
  std::shared_ptr<void> owner_;  // keeps borrowed bytes alive
};

}  // namespace loci::index
