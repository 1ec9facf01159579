// `npm run bench:ann -- [--dataset NAME] [--systems a,b] [--queries N] [--quick]`: the
// ANN benchmark. On one dataset (default fashion-mnist; see bench/data/index.ts), in one
// run: Loci's exact store (f32, and INT8 with f32 rerank), Loci's Atlas index when the
// build has it, hnswlib-node (M 16, efConstruction 200) and usearch (f32 and i8). For each
// system and each point of its parameter sweep: recall@10 against the cached exact ground
// truth, single-thread QPS (queries one at a time through the synchronous search call),
// p50/p99 latency; per system: build time, peak RSS and bytes per vector.
//
// Every system runs in a child process of its own (this script, forked with --child), so
// peak RSS and memory are that system's alone and one system's garbage never lands in
// another's timing. The parent collects each child's JSON and writes
//   bench/results/ann-<dataset>.json   environment header and every point
//   bench/results/ann-<dataset>.md     the table and the comparison against hnswlib
//   bench/results/ann-<dataset>.svg    recall@10 vs QPS (log), one line per system
//
// Options:
//   --dataset NAME     fashion-mnist (default), clustered-10k, clustered-100k, clustered-1m
//   --systems a,b      a subset of: loci-exact-f32, loci-exact-int8, loci-atlas, loci-atlas-bulk, loci-atlas-disk, hnswlib,
//                      usearch-f32, usearch-i8 (default all)
//   --queries N        use the first N queries (default all; --quick: 1,000)
//   --quick            1,000 queries (the sweeps stay whole): builds dominate then
//   --atlas OPT=V1,V2  an Atlas build sweep: each selected loci-atlas system runs once per
//                      value of Store.open option OPT (pageSize, fanout, replicas or buildFill), as
//                      'loci-atlas OPT=V'; the other systems run as usual. Writes
//                      ann-<dataset>-<OPT>.* instead of ann-<dataset>.*
//   --no-write         print the table, write nothing under bench/results/
//   --render FILE      run nothing: rewrite the .md and .svg next to a results JSON
import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { log, seconds } from './data/cache';
import { DATASET_NAMES, loadDataset, type Dataset, type DatasetName } from './data/index';
import { markdown, svg, type AnnReport, type PointResult, type SystemResult } from './ann/report';
import { ATLAS_VARIANT_OPTIONS, atlasVariant, SYSTEM_NAMES, SYSTEMS, SystemUnavailable, type AtlasVariant, type SystemName } from './ann/systems';
import { describeEnvironment, environment, lociBuild, median, resultsDir, UsageError, runMain } from './lib/report';

const K = 10;
const WARMUP_QUERIES = 200;
const QUICK_QUERIES = 1000;

/**
 * File pages this process maps with 2 MiB pages (Linux smaps_rollup FilePmdMapped), in
 * MiB; null where the kernel does not say. loci-atlas-disk's rows come from its
 * checkpoint's vectors file: this shows whether they got 2 MiB pages (common/huge_pages.h).
 */
function filePmdMappedMiBNow(): number | null {
  try {
    const match = /^FilePmdMapped:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/self/smaps_rollup', 'utf8'));
    return match ? Number(match[1]) / 1024 : null;
  } catch {
    return null;
  }
}

interface Options {
  dataset: DatasetName;
  systems: SystemName[];
  queries: number | undefined;
  quick: boolean;
  write: boolean;
  child: SystemName | null;
  /** --atlas: the option swept and its values; --variant (child): the one this child builds. */
  atlasSweep: { option: AtlasVariant['option']; values: number[] } | null;
  variant: AtlasVariant | null;
  render: string | null;
}

function parseVariant(text: string, flag: string): { option: AtlasVariant['option']; values: number[] } {
  const match = /^([A-Za-z]+)=([0-9.,]+)$/.exec(text);
  const option = match?.[1] as AtlasVariant['option'] | undefined;
  if (!match || option === undefined || !ATLAS_VARIANT_OPTIONS.includes(option)) {
    throw new UsageError(`${flag} takes OPTION=V1,V2,... with OPTION one of ${ATLAS_VARIANT_OPTIONS.join(', ')}, got '${text}'`);
  }
  const values = (match[2] as string).split(',').filter((v) => v.length > 0).map(Number);
  // buildFill is a fraction; the others are integers.
  const valid = (v: number): boolean => (option === 'buildFill' ? v > 0 && v <= 1 : Number.isInteger(v) && v > 0);
  if (values.length === 0 || !values.every(valid)) {
    throw new UsageError(`${flag}: values must be ${option === 'buildFill' ? 'fractions in (0, 1]' : 'positive integers'}, got '${text}'`);
  }
  return { option, values };
}

function parseArgs(argv: readonly string[]): Options {
  const options: Options = { dataset: 'fashion-mnist', systems: [...SYSTEM_NAMES], queries: undefined, quick: false, write: true, child: null, atlasSweep: null, variant: null, render: null };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const value = (): string => {
      const next = argv[++i];
      if (next === undefined) throw new UsageError(`${arg} needs a value`);
      return next;
    };
    if (arg === '--dataset') {
      const name = value();
      if (!(DATASET_NAMES as readonly string[]).includes(name)) throw new UsageError(`--dataset must be one of ${DATASET_NAMES.join(', ')}, got '${name}'`);
      options.dataset = name as DatasetName;
    } else if (arg === '--systems') {
      const names = value().split(',').filter((name) => name.length > 0);
      for (const name of names) {
        if (!(SYSTEM_NAMES as readonly string[]).includes(name)) throw new UsageError(`--systems: unknown system '${name}'; known: ${SYSTEM_NAMES.join(', ')}`);
      }
      options.systems = names as SystemName[];
    } else if (arg === '--queries') {
      const count = Number(value());
      if (!Number.isInteger(count) || count < 1) throw new UsageError('--queries must be a positive integer');
      options.queries = count;
    } else if (arg === '--quick') {
      options.quick = true;
    } else if (arg === '--no-write') {
      options.write = false;
    } else if (arg === '--render') {
      options.render = value();
    } else if (arg === '--child') {
      options.child = value() as SystemName;
    } else if (arg === '--atlas') {
      options.atlasSweep = parseVariant(value(), '--atlas');
    } else if (arg === '--variant') {
      const { option, values } = parseVariant(value(), '--variant');
      options.variant = { option, value: values[0] as number };
    } else {
      throw new UsageError(`unknown argument '${arg}' (see the header of bench/ann.ts)`);
    }
  }
  if (options.quick && options.queries === undefined) options.queries = QUICK_QUERIES;
  return options;
}

const MiB = 2 ** 20;
const gc = (): void => (globalThis as { gc?: () => void }).gc?.();
const loadAverage = (): number[] => os.loadavg().map((x) => Math.round(x * 100) / 100);

// ---------------------------------------------------------------------------------------
// Child: one system

/** Squared L2 in f64: the exact distance the tie-aware recall compares against. */
function squaredL2(a: Float32Array, aOffset: number, b: Float32Array, bOffset: number, dim: number): number {
  let sum = 0;
  for (let i = 0; i < dim; i++) {
    const d = (a[aOffset + i] as number) - (b[bOffset + i] as number);
    sum += d * d;
  }
  return sum;
}

function recallOf(data: Dataset, found: Int32Array, counts: Int32Array): { recall: number; recallWithTies: number } {
  const truth = data.groundTruth(K);
  const truthDistances = data.groundTruthDistances(K);
  let hits = 0;
  let hitsWithTies = 0;
  const expected = new Set<number>();
  for (let q = 0; q < data.queryCount; q++) {
    expected.clear();
    for (let j = 0; j < K; j++) expected.add(truth[q * K + j] as number);
    // The 10th true distance, loosened by the f32 rounding of the cached value.
    const limit = (truthDistances[q * K + K - 1] as number) * (1 + 1e-5) + 1e-6;
    const count = counts[q] as number;
    const seen = new Set<number>();
    for (let j = 0; j < count; j++) {
      const id = found[q * K + j] as number;
      if (seen.has(id)) continue;  // a duplicate never counts twice
      seen.add(id);
      if (expected.has(id)) hits++;
      if (data.metric === 'l2' && id >= 0 && id < data.baseCount && squaredL2(data.queries, q * data.dim, data.base, id * data.dim, data.dim) <= limit) hitsWithTies++;
    }
  }
  const total = data.queryCount * K;
  return { recall: hits / total, recallWithTies: data.metric === 'l2' ? hitsWithTies / total : hits / total };
}

/** How a system is named in the report: 'loci-atlas replicas=2' for a variant. */
const labelOf = (name: SystemName, variant: AtlasVariant | null): string => (variant === null ? name : `${name} ${variant.option}=${variant.value}`);

async function runChild(base: SystemName, options: Options): Promise<SystemResult> {
  const system = options.variant === null ? SYSTEMS[base] : atlasVariant(base, options.variant);
  const name = labelOf(base, options.variant);
  const loadAverageStart = loadAverage();
  const build = base.startsWith('loci') ? lociBuild() : undefined;
  const data = await loadDataset(options.dataset, { queryCount: options.queries });
  const progress = (message: string): void => log(`[${name}] ${message}`);
  const queries = system.prepareQueries(data.queries, data.queryCount, data.dim);
  const scratchDir = fs.mkdtempSync(path.join(os.tmpdir(), `loci-ann-${name}-`));
  try {
    gc();
    const rssBefore = process.memoryUsage().rss;
    let untimedMs = 0;
    const untimed = <T>(work: () => T): T => {
      const start = performance.now();
      try {
        return work();
      } finally {
        untimedMs += performance.now() - start;
      }
    };
    progress(`building on ${data.baseCount} x ${data.dim}`);
    const buildStart = performance.now();
    let handle: unknown;
    try {
      handle = await system.build({ dim: data.dim, metric: data.metric, base: data.base, count: data.baseCount, scratchDir, progress, untimed });
    } catch (error) {
      if (error instanceof SystemUnavailable) return { system: name, status: 'skipped', reason: `not available in this build (${error.message})`, lociBuild: build };
      throw error;
    }
    const buildSeconds = (performance.now() - buildStart - untimedMs) / 1000;
    gc();
    const rssAfter = process.memoryUsage().rss;
    progress(`built in ${buildSeconds.toFixed(1)} s (+${(untimedMs / 1000).toFixed(1)} s untimed conversion), RSS +${((rssAfter - rssBefore) / MiB).toFixed(0)} MiB`);
    const memory = await system.memory(handle);
    // resourceUsage().maxRSS is in KiB. Read here, it covers loading and building only:
    // usearch's sweep reloads its index per point (see systems.ts), which would inflate it.
    const peakRssBuildMiB = process.resourceUsage().maxRSS / 1024;

    const points: PointResult[] = [];
    const found = new Int32Array(data.queryCount * K);
    const counts = new Int32Array(data.queryCount);
    const latencies = new Float64Array(data.queryCount);
    const warmup = Math.min(WARMUP_QUERIES, data.queryCount);
    for (const param of system.sweep(options.quick)) {
      await system.prepare?.(handle, param);
      for (let q = 0; q < warmup; q++) system.search(handle, queries[q], K, param, found.subarray(q * K, (q + 1) * K));
      found.fill(-1);
      gc();
      const passStart = performance.now();
      for (let q = 0; q < data.queryCount; q++) {
        const start = performance.now();
        counts[q] = system.search(handle, queries[q], K, param, found.subarray(q * K, (q + 1) * K));
        latencies[q] = performance.now() - start;
      }
      const passSeconds = (performance.now() - passStart) / 1000;
      const sorted = Float64Array.from(latencies).sort();
      let sum = 0;
      for (const latency of latencies) sum += latency;
      const point: PointResult = {
        param: system.sweepName ? param : null,
        queries: data.queryCount,
        ...recallOf(data, found, counts),
        qps: data.queryCount / passSeconds,
        p50Us: median(Array.from(latencies)) * 1000,
        p99Us: (sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] as number) * 1000,
        meanUs: (sum / data.queryCount) * 1000,
      };
      points.push(point);
      progress(
        `${system.sweepName ?? 'search'}${system.sweepName ? `=${param}` : ''}: recall@10 ${point.recall.toFixed(4)}, ${Math.round(point.qps)} QPS, p50 ${Math.round(point.p50Us)} us, p99 ${Math.round(point.p99Us)} us`,
      );
    }
    const filePmdMappedMiB = filePmdMappedMiBNow();
    await system.close(handle);
    return {
      system: name,
      status: 'ok',
      lociBuild: build,
      parameters: system.parameters,
      sweepName: system.sweepName,
      buildSeconds,
      buildUntimedSeconds: untimedMs / 1000,
      rssBeforeBuildMiB: rssBefore / MiB,
      rssAfterBuildMiB: rssAfter / MiB,
      peakRssMiB: peakRssBuildMiB,
      peakRssEndMiB: process.resourceUsage().maxRSS / 1024,
      filePmdMappedMiB,
      rssBytesPerVector: (rssAfter - rssBefore) / data.baseCount,
      reportedBytes: memory.bytes,
      reportedBytesPerVector: memory.bytes === null ? null : memory.bytes / data.baseCount,
      reportedSource: memory.source,
      reportedDetails: memory.details,
      loadAverageStart,
      loadAverageEnd: loadAverage(),
      points,
    };
  } finally {
    fs.rmSync(scratchDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------
// Parent: one child per system, then the report

function runInChild(base: SystemName, variant: AtlasVariant | null, argv: readonly string[]): Promise<SystemResult> {
  const name = labelOf(base, variant);
  const variantArgs = variant === null ? [] : ['--variant', `${variant.option}=${variant.value}`];
  return new Promise((resolve) => {
    const child = fork(__filename, [...argv, '--child', base, ...variantArgs], { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let result: SystemResult | null = null;
    child.on('message', (message) => {
      result = message as SystemResult;
    });
    child.on('exit', (code, signal) => {
      resolve(result ?? { system: name, status: 'failed', reason: `child exited with ${signal ?? `code ${code}`} before reporting` });
    });
  });
}

// Loads the dataset once so its ground truth is computed and cached before any child needs
// it; only the description is kept, so the parent does not hold the vectors meanwhile.
async function describeDataset(options: Options): Promise<AnnReport['dataset']> {
  const started = performance.now();
  const data = await loadDataset(options.dataset, { queryCount: options.queries });
  log(`${data.name}: ${data.baseCount} x ${data.dim}, ${data.queryCount} queries, ground truth ready in ${seconds(started)}`);
  return { name: data.name, dim: data.dim, metric: data.metric, baseCount: data.baseCount, queryCount: data.queryCount, key: data.key };
}

function writeReport(report: AnnReport, base: string): void {
  fs.writeFileSync(`${base}.md`, markdown(report));
  fs.writeFileSync(`${base}.svg`, svg(report));
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const options = parseArgs(argv);
  if (options.render !== null) {
    const report = JSON.parse(fs.readFileSync(options.render, 'utf8')) as AnnReport;
    const base = options.render.replace(/\.json$/, '');
    writeReport(report, base);
    console.log(`wrote ${base}.{md,svg}`);
    return;
  }
  if (options.child !== null) {
    const name = options.child;
    let result: SystemResult;
    try {
      result = await runChild(name, options);
    } catch (error) {
      result = { system: labelOf(name, options.variant), status: 'failed', reason: error instanceof Error ? (error.stack ?? error.message) : String(error) };
    }
    process.send?.(result, () => process.exit(0));
    return;
  }

  const env = environment();
  console.log(describeEnvironment(env));
  const data = await describeDataset(options);
  console.log(`dataset  ${data.name} (${data.baseCount} x ${data.dim}, ${data.queryCount} queries, ${data.metric})${options.quick ? ', quick' : ''}\n`);

  const results: SystemResult[] = [];
  const sweep = options.atlasSweep;
  for (const name of options.systems) {
    const variants: (AtlasVariant | null)[] = sweep !== null && name.startsWith('loci-atlas') ? sweep.values.map((value) => ({ option: sweep.option, value })) : [null];
    for (const variant of variants) {
      const result = await runInChild(name, variant, argv);
      if (result.status !== 'ok') console.log(`${result.system}: ${result.status}: ${result.reason}`);
      results.push(result);
    }
  }

  const report: AnnReport = {
    environment: env,
    dataset: data,
    settings: { k: K, quick: options.quick, warmupQueries: WARMUP_QUERIES, command: `npm run bench:ann -- ${argv.join(' ')}`.trim() },
    systems: results,
  };
  const table = markdown(report);
  console.log(`\n${table}`);
  if (options.write) {
    fs.mkdirSync(resultsDir, { recursive: true });
    const base = path.join(resultsDir, `ann-${data.name}${sweep === null ? '' : `-${sweep.option}`}`);
    fs.writeFileSync(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
    writeReport(report, base);
    console.log(`wrote ${path.relative(process.cwd(), base)}.{json,md,svg}`);
  }
}

runMain('ann', main);
