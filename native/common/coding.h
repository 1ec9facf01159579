// Explicit little-endian encoding for every on-disk format (docs/format/). Formats are
// never written as a struct's bytes: each field is put and got with these helpers, so
// the layout is the one the spec documents on every compiler and CPU.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace loci::coding {

inline void put_u8(std::string* out, uint8_t value) { out->push_back(static_cast<char>(value)); }

inline void encode_u16(uint8_t* out, uint16_t value) {
  out[0] = static_cast<uint8_t>(value);
  out[1] = static_cast<uint8_t>(value >> 8);
}
inline void encode_u32(uint8_t* out, uint32_t value) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<uint8_t>(value >> (8 * i));
}
inline void encode_u64(uint8_t* out, uint64_t value) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(value >> (8 * i));
}
inline uint16_t decode_u16(const uint8_t* in) { return static_cast<uint16_t>(in[0] | (in[1] << 8)); }
inline uint32_t decode_u32(const uint8_t* in) {
  uint32_t value = 0;
  for (int i = 3; i >= 0; --i) value = (value << 8) | in[i];
  return value;
}
inline uint64_t decode_u64(const uint8_t* in) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | in[i];
  return value;
}

inline void put_u16(std::string* out, uint16_t value) {
  uint8_t bytes[2];
  encode_u16(bytes, value);
  out->append(reinterpret_cast<char*>(bytes), 2);
}
inline void put_u32(std::string* out, uint32_t value) {
  uint8_t bytes[4];
  encode_u32(bytes, value);
  out->append(reinterpret_cast<char*>(bytes), 4);
}
inline void put_u64(std::string* out, uint64_t value) {
  uint8_t bytes[8];
  encode_u64(bytes, value);
  out->append(reinterpret_cast<char*>(bytes), 8);
}
// IEEE-754 binary32 / binary64, little-endian: the bit pattern through an integer.
inline void put_f32(std::string* out, float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  put_u32(out, bits);
}
inline void put_f64(std::string* out, double value) {
  uint64_t bits;
  std::memcpy(&bits, &value, 8);
  put_u64(out, bits);
}
// LEB128: 7 bits per byte, low bits first, high bit set on all but the last byte.
inline void put_varint(std::string* out, uint64_t value) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>((value & 0x7F) | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}
inline void put_bytes(std::string* out, const void* data, size_t size) {
  put_varint(out, size);
  out->append(static_cast<const char*>(data), size);
}
inline void put_string(std::string* out, std::string_view value) { put_bytes(out, value.data(), value.size()); }

/// Reads fields in order from a byte range. Every getter returns false (and stays
/// false) once the input is exhausted or malformed, so a decoder checks once at the end
/// or at each step and never reads past the range.
class Reader {
 public:
  Reader(const void* data, size_t size) : at_(static_cast<const uint8_t*>(data)), end_(at_ + size) {}
  explicit Reader(const std::string& bytes) : Reader(bytes.data(), bytes.size()) {}

  bool ok() const { return ok_; }
  size_t remaining() const { return ok_ ? static_cast<size_t>(end_ - at_) : 0; }
  const uint8_t* position() const { return at_; }

  bool u8(uint8_t* value) { return fixed(1) && (*value = at_[-1], true); }
  bool u16(uint16_t* value) { return fixed(2) && (*value = decode_u16(at_ - 2), true); }
  bool u32(uint32_t* value) { return fixed(4) && (*value = decode_u32(at_ - 4), true); }
  bool u64(uint64_t* value) { return fixed(8) && (*value = decode_u64(at_ - 8), true); }
  bool f32(float* value) {
    uint32_t bits;
    if (!u32(&bits)) return false;
    std::memcpy(value, &bits, 4);
    return true;
  }
  bool f64(double* value) {
    uint64_t bits;
    if (!u64(&bits)) return false;
    std::memcpy(value, &bits, 8);
    return true;
  }
  bool varint(uint64_t* value) {
    uint64_t result = 0;
    for (int shift = 0; shift <= 63 && ok_; shift += 7) {
      if (at_ >= end_) return ok_ = false;
      uint8_t byte = *at_++;
      result |= uint64_t(byte & 0x7F) << shift;
      if (!(byte & 0x80)) {
        *value = result;
        return true;
      }
    }
    return ok_ = false;
  }
  /// A varint length then that many bytes, at most `max_size`.
  bool bytes(const uint8_t** data, size_t* size, size_t max_size) {
    uint64_t length;
    if (!varint(&length) || length > max_size || length > remaining()) return ok_ = false;
    *data = at_;
    *size = static_cast<size_t>(length);
    at_ += length;
    return true;
  }
  /// As string(), but a view of the input's own bytes (valid while the input is).
  bool string_view(std::string_view* value, size_t max_size) {
    const uint8_t* data;
    size_t size;
    if (!bytes(&data, &size, max_size)) return false;
    *value = std::string_view(reinterpret_cast<const char*>(data), size);
    return true;
  }
  bool string(std::string* value, size_t max_size) {
    const uint8_t* data;
    size_t size;
    if (!bytes(&data, &size, max_size)) return false;
    value->assign(reinterpret_cast<const char*>(data), size);
    return true;
  }
  /// `size` raw bytes (no length prefix).
  bool raw(const uint8_t** data, size_t size) {
    if (!fixed(size)) return false;
    *data = at_ - size;
    return true;
  }

 private:
  bool fixed(size_t size) {
    if (!ok_ || static_cast<size_t>(end_ - at_) < size) return ok_ = false;
    at_ += size;
    return true;
  }
  const uint8_t* at_;
  const uint8_t* end_;
  bool ok_ = true;
};

}  // namespace loci::coding
