// Loads the native addon once per thread and hands it the LociError class, so native
// errors arrive already typed. Internal: src/memory and users go through Store.
import * as path from 'node:path';

import { LociError } from './errors';
// Type-only: the public, documented shapes are what the addon returns.
import type { Capabilities } from './index';
import type { StoreStats } from './store';

/** A store's shape as enum numbers (native/index/metric.h; index 0 flat, 1 atlas). */
interface NativeShape {
  dim: number;
  metric: number;
  quantization: number;
  index: number;
  pageSize: number;
  fanout: number;
}

/** What NativeStore.open resolves to: the store's shape (as created or as stored) and what recovery did. */
export interface NativeOpenReport extends NativeShape {
  created: boolean;
  replayedRecords: number;
  replayedBytes: number;
  loadMs: number;
  replayMs: number;
  recoveryNote: string;
}

/** Options for NativeStore.open; shape numbers -1 / 0 = default or as stored (engine.h). */
export interface NativeOpenConfig extends NativeShape {
  dir?: string;
  /** Atlas: leaves each write goes into, 1 to 8 (not stored). */
  replicas: number;
  /** Atlas: bulk-build leaf fill, 0.5 to 1, or 0 for the default (not stored). */
  buildFill: number;
  durability: number;
  syncIntervalMs: number;
  checkpointBytes: number;
  recovery: number;
}

/** The native store handle; see native/addon/store_wrap.cpp for the contract. */
export interface NativeStoreHandle {
  open(config: NativeOpenConfig): Promise<NativeOpenReport>;
  /** `vectors`: ids.length x dim floats. With `staged`, these items are the last slice of the staged batch. */
  add(ids: string[], vectors: Float32Array, upsert: boolean, times?: Float64Array, texts?: string[], metas?: string[], staged?: NativeBatchHandle): Promise<void>;
  remove(ids: string[], staged?: NativeBatchHandle): Promise<void>;
  get(id: string): Float32Array;
  /** [vector, time (NaN = none), text, meta JSON ('' = none)] */
  getItem(id: string): [Float32Array, number, string, string];
  has(id: string): boolean;
  size(): number;
  /** Returns the ids joined; see store_wrap.cpp for the layout of boundariesOut. */
  /** params: [k, exact, rerank, effort, probes, beam, eps] (store_wrap.cpp). */
  searchSync(query: Float32Array, params: Float64Array, distancesOut: Float32Array, boundariesOut: Uint32Array): string;
  search(query: Float32Array, params: Float64Array): Promise<[string, Uint32Array, Float32Array]>;
  checkpoint(compact: boolean): Promise<void>;
  stats(): StoreStats;
  close(): Promise<void>;
  /** Internal (benchmarks): median ns per search timed inside native code. */
  timeSearch(query: Float32Array, params: Float64Array, iterations: number): number;
}

/** A write handed to native code slice by slice (store_wrap.cpp, src/writes.ts). */
export interface NativeBatchHandle {
  /** Copies a slice in (ids alone for a remove batch); throws a LociError for a bad id. */
  append(ids: string[], vectors?: Float32Array, times?: Float64Array, texts?: string[], metas?: string[]): void;
}

interface NativeBinding {
  setErrorClass(errorClass: typeof LociError): void;
  capabilities(): Capabilities;
  /** Internal (benchmarks): quantizes with the engine's quantizer, returns the scale. */
  quantize(values: Float32Array, codesOut: Int8Array): number;
  NativeStore: {
    new (): NativeStoreHandle;
    /** Checks a closed store's files; resolves to a report, rejects with CORRUPT. */
    verify(dir: string): Promise<string>;
  };
  /** op: 0 add or upsert, 1 remove; dim: the store's; items: how many the write holds (reserves room). */
  NativeBatch: new (op: number, dim: number, items: number) => NativeBatchHandle;
}

function load(): NativeBinding {
  // dist/src/binding.js -> package root; both cmake-js and node-gyp write build/Release.
  const root = path.resolve(__dirname, '..', '..');
  const candidates = ['build/Release/loci.node', 'build/Debug/loci.node'];
  const errors: string[] = [];
  for (const candidate of candidates) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const binding = require(path.join(root, candidate)) as NativeBinding;
      binding.setErrorClass(LociError);
      return binding;
    } catch (error) {
      errors.push(`${candidate}: ${(error as Error).message}`);
    }
  }
  throw new LociError(
    'INTERNAL',
    `the Loci native addon could not be loaded (${errors.join('; ')}). Rebuild it with \`npm run build\` ` +
      '(npm 11 may have skipped the install script: see "Install" in the README).',
  );
}

export const binding: NativeBinding = load();
