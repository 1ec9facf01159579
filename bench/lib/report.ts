// Shared by the benchmark scripts: the hardware/date/runtime header every result file
// carries, medians, and writing results under bench/results/.
import { execFileSync, execSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { capabilities } from '../../src/index';

export const repoRoot = path.resolve(__dirname, '..', '..', '..');
export const resultsDir = path.join(repoRoot, 'bench', 'results');

export interface Environment {
  date: string;
  cpu: string;
  cores: number;
  memoryGiB: number;
  node: string;
  platform: string;
  isa: string;
  loadAverage: number[];
  commit: string;
}

export function environment(): Environment {
  let commit = 'unknown';
  try {
    commit = execSync('git rev-parse --short HEAD', { cwd: repoRoot, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    // not a git checkout
  }
  return {
    date: new Date().toISOString(),
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    platform: `${os.platform()} ${os.arch()} ${os.release()}`,
    isa: capabilities().isa,
    loadAverage: os.loadavg().map((x) => Math.round(x * 100) / 100),
    commit,
  };
}

/** Which Loci a benchmark ran: the checkout, whether native/ or src/ differ from it, the addon file. */
export interface LociBuild {
  commit: string;
  uncommittedChanges: boolean;
  addonSha256: string;
  addonModified: string;
}

/** Reads LociBuild now (other work may rebuild the addon between a benchmark's phases). */
export function lociBuild(): LociBuild {
  const git = (...args: string[]): string => {
    try {
      return execFileSync('git', args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    } catch {
      return 'unknown';
    }
  };
  const addon = path.join(repoRoot, 'build', 'Release', 'loci.node');
  let addonSha256 = 'missing';
  let addonModified = '';
  try {
    addonSha256 = createHash('sha256').update(fs.readFileSync(addon)).digest('hex').slice(0, 16);
    addonModified = fs.statSync(addon).mtime.toISOString();
  } catch {
    // reported as missing
  }
  return { commit: git('rev-parse', '--short', 'HEAD'), uncommittedChanges: git('status', '--porcelain', '--', 'native', 'src').length > 0, addonSha256, addonModified };
}

export function describeEnvironment(env: Environment): string {
  return [
    `date     ${env.date}`,
    `cpu      ${env.cpu} (${env.cores} cores, ${env.memoryGiB} GiB)`,
    `runtime  node ${env.node}, ${env.platform}, kernels ${env.isa}, commit ${env.commit}`,
    `load     ${env.loadAverage.join(' ')}`,
  ].join('\n');
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** Writes bench/results/<name>.<extension> (the report) and <name>.json (every figure). */
export function writeResult(name: string, text: string, json: unknown, extension: 'txt' | 'md' = 'txt'): void {
  fs.mkdirSync(resultsDir, { recursive: true });
  fs.writeFileSync(path.join(resultsDir, `${name}.${extension}`), text);
  fs.writeFileSync(path.join(resultsDir, `${name}.json`), `${JSON.stringify(json, null, 2)}\n`);
}

/** A seeded PRNG (mulberry32): benchmarks must see the same data every run. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal samples from a seeded uniform source (Box-Muller). */
export function gaussianFill(out: Float32Array, random: () => number): Float32Array {
  for (let i = 0; i < out.length; i += 2) {
    const radius = Math.sqrt(-2 * Math.log(1 - random()));
    const angle = 2 * Math.PI * random();
    out[i] = radius * Math.cos(angle);
    if (i + 1 < out.length) out[i + 1] = radius * Math.sin(angle);
  }
  return out;
}

/** A bad command-line argument: printed as one line, without a stack. */
export class UsageError extends Error {}

/** Runs a benchmark's main(): a UsageError prints as `bench:<name>: <message>`, anything else with its stack; both exit 1. */
export function runMain(name: string, main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    console.error(error instanceof UsageError ? `bench:${name}: ${error.message}` : error);
    process.exit(1);
  });
}

/** Prints a report and, if `write`, saves it as bench/results/<name>.md with every figure in <name>.json. */
export function publishReport(name: string, text: string, report: unknown, write: boolean): void {
  console.log(`\n${text}`);
  if (!write) return;
  writeResult(name, text, report, 'md');
  console.log(`wrote bench/results/${name}.{md,json}`);
}
