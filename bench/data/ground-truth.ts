// Exact nearest neighbours of every query, by brute force through Loci's own exact store
// (quantization 'none': f32 distances for every base vector), computed once and cached
// under bench/.cache/. Ids in the store are the base indices as strings; the result is
// row-major: row q holds the indices of query q's k nearest base points, nearest first,
// and their distances (the store's: squared L2 for 'l2').
//
// Searches run through the async Store.search, which executes on the libuv thread pool,
// with one search in flight per core, so every core scans at once over one shared store.
import * as os from 'node:os';

import { Store, type Metric } from '../../src/index';
import { cachePath, log, readArray, seconds, writeArray } from './cache';

export const GROUND_TRUTH_K = 100;

export interface GroundTruth {
  k: number;
  queryCount: number;
  /** queryCount x k base indices, nearest first. */
  ids: Int32Array;
  /** queryCount x k distances as the store reports them. */
  distances: Float32Array;
}

export interface GroundTruthInput {
  /** Cache key: names the data exactly (dataset, sizes, seed, generator). */
  key: string;
  dim: number;
  metric: Metric;
  base: Float32Array;
  baseCount: number;
  queries: Float32Array;
  queryCount: number;
  k?: number;
}

const ADD_BATCH = 10_000;

/** Computes the ground truth (no cache). Logs progress to stderr every few seconds. */
export async function computeGroundTruth(input: GroundTruthInput): Promise<GroundTruth> {
  const { dim, metric, base, baseCount, queries, queryCount } = input;
  const k = Math.min(input.k ?? GROUND_TRUTH_K, baseCount);
  const started = performance.now();
  const store = await Store.open({ dim, metric, quantization: 'none' });
  try {
    for (let first = 0; first < baseCount; first += ADD_BATCH) {
      const items = [];
      for (let i = first; i < Math.min(first + ADD_BATCH, baseCount); i++) {
        items.push({ id: String(i), vector: base.subarray(i * dim, (i + 1) * dim) });
      }
      await store.add(items);
    }
    log(`ground truth ${input.key}: ${baseCount} base vectors loaded in ${seconds(started)}`);

    const ids = new Int32Array(queryCount * k);
    const distances = new Float32Array(queryCount * k);
    const searchStarted = performance.now();
    let lastReport = searchStarted;
    let next = 0;
    let done = 0;
    const worker = async (): Promise<void> => {
      while (next < queryCount) {
        const q = next++;
        const result = await store.search(queries.subarray(q * dim, (q + 1) * dim), { k });
        if (result.ids.length !== k) throw new Error(`ground truth: query ${q} returned ${result.ids.length} of ${k} neighbours`);
        for (let j = 0; j < k; j++) {
          ids[q * k + j] = Number(result.ids[j]);
          distances[q * k + j] = result.distances[j] as number;
        }
        done++;
        const now = performance.now();
        if (now - lastReport > 5000) {
          lastReport = now;
          const rate = done / ((now - searchStarted) / 1000);
          log(`ground truth ${input.key}: ${done}/${queryCount} queries, ${seconds(started)}, about ${Math.ceil((queryCount - done) / rate)} s left`);
        }
      }
    };
    const concurrency = Math.max(1, os.availableParallelism());
    await Promise.all(Array.from({ length: concurrency }, worker));
    log(`ground truth ${input.key}: ${queryCount} queries x ${baseCount} base, top-${k}, done in ${seconds(started)} (${concurrency} searches in flight)`);
    return { k, queryCount, ids, distances };
  } finally {
    await store.close();
  }
}

/** The cached ground truth for `input.key`, computing and caching it on a miss. */
export async function loadGroundTruth(input: GroundTruthInput): Promise<GroundTruth> {
  const k = Math.min(input.k ?? GROUND_TRUTH_K, input.baseCount);
  const stem = cachePath(`${input.key}.gt-${input.metric}-k${k}-q${input.queryCount}`);
  const length = input.queryCount * k;
  const ids = readArray(`${stem}.ids.i32`, (n) => new Int32Array(n), length);
  const distances = readArray(`${stem}.dist.f32`, (n) => new Float32Array(n), length);
  if (ids && distances) return { k, queryCount: input.queryCount, ids, distances };
  log(`ground truth ${input.key}: not cached, computing (one-off)`);
  const computed = await computeGroundTruth({ ...input, k });
  writeArray(`${stem}.ids.i32`, computed.ids);
  writeArray(`${stem}.dist.f32`, computed.distances);
  return computed;
}
