// npm run bench:concurrency [-- --queries N] [--seconds S] [--write-rate W]
//
// Search latency on one Atlas store of clustered-100k (100,000 x 768, L2) opened from
// several worker_threads (one shared engine), with 0 or 1 writer threads and 1 or 2
// reader threads: p50 / p99 / p99.9 of real k = 10 searches (searchSync, at an effort
// whose recall@10 is checked >= 0.95 first), and QPS scaling from 1 to 2 readers. The
// writer upserts vectors of the same distribution one at a time (durability 'none', so
// the disk does not pace it), flat out or paced at --write-rate per second (default
// 1,000: an agent's memory is written far less often than it is read). The cost of an epoch pin/unpin pair comes from the native
// bench_epoch (bench/results/epoch.txt). Results: bench/results/concurrency.{txt,json}.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

import { Store } from '../src/index';
import { loadDataset } from './data/index';
import { describeEnvironment, environment, resultsDir, writeResult } from './lib/report';

const K = 10;
const EFFORT = 0.35;

interface Task {
  role: 'reader' | 'writer';
  dir: string;
  dim: number;
  queries: Float32Array;  // over a SharedArrayBuffer
  base: Float32Array;     // over a SharedArrayBuffer (the writer's source of vectors)
  seconds: number;
  offset: number;
  writesPerSecond: number;  // the writer's pace; 0 = as fast as it can
}

interface ReaderResult {
  latenciesUs: number[];
  searches: number;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
}

async function workerMain(task: Task): Promise<void> {
  const store = await Store.open(task.dir);
  const deadline = performance.now() + task.seconds * 1000;
  if (task.role === 'reader') {
    const queryCount = task.queries.length / task.dim;
    const latencies: number[] = [];
    let q = task.offset;
    while (performance.now() < deadline) {
      const query = task.queries.subarray((q % queryCount) * task.dim, ((q % queryCount) + 1) * task.dim);
      const started = performance.now();
      store.searchSync(query, { k: K, effort: EFFORT });
      latencies.push((performance.now() - started) * 1000);
      q++;
    }
    parentPort?.postMessage({ latenciesUs: latencies, searches: latencies.length } satisfies ReaderResult);
  } else {
    const baseCount = task.base.length / task.dim;
    const started = performance.now();
    let writes = 0;
    while (performance.now() < deadline) {
      if (task.writesPerSecond > 0) {
        const due = started + (writes * 1000) / task.writesPerSecond;
        const now = performance.now();
        if (now < due) await new Promise((resolve) => setTimeout(resolve, due - now));
      }
      const row = writes % baseCount;
      const vector = task.base.slice(row * task.dim, (row + 1) * task.dim);
      const at = writes % task.dim;
      vector[at] = (vector[at] ?? 0) + 0.001;  // a changed vector: the index moves it
      await store.upsert({ id: String(row), vector });
      writes++;
    }
    parentPort?.postMessage({ writes });
  }
  await store.close();
}

function run(task: Task): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(__filename, { workerData: task });
    worker.once('message', resolve);
    worker.once('error', reject);
  });
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const seconds = Number(args[args.indexOf('--seconds') + 1] ?? 0) || 10;
  const queryLimit = Number(args[args.indexOf('--queries') + 1] ?? 0) || 10_000;
  const writeRate = args.includes('--write-rate') ? Number(args[args.indexOf('--write-rate') + 1]) : 1000;
  const env = environment();
  const data = await loadDataset('clustered-100k', { queryCount: queryLimit });
  const dim = data.dim;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loci-concurrency-'));
  try {
    // Build: one bulk add (the balanced tree), then check the recall of the settings.
    const store = await Store.open(dir, { dim, metric: data.metric, index: 'atlas', durability: 'none' });
    const items = [];
    for (let i = 0; i < data.baseCount; i++) items.push({ id: String(i), vector: data.base.subarray(i * dim, (i + 1) * dim) });
    await store.add(items);
    const truth = data.groundTruth(K);
    let found = 0;
    for (let q = 0; q < data.queryCount; q++) {
      const expected = new Set<string>();
      for (let j = 0; j < K; j++) expected.add(String(truth[q * K + j]));
      for (const id of store.searchSync(data.queries.subarray(q * dim, (q + 1) * dim), { k: K, effort: EFFORT }).ids) {
        if (expected.has(id)) found++;
      }
    }
    const recall = found / (data.queryCount * K);
    // Shared copies for the workers (no 300 MB copy per worker).
    const shared = (source: Float32Array): Float32Array => {
      const out = new Float32Array(new SharedArrayBuffer(source.byteLength));
      out.set(source);
      return out;
    };
    const queries = shared(data.queries);
    const base = shared(data.base);

    const paced = `1 reader + 1 writer at ${writeRate}/s`;
    const phases: Array<{ name: string; readers: number; writers: number; rate: number }> = [
      { name: '1 reader', readers: 1, writers: 0, rate: 0 },
      { name: '2 readers', readers: 2, writers: 0, rate: 0 },
      { name: paced, readers: 1, writers: 1, rate: writeRate },
      { name: '1 reader + 1 writer flat out', readers: 1, writers: 1, rate: 0 },
      { name: '2 readers + 1 writer flat out', readers: 2, writers: 1, rate: 0 },
    ];
    const results = [];
    for (const phase of phases) {
      const tasks: Array<Promise<unknown>> = [];
      const common = { dir, dim, queries, base, seconds, writesPerSecond: phase.rate };
      for (let r = 0; r < phase.readers; r++) tasks.push(run({ role: 'reader', ...common, offset: r * 997 }));
      for (let w = 0; w < phase.writers; w++) tasks.push(run({ role: 'writer', ...common, offset: 0 }));
      const outcomes = await Promise.all(tasks);
      const readers = outcomes.slice(0, phase.readers) as ReaderResult[];
      const latencies = readers.flatMap((r) => r.latenciesUs).sort((a, b) => a - b);
      const searches = readers.reduce((sum, r) => sum + r.searches, 0);
      const writes = (outcomes.slice(phase.readers) as Array<{ writes: number }>).reduce((sum, w) => sum + w.writes, 0);
      const row = {
        phase: phase.name,
        qps: Math.round(searches / seconds),
        p50Us: percentile(latencies, 0.5),
        p99Us: percentile(latencies, 0.99),
        p999Us: percentile(latencies, 0.999),
        writesPerSecond: Math.round(writes / seconds),
      };
      results.push(row);
      console.log(`${row.phase.padEnd(22)} ${String(row.qps).padStart(7)} QPS  p50 ${row.p50Us.toFixed(0)} us  p99 ${row.p99Us.toFixed(0)} us  p99.9 ${row.p999Us.toFixed(0)} us  writes/s ${row.writesPerSecond}`);
    }
    await store.close();

    const byName = new Map(results.map((r) => [r.phase, r]));
    const one = byName.get('1 reader');
    const two = byName.get('2 readers');
    const withWriter = byName.get(paced);
    const flatOut = byName.get('1 reader + 1 writer flat out');
    const epochFile = path.join(resultsDir, 'epoch.txt');
    const epoch = fs.existsSync(epochFile) ? fs.readFileSync(epochFile, 'utf8').split('\n').filter((l) => l.startsWith('pin/unpin')).join('\n') : 'not measured';
    const targets = [
      ['search p99 with one writer <= 1.5x without', `${((withWriter?.p99Us ?? NaN) / (one?.p99Us ?? NaN)).toFixed(2)}x with a writer at ${writeRate}/s (${withWriter?.p99Us.toFixed(0)} vs ${one?.p99Us.toFixed(0)} us); ${((flatOut?.p99Us ?? NaN) / (one?.p99Us ?? NaN)).toFixed(2)}x with one flat out (${flatOut?.p99Us.toFixed(0)} us, ${flatOut?.writesPerSecond} writes/s)`],
      ['2 readers >= 1.8x the QPS of 1', `${((two?.qps ?? NaN) / (one?.qps ?? NaN)).toFixed(2)}x (${two?.qps} vs ${one?.qps})`],
      ['pin/unpin pair <= 20 ns', epoch.replace(/\n/g, '; ')],
    ];
    const text = [
      '# Concurrency: search latency with readers and a writer on one shared store',
      '',
      '```',
      describeEnvironment(env),
      `command  npm run bench:concurrency -- --seconds ${seconds} --queries ${queryLimit} --write-rate ${writeRate}`,
      `data     clustered-100k (100,000 x 768, L2), atlas, effort ${EFFORT}, k ${K}: recall@10 ${recall.toFixed(4)} (${data.queryCount} queries)`,
      `threads  each reader and the writer is a worker_thread with its own Store handle on one shared engine; ${seconds} s per phase`,
      '```',
      '',
      '| phase | QPS | p50 us | p99 us | p99.9 us | writes/s |',
      '|---|---:|---:|---:|---:|---:|',
      ...results.map((r) => `| ${r.phase} | ${r.qps} | ${r.p50Us.toFixed(0)} | ${r.p99Us.toFixed(0)} | ${r.p999Us.toFixed(0)} | ${r.writesPerSecond} |`),
      '',
      '| target | measured |',
      '|---|---|',
      ...targets.map(([target, measured]) => `| ${target} | ${measured} |`),
      '',
      'Searches take no lock: they pin an epoch and read published pages while the writer',
      'works on copies (docs/atlas.md, "Concurrency"). A writer still costs readers CPU and',
      'memory bandwidth: on this 2-core machine one upsert keeps a worker thread and a pool',
      'thread busy, and 2 readers and a writer are more busy threads than cores. The load',
      'line above says how busy the machine was when the run began.',
      '',
    ].join('\n');
    writeResult('concurrency', text, { environment: env, recall, effort: EFFORT, seconds, results, targets });
    console.log(text);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (isMainThread) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
} else {
  workerMain(workerData as Task).catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
