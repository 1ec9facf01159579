// Seeded synthetic "embedding-like" data: a Gaussian mixture at 768-d whose clusters
// have skewed sizes and low intrinsic dimension, so nearest neighbours mean something.
//
// Why not uniform or isotropic noise: in 768 dimensions the distances between i.i.d.
// Gaussian points concentrate (every point is nearly equally far from every other), so
// "the 10 nearest" is decided by noise and any index looks broken. Real embeddings
// are the opposite: they lie near low-dimensional pieces, grouped by topic. The mixture
// copies that shape in three levels:
//
//   topic centre    t_j ~ N(0, topicSpread^2 I)                  (clusters / 16 topics)
//   cluster centre  c_i = m + t_topic(i) + N(0, clusterOffset^2 I) (sibling clusters
//                                                                  overlap)
//   point           x = c_i + sum_r lambda_r z_r u_ir + N(0, noise^2 I)
//                   z_r ~ N(0, 1); u_ir: rank_i random directions with per-component
//                   variance spread_i^2; lambda_r ~ 1/sqrt(r + 1), normalised to
//                   sum lambda_r^2 = 1 (a decaying spectrum, as in real embeddings).
//
// m ~ N(0, sharedOffset^2 I) is one offset shared by every point: real embeddings are
// anisotropic (random pairs have a positive cosine), which matters for 'cosine' and 'ip'
// and for the INT8 estimate of L2, where |a|^2 + |b|^2 - 2 a.b cancels more the further
// the data sits from the origin. L2 neighbours do not depend on it.
//
// Cluster i is picked with probability proportional to (i + 1)^-zipfExponent, so a few
// clusters are large and many are small (with 1,000 clusters and exponent 0.8 the
// largest holds ~6% of the points and the smallest ~0.03%). Each cluster's spread and
// rank vary, so clusters differ in density as well as size. Queries are fresh draws
// from the same mixture (other random streams), never copies of base points.
//
// How hard the result is (node dist/bench/data/describe.js, 100 sampled queries; for
// scale, Fashion-MNIST gives RC@10 2.78, LID 14.9):
//   clustered-10k   RC@10 2.90  local intrinsic dimension 21.8  top-10 in own cluster 93.9%
//   clustered-100k  RC@10 3.27  local intrinsic dimension 20.9  top-10 in own cluster 95.1%
// (RC@10: mean distance / distance to the 10th neighbour.) Cluster sizes at seed 42:
// clustered-100k 16 to 6,418 points (median 45); clustered-1m 41 to 45,582 (median 106).
//
// Everything is a pure function of (preset, seed): points are generated in chunks of
// CHUNK_POINTS, chunk c from its own random stream, so the result does not depend on how
// the chunks are scheduled. Bump GENERATOR_VERSION when the output changes: it is part
// of every cache key.
import { Random } from './random';

export const GENERATOR_VERSION = 1;
export const DEFAULT_SEED = 42;
const CHUNK_POINTS = 4096;
const BASE_STREAM = 1 << 20;
const QUERY_STREAM = 2 << 20;

export interface MixtureParams {
  dim: number;
  clusters: number;
  topics: number;
  zipfExponent: number;
  topicSpread: number;
  clusterOffset: number;
  /** Per-component standard deviation of a cluster's low-rank part, drawn uniformly from [min, max]. */
  spread: [number, number];
  /** Intrinsic dimension of a cluster, drawn uniformly from [min, max]. */
  rank: [number, number];
  noise: number;
  /** Per-component standard deviation of one offset added to every point (anisotropy). */
  sharedOffset: number;
}

export interface ClusteredPreset {
  name: string;
  baseCount: number;
  queryCount: number;
  mixture: MixtureParams;
}

function mixture(clusters: number): MixtureParams {
  return {
    dim: 768,
    clusters,
    topics: Math.max(1, Math.round(clusters / 16)),
    zipfExponent: 0.8,
    topicSpread: 1,
    clusterOffset: 0.15,
    spread: [0.3, 0.55],
    rank: [12, 32],
    noise: 0.2,
    sharedOffset: 0.5,
  };
}

export const CLUSTERED_PRESETS = {
  'clustered-10k': { name: 'clustered-10k', baseCount: 10_000, queryCount: 10_000, mixture: mixture(100) },
  'clustered-100k': { name: 'clustered-100k', baseCount: 100_000, queryCount: 10_000, mixture: mixture(1000) },
  'clustered-1m': { name: 'clustered-1m', baseCount: 1_000_000, queryCount: 10_000, mixture: mixture(4000) },
} as const satisfies Record<string, ClusteredPreset>;

export type ClusteredName = keyof typeof CLUSTERED_PRESETS;

/** The drawn parameters of one mixture: centres, low-rank bases and the size distribution. */
export class Mixture {
  readonly params: MixtureParams;
  readonly centres: Float32Array;
  /** Cluster i's basis: maxRank rows of dim floats at (i * maxRank + r) * dim. */
  private readonly bases: Float32Array;
  private readonly ranks: Int32Array;
  /** Cumulative sizes: cluster i is drawn when a uniform value falls in [cumulative[i-1], cumulative[i]). */
  private readonly cumulative: Float64Array;
  private readonly maxRank: number;

  constructor(params: MixtureParams, seed: number) {
    this.params = params;
    const { dim, clusters, topics } = params;
    const random = new Random(seed, 0);
    const shared = new Float32Array(dim);
    for (let d = 0; d < dim; d++) shared[d] = params.sharedOffset * random.normal();
    const topicCentres = new Float32Array(topics * dim);
    for (let i = 0; i < topicCentres.length; i++) topicCentres[i] = params.topicSpread * random.normal();

    this.maxRank = params.rank[1];
    this.centres = new Float32Array(clusters * dim);
    this.bases = new Float32Array(clusters * this.maxRank * dim);
    this.ranks = new Int32Array(clusters);
    for (let cluster = 0; cluster < clusters; cluster++) {
      const topic = random.below(topics);
      for (let d = 0; d < dim; d++) {
        this.centres[cluster * dim + d] =
          (shared[d] as number) + (topicCentres[topic * dim + d] as number) + params.clusterOffset * random.normal();
      }
      const rank = params.rank[0] + random.below(params.rank[1] - params.rank[0] + 1);
      const spread = params.spread[0] + (params.spread[1] - params.spread[0]) * random.uniform();
      this.ranks[cluster] = rank;
      // lambda_r ~ 1/sqrt(r+1), scaled so sum lambda_r^2 = 1: the low-rank part then has
      // per-component variance spread^2 whatever the rank. Folded into the basis rows.
      let norm = 0;
      for (let r = 0; r < rank; r++) norm += 1 / (r + 1);
      for (let r = 0; r < rank; r++) {
        const lambda = Math.sqrt(1 / (r + 1) / norm);
        const row = (cluster * this.maxRank + r) * dim;
        for (let d = 0; d < dim; d++) this.bases[row + d] = spread * lambda * random.normal();
      }
    }

    this.cumulative = new Float64Array(clusters);
    let total = 0;
    for (let i = 0; i < clusters; i++) total += Math.pow(i + 1, -params.zipfExponent);
    let running = 0;
    for (let i = 0; i < clusters; i++) {
      running += Math.pow(i + 1, -params.zipfExponent) / total;
      this.cumulative[i] = running;
    }
    this.cumulative[clusters - 1] = 1;
  }

  private pickCluster(random: Random): number {
    const u = random.uniform();
    let low = 0;
    let high = this.cumulative.length - 1;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((this.cumulative[middle] as number) > u) high = middle;
      else low = middle + 1;
    }
    return low;
  }

  /**
   * Writes points [first, first + count) of the stream into `out` (row-major) and their
   * clusters into `labels`. `first` must be a multiple of CHUNK_POINTS.
   */
  fill(seed: number, stream: number, first: number, count: number, out: Float32Array, labels: Int32Array): void {
    const { dim, noise } = this.params;
    if (first % CHUNK_POINTS !== 0) throw new RangeError('first must be a multiple of CHUNK_POINTS');
    const latent = new Float64Array(this.maxRank);
    const point = new Float64Array(dim);
    let random = new Random(seed, stream + first / CHUNK_POINTS);
    for (let i = 0; i < count; i++) {
      if (i > 0 && (first + i) % CHUNK_POINTS === 0) random = new Random(seed, stream + (first + i) / CHUNK_POINTS);
      const cluster = this.pickCluster(random);
      const rank = this.ranks[cluster] as number;
      for (let r = 0; r < rank; r++) latent[r] = random.normal();
      const centre = cluster * dim;
      for (let d = 0; d < dim; d++) point[d] = (this.centres[centre + d] as number) + noise * random.normal();
      for (let r = 0; r < rank; r++) {
        const z = latent[r] as number;
        const row = (cluster * this.maxRank + r) * dim;
        for (let d = 0; d < dim; d++) point[d] = (point[d] as number) + z * (this.bases[row + d] as number);
      }
      out.set(point, i * dim);
      labels[i] = cluster;
    }
  }
}

export interface ClusteredData {
  dim: number;
  base: Float32Array;
  baseCount: number;
  baseLabels: Int32Array;
  queries: Float32Array;
  queryCount: number;
  queryLabels: Int32Array;
}

/**
 * Generates a preset in memory (single thread; ~0.7 s per 10,000 points at 768-d here).
 * `onProgress` is called with the number of base points done.
 */
export function generateClustered(
  preset: ClusteredPreset,
  seed: number = DEFAULT_SEED,
  onProgress?: (done: number, total: number) => void,
): ClusteredData {
  const { dim } = preset.mixture;
  const mix = new Mixture(preset.mixture, seed);
  const base = new Float32Array(preset.baseCount * dim);
  const baseLabels = new Int32Array(preset.baseCount);
  const step = CHUNK_POINTS * 16;
  for (let first = 0; first < preset.baseCount; first += step) {
    const count = Math.min(step, preset.baseCount - first);
    mix.fill(seed, BASE_STREAM, first, count, base.subarray(first * dim, (first + count) * dim), baseLabels.subarray(first, first + count));
    onProgress?.(first + count, preset.baseCount);
  }
  const queries = new Float32Array(preset.queryCount * dim);
  const queryLabels = new Int32Array(preset.queryCount);
  mix.fill(seed, QUERY_STREAM, 0, preset.queryCount, queries, queryLabels);
  return { dim, base, baseCount: preset.baseCount, baseLabels, queries, queryCount: preset.queryCount, queryLabels };
}
