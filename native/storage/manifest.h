// The MANIFEST: the root of a store. See docs/format/manifest.md.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"
#include "storage/env.h"

namespace loci::storage {

constexpr uint32_t kManifestMagic = 0x464D434C;  // "LCMF"
constexpr size_t kManifestBytes = 104;

struct Manifest {
  uint32_t dim = 0;
  uint8_t metric = 0;
  uint8_t quantization = 0;
  uint8_t index = 0;
  uint32_t page_size = 0;
  uint32_t fanout = 0;
  uint64_t checkpoint_lsn = 0;
  uint64_t checkpoint_gen = 0;
  uint64_t arena_gen = 0;
  uint64_t arena_bytes = 0;
  uint64_t arena_live_bytes = 0;
  uint64_t wal_seq = 0;
  uint64_t items = 0;
  uint64_t created_ms = 0;
  uint64_t checkpoint_ms = 0;

  std::string encode() const;
  /// Decodes and checks a MANIFEST's bytes; CORRUPT naming `path` and the offset.
  static Status decode(const std::string& bytes, const std::string& path, Manifest* manifest);
};

/// Writes `manifest` to <dir>/MANIFEST atomically: MANIFEST.tmp, fsync, rename, fsync dir.
/// *rename_attempted (optional) tells whether a failure came at or after the rename, when
/// the old or the new MANIFEST may be the one on disk.
Status write_manifest(Env* env, const std::string& dir, const Manifest& manifest, bool* rename_attempted = nullptr);
/// Reads <dir>/MANIFEST (NOT_FOUND if it does not exist).
Status read_manifest(Env* env, const std::string& dir, Manifest* manifest);

}  // namespace loci::storage
