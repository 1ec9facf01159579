// The corruption suite: one test per corruption mode listed in docs/format/*.md ("Corruption
// modes"), driven through the public API. Small stores (flat and atlas) are built once per
// file as templates, copied into a fresh temp directory per test, damaged with byte-level
// helpers (flip a byte, cut a file, remove it, append bytes, or rewrite a field and fix its
// CRC so a check behind the CRC is reached), then opened under each recovery mode, checked
// with Store.verify and with the CLI (`loci verify`).
//
// For every damaged store: the error is a LociError with code CORRUPT whose message names
// the file and the byte offset ("<file> at offset <n>"); the process survives (a crash in
// the addon would take down this vitest fork and fail the file); and a refused open or a
// verify leaves every file of the directory as it was (names, sizes and SHA-256 of every
// file, compared before and after; checked with expect.soft so the rest of a test still
// runs and reports).
//
// WAL stores (records after the checkpoint) are written by a child process that exits
// without close(), as test/32.store.durable.test.ts does; the other templates close cleanly.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { LociError, Store, type IndexKind, type RecoveryMode, type StoreOptions } from 'loci';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';

import { expectRejects, expectThrows, REPO_ROOT, runNode } from './support';

const INDEX_KINDS: IndexKind[] = ['flat', 'atlas'];
const MODES: RecoveryMode[] = ['tolerate-torn-tail', 'absolute', 'point-in-time'];
const DIM = 8;
const PAGE_SIZE = 4096;
const ITEMS = 300; // two row groups of vectors (256 rows each), several atlas leaves
const WAL_ITEMS = 5; // w0..w4, one WAL record each, after the checkpoint

const GEN = '0000000000000001';
const MANIFEST = 'MANIFEST';
const ITEMS_FILE = `items.${GEN}`;
const VECTORS_FILE = `vectors.${GEN}`;
const PAGES_FILE = `pages.${GEN}`;
const BLOBS_FILE = `blobs.${GEN}`;
const walFile = (seq: number): string => `wal/${String(seq).padStart(16, '0')}.log`;
const WAL = walFile(2); // the first WAL file after the templates' checkpoint

function shape(index: IndexKind): StoreOptions {
  return index === 'atlas' ? { dim: DIM, metric: 'l2', index, pageSize: PAGE_SIZE, fanout: 4 } : { dim: DIM, metric: 'l2', index };
}

// ---- the data (the same code runs in the child processes) ----------------------------------

const DATA_JS = `
  const vectorOf = (seed) => Array.from({ length: ${DIM} }, (_, d) => Math.sin(seed * ${DIM} + d * 1.7) + (seed % 7) * 0.1);
  const baseItems = () => Array.from({ length: ${ITEMS} }, (_, i) => ({ id: 'v' + i, vector: vectorOf(i), text: 'text ' + i, meta: { i, tag: 'base' }, time: 1000 + i }));
  const walItem = (i) => ({ id: 'w' + i, vector: vectorOf(10000 + i), text: 'wal ' + i, meta: { i }, time: 2000 + i });
`;
const data = new Function(`${DATA_JS}; return { vectorOf, baseItems, walItem };`)() as {
  vectorOf(seed: number): number[];
  baseItems(): { id: string; vector: number[]; text: string; meta: unknown; time: number }[];
  walItem(i: number): { id: string; vector: number[]; text: string; meta: unknown; time: number };
};

/** Runs `body` (async JS; `Store`, `dir` and the data helpers in scope) in a child node process. */
async function inChild(dir: string, body: string): Promise<void> {
  const child = await runNode(
    `const { Store } = require('loci'); const dir = process.env.LOCI_TEST_DIR; ${DATA_JS}
     (async () => {\n${body}\n})().catch((error) => { console.error(error); process.exit(1); });`,
    { LOCI_TEST_DIR: dir },
    30_000,
  );
  expect(child.stderr).toBe('');
  expect(child.code).toBe(0);
}

// ---- templates and temp directories ---------------------------------------------------------

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'loci-corruption-'));
const templates = {
  closed: { flat: path.join(root, 'closed-flat'), atlas: path.join(root, 'closed-atlas') },
  wal: { flat: path.join(root, 'wal-flat'), atlas: path.join(root, 'wal-atlas') },
  /** wal.flat reopened by another process that added x0..x2 and exited: WAL files 2 and 3. */
  twoWalFiles: path.join(root, 'two-wal-files'),
};

beforeAll(async () => {
  const writeBase = (index: IndexKind) => `
    const store = await Store.open(dir, ${JSON.stringify(shape(index))});
    const items = baseItems();
    for (let b = 0; b < 3; b++) await store.add(items.slice(b * 100, (b + 1) * 100));`;
  await Promise.all(
    INDEX_KINDS.flatMap((index) => [
      inChild(templates.closed[index], `${writeBase(index)}\n await store.close();`),
      inChild(
        templates.wal[index],
        `${writeBase(index)}
         await store.checkpoint();
         for (let i = 0; i < ${WAL_ITEMS}; i++) await store.add(walItem(i));
         process.exit(0); // no close(): w0..w4 stay in the WAL only`,
      ),
    ]),
  );
  fs.cpSync(templates.wal.flat, templates.twoWalFiles, { recursive: true });
  await inChild(
    templates.twoWalFiles,
    `const store = await Store.open(dir);
     if (store.size !== ${ITEMS + WAL_ITEMS}) throw new Error('replay lost records');
     for (let i = 0; i < 3; i++) await store.add({ id: 'x' + i, vector: vectorOf(20000 + i), text: 'x ' + i });
     process.exit(0);`,
  );
  // The templates are what the tests assume.
  expect(fs.readdirSync(path.join(templates.wal.flat, 'wal'))).toEqual(['0000000000000002.log']);
  expect(fs.readdirSync(path.join(templates.twoWalFiles, 'wal'))).toEqual(['0000000000000002.log', '0000000000000003.log']);
  expect(fs.existsSync(path.join(templates.closed.atlas, PAGES_FILE))).toBe(true);
  expect(fs.existsSync(path.join(templates.closed.flat, PAGES_FILE))).toBe(false);
}, 30_000);

afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const directories: string[] = [];
const opened: Store[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((store) => store.close().catch(() => undefined)));
  for (const dir of directories.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** A fresh copy of a template store in its own temp directory (removed after the test). */
function fresh(template: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loci-corrupt-'));
  directories.push(dir);
  const store = path.join(dir, 'store');
  fs.cpSync(template, store, { recursive: true });
  return store;
}

async function open(dir: string, options?: StoreOptions): Promise<Store> {
  const store = await Store.open(dir, options);
  opened.push(store);
  return store;
}

// ---- CRC32C (Castagnoli, reflected 0x82F63B78) and LevelDB's mask, to forge valid fields -----

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32c(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = (CRC_TABLE[(crc ^ byte) & 0xff] as number) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function maskCrc(crc: number): number {
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

/** A framed record (docs/format/wal.md): crc u32, length u32, type u8, payload. */
function frameRecord(type: number, payload: Buffer): Buffer {
  const typed = Buffer.concat([Buffer.from([type]), payload]);
  const header = Buffer.alloc(9);
  header.writeUInt32LE(maskCrc(crc32c(typed)), 0);
  header.writeUInt32LE(payload.length, 4);
  header[8] = type;
  return Buffer.concat([header, payload]);
}

/** The 32-byte file header shared by WAL, items and blob files. */
function fileHeader(magic: number, first: bigint, second: bigint): Buffer {
  const header = Buffer.alloc(32);
  header.writeUInt32LE(magic, 0);
  header.writeUInt16LE(1, 4);
  header.writeBigUInt64LE(first, 8);
  header.writeBigUInt64LE(second, 16);
  header.writeUInt32LE(maskCrc(crc32c(header.subarray(0, 28))), 28);
  return header;
}

// ---- byte-level damage ------------------------------------------------------------------------

function flipByte(dir: string, file: string, offset: number, mask = 0xff): void {
  const target = path.join(dir, file);
  const bytes = fs.readFileSync(target);
  expect(offset, `${file} has ${bytes.length} bytes`).toBeLessThan(bytes.length);
  bytes[offset] = (bytes[offset] as number) ^ mask;
  fs.writeFileSync(target, bytes);
}

function truncateTo(dir: string, file: string, size: number): void {
  expect(size).toBeLessThan(fs.statSync(path.join(dir, file)).size);
  fs.truncateSync(path.join(dir, file), size);
}

function removeFile(dir: string, file: string): void {
  fs.unlinkSync(path.join(dir, file));
}

function appendBytes(dir: string, file: string, bytes: Buffer): void {
  fs.appendFileSync(path.join(dir, file), bytes);
}

/** Garbage that no reader can take for a record or a page (deterministic). */
function garbage(length: number): Buffer {
  return Buffer.from(Array.from({ length }, (_, i) => (i * 151 + 89) & 0xff));
}

function readFile(dir: string, file: string): Buffer {
  return fs.readFileSync(path.join(dir, file));
}

/** Edits the MANIFEST's bytes and writes it back with a valid CRC (bytes [0, 100) at 100). */
function rewriteManifest(dir: string, edit: (bytes: Buffer) => void): void {
  const bytes = readFile(dir, MANIFEST);
  edit(bytes);
  bytes.writeUInt32LE(maskCrc(crc32c(bytes.subarray(0, 100))), 100);
  fs.writeFileSync(path.join(dir, MANIFEST), bytes);
}

/** Edits one page of the pages file and seals it again (masked CRC32C of [12, page_size) at 8). */
function rewritePage(dir: string, page: number, edit: (bytes: Buffer) => void): void {
  const file = readFile(dir, PAGES_FILE);
  const bytes = file.subarray(page * PAGE_SIZE, (page + 1) * PAGE_SIZE);
  edit(bytes);
  bytes.writeUInt32LE(maskCrc(crc32c(bytes.subarray(12))), 8);
  fs.writeFileSync(path.join(dir, PAGES_FILE), file);
}

// ---- parsing, to find the bytes to damage ------------------------------------------------------

interface RecordSpan {
  offset: number;
  type: number;
  length: number;
  payload: number; // offset of the payload
  end: number;
}

/** The framed records of a WAL or items file, after its 32-byte header. */
function recordsOf(bytes: Buffer): RecordSpan[] {
  const records: RecordSpan[] = [];
  for (let offset = 32; offset + 9 <= bytes.length; ) {
    const length = bytes.readUInt32LE(offset + 4);
    const end = offset + 9 + length;
    if (end > bytes.length) break;
    records.push({ offset, type: bytes[offset + 8] as number, length, payload: offset + 9, end });
    offset = end;
  }
  return records;
}

interface BlobSpan {
  offset: number;
  length: number;
  text: string;
}

function readVarint(bytes: Buffer, at: number): [number, number] {
  let value = 0;
  let shift = 0;
  for (;;) {
    const byte = bytes[at++] as number;
    value += (byte & 0x7f) * 2 ** shift;
    if (!(byte & 0x80)) return [value, at];
    shift += 7;
  }
}

/** The blobs of an arena (docs/format/blobs.md), with each one's text. */
function blobsOf(bytes: Buffer): BlobSpan[] {
  const blobs: BlobSpan[] = [];
  for (let offset = 32; offset + 8 <= bytes.length; ) {
    const length = bytes.readUInt32LE(offset + 4);
    const [textLength, at] = readVarint(bytes, offset + 8);
    blobs.push({ offset, length, text: bytes.toString('utf8', at, at + textLength) });
    offset += 8 + length;
  }
  return blobs;
}

/** Page types of the pages file: 2 inner (the tree payload), then 1 leaf. */
function pagesOf(dir: string): { inner: number[]; leaves: number[] } {
  const bytes = readFile(dir, PAGES_FILE);
  expect(bytes.length % PAGE_SIZE).toBe(0);
  const inner: number[] = [];
  const leaves: number[] = [];
  for (let page = 0; page < bytes.length / PAGE_SIZE; page++) (bytes[page * PAGE_SIZE + 4] === 2 ? inner : leaves).push(page);
  expect(inner.length).toBeGreaterThan(0);
  expect(leaves.length).toBeGreaterThan(1);
  return { inner, leaves };
}

// ---- what a damaged store must do -------------------------------------------------------------

/** Every file under `dir` with its size and SHA-256, and every directory. */
function snapshot(dir: string): string[] {
  const lines: string[] = [];
  const walk = (at: string, prefix: string): void => {
    for (const entry of fs.readdirSync(at, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const full = path.join(at, entry.name);
      if (entry.isDirectory()) {
        lines.push(`${prefix}${entry.name}/`);
        walk(full, `${prefix}${entry.name}/`);
      } else {
        const bytes = fs.readFileSync(full);
        lines.push(`${prefix}${entry.name} ${bytes.length} ${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}`);
      }
    }
  };
  walk(dir, '');
  return lines;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** "<file> at offset <n>" (the file as a path relative to the store), or any offset. */
function where(file: string, offset?: number): RegExp {
  return new RegExp(`${escapeRegExp(file)} at offset ${offset === undefined ? '\\d+' : offset}\\b`);
}

/** The file's path, as the last part of a path (any offset, or none). */
function named(file: string): RegExp {
  return new RegExp(`/${escapeRegExp(file)}\\b`);
}

/** What differs between two snapshots, one line per file ("" if nothing). */
function changes(before: string[], after: string[]): string {
  const gone = before.filter((line) => !after.includes(line)).map((line) => `- ${line}`);
  const added = after.filter((line) => !before.includes(line)).map((line) => `+ ${line}`);
  return [...gone, ...added].join('\n');
}

/** `dir` is as `before` (soft: the rest of the test still runs and reports). */
function expectUnchanged(dir: string, before: string[], what: string): void {
  const after = snapshot(dir);
  expect.soft(changes(before, after), `${what} changed files in the store`).toBe('');
}

/** `call` rejects CORRUPT naming `file` at `offset` (any offset if undefined, none if null), and changes nothing in `dir`. */
async function expectCorrupt(
  dir: string,
  what: string,
  call: () => Promise<unknown>,
  file: string,
  offset?: number | null,
): Promise<LociError> {
  const before = snapshot(dir);
  const error = await expectRejects(call, 'CORRUPT', offset === null ? named(file) : where(file, offset));
  expectUnchanged(dir, before, `${what} (CORRUPT)`);
  return error;
}

async function expectCorruptOpen(dir: string, file: string, offset?: number | null, modes: RecoveryMode[] = MODES): Promise<void> {
  for (const recovery of modes) {
    await expectCorrupt(dir, `open with recovery '${recovery}'`, () => Store.open(dir, { recovery }), file, offset);
  }
}

async function expectCorruptVerify(dir: string, file: string, offset?: number | null): Promise<void> {
  await expectCorrupt(dir, 'Store.verify', () => Store.verify(dir), file, offset);
}

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(...args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(REPO_ROOT, 'dist/src/cli.js'), ...args], { cwd: REPO_ROOT, timeout: 15_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** `loci verify <dir>` exits 1 naming the file and an offset, and changes nothing. */
async function expectCliCorrupt(dir: string, file: string, offset?: number | null): Promise<void> {
  const before = snapshot(dir);
  const result = await cli('verify', dir);
  expect(result.code, result.stderr).toBe(1);
  expect(result.stderr).toMatch(offset === null ? named(file) : where(file, offset));
  expect(result.stderr).toMatch(/CORRUPT/);
  expectUnchanged(dir, before, 'loci verify');
}

/** A damaged checkpoint file or MANIFEST: refused by open (every mode), verify and the CLI. */
async function expectRefusedEverywhere(dir: string, file: string, offset?: number, cliToo = true): Promise<void> {
  await expectCorruptOpen(dir, file, offset);
  await expectCorruptVerify(dir, file, offset);
  if (cliToo) await expectCliCorrupt(dir, file, offset);
}

/** Store.verify resolves and changes nothing. */
async function expectVerifies(dir: string): Promise<string> {
  const before = snapshot(dir);
  const report = await Store.verify(dir);
  expect(snapshot(dir)).toEqual(before);
  return report;
}

/** The store holds the template's base items (text, meta, time, vector). */
function expectBaseItems(store: Store, sample = [0, 1, 99, 100, 255, 256, ITEMS - 1]): void {
  for (const i of sample) {
    const item = store.get(`v${i}`);
    expect(item.text).toBe(`text ${i}`);
    expect(item.meta).toEqual({ i, tag: 'base' });
    expect(item.time).toBe(1000 + i);
    expect(Array.from(item.vector)).toEqual(Array.from(new Float32Array(data.vectorOf(i))));
  }
}

/** The store holds exactly w0..w(n-1) of the WAL records, with their text and meta. */
function expectWalItems(store: Store, n: number): void {
  for (let i = 0; i < WAL_ITEMS; i++) {
    expect(store.has(`w${i}`), `w${i}`).toBe(i < n);
    if (i < n) {
      const item = store.get(`w${i}`);
      expect(item.text).toBe(`wal ${i}`);
      expect(item.meta).toEqual({ i });
      expect(Array.from(item.vector)).toEqual(Array.from(new Float32Array(data.vectorOf(10000 + i))));
    }
  }
  expect(store.size).toBe(ITEMS + n);
}

// ---- the sound stores ---------------------------------------------------------------------------

describe('sound stores (the baseline the damage is measured against)', () => {
  test.each(INDEX_KINDS)('a closed store opens in every recovery mode, verifies, and `loci verify` exits 0 (%s)', async (index) => {
    const dir = fresh(templates.closed[index]);
    expect(await expectVerifies(dir)).toMatch(/MANIFEST/);
    const result = await cli('verify', dir);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/ok: .* verified/);
    for (const recovery of MODES) {
      const store = await open(dir, { recovery });
      expect(store.size).toBe(ITEMS);
      expectBaseItems(store);
      await store.close();
    }
  });

  test.each(INDEX_KINDS)('a store with WAL records after its checkpoint verifies and replays them, even under absolute (%s)', async (index) => {
    const dir = fresh(templates.wal[index]);
    expect(recordsOf(readFile(dir, WAL))).toHaveLength(WAL_ITEMS);
    expect(await expectVerifies(dir)).toMatch(/WAL: 5 records/);
    const store = await open(dir, { recovery: 'absolute' });
    expect(store.recovery.replayedRecords).toBe(WAL_ITEMS);
    expect(store.recovery.note).toBe('');
    expectWalItems(store, WAL_ITEMS);
    expectBaseItems(store);
  });
});

// ---- MANIFEST -------------------------------------------------------------------------------------

describe('MANIFEST (docs/format/manifest.md)', () => {
  test.each(INDEX_KINDS)('missing, with store files present: CORRUPT "MANIFEST is missing", with or without dim (%s)', async (index) => {
    const dir = fresh(templates.closed[index]);
    removeFile(dir, MANIFEST);
    for (const options of [{}, { dim: DIM }, shape(index)]) {
      const error = await expectCorrupt(dir, 'open', () => Store.open(dir, options), MANIFEST, 0);
      expect(error.message).toMatch(/MANIFEST is missing/);
    }
    await expectCorruptOpen(dir, MANIFEST, 0);
    await expectCorruptVerify(dir, MANIFEST, 0);
    await expectCliCorrupt(dir, MANIFEST, 0);
    // Not created afresh over the old files.
    expect(fs.existsSync(path.join(dir, MANIFEST))).toBe(false);
  });

  test('missing, with only WAL records and the arena left: still CORRUPT, never a new empty store', async () => {
    const dir = fresh(templates.wal.flat);
    for (const file of [MANIFEST, ITEMS_FILE, VECTORS_FILE]) removeFile(dir, file);
    await expectCorrupt(dir, 'open', () => Store.open(dir, { dim: DIM }), MANIFEST, 0);
    await expectCorruptOpen(dir, MANIFEST, 0);
    await expectCorruptVerify(dir, MANIFEST, 0);
  });

  test('wrong size: cut short', async () => {
    const dir = fresh(templates.closed.flat);
    truncateTo(dir, MANIFEST, 100);
    await expectRefusedEverywhere(dir, MANIFEST, 0);
  });

  test('wrong size: empty', async () => {
    const dir = fresh(templates.closed.flat);
    truncateTo(dir, MANIFEST, 0);
    await expectRefusedEverywhere(dir, MANIFEST, 0, false);
  });

  test('wrong size: garbage appended', async () => {
    const dir = fresh(templates.closed.flat);
    appendBytes(dir, MANIFEST, garbage(8));
    await expectRefusedEverywhere(dir, MANIFEST, 0, false);
  });

  test('bad magic: a flipped magic byte fails the CRC', async () => {
    const dir = fresh(templates.closed.atlas);
    flipByte(dir, MANIFEST, 0, 0x01);
    await expectRefusedEverywhere(dir, MANIFEST);
  });

  test('bad magic under a valid CRC: refused at offset 0', async () => {
    const dir = fresh(templates.closed.flat);
    rewriteManifest(dir, (bytes) => bytes.writeUInt32LE(0x464d434d, 0));
    await expectRefusedEverywhere(dir, MANIFEST, 0, false);
  });

  test('unknown format version under a valid CRC: refused at offset 4', async () => {
    const dir = fresh(templates.closed.flat);
    rewriteManifest(dir, (bytes) => bytes.writeUInt16LE(2, 4));
    const error = await expectCorrupt(dir, 'open', () => Store.open(dir), MANIFEST, 4);
    expect(error.message).toMatch(/newer Loci/);
    await expectCorruptVerify(dir, MANIFEST, 4);
  });

  test('unknown flag in bits 0-7 is refused at offset 6; a flag in bits 8-15 is safe to ignore', async () => {
    const dir = fresh(templates.closed.flat);
    rewriteManifest(dir, (bytes) => bytes.writeUInt16LE(0x0001, 6));
    await expectCorruptOpen(dir, MANIFEST, 6);
    await expectCorruptVerify(dir, MANIFEST, 6);
    rewriteManifest(dir, (bytes) => bytes.writeUInt16LE(0x0100, 6));
    await expectVerifies(dir);
    const store = await open(dir);
    expect(store.size).toBe(ITEMS);
  });

  test('CRC mismatch: every one of the 104 bytes flipped in turn is refused by open and verify', async () => {
    const dir = fresh(templates.closed.atlas);
    const good = readFile(dir, MANIFEST);
    expect(good.length).toBe(104);
    for (let offset = 0; offset < good.length; offset++) {
      flipByte(dir, MANIFEST, offset, 1 << (offset % 8));
      await expectCorrupt(dir, `open with byte ${offset} flipped`, () => Store.open(dir), MANIFEST);
      await expectCorrupt(dir, `verify with byte ${offset} flipped`, () => Store.verify(dir), MANIFEST);
      fs.writeFileSync(path.join(dir, MANIFEST), good);
    }
    flipByte(dir, MANIFEST, 50);
    await expectCliCorrupt(dir, MANIFEST);
    fs.writeFileSync(path.join(dir, MANIFEST), good);
    expect((await cli('verify', dir)).code).toBe(0);
  });

  test.each([
    ['dim 0', 8, (bytes: Buffer) => bytes.writeUInt32LE(0, 8)],
    ['dim 65537', 8, (bytes: Buffer) => bytes.writeUInt32LE(65537, 8)],
    ['unknown metric', 12, (bytes: Buffer): void => void (bytes[12] = 3)],
    ['unknown quantization', 13, (bytes: Buffer): void => void (bytes[13] = 2)],
    ['unknown index kind', 14, (bytes: Buffer): void => void (bytes[14] = 2)],
    ['atlas page size not a multiple of 4096', 16, (bytes: Buffer) => bytes.writeUInt32LE(5000, 16)],
    ['atlas fanout 2', 20, (bytes: Buffer) => bytes.writeUInt32LE(2, 20)],
    ['arena generation 0', 40, (bytes: Buffer) => bytes.writeBigUInt64LE(0n, 40)],
    ['more live arena bytes than arena bytes', 56, (bytes: Buffer) => bytes.writeBigUInt64LE(1n << 40n, 56)],
    ['WAL sequence 0', 64, (bytes: Buffer) => bytes.writeBigUInt64LE(0n, 64)],
  ] as const)('field out of range under a valid CRC: %s, refused at offset %i', async (_name, offset, edit) => {
    const dir = fresh(templates.closed.atlas);
    rewriteManifest(dir, edit);
    await expectCorruptOpen(dir, MANIFEST, offset);
    await expectCorruptVerify(dir, MANIFEST, offset);
  });

  test.each([
    ['checkpoint generation', 32, `items.0000000000000002`],
    ['arena generation', 40, `blobs.0000000000000002`],
  ] as const)('a %s whose files are missing: CORRUPT naming the missing file', async (_name, field, missing) => {
    const dir = fresh(templates.closed.atlas);
    rewriteManifest(dir, (bytes) => bytes.writeBigUInt64LE(2n, field));
    await expectRefusedEverywhere(dir, missing, 0);
  });

  test('a WAL sequence naming a WAL file that does not exist: CORRUPT naming it', async () => {
    const dir = fresh(templates.closed.flat);
    rewriteManifest(dir, (bytes) => bytes.writeBigUInt64LE(7n, 64));
    // Named without an offset: see the BUG test on missing WAL files below.
    await expectCorruptOpen(dir, walFile(7), null);
    await expectCorruptVerify(dir, walFile(7), null);
    await expectCliCorrupt(dir, walFile(7), null);
  });
});

// ---- WAL ------------------------------------------------------------------------------------------

describe('WAL (docs/format/wal.md)', () => {
  test.each(INDEX_KINDS)(
    'torn tail, cut inside the last record payload: dropped by default with the acknowledged records kept; CORRUPT under absolute (%s)',
    async (index) => {
      const dir = fresh(templates.wal[index]);
      const records = recordsOf(readFile(dir, WAL));
      const last = records[WAL_ITEMS - 1] as RecordSpan;
      truncateTo(dir, WAL, last.payload + 20);
      await expectCorruptOpen(dir, WAL, last.offset, ['absolute']);
      // verify reads with the default mode: the tail is reported, not refused.
      expect(await expectVerifies(dir)).toMatch(new RegExp(`torn tail[^]*${escapeRegExp(WAL)} at offset ${last.offset}`));
      expect((await cli('verify', dir)).code).toBe(0);

      const store = await open(dir);
      expect(store.recovery.replayedRecords).toBe(WAL_ITEMS - 1);
      expect(store.recovery.note).toMatch(where(WAL, last.offset));
      expectWalItems(store, WAL_ITEMS - 1);
      expectBaseItems(store);
      await store.close();
      // The tail was cut off: now even 'absolute' finds nothing to complain about.
      const again = await open(dir, { recovery: 'absolute' });
      expectWalItems(again, WAL_ITEMS - 1);
    },
  );

  test('torn tail, cut inside the last record header: dropped by default; CORRUPT under absolute', async () => {
    const dir = fresh(templates.wal.flat);
    const last = recordsOf(readFile(dir, WAL))[WAL_ITEMS - 1] as RecordSpan;
    truncateTo(dir, WAL, last.offset + 5);
    await expectCorruptOpen(dir, WAL, last.offset, ['absolute']);
    await expectVerifies(dir);
    const store = await open(dir, { recovery: 'point-in-time' });
    expectWalItems(store, WAL_ITEMS - 1);
  });

  test('torn tail, garbage after the last record: dropped by default; CORRUPT under absolute', async () => {
    const dir = fresh(templates.wal.flat);
    const end = fs.statSync(path.join(dir, WAL)).size;
    appendBytes(dir, WAL, garbage(40));
    await expectCorruptOpen(dir, WAL, end, ['absolute']);
    const store = await open(dir);
    expect(store.recovery.note).toMatch(where(WAL, end));
    expectWalItems(store, WAL_ITEMS);
  });

  test.each(INDEX_KINDS)(
    'flipped byte in a middle record payload: CORRUPT naming file and offset by default and under absolute; point-in-time opens with the records before it (%s)',
    async (index) => {
      const dir = fresh(templates.wal[index]);
      const middle = recordsOf(readFile(dir, WAL))[2] as RecordSpan;
      flipByte(dir, WAL, middle.payload + 20);
      const error = await expectCorrupt(dir, 'open', () => Store.open(dir), WAL, middle.offset);
      expect(error.message).toMatch(/point-in-time/); // says how to salvage
      await expectCorruptOpen(dir, WAL, middle.offset, ['tolerate-torn-tail', 'absolute']);
      await expectCorruptVerify(dir, WAL, middle.offset);
      await expectCliCorrupt(dir, WAL, middle.offset);

      const store = await open(dir, { recovery: 'point-in-time' });
      expect(store.recovery.replayedRecords).toBe(2);
      expect(store.recovery.note).toMatch(where(WAL, middle.offset));
      expectWalItems(store, 2);
      expectBaseItems(store);
      await store.close();
      const again = await open(dir, { recovery: 'absolute' });
      expectWalItems(again, 2);
    },
  );

  test.each([
    ['length', 4],
    ['type', 8],
    ['CRC', 0],
  ] as const)('flipped byte in a middle record %s: CORRUPT by default; point-in-time keeps the records before it', async (_field, at) => {
    const dir = fresh(templates.wal.flat);
    const middle = recordsOf(readFile(dir, WAL))[2] as RecordSpan;
    flipByte(dir, WAL, middle.offset + at, 0x10);
    await expectCorruptOpen(dir, WAL, middle.offset, ['tolerate-torn-tail', 'absolute']);
    await expectCorruptVerify(dir, WAL, middle.offset);
    const store = await open(dir, { recovery: 'point-in-time' });
    expectWalItems(store, 2);
  });

  test.each(INDEX_KINDS)(
    'flipped byte in the last record payload is indistinguishable from a torn tail: dropped by default, CORRUPT under absolute (%s)',
    async (index) => {
      const dir = fresh(templates.wal[index]);
      const last = recordsOf(readFile(dir, WAL))[WAL_ITEMS - 1] as RecordSpan;
      flipByte(dir, WAL, last.payload + 30);
      await expectCorruptOpen(dir, WAL, last.offset, ['absolute']);
      expect(await expectVerifies(dir)).toMatch(/torn tail/);
      const store = await open(dir);
      expect(store.recovery.note).toMatch(where(WAL, last.offset));
      expectWalItems(store, WAL_ITEMS - 1);
    },
  );

  test('damage in the last record of an older WAL file is damage before the tail: CORRUPT by default; point-in-time sets the later file aside', async () => {
    const dir = fresh(templates.twoWalFiles);
    const last = recordsOf(readFile(dir, WAL))[WAL_ITEMS - 1] as RecordSpan;
    flipByte(dir, WAL, last.payload + 30);
    await expectCorruptOpen(dir, WAL, last.offset, ['tolerate-torn-tail', 'absolute']);
    await expectCorruptVerify(dir, WAL, last.offset);
    await expectCliCorrupt(dir, WAL, last.offset);
    const store = await open(dir, { recovery: 'point-in-time' });
    expectWalItems(store, WAL_ITEMS - 1);
    for (let i = 0; i < 3; i++) expect(store.has(`x${i}`)).toBe(false);
    expect(store.recovery.note).toMatch(/set aside/);
    expect(fs.existsSync(path.join(dir, `${walFile(3)}.corrupt`))).toBe(true);
  });

  test('an older WAL file cut short is damage before the tail: CORRUPT by default', async () => {
    const dir = fresh(templates.twoWalFiles);
    const last = recordsOf(readFile(dir, WAL))[WAL_ITEMS - 1] as RecordSpan;
    truncateTo(dir, WAL, last.payload + 10);
    await expectCorruptOpen(dir, WAL, last.offset, ['tolerate-torn-tail', 'absolute']);
    await expectCorruptVerify(dir, WAL, last.offset);
  });

  test('bad WAL file header: CORRUPT at offset 0 by default; point-in-time sets the file aside and opens at the checkpoint', async () => {
    const dir = fresh(templates.wal.flat);
    flipByte(dir, WAL, 10);
    await expectCorruptOpen(dir, WAL, 0, ['tolerate-torn-tail', 'absolute']);
    await expectCorruptVerify(dir, WAL, 0);
    const store = await open(dir, { recovery: 'point-in-time' });
    expectWalItems(store, 0);
    expectBaseItems(store);
    expect(fs.existsSync(path.join(dir, `${WAL}.corrupt`))).toBe(true);
  });

  test('a WAL header of another store (different dim, valid CRC): CORRUPT at offset 0', async () => {
    const dir = fresh(templates.wal.flat);
    const bytes = readFile(dir, WAL);
    fileHeader(bytes.readUInt32LE(0), 2n, 9n).copy(bytes, 0);
    fs.writeFileSync(path.join(dir, WAL), bytes);
    await expectCorruptOpen(dir, WAL, 0, ['tolerate-torn-tail', 'absolute']);
  });

  test('missing WAL file named by the MANIFEST: CORRUPT naming it, in every mode', async () => {
    const dir = fresh(templates.wal.flat);
    removeFile(dir, WAL);
    // Named without an offset: see the BUG test on missing WAL files below.
    await expectCorruptOpen(dir, WAL, null);
    await expectCorruptVerify(dir, WAL, null);
    await expectCliCorrupt(dir, WAL, null);
  });

  test('a WAL file missing from the sequence: CORRUPT naming the missing one', async () => {
    const dir = fresh(templates.wal.flat);
    const magic = readFile(dir, WAL).readUInt32LE(0);
    fs.writeFileSync(path.join(dir, walFile(4)), fileHeader(magic, 4n, BigInt(DIM)));
    await expectCorruptOpen(dir, walFile(3), null, ['tolerate-torn-tail', 'absolute']);
    await expectCorruptVerify(dir, walFile(3), null);
  });

  test('BUG: a missing WAL file is reported without a byte offset (every other damaged or missing file says "at offset N")', async () => {
    // docs/format/README.md: "A damaged file is reported as CORRUPT with a message naming
    // the file and the byte offset"; a missing items/vectors/pages/blobs file or MANIFEST
    // says "at offset 0". replay_wal (native/engine/wal.cpp) says "<wal>: the WAL file the
    // MANIFEST names is missing" and "<wal>: a WAL file is missing from the sequence", so
    // `loci verify` prints no offset for them.
    const dir = fresh(templates.wal.flat);
    removeFile(dir, WAL);
    await expectRejects(() => Store.open(dir), 'CORRUPT', where(WAL, 0));
    await expectRejects(() => Store.verify(dir), 'CORRUPT', where(WAL, 0));
    expect((await cli('verify', dir)).stderr).toMatch(where(WAL, 0));
    const gap = fresh(templates.wal.flat);
    const magic = readFile(gap, WAL).readUInt32LE(0);
    fs.writeFileSync(path.join(gap, walFile(4)), fileHeader(magic, 4n, BigInt(DIM)));
    await expectRejects(() => Store.verify(gap), 'CORRUPT', where(walFile(3), 0));
  });

  test('an LSN that does not follow the previous one (valid CRC): CORRUPT at that record', async () => {
    const dir = fresh(templates.wal.flat);
    const bytes = readFile(dir, WAL);
    const middle = recordsOf(bytes)[2] as RecordSpan;
    const payload = Buffer.from(bytes.subarray(middle.payload, middle.end));
    payload.writeBigUInt64LE(99n, 0);
    frameRecord(middle.type, payload).copy(bytes, middle.offset);
    fs.writeFileSync(path.join(dir, WAL), bytes);
    const error = await expectCorrupt(dir, 'open', () => Store.open(dir), WAL, middle.offset);
    expect(error.message).toMatch(/LSN 99/);
    await expectCorruptOpen(dir, WAL, middle.offset, ['absolute']);
    await expectCorruptVerify(dir, WAL, middle.offset);
  });

  test('unknown record type without the ignore bit (valid CRC): CORRUPT "newer Loci?"', async () => {
    const dir = fresh(templates.wal.flat);
    const end = fs.statSync(path.join(dir, WAL)).size;
    appendBytes(dir, WAL, frameRecord(0x05, Buffer.from('from the future')));
    const error = await expectCorrupt(dir, 'open', () => Store.open(dir), WAL, end);
    expect(error.message).toMatch(/unknown record type 5/);
    await expectCorruptVerify(dir, WAL, end);
  });

  test('unknown record type with the ignore bit (valid CRC): skipped, every record replayed', async () => {
    const dir = fresh(templates.wal.flat);
    const bytes = readFile(dir, WAL);
    const second = recordsOf(bytes)[1] as RecordSpan;
    // Between two records, and at the end.
    const skipped = frameRecord(0x85, Buffer.from('safe to ignore'));
    fs.writeFileSync(path.join(dir, WAL), Buffer.concat([bytes.subarray(0, second.offset), skipped, bytes.subarray(second.offset), skipped]));
    await expectVerifies(dir);
    const store = await open(dir, { recovery: 'absolute' });
    expect(store.recovery.replayedRecords).toBe(WAL_ITEMS);
    expectWalItems(store, WAL_ITEMS);
  });

  test('BUG: a CORRUPT open must not truncate the blob arena (it cuts it to arena_bytes before the WAL replay finds the damage)', async () => {
    // docs/format/manifest.md and README.md: a refused open writes nothing. Engine::load
    // truncates blobs.<gen> to the MANIFEST's arena_bytes (BlobArena::open) and only then
    // replays the WAL; when the replay then fails with CORRUPT, the blobs written after the
    // checkpoint are gone, including the only other copy of the damaged record's text.
    const dir = fresh(templates.wal.flat);
    const arenaBefore = readFile(dir, BLOBS_FILE);
    const middle = recordsOf(readFile(dir, WAL))[2] as RecordSpan;
    flipByte(dir, WAL, middle.payload + 20);
    await expectRejects(() => Store.open(dir), 'CORRUPT', where(WAL, middle.offset));
    const arenaAfter = readFile(dir, BLOBS_FILE);
    expect(arenaAfter.length, 'blob arena size after a CORRUPT open').toBe(arenaBefore.length);
    expect(arenaAfter.equals(arenaBefore)).toBe(true);
  });

  test('BUG: point-in-time must set the records after the damage aside as .corrupt (it truncates them away)', async () => {
    // docs/format/wal.md, recovery modes: "later records and WAL files are set aside as
    // <name>.corrupt". replay_wal's damage() truncates the damaged file at the bad record,
    // so the intact records after it (w3, w4 here) are lost with no copy left anywhere.
    const dir = fresh(templates.wal.flat);
    const original = readFile(dir, WAL);
    const middle = recordsOf(original)[2] as RecordSpan;
    flipByte(dir, WAL, middle.payload + 20);
    const damaged = readFile(dir, WAL);
    const store = await open(dir, { recovery: 'point-in-time' });
    expectWalItems(store, 2);
    const walDir = path.join(dir, 'wal');
    const asides = fs.readdirSync(walDir).filter((name) => name.endsWith('.corrupt'));
    const tail = damaged.subarray(middle.offset);
    const kept = asides.some((name) => fs.readFileSync(path.join(walDir, name)).includes(tail));
    expect(kept, `wal/ holds ${JSON.stringify(fs.readdirSync(walDir))}: no .corrupt file keeps the ${tail.length} bytes from offset ${middle.offset}`).toBe(true);
  });
});

// ---- checkpoint files: items, vectors, pages ----------------------------------------------------

describe('items.<gen> (docs/format/checkpoint.md)', () => {
  test.each(INDEX_KINDS)('flipped byte in the header: CORRUPT at offset 0 (%s)', async (index) => {
    const dir = fresh(templates.closed[index]);
    flipByte(dir, ITEMS_FILE, 10);
    await expectRefusedEverywhere(dir, ITEMS_FILE, 0);
  });

  test.each(INDEX_KINDS)('flipped byte in each record (items, slots, end): CORRUPT at that record (%s)', async (index) => {
    const dir = fresh(templates.closed[index]);
    const good = readFile(dir, ITEMS_FILE);
    const records = recordsOf(good);
    expect(records.map((record) => record.type)).toEqual([1, 2, 3]);
    for (const record of records) {
      flipByte(dir, ITEMS_FILE, record.payload + (record.length >> 1));
      await expectCorruptOpen(dir, ITEMS_FILE, record.offset);
      await expectCorruptVerify(dir, ITEMS_FILE, record.offset);
      if (record.type === 2) await expectCliCorrupt(dir, ITEMS_FILE, record.offset);
      fs.writeFileSync(path.join(dir, ITEMS_FILE), good);
    }
  });

  test.each(INDEX_KINDS)('cut short: inside the header, inside a record, before the end record (%s)', async (index) => {
    const dir = fresh(templates.closed[index]);
    const good = readFile(dir, ITEMS_FILE);
    const [, slots, end] = recordsOf(good) as RecordSpan[];
    for (const [size, offset] of [
      [20, 0],
      [(slots as RecordSpan).payload + 50, (slots as RecordSpan).offset],
      [(end as RecordSpan).offset, (end as RecordSpan).offset],
    ] as const) {
      truncateTo(dir, ITEMS_FILE, size);
      await expectCorruptOpen(dir, ITEMS_FILE, offset);
      await expectCorruptVerify(dir, ITEMS_FILE, offset);
      fs.writeFileSync(path.join(dir, ITEMS_FILE), good);
    }
    truncateTo(dir, ITEMS_FILE, (slots as RecordSpan).offset + 3);
    await expectCliCorrupt(dir, ITEMS_FILE, (slots as RecordSpan).offset);
  });

  test('garbage after the end record: CORRUPT at the end of the records', async () => {
    const dir = fresh(templates.closed.flat);
    const size = fs.statSync(path.join(dir, ITEMS_FILE)).size;
    appendBytes(dir, ITEMS_FILE, garbage(16));
    await expectRefusedEverywhere(dir, ITEMS_FILE, size, false);
  });

  test.each(INDEX_KINDS)('removed: CORRUPT naming it at offset 0 (%s)', async (index) => {
    const dir = fresh(templates.closed[index]);
    removeFile(dir, ITEMS_FILE);
    await expectRefusedEverywhere(dir, ITEMS_FILE, 0);
  });

  test('BUG: a blob reference past the end of the arena (valid record CRC) is refused without a byte offset', async () => {
    // docs/format/blobs.md: "a reference past the end of the arena". The check exists
    // (Engine::load) and refuses it, but its message names items.<gen> without an offset:
    // "<dir>/items.<gen>: item v0 refers past the end of the blob arena".
    const dir = fresh(templates.closed.flat);
    const bytes = readFile(dir, ITEMS_FILE);
    const record = recordsOf(bytes)[0] as RecordSpan;
    const payload = Buffer.from(bytes.subarray(record.payload, record.end));
    let [, at] = readVarint(payload, 0); // count
    const [idLength, idAt] = readVarint(payload, at);
    at = idAt + idLength + 8; // id, time
    payload.writeBigUInt64LE(BigInt(fs.statSync(path.join(dir, BLOBS_FILE)).size + 4096), at);
    frameRecord(record.type, payload).copy(bytes, record.offset);
    fs.writeFileSync(path.join(dir, ITEMS_FILE), bytes);
    const before = snapshot(dir);
    for (const call of [() => Store.open(dir), () => Store.verify(dir)]) {
      const error = await expectRejects(call, 'CORRUPT', /past the end|outside the arena/);
      expect(error.message).toMatch(new RegExp(`(${escapeRegExp(ITEMS_FILE)}|${escapeRegExp(BLOBS_FILE)}) at offset \\d+`));
    }
    expect(snapshot(dir)).toEqual(before);
  });
});

describe('vectors.<gen> (docs/format/checkpoint.md)', () => {
  const ROWS = 4096;
  test.each(INDEX_KINDS)('flipped byte in the header: CORRUPT naming the header CRC (%s)', async (index) => {
    const dir = fresh(templates.closed[index]);
    flipByte(dir, VECTORS_FILE, 16); // rows
    await expectRefusedEverywhere(dir, VECTORS_FILE, 60);
  });

  test('flipped byte in the header padding (not under a CRC): CORRUPT at that byte', async () => {
    const dir = fresh(templates.closed.flat);
    flipByte(dir, VECTORS_FILE, 1000, 0x01);
    await expectRefusedEverywhere(dir, VECTORS_FILE, 1000, false);
  });

  test.each(INDEX_KINDS)('flipped byte in each row group, and in the group CRCs: CORRUPT at the group (%s)', async (index) => {
    const dir = fresh(templates.closed[index]);
    const good = readFile(dir, VECTORS_FILE);
    const rowBytes = DIM * 4;
    expect(good.length).toBe(ROWS + ITEMS * rowBytes + 4 * 2);
    const secondGroup = ROWS + 256 * rowBytes;
    for (const [flip, offset] of [
      [ROWS + 3, ROWS], // row 0
      [ROWS + 255 * rowBytes + 5, ROWS], // row 255, the last of group 0
      [secondGroup + 40 * rowBytes, secondGroup], // row 296
      [ROWS + ITEMS * rowBytes + 1, ROWS], // group 0's CRC
      [ROWS + ITEMS * rowBytes + 6, secondGroup], // group 1's CRC
    ] as const) {
      flipByte(dir, VECTORS_FILE, flip, 0x04);
      await expectCorruptOpen(dir, VECTORS_FILE, offset);
      await expectCorruptVerify(dir, VECTORS_FILE, offset);
      fs.writeFileSync(path.join(dir, VECTORS_FILE), good);
    }
    flipByte(dir, VECTORS_FILE, secondGroup + 7);
    await expectCliCorrupt(dir, VECTORS_FILE, secondGroup);
  });

  test.each(INDEX_KINDS)('cut short: fewer rows than its header says, or no rows at all (%s)', async (index) => {
    const dir = fresh(templates.closed[index]);
    const size = fs.statSync(path.join(dir, VECTORS_FILE)).size;
    truncateTo(dir, VECTORS_FILE, size - 1);
    await expectRefusedEverywhere(dir, VECTORS_FILE, size - 1);
    truncateTo(dir, VECTORS_FILE, 2000);
    await expectRefusedEverywhere(dir, VECTORS_FILE, 0, false);
  });

  test('garbage appended: CORRUPT at the unexpected end', async () => {
    const dir = fresh(templates.closed.atlas);
    const size = fs.statSync(path.join(dir, VECTORS_FILE)).size;
    appendBytes(dir, VECTORS_FILE, garbage(32));
    await expectRefusedEverywhere(dir, VECTORS_FILE, size + 32, false);
  });

  test.each(INDEX_KINDS)('removed: CORRUPT naming it at offset 0 (%s)', async (index) => {
    const dir = fresh(templates.closed[index]);
    removeFile(dir, VECTORS_FILE);
    await expectRefusedEverywhere(dir, VECTORS_FILE, 0);
  });
});

describe('pages.<gen> (docs/format/pages.md, checkpoint.md)', () => {
  test('flipped byte in a leaf page header: bad magic at the page, CRC mismatch at its CRC', async () => {
    const dir = fresh(templates.closed.atlas);
    const good = readFile(dir, PAGES_FILE);
    const leaf = (pagesOf(dir).leaves[1] as number) * PAGE_SIZE;
    for (const [flip, offset] of [
      [leaf + 0, leaf], // magic
      [leaf + 16, leaf + 8], // count: under the CRC
      [leaf + 20, leaf + 8], // capacity
      [leaf + 8, leaf + 8], // the CRC itself
    ] as const) {
      flipByte(dir, PAGES_FILE, flip, 0x02);
      await expectCorruptOpen(dir, PAGES_FILE, offset);
      await expectCorruptVerify(dir, PAGES_FILE, offset);
      fs.writeFileSync(path.join(dir, PAGES_FILE), good);
    }
    flipByte(dir, PAGES_FILE, leaf + 24);
    await expectCliCorrupt(dir, PAGES_FILE, leaf + 8);
  });

  test('flipped byte anywhere in a leaf page body (slots, versions, scales, norms, codes, padding): CORRUPT at the page CRC', async () => {
    const dir = fresh(templates.closed.atlas);
    const good = readFile(dir, PAGES_FILE);
    const { leaves } = pagesOf(dir);
    for (const page of [leaves[0] as number, leaves[leaves.length - 1] as number]) {
      for (const within of [64, 640, 1800, 2400, 3000, 3500, PAGE_SIZE - 1]) {
        flipByte(dir, PAGES_FILE, page * PAGE_SIZE + within, 0x80);
        await expectCorruptOpen(dir, PAGES_FILE, page * PAGE_SIZE + 8, ['tolerate-torn-tail']);
        await expectCorruptVerify(dir, PAGES_FILE, page * PAGE_SIZE + 8);
        fs.writeFileSync(path.join(dir, PAGES_FILE), good);
      }
    }
    flipByte(dir, PAGES_FILE, (leaves[0] as number) * PAGE_SIZE + 3000);
    await expectCorruptOpen(dir, PAGES_FILE, (leaves[0] as number) * PAGE_SIZE + 8);
  });

  test('flipped byte in the inner page (the tree payload): CORRUPT at the page', async () => {
    const dir = fresh(templates.closed.atlas);
    const good = readFile(dir, PAGES_FILE);
    const inner = pagesOf(dir).inner[0] as number;
    expect(inner).toBe(0);
    for (const [flip, offset] of [
      [0, 0], // magic
      [4, 0], // type: bytes 0-11 are outside the page CRC, checked field by field
      [12, 8], // page id, under the CRC
      [40, 8], // the payload's length
      [64 + 4, 8], // tree payload: leaf count
      [200, 8], // a centroid
    ] as const) {
      flipByte(dir, PAGES_FILE, flip, 0x01);
      await expectCorruptOpen(dir, PAGES_FILE, offset);
      await expectCorruptVerify(dir, PAGES_FILE, offset);
      fs.writeFileSync(path.join(dir, PAGES_FILE), good);
    }
    flipByte(dir, PAGES_FILE, 100);
    await expectCliCorrupt(dir, PAGES_FILE, 8);
  });

  test('cut short: inside a leaf page, a whole leaf page missing, inside the tree', async () => {
    const dir = fresh(templates.closed.atlas);
    const good = readFile(dir, PAGES_FILE);
    for (const [size, offset] of [
      [good.length - 100, good.length - 100], // not a whole number of pages
      [good.length - PAGE_SIZE, good.length - PAGE_SIZE], // the tree names one more leaf
      [PAGE_SIZE - 10, 0], // inside the tree
    ] as const) {
      truncateTo(dir, PAGES_FILE, size);
      await expectCorruptOpen(dir, PAGES_FILE, offset);
      await expectCorruptVerify(dir, PAGES_FILE, offset);
      fs.writeFileSync(path.join(dir, PAGES_FILE), good);
    }
    truncateTo(dir, PAGES_FILE, good.length - PAGE_SIZE);
    await expectCliCorrupt(dir, PAGES_FILE, good.length - PAGE_SIZE);
  });

  test('garbage appended: CORRUPT (not a whole number of pages)', async () => {
    const dir = fresh(templates.closed.atlas);
    const size = fs.statSync(path.join(dir, PAGES_FILE)).size;
    appendBytes(dir, PAGES_FILE, garbage(100));
    await expectRefusedEverywhere(dir, PAGES_FILE, size + 100, false);
  });

  test('removed: CORRUPT naming it at offset 0', async () => {
    const dir = fresh(templates.closed.atlas);
    removeFile(dir, PAGES_FILE);
    await expectRefusedEverywhere(dir, PAGES_FILE, 0);
  });

  test.each([
    ['unknown type', 4, (page: Buffer): void => void (page[4] = 3), 4],
    ['unknown version', 5, (page: Buffer): void => void (page[5] = 2), 4],
    ['unknown flag in bits 0-7', 6, (page: Buffer) => page.writeUInt16LE(0x0004, 6), 6],
    ['page id not its position', 12, (page: Buffer) => page.writeUInt32LE(9999, 12), 12],
    ['count > capacity', 16, (page: Buffer) => page.writeUInt32LE(page.readUInt32LE(20) + 1, 16), 16],
    ['capacity that disagrees with the MANIFEST', 20, (page: Buffer) => page.writeUInt32LE(page.readUInt32LE(20) - 4, 20), 20],
    ['dim that disagrees with the MANIFEST', 24, (page: Buffer) => page.writeUInt32LE(DIM + 1, 24), 20],
    ['page size that disagrees with the MANIFEST', 28, (page: Buffer) => page.writeUInt32LE(PAGE_SIZE * 2, 28), 20],
  ] as const)('a leaf page with %s (valid page CRC): CORRUPT at the field', async (_name, _field, edit, at) => {
    const dir = fresh(templates.closed.atlas);
    const leaf = pagesOf(dir).leaves[1] as number;
    rewritePage(dir, leaf, edit);
    await expectRefusedEverywhere(dir, PAGES_FILE, leaf * PAGE_SIZE + at, false);
  });

  test('BUG: a leaf page entry naming a slot beyond the slot table (valid page CRC) is refused without naming pages.<gen> or an offset', async () => {
    // docs/format/pages.md: "a slot beyond the item table ... refused with CORRUPT naming
    // the file and offset". Atlas::load reports it as "atlas image: leaf N refers to slot
    // S of M": no file, no offset.
    const dir = fresh(templates.closed.atlas);
    const leaf = pagesOf(dir).leaves[0] as number;
    rewritePage(dir, leaf, (page) => {
      expect(page.readUInt32LE(16)).toBeGreaterThan(0);
      page.writeUInt32LE(99_999, 64); // slots[0]
    });
    const before = snapshot(dir);
    for (const call of [() => Store.open(dir), () => Store.verify(dir)]) {
      const error = await expectRejects(call, 'CORRUPT', /slot 99999/);
      expect(error.message).toMatch(where(PAGES_FILE));
    }
    expect(snapshot(dir)).toEqual(before);
  });

  test('BUG: a tree whose child reference is out of range (valid page CRC) is refused without naming pages.<gen> or an offset', async () => {
    // docs/format/checkpoint.md: "a tree whose refs are out of range". Atlas::load reports
    // "atlas image: child reference out of range": no file, no offset.
    const dir = fresh(templates.closed.atlas);
    const { inner, leaves } = pagesOf(dir);
    expect(inner).toEqual([0]);
    rewritePage(dir, 0, (page) => {
      const leafCount = page.readUInt32LE(64 + 4);
      expect(leafCount).toBe(leaves.length);
      const firstChild = 64 + 12 + 4 * leafCount + 8; // after root, leaves, nodes, leaf parents, node 0's parent and count
      page.writeUInt32LE(0xffff, firstChild);
    });
    const before = snapshot(dir);
    for (const call of [() => Store.open(dir), () => Store.verify(dir)]) {
      const error = await expectRejects(call, 'CORRUPT', /out of range/);
      expect(error.message).toMatch(where(PAGES_FILE));
    }
    expect(snapshot(dir)).toEqual(before);
  });
});

// ---- blob arena -------------------------------------------------------------------------------------

describe('blob arena (docs/format/blobs.md)', () => {
  test.each(INDEX_KINDS)(
    'flipped byte inside a blob: open succeeds; get of that item throws CORRUPT naming the arena and offset, the others stay readable; verify reports it (%s)',
    async (index) => {
      const dir = fresh(templates.closed[index]);
      const blobs = blobsOf(readFile(dir, BLOBS_FILE));
      expect(blobs).toHaveLength(ITEMS);
      const damaged = blobs.find((blob) => blob.text === 'text 5') as BlobSpan;
      flipByte(dir, BLOBS_FILE, damaged.offset + 8 + 3); // inside "text 5"
      await expectCorruptVerify(dir, BLOBS_FILE, damaged.offset);
      await expectCliCorrupt(dir, BLOBS_FILE, damaged.offset);

      for (const recovery of MODES) {
        const store = await open(dir, { recovery });
        expect(store.size).toBe(ITEMS);
        const error = expectThrows(() => store.get('v5'), 'CORRUPT', where(BLOBS_FILE, damaged.offset));
        expect(error.message).toMatch(/verify/);
        expect(store.has('v5')).toBe(true);
        expectBaseItems(store, [0, 4, 6, 100, 299]);
        // Searching does not read blobs: the item is still found.
        expect(store.searchSync(data.vectorOf(5), { k: 1, effort: index === 'atlas' ? 1 : undefined }).ids).toEqual(['v5']);
        await store.close();
      }
      // Nothing repaired or hid it.
      await expectCorruptVerify(dir, BLOBS_FILE, damaged.offset);
    },
  );

  test('flipped byte in a blob header (its CRC, its length): get throws CORRUPT at that blob', async () => {
    const dir = fresh(templates.closed.flat);
    const good = readFile(dir, BLOBS_FILE);
    const blobs = blobsOf(good);
    for (const [text, within] of [
      ['text 7', 1],
      ['text 8', 4],
    ] as const) {
      const damaged = blobs.find((blob) => blob.text === text) as BlobSpan;
      flipByte(dir, BLOBS_FILE, damaged.offset + within, 0x01);
      await expectCorruptVerify(dir, BLOBS_FILE, damaged.offset);
      const store = await open(dir);
      expectThrows(() => store.get(`v${text.slice(5)}`), 'CORRUPT', where(BLOBS_FILE, damaged.offset));
      expectBaseItems(store, [0, 9]);
      await store.close();
      fs.writeFileSync(path.join(dir, BLOBS_FILE), good);
    }
  });

  test.each(INDEX_KINDS)('flipped byte in the arena header: CORRUPT at offset 0 (%s)', async (index) => {
    const dir = fresh(templates.closed[index]);
    flipByte(dir, BLOBS_FILE, 9);
    await expectRefusedEverywhere(dir, BLOBS_FILE, 0);
  });

  test.each(INDEX_KINDS)("arena cut below the MANIFEST's arena_bytes: CORRUPT at open naming the arena and its size (%s)", async (index) => {
    const dir = fresh(templates.closed[index]);
    const size = fs.statSync(path.join(dir, BLOBS_FILE)).size;
    truncateTo(dir, BLOBS_FILE, size - 1);
    await expectRefusedEverywhere(dir, BLOBS_FILE, size - 1);
    truncateTo(dir, BLOBS_FILE, 10); // inside the header
    await expectRefusedEverywhere(dir, BLOBS_FILE, 10, false);
  });

  test("arena cut below arena_bytes while the WAL holds later records: CORRUPT at open, nothing truncated", async () => {
    const dir = fresh(templates.wal.flat);
    const arenaBytes = Number(readFile(dir, MANIFEST).readBigUInt64LE(48));
    expect(fs.statSync(path.join(dir, BLOBS_FILE)).size).toBeGreaterThan(arenaBytes); // the WAL's blobs follow
    truncateTo(dir, BLOBS_FILE, arenaBytes - 20);
    await expectRefusedEverywhere(dir, BLOBS_FILE, arenaBytes - 20);
  });

  test('arena removed: CORRUPT naming it at offset 0', async () => {
    const dir = fresh(templates.closed.atlas);
    removeFile(dir, BLOBS_FILE);
    await expectRefusedEverywhere(dir, BLOBS_FILE, 0);
  });

  test("bytes past arena_bytes (written after the checkpoint, or garbage) are not damage: dropped at open", async () => {
    const dir = fresh(templates.closed.flat);
    appendBytes(dir, BLOBS_FILE, garbage(300));
    await expectVerifies(dir);
    const store = await open(dir, { recovery: 'absolute' });
    expectBaseItems(store);
    await store.add({ id: 'new', vector: data.vectorOf(7), text: 'after garbage' });
    await store.close();
    const reopened = await open(dir);
    expect(reopened.get('new').text).toBe('after garbage');
    expectBaseItems(reopened);
  });
});
