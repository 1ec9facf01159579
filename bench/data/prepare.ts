// `node dist/bench/data/prepare.js [name ...]`: generates the named datasets and their
// ground truth into bench/.cache/ ahead of the benchmarks (default: fashion-mnist,
// clustered-10k, clustered-100k). Run it for clustered-1m once, on a quiet machine: its
// ground truth streams 3 GB per query through memory (about 22 min on 2 cores here).
import { log, seconds } from './cache';
import { DATASET_NAMES, loadDataset, type DatasetName } from './index';

async function main(): Promise<void> {
  const names = (process.argv.length > 2 ? process.argv.slice(2) : ['fashion-mnist', 'clustered-10k', 'clustered-100k']) as DatasetName[];
  for (const name of names) {
    if (!DATASET_NAMES.includes(name)) throw new Error(`unknown dataset '${name}': one of ${DATASET_NAMES.join(', ')}`);
  }
  for (const name of names) {
    const started = performance.now();
    const data = await loadDataset(name);
    data.groundTruth(1);
    log(`${name}: ready (${data.baseCount} x ${data.dim}, ${data.queryCount} queries, ground truth top-100) in ${seconds(started)}; cache key ${data.key}`);
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
