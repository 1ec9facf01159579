// The child side of bench/ingest.ts: each function runs in a process of its own and
// returns one phase's figures. A phase never shares a process with another, so an open
// is timed in a process that has not seen the store before (the OS page cache is warm,
// though: see the notes in the report).
import * as fs from 'node:fs';
import * as os from 'node:os';

import { Store, type Durability, type IndexKind, type Item, type StoreOptions } from '../../src/index';
import { buildItems, DIM, idOf, readRows, textOf } from './data';
import type { FirstTouch, FsyncBaseline, LatencySummary, OpenPhase, RecoverPhase, WritePhase } from './report';

const gc = (): void => (globalThis as { gc?: () => void }).gc?.();
const loadAverage = (): number[] => os.loadavg().map((x) => Math.round(x * 100) / 100);
const peakRssMiB = (): number => process.resourceUsage().maxRSS / 1024;

/** This process's write() bytes and the bytes it sent to storage (/proc/self/io; 0 where absent). */
function processIo(): { wchar: number; writeBytes: number } {
  try {
    const text = fs.readFileSync('/proc/self/io', 'utf8');
    const field = (name: string): number => Number(new RegExp(`^${name}: (\\d+)`, 'm').exec(text)?.[1] ?? 0);
    return { wchar: field('wchar'), writeBytes: field('write_bytes') };
  } catch {
    return { wchar: 0, writeBytes: 0 };
  }
}

export function summarize(latencies: Float64Array): LatencySummary {
  const sorted = Float64Array.from(latencies).sort();
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] as number;
  let sum = 0;
  for (const x of sorted) sum += x;
  return { count: sorted.length, meanMs: sum / sorted.length, p50Ms: at(0.5), p99Ms: at(0.99), p999Ms: at(0.999), maxMs: sorted[sorted.length - 1] as number };
}

// ---------------------------------------------------------------------------------------
// The bare fsync baseline

/** Appends `bytes` to a file then fdatasyncs it, `count` times after `warmup` untimed ones. */
export function fsyncBaseline(dir: string, count: number, warmup: number, bytes: number): FsyncBaseline {
  const file = `${dir}/fsync-baseline.bin`;
  const fd = fs.openSync(file, 'a');
  const buffer = Buffer.alloc(bytes, 0x5a);
  const latencies = new Float64Array(count);
  try {
    for (let i = 0; i < warmup + count; i++) {
      const start = performance.now();
      fs.writeSync(fd, buffer);
      fs.fdatasyncSync(fd);
      if (i >= warmup) latencies[i - warmup] = performance.now() - start;
    }
  } finally {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
  }
  return { writes: count, bytesPerWrite: bytes, latency: summarize(latencies), loadAverage: loadAverage() };
}

/**
 * What a replay pays to copy rows into memory it has not touched before: writes `bytes`
 * of memory this process has never touched (each page faulted in and zeroed by the
 * kernel), then the same bytes again. On a virtual machine the first touch also costs
 * the host whatever it takes to back guest memory, so it varies with the host's state
 * (run right after a replay, it mostly meets pages the host still backs: the fast case).
 */
export function firstTouchBaseline(bytes: number): FirstTouch {
  const memory = Buffer.allocUnsafeSlow(bytes);  // a fresh mapping: no page touched yet
  let started = performance.now();
  memory.fill(1);
  const firstMs = performance.now() - started;
  started = performance.now();
  memory.fill(2);
  const againMs = performance.now() - started;
  return { bytes, firstMs, firstGBps: bytes / firstMs / 1e6, againMs, againGBps: bytes / againMs / 1e6, loadAverage: loadAverage() };
}

// ---------------------------------------------------------------------------------------
// Writes

export interface WriteSpec {
  /** Undefined: the in-memory store. */
  dir?: string;
  durability?: Durability;
  index: IndexKind;
  /** Items per add() call. */
  batch: number;
  /** add() calls in flight at once (1: each awaited before the next). */
  inFlight: number;
  /** Items [first, first + count), rows [first, ...) of the vectors file. */
  first: number;
  count: number;
  vectorFile: string;
  /** Stop issuing calls after this many seconds (the count written is reported). */
  budgetSeconds: number;
  checkpointBytes?: number;
  /**
   * After the writes: 'crash' leaves the store open for the parent to SIGKILL this
   * process; 'checkpoint-close' times a checkpoint() then close(); 'close' closes.
   */
  then: 'crash' | 'checkpoint-close' | 'close';
  /**
   * Sequential single-item writes only: alternate blocks of `block` store writes with
   * blocks of bare append + fdatasync pairs (a file next to the store, same disk), so the
   * two are compared under the same conditions. On a shared disk fdatasync ranges from
   * ~0.2 ms to ~4 ms with what other processes commit to the same journal.
   */
  interleaveFsync?: { block: number; bytes: number };
}

export function storeOptions(spec: { durability?: Durability; index: IndexKind; checkpointBytes?: number }): StoreOptions {
  const options: StoreOptions = { dim: DIM, index: spec.index };
  if (spec.durability !== undefined) options.durability = spec.durability;
  if (spec.durability === 'interval') options.syncIntervalMs = 10;
  if (spec.checkpointBytes !== undefined) options.checkpointBytes = spec.checkpointBytes;
  return options;
}

/**
 * Issues add() calls, at most `inFlight` at a time, each timed from the call to the
 * settling of its Promise. Resolves with the number of calls made.
 */
function issueWrites(
  store: Store,
  calls: ReadonlyArray<Item | Item[]>,
  inFlight: number,
  budgetMs: number,
  latencies: Float64Array,
  checkpointCalls: { calls: number; ms: number } | null,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let next = 0;
    let active = 0;
    let failed = false;
    let checkpoints = store.stats().checkpoints;
    const launch = (): void => {
      while (!failed && active < inFlight && next < calls.length && performance.now() - started < budgetMs) {
        const index = next++;
        const start = performance.now();
        active++;
        store.add(calls[index] as Item | Item[]).then(
          () => {
            latencies[index] = performance.now() - start;
            if (checkpointCalls !== null) {
              // Sequential calls only: this call ran the automatic checkpoint it shows.
              const now = store.stats().checkpoints;
              if (now > checkpoints) {
                checkpointCalls.calls++;
                checkpointCalls.ms += latencies[index] as number;
                checkpoints = now;
              }
            }
            active--;
            launch();
          },
          (error: unknown) => {
            failed = true;
            reject(error);
          },
        );
      }
      if (active === 0 && !failed) resolve(next);
    };
    launch();
  });
}

/**
 * Single items one at a time, in blocks alternating with blocks of bare append +
 * fdatasync pairs. Items/s counts the time inside store writes only.
 */
async function interleavedWrites(
  store: Store,
  calls: readonly Item[],
  settings: { block: number; bytes: number },
  file: string,
  budgetMs: number,
  latencies: Float64Array,
): Promise<{ made: number; storeSeconds: number; baseline: FsyncBaseline }> {
  const fd = fs.openSync(file, 'a');
  const buffer = Buffer.alloc(settings.bytes, 0x5a);
  const bare: number[] = [];
  const started = performance.now();
  let made = 0;
  let storeMs = 0;
  try {
    while (made < calls.length && performance.now() - started < budgetMs) {
      for (let k = 0; k < settings.block; k++) {
        const start = performance.now();
        fs.writeSync(fd, buffer);
        fs.fdatasyncSync(fd);
        bare.push(performance.now() - start);
      }
      const end = Math.min(calls.length, made + settings.block);
      for (; made < end; made++) {
        const start = performance.now();
        await store.add(calls[made] as Item);
        latencies[made] = performance.now() - start;
        storeMs += latencies[made] as number;
      }
    }
  } finally {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
  }
  return { made, storeSeconds: storeMs / 1000, baseline: { writes: bare.length, bytesPerWrite: settings.bytes, latency: summarize(Float64Array.from(bare)), loadAverage: loadAverage() } };
}

export async function writePhase(spec: WriteSpec): Promise<WritePhase> {
  const loadAverageStart = loadAverage();
  const vectors = readRows(spec.vectorFile, spec.first, spec.count);
  const items = buildItems(vectors, spec.first, spec.count);
  const calls: Array<Item | Item[]> = [];
  for (let i = 0; i < items.length; i += spec.batch) calls.push(spec.batch === 1 ? (items[i] as Item) : items.slice(i, i + spec.batch));
  const store = spec.dir === undefined ? await Store.open(storeOptions(spec)) : await Store.open(spec.dir, storeOptions(spec));
  const before = store.stats();
  gc();
  const latencies = new Float64Array(calls.length);
  // Batches of 1000+ one at a time: which calls ran an automatic checkpoint, and for how long.
  const checkpointCalls = spec.dir !== undefined && spec.inFlight === 1 && spec.batch >= 1000 ? { calls: 0, ms: 0 } : null;
  const ioBefore = processIo();
  let made: number;
  let seconds: number;
  let fsyncInterleaved: FsyncBaseline | undefined;
  if (spec.interleaveFsync !== undefined && spec.dir !== undefined && spec.batch === 1 && spec.inFlight === 1) {
    const interleaved = await interleavedWrites(store, calls as Item[], spec.interleaveFsync, `${spec.dir}.fsync-baseline`, spec.budgetSeconds * 1000, latencies);
    made = interleaved.made;
    seconds = interleaved.storeSeconds;
    fsyncInterleaved = interleaved.baseline;
  } else {
    const started = performance.now();
    made = await issueWrites(store, calls, spec.inFlight, spec.budgetSeconds * 1000, latencies, checkpointCalls);
    seconds = (performance.now() - started) / 1000;
  }
  const ioAfter = processIo();
  const after = store.stats();
  const written = Math.min(made * spec.batch, spec.count);
  const phase: WritePhase = {
    items: written,
    calls: made,
    seconds,
    itemsPerSecond: written / seconds,
    latency: summarize(latencies.subarray(0, made)),
    stoppedByBudget: made < calls.length,
    groupCommits: after.groupCommits - before.groupCommits,
    batches: after.batches - before.batches,
    checkpoints: after.checkpoints - before.checkpoints,
    storeItems: after.items,
    lsn: after.lsn,
    checkpointLsn: after.checkpointLsn,
    walBytes: after.walBytes,
    diskBytes: after.diskBytes,
    peakRssMiB: peakRssMiB(),
    ioWriteCallBytes: ioAfter.wchar - ioBefore.wchar,
    ioStorageWriteBytes: ioAfter.writeBytes - ioBefore.writeBytes,
    loadAverageStart,
    loadAverageEnd: loadAverage(),
  };
  if (fsyncInterleaved !== undefined) phase.fsyncInterleaved = fsyncInterleaved;
  if (checkpointCalls !== null) {
    phase.checkpointCalls = checkpointCalls.calls;
    phase.checkpointCallsMs = checkpointCalls.ms;
  }
  if (spec.then === 'checkpoint-close') {
    const walBytes = store.stats().walBytes;
    let start = performance.now();
    await store.checkpoint();
    phase.checkpointMs = performance.now() - start;
    phase.checkpointWalBytes = walBytes;
    start = performance.now();
    await store.close();
    phase.closeMs = performance.now() - start;
  } else if (spec.then === 'close') {
    await store.close();
  }
  // 'crash': the store stays open; the parent SIGKILLs this process.
  return phase;
}

// ---------------------------------------------------------------------------------------
// Opens

export interface OpenSpec {
  dir: string;
  durability?: Durability;
  /** Items the store must hold after the open (a lost write fails the benchmark). */
  expectItems: number;
}

async function timedOpen(spec: OpenSpec): Promise<{ store: Store; phase: OpenPhase }> {
  gc();
  const started = performance.now();
  const store = await Store.open(spec.dir, spec.durability === undefined ? {} : { durability: spec.durability });
  const openMs = performance.now() - started;
  const size = store.size;
  if (size !== spec.expectItems) throw new Error(`${spec.dir}: reopened with ${size} items, expected ${spec.expectItems}`);
  // Stores here hold items [0, n): the newest, idOf(n - 1), must have come back whole.
  const last = store.get(idOf(size - 1));
  if (last.vector.length !== DIM || last.text !== textOf(size - 1)) throw new Error(`${spec.dir}: item ${last.id} came back damaged`);
  const { replayedRecords, loadMs, replayMs, note } = store.recovery;
  return { store, phase: { openMs, loadMs, replayMs, replayedRecords, items: size, note, peakRssMiB: peakRssMiB() } };
}

export async function reopenPhase(spec: OpenSpec): Promise<OpenPhase> {
  const { store, phase } = await timedOpen(spec);
  const started = performance.now();
  await store.close();
  phase.closeMs = performance.now() - started;
  return phase;
}

/**
 * The crash reopen alone: replays the WAL and leaves the store open for the parent's
 * SIGKILL, so the WAL is still there for the next replay (nothing is checkpointed).
 */
export async function replayPhase(spec: OpenSpec): Promise<OpenPhase> {
  const { phase } = await timedOpen(spec);
  return phase;
}

export async function recoverPhase(spec: OpenSpec): Promise<RecoverPhase> {
  const { store, phase } = await timedOpen(spec);
  const before = store.stats();
  let started = performance.now();
  await store.checkpoint();
  const checkpointMs = performance.now() - started;
  const after = store.stats();
  started = performance.now();
  await store.close();
  const closeMs = performance.now() - started;
  return {
    ...phase,
    checkpointMs,
    checkpointWalBytes: before.walBytes,
    checkpointDiskBytes: after.diskBytes,
    closeMs,
  };
}
