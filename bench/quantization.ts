// `npm run bench:quantization`: how much the INT8 quantizer loses, measured on the
// benchmark data with the engine's own quantizer (binding.quantize: symmetric, one scale
// per vector, max|x|/127, codes in [-127, 127]).
//
// For each dataset (clustered-100k at 768-d, Fashion-MNIST at 784-d):
//  1. Error of single estimates, over 20,000 random (query, base) pairs and over 20,000
//     (query, one of its 10 true L2 nearest) pairs, against exact f64 arithmetic on the
//     f32 vectors:
//       dot     a.b ~ s_a s_b dot_i8(codes_a, codes_b)
//       L2      |a - b|^2 ~ |a|^2 + |b|^2 - 2 (dot estimate), exact norms
//       cosine  1 - cos ~ 1 - (dot estimate) / (|a| |b|), exact norms
//  2. recall@10 of ranking the whole base by the INT8 estimate alone, and after
//     re-scoring the 40 best estimates with exact distances, on 200 queries, for L2,
//     inner product and cosine; computed here in JS from binding.quantize's codes and,
//     as a cross-check of the product path, by Loci's exact store in 'int8' mode.
//  3. For comparison, a fixed-range quantizer that assumes components in [-1, 1]
//     (code = round(127 x), clamped), computing distances from codes alone: the
//     assumption DESIGN.md attributes to peers' INT8 modes. This is a simulation in this
//     script, not a run of any peer.
//
// Options: --quick (clustered-10k only, fewer pairs; a smoke test, about 5 s), or dataset
// names. Only the default run (both datasets, full sizes) writes bench/results/.
// Output: a table on stdout (also bench/results/quantization.txt) and every figure in
// bench/results/quantization.json. Progress goes to stderr.
import * as os from 'node:os';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

import { binding } from '../src/binding';
import { Store, type Metric } from '../src/index';
import { log, seconds } from './data/cache';
import { CLUSTERED_PRESETS } from './data/clustered';
import { DATASET_NAMES, loadDataset, type Dataset, type DatasetName } from './data/index';
import { Random } from './data/random';
import { describeEnvironment, environment, writeResult } from './lib/report';

const SEED = 20250611;
const K = 10;
const RERANK = 40;
const GROUND_TRUTH_CHECKS = 20;
const METRICS: Metric[] = ['l2', 'ip', 'cosine'];

interface Settings {
  pairs: number;
  nearestQueries: number;
  recallQueries: number;
}

const quick = process.argv.includes('--quick');
const settings: Settings = quick ? { pairs: 2000, nearestQueries: 200, recallQueries: 50 } : { pairs: 20_000, nearestQueries: 2000, recallQueries: 200 };
const requested = process.argv.slice(2).filter((arg) => !arg.startsWith('--')) as DatasetName[];
const datasetNames: DatasetName[] = requested.length > 0 ? requested : quick ? ['clustered-10k'] : ['clustered-100k', 'fashion-mnist'];

// ---------------------------------------------------------------------------------------
// Quantized copies of a dataset

interface Quantized {
  codes: Int8Array;
  scales: Float64Array;
}

function quantizeAll(vectors: Float32Array, count: number, dim: number): Quantized {
  const codes = new Int8Array(count * dim);
  const scales = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    scales[i] = binding.quantize(vectors.subarray(i * dim, (i + 1) * dim), codes.subarray(i * dim, (i + 1) * dim));
  }
  return { codes, scales };
}

/** The [-1, 1] fixed-range quantizer: code = round(127 x) clamped, optionally of x / |x|. */
function quantizeFixedRange(vectors: Float32Array, count: number, dim: number, normSquares: Float64Array | null): Int8Array {
  const codes = new Int8Array(count * dim);
  for (let i = 0; i < count; i++) {
    const factor = normSquares === null ? 127 : 127 / Math.sqrt((normSquares[i] as number) || 1);
    for (let d = 0; d < dim; d++) {
      codes[i * dim + d] = Math.max(-127, Math.min(127, Math.round((vectors[i * dim + d] as number) * factor)));
    }
  }
  return codes;
}

function normSquares(vectors: Float32Array, count: number, dim: number): Float64Array {
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    let sum = 0;
    for (let d = i * dim; d < (i + 1) * dim; d++) sum += (vectors[d] as number) * (vectors[d] as number);
    out[i] = sum;
  }
  return out;
}

function codeNormSquares(codes: Int8Array, count: number, dim: number): Float64Array {
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    let sum = 0;
    for (let d = i * dim; d < (i + 1) * dim; d++) sum += (codes[d] as number) * (codes[d] as number);
    out[i] = sum;
  }
  return out;
}

function dotF64(a: Float32Array, aOffset: number, b: Float32Array, bOffset: number, dim: number): number {
  let sum = 0;
  for (let d = 0; d < dim; d++) sum += (a[aOffset + d] as number) * (b[bOffset + d] as number);
  return sum;
}

function l2F64(a: Float32Array, aOffset: number, b: Float32Array, bOffset: number, dim: number): number {
  let sum = 0;
  for (let d = 0; d < dim; d++) {
    const diff = (a[aOffset + d] as number) - (b[bOffset + d] as number);
    sum += diff * diff;
  }
  return sum;
}

function dotI8(a: Int8Array, aOffset: number, b: Int8Array, bOffset: number, dim: number): number {
  // Four accumulators let V8 overlap the multiply-adds; every partial sum stays an exact
  // small integer (|sum| <= dim * 127^2).
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let d = 0;
  for (; d + 4 <= dim; d += 4) {
    s0 += (a[aOffset + d] as number) * (b[bOffset + d] as number);
    s1 += (a[aOffset + d + 1] as number) * (b[bOffset + d + 1] as number);
    s2 += (a[aOffset + d + 2] as number) * (b[bOffset + d + 2] as number);
    s3 += (a[aOffset + d + 3] as number) * (b[bOffset + d + 3] as number);
  }
  for (; d < dim; d++) s0 += (a[aOffset + d] as number) * (b[bOffset + d] as number);
  return s0 + s1 + s2 + s3;
}

const QUERY_BLOCK = 4;

/**
 * out[b * QUERY_BLOCK + j] = dot_i8(query row rows[j], base row b), for up to QUERY_BLOCK
 * query rows at once: each base code is loaded once for all of them, which makes the JS
 * scan about 1.5x faster than one query at a time.
 */
function dotsI8Block(queries: Int8Array, rows: number[], base: Int8Array, baseCount: number, dim: number, out: Int32Array): void {
  const view = (j: number): Int8Array => {
    const row = rows[Math.min(j, rows.length - 1)] as number;
    return queries.subarray(row * dim, (row + 1) * dim);
  };
  const q0 = view(0);
  const q1 = view(1);
  const q2 = view(2);
  const q3 = view(3);
  for (let b = 0; b < baseCount; b++) {
    const offset = b * dim;
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    for (let d = 0; d < dim; d++) {
      const code = base[offset + d] as number;
      s0 += (q0[d] as number) * code;
      s1 += (q1[d] as number) * code;
      s2 += (q2[d] as number) * code;
      s3 += (q3[d] as number) * code;
    }
    out[b * QUERY_BLOCK] = s0;
    out[b * QUERY_BLOCK + 1] = s1;
    out[b * QUERY_BLOCK + 2] = s2;
    out[b * QUERY_BLOCK + 3] = s3;
  }
}

// ---------------------------------------------------------------------------------------
// Statistics

interface Summary {
  median: number;
  p99: number;
  max: number;
  mean: number;
}

function summarize(values: Float64Array): Summary {
  const sorted = Float64Array.from(values).sort();
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number;
  let sum = 0;
  for (const v of sorted) sum += v;
  return { median: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] as number, mean: sum / sorted.length };
}

interface PairErrors {
  pairs: number;
  /** |estimate - exact| / |exact| of the dot product. */
  dotRelative: Summary;
  /** |estimate - exact| / (|a| |b|): the dot error on the scale of the vectors. */
  dotNormalized: Summary;
  /** Mean of (estimate - exact) / (|a| |b|): a bias would show here. */
  dotNormalizedMeanSigned: number;
  /** |estimate - exact| / exact of the squared L2 distance. */
  l2Relative: Summary;
  /** |estimate - exact| of the cosine distance (equal to dotNormalized). */
  cosineAbsolute: Summary;
  /** |estimate - exact| / exact of the cosine distance. */
  cosineRelative: Summary;
  /** Median exact cosine distance and squared L2 distance of these pairs, for scale. */
  medianCosineDistance: number;
  medianL2: number;
}

function pairErrors(data: Dataset, queryCodes: Quantized, baseCodes: Quantized, queryNorms: Float64Array, baseNorms: Float64Array, pairs: Array<[number, number]>): PairErrors {
  const { dim, base, queries } = data;
  const n = pairs.length;
  const dotRelative = new Float64Array(n);
  const dotNormalized = new Float64Array(n);
  const l2Relative = new Float64Array(n);
  const cosineRelative = new Float64Array(n);
  const cosineDistances = new Float64Array(n);
  const l2s = new Float64Array(n);
  let signed = 0;
  pairs.forEach(([q, b], i) => {
    const exactDot = dotF64(queries, q * dim, base, b * dim, dim);
    const estimate = (queryCodes.scales[q] as number) * (baseCodes.scales[b] as number) * dotI8(queryCodes.codes, q * dim, baseCodes.codes, b * dim, dim);
    const normProduct = Math.sqrt((queryNorms[q] as number) * (baseNorms[b] as number));
    const exactL2 = l2F64(queries, q * dim, base, b * dim, dim);
    const estimateL2 = (queryNorms[q] as number) + (baseNorms[b] as number) - 2 * estimate;
    const exactCosine = 1 - exactDot / normProduct;
    const estimateCosine = 1 - estimate / normProduct;
    dotRelative[i] = Math.abs(estimate - exactDot) / Math.abs(exactDot);
    dotNormalized[i] = Math.abs(estimate - exactDot) / normProduct;
    signed += (estimate - exactDot) / normProduct;
    l2Relative[i] = Math.abs(estimateL2 - exactL2) / exactL2;
    cosineRelative[i] = Math.abs(estimateCosine - exactCosine) / exactCosine;
    cosineDistances[i] = exactCosine;
    l2s[i] = exactL2;
  });
  const dotNormalizedSummary = summarize(dotNormalized);
  return {
    pairs: n,
    dotRelative: summarize(dotRelative),
    dotNormalized: dotNormalizedSummary,
    dotNormalizedMeanSigned: signed / n,
    l2Relative: summarize(l2Relative),
    cosineAbsolute: dotNormalizedSummary,
    cosineRelative: summarize(cosineRelative),
    medianCosineDistance: summarize(cosineDistances).median,
    medianL2: summarize(l2s).median,
  };
}

// ---------------------------------------------------------------------------------------
// Ranking

/** The `size` smallest (value, index) pairs seen, kept sorted; insertion is O(size) only when a value qualifies. */
class Smallest {
  readonly values: Float64Array;
  readonly indices: Int32Array;
  count = 0;
  constructor(readonly size: number) {
    this.values = new Float64Array(size);
    this.indices = new Int32Array(size);
  }
  push(value: number, index: number): void {
    if (this.count === this.size && value >= (this.values[this.size - 1] as number)) return;
    let position = this.count < this.size ? this.count++ : this.size - 1;
    while (position > 0 && (this.values[position - 1] as number) > value) {
      this.values[position] = this.values[position - 1] as number;
      this.indices[position] = this.indices[position - 1] as number;
      position--;
    }
    this.values[position] = value;
    this.indices[position] = index;
  }
}

function overlap(found: ArrayLike<number>, truth: ArrayLike<number>, k: number): number {
  let hits = 0;
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      if (found[i] === truth[j]) {
        hits++;
        break;
      }
    }
  }
  return hits;
}

type RecallRow = Record<string, number>;

interface RecallResult {
  queries: number;
  /** metric -> method -> recall@10 */
  byMetric: Record<string, RecallRow>;
  jsSeconds: number;
  engineSeconds: number;
  /** Overlap of the cached L2 ground truth with the exact store's top-10 on the first GROUND_TRUTH_CHECKS queries (should be 1). */
  groundTruthCheck: number;
}

/**
 * What a ranking worker needs: the picked queries (row r = query picked[r]) and the
 * base, in SharedArrayBuffers so workers read them without copies.
 */
interface RankInput {
  dim: number;
  baseCount: number;
  rows: number;
  base: Float32Array;
  baseCodes: Int8Array;
  baseScales: Float64Array;
  baseNorms: Float64Array;
  queries: Float32Array;
  queryCodes: Int8Array;
  queryScales: Float64Array;
  queryNorms: Float64Array;
  fixedRaw: Int8Array;
  fixedRawNorms: Float64Array;
  fixedUnit: Int8Array;
  fixedUnitNorms: Float64Array;
  fixedRawQueries: Int8Array;
  fixedUnitQueries: Int8Array;
  /** metric -> rows x K exact ids */
  exactTop: Record<string, Int32Array>;
}

function exactDistance(metric: Metric, input: RankInput, row: number, b: number): number {
  const { dim, base, queries } = input;
  if (metric === 'l2') return l2F64(queries, row * dim, base, b * dim, dim);
  const dot = dotF64(queries, row * dim, base, b * dim, dim);
  if (metric === 'ip') return 1 - dot;
  return 1 - dot / Math.sqrt((input.queryNorms[row] as number) * (input.baseNorms[b] as number));
}

/** Ranks the whole base for rows first, first + step, ... and returns summed top-10 overlaps per metric and method. */
function rankRows(input: RankInput, first: number, step: number): Record<string, RecallRow> {
  const { dim, baseCount } = input;
  const sums: Record<string, RecallRow> = {};
  const add = (metric: string, method: string, value: number): void => {
    const row = (sums[metric] ??= {});
    row[method] = (row[method] ?? 0) + value;
  };
  const rescore = (metric: Metric, row: number, best: Smallest): Smallest => {
    const reranked = new Smallest(K);
    for (let i = 0; i < best.count; i++) {
      const b = best.indices[i] as number;
      reranked.push(exactDistance(metric, input, row, b), b);
    }
    return reranked;
  };
  const mine: number[] = [];
  for (let row = first; row < input.rows; row += step) mine.push(row);
  const block = new Int32Array(baseCount * QUERY_BLOCK);
  const rawBlock = new Int32Array(baseCount * QUERY_BLOCK);
  const unitBlock = new Int32Array(baseCount * QUERY_BLOCK);
  for (let start = 0; start < mine.length; start += QUERY_BLOCK) {
    const rows = mine.slice(start, start + QUERY_BLOCK);
    dotsI8Block(input.queryCodes, rows, input.baseCodes, baseCount, dim, block);
    dotsI8Block(input.fixedRawQueries, rows, input.fixedRaw, baseCount, dim, rawBlock);
    dotsI8Block(input.fixedUnitQueries, rows, input.fixedUnit, baseCount, dim, unitBlock);
    rows.forEach((row, j) => {
      const scaleQ = input.queryScales[row] as number;
      const normQ = input.queryNorms[row] as number;
      for (const metric of METRICS) {
        const best = new Smallest(RERANK);
        for (let b = 0; b < baseCount; b++) {
          const dot = scaleQ * (input.baseScales[b] as number) * (block[b * QUERY_BLOCK + j] as number);
          const normB = input.baseNorms[b] as number;
          best.push(metric === 'l2' ? normQ + normB - 2 * dot : metric === 'ip' ? 1 - dot : 1 - dot / Math.sqrt(normQ * normB), b);
        }
        const truth = (input.exactTop[metric] as Int32Array).subarray(row * K, (row + 1) * K);
        add(metric, 'int8Only', overlap(best.indices.subarray(0, K), truth, K));
        add(metric, 'int8Rerank40', overlap(rescore(metric, row, best).indices, truth, K));
      }

      // Fixed range, distances from codes alone: L2 on the raw vectors, cosine on unit vectors.
      const rawL2 = new Smallest(RERANK);
      const unitCosine = new Smallest(RERANK);
      const rawNormQ = codeNormSquares(input.fixedRawQueries.subarray(row * dim, (row + 1) * dim), 1, dim)[0] as number;
      const unitNormQ = codeNormSquares(input.fixedUnitQueries.subarray(row * dim, (row + 1) * dim), 1, dim)[0] as number;
      for (let b = 0; b < baseCount; b++) {
        rawL2.push(rawNormQ + (input.fixedRawNorms[b] as number) - 2 * (rawBlock[b * QUERY_BLOCK + j] as number), b);
        const unitDot = unitBlock[b * QUERY_BLOCK + j] as number;
        unitCosine.push(1 - unitDot / Math.sqrt(unitNormQ * (input.fixedUnitNorms[b] as number) || 1), b);
      }
      for (const [metric, best] of [['l2', rawL2], ['cosine', unitCosine]] as Array<[Metric, Smallest]>) {
        const truth = (input.exactTop[metric] as Int32Array).subarray(row * K, (row + 1) * K);
        add(metric, 'fixedRangeInt8Only', overlap(best.indices.subarray(0, K), truth, K));
        add(metric, 'fixedRangeRerank40', overlap(rescore(metric, row, best).indices, truth, K));
      }
    });
  }
  return sums;
}

function shared<T extends Float32Array | Float64Array | Int8Array | Int32Array>(array: T): T {
  const copy = new (array.constructor as new (buffer: SharedArrayBuffer) => T)(new SharedArrayBuffer(array.byteLength));
  copy.set(array as never);
  return copy;
}

function gather<T extends Float32Array | Float64Array | Int8Array>(array: T, picked: Int32Array, width: number): T {
  const out = new (array.constructor as new (length: number) => T)(picked.length * width);
  picked.forEach((q, row) => out.set(array.subarray(q * width, (q + 1) * width) as never, row * width));
  return out;
}

async function recall(data: Dataset, queryCodes: Quantized, baseCodes: Quantized, queryNorms: Float64Array, baseNorms: Float64Array, picked: Int32Array): Promise<RecallResult> {
  const { dim, base, baseCount, queries } = data;
  const groundTruth = data.groundTruth(K);
  let checked = 0;
  let agreeing = 0;
  const sums: Record<string, RecallRow> = {};
  const add = (metric: string, method: string, value: number): void => {
    const row = (sums[metric] ??= {});
    row[method] = (row[method] ?? 0) + value;
  };
  const workers = Math.max(1, os.availableParallelism());

  // Exact top-10 per metric and the engine's INT8 path, from one 'int8' store per metric
  // (it keeps the f32 originals, so exact: true scans those). Async searches run on the
  // libuv pool, one in flight per core.
  const engineStarted = performance.now();
  const exactTop: Record<string, Int32Array> = {};
  for (const metric of METRICS) {
    const store = await Store.open({ dim, metric, quantization: 'int8' });
    for (let first = 0; first < baseCount; first += 10_000) {
      const items = [];
      for (let i = first; i < Math.min(first + 10_000, baseCount); i++) items.push({ id: String(i), vector: base.subarray(i * dim, (i + 1) * dim) });
      await store.add(items);
    }
    const truth = new Int32Array(picked.length * K);
    let next = 0;
    const searcher = async (): Promise<void> => {
      while (next < picked.length) {
        const row = next++;
        const q = picked[row] as number;
        const query = queries.subarray(q * dim, (q + 1) * dim);
        // L2: the cached ground truth (same exact store, computed once), checked against a
        // fresh exact search on the first queries so a stale cache would show.
        let exact: number[];
        if (metric === 'l2') {
          exact = Array.from(groundTruth.subarray(q * K, (q + 1) * K));
          if (row < GROUND_TRUTH_CHECKS) {
            // (await first: `agreeing += await ...` would read agreeing before the await and
            // lose the other searcher's updates)
            const fresh = (await store.search(query, { k: K, exact: true })).ids.map(Number);
            checked += K;
            agreeing += overlap(fresh, exact, K);
          }
        } else {
          exact = (await store.search(query, { k: K, exact: true })).ids.map(Number);
        }
        truth.set(exact, row * K);
        // rerank: K makes the candidate list exactly the K best INT8 estimates.
        add(metric, 'engineInt8Only', overlap((await store.search(query, { k: K, rerank: K })).ids.map(Number), exact, K));
        add(metric, 'engineRerank40', overlap((await store.search(query, { k: K, rerank: RERANK })).ids.map(Number), exact, K));
      }
    };
    await Promise.all(Array.from({ length: workers }, searcher));
    exactTop[metric] = truth;
    await store.close();
  }
  const engineSeconds = (performance.now() - engineStarted) / 1000;

  // The same rankings in JS from binding.quantize's codes, plus the fixed-range baseline,
  // split over one worker thread per core.
  const jsStarted = performance.now();
  const pickedQueries = gather(queries, picked, dim);
  const pickedNorms = gather(queryNorms, picked, 1);
  const fixedRaw = quantizeFixedRange(base, baseCount, dim, null);
  const fixedUnit = quantizeFixedRange(base, baseCount, dim, baseNorms);
  const input: RankInput = {
    dim,
    baseCount,
    rows: picked.length,
    base: shared(base),
    baseCodes: shared(baseCodes.codes),
    baseScales: shared(baseCodes.scales),
    baseNorms: shared(baseNorms),
    queries: pickedQueries,
    queryCodes: gather(queryCodes.codes, picked, dim),
    queryScales: gather(queryCodes.scales, picked, 1),
    queryNorms: pickedNorms,
    fixedRaw: shared(fixedRaw),
    fixedRawNorms: shared(codeNormSquares(fixedRaw, baseCount, dim)),
    fixedUnit: shared(fixedUnit),
    fixedUnitNorms: shared(codeNormSquares(fixedUnit, baseCount, dim)),
    fixedRawQueries: quantizeFixedRange(pickedQueries, picked.length, dim, null),
    fixedUnitQueries: quantizeFixedRange(pickedQueries, picked.length, dim, pickedNorms),
    exactTop,
  };
  const partials = await Promise.all(
    Array.from(
      { length: workers },
      (_, first) =>
        new Promise<Record<string, RecallRow>>((resolve, reject) => {
          const worker = new Worker(__filename, { workerData: { input, first, step: workers } });
          worker.once('message', resolve);
          worker.once('error', reject);
          worker.once('exit', (code) => {
            if (code !== 0) reject(new Error(`ranking worker exited with code ${code}`));
          });
        }),
    ),
  );
  for (const partial of partials) {
    for (const [metric, row] of Object.entries(partial)) for (const [method, value] of Object.entries(row)) add(metric, method, value);
  }
  const jsSeconds = (performance.now() - jsStarted) / 1000;

  const byMetric: Record<string, RecallRow> = {};
  for (const [metric, row] of Object.entries(sums)) {
    byMetric[metric] = {};
    for (const [method, total] of Object.entries(row)) (byMetric[metric] as RecallRow)[method] = total / (picked.length * K);
  }
  return { queries: picked.length, byMetric, jsSeconds, engineSeconds, groundTruthCheck: agreeing / checked };
}

// ---------------------------------------------------------------------------------------
// One dataset

interface DatasetResult {
  name: string;
  key: string;
  dim: number;
  baseCount: number;
  queryCount: number;
  seed: number | null;
  /** The generator's parameters (clustered sets). */
  generator: unknown;
  quantizeSeconds: number;
  /** How much of the code range the base vectors use. */
  codes: { meanAbsCode: number; zeroFraction: number };
  randomPairs: PairErrors;
  nearestPairs: PairErrors;
  recall: RecallResult;
  seconds: number;
}

async function runDataset(name: DatasetName): Promise<DatasetResult> {
  const started = performance.now();
  log(`${name}: loading`);
  const data = await loadDataset(name);
  const { dim, baseCount, queryCount } = data;
  log(`${name}: loaded in ${seconds(started)}; quantizing`);

  const quantizeStarted = performance.now();
  const baseCodes = quantizeAll(data.base, baseCount, dim);
  const queryCodes = quantizeAll(data.queries, queryCount, dim);
  const quantizeSeconds = (performance.now() - quantizeStarted) / 1000;
  const baseNorms = normSquares(data.base, baseCount, dim);
  const queryNorms = normSquares(data.queries, queryCount, dim);
  let absSum = 0;
  let zeros = 0;
  for (const code of baseCodes.codes) {
    absSum += Math.abs(code);
    if (code === 0) zeros++;
  }

  const random = new Random(SEED, 1);
  const randomPairs: Array<[number, number]> = [];
  for (let i = 0; i < settings.pairs; i++) randomPairs.push([random.below(queryCount), random.below(baseCount)]);
  const truth = data.groundTruth(K);
  const nearestQueries = random.sample(queryCount, settings.nearestQueries);
  const nearestPairs: Array<[number, number]> = [];
  for (const q of nearestQueries) {
    for (const b of truth.subarray(q * K, (q + 1) * K)) nearestPairs.push([q, b]);
  }
  log(`${name}: pair errors`);
  const randomErrors = pairErrors(data, queryCodes, baseCodes, queryNorms, baseNorms, randomPairs);
  const nearestErrors = pairErrors(data, queryCodes, baseCodes, queryNorms, baseNorms, nearestPairs);
  log(`${name}: recall@${K} on ${settings.recallQueries} queries`);
  const recallQueries = random.sample(queryCount, settings.recallQueries);
  const recallResult = await recall(data, queryCodes, baseCodes, queryNorms, baseNorms, recallQueries);
  log(`${name}: done in ${seconds(started)}`);
  return {
    name,
    key: data.key,
    dim,
    baseCount,
    queryCount,
    seed: data.seed,
    generator: name === 'fashion-mnist' ? null : CLUSTERED_PRESETS[name],
    quantizeSeconds,
    codes: { meanAbsCode: absSum / baseCodes.codes.length, zeroFraction: zeros / baseCodes.codes.length },
    randomPairs: randomErrors,
    nearestPairs: nearestErrors,
    recall: recallResult,
    seconds: (performance.now() - started) / 1000,
  };
}

// ---------------------------------------------------------------------------------------
// Report

const e = (x: number): string => x.toExponential(2).padStart(9);
const r = (x: number | undefined): string => (x === undefined ? '-' : x.toFixed(4)).padStart(10);

function errorTable(result: DatasetResult): string[] {
  const rows: Array<[string, keyof PairErrors]> = [
    ['dot, |err| / |a.b|', 'dotRelative'],
    ['dot, |err| / (|a| |b|)', 'dotNormalized'],
    ['L2^2, |err| / L2^2', 'l2Relative'],
    ['cosine distance, |err|', 'cosineAbsolute'],
    ['cosine distance, |err| / distance', 'cosineRelative'],
  ];
  const lines = [
    `  ${''.padEnd(36)}${'random pairs'.padEnd(30)}query x its 10 nearest`,
    `  ${''.padEnd(36)}${'median'.padStart(9)} ${'p99'.padStart(9)} ${'max'.padStart(9)}   ${'median'.padStart(9)} ${'p99'.padStart(9)} ${'max'.padStart(9)}`,
  ];
  for (const [label, field] of rows) {
    const a = result.randomPairs[field] as Summary;
    const b = result.nearestPairs[field] as Summary;
    lines.push(`  ${label.padEnd(36)}${e(a.median)} ${e(a.p99)} ${e(a.max)}   ${e(b.median)} ${e(b.p99)} ${e(b.max)}`);
  }
  lines.push(
    `  ${'mean signed dot err / (|a| |b|)'.padEnd(36)}${e(result.randomPairs.dotNormalizedMeanSigned)}${''.padEnd(23)}${e(result.nearestPairs.dotNormalizedMeanSigned)}`,
    `  ${'(median exact cosine distance)'.padEnd(36)}${e(result.randomPairs.medianCosineDistance)}${''.padEnd(23)}${e(result.nearestPairs.medianCosineDistance)}`,
  );
  return lines;
}

function recallTable(result: DatasetResult): string[] {
  const methods: Array<[string, string]> = [
    ['int8Only', 'INT8 only'],
    ['int8Rerank40', `+rerank ${RERANK}`],
    ['engineInt8Only', 'engine INT8'],
    ['engineRerank40', `engine +${RERANK}`],
    ['fixedRangeInt8Only', '[-1,1] INT8'],
    ['fixedRangeRerank40', `[-1,1] +${RERANK}`],
  ];
  const lines = [`  ${'metric'.padEnd(8)}${methods.map(([, label]) => label.padStart(14)).join('')}`];
  for (const metric of METRICS) {
    const row = result.recall.byMetric[metric] ?? {};
    lines.push(`  ${metric.padEnd(8)}${methods.map(([method]) => r(row[method]).padStart(14)).join('')}`);
  }
  return lines;
}

async function main(): Promise<void> {
  const started = performance.now();
  const env = environment();
  const results: DatasetResult[] = [];
  for (const name of datasetNames) {
    if (!DATASET_NAMES.includes(name)) throw new Error(`unknown dataset '${name}': one of ${DATASET_NAMES.join(', ')}`);
    results.push(await runDataset(name));
  }
  const totalSeconds = (performance.now() - started) / 1000;

  const lines = [
    'INT8 quantization error: symmetric, one scale per vector (max|x| / 127), codes in [-127, 127]',
    `npm run bench:quantization${quick ? ' -- --quick' : ''}   (node dist/bench/quantization.js), seed ${SEED}`,
    describeEnvironment(env),
    '',
    'Estimates: dot = s_a s_b dot_i8; L2^2 = |a|^2 + |b|^2 - 2 dot; cosine distance = 1 - dot / (|a| |b|);',
    'exact norms; reference = f64 arithmetic on the f32 vectors. "nearest" = a query and one of its',
    '10 true L2 nearest neighbours.',
  ];
  for (const result of results) {
    lines.push(
      '',
      `${result.name}: ${result.dim}-d, ${result.baseCount} base, ${result.queryCount} queries${result.seed === null ? '' : `, seed ${result.seed}`} ` +
        `(mean |code| ${result.codes.meanAbsCode.toFixed(1)}, zero codes ${(100 * result.codes.zeroFraction).toFixed(1)}%)`,
      `  errors over ${result.randomPairs.pairs} random pairs and ${result.nearestPairs.pairs} nearest pairs:`,
      ...errorTable(result),
      '',
      `  recall@${K} on ${result.recall.queries} queries, whole base ranked by the estimate; "+rerank ${RERANK}": the ${RERANK} best`,
      `  estimates re-scored exactly. "engine": Loci's exact store, quantization 'int8' (Store.search, rerank ${K} / ${RERANK}).`,
      `  "[-1,1]": fixed-range codes round(127 x) clamped (L2 on raw vectors, cosine on unit vectors), distances`,
      `  from codes alone; a simulation of peers' assumption, not a peer run.`,
      ...recallTable(result),
      `  quantize ${result.quantizeSeconds.toFixed(2)} s (${result.baseCount + result.queryCount} vectors through binding.quantize), ` +
        `engine recall ${result.recall.engineSeconds.toFixed(1)} s, JS ranking ${result.recall.jsSeconds.toFixed(1)} s, ` +
        `dataset total ${result.seconds.toFixed(1)} s`,
      `  cached L2 ground truth vs a fresh exact search (${GROUND_TRUTH_CHECKS} queries): ${(100 * result.recall.groundTruthCheck).toFixed(2)}% of top-${K} ids agree`,
    );
  }
  lines.push('', `total ${totalSeconds.toFixed(1)} s`);
  const text = `${lines.join('\n')}\n`;
  process.stdout.write(text);

  const json = {
    benchmark: 'quantization',
    command: `npm run bench:quantization${quick ? ' -- --quick' : ''}`,
    environment: env,
    seed: SEED,
    k: K,
    rerank: RERANK,
    settings,
    scheme: 'symmetric per-vector INT8: scale = max|x|/127, code = round(x/scale) clamped to [-127, 127]',
    datasets: results,
    totalSeconds,
  };
  if (quick || requested.length > 0) {
    log('(--quick or a dataset list: results not written to bench/results/)');
  } else {
    writeResult('quantization', text, json);
    log('wrote bench/results/quantization.txt and bench/results/quantization.json');
  }
}

if (isMainThread) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
} else {
  const { input, first, step } = workerData as { input: RankInput; first: number; step: number };
  parentPort?.postMessage(rankRows(input, first, step));
}
