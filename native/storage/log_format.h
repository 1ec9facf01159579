// Record framing shared by the WAL and the items file. See docs/format/wal.md.
//
//   record := crc:u32  length:u32  type:u8  payload:byte[length]
//   crc    := mask(crc32c(type, payload))
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/coding.h"
#include "common/crc32c.h"

namespace loci::storage {

constexpr size_t kRecordHeaderBytes = 9;
constexpr uint32_t kMaxRecordBytes = 1u << 30;
constexpr uint8_t kRecordIgnorableBit = 0x80;  // unknown types with this bit are skipped

/// 32-byte file header shared by WAL, items and blob files: magic, version, flags, two
/// u64 fields whose meaning is per file, reserved bytes, masked CRC of bytes [0, 28).
constexpr size_t kFileHeaderBytes = 32;

struct FileHeader {
  uint32_t magic = 0;
  uint16_t version = 1;
  uint16_t flags = 0;
  uint64_t first = 0;   // WAL: seq; items: gen; blobs: gen
  uint64_t second = 0;  // WAL: dim; items: checkpoint lsn; blobs: 0

  std::string encode() const {
    std::string out;
    coding::put_u32(&out, magic);
    coding::put_u16(&out, version);
    coding::put_u16(&out, flags);
    coding::put_u64(&out, first);
    coding::put_u64(&out, second);
    coding::put_u32(&out, 0);
    coding::put_u32(&out, crc32c::mask(crc32c::value(out.data(), out.size())));
    return out;
  }

  /// Decodes 32 bytes; false with *why set if the magic, version or CRC is wrong.
  bool decode(const uint8_t* bytes, uint32_t expected_magic, std::string* why) {
    if (coding::decode_u32(bytes + 28) != crc32c::mask(crc32c::value(bytes, 28))) {
      *why = "header checksum mismatch";
      return false;
    }
    magic = coding::decode_u32(bytes);
    version = coding::decode_u16(bytes + 4);
    flags = coding::decode_u16(bytes + 6);
    first = coding::decode_u64(bytes + 8);
    second = coding::decode_u64(bytes + 16);
    if (magic != expected_magic) {
      *why = "bad magic";
      return false;
    }
    if (version != 1) {
      *why = "unknown format version " + std::to_string(version) + " (written by a newer Loci?)";
      return false;
    }
    if (flags & 0xFF) {
      *why = "unknown flags (written by a newer Loci?)";
      return false;
    }
    return true;
  }
};

/// Appends one framed record to *out.
inline void frame_record(std::string* out, uint8_t type, const void* payload, size_t size) {
  uint8_t header[kRecordHeaderBytes];
  uint32_t crc = crc32c::extend(crc32c::value(&type, 1), payload, size);
  coding::encode_u32(header, crc32c::mask(crc));
  coding::encode_u32(header + 4, static_cast<uint32_t>(size));
  header[8] = type;
  out->append(reinterpret_cast<char*>(header), kRecordHeaderBytes);
  out->append(static_cast<const char*>(payload), size);
}

/// Fills in the header of a record whose payload was appended to *out after
/// kRecordHeaderBytes placeholder bytes at `start` (saves copying a large payload).
inline void seal_record(std::string* out, size_t start, uint8_t type) {
  auto* header = reinterpret_cast<uint8_t*>(&(*out)[start]);
  const size_t size = out->size() - start - kRecordHeaderBytes;
  header[8] = type;
  coding::encode_u32(header + 4, static_cast<uint32_t>(size));
  coding::encode_u32(header, crc32c::mask(crc32c::value(header + 8, size + 1)));
}

/// The outcome of reading one record from a byte range.
enum class RecordRead {
  ok,         // *type and payload set; *next is the offset after it
  end,        // no bytes left: a clean end
  truncated,  // the range ends inside the record (header or payload)
  bad_crc,    // the record's checksum does not match (or its length is impossible)
};

/// Reads the record starting at `offset` of data[0, size).
inline RecordRead read_record(const uint8_t* data, size_t size, size_t offset, uint8_t* type, const uint8_t** payload,
                              size_t* payload_size, size_t* next) {
  if (offset == size) return RecordRead::end;
  if (size - offset < kRecordHeaderBytes) return RecordRead::truncated;
  const uint8_t* header = data + offset;
  uint32_t length = coding::decode_u32(header + 4);
  if (length > kMaxRecordBytes) return RecordRead::bad_crc;
  if (size - offset - kRecordHeaderBytes < length) return RecordRead::truncated;
  uint32_t crc = crc32c::extend(crc32c::value(header + 8, 1), header + kRecordHeaderBytes, length);
  if (crc32c::mask(crc) != coding::decode_u32(header)) return RecordRead::bad_crc;
  *type = header[8];
  *payload = header + kRecordHeaderBytes;
  *payload_size = length;
  *next = offset + kRecordHeaderBytes + length;
  return RecordRead::ok;
}

}  // namespace loci::storage
