// The benchmark datasets, by name, with exact ground truth:
//
//   fashion-mnist   784-d, 60,000 base, 10,000 queries, L2; pixel values 0..255
//                   (Debian package dataset-fashion-mnist)
//   clustered-10k   768-d, 10,000 base, 10,000 queries: quick runs and CI
//   clustered-100k  768-d, 100,000 base, 10,000 queries
//   clustered-1m    768-d, 1,000,000 base (3 GB of f32), 10,000 queries
//
// The clustered sets are seeded Gaussian mixtures (see clustered.ts), generated once and
// cached as raw .f32 files under bench/.cache/ with the ground truth (top-100, L2, by
// Loci's exact store). One-off costs measured on the 2-core machine of
// bench/results/quantization.txt: fashion-mnist ground truth 96 s; clustered-100k 7 s to
// generate + 132 s of ground truth; clustered-1m 63 s to generate + about 22 min of
// ground truth (3 GB scanned per query; projected from 40 queries). Later runs read the
// cache: 0.3 s for clustered-100k, 7-10 s for clustered-1m. Prepare them ahead with
// `node dist/bench/data/prepare.js [name ...]`; measure their difficulty with
// `node dist/bench/data/describe.js [name ...]`.
//
//   const data = await loadDataset('clustered-100k')
//   const truth = data.groundTruth(10)   // queryCount x 10 base indices, nearest first
import { createHash } from 'node:crypto';

import type { Metric } from '../../src/index';
import { cachePath, log, readArray, seconds, writeArray } from './cache';
import { CLUSTERED_PRESETS, DEFAULT_SEED, GENERATOR_VERSION, generateClustered, type ClusteredData, type ClusteredName } from './clustered';
import { loadFashionMnist } from './fashion-mnist';
import { GROUND_TRUTH_K, loadGroundTruth, type GroundTruth } from './ground-truth';

export const DATASET_NAMES = ['fashion-mnist', 'clustered-10k', 'clustered-100k', 'clustered-1m'] as const;
export type DatasetName = (typeof DATASET_NAMES)[number];

export interface LoadOptions {
  /** Seed of a clustered set (ignored for fashion-mnist). Default 42. */
  seed?: number;
  /** Use only the first `queryCount` queries (ground truth is computed for all and cached). */
  queryCount?: number;
  /** Load (or compute and cache) the ground truth. Default true; false makes groundTruth() throw. */
  groundTruth?: boolean;
}

export interface Dataset {
  name: DatasetName;
  dim: number;
  /** The metric the ground truth is for. The clustered sets also make sense under 'cosine'. */
  metric: Metric;
  /** baseCount x dim, row-major. */
  base: Float32Array;
  baseCount: number;
  /** queryCount x dim, row-major. */
  queries: Float32Array;
  queryCount: number;
  /** Seed of a generated set, null for fashion-mnist. */
  seed: number | null;
  /** Names the exact data (name, sizes, seed, generator version and parameters): the cache key. */
  key: string;
  /** Cluster (clustered sets) or class (fashion-mnist) of each base point / query. */
  baseLabels: Int32Array | Uint8Array;
  queryLabels: Int32Array | Uint8Array;
  /** queryCount x k indices of the exact nearest base points, nearest first; k <= 100. */
  groundTruth(k: number): Int32Array;
  /** The matching distances as Loci's exact store reports them (squared L2). */
  groundTruthDistances(k: number): Float32Array;
}

function clusteredKey(name: ClusteredName, seed: number): string {
  const preset = CLUSTERED_PRESETS[name];
  const parameters = createHash('sha256').update(JSON.stringify({ GENERATOR_VERSION, preset })).digest('hex').slice(0, 8);
  return `${name}-v${GENERATOR_VERSION}-s${seed}-n${preset.baseCount}-q${preset.queryCount}-d${preset.mixture.dim}-${parameters}`;
}

function loadClustered(name: ClusteredName, seed: number): ClusteredData & { key: string } {
  const preset = CLUSTERED_PRESETS[name];
  const key = clusteredKey(name, seed);
  const dim = preset.mixture.dim;
  const files = {
    base: cachePath(`${key}.base.f32`),
    queries: cachePath(`${key}.queries.f32`),
    baseLabels: cachePath(`${key}.base-labels.i32`),
    queryLabels: cachePath(`${key}.query-labels.i32`),
  };
  const started = performance.now();
  const base = readArray(files.base, (n) => new Float32Array(n), preset.baseCount * dim);
  const queries = readArray(files.queries, (n) => new Float32Array(n), preset.queryCount * dim);
  const baseLabels = readArray(files.baseLabels, (n) => new Int32Array(n), preset.baseCount);
  const queryLabels = readArray(files.queryLabels, (n) => new Int32Array(n), preset.queryCount);
  if (base && queries && baseLabels && queryLabels) {
    if (preset.baseCount >= 100_000) log(`${name}: read from the cache in ${seconds(started)}`);
    return { key, dim, base, baseCount: preset.baseCount, baseLabels, queries, queryCount: preset.queryCount, queryLabels };
  }
  log(`${name}: generating ${preset.baseCount} x ${dim} (seed ${seed}), cached afterwards`);
  let lastReport = started;
  const data = generateClustered(preset, seed, (done, total) => {
    const now = performance.now();
    if (now - lastReport > 5000) {
      lastReport = now;
      log(`${name}: ${done}/${total} points, ${seconds(started)}`);
    }
  });
  log(`${name}: generated in ${seconds(started)}`);
  writeArray(files.base, data.base);
  writeArray(files.queries, data.queries);
  writeArray(files.baseLabels, data.baseLabels);
  writeArray(files.queryLabels, data.queryLabels);
  return { ...data, key };
}

/** Loads a dataset by name; see the top of this file for what each one is. */
export async function loadDataset(name: DatasetName, options: LoadOptions = {}): Promise<Dataset> {
  if (!DATASET_NAMES.includes(name)) throw new Error(`unknown dataset '${name}': one of ${DATASET_NAMES.join(', ')}`);
  let raw: Omit<ClusteredData, 'baseLabels' | 'queryLabels'> & { key: string; baseLabels: Int32Array | Uint8Array; queryLabels: Int32Array | Uint8Array };
  let seed: number | null = null;
  if (name === 'fashion-mnist') {
    const fashion = loadFashionMnist();
    raw = { ...fashion, key: `fashion-mnist-n${fashion.baseCount}-q${fashion.queryCount}-d${fashion.dim}` };
  } else {
    seed = options.seed ?? DEFAULT_SEED;
    raw = loadClustered(name, seed);
  }
  const metric: Metric = 'l2';

  let truth: GroundTruth | null = null;
  if (options.groundTruth !== false) {
    truth = await loadGroundTruth({ key: raw.key, dim: raw.dim, metric, base: raw.base, baseCount: raw.baseCount, queries: raw.queries, queryCount: raw.queryCount, k: GROUND_TRUTH_K });
  }

  const queryCount = Math.min(options.queryCount ?? raw.queryCount, raw.queryCount);
  const slice = <T extends Int32Array | Float32Array>(pick: (t: GroundTruth) => T, k: number): T => {
    if (truth === null) throw new Error(`${name} was loaded with { groundTruth: false }: load it again without that option`);
    if (!Number.isInteger(k) || k < 1 || k > truth.k) throw new RangeError(`ground truth k must be an integer from 1 to ${truth.k}, got ${k}`);
    const all = pick(truth);
    const out = new (all.constructor as new (length: number) => T)(queryCount * k);
    for (let q = 0; q < queryCount; q++) out.set(all.subarray(q * truth.k, q * truth.k + k), q * k);
    return out;
  };
  return {
    name,
    dim: raw.dim,
    metric,
    base: raw.base,
    baseCount: raw.baseCount,
    queries: raw.queries.subarray(0, queryCount * raw.dim),
    queryCount,
    seed,
    key: raw.key,
    baseLabels: raw.baseLabels,
    queryLabels: raw.queryLabels.subarray(0, queryCount),
    groundTruth: (k) => slice((t) => t.ids, k),
    groundTruthDistances: (k) => slice((t) => t.distances, k),
  };
}
