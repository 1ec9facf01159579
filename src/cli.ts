#!/usr/bin/env node
// The `loci` command. Subcommands:
//   loci bench [--quick] [--dataset NAME] [--queries N]   recall and speed on a dataset
//   loci capabilities                                     the SIMD kernels in use
//   loci verify <dir>                                     check every checksum and invariant
//   loci compact <dir>                                    checkpoint, drop tombstones, collect the arena
//   loci stats <dir>                                      a durable store's size and shape
//   loci import <dir> [--dim N] [--index KIND] [--durability MODE] < items.jsonl
//   loci get <dir> <id>
import * as fs from 'node:fs';
import * as path from 'node:path';

import { capabilities, type Item, LociError, Store, type StoreOptions } from './index';

const USAGE = `usage:
  loci bench [--quick] [--dataset NAME] [--queries N]
      Builds the store in each mode (flat exact, flat INT8, Atlas) on a benchmark dataset and reports recall@10
      against exact ground truth, single-thread QPS and latency. --quick uses
      clustered-10k (768-d, generated and cached on first use) and 1,000 queries.
      Datasets: clustered-10k, clustered-100k, clustered-1m, fashion-mnist.
  loci capabilities
      Prints the SIMD kernel set chosen for this CPU.
  loci verify <dir>
      Checks every checksum and invariant of the (closed) store in <dir> without changing it.
      Exits 0 if it is sound, 1 with the damaged file and offset if not.
  loci compact <dir>
      Opens the store, writes a checkpoint that drops deleted and replaced entries from the
      index pages and copies live texts into a new blob arena, and closes it.
  loci stats <dir>
      Opens the store and prints its stats as JSON.
  loci import <dir> [--dim N] [--metric M] [--index flat|atlas] [--durability sync|interval|none]
      Reads items as JSON lines ({"id", "vector", "text"?, "meta"?, "time"?}) from stdin and
      upserts them (lines that arrive together go in one batch); prints "ok <id>" for each
      item once its write has resolved, i.e. is durable under the durability mode.
      --dim (and --metric, --index) are needed only to create the store.
  loci get <dir> <id>
      Prints the item as JSON ({ id, vector, text, meta, time }).`;

interface BenchArgs {
  dataset: string;
  queries: number;
}

function parseBench(argv: string[]): BenchArgs {
  const args: BenchArgs = { dataset: 'clustered-100k', queries: 10_000 };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--quick') {
      args.dataset = 'clustered-10k';
      args.queries = 1000;
    } else if (arg === '--dataset' && argv[i + 1]) {
      args.dataset = argv[++i] as string;
    } else if (arg === '--queries' && argv[i + 1]) {
      args.queries = Number(argv[++i]);
      if (!Number.isInteger(args.queries) || args.queries < 1) throw new Error('--queries takes a positive integer');
    } else {
      throw new Error(`unknown argument '${arg}'\n${USAGE}`);
    }
  }
  return args;
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number;
}

async function bench(argv: string[]): Promise<void> {
  const args = parseBench(argv);
  // Loaded lazily: the datasets live with the benchmarks, and other subcommands need none.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { loadDataset, DATASET_NAMES } = require('../bench/data/index') as typeof import('../bench/data/index');
  if (!(DATASET_NAMES as readonly string[]).includes(args.dataset)) {
    throw new Error(`unknown dataset '${args.dataset}': one of ${DATASET_NAMES.join(', ')}`);
  }
  const k = 10;
  const data = await loadDataset(args.dataset as (typeof DATASET_NAMES)[number], { queryCount: args.queries });
  const truth = data.groundTruth(k);
  console.log(`dataset  ${data.name}: ${data.baseCount} x ${data.dim}, ${data.queryCount} queries, metric ${data.metric}, k ${k}`);
  console.log(`kernels  ${capabilities().isa}, node ${process.version}\n`);
  console.log('store              build s   recall@10   QPS      p50 us   p99 us');
  const configurations: Array<[string, Partial<StoreOptions>]> = [
    ['flat, exact f32', { index: 'flat', quantization: 'none' }],
    ['flat, int8+rerank', { index: 'flat', quantization: 'int8' }],
    ['atlas, effort 0.35', { index: 'atlas' }],
  ];
  for (const [label, options] of configurations) {
    const store = await Store.open({ dim: data.dim, metric: data.metric, ...options });
    const buildStart = performance.now();
    const batch = 1000;
    for (let first = 0; first < data.baseCount; first += batch) {
      const items = [];
      for (let i = first; i < Math.min(first + batch, data.baseCount); i++) {
        items.push({ id: String(i), vector: data.base.subarray(i * data.dim, (i + 1) * data.dim) });
      }
      await store.add(items);
    }
    const buildSeconds = (performance.now() - buildStart) / 1000;
    const latencies = new Float64Array(data.queryCount);
    let found = 0;
    const searchStart = performance.now();
    for (let q = 0; q < data.queryCount; q++) {
      const query = data.queries.subarray(q * data.dim, (q + 1) * data.dim);
      const started = performance.now();
      const result = store.searchSync(query, { k });
      latencies[q] = performance.now() - started;
      const expected = new Set<string>();
      for (let j = 0; j < k; j++) expected.add(String(truth[q * k + j]));
      for (const id of result.ids) if (expected.has(id)) found++;
    }
    const qps = data.queryCount / ((performance.now() - searchStart) / 1000);
    latencies.sort();
    const recall = found / (data.queryCount * k);
    console.log(
      `${label.padEnd(18)} ${buildSeconds.toFixed(2).padStart(7)}   ${recall.toFixed(4).padStart(9)}   ${Math.round(qps).toString().padStart(6)}   ${(percentile(latencies, 0.5) * 1000).toFixed(0).padStart(6)}   ${(percentile(latencies, 0.99) * 1000).toFixed(0).padStart(6)}`,
    );
    await store.close();
  }
}

async function importItems(argv: string[]): Promise<void> {
  const dir = argv[0];
  if (dir === undefined || dir.startsWith('--')) throw new Error(`import takes a directory\n${USAGE}`);
  const options: StoreOptions = {};
  for (let i = 1; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (value === undefined) throw new Error(`${flag} needs a value\n${USAGE}`);
    i++;
    if (flag === '--dim') options.dim = Number(value);
    else if (flag === '--metric') options.metric = value as StoreOptions['metric'];
    else if (flag === '--index') options.index = value as StoreOptions['index'];
    else if (flag === '--durability') options.durability = value as StoreOptions['durability'];
    else throw new Error(`unknown flag '${flag}'\n${USAGE}`);
  }
  const store = await Store.open(dir, options);
  let pending = '';
  let lineNumber = 0;
  let writes: Promise<void> = Promise.resolve();
  let failure: unknown;
  const flush = (lines: string[]): void => {
    const items = lines.map((line) => {
      lineNumber++;
      try {
        return JSON.parse(line) as Item;
      } catch {
        throw new Error(`line ${lineNumber} is not JSON`);
      }
    });
    const write = store.upsert(items).then(
      () => {
        for (const item of items) process.stdout.write(`ok ${item.id}\n`);
      },
      (error: unknown) => {
        failure ??= error;
      },
    );
    writes = writes.then(() => write);
  };
  await new Promise<void>((resolve, reject) => {
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() as string;
      const complete = lines.filter((line) => line.trim() !== '');
      try {
        if (complete.length > 0) flush(complete);
      } catch (error) {
        reject(error);
      }
    });
    process.stdin.on('end', () => {
      try {
        if (pending.trim() !== '') flush([pending]);
        resolve();
      } catch (error) {
        reject(error);
      }
    });
    process.stdin.on('error', reject);
  });
  await writes;
  await store.close();
  if (failure !== undefined) throw failure;
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === 'bench') return bench(rest);
  if (command === 'import') return importItems(rest);
  if (command === 'get') {
    if (rest.length !== 2) throw new Error(`get takes a directory and an id\n${USAGE}`);
    const [dir, id] = rest as [string, string];
    if (!fs.existsSync(path.join(dir, 'MANIFEST'))) throw new Error(`${dir} holds no Loci store (no MANIFEST)`);
    const store = await Store.open(dir);
    try {
      const item = store.get(id);
      console.log(JSON.stringify({ ...item, vector: Array.from(item.vector) }));
    } finally {
      await store.close();
    }
    return;
  }
  if (command === 'verify' || command === 'compact' || command === 'stats') {
    const dir = rest[0];
    if (dir === undefined || rest.length !== 1) throw new Error(`${command} takes one directory\n${USAGE}`);
    if (command === 'verify') {
      process.stdout.write(await Store.verify(dir));
      console.log(`ok: ${dir} verified`);
      return;
    }
    if (!fs.existsSync(path.join(dir, 'MANIFEST'))) throw new Error(`${dir} holds no Loci store (no MANIFEST)`);
    const store = await Store.open(dir);
    try {
      const before = store.stats();
      if (command === 'compact') {
        await store.compact();
        const after = store.stats();
        console.log(`compacted ${dir}: ${store.size} items; blob arena ${before.arenaBytes} -> ${after.arenaBytes} bytes, on disk ${before.diskBytes} -> ${after.diskBytes} bytes`);
      } else {
        console.log(JSON.stringify({ dim: store.dim, metric: store.metric, index: store.index, recovery: store.recovery, ...before }, null, 2));
      }
    } finally {
      await store.close();
    }
    return;
  }
  if (command === 'capabilities') {
    console.log(JSON.stringify(capabilities(), null, 2));
    return;
  }
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    console.log(USAGE);
    return;
  }
  throw new Error(`unknown command '${command}'\n${USAGE}`);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  const code = error instanceof LociError ? ` [${error.code}]` : '';
  console.error(`loci: ${error instanceof Error ? error.message : String(error)}${code}`);
  process.exit(1);
});
