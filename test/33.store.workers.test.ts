// One durable store opened from several worker_threads shares one native engine
// (engine.h, Engine::acquire): writes from any thread are seen by all, closing in one
// thread leaves the others working, a terminated worker gives up its share, and a
// process that exits with stores still open exits cleanly and loses nothing.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';

import { Store } from 'loci';
import { afterEach, expect, test } from 'vitest';

import { REPO_ROOT, runNode } from './support';

const directories: string[] = [];
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loci-workers-'));
  directories.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of directories.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

const ENTRY = path.join(REPO_ROOT, 'dist', 'src', 'index.js');

// A worker that opens `dir`, runs `body` (an async function body with `store`, `data`
// and `post` in scope), reports its result, and leaves the store open unless the body
// closes it.
function startWorker(dir: string, body: string, data: unknown = null): { worker: Worker; result: Promise<unknown> } {
  const source = `
    const { parentPort, workerData } = require('node:worker_threads');
    const { Store } = require(${JSON.stringify(ENTRY)});
    (async () => {
      const store = await Store.open(workerData.dir);
      const data = workerData.data;
      const post = (message) => parentPort.postMessage(message);
      ${body}
    })().catch((error) => parentPort.postMessage({ error: String(error && error.code) + ': ' + String(error && error.message) }));`;
  const worker = new Worker(source, { eval: true, workerData: { dir, data } });
  const result = new Promise<unknown>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return { worker, result };
}

test('writes from two workers and the main thread land in one store, seen by all', async () => {
  const dir = tempDir();
  // Durability 'none': what is tested is the sharing, not 150 fsyncs on a busy disk.
  const main = await Store.open(dir, { dim: 3, durability: 'none' });
  const workers = [0, 1].map((w) =>
    startWorker(
      dir,
      `for (let i = 0; i < 50; i++) await store.add({ id: 'w' + data + '-' + i, vector: [data, i, 1], text: 'from worker ' + data });
       post({ size: store.size, sawMain: store.has('main-0') });
       await new Promise((resolve) => setTimeout(resolve, 50));
       await store.close();
       post('closed');`,
      w,
    ),
  );
  for (let i = 0; i < 50; i++) await main.add({ id: `main-${i}`, vector: [9, i, 1] });
  const reports = (await Promise.all(workers.map((w) => w.result))) as Array<{ size: number; sawMain: boolean; error?: string }>;
  for (const report of reports) {
    expect(report.error).toBeUndefined();
    expect(report.size).toBeGreaterThanOrEqual(50);
  }
  await Promise.all(workers.map((w) => new Promise((resolve) => w.worker.once('exit', resolve))));
  // Both workers closed their handles: the main thread's still works and sees everything.
  expect(main.size).toBe(150);
  expect(main.get('w1-49').text).toBe('from worker 1');
  await main.add({ id: 'after', vector: [1, 1, 1] });
  await main.close();
  const reopened = await Store.open(dir);
  expect(reopened.size).toBe(151);
  await reopened.close();
}, 60_000);

test('a worker terminated with the store open gives up its share; the others keep working', async () => {
  const dir = tempDir();
  const main = await Store.open(dir, { dim: 2 });
  const { worker, result } = startWorker(
    dir,
    `await store.add({ id: 'from-worker', vector: [1, 2] });
     post('ready');
     await new Promise(() => {});  // hold the store open until terminated`,
  );
  expect(await result).toBe('ready');
  await worker.terminate();
  expect(main.has('from-worker')).toBe(true);
  await main.add({ id: 'after-terminate', vector: [3, 4] });
  await main.close();
  // The last handle is gone, so the directory is free: a new open (and verify) succeed.
  await Store.verify(dir);
  const reopened = await Store.open(dir);
  expect(reopened.size).toBe(2);
  await reopened.close();
});

test('a process that exits with stores open (main thread and a worker) exits cleanly and loses nothing', async () => {
  const dir = tempDir();
  const script = `
    const { Worker } = require('node:worker_threads');
    const { Store } = require(${JSON.stringify(ENTRY)});
    (async () => {
      const store = await Store.open(${JSON.stringify(dir)}, { dim: 2, durability: 'interval' });
      await store.add({ id: 'main', vector: [1, 2], text: 'kept' });
      const worker = new Worker(\`
        const { parentPort } = require('node:worker_threads');
        const { Store } = require(${JSON.stringify(ENTRY)});
        Store.open(${JSON.stringify(dir)}).then(async (s) => { await s.add({ id: 'worker', vector: [3, 4] }); parentPort.postMessage('done'); });\`, { eval: true });
      await new Promise((resolve) => worker.once('message', resolve));
      process.exit(0);  // no close anywhere
    })();`;
  const child = await runNode(script);
  expect(child.stderr).toBe('');
  expect(child.code).toBe(0);
  const reopened = await Store.open(dir);
  expect(reopened.get('main').text).toBe('kept');
  expect(reopened.has('worker')).toBe(true);
  await reopened.close();
});
