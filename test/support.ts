// Shared helpers for the JS suites: a seeded PRNG, clustered test data, a brute-force
// double-precision reference, and assertions for LociError. Not a test file itself.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { LociError, type LociErrorCode, type Metric } from 'loci';
import { expect } from 'vitest';

/** The repository root: child processes run here so `require('loci')` self-resolves. */
export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * The seed of every random suite. Fixed so failures reproduce; override with
 * LOCI_TEST_SEED=<integer> to explore other data.
 */
export const SEED = process.env.LOCI_TEST_SEED === undefined ? 0x10c1 : Number(process.env.LOCI_TEST_SEED) >>> 0;

/** mulberry32: a tiny 32-bit PRNG, uniform in [0, 1). Same seed, same sequence. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal samples (Box-Muller) from a uniform source. */
export function gaussian(random: () => number): () => number {
  return () => {
    const u = 1 - random(); // (0, 1]: log(0) would be -Infinity
    const v = random();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
}

/** An integer in [0, n). */
export function randomInt(random: () => number, n: number): number {
  return Math.floor(random() * n);
}

export interface Mixture {
  /** Draws one point: pick a cluster (skewed sizes), add Gaussian noise. */
  sample(): Float32Array;
}

/**
 * A Gaussian mixture with skewed cluster weights (cluster i has weight 1/(i+1)), so a few
 * clusters are dense and many are sparse, like real embeddings. Centres are N(0, 1) per
 * component plus `offset` (a non-zero mean makes l2 and ip differ from cosine);
 * points are centre + N(0, spread²).
 */
export function gaussianMixture(
  random: () => number,
  dim: number,
  clusters: number,
  spread: number,
  offset = 0,
): Mixture {
  const normal = gaussian(random);
  const centres = Array.from({ length: clusters }, () => Float64Array.from({ length: dim }, () => normal() + offset));
  const weights = centres.map((_, i) => 1 / (i + 1));
  const total = weights.reduce((a, b) => a + b, 0);
  return {
    sample(): Float32Array {
      let pick = random() * total;
      let cluster = 0;
      while (cluster < clusters - 1 && pick >= (weights[cluster] as number)) {
        pick -= weights[cluster] as number;
        cluster++;
      }
      const centre = centres[cluster] as Float64Array;
      const point = new Float32Array(dim);
      for (let i = 0; i < dim; i++) point[i] = (centre[i] as number) + spread * normal();
      return point;
    },
  };
}

/** Uniform vector in [-1, 1)^dim, as Float32Array. */
export function uniformVector(random: () => number, dim: number): Float32Array {
  const vector = new Float32Array(dim);
  for (let i = 0; i < dim; i++) vector[i] = random() * 2 - 1;
  return vector;
}

/**
 * The distance Loci reports, in double precision over the (already f32) inputs:
 * l2 = squared Euclidean; ip = 1 - dot; cosine = 1 - cos (0 for two zero vectors,
 * 1 when exactly one is zero; never negative).
 */
export function referenceDistance(metric: Metric, a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let l2 = 0;
  let normA = 0;
  let normB = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    dot += x * y;
    l2 += (x - y) * (x - y);
    normA += x * x;
    normB += y * y;
  }
  if (metric === 'l2') return l2;
  if (metric === 'ip') return 1 - dot;
  if (normA === 0 || normB === 0) return normA === 0 && normB === 0 ? 0 : 1;
  return Math.max(0, 1 - dot / Math.sqrt(normA * normB));
}

export interface Neighbour {
  id: string;
  distance: number;
}

/** Every stored item by reference distance, nearest first (ties by id for determinism). */
export function bruteForce(
  metric: Metric,
  query: ArrayLike<number>,
  items: Iterable<readonly [string, ArrayLike<number>]>,
  k: number,
): Neighbour[] {
  const all: Neighbour[] = [];
  for (const [id, vector] of items) all.push({ id, distance: referenceDistance(metric, query, vector) });
  all.sort((a, b) => a.distance - b.distance || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return all.slice(0, k);
}

/**
 * Two distances agree: float32 kernels against a double reference. Relative to the
 * larger of |expected| and `scale` (cosine and ip distances near 0 have no meaningful
 * relative error; `scale` is the size of the terms that cancelled).
 */
export function closeTo(actual: number, expected: number, relative = 1e-4, scale = 1): boolean {
  return Math.abs(actual - expected) <= relative * Math.max(Math.abs(expected), scale);
}

/** Runs `fn`, expecting it to throw a LociError with `code` synchronously. */
export function expectThrows(fn: () => unknown, code: LociErrorCode, message?: RegExp): LociError {
  let thrown: unknown;
  let returned: unknown;
  try {
    returned = fn();
  } catch (error) {
    thrown = error;
  }
  if (thrown === undefined) {
    // Make a forgotten Promise visible instead of an unhandled rejection.
    if (returned instanceof Promise) returned.catch(() => undefined);
    expect.fail(`expected a LociError ${code} to be thrown, but the call returned ${describeValue(returned)}`);
  }
  return checkError(thrown, code, message);
}

/**
 * Calls `fn`, expecting a Promise that rejects with a LociError `code`. A synchronous
 * throw is a failure: async methods must report every error through their Promise.
 */
export async function expectRejects(fn: () => unknown, code: LociErrorCode, message?: RegExp): Promise<LociError> {
  let returned: unknown;
  try {
    returned = fn();
  } catch (error) {
    expect.fail(`expected a rejected Promise, but the call threw synchronously: ${String(error)}`);
  }
  expect(returned, 'an async method must return a Promise').toBeInstanceOf(Promise);
  let rejection: unknown;
  let resolved = false;
  await (returned as Promise<unknown>).then(
    () => {
      resolved = true;
    },
    (error: unknown) => {
      rejection = error;
    },
  );
  if (resolved) expect.fail(`expected a LociError ${code} rejection, but the Promise resolved`);
  return checkError(rejection, code, message);
}

function checkError(error: unknown, code: LociErrorCode, message: RegExp | undefined): LociError {
  expect(error, `expected a LociError, got ${String(error)}`).toBeInstanceOf(LociError);
  const lociError = error as LociError;
  expect(lociError).toBeInstanceOf(Error);
  expect(lociError.name).toBe('LociError');
  expect(lociError.code, lociError.message).toBe(code);
  expect(typeof lociError.message).toBe('string');
  // A message says what went wrong *and* what to do: never just a code.
  expect(lociError.message.length).toBeGreaterThan(15);
  if (message) expect(lociError.message).toMatch(message);
  return lociError;
}

function describeValue(value: unknown): string {
  if (value instanceof Promise) return 'a Promise (an async method? use expectRejects)';
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `node -e script` in the repository root (so `require('loci')` resolves). */
export function runNode(script: string, env: NodeJS.ProcessEnv = {}, timeoutMs = 15000): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
