// The items bench/ingest.ts writes: seeded, the same every run, item i a pure function
// of i (so a child process can build any range of them on its own).
//
//   id      'mem-' + 10 digits                                    (14 bytes)
//   vector  768-d, the clustered-100k Gaussian mixture of bench/data/clustered.ts
//           (1,000 clusters), drawn from a stream of its own (INGEST_SEED)
//   text    480-520 bytes of UTF-8: words of an agent's notes, ~1 in 40 non-ASCII
//   meta    a small JSON object (kind, session, turn, tags, importance): ~110 bytes
//   time    2026-01-01 + i seconds
//
// Vectors cost ~70 us each to generate on one core, far more than a write, so they are
// generated before anything is timed, by one process per core, into one raw .f32 file
// under bench/.cache/ (see bench/data/cache.ts) that later runs and every child process
// read. Rows are generated in chunks of CHUNK_ROWS from their own random streams, so
// the first n rows of a longer file are the rows of a shorter one.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { Item } from '../../src/index';
import { cacheDir, log, seconds } from '../data/cache';
import { CLUSTERED_PRESETS, GENERATOR_VERSION, Mixture } from '../data/clustered';
import { Random } from '../data/random';

export const DIM = 768;
export const INGEST_SEED = 7;
const MIXTURE = CLUSTERED_PRESETS['clustered-100k'].mixture;
const VECTOR_STREAM = 3 << 20;  // apart from clustered.ts's base (1 << 20) and query (2 << 20) streams
const TEXT_STREAM = 4 << 20;
/** Mixture.fill's chunk (clustered.ts CHUNK_POINTS): a generator's range starts on one. */
export const CHUNK_ROWS = 4096;
const ROW_BYTES = DIM * 4;
const FILE_PREFIX = `ingest-v${GENERATOR_VERSION}-s${INGEST_SEED}-c${MIXTURE.clusters}-d${DIM}-n`;
const TIME_ORIGIN = Date.UTC(2026, 0, 1);

/** A vectors file under the cache holding at least `rows` rows, or null. */
export function findVectorFile(rows: number): string | null {
  let best: { path: string; rows: number } | null = null;
  for (const name of fs.readdirSync(cacheDir())) {
    const match = name.startsWith(FILE_PREFIX) && name.endsWith('.f32') ? /^(\d+)\.f32$/.exec(name.slice(FILE_PREFIX.length)) : null;
    if (!match) continue;
    const count = Number(match[1]);
    const path = `${cacheDir()}/${name}`;
    if (count >= rows && fs.statSync(path).size === count * ROW_BYTES && (best === null || count < best.rows)) best = { path, rows: count };
  }
  return best?.path ?? null;
}

export function vectorFileName(rows: number): string {
  return `${cacheDir()}/${FILE_PREFIX}${rows}.f32`;
}

export const vectorFileBytes = (rows: number): number => rows * ROW_BYTES;

/**
 * Generates rows [first, first + count) into `file` at their place (the file exists
 * with its full size). `first` must be a multiple of CHUNK_ROWS.
 */
export function generateRows(file: string, first: number, count: number): void {
  const mixture = new Mixture(MIXTURE, INGEST_SEED);
  const block = CHUNK_ROWS * 16;
  const out = new Float32Array(block * DIM);
  const labels = new Int32Array(block);
  const fd = fs.openSync(file, 'r+');
  try {
    for (let done = 0; done < count; done += block) {
      const rows = Math.min(block, count - done);
      mixture.fill(INGEST_SEED, VECTOR_STREAM, first + done, rows, out, labels);
      const bytes = new Uint8Array(out.buffer, 0, rows * ROW_BYTES);
      let position = (first + done) * ROW_BYTES;
      for (let written = 0; written < bytes.length; ) {
        const n = fs.writeSync(fd, bytes, written, bytes.length - written, position);
        written += n;
        position += n;
      }
    }
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The cached vectors file with at least `rows` rows. If there is none it is generated,
 * split into one range per core, each range written by `generate` (which runs
 * generateRows in a process or thread of its own), under a temporary name that is
 * renamed into place once complete.
 */
export async function ensureVectorFile(rows: number, generate: (file: string, first: number, count: number) => Promise<unknown>): Promise<string> {
  const existing = findVectorFile(rows);
  if (existing !== null) return existing;
  const file = vectorFileName(rows);
  const temporary = `${file}.${process.pid}.tmp`;
  const started = performance.now();
  log(`generating ${rows.toLocaleString('en-US')} vectors into ${path.relative(process.cwd(), file)} (once per machine)...`);
  fs.writeFileSync(temporary, '');
  fs.truncateSync(temporary, vectorFileBytes(rows));
  const chunks = Math.ceil(rows / CHUNK_ROWS);
  const workers = Math.max(1, Math.min(os.cpus().length, chunks));
  const tasks: Promise<unknown>[] = [];
  for (let w = 0; w < workers; w++) {
    const first = Math.floor((chunks * w) / workers) * CHUNK_ROWS;
    const end = Math.min(rows, Math.floor((chunks * (w + 1)) / workers) * CHUNK_ROWS);
    if (end > first) tasks.push(generate(temporary, first, end - first));
  }
  await Promise.all(tasks);
  const fd = fs.openSync(temporary, 'r+');
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  fs.renameSync(temporary, file);
  log(`generated in ${seconds(started)}`);
  return file;
}

/** Rows [first, first + count) of a vectors file. */
export function readRows(file: string, first: number, count: number): Float32Array {
  const out = new Float32Array(count * DIM);
  const bytes = new Uint8Array(out.buffer);
  const fd = fs.openSync(file, 'r');
  try {
    const chunk = 1 << 30;
    for (let done = 0; done < bytes.length; ) {
      const read = fs.readSync(fd, bytes, done, Math.min(chunk, bytes.length - done), first * ROW_BYTES + done);
      if (read <= 0) throw new Error(`${file}: short read at row ${first + Math.floor(done / ROW_BYTES)}`);
      done += read;
    }
  } finally {
    fs.closeSync(fd);
  }
  return out;
}

const WORDS = (
  'user prefers tea over coffee in the morning meeting moved to thursday project deadline ' +
  'remember that the deploy failed because of a missing migration asked about invoices ' +
  'budget review planning notes summary follow up with the design team next sprint ' +
  'the api returns paginated results cache invalidation bug fixed after restart ' +
  'customer mentioned their dog is called biscuit birthday on march twelfth flight ' +
  'booked to lisbon hotel near the river allergy to peanuts vegetarian dinner options ' +
  'quarterly report draft shared in the drive folder password rotation reminder ' +
  'onboarding checklist laptop arrives monday call with legal about the contract ' +
  'the model hallucinated a citation retry with a smaller context window latency ' +
  'spiked during the batch import tokens per second dropped vector store migration'
).split(' ');
const RARE_WORDS = ['café', 'naïve', 'Zürich', 'résumé', 'São Paulo', 'Ærø', '東京', 'jalapeño'];
const KINDS = ['fact', 'episode', 'preference', 'task', 'summary'];
const TAGS = ['work', 'travel', 'health', 'family', 'finance', 'code', 'meeting', 'food', 'urgent', 'later'];

/** Item i's text: 480-520 bytes of UTF-8 (a word never splits at the cut). */
export function textOf(i: number): string {
  const random = new Random(INGEST_SEED, TEXT_STREAM + i);
  const target = 480 + random.below(41);
  const parts: string[] = [];
  let bytes = 0;
  let sentence = 0;
  for (;;) {
    let word = random.below(40) === 0 ? (RARE_WORDS[random.below(RARE_WORDS.length)] as string) : (WORDS[random.below(WORDS.length)] as string);
    if (sentence === 0) word = word.charAt(0).toUpperCase() + word.slice(1);
    const end = ++sentence >= 8 + random.below(10);
    if (end) sentence = 0;
    const piece = (parts.length > 0 ? ' ' : '') + word + (end ? '.' : '');
    const pieceBytes = Buffer.byteLength(piece);
    if (bytes + pieceBytes > target) break;
    parts.push(piece);
    bytes += pieceBytes;
  }
  return parts.join('');
}

/** Item i's metadata (~110 bytes of JSON). */
export function metaOf(i: number): unknown {
  const random = new Random(INGEST_SEED, TEXT_STREAM - 1 - i);
  return {
    kind: KINDS[random.below(KINDS.length)],
    session: `s-${(i >>> 6).toString(36)}`,
    turn: i & 63,
    tags: [TAGS[random.below(TAGS.length)], TAGS[random.below(TAGS.length)]],
    importance: Math.round(random.uniform() * 100) / 100,
    source: 'chat',
  };
}

export const idOf = (i: number): string => `mem-${i.toString().padStart(10, '0')}`;

/** Items [first, first + count): their vectors are views into `vectors` (rows from `first`). */
export function buildItems(vectors: Float32Array, first: number, count: number): Item[] {
  const items = new Array<Item>(count);
  for (let j = 0; j < count; j++) {
    const i = first + j;
    items[j] = { id: idOf(i), vector: vectors.subarray(j * DIM, (j + 1) * DIM), text: textOf(i), meta: metaOf(i), time: TIME_ORIGIN + i * 1000 };
  }
  return items;
}
