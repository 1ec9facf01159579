// The systems bench/ann.ts compares, one adapter object each, so the harness times every
// system the same way:
//
//   build(input)                      once, timed (the harness wraps it)
//   prepare(handle, param)            before each sweep point, untimed
//   search(handle, query, k, param)   one query, timed; writes base indices to `out`
//   memory(handle)                    the system's own figure for its size, untimed
//   close(handle)
//
// Queries go through `prepareQueries` first, outside every timed region, so a peer that
// wants another query type (hnswlib-node takes only number[]) does not pay for the
// conversion in its QPS. Each adapter is used in a child process of its own (see ann.ts).
//
// Parameters (fixed by the issue, the ann-benchmarks convention for HNSW):
//   hnswlib        M = 16, efConstruction = 200, ef swept
//   usearch-*      connectivity = 16, expansion_add = 200, expansion_search swept; built
//                  on one thread (the JS API's add takes a thread count) like
//                  hnswlib-node's addPoint; searched on one thread
//   loci-exact-*   the exact store; int8 sweeps `rerank` (f32 re-scoring depth)
//   loci-atlas     Store.open({ index: 'atlas' }) with searchSync({ effort }), filled in
//                  batches (online inserts); loci-atlas-bulk: one add() (bulk build);
//                  loci-atlas-disk: the bulk build in a directory store (durability
//                  'none'), then checkpoint(), after which the f32 originals are served
//                  from the checkpoint's vectors file (page cache) instead of memory.
//                  Skipped while the build at hand has no such index
import * as fs from 'node:fs';
import * as path from 'node:path';

import { LociError, Store, type Metric, type Quantization } from '../../src/index';

export const SYSTEM_NAMES = ['loci-exact-f32', 'loci-exact-int8', 'loci-atlas', 'loci-atlas-bulk', 'loci-atlas-disk', 'hnswlib', 'usearch-f32', 'usearch-i8'] as const;
export type SystemName = (typeof SYSTEM_NAMES)[number];

/** Loci stores are filled with batched `add` calls of this many items. */
export const LOCI_ADD_BATCH = 1000;
const HNSW_M = 16;
const HNSW_EF_CONSTRUCTION = 200;
// Dense where the recall targets (0.95, 0.99) fall for every system, so the QPS quoted
// at a target is read between near neighbours, not interpolated across a wide gap.
const EF_SWEEP = [10, 15, 20, 25, 30, 40, 60, 80, 160, 320];

export interface BuildInput {
  dim: number;
  metric: Metric;
  /** count x dim, row-major; item i has id String(i) (Loci) or key/label i (peers). */
  base: Float32Array;
  count: number;
  /** A private scratch directory for index files; removed by the harness. */
  scratchDir: string;
  /** Logs progress to stderr. */
  progress: (message: string) => void;
  /** Runs `work` off the build clock: for API-shape conversions that are not index work. */
  untimed<T>(work: () => T): T;
}

/** A system's own account of its size. */
export interface MemoryReport {
  /** Bytes the system reports (or its serialized file holds); null when it reports nothing. */
  bytes: number | null;
  /** Where `bytes` comes from, e.g. "writeIndex file size". */
  source: string;
  /** Anything else the system reports (stats objects), kept in the JSON. */
  details?: unknown;
}

/** Thrown by build() when the system does not exist in this build: the harness skips it. */
export class SystemUnavailable extends Error {}

export interface AnnSystem<Handle = unknown, Query = unknown> {
  name: SystemName;
  /** Build parameters, for the report. */
  parameters: Record<string, string | number>;
  /** Name of the swept search parameter, or null for a single point. */
  sweepName: string | null;
  /** The sweep; the same in --quick runs, which cut queries, not points. */
  sweep(quick: boolean): number[];
  /** Converts queries to the form search() takes; called before anything is timed. */
  prepareQueries(queries: Float32Array, count: number, dim: number): Query[];
  build(input: BuildInput): Promise<Handle>;
  /** Readies a sweep point (untimed), e.g. sets hnswlib's ef. */
  prepare?(handle: Handle, param: number): Promise<void> | void;
  /** One query; writes up to k base indices to out and returns how many. */
  search(handle: Handle, query: Query, k: number, param: number, out: Int32Array): number;
  memory(handle: Handle): Promise<MemoryReport> | MemoryReport;
  close(handle: Handle): Promise<void> | void;
}

function rowViews(queries: Float32Array, count: number, dim: number): Float32Array[] {
  return Array.from({ length: count }, (_, i) => queries.subarray(i * dim, (i + 1) * dim));
}

// ---------------------------------------------------------------------------------------
// Loci

async function fillStore(store: Store, input: BuildInput, batch = LOCI_ADD_BATCH): Promise<void> {
  const { base, count, dim } = input;
  let lastReport = performance.now();
  for (let start = 0; start < count; start += batch) {
    const end = Math.min(start + batch, count);
    const items = new Array<{ id: string; vector: Float32Array }>(end - start);
    for (let i = start; i < end; i++) items[i - start] = { id: String(i), vector: base.subarray(i * dim, (i + 1) * dim) };
    await store.add(items);
    if (performance.now() - lastReport > 10_000) {
      input.progress(`added ${end} / ${count}`);
      lastReport = performance.now();
    }
  }
}

function lociSearch(store: Store, query: Float32Array, options: Record<string, unknown>, out: Int32Array): number {
  const { ids } = store.searchSync(query, options);
  for (let i = 0; i < ids.length; i++) out[i] = Number(ids[i]);
  return ids.length;
}

/**
 * Loci's own account: stats().indexBytes (codes, pages, tree, id table) plus
 * stats().vectorBytes (the f32 originals kept for rerank), so the figure covers what
 * hnswlib's and usearch's files cover (vectors and graph). A build without stats()
 * reports nothing.
 */
function lociMemory(store: Store): MemoryReport {
  const stats = (store as unknown as { stats?: () => unknown }).stats;
  if (typeof stats !== 'function') return { bytes: null, source: 'Store has no stats() in this build' };
  const details = stats.call(store) as Record<string, unknown>;
  const { indexBytes, vectorBytes, vectorMappedBytes } = details;
  if (typeof indexBytes === 'number' && typeof vectorBytes === 'number') {
    // Originals mapped from a checkpoint's vectors file are page cache the kernel may
    // evict (they are on disk), not memory the store holds: they are left out, and
    // stated in the source.
    const mapped = typeof vectorMappedBytes === 'number' ? vectorMappedBytes : 0;
    if (mapped > 0) {
      return { bytes: indexBytes + vectorBytes - mapped, source: 'stats().indexBytes + vectorBytes - vectorMappedBytes (originals on disk)', details };
    }
    return { bytes: indexBytes + vectorBytes, source: 'stats().indexBytes + vectorBytes', details };
  }
  return { bytes: null, source: 'stats() has no indexBytes/vectorBytes', details };
}

function lociExact(name: SystemName, quantization: Quantization): AnnSystem<Store, Float32Array> {
  return {
    name,
    parameters: { quantization, addBatch: LOCI_ADD_BATCH },
    sweepName: quantization === 'int8' ? 'rerank' : null,
    sweep: () => (quantization === 'int8' ? [10, 20, 40, 80] : [0]),
    prepareQueries: rowViews,
    async build(input) {
      const store = await Store.open({ dim: input.dim, metric: input.metric, quantization });
      await fillStore(store, input);
      return store;
    },
    search: (store, query, k, rerank, out) => lociSearch(store, query, quantization === 'int8' ? { k, rerank } : { k }, out),
    memory: lociMemory,
    close: (store) => store.close(),
  };
}

// The Atlas tree index. A build without it either rejects the `index` option
// (INVALID_ARGUMENT) or ignores it; both mean "not in this build". A rejection counts as
// that only if a plain store opens fine (otherwise the build is broken, not older), and a
// store that accepted the option must say so in its `index` property.
//
// Atlas has two build paths: an add() batch at least as large as the store rebuilds the
// tree by balanced k-means (the bulk build), smaller batches insert online (route, append,
// split full leaves). 'loci-atlas' fills the store in batches of LOCI_ADD_BATCH, so after
// the first two batches every vector goes in online, as an agent's memory grows;
// 'loci-atlas-bulk' adds everything in one call, the bulk build.
/** A build option of an Atlas variant (`--atlas pageSize=65536,131072`): its Store.open option and value. */
export interface AtlasVariant {
  option: 'pageSize' | 'fanout' | 'replicas' | 'buildFill';
  value: number;
}

export const ATLAS_VARIANT_OPTIONS: readonly AtlasVariant['option'][] = ['pageSize', 'fanout', 'replicas', 'buildFill'];

/** The Atlas system `name` built with one option changed (bench:ann's --atlas sweep). */
export function atlasVariant(name: SystemName, variant: AtlasVariant): AnnSystem<Store, Float32Array> {
  return lociAtlas(name, name === 'loci-atlas' ? LOCI_ADD_BATCH : 'all', variant, name === 'loci-atlas-disk');
}

function lociAtlas(name: SystemName, batch: number | 'all', variant?: AtlasVariant, onDisk = false): AnnSystem<Store, Float32Array> {
  const extra = variant === undefined ? {} : { [variant.option]: variant.value };
  return {
    name,
    parameters: { index: 'atlas', addBatch: batch, ...(onDisk ? { durability: 'none', checkpoint: 'after build' } : {}), ...extra },
    sweepName: 'effort',
    sweep: () => [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.75, 1],
    prepareQueries: rowViews,
    async build(input) {
      let store: Store;
      try {
        const options = { dim: input.dim, metric: input.metric, index: 'atlas', ...extra };
        store = onDisk
          ? await Store.open(path.join(input.scratchDir, 'loci-store'), { ...options, durability: 'none' } as Parameters<typeof Store.open>[1])
          : await Store.open(options as Parameters<typeof Store.open>[0]);
      } catch (error) {
        if (!(error instanceof LociError) || error.code !== 'INVALID_ARGUMENT') throw error;
        const plain = await Store.open({ dim: input.dim, metric: input.metric }).catch(() => null);
        if (plain === null) throw error;
        await plain.close();
        throw new SystemUnavailable(`Store.open rejected { index: 'atlas' }: ${error.message}`);
      }
      const index = (store as unknown as { index?: unknown }).index;
      if (index !== 'atlas') {
        await store.close();
        throw new SystemUnavailable(`Store.open accepted { index: 'atlas' } but the store reports index ${JSON.stringify(index)}`);
      }
      await fillStore(store, input, batch === 'all' ? input.count : batch);
      if (onDisk) await store.checkpoint();
      return store;
    },
    search: (store, query, k, effort, out) => lociSearch(store, query, { k, effort }, out),
    memory: lociMemory,
    close: (store) => store.close(),
  };
}

// ---------------------------------------------------------------------------------------
// hnswlib-node

interface HnswModule {
  HierarchicalNSW: new (space: 'l2' | 'ip' | 'cosine', dim: number) => {
    initIndex(maxElements: number, m?: number, efConstruction?: number, randomSeed?: number): void;
    addPoint(point: number[], label: number): void;
    searchKnn(query: number[], k: number): { distances: number[]; neighbors: number[] };
    setEf(ef: number): void;
    writeIndexSync(file: string): void;
  };
}
type HnswIndex = InstanceType<HnswModule['HierarchicalNSW']>;

const HNSW_SPACE: Record<Metric, 'l2' | 'ip' | 'cosine'> = { l2: 'l2', ip: 'ip', cosine: 'cosine' };

const hnswlib: AnnSystem<{ index: HnswIndex; scratchDir: string }, number[]> = {
  name: 'hnswlib',
  parameters: { M: HNSW_M, efConstruction: HNSW_EF_CONSTRUCTION, randomSeed: 100 },
  sweepName: 'ef',
  sweep: () => EF_SWEEP,
  prepareQueries: (queries, count, dim) => rowViews(queries, count, dim).map((row) => Array.from(row)),
  async build(input) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { HierarchicalNSW } = require('hnswlib-node') as HnswModule;
    const index = new HierarchicalNSW(HNSW_SPACE[input.metric], input.dim);
    index.initIndex(input.count, HNSW_M, HNSW_EF_CONSTRUCTION, 100);
    // addPoint takes number[]: that conversion is hnswlib-node's API cost, not its index's,
    // so each chunk is converted off the clock and only the addPoint calls are timed.
    let lastReport = performance.now();
    const chunk = 1000;
    for (let start = 0; start < input.count; start += chunk) {
      const end = Math.min(start + chunk, input.count);
      const rows = input.untimed(() => {
        const converted: number[][] = [];
        for (let i = start; i < end; i++) converted.push(Array.from(input.base.subarray(i * input.dim, (i + 1) * input.dim)));
        return converted;
      });
      for (let i = start; i < end; i++) index.addPoint(rows[i - start] as number[], i);
      if (performance.now() - lastReport > 10_000) {
        input.progress(`added ${end} / ${input.count}`);
        lastReport = performance.now();
      }
    }
    return { index, scratchDir: input.scratchDir };
  },
  prepare: (handle, ef) => handle.index.setEf(ef),
  search(handle, query, k, _ef, out) {
    const { neighbors } = handle.index.searchKnn(query, k);
    for (let i = 0; i < neighbors.length; i++) out[i] = neighbors[i] as number;
    return neighbors.length;
  },
  memory(handle) {
    // hnswlib keeps one fixed-size record per element (vector + level-0 links + label)
    // plus the upper-level link lists; saveIndex writes exactly those, so the file size is
    // the index's memory (give or take the allocator).
    const file = path.join(handle.scratchDir, 'hnswlib.bin');
    handle.index.writeIndexSync(file);
    const bytes = fs.statSync(file).size;
    fs.rmSync(file, { force: true });
    return { bytes, source: 'writeIndex file size' };
  },
  close: () => undefined,
};

// ---------------------------------------------------------------------------------------
// usearch

interface UsearchModule {
  Index: new (config: {
    dimensions: number;
    metric: string;
    quantization: string;
    connectivity: number;
    expansion_add: number;
    expansion_search: number;
    multi: boolean;
  }) => {
    add(keys: BigUint64Array, vectors: Float32Array, threads: number): void;
    search(query: Float32Array, k: number, threads: number): { keys: BigUint64Array; distances: Float32Array };
    save(file: string): void;
    load(file: string): void;
    size(): number;
  };
}
type UsearchIndex = InstanceType<UsearchModule['Index']>;

const USEARCH_METRIC: Record<Metric, string> = { l2: 'l2sq', ip: 'ip', cosine: 'cos' };

interface UsearchHandle {
  module: UsearchModule;
  config: ConstructorParameters<UsearchModule['Index']>[0];
  /** The index searched now: the built one, then one loaded per sweep point. */
  index: UsearchIndex | null;
  file: string;
}

function usearch(name: SystemName, quantization: 'f32' | 'i8'): AnnSystem<UsearchHandle, Float32Array> {
  return {
    name,
    parameters: { quantization, connectivity: HNSW_M, expansion_add: HNSW_EF_CONSTRUCTION, buildThreads: 1 },
    sweepName: 'expansion_search',
    sweep: () => EF_SWEEP,
    prepareQueries: rowViews,
    async build(input) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const module = require('usearch') as UsearchModule;
      const config = {
        dimensions: input.dim,
        metric: USEARCH_METRIC[input.metric],
        quantization,
        connectivity: HNSW_M,
        expansion_add: HNSW_EF_CONSTRUCTION,
        expansion_search: EF_SWEEP[0] as number,
        multi: false,
      };
      const index = new module.Index(config);
      const chunk = 10_000;
      let lastReport = performance.now();
      for (let start = 0; start < input.count; start += chunk) {
        const end = Math.min(start + chunk, input.count);
        const keys = input.untimed(() => BigUint64Array.from({ length: end - start }, (_, j) => BigInt(start + j)));
        index.add(keys, input.base.subarray(start * input.dim, end * input.dim), 1);
        if (performance.now() - lastReport > 10_000) {
          input.progress(`added ${end} / ${input.count}`);
          lastReport = performance.now();
        }
      }
      return { module, config, index, file: path.join(input.scratchDir, `${name}.usearch`) };
    },
    async prepare(handle, expansionSearch) {
      // The JS API fixes expansion_search at construction and has no setter, but load()
      // keeps the constructor's value: so each sweep point loads the saved index into a
      // new Index (memory() saved it). The previous index is dropped first; its native
      // memory goes when its finalizer runs, after a GC and a turn of the event loop.
      if (!fs.existsSync(handle.file)) handle.index?.save(handle.file);
      handle.index = null;
      const gc = (globalThis as { gc?: () => void }).gc;
      gc?.();
      await new Promise((resolve) => setImmediate(resolve));
      gc?.();
      const index = new handle.module.Index({ ...handle.config, expansion_search: expansionSearch });
      index.load(handle.file);
      handle.index = index;
    },
    search(handle, query, k, _param, out) {
      const { keys } = (handle.index as UsearchIndex).search(query, k, 1);
      const count = keys.length;
      for (let i = 0; i < count; i++) out[i] = Number(keys[i]);
      return count;
    },
    memory(handle) {
      handle.index?.save(handle.file);
      return { bytes: fs.statSync(handle.file).size, source: 'save() file size' };
    },
    close(handle) {
      handle.index = null;
      fs.rmSync(handle.file, { force: true });
    },
  };
}

// ---------------------------------------------------------------------------------------

export const SYSTEMS: Record<SystemName, AnnSystem<any, any>> = {
  'loci-exact-f32': lociExact('loci-exact-f32', 'none'),
  'loci-exact-int8': lociExact('loci-exact-int8', 'int8'),
  'loci-atlas': lociAtlas('loci-atlas', LOCI_ADD_BATCH),
  'loci-atlas-bulk': lociAtlas('loci-atlas-bulk', 'all'),
  'loci-atlas-disk': lociAtlas('loci-atlas-disk', 'all', undefined, true),
  hnswlib,
  'usearch-f32': usearch('usearch-f32', 'f32'),
  'usearch-i8': usearch('usearch-i8', 'i8'),
};
