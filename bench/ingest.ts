// `npm run bench:ingest -- [--quick] [--items N] [--skip-1m] [--cases a,b] [--no-write]`:
// the write path. 768-d vectors with ~500-byte texts and small JSON meta
// (bench/ingest/data.ts) written through Store.add:
//
//   store       in memory (the baseline), durable with durability none, interval
//               (syncIntervalMs 10) and sync; index flat, plus atlas for batches of 1000
//   calls       batches of 1000 one after another; single items one after another;
//               single items with 64 calls in flight (group commit)
//   per case    items/s, p50/p99 latency per add() call, group commits vs batches,
//               automatic checkpoints; then a crash (the writer is SIGKILLed without
//               close) and the reopen that replays the WAL (replayedRecords, replayMs);
//               a checkpoint() of the loaded store; bytes on disk per item after the
//               clean close; the reopen after that clean close
//   1M items    (not with --quick or --skip-1m) ingest with none and batches of 1000,
//               checkpoint() of the loaded store, reopen after a clean close (3 times),
//               and reopen after a crash with the last 200,000 single-item writes in the
//               WAL (3 times on the same WAL, each followed by a fresh-memory first-touch
//               baseline of the replayed rows' bytes); the targets take the medians
//   rounds      (all cases only) 5 rounds (3 with --quick) of none, interval and sync
//               writes of batches of 1000: the interval and sync targets take the median
//               of the per-round ratios, since one case swings with its checkpoints
//   fsync       append 4 KB + fdatasync on the same disk, the floor under a sync write
//
// Every phase runs in a child process of its own (this script, forked with --child),
// which is also what makes a crash a crash. The parent checks the targets and writes
//   bench/results/ingest.json   environment header and every figure
//   bench/results/ingest.md     the tables and the targets (pass / miss)
//
// Options:
//   --quick        20,000 items per case, no 1M part, shorter fsync baseline (~2 min)
//   --items N      items per case (default 100,000; a multiple of 1,000)
//   --skip-1m      leave out the 1M part (a full run takes ~5 min with it on a 2-core AMD EPYC once the vectors are cached)
//   --million N    items of the large part (default 1,000,000; its crash tail is N / 5)
//   --cases a,b    only cases whose name contains one of these strings (e.g. sync,atlas)
//   --no-write     print the tables, write nothing under bench/results/
//   --render FILE  run nothing: rewrite the .md next to a results JSON
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { Durability, IndexKind } from '../src/index';
import { log } from './data/cache';
import { childMain, inChild as runChild } from './lib/child';
import { ensureVectorFile, generateRows, vectorFileBytes } from './ingest/data';
import { caseLabel, caseLine, evaluateTargets, markdown, medianBy, type CaseResult, type FirstTouch, type IngestReport, type MillionResult, type OpenPhase, type RatioRound, type RecoverPhase, type WritePhase } from './ingest/report';
import { firstTouchBaseline, fsyncBaseline, recoverPhase, reopenPhase, replayPhase, writePhase, type OpenSpec, type WriteSpec } from './ingest/workloads';
import { describeEnvironment, environment, lociBuild, UsageError, runMain, publishReport } from './lib/report';

const DEFAULT_ITEMS = 100_000;
const QUICK_ITEMS = 20_000;
const MILLION = 1_000_000;
const IN_FLIGHT = 64;
const FSYNC_BYTES = 4096;
/** Clean and crash reopens of the 1M store (each in a process of its own): the targets take the median. */
const REPEATS = 3;

interface Options {
  quick: boolean;
  items: number;
  million: boolean;
  millionItems: number;
  cases: string[] | null;
  write: boolean;
  render: string | null;
  child: string | null;
}

function parseArgs(argv: readonly string[]): Options {
  const options: Options = { quick: false, items: 0, million: true, millionItems: MILLION, cases: null, write: true, render: null, child: null };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const value = (): string => {
      const next = argv[++i];
      if (next === undefined) throw new UsageError(`${arg} needs a value`);
      return next;
    };
    if (arg === '--quick') options.quick = true;
    else if (arg === '--skip-1m') options.million = false;
    else if (arg === '--no-write') options.write = false;
    else if (arg === '--items') {
      const count = Number(value());
      if (!Number.isInteger(count) || count < 1000 || count % 1000 !== 0) throw new UsageError('--items must be a multiple of 1,000 (batches of 1,000 stay whole)');
      options.items = count;
    } else if (arg === '--million') {
      const count = Number(value());
      if (!Number.isInteger(count) || count < 5000 || count % 5000 !== 0) throw new UsageError('--million must be a multiple of 5,000');
      options.millionItems = count;
    } else if (arg === '--cases') options.cases = value().split(',').filter((name) => name.length > 0);
    else if (arg === '--render') options.render = value();
    else if (arg === '--child') options.child = value();
    else throw new UsageError(`unknown argument '${arg}' (see the header of bench/ingest.ts)`);
  }
  if (options.quick) options.million = false;
  if (options.items === 0) options.items = options.quick ? QUICK_ITEMS : DEFAULT_ITEMS;
  return options;
}

// ---------------------------------------------------------------------------------------
// Children

type ChildTask =
  | { kind: 'generate'; file: string; first: number; count: number }
  | { kind: 'fsync'; dir: string; count: number; warmup: number; bytes: number }
  | { kind: 'write'; spec: WriteSpec }
  | { kind: 'recover'; spec: OpenSpec }
  | { kind: 'replay'; spec: OpenSpec }
  | { kind: 'touch'; bytes: number }
  | { kind: 'reopen'; spec: OpenSpec };

async function runTask(task: ChildTask): Promise<unknown> {
  switch (task.kind) {
    case 'generate':
      generateRows(task.file, task.first, task.count);
      return null;
    case 'fsync':
      return fsyncBaseline(task.dir, task.count, task.warmup, task.bytes);
    case 'write':
      return writePhase(task.spec);
    case 'recover':
      return recoverPhase(task.spec);
    case 'replay':
      return replayPhase(task.spec);
    case 'touch':
      return firstTouchBaseline(task.bytes);
    case 'reopen':
      return reopenPhase(task.spec);
  }
}

/**
 * Runs a task in a child process. With `crash`, the child is SIGKILLed as soon as it has
 * reported (its store still open), and the promise resolves after it is gone.
 */
function inChild<T>(task: ChildTask, crash = false): Promise<T> {
  return runChild<T>(__filename, task, { execArgv: ['--expose-gc', '--max-old-space-size=8192'], crash });
}

// ---------------------------------------------------------------------------------------
// Parent

function describeDisk(dir: string): string {
  try {
    const df = execFileSync('df', ['--output=source,fstype,size,avail', dir]).toString().trim().split('\n')[1]?.trim().split(/\s+/) ?? [];
    return `${df[0]} (${df[1]}, ${df[2]} total, ${df[3]} free) under ${dir}`;
  } catch {
    return `unknown device under ${dir}`;
  }
}

/** Allocated bytes of a directory (du), so sparse or preallocated files count as stored. */
function diskUsage(dir: string): number {
  return Number(execFileSync('du', ['-s', '-B1', dir]).toString().split(/\s+/)[0]);
}

/** The cached vectors file with at least `rows` rows, generated (one child process per core) if missing. */
function ensureVectors(rows: number): Promise<string> {
  return ensureVectorFile(rows, (file, first, count) => inChild({ kind: 'generate', file, first, count }));
}

interface CasePlan {
  name: string;
  store: 'memory' | 'durable';
  durability: Durability | null;
  index: IndexKind;
  batch: number;
  inFlight: number;
  budgetSeconds: number;
}

function planCases(options: Options): CasePlan[] {
  const syncBudget = options.quick ? 10 : 30;
  const plans: CasePlan[] = [];
  const add = (store: 'memory' | 'durable', durability: Durability | null, index: IndexKind, batch: number, inFlight: number): void => {
    const budgetSeconds = durability === 'sync' && batch === 1 && inFlight === 1 ? syncBudget : 600;
    const plan = { name: '', store, durability, index, batch, inFlight, budgetSeconds };
    plan.name = caseLabel(plan);
    plans.push(plan);
  };
  for (const [batch, inFlight] of [
    [1000, 1],
    [1, 1],
    [1, IN_FLIGHT],
  ] as const) {
    add('memory', null, 'flat', batch, inFlight);
    for (const durability of ['none', 'interval', 'sync'] as const) add('durable', durability, 'flat', batch, inFlight);
  }
  add('memory', null, 'atlas', 1000, 1);
  add('durable', 'none', 'atlas', 1000, 1);
  add('durable', 'sync', 'atlas', 1000, 1);
  if (options.cases === null) return plans;
  const wanted = options.cases;
  return plans.filter((plan) => wanted.some((word) => plan.name.includes(word)));
}

async function runCase(plan: CasePlan, options: Options, vectorFile: string, tempDir: string): Promise<CaseResult> {
  const result: CaseResult = { name: plan.name, store: plan.store, durability: plan.durability, index: plan.index, batch: plan.batch, inFlight: plan.inFlight, status: 'ok' };
  const dir = plan.store === 'durable' ? path.join(tempDir, plan.name.replace(/\s+/g, '-')) : undefined;
  const spec: WriteSpec = {
    index: plan.index,
    batch: plan.batch,
    inFlight: plan.inFlight,
    first: 0,
    count: options.items,
    vectorFile,
    budgetSeconds: plan.budgetSeconds,
    then: dir === undefined ? 'close' : 'crash',
  };
  if (dir !== undefined) spec.dir = dir;
  if (plan.durability !== null) spec.durability = plan.durability;
  if (plan.durability === 'sync' && plan.batch === 1 && plan.inFlight === 1) spec.interleaveFsync = { block: 50, bytes: FSYNC_BYTES };
  try {
    result.write = await inChild<WritePhase>({ kind: 'write', spec }, dir !== undefined);
    if (dir !== undefined) {
      const open: OpenSpec = { dir, durability: plan.durability ?? undefined, expectItems: result.write.items };
      result.crash = await inChild<RecoverPhase>({ kind: 'recover', spec: open });
      result.replayedItems = result.crash.replayedRecords * plan.batch;
      result.diskBytes = diskUsage(dir);
      result.diskBytesPerItem = result.diskBytes / result.write.items;
      result.reopen = await inChild<OpenPhase>({ kind: 'reopen', spec: open });
    }
  } catch (error) {
    result.status = 'failed';
    result.reason = error instanceof Error ? error.message : String(error);
  } finally {
    if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
  }
  return result;
}

/** Rounds of none, interval and sync writes of batches of 1000, each phase a process of its own. */
async function runRatioRounds(options: Options, vectorFile: string, tempDir: string): Promise<RatioRound[]> {
  const rounds: RatioRound[] = [];
  const count = options.quick ? 3 : 5;
  for (let round = 0; round < count; round++) {
    const speeds: Partial<RatioRound> = {};
    // The order rotates, so no mode always runs right after another's writeback.
    const order = (['none', 'interval', 'sync'] as const).map((_, i, all) => all[(i + round) % all.length]!);
    for (const durability of order) {
      const dir = path.join(tempDir, `round-${round}-${durability}`);
      try {
        const spec: WriteSpec = { dir, durability, index: 'flat', batch: 1000, inFlight: 1, first: 0, count: options.items, vectorFile, budgetSeconds: 600, then: 'close' };
        speeds[durability] = (await inChild<WritePhase>({ kind: 'write', spec })).itemsPerSecond;
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
    const r = speeds as RatioRound;
    rounds.push(r);
    log(`round ${round + 1}: none ${Math.round(r.none)}, interval ${Math.round(r.interval)} (${((100 * r.interval) / r.none).toFixed(1)}%), sync ${Math.round(r.sync)} (${((100 * r.sync) / r.none).toFixed(1)}%) items/s`);
  }
  return rounds;
}

async function runMillion(vectorFile: string, tempDir: string, items: number): Promise<MillionResult> {
  const tail = items / 5;
  const result: MillionResult = { items, tailItems: tail, status: 'ok' };
  const dir = path.join(tempDir, 'million');
  try {
    log(`large: ingesting ${items.toLocaleString('en-US')} items (none, batches of 1000)...`);
    result.build = await inChild<WritePhase>({
      kind: 'write',
      spec: { dir, durability: 'none', index: 'flat', batch: 1000, inFlight: 1, first: 0, count: items, vectorFile, budgetSeconds: 3600, then: 'checkpoint-close' },
    });
    result.diskBytes = diskUsage(dir);
    result.diskBytesPerItem = result.diskBytes / items;
    log(`large: built at ${Math.round(result.build.itemsPerSecond)} items/s, checkpoint ${((result.build.checkpointMs ?? 0) / 1000).toFixed(2)} s; reopening...`);
    result.reopens = [];
    for (let i = 0; i < REPEATS; i++) {
      result.reopens.push(await inChild<OpenPhase>({ kind: 'reopen', spec: { dir, durability: 'none', expectItems: items } }));
    }
    result.reopen = medianBy(result.reopens, (r) => r.openMs);
    log(`large: clean reopens ${result.reopens.map((r) => (r.openMs / 1000).toFixed(2)).join(', ')} s; writing a ${tail.toLocaleString('en-US')}-item tail, then SIGKILL...`);
    // checkpointBytes raised so the whole tail stays in the WAL: with the default, a store
    // of this size checkpoints once its WAL passes a quarter of its checkpoint files
    // (at 1,000,000 items ~780 MB, ~210,000 items), so a fifth is about the most a default
    // store of that size replays.
    result.tail = await inChild<WritePhase>(
      {
        kind: 'write',
        spec: { dir, durability: 'none', index: 'flat', batch: 1, inFlight: IN_FLIGHT, first: items, count: tail, vectorFile, budgetSeconds: 3600, then: 'crash', checkpointBytes: 2 ** 33 },
      },
      true,
    );
    // The crash reopen REPEATS times on the same WAL: all but the last are killed once
    // open, before anything is checkpointed. Each is followed by the first-touch floor.
    const spec: OpenSpec = { dir, durability: 'none', expectItems: items + tail };
    const rowBytes = vectorFileBytes(tail);
    result.replays = [];
    result.firstTouch = [];
    for (let i = 0; i < REPEATS; i++) {
      const last = i === REPEATS - 1;
      const replay = last ? await inChild<RecoverPhase>({ kind: 'recover', spec }) : await inChild<OpenPhase>({ kind: 'replay', spec }, true);
      if (last) result.crash = replay as RecoverPhase;
      result.replays.push(replay);
      const touch = await inChild<FirstTouch>({ kind: 'touch', bytes: rowBytes });
      result.firstTouch.push(touch);
      log(
        `large: crash reopen ${(replay.openMs / 1000).toFixed(2)} s (replay ${replay.replayedRecords} records in ${(replay.replayMs / 1000).toFixed(2)} s); ` +
          `first touch of ${Math.round(rowBytes / 2 ** 20)} MiB ${touch.firstGBps.toFixed(2)} GB/s`,
      );
    }
  } catch (error) {
    result.status = 'failed';
    result.reason = error instanceof Error ? error.message : String(error);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return result;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const options = parseArgs(argv);
  // A crash child waits, store open, for the parent's SIGKILL.
  if (options.child !== null) return childMain(options.child, runTask, (task: ChildTask) => (task.kind === 'write' && task.spec.then === 'crash') || task.kind === 'replay');
  if (options.render !== null) {
    const report = JSON.parse(fs.readFileSync(options.render, 'utf8')) as IngestReport;
    const target = options.render.replace(/\.json$/, '.md');
    fs.writeFileSync(target, markdown(report));
    console.log(`wrote ${target}`);
    return;
  }

  const started = performance.now();
  const env = environment();
  const tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'loci-ingest-'));
  const disk = describeDisk(tempDir);
  const command = `npm run bench:ingest${argv.length > 0 ? ` -- ${argv.join(' ')}` : ''}`;
  console.log(describeEnvironment(env));
  console.log(`disk     ${disk}`);
  console.log(`command  ${command}\n`);
  try {
    const build = lociBuild();
    const rows = options.million ? Math.max(options.items, options.millionItems * 1.2) : options.items;
    const vectorFile = await ensureVectors(rows);

    const fsyncCount = options.quick ? 300 : 2000;
    const fsync = await inChild<IngestReport['fsync']>({ kind: 'fsync', dir: tempDir, count: fsyncCount, warmup: 20, bytes: FSYNC_BYTES });
    console.log(`fsync baseline (append ${FSYNC_BYTES} B + fdatasync, ${fsyncCount}x): p50 ${fsync.latency.p50Ms.toFixed(3)} ms, p99 ${fsync.latency.p99Ms.toFixed(3)} ms\n`);

    const cases: CaseResult[] = [];
    for (const plan of planCases(options)) {
      const result = await runCase(plan, options, vectorFile, tempDir);
      console.log(caseLine(result));
      cases.push(result);
    }
    const ratioRounds = options.cases === null ? await runRatioRounds(options, vectorFile, tempDir) : undefined;
    const million = options.million ? await runMillion(vectorFile, tempDir, options.millionItems) : null;
    const fsyncEnd = await inChild<IngestReport['fsync']>({ kind: 'fsync', dir: tempDir, count: fsyncCount, warmup: 20, bytes: FSYNC_BYTES });
    console.log(`\nfsync baseline at the end: p50 ${fsyncEnd.latency.p50Ms.toFixed(3)} ms, p99 ${fsyncEnd.latency.p99Ms.toFixed(3)} ms`);
    const buildEnd = lociBuild();

    const report: IngestReport = {
      environment: env,
      settings: {
        command,
        quick: options.quick,
        items: options.items,
        millionItems: options.million ? options.millionItems : null,
        tailItems: options.million ? options.millionItems / 5 : null,
        concurrentInFlight: IN_FLIGHT,
        syncSequentialBudgetSeconds: options.quick ? 10 : 30,
        tempDir: os.tmpdir(),
        disk,
        lociBuild: build,
        data: path.basename(vectorFile),
      },
      fsync,
      fsyncEnd,
      lociBuildEnd: buildEnd.addonSha256 === build.addonSha256 ? null : buildEnd,
      cases,
      ...(ratioRounds ? { ratioRounds } : {}),
      million,
      targets: [],
      totalSeconds: 0,
    };
    report.targets = evaluateTargets(report);
    report.totalSeconds = (performance.now() - started) / 1000;
    publishReport('ingest', markdown(report), report, options.write);
  } finally {
    fs.rmSync(tempDir, { recursive: true, force: true });
  }
}

runMain('ingest', main);
