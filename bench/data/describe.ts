// `node dist/bench/data/describe.js [name ...]`: how hard a dataset is for nearest-neighbour
// search, from a sample of queries scanned exhaustively (f64, in JS):
//  - relative contrast at k: mean distance to a base point / distance to the k-th
//    neighbour (L2, not squared). Near 1 means neighbours are barely nearer than
//    anything else (uniform noise in high dimension); ann-benchmarks sets lie around 1.5-4.
//  - local intrinsic dimension (maximum-likelihood estimate over the 100 nearest).
//  - for labelled sets, how many of the 10 nearest share the query's cluster / class.
//  - mean cosine similarity of random pairs.
import { loadDataset, DATASET_NAMES, type Dataset, type DatasetName } from './index';
import { Random } from './random';

export interface DatasetStats {
  name: string;
  sampledQueries: number;
  relativeContrast1: number;
  relativeContrast10: number;
  relativeContrast100: number;
  localIntrinsicDimension: number;
  sameLabelTop10: number | null;
  meanRandomCosine: number;
}

export function describeDataset(data: Dataset, sampleSize = 100, seed = 7): DatasetStats {
  const { dim, base, baseCount, queries } = data;
  const random = new Random(seed, 99);
  const picked = random.sample(data.queryCount, Math.min(sampleSize, data.queryCount));
  const distances = new Float64Array(baseCount);
  let rc1 = 0;
  let rc10 = 0;
  let rc100 = 0;
  let lid = 0;
  let sameLabel = 0;
  for (const q of picked) {
    const qo = q * dim;
    let sum = 0;
    for (let b = 0; b < baseCount; b++) {
      const bo = b * dim;
      let d2 = 0;
      for (let i = 0; i < dim; i++) {
        const diff = (queries[qo + i] as number) - (base[bo + i] as number);
        d2 += diff * diff;
      }
      distances[b] = Math.sqrt(d2);
      sum += distances[b] as number;
    }
    const order = Array.from(distances.keys()).sort((a, b) => (distances[a] as number) - (distances[b] as number)).slice(0, 100);
    const mean = sum / baseCount;
    const at = (k: number): number => Math.max(distances[order[k - 1] as number] as number, 1e-12);
    rc1 += mean / at(1);
    rc10 += mean / at(10);
    rc100 += mean / at(100);
    // MLE (Levina-Bickel): -1 / mean(log(d_i / d_k)), i < k
    let logs = 0;
    const dk = at(100);
    for (let i = 0; i < 99; i++) logs += Math.log(Math.max(distances[order[i] as number] as number, 1e-12) / dk);
    lid += -99 / logs;
    if (data.queryLabels && data.baseLabels) {
      const label = data.queryLabels[q];
      for (let i = 0; i < 10; i++) if (data.baseLabels[order[i] as number] === label) sameLabel++;
    }
  }
  let cosine = 0;
  const pairs = 2000;
  for (let p = 0; p < pairs; p++) {
    const a = random.below(baseCount) * dim;
    const b = random.below(baseCount) * dim;
    let dot = 0;
    let na = 0;
    let nb = 0;
    for (let i = 0; i < dim; i++) {
      const x = base[a + i] as number;
      const y = base[b + i] as number;
      dot += x * y;
      na += x * x;
      nb += y * y;
    }
    cosine += dot / Math.sqrt(na * nb);
  }
  const n = picked.length;
  return {
    name: data.name,
    sampledQueries: n,
    relativeContrast1: rc1 / n,
    relativeContrast10: rc10 / n,
    relativeContrast100: rc100 / n,
    localIntrinsicDimension: lid / n,
    sameLabelTop10: data.queryLabels && data.baseLabels ? sameLabel / (n * 10) : null,
    meanRandomCosine: cosine / pairs,
  };
}

async function main(): Promise<void> {
  const names = (process.argv.length > 2 ? process.argv.slice(2) : ['fashion-mnist', 'clustered-10k', 'clustered-100k']) as DatasetName[];
  for (const name of names) {
    if (!DATASET_NAMES.includes(name)) throw new Error(`unknown dataset ${name}; one of ${DATASET_NAMES.join(', ')}`);
    const data = await loadDataset(name, { groundTruth: false });
    const stats = describeDataset(data);
    console.log(
      `${name.padEnd(16)} RC@1 ${stats.relativeContrast1.toFixed(2)}  RC@10 ${stats.relativeContrast10.toFixed(2)}  ` +
        `RC@100 ${stats.relativeContrast100.toFixed(2)}  LID ${stats.localIntrinsicDimension.toFixed(1)}  ` +
        `same label in top-10 ${stats.sameLabelTop10 === null ? '-' : (100 * stats.sameLabelTop10).toFixed(1) + '%'}  ` +
        `random-pair cosine ${stats.meanRandomCosine.toFixed(3)}`,
    );
  }
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
