#include "storage/manifest.h"

#include "common/coding.h"
#include "common/crc32c.h"

namespace loci::storage {

std::string Manifest::encode() const {
  std::string out;
  coding::put_u32(&out, kManifestMagic);
  coding::put_u16(&out, 1);
  coding::put_u16(&out, 0);
  coding::put_u32(&out, dim);
  coding::put_u8(&out, metric);
  coding::put_u8(&out, quantization);
  coding::put_u8(&out, index);
  coding::put_u8(&out, 0);
  coding::put_u32(&out, page_size);
  coding::put_u32(&out, fanout);
  for (uint64_t field : {checkpoint_lsn, checkpoint_gen, arena_gen, arena_bytes, arena_live_bytes, wal_seq, items,
                         created_ms, checkpoint_ms}) {
    coding::put_u64(&out, field);
  }
  coding::put_u32(&out, 0);
  coding::put_u32(&out, crc32c::mask(crc32c::value(out.data(), out.size())));
  return out;
}

Status Manifest::decode(const std::string& bytes, const std::string& path, Manifest* manifest) {
  auto corrupt = [&](size_t offset, const std::string& why) {
    return Status::error(StatusCode::corrupt, path + " at offset " + std::to_string(offset) + ": " + why +
                                                  " (run `loci verify`; restore the store from a backup)");
  };
  if (bytes.size() != kManifestBytes) {
    return corrupt(0, "size is " + std::to_string(bytes.size()) + " bytes, expected " + std::to_string(kManifestBytes));
  }
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  if (coding::decode_u32(data + 100) != crc32c::mask(crc32c::value(data, 100))) return corrupt(100, "checksum mismatch");
  if (coding::decode_u32(data) != kManifestMagic) return corrupt(0, "bad magic (not a Loci MANIFEST)");
  if (coding::decode_u16(data + 4) != 1) return corrupt(4, "unknown format version (written by a newer Loci?)");
  if (coding::decode_u16(data + 6) & 0xFF) return corrupt(6, "unknown flags (written by a newer Loci?)");
  Manifest m;
  m.dim = coding::decode_u32(data + 8);
  m.metric = data[12];
  m.quantization = data[13];
  m.index = data[14];
  m.page_size = coding::decode_u32(data + 16);
  m.fanout = coding::decode_u32(data + 20);
  uint64_t* fields[] = {&m.checkpoint_lsn, &m.checkpoint_gen, &m.arena_gen, &m.arena_bytes, &m.arena_live_bytes,
                        &m.wal_seq, &m.items, &m.created_ms, &m.checkpoint_ms};
  for (size_t i = 0; i < 9; ++i) *fields[i] = coding::decode_u64(data + 24 + 8 * i);
  if (m.dim == 0 || m.dim > 65536) return corrupt(8, "dim " + std::to_string(m.dim) + " out of range");
  if (m.metric > 2) return corrupt(12, "unknown metric " + std::to_string(m.metric));
  if (m.quantization > 1) return corrupt(13, "unknown quantization " + std::to_string(m.quantization));
  if (m.index > 1) return corrupt(14, "unknown index kind " + std::to_string(m.index));
  if (m.index == 1 && (m.page_size < 4096 || m.page_size % 4096 != 0 || m.page_size > (1u << 20))) {
    return corrupt(16, "page size " + std::to_string(m.page_size) + " out of range");
  }
  if (m.index == 1 && (m.fanout < 4 || m.fanout > 1024)) return corrupt(20, "fanout " + std::to_string(m.fanout) + " out of range");
  if (m.arena_gen == 0) return corrupt(40, "arena generation is 0");
  if (m.wal_seq == 0) return corrupt(64, "WAL sequence is 0");
  if (m.arena_live_bytes > m.arena_bytes) return corrupt(56, "more live arena bytes than arena bytes");
  *manifest = m;
  return Status::ok();
}

Status write_manifest(Env* env, const std::string& dir, const Manifest& manifest, bool* rename_attempted) {
  if (rename_attempted) *rename_attempted = false;
  const std::string temp = join_path(dir, "MANIFEST.tmp");
  std::unique_ptr<WritableFile> file;
  LOCI_RETURN_IF_ERROR(env->new_writable(temp, true, &file));
  std::string bytes = manifest.encode();
  LOCI_RETURN_IF_ERROR(file->append(bytes.data(), bytes.size()));
  LOCI_RETURN_IF_ERROR(file->sync());
  LOCI_RETURN_IF_ERROR(file->close());
  if (rename_attempted) *rename_attempted = true;
  LOCI_RETURN_IF_ERROR(env->rename(temp, join_path(dir, "MANIFEST")));
  return env->sync_dir(dir);
}

Status read_manifest(Env* env, const std::string& dir, Manifest* manifest) {
  const std::string path = join_path(dir, "MANIFEST");
  if (!env->exists(path)) return Status::error(StatusCode::not_found, path + " does not exist");
  std::string bytes;
  LOCI_RETURN_IF_ERROR(env->read_file(path, &bytes));
  return Manifest::decode(bytes, path, manifest);
}

}  // namespace loci::storage
