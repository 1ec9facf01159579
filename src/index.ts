/**
 * Loci: an embedded memory engine for LLM agents.
 *
 * @packageDocumentation
 */
import { binding } from './binding';

export { LociError, type LociErrorCode } from './errors';
export {
  Store,
  type Durability,
  type IndexKind,
  type Item,
  type Metric,
  type Quantization,
  type RecoveryMode,
  type RecoveryReport,
  type SearchOptions,
  type SearchResult,
  type StoreOptions,
  type StoredItem,
  type StoreStats,
} from './store';
export type { VectorLike } from './validate';

/** What the native core runs on this machine. */
export interface Capabilities {
  /** The kernel set in use: `serial`, `haswell`, `skylake`, `icelake`, `neon` or `neon_sdot`. */
  isa: string;
  /** Kernel sets compiled into this build. */
  compiled: string[];
  /** Kernel sets this CPU can run (the best one is used unless `LOCI_ISA` names another). */
  supported: string[];
  /** `x86_64`, `aarch64` or `other`. */
  arch: string;
  /** CRC32C (every on-disk checksum): `hardware` (SSE4.2 / ARMv8 CRC) or `table`. */
  crc32c: 'hardware' | 'table';
}

/** Reports which SIMD kernels the native core chose for this CPU. */
export function capabilities(): Capabilities {
  return binding.capabilities();
}
