// The durable store's API: what Store.open(dir) keeps across close, reopen and process
// exit (text, meta, time, vectors), how it adopts or refuses a stored shape, the LOCK,
// checkpoints and compaction, group commit, the three durability modes, verify, and
// bad inputs that must store nothing. Crashes (kill -9) are test/30.store.crash.test.ts.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { Store, type Durability, type IndexKind, type Item, type StoreOptions } from 'loci';
import { afterEach, describe, expect, test } from 'vitest';

import { expectRejects, expectThrows, mulberry32, REPO_ROOT, runNode, SEED, uniformVector } from './support';

const INDEX_KINDS: IndexKind[] = ['flat', 'atlas'];

// Each test gets its own temp directory; stores it opened are closed (releasing the LOCK)
// before the directories are removed, so a failing test leaks nothing.
const directories: string[] = [];
const opened: Store[] = [];
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loci-durable-'));
  directories.push(dir);
  return dir;
}
async function open(dir: string, options?: StoreOptions): Promise<Store> {
  const store = await Store.open(dir, options);
  opened.push(store);
  return store;
}
afterEach(async () => {
  await Promise.all(opened.splice(0).map((store) => store.close()));
  for (const dir of directories.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** The options that create a small store of `index` kind (atlas with small pages). */
function shape(index: IndexKind, dim = 8): StoreOptions {
  return index === 'atlas' ? { dim, metric: 'l2', index, pageSize: 4096, fanout: 4 } : { dim, metric: 'l2', index };
}

/** Runs `body` (async JS, `Store` and `dir` in scope) in a child node process. */
function inChild(dir: string, body: string): ReturnType<typeof runNode> {
  return runNode(
    `const { Store } = require('loci'); const dir = process.env.LOCI_TEST_DIR;
     (async () => {\n${body}\n})().catch((error) => { console.error(error); process.exit(1); });`,
    { LOCI_TEST_DIR: dir },
    30_000,
  );
}

/** A text of at least `bytes` bytes of UTF-8 with 1-, 2-, 3- and 4-byte characters. */
function largeText(bytes: number): string {
  const unit = 'memory naïve Ωμέγα 日本語 🦊🧠 e\u0301\n';
  return unit.repeat(Math.ceil(bytes / Buffer.byteLength(unit)));
}

/** The stored item equals `item` (time as Unix ms; absent text or meta stay absent). */
function expectItem(store: Store, item: Item & { time: number | Date }): void {
  const stored = store.get(item.id);
  expect(Array.from(stored.vector)).toEqual(Array.from(item.vector as ArrayLike<number>));
  expect(stored.text).toBe(item.text);
  expect(stored.meta).toEqual(item.meta);
  expect('meta' in stored).toBe(item.meta !== undefined);
  expect('text' in stored).toBe(item.text !== undefined);
  expect(stored.time).toBe(item.time instanceof Date ? item.time.getTime() : item.time);
}

describe('items survive close and reopen', () => {
  test.each(INDEX_KINDS)('text, meta and time round-trip exactly (%s)', async (index) => {
    const dir = path.join(tempDir(), 'store');
    const random = mulberry32(SEED);
    const items = [
      {
        id: 'object',
        vector: uniformVector(random, 8),
        text: 'héllo wörld 🦊 日本語 שלום',
        meta: { nested: { list: [1, 'two', null, true, { x: -0.5 }] }, ключ: 'значение', emoji: '🧠', big: 2 ** 53 - 1 },
        time: 1_700_000_000_123.5,
      },
      { id: 'array', vector: uniformVector(random, 8), meta: [1, 2, 'three', [4]], time: new Date(1_600_000_000_000) },
      { id: 'large', vector: uniformVector(random, 8), text: largeText(1 << 20), meta: 'a JSON string', time: 0 },
      { id: 'null-meta', vector: uniformVector(random, 8), meta: null, time: -86_400_000 },
      { id: 'falsy-meta', vector: uniformVector(random, 8), meta: 0, time: 1 },
      { id: 'empty-string-meta', vector: uniformVector(random, 8), meta: '', time: 2 },
      { id: 'ünïcødé id 🦊', vector: uniformVector(random, 8), text: 'x', meta: false, time: 3 },
    ];
    const store = await open(dir, shape(index));
    expect(store.recovery.created).toBe(true);
    const before = Date.now();
    await store.add(items.slice(0, 3));
    await store.add(items.slice(3));
    await store.add({ id: 'default-time', vector: uniformVector(random, 8) });
    const after = Date.now();
    const defaultTime = store.get('default-time').time as number;
    expect(defaultTime).toBeGreaterThanOrEqual(before);
    expect(defaultTime).toBeLessThanOrEqual(after);
    expect(Buffer.byteLength(items[2]?.text as string)).toBeGreaterThanOrEqual(1 << 20);

    const check = (reopened: Store): void => {
      expect(reopened.size).toBe(items.length + 1);
      for (const item of items) expectItem(reopened, item);
      const plain = reopened.get('default-time');
      expect(plain.time).toBe(defaultTime);
      expect('text' in plain || 'meta' in plain).toBe(false);
      for (const item of items) {
        const { ids } = reopened.searchSync(item.vector, { k: 3, effort: index === 'atlas' ? 1 : undefined });
        expect(ids[0]).toBe(item.id);
      }
    };
    check(store);
    await store.close();
    // Reopen twice: the second open recovers what the first one wrote at close.
    for (let round = 0; round < 2; round++) {
      const reopened = await open(dir);
      expect(reopened.recovery.created).toBe(false);
      expect(reopened.recovery.replayedRecords).toBe(0); // close() checkpoints
      expect(reopened.index).toBe(index);
      check(reopened);
      await reopened.close();
    }
    await expect(Store.verify(dir)).resolves.toEqual(expect.any(String));
  });

  test.each(INDEX_KINDS)('reopen adopts dim, metric and index when they are omitted (%s)', async (index) => {
    const dir = tempDir();
    const options: StoreOptions =
      index === 'atlas' ? { dim: 5, metric: 'ip', index, pageSize: 8192, fanout: 8 } : { dim: 3, metric: 'l2', index, quantization: 'int8' };
    const created = await open(dir, options);
    await created.add({ id: 'a', vector: new Float32Array(options.dim as number).fill(0.5) });
    await created.close();

    const reopened = await open(dir);
    expect(reopened.dim).toBe(options.dim);
    expect(reopened.metric).toBe(options.metric);
    expect(reopened.index).toBe(index);
    expect(reopened.quantization).toBe('int8');
    if (index === 'atlas') expect(reopened.stats().pageSize).toBe(8192);
    expect(reopened.get('a').vector.length).toBe(options.dim);
    await reopened.close();
    // Naming the stored values is fine too.
    const named = await open(dir, options);
    expect(named.size).toBe(1);
  });

  test('upsert replaces text, meta and time; reopen keeps the replacement', async () => {
    const dir = tempDir();
    const store = await open(dir, shape('flat', 2));
    await store.add({ id: 'a', vector: [1, 0], text: 'first', meta: { version: 1 }, time: 10 });
    await store.upsert({ id: 'a', vector: [0, 1], text: 'second', meta: ['version', 2], time: new Date(20) });
    expectItem(store, { id: 'a', vector: [0, 1], text: 'second', meta: ['version', 2], time: 20 });
    // An upsert without text, meta or time replaces them with none and now.
    const before = Date.now();
    await store.upsert([{ id: 'b', vector: [1, 1], text: 'new' }, { id: 'a', vector: [2, 2] }]);
    const bare = store.get('a');
    expect('text' in bare || 'meta' in bare).toBe(false);
    expect(bare.time).toBeGreaterThanOrEqual(before);
    await store.close();
    const reopened = await open(dir);
    expect(reopened.size).toBe(2);
    expect(reopened.get('a')).toEqual(bare);
    expect(reopened.get('b').text).toBe('new');
  });

  test.each(INDEX_KINDS)('deletes survive reopen, and a deleted id can be added again (%s)', async (index) => {
    const dir = tempDir();
    const store = await open(dir, shape(index, 4));
    const random = mulberry32(SEED);
    const items = Array.from({ length: 300 }, (_, i) => ({ id: `v${i}`, vector: uniformVector(random, 4), text: `text ${i}` }));
    await store.add(items);
    await store.delete(items.filter((_, i) => i % 3 === 0).map((item) => item.id));
    await store.delete('v1');
    await store.close();

    let reopened = await open(dir);
    expect(reopened.size).toBe(300 - 100 - 1);
    for (const [i, item] of items.entries()) {
      const kept = i % 3 !== 0 && i !== 1;
      expect(reopened.has(item.id)).toBe(kept);
      if (!kept) expectThrows(() => reopened.get(item.id), 'NOT_FOUND');
      // Deleted items never come back from a search.
      expect(reopened.searchSync(item.vector, { k: 1, effort: index === 'atlas' ? 1 : undefined }).ids[0] === item.id).toBe(kept);
    }
    await reopened.add({ id: 'v0', vector: [1, 2, 3, 4], text: 'again' });
    await reopened.close();
    reopened = await open(dir);
    expect(reopened.get('v0').text).toBe('again');
    expect(reopened.size).toBe(300 - 100);
  });
});

describe('the shape of a store', () => {
  test('reopening with a different dim, metric or index rejects INVALID_ARGUMENT naming both values', async () => {
    const dir = tempDir();
    const store = await open(dir, { dim: 4, metric: 'l2', index: 'flat' });
    await store.add({ id: 'a', vector: [1, 2, 3, 4] });
    await store.close();
    const dimError = await expectRejects(() => Store.open(dir, { dim: 5 }), 'INVALID_ARGUMENT');
    expect(dimError.message).toMatch(/\b4\b/);
    expect(dimError.message).toMatch(/\b5\b/);
    // The user passed names, so the message should speak in names too.
    const metricError = await expectRejects(() => Store.open(dir, { metric: 'cosine' }), 'INVALID_ARGUMENT');
    expect(metricError.message).toMatch(/\bl2\b/);
    expect(metricError.message).toMatch(/\bcosine\b/);
    const indexError = await expectRejects(() => Store.open(dir, { index: 'atlas' }), 'INVALID_ARGUMENT');
    expect(indexError.message).toMatch(/\bflat\b/);
    expect(indexError.message).toMatch(/\batlas\b/);
    // The refused opens left the store as it was, and unlocked.
    const reopened = await open(dir);
    expect(reopened.get('a').vector).toEqual(new Float32Array([1, 2, 3, 4]));
  });

  test('reopening an atlas store with a different pageSize or fanout rejects INVALID_ARGUMENT naming both values', async () => {
    const dir = tempDir();
    await (await Store.open(dir, { dim: 4, index: 'atlas', pageSize: 8192, fanout: 8 })).close();
    const pageError = await expectRejects(() => Store.open(dir, { index: 'atlas', pageSize: 4096 }), 'INVALID_ARGUMENT');
    expect(pageError.message).toMatch(/8192/);
    expect(pageError.message).toMatch(/4096/);
    const fanoutError = await expectRejects(() => Store.open(dir, { index: 'atlas', fanout: 16 }), 'INVALID_ARGUMENT');
    expect(fanoutError.message).toMatch(/\b8\b/);
    expect(fanoutError.message).toMatch(/\b16\b/);
  });

  test('replicas copies atlas writes into neighbouring leaves; it is a write policy of the open, refused for flat stores', async () => {
    const dir = tempDir();
    const random = mulberry32(SEED + 71);
    const vectors = Array.from({ length: 600 }, () => uniformVector(random, 8));
    const store = await open(dir, { dim: 8, metric: 'l2', index: 'atlas', pageSize: 4096, fanout: 8, replicas: 4 });
    for (let i = 0; i < vectors.length; i += 20) {
      await store.add(vectors.slice(i, i + 20).map((vector, j) => ({ id: `v${i + j}`, vector })));
    }
    const stats = store.stats();
    expect(stats.items).toBe(600);
    expect(stats.leafEntries).toBeGreaterThan(600);
    expect(stats.leafEntries).toBeLessThanOrEqual(4 * 600);
    await store.delete(['v0', 'v1']);
    const exact = store.searchSync(vectors[5] as Float32Array, { k: 20, exact: true });
    const full = store.searchSync(vectors[5] as Float32Array, { k: 20, effort: 1 });
    expect(full.ids).toEqual(exact.ids);
    expect(new Set(full.ids).size).toBe(20);
    await store.close();
    // Reopened without the option: the copies stay, and the store is whole.
    const reopened = await open(dir);
    expect(reopened.stats().leafEntries).toBeGreaterThan(598);
    expect(reopened.searchSync(vectors[5] as Float32Array, { k: 20, effort: 1 }).ids).toEqual(exact.ids);
    await reopened.close();
    await expect(Store.verify(dir)).resolves.toEqual(expect.any(String));

    for (const replicas of [0, 9, 1.5, '2']) {
      await expectRejects(() => Store.open(tempDir(), { dim: 4, index: 'atlas', replicas } as unknown as StoreOptions), 'INVALID_ARGUMENT', /replicas/);
    }
    await expectRejects(() => Store.open(tempDir(), { dim: 4, index: 'flat', replicas: 2 }), 'INVALID_ARGUMENT', /replicas/);
    const flatDir = tempDir();
    await (await Store.open(flatDir, { dim: 4 })).close();
    await expectRejects(() => Store.open(flatDir, { replicas: 2 }), 'INVALID_ARGUMENT', /replicas/);
    await expectRejects(() => Store.open({ dim: 4, replicas: 2 }), 'INVALID_ARGUMENT', /replicas/);
    // The refused open released the store.
    await (await open(flatDir)).close();
  });

  test('buildFill packs the bulk build\'s leaves; refused outside 0.5 to 1 and for flat stores', async () => {
    const random = mulberry32(SEED + 72);
    const vectors = Array.from({ length: 3000 }, () => uniformVector(random, 8));
    const items = vectors.map((vector, i) => ({ id: `v${i}`, vector }));
    const leaves: number[] = [];
    for (const buildFill of [0.5, 1]) {
      const store = await Store.open({ dim: 8, metric: 'l2', index: 'atlas', pageSize: 4096, fanout: 8, buildFill });
      opened.push(store);
      await store.add(items);  // one batch at least as large as the store: the bulk build
      const stats = store.stats();
      leaves.push(stats.leaves);
      expect(stats.leafEntries).toBe(3000);
      const exact = store.searchSync(vectors[7] as Float32Array, { k: 10, exact: true });
      expect(store.searchSync(vectors[7] as Float32Array, { k: 10, effort: 1 }).ids).toEqual(exact.ids);
    }
    expect(leaves[1]).toBeLessThan(leaves[0] as number);
    for (const buildFill of [0.4, 1.1, Number.NaN, '0.8']) {
      await expectRejects(() => Store.open({ dim: 4, index: 'atlas', buildFill } as unknown as StoreOptions), 'INVALID_ARGUMENT', /buildFill/);
    }
    await expectRejects(() => Store.open({ dim: 4, index: 'flat', buildFill: 0.9 }), 'INVALID_ARGUMENT', /buildFill/);
    await expectRejects(() => Store.open({ dim: 4, buildFill: 0.9 }), 'INVALID_ARGUMENT', /buildFill/);
  });

  test.each(INDEX_KINDS)('%s: a checkpoint serves the f32 originals from the vectors file it wrote', async (index) => {
    const dir = tempDir();
    const random = mulberry32(SEED + 73);
    const vectors = Array.from({ length: 2000 }, () => uniformVector(random, 64));
    const store = await open(dir, { ...shape(index, 64), durability: 'none' });
    await store.add(vectors.map((vector, i) => ({ id: `v${i}`, vector })));
    expect(store.stats().vectorMappedBytes).toBe(0);
    const query = vectors[11] as Float32Array;
    const before = store.searchSync(query, { k: 10, exact: true });
    await store.checkpoint();
    const stats = store.stats();
    expect(stats.vectorBytes).toBe(2000 * 64 * 4);
    expect(stats.vectorMappedBytes).toBe(Math.floor(stats.vectorBytes / 4096) * 4096);
    expect(store.searchSync(query, { k: 10, exact: true })).toEqual(before);
    expect(Array.from((store.get('v1999'))?.vector ?? [])).toEqual(Array.from(vectors[1999] as Float32Array));
    // Writes over mapped rows and after them, then the next checkpoint remaps.
    await store.upsert({ id: 'v3', vector: vectors[4] as Float32Array });
    await store.add({ id: 'fresh', vector: vectors[5] as Float32Array });
    expect(Array.from((store.get('v3'))?.vector ?? [])).toEqual(Array.from(vectors[4] as Float32Array));
    await store.checkpoint();
    expect(Array.from((store.get('v3'))?.vector ?? [])).toEqual(Array.from(vectors[4] as Float32Array));
    expect(Array.from((store.get('fresh'))?.vector ?? [])).toEqual(Array.from(vectors[5] as Float32Array));
    expect(store.stats().vectorMappedBytes).toBeGreaterThanOrEqual(stats.vectorMappedBytes);
    const memory = await Store.open({ dim: 4 });
    await memory.add({ id: 'a', vector: [1, 2, 3, 4] });
    expect(memory.stats().vectorMappedBytes).toBe(0);
    await memory.close();
  });

  test('open without dim on a missing directory rejects INVALID_ARGUMENT and does not create it', async () => {
    const root = tempDir();
    const missing = path.join(root, 'missing', 'nested');
    await expectRejects(() => Store.open(missing), 'INVALID_ARGUMENT', /dim/);
    await expectRejects(() => Store.open(missing, { metric: 'l2', index: 'atlas' }), 'INVALID_ARGUMENT', /dim/);
    expect(fs.readdirSync(root)).toEqual([]);
  });

  test('open without dim on an empty directory rejects INVALID_ARGUMENT and leaves it empty', async () => {
    const empty = tempDir();
    await expectRejects(() => Store.open(empty, { metric: 'l2' }), 'INVALID_ARGUMENT', /dim/);
    expect(fs.readdirSync(empty)).toEqual([]); // not even a LOCK file
    // With dim, the same directory becomes a store.
    const store = await open(empty, { dim: 2 });
    expect(store.recovery.created).toBe(true);
  });
});

describe('one writer: the LOCK', () => {
  test('a second open in the same process shares the store; it closes when the last handle does', async () => {
    const dir = tempDir();
    const first = await open(dir, { dim: 2 });
    await first.add({ id: 'a', vector: [1, 2] });
    const second = await Store.open(dir);
    expect(second.dim).toBe(2);
    expect(second.get('a').vector).toEqual(new Float32Array([1, 2]));
    await second.add({ id: 'b', vector: [3, 4] });
    expect(first.has('b')).toBe(true);
    // A shape that disagrees is refused, and does not disturb the holders.
    await expectRejects(() => Store.open(dir, { dim: 3 }), 'INVALID_ARGUMENT', /dim 2/);
    await expectRejects(() => Store.verify(dir), 'LOCKED');
    await first.close();
    // Closing one handle leaves the other working.
    await second.add({ id: 'c', vector: [5, 6] });
    expect(second.size).toBe(3);
    await second.close();
    await Store.verify(dir);
    const third = await open(dir);
    expect(third.size).toBe(3);
  });

  test('an open from another process, while this one holds the store, rejects LOCKED', async () => {
    const dir = tempDir();
    const store = await open(dir, { dim: 2 });
    const child = await inChild(dir, `
      try { await Store.open(dir); console.log('opened'); }
      catch (error) { console.log(error.code); }`);
    expect(child.stderr).toBe('');
    expect(child.stdout.trim()).toBe('LOCKED');
    await store.add({ id: 'still-mine', vector: [1, 1] });
    expect(store.size).toBe(1);
  });

  test('a store held by another process rejects LOCKED here until that process dies', async () => {
    const dir = tempDir();
    const holder = spawn(process.execPath, ['-e', `
      const { Store } = require('loci');
      Store.open(process.argv[1], { dim: 2 }).then(async (store) => {
        await store.add({ id: 'from-child', vector: [1, 2] });
        console.log('held');
        setInterval(() => {}, 1000);
      });`, dir], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise((resolve) => holder.on('close', resolve));
    try {
      await new Promise<void>((resolve, reject) => {
        let output = '';
        holder.stdout.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          if (output.includes('held')) resolve();
        });
        holder.on('close', () => reject(new Error(`the holder exited early: ${output}`)));
      });
      await expectRejects(() => Store.open(dir), 'LOCKED');
    } finally {
      holder.kill('SIGKILL');
      await exited;
    }
    // A dead holder's lock is gone with it (fcntl locks belong to the process).
    const store = await open(dir);
    expect(store.get('from-child').vector).toEqual(new Float32Array([1, 2]));
  });
});

describe('checkpoints and compaction', () => {
  test('checkpoint() folds the WAL: the LSNs meet, and a process that exits without close replays nothing', async () => {
    const dir = tempDir();
    const child = await inChild(dir, `
      const store = await Store.open(dir, { dim: 3 });
      for (let i = 0; i < 20; i++) await store.add({ id: 'v' + i, vector: [i, 1, 2], text: 't' + i, meta: { i } });
      await store.checkpoint();
      const stats = store.stats();
      console.log(JSON.stringify({ lsn: stats.lsn, checkpointLsn: stats.checkpointLsn, checkpoints: stats.checkpoints }));
      process.exit(0); // no close(): only the checkpoint made the writes part of the checkpoint files`);
    expect(child.stderr).toBe('');
    expect(child.code).toBe(0);
    expect(JSON.parse(child.stdout)).toEqual({ lsn: 20, checkpointLsn: 20, checkpoints: 1 });
    const store = await open(dir);
    expect(store.recovery.replayedRecords).toBe(0);
    expect(store.size).toBe(20);
    for (let i = 0; i < 20; i++) expectItem(store, { id: `v${i}`, vector: [i, 1, 2], text: `t${i}`, meta: { i }, time: store.get(`v${i}`).time as number });
  });

  test('writes after a checkpoint, from a process that exits without close, are replayed at open', async () => {
    const dir = tempDir();
    const child = await inChild(dir, `
      const store = await Store.open(dir, { dim: 3 });
      await store.add([{ id: 'before', vector: [1, 1, 1], text: 'checkpointed' }]);
      await store.checkpoint();
      for (let i = 0; i < 10; i++) await store.add({ id: 'after' + i, vector: [i, 2, 3], text: 'wal ' + i, time: i });
      await store.upsert({ id: 'before', vector: [9, 9, 9], meta: 'upserted' });
      await store.delete('after0');
      process.exit(0);`);
    expect(child.stderr).toBe('');
    expect(child.code).toBe(0);
    const store = await open(dir);
    expect(store.recovery.replayedRecords).toBe(12); // one WAL record per write call
    expect(store.size).toBe(10);
    expect(store.has('after0')).toBe(false);
    for (let i = 1; i < 10; i++) expectItem(store, { id: `after${i}`, vector: [i, 2, 3], text: `wal ${i}`, time: i });
    const before = store.get('before');
    expect(before.vector).toEqual(new Float32Array([9, 9, 9]));
    expect(before.meta).toBe('upserted');
    expect(before.text).toBeUndefined();
    await store.close();
    await expect(Store.verify(dir)).resolves.toEqual(expect.any(String));
  });

  test.each(INDEX_KINDS)('compact() shrinks the blob arena after many upserts of large texts and keeps everything readable (%s)', async (index) => {
    const dir = tempDir();
    const store = await open(dir, shape(index, 4));
    const random = mulberry32(SEED);
    const text = largeText(64 * 1024);
    const ids = Array.from({ length: 20 }, (_, i) => `item${i}`);
    let last = new Map<string, Float32Array>();
    for (let round = 0; round < 10; round++) {
      last = new Map(ids.map((id) => [id, uniformVector(random, 4)]));
      await store.upsert(ids.map((id) => ({ id, vector: last.get(id) as Float32Array, text: `${round}:${id}:${text}`, meta: { round } })));
    }
    await store.delete('item0');
    const bloated = store.stats();
    expect(bloated.arenaBytes).toBeGreaterThan(5 * bloated.arenaLiveBytes);

    await store.compact();
    const compacted = store.stats();
    expect(compacted.arenaBytes).toBeLessThan(bloated.arenaBytes / 4);
    expect(compacted.arenaBytes).toBeGreaterThanOrEqual(compacted.arenaLiveBytes);
    expect(compacted.arenaLiveBytes).toBe(bloated.arenaLiveBytes);
    const check = (reader: Store): void => {
      expect(reader.size).toBe(19);
      for (const id of ids.slice(1)) {
        const item = reader.get(id);
        expect(item.text).toBe(`9:${id}:${text}`);
        expect(item.meta).toEqual({ round: 9 });
        expect(item.vector).toEqual(last.get(id));
        expect(reader.searchSync(item.vector, { k: 1, effort: index === 'atlas' ? 1 : undefined }).ids).toEqual([id]);
      }
    };
    check(store);
    await store.close();
    const reopened = await open(dir);
    expect(reopened.stats().arenaBytes).toBe(compacted.arenaBytes);
    check(reopened);
    await reopened.close();
    await expect(Store.verify(dir)).resolves.toEqual(expect.any(String));
  });
});

describe('group commit and durability', () => {
  test('200 concurrent single adds under durability sync all resolve and share fsyncs', async () => {
    const dir = tempDir();
    const store = await open(dir, { dim: 4, durability: 'sync' });
    const groupsBefore = store.stats().groupCommits;
    await Promise.all(Array.from({ length: 200 }, (_, i) => store.add({ id: `v${i}`, vector: [i, 1, 2, 3], text: `t${i}` })));
    const stats = store.stats();
    expect(store.size).toBe(200);
    expect(stats.batches).toBe(200);
    expect(stats.groupCommits - groupsBefore).toBeLessThan(200);
    expect(stats.groupCommits - groupsBefore).toBeGreaterThan(0);
    await store.close();
    const reopened = await open(dir);
    expect(reopened.size).toBe(200);
    for (let i = 0; i < 200; i++) expect(reopened.get(`v${i}`).text).toBe(`t${i}`);
  });

  test.each(['sync', 'interval', 'none'] as Durability[])('durability %s keeps every write across close and reopen', async (durability) => {
    const dir = tempDir();
    const store = await open(dir, { dim: 3, durability, syncIntervalMs: 5 });
    await Promise.all(Array.from({ length: 50 }, (_, i) => store.add({ id: `c${i}`, vector: [i, 0, 1], meta: { i } })));
    for (let i = 0; i < 50; i++) await store.add({ id: `s${i}`, vector: [i, 1, 0], text: `serial ${i}` });
    await store.delete('c0');
    await store.close();
    const reopened = await open(dir, { durability });
    expect(reopened.size).toBe(99);
    expect(reopened.get('c49').meta).toEqual({ i: 49 });
    expect(reopened.get('s49').text).toBe('serial 49');
  });

  test.each(['sync', 'interval', 'none'] as Durability[])(
    'durability %s keeps every resolved write when the process exits without close',
    async (durability) => {
      const dir = tempDir();
      const child = await inChild(dir, `
        const store = await Store.open(dir, { dim: 3, durability: '${durability}', syncIntervalMs: 60000 });
        await Promise.all(Array.from({ length: 50 }, (_, i) => store.add({ id: 'c' + i, vector: [i, 0, 1], meta: { i } })));
        for (let i = 0; i < 50; i++) await store.add({ id: 's' + i, vector: [i, 1, 0], text: 'serial ' + i });
        await store.delete('c0');
        process.exit(0);`);
      expect(child.stderr).toBe('');
      expect(child.code).toBe(0);
      const store = await open(dir);
      expect(store.recovery.replayedRecords).toBeGreaterThan(0);
      expect(store.size).toBe(99);
      expect(store.has('c0')).toBe(false);
      for (let i = 1; i < 50; i++) expect(store.get(`c${i}`).meta).toEqual({ i });
      for (let i = 0; i < 50; i++) expect(store.get(`s${i}`).text).toBe(`serial ${i}`);
    },
  );
});

describe('Store.verify', () => {
  test('a good store resolves to a report', async () => {
    const dir = tempDir();
    const store = await open(dir, shape('atlas', 4));
    await store.add(Array.from({ length: 100 }, (_, i) => ({ id: `v${i}`, vector: [i, 1, 2, 3], text: `t${i}` })));
    await store.close();
    const report = await Store.verify(dir);
    expect(typeof report).toBe('string');
    expect(report).toMatch(/MANIFEST/);
  });

  test('a directory that is not a store rejects INVALID_ARGUMENT (nothing there is damaged)', async () => {
    const root = tempDir();
    fs.writeFileSync(path.join(root, 'notes.txt'), 'not a store');
    await expectRejects(() => Store.verify(root), 'INVALID_ARGUMENT', /not a Loci store/);
    const empty = path.join(root, 'empty');
    fs.mkdirSync(empty);
    await expectRejects(() => Store.verify(empty), 'INVALID_ARGUMENT', /not a Loci store/);
    await expectRejects(() => Store.verify(path.join(root, 'missing')), 'INVALID_ARGUMENT');
  });

  test('a damaged MANIFEST rejects CORRUPT naming it, in verify and open', async () => {
    const dir = tempDir();
    const store = await open(dir, { dim: 2 });
    await store.add({ id: 'a', vector: [1, 2] });
    await store.close();
    const manifest = path.join(dir, 'MANIFEST');
    const bytes = fs.readFileSync(manifest);
    const middle = bytes.length >> 1;
    bytes[middle] = (bytes[middle] as number) ^ 0x40;
    fs.writeFileSync(manifest, bytes);
    await expectRejects(() => Store.verify(dir), 'CORRUPT', /MANIFEST/);
    await expectRejects(() => Store.open(dir), 'CORRUPT', /MANIFEST/);
  });

  test('store files without a MANIFEST reject CORRUPT, with or without dim (docs/format/store.md, open step 2)', async () => {
    const dir = tempDir();
    const store = await open(dir, { dim: 2 });
    await store.add({ id: 'a', vector: [1, 2] });
    await store.close();
    fs.unlinkSync(path.join(dir, 'MANIFEST'));
    await expectRejects(() => Store.verify(dir), 'CORRUPT', /MANIFEST is missing/);
    await expectRejects(() => Store.open(dir, { dim: 2 }), 'CORRUPT', /MANIFEST is missing/);
    // Without dim, the message must not suggest passing dim "to create one": that fails too.
    await expectRejects(() => Store.open(dir), 'CORRUPT', /MANIFEST is missing/);
  });
});

describe('in-memory stores', () => {
  test('get returns text, meta and time; checkpoint and compact are no-ops', async () => {
    const store = await Store.open({ dim: 2 });
    expect(store.dir).toBeUndefined();
    const before = Date.now();
    await store.add([
      { id: 'a', vector: [1, 2], text: 'héllo 🦊', meta: { k: ['v'] }, time: new Date(5) },
      { id: 'b', vector: [3, 4] },
    ]);
    expectItem(store, { id: 'a', vector: [1, 2], text: 'héllo 🦊', meta: { k: ['v'] }, time: 5 });
    expect(store.get('b').time).toBeGreaterThanOrEqual(before);
    await store.upsert({ id: 'a', vector: [2, 1], text: 'replaced', meta: 7, time: 9 });
    expectItem(store, { id: 'a', vector: [2, 1], text: 'replaced', meta: 7, time: 9 });
    await store.checkpoint();
    await store.compact();
    expect(store.size).toBe(2);
    await store.close();
  });
});

describe('bad text, meta or time store nothing', () => {
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  const BAD: [string, Partial<Item>, RegExp][] = [
    ['text not a string', { text: 42 as unknown as string }, /text of item 1 must be a string/],
    ['text with a lone surrogate', { text: 'a\ud800b' }, /surrogate/],
    ['meta with a BigInt', { meta: { n: 10n } }, /meta of item 1 cannot be stored as JSON/],
    ['meta that is cyclic', { meta: cyclic }, /meta of item 1 cannot be stored as JSON/],
    ['meta a function', { meta: () => 1 }, /meta of item 1 must be a JSON value/],
    ['time NaN', { time: Number.NaN }, /time of item 1/],
    ['time Infinity', { time: Number.POSITIVE_INFINITY }, /time of item 1/],
    ['time an invalid Date', { time: new Date('not a date') }, /time of item 1/],
    ['time a string', { time: '2024-01-01' as unknown as number }, /time of item 1/],
  ];

  test.each(BAD)('%s: add and upsert reject INVALID_ARGUMENT, durable and in memory', async (_name, bad, message) => {
    const dir = path.join(tempDir(), 'store');
    const durable = await open(dir, { dim: 2 });
    const memory = await Store.open({ dim: 2 });
    for (const store of [durable, memory]) {
      // A good item first: the batch is all or nothing.
      const batch = [{ id: 'good', vector: [1, 2] }, { id: 'bad', vector: [3, 4], ...bad }] as Item[];
      await expectRejects(() => store.add(batch), 'INVALID_ARGUMENT', message);
      await expectRejects(() => store.upsert(batch), 'INVALID_ARGUMENT', message);
      expect(store.size).toBe(0);
      expect(store.has('good')).toBe(false);
      expect(store.has('bad')).toBe(false);
      // The store still takes good writes.
      await store.add({ id: 'after', vector: [5, 6] });
      expect(store.size).toBe(1);
    }
    expect(durable.stats().lsn).toBe(1); // the refused writes never reached the WAL
    await durable.close();
    await memory.close();
    const reopened = await open(dir);
    expect(reopened.size).toBe(1);
    expect(reopened.has('good')).toBe(false);
  });
});
