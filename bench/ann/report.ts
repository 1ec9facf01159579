// What bench/ann.ts writes: the result types, the comparison at equal recall, the
// Markdown table and the SVG plot (written by hand: no plotting library).
import type { Environment } from '../lib/report';

export interface PointResult {
  /** Value of the swept parameter; null for a system without one. */
  param: number | null;
  queries: number;
  /** Mean over queries of |returned ∩ true 10 nearest| / 10 (true ids from the cached ground truth). */
  recall: number;
  /** The same, counting a returned id as correct when its exact distance ties the 10th true one. */
  recallWithTies: number;
  /** Queries / wall-clock seconds of the timed pass, one query at a time on one thread. */
  qps: number;
  p50Us: number;
  p99Us: number;
  meanUs: number;
}

export interface SystemResult {
  system: string;
  status: 'ok' | 'skipped' | 'failed';
  /** Why a system was skipped or failed. */
  reason?: string;
  /** Loci systems: the checkout and addon the child ran. */
  lociBuild?: { commit: string; uncommittedChanges: boolean; addonSha256: string; addonModified: string };
  parameters?: Record<string, string | number>;
  sweepName?: string | null;
  buildSeconds?: number;
  /** Time build() spent off the clock (hnswlib-node's number[] conversion), not in buildSeconds. */
  buildUntimedSeconds?: number;
  rssBeforeBuildMiB?: number;
  rssAfterBuildMiB?: number;
  /** Peak RSS of the child through loading the data, building and the memory report. */
  peakRssMiB?: number;
  /** Peak RSS of the child at the end, searches included. */
  peakRssEndMiB?: number;
  /** File pages mapped with 2 MiB pages at the end of the sweep (Linux FilePmdMapped), MiB. */
  filePmdMappedMiB?: number | null;
  /** (RSS after build - RSS before build) / vectors: what holding the index costs the process. */
  rssBytesPerVector?: number;
  /** The system's own size figure (stats, or its serialized file), per vector. */
  reportedBytes?: number | null;
  reportedBytesPerVector?: number | null;
  reportedSource?: string;
  reportedDetails?: unknown;
  loadAverageStart?: number[];
  loadAverageEnd?: number[];
  points?: PointResult[];
}

export interface AnnReport {
  environment: Environment;
  dataset: { name: string; dim: number; metric: string; baseCount: number; queryCount: number; key: string };
  settings: { k: number; quick: boolean; warmupQueries: number; command: string };
  systems: SystemResult[];
}

const K_LABEL = 'recall@10';
export const RECALL_TARGETS = [0.95, 0.99];

// ---------------------------------------------------------------------------------------
// Comparison at equal recall

/** Points no other point beats on both recall and QPS, by increasing recall. */
export function paretoFrontier(points: readonly PointResult[]): PointResult[] {
  const sorted = [...points].sort((a, b) => b.recall - a.recall || b.qps - a.qps);
  const frontier: PointResult[] = [];
  let bestQps = -Infinity;
  for (const point of sorted) {
    if (point.qps > bestQps) {
      frontier.push(point);
      bestQps = point.qps;
    }
  }
  return frontier.reverse();
}

/** The fastest point with recall >= target, or null. */
export function bestAtRecall(points: readonly PointResult[], target: number): PointResult | null {
  let best: PointResult | null = null;
  for (const point of points) if (point.recall >= target && (best === null || point.qps > best.qps)) best = point;
  return best;
}

/**
 * QPS of a system at exactly `recall`, interpolated log-linearly between the two frontier
 * points around it; the frontier's best QPS if even its lowest point is above `recall`;
 * null if the system never reaches `recall`.
 */
export function qpsAtRecall(points: readonly PointResult[], recall: number): number | null {
  const frontier = paretoFrontier(points);
  if (frontier.length === 0) return null;
  const first = frontier[0] as PointResult;
  if (recall <= first.recall) return first.qps;
  for (let i = 1; i < frontier.length; i++) {
    const low = frontier[i - 1] as PointResult;
    const high = frontier[i] as PointResult;
    if (recall <= high.recall) {
      const t = (recall - low.recall) / (high.recall - low.recall);
      return Math.exp(Math.log(low.qps) + t * (Math.log(high.qps) - Math.log(low.qps)));
    }
  }
  return null;
}

// ---------------------------------------------------------------------------------------
// Markdown

const integer = (x: number): string => Math.round(x).toLocaleString('en-US');
const fixed = (x: number | null | undefined, digits: number): string => (x === null || x === undefined ? '-' : x.toFixed(digits));
const paramLabel = (system: SystemResult, point: PointResult): string =>
  system.sweepName && point.param !== null ? `${system.sweepName}=${point.param}` : '-';

function comparisonLines(systems: readonly SystemResult[]): string[] {
  const reference = systems.find((s) => s.system === 'hnswlib' && s.status === 'ok');
  const measured = systems.filter((s) => s.status === 'ok' && s.points);
  const lines: string[] = [];
  lines.push(
    `| system | ${RECALL_TARGETS.map((t) => `fastest point with ${K_LABEL} >= ${t} | QPS at ${t} | vs hnswlib at ${t}`).join(' | ')} |`,
  );
  lines.push(`|---|${RECALL_TARGETS.map(() => '---|---:|---:').join('|')}|`);
  for (const system of measured) {
    const cells: string[] = [];
    for (const target of RECALL_TARGETS) {
      const points = system.points as PointResult[];
      const best = bestAtRecall(points, target);
      const atTarget = qpsAtRecall(points, target);
      const hnswAtTarget = reference?.points ? qpsAtRecall(reference.points, target) : null;
      cells.push(best ? `${integer(best.qps)} (${system.sweepName ? `${paramLabel(system, best)}, ` : ''}${best.recall.toFixed(4)})` : `not reached (best ${Math.max(...points.map((p) => p.recall)).toFixed(4)})`);
      cells.push(atTarget === null ? '-' : integer(atTarget));
      cells.push(atTarget === null || hnswAtTarget === null ? '-' : `${(atTarget / hnswAtTarget).toFixed(2)}x`);
    }
    lines.push(`| ${system.system} | ${cells.join(' | ')} |`);
  }
  if (!reference) lines.push('', '(no hnswlib result in this run: nothing to compare against)');
  return lines;
}

/** The issue's targets for the Atlas index (both build paths), checked against hnswlib. */
function targetLines(systems: readonly SystemResult[]): string[] {
  const hnsw = systems.find((s) => s.system === 'hnswlib' && s.status === 'ok');
  const atlases = systems.filter((s) => s.system.startsWith('loci-atlas'));
  if (atlases.length === 0) return ['Targets for loci-atlas: not evaluated, loci-atlas was not run.'];
  const lines: string[] = [];
  for (const atlas of atlases) {
    if (atlas.status !== 'ok' || !atlas.points) {
      lines.push(`Targets for ${atlas.system}: not evaluated, ${atlas.status}${atlas.reason ? `: ${atlas.reason}` : ''}.`);
    } else if (!hnsw?.points) {
      lines.push(`Targets for ${atlas.system}: not evaluated, hnswlib did not run.`);
    } else {
      lines.push(...atlasTargets(atlas, hnsw));
    }
  }
  return lines;
}

function atlasTargets(atlas: SystemResult, hnsw: SystemResult): string[] {
  const verdict = (ok: boolean): string => (ok ? 'PASS' : 'MISS');
  const lines = [`Targets for ${atlas.system} (vs hnswlib, this run):`];
  // Both curves are read at exactly the target recall (see qpsAtRecall).
  const check = (target: number, factor: number): void => {
    const own = atlas.points ? qpsAtRecall(atlas.points, target) : null;
    const reference = hnsw.points ? qpsAtRecall(hnsw.points, target) : null;
    const ratio = own !== null && reference !== null ? own / reference : null;
    const ok = own !== null && (reference === null || (ratio as number) >= factor);
    lines.push(
      `- ${K_LABEL} ${target} at >= ${factor}x hnswlib's QPS at equal recall: ${verdict(ok)} (${own === null ? 'not reached' : `${integer(own)} QPS`} vs ${reference === null ? 'hnswlib not reaching it' : `hnswlib ${integer(reference)} QPS`}${ratio === null ? '' : `, ${fixed(ratio, 2)}x`})`,
    );
  };
  check(0.95, 2);
  check(0.99, 1);
  if (atlas.buildSeconds !== undefined && hnsw.buildSeconds !== undefined) {
    const speedup = hnsw.buildSeconds / atlas.buildSeconds;
    lines.push(`- build >= 5x faster than hnswlib: ${verdict(speedup >= 5)} (${atlas.buildSeconds.toFixed(1)} s vs ${hnsw.buildSeconds.toFixed(1)} s, ${speedup.toFixed(1)}x)`);
  }
  const memory = (s: SystemResult): { bytes: number; source: string } | null =>
    s.reportedBytesPerVector != null ? { bytes: s.reportedBytesPerVector, source: 'reported' } : s.rssBytesPerVector !== undefined ? { bytes: s.rssBytesPerVector, source: 'RSS delta' } : null;
  const atlasMemory = memory(atlas);
  const hnswMemory = memory(hnsw);
  if (atlasMemory && hnswMemory) {
    const ratio = atlasMemory.bytes / hnswMemory.bytes;
    lines.push(
      `- index memory <= 0.4x hnswlib's: ${verdict(ratio <= 0.4)} (${integer(atlasMemory.bytes)} B/vector ${atlasMemory.source} vs ${integer(hnswMemory.bytes)} B/vector ${hnswMemory.source}, ${ratio.toFixed(2)}x)`,
    );
    const details = atlas.reportedDetails as { indexBytes?: number; items?: number } | undefined;
    if (typeof details?.indexBytes === 'number' && details.items) {
      const indexOnly = details.indexBytes / details.items;
      lines.push(`  - without the f32 originals (stats().indexBytes alone, if those moved to disk): ${integer(indexOnly)} B/vector, ${(indexOnly / hnswMemory.bytes).toFixed(2)}x`);
    }
  }
  return lines;
}

/**
 * One row per system: the figures the README quotes. QPS at r as in comparisonLines.
 */
export function summaryTable(report: AnnReport): string[] {
  const reference = report.systems.find((s) => s.system === 'hnswlib' && s.status === 'ok');
  const lines = [
    `| system | build s | bytes/vector | ${RECALL_TARGETS.map((t) => `QPS at ${K_LABEL} ${t} (vs hnswlib)`).join(' | ')} | best ${K_LABEL} |`,
    `|---|---:|---:|${RECALL_TARGETS.map(() => '---:').join('|')}|---:|`,
  ];
  for (const system of report.systems) {
    if (system.status !== 'ok' || !system.points) {
      lines.push(`| ${system.system} | ${system.status} | | ${RECALL_TARGETS.map(() => '').join(' | ')} | |`);
      continue;
    }
    const cells = RECALL_TARGETS.map((target) => {
      const own = qpsAtRecall(system.points as PointResult[], target);
      const hnsw = reference?.points ? qpsAtRecall(reference.points, target) : null;
      if (own === null) return 'not reached';
      return `${integer(own)}${hnsw === null || system === reference ? '' : ` (${(own / hnsw).toFixed(2)}x)`}`;
    });
    const bytes = system.reportedBytesPerVector ?? system.rssBytesPerVector;
    lines.push(
      `| ${system.system} | ${fixed(system.buildSeconds, 1)} | ${bytes == null ? '-' : integer(bytes)} | ${cells.join(' | ')} | ${Math.max(...system.points.map((p) => p.recall)).toFixed(4)} |`,
    );
  }
  return lines;
}

export function markdown(report: AnnReport): string {
  const { environment: env, dataset, settings } = report;
  const out: string[] = [];
  out.push(`# ANN benchmark: ${dataset.name}`);
  out.push('');
  out.push(
    `${dataset.baseCount.toLocaleString('en-US')} base vectors x ${dataset.dim}-d, ${dataset.queryCount.toLocaleString('en-US')} queries, ${dataset.metric}, k = ${settings.k}` +
      `${settings.quick ? ' (quick run: fewer queries)' : ''}. Every system in its own process, queries one at a time on one thread ` +
      `after ${settings.warmupQueries} warm-up queries per sweep point; ${K_LABEL} against the exact ground truth (cached brute force through Loci's exact f32 store).`,
  );
  out.push('');
  out.push('```');
  out.push(`date     ${env.date}`);
  out.push(`cpu      ${env.cpu} (${env.cores} cores, ${env.memoryGiB} GiB), kernels ${env.isa}`);
  out.push(`runtime  node ${env.node}, ${env.platform}, commit ${env.commit}`);
  out.push(`load     ${env.loadAverage.join(' ')} at start (shared machine; per-system load in the JSON)`);
  out.push(`command  ${settings.command}`);
  const builds = new Map<string, string[]>();
  for (const system of report.systems) {
    if (!system.lociBuild) continue;
    const { commit, uncommittedChanges, addonSha256, addonModified } = system.lociBuild;
    const key = `commit ${commit}${uncommittedChanges ? ' + uncommitted native/src changes' : ''}, addon sha256 ${addonSha256} (built ${addonModified})`;
    builds.set(key, [...(builds.get(key) ?? []), system.system]);
  }
  for (const [key, names] of builds) out.push(`loci     ${key}${builds.size > 1 ? `: ${names.join(', ')}` : ''}`);
  out.push('```');
  out.push('');
  out.push('Summary (bytes/vector: the system\'s own figure, see the notes; QPS interpolated at exactly that recall, see below):');
  out.push('');
  out.push(...summaryTable(report));
  out.push('');
  out.push('Every sweep point:');
  out.push('');
  out.push('| system | build s | peak RSS MiB | RSS delta B/vector | reported B/vector | param | ' + K_LABEL + ' | QPS | p50 us | p99 us |');
  out.push('|---|---:|---:|---:|---:|---|---:|---:|---:|---:|');
  for (const system of report.systems) {
    if (system.status !== 'ok' || !system.points) {
      out.push(`| ${system.system} | ${system.status}: ${(system.reason ?? '').replace(/\|/g, '\\|').replace(/\n/g, ' ')} | | | | | | | | |`);
      continue;
    }
    system.points.forEach((point, i) => {
      const head =
        i === 0
          ? `| ${system.system} | ${fixed(system.buildSeconds, 1)} | ${integer(system.peakRssMiB ?? 0)} | ${system.rssBytesPerVector === undefined ? '-' : integer(system.rssBytesPerVector)} | ${system.reportedBytesPerVector == null ? '-' : integer(system.reportedBytesPerVector)} |`
          : '| | | | | |';
      out.push(`${head} ${paramLabel(system, point)} | ${point.recall.toFixed(4)} | ${integer(point.qps)} | ${integer(point.p50Us)} | ${integer(point.p99Us)} |`);
    });
  }
  out.push('');
  out.push(
    'QPS at a recall floor. "Fastest point": the best measured sweep point meeting the floor. "QPS at r": the system\'s recall/QPS frontier interpolated (log QPS, linear in recall) at exactly r, or its fastest point if every frontier point is above r; "vs hnswlib": that against hnswlib\'s QPS at the same r, the equal-recall comparison.',
  );
  out.push('');
  out.push(...comparisonLines(report.systems));
  out.push('');
  out.push(...targetLines(report.systems));
  out.push('');
  out.push('Notes:');
  out.push('- peak RSS is the child process maximum through loading and building (the search sweep\'s peak is `peakRssEndMiB` in the JSON); it includes the dataset held in memory (base, queries, ground truth). RSS delta is measured around build() after a full GC.');
  out.push("- reported B/vector: Loci's `stats()` (indexBytes + vectorBytes: codes, pages, tree, id table and the f32 originals); hnswlib's `writeIndex` file; usearch's `save()` file. loci-atlas-disk is a directory store checkpointed after its bulk build: its originals are served from the checkpoint's vectors file through the page cache (`vectorMappedBytes`, which the kernel may evict and read back from disk), so its figure leaves them out; its RSS delta counts the ones the searches touched as file pages.");
  const pmd = report.systems.filter((system) => typeof system.filePmdMappedMiB === 'number' && system.filePmdMappedMiB > 0);
  if (pmd.length > 0) {
    out.push(
      `- file pages mapped with 2 MiB pages at the end of the sweep (Linux FilePmdMapped; checkpoint files are written in aligned 2 MiB blocks and mapped congruently, native/common/huge_pages.h): ${pmd.map((system) => `${system.system} ${Math.round(system.filePmdMappedMiB as number)} MiB`).join(', ')}.`,
    );
  }
  out.push('- hnswlib-node takes `number[]`: queries and base vectors are converted outside the timed regions.');
  out.push('- usearch cannot change `expansion_search` after construction from JS: each sweep point loads the saved index into a new `Index`.');
  out.push('- usearch builds on one thread (`add(keys, vectors, 1)`), like hnswlib-node\'s `addPoint`; Loci\'s `add` runs on the libuv pool, and the Atlas bulk build (one `add` of everything, loci-atlas-bulk) clusters on 2 threads; loci-atlas adds 1,000 items per call, so all but the first two batches insert online.');
  out.push('');
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------
// SVG

const COLORS: Record<string, string> = {
  'loci-atlas': '#d62728',
  'loci-atlas-bulk': '#8c1010',
  'loci-atlas-disk': '#e377c2',
  'loci-exact-f32': '#7f7f7f',
  'loci-exact-int8': '#ff7f0e',
  hnswlib: '#1f77b4',
  'usearch-f32': '#2ca02c',
  'usearch-i8': '#9467bd',
};
const MARKERS = ['circle', 'square', 'diamond', 'triangle'];
// Systems without a colour of their own (Atlas variants of a --atlas sweep).
const SPARE_COLORS = ['#e377c2', '#17becf', '#bcbd22', '#8c564b', '#393b79', '#637939'];
const colorOf = (name: string, index: number): string => COLORS[name] ?? (SPARE_COLORS[index % SPARE_COLORS.length] as string);

const escapeXml = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function marker(kind: string, x: number, y: number, color: string): string {
  const r = 4;
  switch (kind) {
    case 'square':
      return `<rect x="${(x - r).toFixed(1)}" y="${(y - r).toFixed(1)}" width="${2 * r}" height="${2 * r}" fill="${color}"/>`;
    case 'diamond':
      return `<polygon points="${x.toFixed(1)},${(y - r - 1).toFixed(1)} ${(x + r + 1).toFixed(1)},${y.toFixed(1)} ${x.toFixed(1)},${(y + r + 1).toFixed(1)} ${(x - r - 1).toFixed(1)},${y.toFixed(1)}" fill="${color}"/>`;
    case 'triangle':
      return `<polygon points="${x.toFixed(1)},${(y - r - 1).toFixed(1)} ${(x + r + 1).toFixed(1)},${(y + r).toFixed(1)} ${(x - r - 1).toFixed(1)},${(y + r).toFixed(1)}" fill="${color}"/>`;
    default:
      return `<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="${r}" fill="${color}"/>`;
  }
}

// The x axis is -log10(1 - recall), so 0.9 -> 0.99 -> 0.999 are equal steps: on a linear
// axis everything interesting is squeezed against 1.0. Recall above RECALL_CAP (1.0
// included) is drawn at the right edge.
const RECALL_CAP = 0.9999;
const X_TICKS = [0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.998, 0.999, 0.9995, RECALL_CAP];

/** Recall@10 (x, log of 1 - recall) against QPS (y, log), one polyline and marker per point per system. */
export function svg(report: AnnReport, recallFloor = 0.8): string {
  const width = 880;
  const height = 560;
  const plot = { left: 80, right: 640, top: 60, bottom: 490 };
  const systems = report.systems.filter((s) => s.status === 'ok' && s.points && s.points.length > 0);
  const all = systems.flatMap((s) => s.points as PointResult[]);
  const qpsValues = all.map((p) => p.qps).filter((q) => q > 0);
  const low = qpsValues.length ? Math.pow(10, Math.floor(Math.log10(Math.min(...qpsValues)))) : 1;
  const high = Math.max(low * 10, qpsValues.length ? Math.pow(10, Math.ceil(Math.log10(Math.max(...qpsValues)))) : 10);
  const nines = (recall: number): number => -Math.log10(1 - Math.min(Math.max(recall, recallFloor), RECALL_CAP));
  const xOf = (recall: number): number => plot.left + ((nines(recall) - nines(recallFloor)) / (nines(RECALL_CAP) - nines(recallFloor))) * (plot.right - plot.left);
  const yOf = (qps: number): number =>
    plot.bottom - ((Math.log10(qps) - Math.log10(low)) / (Math.log10(high) - Math.log10(low))) * (plot.bottom - plot.top);

  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  parts.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  const { dataset, environment: env } = report;
  const title = `${dataset.name}: ${K_LABEL} vs single-thread QPS (${dataset.baseCount.toLocaleString('en-US')} x ${dataset.dim}-d, ${dataset.metric}), ${env.date.slice(0, 10)}`;
  parts.push(`<text x="${(plot.left + plot.right) / 2}" y="28" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(title)}</text>`);
  parts.push(`<text x="${(plot.left + plot.right) / 2}" y="46" text-anchor="middle" fill="#555">${escapeXml(`${env.cpu}, node ${env.node}, load ${env.loadAverage.join(' ')}; up and to the right is better`)}</text>`);

  // Grid and ticks. y: 1, 2, 5 per decade.
  for (const recall of X_TICKS.filter((r) => r >= recallFloor)) {
    const x = xOf(recall);
    const label = recall === RECALL_CAP ? '1' : String(recall);
    parts.push(`<line x1="${x.toFixed(1)}" y1="${plot.top}" x2="${x.toFixed(1)}" y2="${plot.bottom}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${x.toFixed(1)}" y="${plot.bottom + 18}" text-anchor="middle">${label}</text>`);
  }
  for (let decade = low; decade < high * 1.0001; decade *= 10) {
    for (const multiple of [1, 2, 5]) {
      const qps = decade * multiple;
      if (qps > high * 1.0001) break;
      const y = yOf(qps);
      parts.push(`<line x1="${plot.left}" y1="${y.toFixed(1)}" x2="${plot.right}" y2="${y.toFixed(1)}" stroke="${multiple === 1 ? '#cccccc' : '#eeeeee'}"/>`);
      parts.push(`<text x="${plot.left - 8}" y="${(y + 4).toFixed(1)}" text-anchor="end">${qps >= 1000 ? `${qps / 1000}k` : qps}</text>`);
    }
  }
  for (const target of RECALL_TARGETS) {
    const x = xOf(target);
    parts.push(`<line x1="${x.toFixed(1)}" y1="${plot.top}" x2="${x.toFixed(1)}" y2="${plot.bottom}" stroke="#999" stroke-dasharray="4 4"/>`);
  }
  parts.push(`<rect x="${plot.left}" y="${plot.top}" width="${plot.right - plot.left}" height="${plot.bottom - plot.top}" fill="none" stroke="#333"/>`);
  parts.push(
    `<text x="${(plot.left + plot.right) / 2}" y="${plot.bottom + 40}" text-anchor="middle" font-size="13">${K_LABEL} (log scale of 1 - recall; ${RECALL_CAP} and above at the right edge)</text>`,
  );
  parts.push(
    `<text x="22" y="${(plot.top + plot.bottom) / 2}" text-anchor="middle" font-size="13" transform="rotate(-90 22 ${(plot.top + plot.bottom) / 2})">queries per second, one thread (log scale)</text>`,
  );

  // Series.
  const legend: string[] = [];
  systems.forEach((system, index) => {
    const color = colorOf(system.system, index);
    const kind = MARKERS[index % MARKERS.length] as string;
    const points = [...(system.points as PointResult[])].sort((a, b) => a.recall - b.recall);
    const visible = points.filter((p) => p.recall >= recallFloor);
    if (visible.length > 1) {
      parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${visible.map((p) => `${xOf(p.recall).toFixed(1)},${yOf(p.qps).toFixed(1)}`).join(' ')}"/>`);
    }
    for (const p of visible) parts.push(marker(kind, xOf(p.recall), yOf(p.qps), color));
    const best = Math.max(...points.map((p) => p.recall));
    const note = visible.length < points.length ? ` (${points.length - visible.length} of ${points.length} points below ${recallFloor}; best ${best.toFixed(3)})` : '';
    legend.push(`${system.system}${note}`);
  });
  const skipped = report.systems.filter((s) => s.status !== 'ok');

  // Legend, right of the plot.
  let y = plot.top + 10;
  parts.push(`<text x="${plot.right + 20}" y="${y}" font-weight="bold">systems</text>`);
  y += 20;
  systems.forEach((system, index) => {
    const color = colorOf(system.system, index);
    const kind = MARKERS[index % MARKERS.length] as string;
    parts.push(`<line x1="${plot.right + 20}" y1="${y - 4}" x2="${plot.right + 44}" y2="${y - 4}" stroke="${color}" stroke-width="2"/>`);
    parts.push(marker(kind, plot.right + 32, y - 4, color));
    const [name, note] = (legend[index] as string).split(' (');
    parts.push(`<text x="${plot.right + 52}" y="${y}">${escapeXml(name as string)}</text>`);
    if (note) {
      y += 14;
      parts.push(`<text x="${plot.right + 52}" y="${y}" font-size="10" fill="#555">(${escapeXml(note)}</text>`);
    }
    y += 22;
  });
  for (const system of skipped) {
    parts.push(`<text x="${plot.right + 20}" y="${y}" fill="#888">${escapeXml(`${system.system}: ${system.status}`)}</text>`);
    y += 18;
  }
  y += 10;
  parts.push(`<text x="${plot.right + 20}" y="${y}" font-size="10" fill="#555">dashed: recall 0.95 and 0.99</text>`);
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
