// The probes bench:eventloop measures with (bench/eventloop.ts has the phases and the
// report): monitorEventLoopDelay with a 1 ms hrtime probe and a GC observer (LoopProbe),
// the time each call holds the loop (CallTimes), and every loop callback timed by kind
// through async_hooks (CallbackClock).
import { createHook } from 'node:async_hooks';
import { monitorEventLoopDelay, PerformanceObserver, type IntervalHistogram, type PerformanceEntry } from 'node:perf_hooks';

import type { LatencySummary } from '../ingest/report';
import { summarize } from '../ingest/workloads';

export const TARGET_MS = 1;
export const WORST_TICKS = 12;
/** Callbacks longer than this are named in the late-tick list. */
export const NOTE_CALLBACK_MS = 0.25;

export const ms = (x: number): string => (x < 10 ? x.toFixed(3) : x.toFixed(1));
export const SYNC = ' (sync)';

export interface DelaySummary {
  /** Timer intervals recorded. */
  samples: number;
  /** Interval minus the 1 ms period, ms. */
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  /** Approximate share of intervals more than 1 ms late (from the histogram's percentiles). */
  lateOver1MsShare: number;
}

export interface LateTick {
  /** ms since the phase started */
  atMs: number;
  delayMs: number;
  /** What the harness did on the loop since the tick before (calls, settles, slices). */
  activity: string[];
  /** GC pauses that overlapped the late interval, ms each. */
  gcMs: number[];
}

export interface GcSummary {
  count: number;
  totalMs: number;
  p99Ms: number;
  maxMs: number;
  over1Ms: number;
  /** Pauses by kind (minor = scavenge, major = mark-compact, incremental, weakcb): count and max ms. */
  byKind: Record<string, { count: number; maxMs: number }>;
}

export const GC_KINDS: Record<number, string> = { 1: 'minor', 2: 'major', 4: 'incremental', 8: 'weakcb' };

export interface PhaseProbe {
  seconds: number;
  monitor: DelaySummary;
  probe: DelaySummary;
  worstTicks: LateTick[];
  gc: GcSummary;
}

/** A growable array of doubles (per-sample arrays of a 1M-item run stay off the JS heap). */
export class Samples {
  private data = new Float64Array(1024);
  length = 0;
  push(value: number): void {
    if (this.length === this.data.length) {
      const grown = new Float64Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    this.data[this.length++] = value;
  }
  view(): Float64Array {
    return this.data.subarray(0, this.length);
  }
}

export const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

/**
 * monitorEventLoopDelay plus a 1 ms setInterval probe and a GC observer, from start()
 * to stop(). note() labels what the harness does on the loop, for the late-tick list.
 */
export class LoopProbe {
  private readonly histogram: IntervalHistogram = monitorEventLoopDelay({ resolution: 1 });
  private readonly delays = new Samples();
  private readonly tickAt = new Samples();
  private readonly gcStart = new Samples();
  private readonly gcDuration = new Samples();
  private readonly gcKind = new Samples();
  private readonly activity = new Set<string>();
  private readonly late: LateTick[] = [];
  private timer: NodeJS.Timeout | null = null;
  private observer: PerformanceObserver | null = null;
  private startedAt = 0;
  private lastTick = 0;

  start(): void {
    this.observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) this.recordGc(entry);
    });
    this.observer.observe({ entryTypes: ['gc'] });
    this.histogram.enable();
    this.startedAt = nowMs();
    this.lastTick = this.startedAt;
    this.timer = setInterval(() => this.tick(), 1);
  }

  private recordGc(entry: PerformanceEntry): void {
    this.gcStart.push(entry.startTime);
    this.gcDuration.push(entry.duration);
    this.gcKind.push((entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind ?? 0);
  }

  note(what: string): void {
    this.activity.add(what);
  }

  private tick(): void {
    const now = nowMs();
    const delay = Math.max(0, now - this.lastTick - 1);
    this.delays.push(delay);
    this.tickAt.push(this.lastTick - this.startedAt);
    if (delay > TARGET_MS) {
      // Keep the worst few with what ran meanwhile (GC overlap is matched at the end).
      this.late.push({ atMs: this.lastTick - this.startedAt, delayMs: delay, activity: [...this.activity], gcMs: [] });
      if (this.late.length > WORST_TICKS * 4) {
        this.late.sort((a, b) => b.delayMs - a.delayMs);
        this.late.length = WORST_TICKS;
      }
    }
    this.activity.clear();
    this.lastTick = now;
  }

  stop(): PhaseProbe {
    if (this.timer !== null) clearInterval(this.timer);
    this.histogram.disable();
    const seconds = (nowMs() - this.startedAt) / 1000;
    // Deliver buffered GC entries before disconnecting.
    const pending = this.observer?.takeRecords() ?? [];
    for (const entry of pending) this.recordGc(entry);
    this.observer?.disconnect();
    const h = this.histogram;
    const late = (ns: number): number => Math.max(0, ns / 1e6 - 1);
    let lateShare = 0;
    for (const [percentile, value] of h.percentiles) {
      if (late(value) > TARGET_MS) {
        lateShare = 1 - percentile / 100;
        break;
      }
    }
    const monitor: DelaySummary = {
      samples: h.count,
      p50Ms: late(h.percentile(50)),
      p99Ms: late(h.percentile(99)),
      p999Ms: late(h.percentile(99.9)),
      maxMs: late(h.max),
      lateOver1MsShare: lateShare,
    };
    const probeSummary = summarize(this.delays.view());
    const delays = this.delays.view();
    let over = 0;
    for (const d of delays) if (d > TARGET_MS) over++;
    const probe: DelaySummary = {
      samples: probeSummary.count,
      p50Ms: probeSummary.p50Ms,
      p99Ms: probeSummary.p99Ms,
      p999Ms: probeSummary.p999Ms,
      maxMs: probeSummary.maxMs,
      lateOver1MsShare: over / Math.max(1, delays.length),
    };
    // GC entry times are performance.now() based; the probe's are hrtime based.
    const offset = performance.now() - nowMs();
    const worstTicks = this.late.sort((a, b) => b.delayMs - a.delayMs).slice(0, WORST_TICKS);
    const gcStart = this.gcStart.view();
    const gcDuration = this.gcDuration.view();
    for (const tick of worstTicks) {
      const from = this.startedAt + tick.atMs + offset;
      const to = from + 1 + tick.delayMs;
      for (let i = 0; i < gcStart.length; i++) {
        const start = gcStart[i] as number;
        if (start < to && start + (gcDuration[i] as number) > from) tick.gcMs.push(gcDuration[i] as number);
      }
    }
    const gcSummary = summarize(gcDuration.length > 0 ? gcDuration : new Float64Array([0]));
    let total = 0;
    let gcOver = 0;
    const byKind: GcSummary['byKind'] = {};
    const gcKind = this.gcKind.view();
    for (let i = 0; i < gcDuration.length; i++) {
      const d = gcDuration[i] as number;
      total += d;
      if (d > TARGET_MS) gcOver++;
      const kind = GC_KINDS[gcKind[i] as number] ?? `kind ${gcKind[i]}`;
      const entry = (byKind[kind] ??= { count: 0, maxMs: 0 });
      entry.count++;
      entry.maxMs = Math.max(entry.maxMs, d);
    }
    return {
      seconds,
      monitor,
      probe,
      worstTicks,
      gc: { count: gcDuration.length, totalMs: total, p99Ms: gcSummary.p99Ms, maxMs: gcSummary.maxMs, over1Ms: gcOver, byKind },
    };
  }
}

/** Per call kind: time from the call to its Promise (sync), and to its settling. */
export class CallTimes {
  private readonly sync = new Map<string, Samples>();
  private readonly settle = new Map<string, Samples>();

  constructor(private readonly probe: LoopProbe) {}

  /** Calls `call`, timing how long it holds the loop; resolves when its Promise settles. */
  time<T>(kind: string, call: () => Promise<T>): Promise<T> {
    this.probe.note(`${kind}()`);
    const start = process.hrtime.bigint();
    const promise = call();
    const returned = process.hrtime.bigint();
    this.samples(this.sync, kind).push(Number(returned - start) / 1e6);
    return promise.then((value) => {
      this.probe.note(`${kind} settled`);
      this.samples(this.settle, kind).push(Number(process.hrtime.bigint() - start) / 1e6);
      return value;
    });
  }

  /** Times a synchronous call (recorded as `kind (sync)`). */
  timeSync(kind: string, call: () => unknown): void {
    this.probe.note(`${kind}()`);
    const start = process.hrtime.bigint();
    call();
    this.samples(this.sync, `${kind}${SYNC}`).push(Number(process.hrtime.bigint() - start) / 1e6);
  }

  private samples(map: Map<string, Samples>, kind: string): Samples {
    let found = map.get(kind);
    if (found === undefined) map.set(kind, (found = new Samples()));
    return found;
  }

  summary(): Record<string, { sync: LatencySummary; settle: LatencySummary | null }> {
    const out: Record<string, { sync: LatencySummary; settle: LatencySummary | null }> = {};
    for (const [kind, samples] of this.sync) {
      const settled = this.settle.get(kind);
      out[kind] = { sync: summarize(samples.view()), settle: settled === undefined ? null : summarize(settled.view()) };
    }
    return out;
  }
}

/**
 * Times every callback the event loop runs (async_hooks before/after), by kind of
 * resource. Promise reactions are 'PROMISE'; other kinds come from the init hook.
 */
export class CallbackClock {
  /** `probe`: where long callbacks are noted (see noteTo). */
  constructor(private probe: LoopProbe) {}

  noteTo(probe: LoopProbe): void {
    this.probe = probe;
  }

  private readonly kinds = new Map<number, string>();
  private readonly durations = new Map<string, Samples>();
  private readonly stack: Array<{ id: number; start: number }> = [];
  private readonly hook = createHook({
    init: (asyncId, type, _trigger, resource) => {
      if (type === 'PROMISE') return;
      // Immediates by the function they run: Loci's WriteQueue reads a write's next
      // slice in one named 'turn' (src/writes.ts); the harness's yields are anonymous.
      const callback = type === 'Immediate' ? (resource as { _onImmediate?: { name?: string } })._onImmediate : undefined;
      this.kinds.set(asyncId, callback === undefined ? type : callback.name === 'turn' ? 'Immediate: Loci write slice' : 'Immediate: other');
    },
    before: (asyncId) => {
      this.stack.push({ id: asyncId, start: nowMs() });
    },
    after: (asyncId) => {
      const top = this.stack.pop();
      if (top === undefined || top.id !== asyncId) return;
      const kind = this.kinds.get(asyncId) ?? 'PROMISE';
      // Only repeating timers run twice; forget the rest so the map stays small.
      if (kind !== 'Timeout') this.kinds.delete(asyncId);
      // A nested callback's time is inside its parent's too: count outermost ones only.
      if (this.stack.length > 0) return;
      let samples = this.durations.get(kind);
      if (samples === undefined) this.durations.set(kind, (samples = new Samples()));
      const took = nowMs() - top.start;
      samples.push(took);
      // Long callbacks go on the late-tick list too (the probe's own ticks are short).
      if (took > NOTE_CALLBACK_MS) this.probe.note(`${kind} ${ms(took)} ms`);
    },
  });

  start(): void {
    this.hook.enable();
  }

  stop(): Record<string, LatencySummary> {
    this.hook.disable();
    const out: Record<string, LatencySummary> = {};
    for (const [kind, samples] of this.durations) out[kind] = summarize(samples.view());
    return out;
  }
}
