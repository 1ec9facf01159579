// What bench/ingest.ts writes: the result types, the targets and the Markdown report.
import { median, type Environment } from '../lib/report';

export interface LatencySummary {
  count: number;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
}

export interface FsyncBaseline {
  writes: number;
  bytesPerWrite: number;
  /** Per append + fdatasync pair. */
  latency: LatencySummary;
  loadAverage: number[];
}

export interface RatioRound {
  none: number;
  interval: number;
  sync: number;
}

/** firstTouchBaseline(): writing fresh memory, then the same memory again. */
export interface FirstTouch {
  bytes: number;
  firstMs: number;
  firstGBps: number;
  againMs: number;
  againGBps: number;
  loadAverage: number[];
}

export interface WritePhase {
  /** Items written (fewer than asked if the time budget ran out). */
  items: number;
  /** add() calls made. */
  calls: number;
  seconds: number;
  itemsPerSecond: number;
  /** Per add() call, from the call to the settling of its Promise. */
  latency: LatencySummary;
  stoppedByBudget: boolean;
  /** stats() deltas over the writes: group commits, the batches they held, automatic checkpoints. */
  groupCommits: number;
  batches: number;
  checkpoints: number;
  /** stats() after the writes. */
  storeItems: number;
  lsn: number;
  checkpointLsn: number;
  walBytes: number;
  diskBytes: number;
  peakRssMiB: number;
  /** /proc/self/io deltas over the writes: bytes passed to write(), bytes sent to storage. */
  ioWriteCallBytes: number;
  ioStorageWriteBytes: number;
  /** Durable batches of 1000, one at a time: calls that ran an automatic checkpoint, and their summed latency. */
  checkpointCalls?: number;
  checkpointCallsMs?: number;
  loadAverageStart: number[];
  loadAverageEnd: number[];
  /** Sequential sync single items: the bare append + fdatasync pairs interleaved with the writes. */
  fsyncInterleaved?: FsyncBaseline;
  /** then = 'checkpoint-close': a checkpoint() right after the writes, and the close(). */
  checkpointMs?: number;
  checkpointWalBytes?: number;
  closeMs?: number;
}

export interface OpenPhase {
  /** Wall time of Store.open(dir) in a fresh process, to the resolved Promise. */
  openMs: number;
  /** store.recovery: checkpoint load and WAL replay inside the open. */
  loadMs: number;
  replayMs: number;
  replayedRecords: number;
  items: number;
  note: string;
  peakRssMiB: number;
  closeMs?: number;
}

/** The open after a crash, then a checkpoint() of the loaded store and its close(). */
export interface RecoverPhase extends OpenPhase {
  checkpointMs: number;
  /** WAL bytes the checkpoint folded in, and stats().diskBytes after it. */
  checkpointWalBytes: number;
  checkpointDiskBytes: number;
  closeMs: number;
}

export interface CaseResult {
  name: string;
  store: 'memory' | 'durable';
  durability: 'none' | 'interval' | 'sync' | null;
  index: 'flat' | 'atlas';
  batch: number;
  inFlight: number;
  status: 'ok' | 'failed';
  reason?: string;
  write?: WritePhase;
  /** Reopen after the writer was SIGKILLed (WAL replay), then checkpoint and close. */
  crash?: RecoverPhase;
  /** Items the crash open replayed (records x items per record). */
  replayedItems?: number;
  /** Reopen after that clean close. */
  reopen?: OpenPhase;
  /** du of the directory after the clean close (allocated bytes), and per item. */
  diskBytes?: number;
  diskBytesPerItem?: number;
}

export interface MillionResult {
  items: number;
  tailItems: number;
  status: 'ok' | 'failed';
  reason?: string;
  /** none, batch 1000, default options; then a timed checkpoint() and close(). */
  build?: WritePhase;
  diskBytes?: number;
  diskBytesPerItem?: number;
  /** Reopens after the clean close, each in a process of its own, in run order. */
  reopens?: OpenPhase[];
  /** The one of `reopens` with the median open time. */
  reopen?: OpenPhase;
  /** The tail: batch 1, 64 in flight, none, then SIGKILL. */
  tail?: WritePhase;
  /**
   * Reopens after that crash, in run order, each in a process of its own: all but the
   * last are SIGKILLed once open (so the next replays the same WAL); the last is
   * `crash`. Each replay is followed by a first-touch baseline of the replayed rows'
   * bytes (`firstTouch`, same index).
   */
  replays?: OpenPhase[];
  firstTouch?: FirstTouch[];
  /** The last reopen after the crash, then checkpoint and close. */
  crash?: RecoverPhase;
}

const replayRate = (p: OpenPhase): number => p.replayedRecords / (p.replayMs / 1000);

/** The element with the median key (the upper one of an even count). */
export function medianBy<T>(values: T[], key: (value: T) => number): T {
  const sorted = [...values].sort((a, b) => key(a) - key(b));
  return sorted[Math.floor(sorted.length / 2)] as T;
}

export interface Target {
  name: string;
  goal: string;
  measured: string;
  /** null: not measured in this run. */
  pass: boolean | null;
}

export interface IngestReport {
  environment: Environment;
  settings: {
    command: string;
    quick: boolean;
    items: number;
    millionItems: number | null;
    tailItems: number | null;
    concurrentInFlight: number;
    syncSequentialBudgetSeconds: number;
    tempDir: string;
    disk: string;
    lociBuild: { commit: string; uncommittedChanges: boolean; addonSha256: string; addonModified: string };
    data: string;
  };
  /** Bare append + fdatasync pairs at the start and at the end of the run. */
  fsync: FsyncBaseline;
  fsyncEnd: FsyncBaseline | null;
  /** The addon at the end of the run, if it changed meanwhile (another build ran). */
  lociBuildEnd: IngestReport['settings']['lociBuild'] | null;
  cases: CaseResult[];
  /**
   * Batches of 1000, flat: rounds of none, interval and sync writes (a process each, one
   * after another, then close), items/s. The interval and sync targets take the median
   * of the per-round ratios: one case each swings by 10-20% from run to run with when
   * its automatic checkpoints land.
   */
  ratioRounds?: RatioRound[];
  million: MillionResult | null;
  targets: Target[];
  totalSeconds: number;
}

// ---------------------------------------------------------------------------------------
// Targets

const findCase = (report: IngestReport, durability: string | null, batch: number, inFlight: number, index = 'flat'): CaseResult | undefined =>
  report.cases.find((c) => c.status === 'ok' && c.durability === durability && c.batch === batch && c.inFlight === inFlight && c.index === index);

function ratioTarget(report: IngestReport, name: string, durability: 'interval' | 'sync', batch: number, inFlight: number, minimum: number): Target {
  const goal = `>= ${Math.round(minimum * 100)}% of none's items/s`;
  const rounds = report.ratioRounds ?? [];
  if (batch === 1000 && inFlight === 1 && rounds.length > 0) {
    // Paired rounds: each ratio compares writes run one after the other.
    const ratios = rounds.map((r) => r[durability] / r.none);
    const middle = median(ratios);
    return {
      name,
      goal,
      measured: `${pct(middle)}, median of ${rounds.length} paired rounds (${ratios.map(pct).join(', ')})`,
      pass: middle >= minimum,
    };
  }
  const subject = findCase(report, durability, batch, inFlight);
  const none = findCase(report, 'none', batch, inFlight);
  if (!subject?.write || !none?.write) return { name, goal, measured: 'not measured', pass: null };
  const ratio = subject.write.itemsPerSecond / none.write.itemsPerSecond;
  return { name, goal, measured: `${pct(ratio)} (${int(subject.write.itemsPerSecond)} vs ${int(none.write.itemsPerSecond)} items/s)`, pass: ratio >= minimum };
}

export function evaluateTargets(report: IngestReport): Target[] {
  const targets: Target[] = [
    ratioTarget(report, 'interval ingest, batches of 1000', 'interval', 1000, 1, 0.95),
    ratioTarget(report, 'sync ingest, batches of 1000', 'sync', 1000, 1, 0.85),
  ];
  const single = findCase(report, 'sync', 1, 1);
  if (single?.write) {
    // The bare pairs interleaved with the writes (same moment, same disk); the run's
    // separate baseline if there are none.
    const bare = single.write.fsyncInterleaved ?? report.fsync;
    const ratio = single.write.latency.p50Ms / bare.latency.p50Ms;
    targets.push({
      name: 'single-item sync write latency (p50, one at a time)',
      goal: '<= 1.5x bare fsync p50',
      measured: `${ratio.toFixed(2)}x (${ms(single.write.latency.p50Ms)} vs ${ms(bare.latency.p50Ms)} ms${single.write.fsyncInterleaved ? ' interleaved' : ''}; p99 ${ms(single.write.latency.p99Ms)} vs ${ms(bare.latency.p99Ms)} ms)`,
      pass: ratio <= 1.5,
    });
  } else {
    targets.push({ name: 'single-item sync write latency (p50, one at a time)', goal: '<= 1.5x bare fsync p50', measured: 'not measured', pass: null });
  }
  const million = report.million;
  if (million?.reopen) {
    const opens = million.reopens ?? [million.reopen];
    targets.push({
      name: `reopen of ${int(million.items)} items after a clean close`,
      goal: '< 1 s',
      measured: `${sec(million.reopen.openMs)} s, median of ${opens.length} (${opens.map((o) => sec(o.openMs)).join(', ')} s; checkpoint load ${sec(million.reopen.loadMs)} s in the median one)`,
      pass: million.reopen.openMs < 1000,
    });
  } else {
    targets.push({ name: 'reopen of 1M items after a clean close', goal: '< 1 s', measured: 'not measured (no 1M run)', pass: null });
  }
  if (million?.crash) {
    const replays = million.replays ?? [million.crash];
    const middle = medianBy(replays, replayRate);
    const touch = million.firstTouch ?? [];
    const touchNote =
      touch.length > 0
        ? `; first touch of that many fresh bytes right after each: ${touch.map((t) => `${t.firstGBps.toFixed(2)}`).join(', ')} GB/s`
        : '';
    targets.push({
      name: `crash replay (${int(middle.replayedRecords)} single-item records onto ${int(million.items)} items)`,
      goal: '>= 500,000 records/s',
      measured: `${int(replayRate(middle))} records/s, median of ${replays.length} (${replays.map((r) => int(replayRate(r))).join(', ')})${touchNote}`,
      pass: replayRate(middle) >= 500_000,
    });
  } else {
    // Without the 1M run: the single-item WAL replays of the 100K cases.
    const replays = report.cases.filter((c) => c.crash && c.batch === 1 && c.crash.replayedRecords >= 1000);
    if (replays.length > 0) {
      const best = replays.reduce((a, b) => (recordsPerSecond(a) < recordsPerSecond(b) ? a : b));
      targets.push({
        name: `crash replay (${best.name}: ${int(best.crash!.replayedRecords)} records)`,
        goal: '>= 500,000 records/s',
        measured: `${int(recordsPerSecond(best))} records/s (slowest single-item WAL)`,
        pass: recordsPerSecond(best) >= 500_000,
      });
    } else {
      targets.push({ name: 'crash replay', goal: '>= 500,000 records/s', measured: 'not measured', pass: null });
    }
  }
  return targets;
}

const recordsPerSecond = (c: CaseResult): number => (c.crash ? c.crash.replayedRecords / (c.crash.replayMs / 1000) : 0);

// ---------------------------------------------------------------------------------------
// Formatting

const int = (x: number): string => Math.round(x).toLocaleString('en-US');
const ms = (x: number): string => (x >= 100 ? int(x) : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toFixed(3));
const sec = (x: number): string => (x / 1000).toFixed(x >= 10_000 ? 1 : 2);
const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
const mib = (x: number): string => int(x / 2 ** 20);
const verdict = (pass: boolean | null): string => (pass === null ? 'not measured' : pass ? '**pass**' : '**miss**');

export function caseLabel(c: Pick<CaseResult, 'store' | 'durability' | 'index' | 'batch' | 'inFlight'>): string {
  const mode = c.store === 'memory' ? 'memory' : (c.durability as string);
  return `${c.index === 'atlas' ? 'atlas ' : ''}${mode} b${c.batch}${c.inFlight > 1 ? ` x${c.inFlight}` : ''}`;
}

/** One line per case for the console. */
export function caseLine(c: CaseResult): string {
  if (c.status !== 'ok' || !c.write) return `${c.name.padEnd(22)} FAILED: ${c.reason ?? 'no result'}`;
  const w = c.write;
  const parts = [
    `${c.name.padEnd(22)} ${int(w.items).padStart(9)} items ${int(w.itemsPerSecond).padStart(9)} items/s`,
    `p50 ${ms(w.latency.p50Ms)} p99 ${ms(w.latency.p99Ms)} max ${ms(w.latency.maxMs)} ms`,
  ];
  if (c.store === 'durable') {
    parts.push(`groups ${int(w.groupCommits)}/${int(w.batches)} batches, ${w.checkpoints} auto ckpt${w.checkpointCallsMs === undefined ? '' : ` (${ms(w.checkpointCallsMs)} ms)`}, write() ${int(w.ioWriteCallBytes / w.items)} B/item`);
  }
  if (c.crash) {
    parts.push(
      `crash open ${ms(c.crash.openMs)} ms (replay ${int(c.crash.replayedRecords)} rec = ${int(c.replayedItems ?? 0)} items in ${ms(c.crash.replayMs)} ms)`,
      `ckpt ${ms(c.crash.checkpointMs)} ms`,
    );
  }
  if (c.reopen) parts.push(`clean open ${ms(c.reopen.openMs)} ms`);
  if (c.diskBytesPerItem !== undefined) parts.push(`${int(c.diskBytesPerItem)} B/item`);
  return parts.join(' | ');
}

function checkpointCell(w: WritePhase): string {
  if (w.checkpointCallsMs === undefined || w.checkpoints === 0) return `${w.checkpoints}`;
  return `${w.checkpoints} (${sec(w.checkpointCallsMs)} s, ${pct(w.checkpointCallsMs / 1000 / w.seconds)})`;
}

function writesTable(report: IngestReport): string[] {
  const lines = [
    '| case | items | items/s | vs none | vs memory | p50 ms | p99 ms | p99.9 ms | max ms | group commits / batches | auto checkpoints (time in them) | write() B/item |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const c of report.cases) {
    if (c.status !== 'ok' || !c.write) {
      lines.push(`| ${c.name} | failed: ${(c.reason ?? '').split('\n')[0]} | | | | | | | | | | |`);
      continue;
    }
    const w = c.write;
    const none = findCase(report, 'none', c.batch, c.inFlight, c.index);
    const memory = findCase(report, null, c.batch, c.inFlight, c.index);
    const versus = (other: CaseResult | undefined): string => (other?.write && other !== c ? pct(w.itemsPerSecond / other.write.itemsPerSecond) : '-');
    lines.push(
      `| ${c.name} | ${int(w.items)}${w.stoppedByBudget ? ' (time budget)' : ''} | ${int(w.itemsPerSecond)} | ${versus(none)} | ${versus(memory)} | ${ms(w.latency.p50Ms)} | ${ms(w.latency.p99Ms)} | ${ms(w.latency.p999Ms)} | ${ms(w.latency.maxMs)} | ${c.store === 'durable' ? `${int(w.groupCommits)} / ${int(w.batches)}` : '-'} | ${c.store === 'durable' ? checkpointCell(w) : '-'} | ${c.store === 'durable' ? int(w.ioWriteCallBytes / w.items) : '-'} |`,
    );
  }
  return lines;
}

function interleavedNote(report: IngestReport): string[] {
  const single = findCase(report, 'sync', 1, 1);
  const bare = single?.write?.fsyncInterleaved;
  if (!single?.write || !bare) return [];
  const w = single.write;
  return [
    `\`sync b1\` ran in blocks of 50 writes alternating with blocks of 50 bare append (${bare.bytesPerWrite} B) + fdatasync pairs on the same disk: bare p50 ${ms(bare.latency.p50Ms)} ms, p99 ${ms(bare.latency.p99Ms)} ms, mean ${ms(bare.latency.meanMs)} ms (${int(bare.writes)} pairs) against the writes' p50 ${ms(w.latency.p50Ms)} ms, p99 ${ms(w.latency.p99Ms)} ms, mean ${ms(w.latency.meanMs)} ms. Its items/s counts the time inside writes only.`,
    '',
  ];
}

function recoveryTable(report: IngestReport): string[] {
  const lines = [
    '| case | store items | disk B/item | crash: open ms | load ms | replayed records (items) | replay ms | replayed items/s | then checkpoint ms (WAL MiB folded) | clean reopen ms (load ms) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const c of report.cases) {
    if (c.status !== 'ok' || c.store !== 'durable' || !c.crash) continue;
    const r = c.crash;
    const rate = r.replayMs > 0 ? int((c.replayedItems ?? 0) / (r.replayMs / 1000)) : '-';
    lines.push(
      `| ${c.name} | ${int(r.items)} | ${c.diskBytesPerItem === undefined ? '-' : int(c.diskBytesPerItem)} | ${ms(r.openMs)} | ${ms(r.loadMs)} | ${int(r.replayedRecords)} (${int(c.replayedItems ?? 0)}) | ${ms(r.replayMs)} | ${rate} | ${ms(r.checkpointMs)} (${mib(r.checkpointWalBytes)}) | ${c.reopen ? `${ms(c.reopen.openMs)} (${ms(c.reopen.loadMs)})` : '-'} |`,
    );
  }
  return lines;
}

function roundsSection(report: IngestReport): string[] {
  const rounds = report.ratioRounds ?? [];
  if (rounds.length === 0) return [];
  return [
    `### Paired rounds, batches of 1000 (the interval and sync targets)`,
    '',
    `${rounds.length} rounds of ${int(report.settings.items)} items written with none, interval and sync, one after another in an order that rotates by round (a process each, then close()); a ratio compares the writes of one round.`,
    '',
    '| round | none items/s | interval items/s (vs none) | sync items/s (vs none) |',
    '|---:|---:|---:|---:|',
    ...rounds.map((r, i) => `| ${i + 1} | ${int(r.none)} | ${int(r.interval)} (${pct(r.interval / r.none)}) | ${int(r.sync)} (${pct(r.sync / r.none)}) |`),
    '',
  ];
}

function millionSection(m: MillionResult): string[] {
  const lines = [`## ${int(m.items)} items`, ''];
  if (m.status !== 'ok') lines.push(`Failed: ${m.reason ?? 'no result'}`, '');
  const rows: string[][] = [];
  if (m.build) {
    const b = m.build;
    rows.push([
      `ingest ${int(m.items)} (none, batches of 1000, default options)`,
      `${int(b.itemsPerSecond)} items/s in ${b.seconds.toFixed(1)} s; per call p50 ${ms(b.latency.p50Ms)} ms, p99 ${ms(b.latency.p99Ms)} ms, max ${ms(b.latency.maxMs)} ms; ${b.checkpoints} automatic checkpoints inside ${b.checkpointCallsMs === undefined ? '?' : `${sec(b.checkpointCallsMs)} s of calls (${pct(b.checkpointCallsMs / 1000 / b.seconds)} of the time)`}; write() ${mib(b.ioWriteCallBytes)} MiB = ${int(b.ioWriteCallBytes / b.items)} B/item, to storage ${mib(b.ioStorageWriteBytes)} MiB; peak RSS ${int(b.peakRssMiB)} MiB`,
    ]);
    if (b.checkpointMs !== undefined) {
      rows.push([`checkpoint() of the loaded store`, `${sec(b.checkpointMs)} s (folding ${mib(b.checkpointWalBytes ?? 0)} MiB of WAL; stats().diskBytes ${mib(b.diskBytes)} MiB before)`]);
    }
    if (b.closeMs !== undefined) rows.push(['close() after it', `${ms(b.closeMs)} ms`]);
  }
  if (m.diskBytes !== undefined) rows.push(['on disk after the clean close (du)', `${mib(m.diskBytes)} MiB, ${int(m.diskBytesPerItem ?? 0)} B/item`]);
  for (const [i, r] of (m.reopens ?? (m.reopen ? [m.reopen] : [])).entries()) {
    rows.push([`reopen ${i + 1} after the clean close${r.openMs === m.reopen?.openMs ? ' (the median)' : ''}`, `${sec(r.openMs)} s (checkpoint load ${sec(r.loadMs)} s, replay ${ms(r.replayMs)} ms of ${r.replayedRecords} records); peak RSS ${int(r.peakRssMiB)} MiB`]);
  }
  if (m.tail) {
    const t = m.tail;
    rows.push([
      `tail: ${int(m.tailItems)} more items, batch 1, ${t.batches > 0 ? `${(t.batches / Math.max(1, t.groupCommits)).toFixed(1)} batches per group commit` : ''}, none, then SIGKILL`,
      `${int(t.itemsPerSecond)} items/s, p50 ${ms(t.latency.p50Ms)} ms, p99 ${ms(t.latency.p99Ms)} ms; WAL ${mib(t.walBytes)} MiB at the kill, ${t.checkpoints} automatic checkpoints`,
    ]);
  }
  for (const [i, r] of (m.replays ?? []).entries()) {
    const t = m.firstTouch?.[i];
    rows.push([
      `reopen ${i + 1} after the crash${r === m.replays?.[m.replays.length - 1] ? ' (then checkpoint and close)' : ' (then SIGKILL)'}`,
      `${sec(r.openMs)} s: load ${sec(r.loadMs)} s + replay ${sec(r.replayMs)} s = ${int(replayRate(r))} records/s` +
        (t ? `; then first touch of ${mib(t.bytes)} MiB of fresh memory ${t.firstGBps.toFixed(2)} GB/s (${ms(t.firstMs)} ms), rewritten ${t.againGBps.toFixed(1)} GB/s` : ''),
    ]);
  }
  if (m.crash) {
    const c = m.crash;
    if (!m.replays) rows.push([
      `reopen after the crash (${int(c.replayedRecords)} records replayed onto the checkpoint)`,
      `${sec(c.openMs)} s: checkpoint load ${sec(c.loadMs)} s + replay ${sec(c.replayMs)} s = ${int(c.replayedRecords / (c.replayMs / 1000))} records/s; ${int(c.items)} items after; peak RSS ${int(c.peakRssMiB)} MiB`,
    ]);
    rows.push([`checkpoint() of the recovered store, then close()`, `${sec(c.checkpointMs)} s (folding ${mib(c.checkpointWalBytes)} MiB of WAL), close ${ms(c.closeMs)} ms`]);
  }
  lines.push('| step | result |', '|---|---|', ...rows.map((r) => `| ${r[0]} | ${r[1]} |`), '');
  return lines;
}

export function markdown(report: IngestReport): string {
  const s = report.settings;
  const e = report.environment;
  const f = report.fsync;
  const lines = [
    '# Ingest benchmark',
    '',
    `768-d vectors (seeded Gaussian mixture, as clustered-100k) with ~500-byte texts and ~110-byte JSON meta, written through \`Store.add\`. ${int(s.items)} items per case${s.quick ? ' (quick run)' : ''}; every phase of a case (write, reopen after a crash, reopen after a clean close) in a process of its own.`,
    '',
    '```',
    `date     ${e.date}`,
    `cpu      ${e.cpu} (${e.cores} cores, ${e.memoryGiB} GiB), kernels ${e.isa}`,
    `runtime  node ${e.node}, ${e.platform}, commit ${e.commit}`,
    `load     ${e.loadAverage.join(' ')} at start (per-phase load in the JSON)`,
    `command  ${s.command}`,
    `disk     ${s.disk}`,
    `loci     commit ${s.lociBuild.commit}${s.lociBuild.uncommittedChanges ? ' + uncommitted native/src changes' : ''}, addon sha256 ${s.lociBuild.addonSha256} (built ${s.lociBuild.addonModified})`,
    `fsync    append ${f.bytesPerWrite} B + fdatasync: p50 ${ms(f.latency.p50Ms)} ms, p99 ${ms(f.latency.p99Ms)} ms, mean ${ms(f.latency.meanMs)} ms (${int(f.writes)} pairs at the start)${report.fsyncEnd ? `; at the end p50 ${ms(report.fsyncEnd.latency.p50Ms)} ms, p99 ${ms(report.fsyncEnd.latency.p99Ms)} ms` : ''}`,
    ...(report.lociBuildEnd ? [`WARNING  the addon changed during the run: sha256 ${report.lociBuildEnd.addonSha256} at the end (built ${report.lociBuildEnd.addonModified})`] : []),
    `total    ${(report.totalSeconds / 60).toFixed(1)} min`,
    '```',
    '',
    '## Targets',
    '',
    '| target | goal | measured | result |',
    '|---|---|---|---|',
    ...report.targets.map((t) => `| ${t.name} | ${t.goal} | ${t.measured} | ${verdict(t.pass)} |`),
    '',
    `## Writes, ${int(s.items)} items per case`,
    '',
    `\`b1\`: one item per \`add()\`; \`b1000\`: 1,000. \`x${s.concurrentInFlight}\`: ${s.concurrentInFlight} calls in flight at once (otherwise each call is awaited before the next). Latency is per call, from the call to its settled Promise. Group commits / batches: \`stats()\` deltas (batches per group = calls sharing one WAL write and fsync). \`sync b1\` stops after ${s.syncSequentialBudgetSeconds} s.`,
    '',
    ...writesTable(report),
    '',
    ...interleavedNote(report),
    ...roundsSection(report),
    '## Durability and recovery',
    '',
    'After its writes each durable case is SIGKILLed (no close, so no final checkpoint): the next process reopens it and replays the WAL written since the last automatic checkpoint (crash columns), times a `checkpoint()` of the loaded store and closes it; a third process reopens it after that clean close. Disk bytes: `du` of the directory after the clean close.',
    '',
    ...recoveryTable(report),
    '',
    ...(report.million ? millionSection(report.million) : []),
    '## Method and caveats',
    '',
    '- Data: vectors generated once per machine into `bench/.cache/` (not timed); texts and meta built before the clock starts. Store options are the defaults (metric cosine, `checkpointBytes` 64 MiB or a quarter of the checkpoint files) except `durability`, `syncIntervalMs: 10` for interval, and `index`.',
    `- Temporary stores live in ${s.tempDir} (${s.disk}); each case's directory is removed after it.`,
    '- Opens are timed in a fresh process, but the OS page cache still holds the files just written: these are warm-cache opens, not cold-disk ones.',
    '- The in-memory store (`Store.open({ dim })`) is the baseline with no WAL, arena or checkpoint.',
    ...(report.million
      ? [
          `- ${int(report.million.items)} items: built in one process (none, batches of 1000, default options, so automatic checkpoints run during the build), then \`checkpoint()\` and \`close()\`. The crash tail adds ${int(report.million.tailItems)} items one per call (64 in flight) with \`checkpointBytes\` raised so none of them is checkpointed, then the process is SIGKILLed: about what a default store of this size can hold in its WAL (a quarter of the checkpoint files) just before its next automatic checkpoint. Replay records/s = replayedRecords / replayMs. The clean reopen and the crash reopen are each run ${report.million.reopens ? report.million.reopens.length : 1} times (a process each; the crash reopens but the last are SIGKILLed once open, so each replays the same WAL) and the target takes the median. After each crash reopen a fresh process writes as many bytes of memory it has never touched as the replayed rows hold (Buffer.allocUnsafeSlow + fill, 4 KiB pages) and then writes them again. Replay copies each row into memory the process has not touched before, so the first-touch rate bounds it; but on a virtual machine a first touch is fast only if the host still backs the guest page (e.g. one the previous process just freed) and several times slower if not, so this baseline, run right after a replay, is the fast case and the replay may have met the slow one.`,
        ]
      : []),
    '',
  ];
  return lines.join('\n');
}
