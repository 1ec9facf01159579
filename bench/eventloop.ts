// `npm run bench:eventloop -- [--items N] [--batch B] [--in-flight F] [--sync-reads] [--no-write]`:
// how long Loci's calls hold the event loop while a durable Atlas store ingests N items
// (default 1,000,000) with searches, checkpoints, an upsert, a delete, a compaction and
// the close alongside. Issue 5's target: no call blocks the loop for more than 1 ms.
//
// Data: 768-d vectors of the clustered-100k mixture (bench/ingest/data.ts, read from the
// cached vectors file, generated once per machine), ~500-byte texts (textOf, cycling
// through 4,096 distinct texts so building an item costs ~1 us on the loop) and ~110
// bytes of JSON meta (metaOf(i), a fresh object per item). Items are built in slices of
// GEN_SLICE between event-loop turns, into a pool of reused vector buffers, so the
// harness itself never holds the loop for long and keeps no large heap.
//
// Each phase runs in a process of its own (this script forked with --child):
//   idle      nothing but the probes, IDLE_SECONDS: the floor this machine gives
//   harness   (after the store phase) the item pipeline without a store, at the pace the
//             store phase reached (min(N, HARNESS_ITEMS) items): what the benchmark's own
//             work costs the loop
//   store     Store.open(dir, { dim: 768, index: 'atlas' }) (durability 'sync'), then
//             add() of batches of B items with F calls in flight; every SEARCH_EVERY_MS a
//             search() (at most 2 in flight); a checkpoint() after every tenth of the
//             batches; then an upsert() and a delete() of B items each, compact(),
//             close(). With --sync-reads, also has(), size, get() and searchSync() every
//             SEARCH_EVERY_MS: synchronous by design, they hold the loop for as long as
//             they wait for a lock a writer holds (so the loop figures then include them)
//
// Measured in every phase:
//   loop delay   perf_hooks.monitorEventLoopDelay({ resolution: 1 }): libuv fires its
//                1 ms timer and Node records the time between firings, so a free loop
//                reads ~1.0-1.3 ms; the table shows that interval minus the 1 ms period,
//                i.e. how late the loop was. libuv's timers count whole milliseconds, so
//                this cannot resolve blocks well below 1 ms. A second probe, a 1 ms
//                setInterval timing its own ticks with process.hrtime, sits on the same
//                libuv timer (same floor) but keeps every sample, so the worst ticks are
//                listed with what ran just before them and any GC that overlapped them.
//   call time    for add, upsert, delete, search, checkpoint, compact and close: the time
//                from calling the method to getting its Promise back (process.hrtime),
//                exact to the microsecond: this is what tells which call holds the loop
//   callbacks    (store phase) every callback the loop runs, timed with async_hooks
//                before/after and grouped by kind: 'Immediate: Loci write slice' holds
//                the turns that read the rest of a large batch after the call, 'loci'
//                the completions of Loci's pool work, 'PROMISE' the reactions (the
//                harness's own code), 'Timeout' the probes and the search timer. This
//                resolves what the timer-based probes cannot: work below 1 ms, by kind
//   GC pauses    PerformanceObserver 'gc' entries
//
// Results: bench/results/eventloop.{md,json} (not with --no-write).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';

import { Store, type Item } from '../src/index';
import { DIM, ensureVectorFile, generateRows, idOf, metaOf, textOf } from './ingest/data';
import { summarize } from './ingest/workloads';
import { type DelaySummary, type PhaseProbe, Samples, nowMs, LoopProbe, CallTimes, CallbackClock, TARGET_MS, ms, SYNC } from './eventloop/probes';
import { childMain, inChild as runChild } from './lib/child';
import type { LatencySummary } from './ingest/report';
import { describeEnvironment, environment, lociBuild, type Environment, type LociBuild, UsageError, runMain, publishReport } from './lib/report';

const DEFAULT_ITEMS = 1_000_000;
const DEFAULT_BATCH = 1000;
// Three add() calls in flight keep the group commit fed while leaving one of libuv's
// four pool threads for searches and the harness's file reads (a commit waiting for its
// group's leader holds a pool thread).
const DEFAULT_IN_FLIGHT = 3;
const GEN_SLICE = 128;
const TEXTS = 4096;
const SEARCH_EVERY_MS = 10;
const SEARCHES_IN_FLIGHT = 2;
const CHECKPOINTS = 10;
const IDLE_SECONDS = 5;
const HARNESS_ITEMS = 200_000;

interface Options {
  items: number;
  batch: number;
  inFlight: number;
  write: boolean;
  syncReads: boolean;
  child: string | null;
}

function parseArgs(argv: readonly string[]): Options {
  const options: Options = { items: DEFAULT_ITEMS, batch: DEFAULT_BATCH, inFlight: DEFAULT_IN_FLIGHT, write: true, syncReads: false, child: null };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const count = (min: number): number => {
      const value = Number(argv[++i]);
      if (!Number.isInteger(value) || value < min) throw new UsageError(`${arg} needs an integer >= ${min}`);
      return value;
    };
    if (arg === '--items') options.items = count(1);
    else if (arg === '--batch') options.batch = count(1);
    else if (arg === '--in-flight') options.inFlight = count(1);
    else if (arg === '--no-write') options.write = false;
    else if (arg === '--sync-reads') options.syncReads = true;
    else if (arg === '--child') options.child = argv[++i] ?? null;
    else throw new UsageError(`unknown argument '${arg}' (see the header of bench/eventloop.ts)`);
  }
  if (options.items < options.batch * 3) throw new UsageError('--items must be at least 3 batches (the finish upserts and deletes a batch each)');
  return options;
}

// ---------------------------------------------------------------------------------------
// The item pipeline

interface Pipeline {
  vectorFile: string;
  items: number;
  batch: number;
  inFlight: number;
  /** Also time the synchronous reads (has, size, get, searchSync) every SEARCH_EVERY_MS. */
  syncReads: boolean;
}

/** Builds batches in slices between loop turns, into a pool of reused vector buffers. */
class ItemSource {
  private readonly texts: string[] = [];
  private readonly free: Float32Array[] = [];
  private readonly waiting: Array<(buffer: Float32Array) => void> = [];
  private readonly slices = new Samples();
  private file: fs.promises.FileHandle | null = null;

  constructor(
    private readonly spec: Pipeline,
    private readonly probe: LoopProbe,
  ) {}

  async open(): Promise<void> {
    for (let i = 0; i < TEXTS; i += GEN_SLICE) {
      for (let j = i; j < i + GEN_SLICE; j++) this.texts.push(textOf(j));
      await nextTurn();
    }
    for (let i = 0; i < this.spec.inFlight + 1; i++) this.free.push(new Float32Array(this.spec.batch * DIM));
    this.file = await fs.promises.open(this.spec.vectorFile, 'r');
  }

  async close(): Promise<void> {
    await this.file?.close();
  }

  /** A vector buffer for the next batch (waits until an earlier batch gives one back). */
  take(): Promise<Float32Array> {
    const buffer = this.free.pop();
    return buffer !== undefined ? Promise.resolve(buffer) : new Promise((resolve) => this.waiting.push(resolve));
  }

  give(buffer: Float32Array): void {
    const waiter = this.waiting.shift();
    if (waiter !== undefined) waiter(buffer);
    else this.free.push(buffer);
  }

  /** Items [first, first + count) with their vectors in `buffer` (read off the loop). */
  async build(first: number, count: number, buffer: Float32Array): Promise<Item[]> {
    const bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, count * DIM * 4);
    for (let done = 0; done < bytes.length; ) {
      const { bytesRead } = await (this.file as fs.promises.FileHandle).read(bytes, done, bytes.length - done, first * DIM * 4 + done);
      if (bytesRead <= 0) throw new Error(`${this.spec.vectorFile}: short read at row ${first}`);
      done += bytesRead;
    }
    const items = new Array<Item>(count);
    const time = Date.UTC(2026, 0, 1);
    for (let j = 0; j < count; j += GEN_SLICE) {
      if (j > 0) await nextTurn();
      this.probe.note('build items');
      const start = nowMs();
      for (let k = j; k < Math.min(count, j + GEN_SLICE); k++) {
        const i = first + k;
        items[k] = { id: idOf(i), vector: buffer.subarray(k * DIM, (k + 1) * DIM), text: this.texts[i % TEXTS] as string, meta: metaOf(i), time: time + i * 1000 };
      }
      this.slices.push(nowMs() - start);
    }
    return items;
  }

  sliceSummary(): LatencySummary {
    return summarize(this.slices.view());
  }
}

/**
 * Feeds batches [0, spec.items / batch) to `write`, at most spec.inFlight at a time;
 * `afterBatch(b)` runs after batch b is issued. Resolves when every write has settled.
 */
async function feed(
  source: ItemSource,
  spec: Pipeline,
  write: (items: Item[]) => Promise<unknown>,
  afterBatch: (b: number) => void,
): Promise<{ items: number; seconds: number }> {
  const batches = Math.floor(spec.items / spec.batch);
  const active = new Set<Promise<unknown>>();
  let failure: unknown = null;
  const started = nowMs();
  for (let b = 0; b < batches && failure === null; b++) {
    const buffer = await source.take();
    const items = await source.build(b * spec.batch, spec.batch, buffer);
    while (active.size >= spec.inFlight) await Promise.race(active);
    const settled: Promise<unknown> = write(items).then(
      () => undefined,
      (error: unknown) => {
        failure ??= error;
      },
    );
    const tracked = settled.finally(() => {
      active.delete(tracked);
      source.give(buffer);
    });
    active.add(tracked);
    afterBatch(b);
  }
  await Promise.all(active);
  if (failure !== null) throw failure;
  return { items: batches * spec.batch, seconds: (nowMs() - started) / 1000 };
}

// ---------------------------------------------------------------------------------------
// Phases (each in a child process)

interface IdleResult {
  probe: PhaseProbe;
}

interface HarnessResult {
  items: number;
  itemsPerSecond: number;
  probe: PhaseProbe;
  buildSlice: LatencySummary;
}

interface StoreResult {
  items: number;
  itemsPerSecond: number;
  ingest: PhaseProbe;
  finish: PhaseProbe;
  calls: Record<string, { sync: LatencySummary; settle: LatencySummary | null }>;
  /** Outermost callbacks the loop ran during the ingest and the finish, by kind. */
  callbacks: Record<string, LatencySummary>;
  buildSlice: LatencySummary;
  stats: { items: number; leaves: number; depth: number; checkpoints: number; groupCommits: number; batches: number; diskBytes: number };
  finishSeconds: number;
  peakRssMiB: number;
}

type ChildTask =
  | { kind: 'generate'; file: string; first: number; count: number }
  | { kind: 'idle'; seconds: number }
  | { kind: 'harness'; spec: Pipeline; itemsPerSecond: number }
  | { kind: 'store'; spec: Pipeline; dir: string };

async function idlePhase(seconds: number): Promise<IdleResult> {
  const probe = new LoopProbe();
  probe.start();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  return { probe: probe.stop() };
}

async function harnessPhase(spec: Pipeline, itemsPerSecond: number): Promise<HarnessResult> {
  const probe = new LoopProbe();
  const source = new ItemSource(spec, probe);
  await source.open();
  probe.start();
  // The same pipeline at the store's pace: each write settles after the time a write of
  // the store phase took on average (inFlight writes at a time).
  const writeMs = ((spec.batch * spec.inFlight) / itemsPerSecond) * 1000;
  const fed = await feed(source, spec, () => new Promise((resolve) => setTimeout(resolve, writeMs)), () => undefined);
  const result = { items: fed.items, itemsPerSecond: fed.items / fed.seconds, probe: probe.stop(), buildSlice: source.sliceSummary() };
  await source.close();
  return result;
}

async function storePhase(spec: Pipeline, dir: string): Promise<StoreResult> {
  const probe = new LoopProbe();
  const calls = new CallTimes(probe);
  const source = new ItemSource(spec, probe);
  await source.open();
  const store = await Store.open(dir, { dim: DIM, index: 'atlas' });
  const batches = Math.floor(spec.items / spec.batch);
  const checkpointEvery = Math.max(1, Math.floor(batches / CHECKPOINTS));

  // Queries: copies of vectors already written (the buffers are reused).
  const queries: Float32Array[] = [];
  let searchesActive = 0;
  const background: Promise<unknown>[] = [];
  let issued = 0;
  let written = 0;
  const syncReads = (): void => {
    if (written === 0 || queries.length === 0) return;
    const id = idOf(Math.floor(Math.random() * written));
    calls.timeSync('has', () => store.has(id));
    calls.timeSync('.size', () => store.size);
    calls.timeSync('get', () => store.get(id));
    calls.timeSync('searchSync', () => store.searchSync(queries[0] as Float32Array, { k: 10 }));
  };
  const search = (): void => {
    if (spec.syncReads) syncReads();
    if (queries.length === 0 || searchesActive >= SEARCHES_IN_FLIGHT) return;
    searchesActive++;
    const query = queries[Math.floor(Math.random() * queries.length)] as Float32Array;
    const searching = calls.time('search', () => store.search(query, { k: 10 }));
    background.push(searching.finally(() => searchesActive--));
  };

  const callbacks = new CallbackClock(probe);
  callbacks.start();
  probe.start();
  const searchTimer = setInterval(search, SEARCH_EVERY_MS);
  const fed = await feed(
    source,
    spec,
    (items) => {
      if (queries.length < 256) queries.push((items[0]?.vector as Float32Array).slice());
      // Writes apply in call order: once this one settles, items [0, end) are stored.
      const end = (issued += items.length);
      return calls.time('add', () => store.add(items)).then(() => {
        written = Math.max(written, end);
      });
    },
    (b) => {
      if ((b + 1) % checkpointEvery === 0 && b + 1 < batches) background.push(calls.time('checkpoint', () => store.checkpoint()));
    },
  );
  await Promise.all(background);
  clearInterval(searchTimer);
  const ingest = probe.stop();

  // The rest of the API, one call at a time after the ingest.
  const finishProbe = new LoopProbe();
  const finishCalls = new CallTimes(finishProbe);
  callbacks.noteTo(finishProbe);
  finishProbe.start();
  const finishStarted = nowMs();
  const buffer = await source.take();
  const replacements = await source.build(0, spec.batch, buffer);
  for (const item of replacements) (item.vector as Float32Array)[0] = ((item.vector as Float32Array)[0] as number) + 0.5;
  await finishCalls.time('upsert', () => store.upsert(replacements));
  source.give(buffer);
  const doomed: string[] = [];
  for (let i = spec.batch; i < 2 * spec.batch; i++) doomed.push(idOf(i));
  await finishCalls.time('delete', () => store.delete(doomed));
  for (let i = 0; i < 20; i++) await finishCalls.time('search', () => store.search(queries[i % queries.length] as Float32Array, { k: 10 }));
  await finishCalls.time('compact', () => store.compact());
  const stats = store.stats();
  await finishCalls.time('close', () => store.close());
  const finishSeconds = (nowMs() - finishStarted) / 1000;
  const finish = finishProbe.stop();
  const callbackTimes = callbacks.stop();
  await source.close();

  const merged = calls.summary();
  for (const [kind, summary] of Object.entries(finishCalls.summary())) merged[kind === 'search' ? 'search (after ingest)' : kind] = summary;
  return {
    items: fed.items,
    itemsPerSecond: fed.items / fed.seconds,
    ingest,
    finish,
    calls: merged,
    callbacks: callbackTimes,
    buildSlice: source.sliceSummary(),
    stats: { items: stats.items, leaves: stats.leaves, depth: stats.depth, checkpoints: stats.checkpoints, groupCommits: stats.groupCommits, batches: stats.batches, diskBytes: stats.diskBytes },
    finishSeconds,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
  };
}

async function runTask(task: ChildTask): Promise<unknown> {
  switch (task.kind) {
    case 'generate':
      generateRows(task.file, task.first, task.count);
      return null;
    case 'idle':
      return idlePhase(task.seconds);
    case 'harness':
      return harnessPhase(task.spec, task.itemsPerSecond);
    case 'store':
      return storePhase(task.spec, task.dir);
  }
}

function inChild<T>(task: ChildTask): Promise<T> {
  return runChild<T>(__filename, task);
}

// ---------------------------------------------------------------------------------------
// Report

interface EventLoopReport {
  environment: Environment;
  settings: { command: string; items: number; batch: number; inFlight: number; searchEveryMs: number; checkpoints: number; harnessItems: number; idleSeconds: number; lociBuild: LociBuild; lociBuildEnd: LociBuild | null; data: string };
  idle: IdleResult;
  harness: HarnessResult;
  store: StoreResult;
  targets: Array<{ target: string; measured: string; pass: boolean }>;
  totalSeconds: number;
}

/** 'add' -> 'add()', 'has (sync)' -> 'has() (sync)', 'search (after ingest)' -> 'search() (after ingest)'. */
const callName = (kind: string): string => kind.replace(/^(\w+)/, '$1()');

function delayRow(name: string, d: DelaySummary): string {
  return `| ${name} | ${d.samples.toLocaleString('en-US')} | ${ms(d.p50Ms)} | ${ms(d.p99Ms)} | ${ms(d.p999Ms)} | ${ms(d.maxMs)} | ${(d.lateOver1MsShare * 100).toFixed(3)}% |`;
}

function evaluate(report: EventLoopReport): EventLoopReport['targets'] {
  const calls = Object.entries(report.store.calls);
  const worstOf = (entries: typeof calls): (typeof calls)[number] => entries.reduce((a, b) => (b[1].sync.maxMs > a[1].sync.maxMs ? b : a));
  const asynchronous = worstOf(calls.filter(([kind]) => !kind.endsWith(SYNC)));
  const loopMax = Math.max(report.store.ingest.monitor.maxMs, report.store.finish.monitor.maxMs);
  const targets = [
    { target: `no Promise-returning call holds the loop > ${TARGET_MS} ms (max time to return its Promise)`, measured: `${ms(asynchronous[1].sync.maxMs)} ms, ${callName(asynchronous[0])}`, pass: asynchronous[1].sync.maxMs <= TARGET_MS },
    { target: `monitorEventLoopDelay max delay <= ${TARGET_MS} ms during the ingest and finish`, measured: `${ms(loopMax)} ms (idle floor ${ms(report.idle.probe.monitor.maxMs)} ms, harness alone ${ms(report.harness.probe.monitor.maxMs)} ms)`, pass: loopMax <= TARGET_MS },
  ];
  const synchronous = calls.filter(([kind]) => kind.endsWith(SYNC));
  if (synchronous.length > 0) {
    const worst = worstOf(synchronous);
    targets.push({ target: `no synchronous read (--sync-reads) holds the loop > ${TARGET_MS} ms`, measured: `${ms(worst[1].sync.maxMs)} ms, ${callName(worst[0])}`, pass: worst[1].sync.maxMs <= TARGET_MS });
  }
  return targets;
}

function markdown(report: EventLoopReport): string {
  const { store, harness, idle, settings } = report;
  const lines = [
    '# Event loop: how long Loci\'s calls hold it during a durable ingest',
    '',
    '```',
    describeEnvironment(report.environment),
    `command  ${settings.command}`,
    `build    commit ${settings.lociBuild.commit}${settings.lociBuild.uncommittedChanges ? ' + uncommitted changes' : ''}, addon ${settings.lociBuild.addonSha256} (${settings.lociBuild.addonModified})${settings.lociBuildEnd ? `; REBUILT during the run: ${settings.lociBuildEnd.addonSha256}` : ''}`,
    `data     ${settings.data}: 768-d clustered vectors, ~500-byte texts, ~110-byte JSON meta`,
    `store    atlas, durability 'sync'; add() of ${settings.batch.toLocaleString('en-US')} items, ${settings.inFlight} calls in flight; search() every ${settings.searchEveryMs} ms (<= ${SEARCHES_IN_FLIGHT} in flight); checkpoint() ${store.calls.checkpoint?.sync.count ?? 0} times during the ingest`,
    `result   ${store.items.toLocaleString('en-US')} items at ${Math.round(store.itemsPerSecond).toLocaleString('en-US')} items/s; ${store.stats.leaves.toLocaleString('en-US')} leaves, depth ${store.stats.depth}; ${store.stats.checkpoints} checkpoints; ${store.stats.groupCommits.toLocaleString('en-US')} group commits for ${store.stats.batches.toLocaleString('en-US')} batches; finish ${store.finishSeconds.toFixed(1)} s; peak RSS ${Math.round(store.peakRssMiB)} MiB`,
    `total    ${report.totalSeconds.toFixed(0)} s`,
    '```',
    '',
    '| target | measured | |',
    '|---|---|---|',
    ...report.targets.map((t) => `| ${t.target} | ${t.measured} | ${t.pass ? 'pass' : 'MISS'} |`),
    '',
    '## Time each call holds the loop (from the call to its Promise), ms',
    '',
    '| call | calls | p50 | p99 | max | settled after, p50 | settled after, p99 |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...Object.entries(store.calls).map(
      ([kind, c]) => `| ${callName(kind)} | ${c.sync.count.toLocaleString('en-US')} | ${ms(c.sync.p50Ms)} | ${ms(c.sync.p99Ms)} | ${ms(c.sync.maxMs)} | ${c.settle ? ms(c.settle.p50Ms) : '-'} | ${c.settle ? ms(c.settle.p99Ms) : '-'} |`,
    ),
    '',
    '## Every callback the loop ran (ingest and finish), by kind, ms',
    '',
    '`Immediate: Loci write slice`: the turns in which Loci reads the rest of a large batch',
    '(src/writes.ts); `loci`: completions of Loci\'s pool work; `PROMISE`: promise reactions',
    '(the harness, which makes the calls above in them); `Timeout`: the probes and the search',
    'timer; `Immediate: other`: the harness\'s yields. Timed with async_hooks before/after,',
    'outermost callbacks only; a GC pause lands in whichever callback allocated.',
    '',
    '| kind | callbacks | p50 | p99 | p99.9 | max |',
    '|---|---:|---:|---:|---:|---:|',
    ...Object.entries(store.callbacks)
      .sort((a, b) => b[1].maxMs - a[1].maxMs)
      .map(([kind, c]) => `| ${kind} | ${c.count.toLocaleString('en-US')} | ${ms(c.p50Ms)} | ${ms(c.p99Ms)} | ${ms(c.p999Ms)} | ${ms(c.maxMs)} |`),
    '',
    '## Loop delay: how late a 1 ms timer fired, ms',
    '',
    '`monitor` is perf_hooks.monitorEventLoopDelay({ resolution: 1 }) (interval minus the 1 ms',
    'period); `probe` is a 1 ms setInterval timing itself with process.hrtime. Both ride',
    'libuv\'s whole-millisecond timers, so up to ~1 ms of lateness is timer granularity, not',
    'blocking: the idle row is this machine\'s floor.',
    '',
    '| phase | samples | p50 | p99 | p99.9 | max | late > 1 ms |',
    '|---|---:|---:|---:|---:|---:|---:|',
    delayRow(`idle, ${idle.probe.seconds.toFixed(0)} s: monitor`, idle.probe.monitor),
    delayRow('idle: probe', idle.probe.probe),
    delayRow(`harness alone (${harness.items.toLocaleString('en-US')} items, ${harness.probe.seconds.toFixed(0)} s): monitor`, harness.probe.monitor),
    delayRow('harness alone: probe', harness.probe.probe),
    delayRow(`ingest (${store.ingest.seconds.toFixed(0)} s): monitor`, store.ingest.monitor),
    delayRow('ingest: probe', store.ingest.probe),
    delayRow(`finish: upsert, delete, compact, close (${store.finish.seconds.toFixed(0)} s): monitor`, store.finish.monitor),
    delayRow('finish: probe', store.finish.probe),
    '',
    '## GC pauses (PerformanceObserver), ms',
    '',
    '| phase | pauses | > 1 ms | total | p99 | max | by kind: count, max |',
    '|---|---:|---:|---:|---:|---:|---|',
    ...([
      ['harness alone', harness.probe.gc],
      ['ingest', store.ingest.gc],
      ['finish', store.finish.gc],
    ] as const).map(
      ([name, gc]) =>
        `| ${name} | ${gc.count} | ${gc.over1Ms} | ${ms(gc.totalMs)} | ${ms(gc.p99Ms)} | ${ms(gc.maxMs)} | ${Object.entries(gc.byKind)
          .map(([kind, k]) => `${kind} ${k.count}, ${ms(k.maxMs)}`)
          .join('; ')} |`,
    ),
    '',
    `Building one slice of ${GEN_SLICE} items in the harness: p50 ${ms(store.buildSlice.p50Ms)} ms, p99 ${ms(store.buildSlice.p99Ms)} ms, max ${ms(store.buildSlice.maxMs)} ms (harness alone: max ${ms(harness.buildSlice.maxMs)} ms).`,
    '',
    '## The latest ticks of the ingest, with what ran on the loop since the tick before',
    '',
    'Calls and settles the harness made, and callbacks over 0.25 ms (by kind, as above).',
    '',
    '| at s | late ms | what ran on the loop meanwhile | GC overlapping, ms |',
    '|---:|---:|---|---|',
    ...store.ingest.worstTicks.map((t) => `| ${(t.atMs / 1000).toFixed(2)} | ${ms(t.delayMs)} | ${t.activity.join(', ') || '(no callback over 0.25 ms)'} | ${t.gcMs.map(ms).join(', ') || '-'} |`),
    '',
    '## The latest ticks of the finish',
    '',
    '| at s | late ms | what ran on the loop meanwhile | GC overlapping, ms |',
    '|---:|---:|---|---|',
    ...store.finish.worstTicks.map((t) => `| ${(t.atMs / 1000).toFixed(2)} | ${ms(t.delayMs)} | ${t.activity.join(', ') || '(no callback over 0.25 ms)'} | ${t.gcMs.map(ms).join(', ') || '-'} |`),
    '',
  ];
  return lines.join('\n');
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const options = parseArgs(argv);
  if (options.child !== null) return childMain(options.child, runTask);
  const started = nowMs();
  const env = environment();
  const command = `npm run bench:eventloop${argv.length > 0 ? ` -- ${argv.join(' ')}` : ''}`;
  console.log(describeEnvironment(env));
  console.log(`command  ${command}\n`);
  const build = lociBuild();
  const vectorFile = await ensureVectorFile(options.items, (file, first, count) => inChild({ kind: 'generate', file, first, count }));
  const spec: Pipeline = { vectorFile, items: options.items, batch: options.batch, inFlight: options.inFlight, syncReads: options.syncReads };
  const tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'loci-eventloop-'));
  try {
    console.log(`idle: ${IDLE_SECONDS} s of probes alone...`);
    const idle = await inChild<IdleResult>({ kind: 'idle', seconds: IDLE_SECONDS });
    console.log(`store: ingesting ${options.items.toLocaleString('en-US')} items...`);
    const store = await inChild<StoreResult>({ kind: 'store', spec, dir: path.join(tempDir, 'store') });
    const harnessItems = Math.min(options.items, HARNESS_ITEMS);
    console.log(`harness: ${harnessItems.toLocaleString('en-US')} items through the pipeline at the store's pace, without a store...`);
    const harness = await inChild<HarnessResult>({ kind: 'harness', spec: { ...spec, items: harnessItems }, itemsPerSecond: store.itemsPerSecond });
    const buildEnd = lociBuild();
    const report: EventLoopReport = {
      environment: env,
      settings: {
        command,
        items: options.items,
        batch: options.batch,
        inFlight: options.inFlight,
        searchEveryMs: SEARCH_EVERY_MS,
        checkpoints: CHECKPOINTS,
        harnessItems,
        idleSeconds: IDLE_SECONDS,
        lociBuild: build,
        lociBuildEnd: buildEnd.addonSha256 === build.addonSha256 ? null : buildEnd,
        data: path.basename(vectorFile),
      },
      idle,
      harness,
      store,
      targets: [],
      totalSeconds: 0,
    };
    report.targets = evaluate(report);
    report.totalSeconds = (nowMs() - started) / 1000;
    publishReport('eventloop', markdown(report), report, options.write);
  } finally {
    fs.rmSync(tempDir, { recursive: true, force: true });
  }
}

runMain('eventloop', main);
