// The asynchronous contract: search and writes run on the libuv pool, not the event
// loop; inputs are copied when the call is made; close() lets started work finish; and
// a process (or worker thread) may exit with a store open and work in flight.
import { performance } from 'node:perf_hooks';

import { Store } from 'loci';
import { describe, expect, test } from 'vitest';

import { expectRejects, expectThrows, gaussianMixture, mulberry32, runNode, SEED, uniformVector } from './support';

describe('search runs off the event loop', () => {
  test('the event loop keeps turning while searches run, and issuing them costs next to nothing', async () => {
    const dim = 256;
    const random = mulberry32(SEED);
    const mixture = gaussianMixture(random, dim, 8, 0.5);
    const store = await Store.open({ dim, metric: 'l2' });
    await store.add(Array.from({ length: 20000 }, (_, i) => ({ id: `v${i}`, vector: mixture.sample() })));
    const queries = Array.from({ length: 256 }, () => mixture.sample());

    // Calibrate: how long one search takes on the calling thread.
    const samples: number[] = [];
    for (let i = 0; i < 7; i++) {
      const start = performance.now();
      store.searchSync(queries[i] as Float32Array, { k: 10 });
      samples.push(performance.now() - start);
    }
    const syncMs = samples.sort((a, b) => a - b)[3] as number;
    // Enough searches for ~200 ms of work on one thread.
    const count = Math.min(queries.length, Math.max(16, Math.ceil(200 / Math.max(syncMs, 0.01))));

    let turns = 0;
    let spinning = true;
    let timerAt = Infinity;
    const spin = (): void => {
      turns++;
      if (spinning) setImmediate(spin);
    };
    const start = performance.now();
    const pending = queries.slice(0, count).map((query) => store.search(query, { k: 10 }));
    const issueMs = performance.now() - start;
    setImmediate(spin);
    setTimeout(() => (timerAt = performance.now()), 0);
    let lastAt = 0;
    const results = await Promise.all(pending.map((promise) => promise.finally(() => (lastAt = performance.now()))));
    spinning = false;

    // Run inline, issuing would cost count * syncMs; queued, a few microseconds each.
    expect(issueMs).toBeLessThan((count * syncMs) / 4);
    // The loop turned many times, and ran a timer, before the last search resolved.
    expect(turns).toBeGreaterThan(10);
    expect(timerAt).toBeLessThan(lastAt);
    results.forEach((result, i) => {
      const sync = store.searchSync(queries[i] as Float32Array, { k: 10 });
      expect(result.ids).toEqual(sync.ids);
      expect(Array.from(result.distances)).toEqual(Array.from(sync.distances));
    });
    await store.close();
  });

  test('hundreds of concurrent searches, mixed with searchSync, all resolve correctly', async () => {
    const dim = 32;
    const random = mulberry32(SEED + 2);
    for (const quantization of ['none', 'int8'] as const) {
      const store = await Store.open({ dim, metric: 'ip', quantization });
      await store.add(Array.from({ length: 2000 }, (_, i) => ({ id: `v${i}`, vector: uniformVector(random, dim) })));
      const queries = Array.from({ length: 500 }, () => uniformVector(random, dim));
      const expected = queries.map((query) => store.searchSync(query, { k: 5 }));
      const pending = queries.map((query, i) => {
        const promise = store.search(query, { k: 5 });
        // searchSync between async calls sees the same store.
        if (i % 50 === 0) expect(store.searchSync(query, { k: 5 }).ids).toEqual(expected[i]?.ids);
        return promise;
      });
      const results = await Promise.all(pending);
      results.forEach((result, i) => {
        expect(result.ids).toEqual(expected[i]?.ids);
        expect(Array.from(result.distances)).toEqual(Array.from(expected[i]?.distances ?? []));
      });
      await store.close();
    }
  });

  test('searches concurrent with writes see a consistent store', async () => {
    const dim = 16;
    const random = mulberry32(SEED + 3);
    const store = await Store.open({ dim, metric: 'l2' });
    await store.add(Array.from({ length: 500 }, (_, i) => ({ id: `base${i}`, vector: uniformVector(random, dim) })));
    const everId = new Set(Array.from({ length: 500 }, (_, i) => `base${i}`));
    const operations: Promise<unknown>[] = [];
    const searches: Promise<{ ids: string[]; distances: Float32Array }>[] = [];
    for (let round = 0; round < 40; round++) {
      const batch = Array.from({ length: 25 }, (_, i) => ({ id: `r${round}-${i}`, vector: uniformVector(random, dim) }));
      batch.forEach((item) => everId.add(item.id));
      operations.push(store.add(batch));
      operations.push(store.upsert({ id: `base${round}`, vector: uniformVector(random, dim) }));
      searches.push(store.search(uniformVector(random, dim), { k: 20 }));
    }
    await Promise.all(operations);
    for (const result of await Promise.all(searches)) {
      expect(result.ids.length).toBe(20);
      for (const id of result.ids) expect(everId.has(id)).toBe(true);
      for (let i = 1; i < 20; i++) expect(result.distances[i] as number).toBeGreaterThanOrEqual(result.distances[i - 1] as number);
    }
    expect(store.size).toBe(500 + 40 * 25);
    await store.close();
  });
});

describe('close()', () => {
  test('waits for operations already started, then later calls fail with CLOSED', async () => {
    const dim = 64;
    const random = mulberry32(SEED + 4);
    const store = await Store.open({ dim, metric: 'cosine', quantization: 'int8' });
    await store.add(Array.from({ length: 5000 }, (_, i) => ({ id: `v${i}`, vector: uniformVector(random, dim) })));
    const settled: string[] = [];
    const track = <T>(name: string, promise: Promise<T>): Promise<T> =>
      promise.finally(() => {
        settled.push(name);
      });

    const started = [
      track('add', store.add(Array.from({ length: 2000 }, (_, i) => ({ id: `new${i}`, vector: uniformVector(random, dim) })))),
      track('upsert', store.upsert({ id: 'v1', vector: uniformVector(random, dim) })),
      track('delete', store.delete(['v2', 'v3'])),
      ...Array.from({ length: 20 }, (_, i) => track(`search${i}`, store.search(uniformVector(random, dim), { k: 50 }))),
    ];
    const failing = track('failing add', store.add({ id: 'v4', vector: uniformVector(random, dim) })).then(
      () => 'resolved',
      (error: unknown) => error,
    );
    const closing = track('close', store.close());

    // From the moment close() is called, new work is refused.
    expect(store.closed).toBe(true);
    await expectRejects(() => store.search(uniformVector(random, dim)), 'CLOSED');
    await expectRejects(() => store.add({ id: 'late', vector: uniformVector(random, dim) }), 'CLOSED');
    expectThrows(() => store.get('v5'), 'CLOSED');
    expectThrows(() => store.searchSync(uniformVector(random, dim)), 'CLOSED');

    await closing;
    // Everything started before close() settled before close() resolved ...
    expect(settled[settled.length - 1]).toBe('close');
    expect(settled.length).toBe(started.length + 2);
    // ... and finished normally: close() does not cancel work.
    const results = await Promise.all(started);
    for (const result of results.slice(3)) expect((result as { ids: string[] }).ids.length).toBe(50);
    expect(await failing).toMatchObject({ name: 'LociError', code: 'ALREADY_EXISTS' });
    expectThrows(() => store.size, 'CLOSED');
    await expect(store.close()).resolves.toBeUndefined();
  });

  test('close() right after open, and on an empty store, resolves', async () => {
    const store = await Store.open({ dim: 3 });
    await store.close();
    const other = await Store.open({ dim: 3 });
    const pending = other.search([1, 2, 3]);
    await other.close();
    expect((await pending).ids).toEqual([]);
  });
});

describe('inputs are copied when the call is made', () => {
  const dim = 4;

  test('add and upsert: mutating vectors, items or the batch afterwards changes nothing', async () => {
    const store = await Store.open({ dim, metric: 'l2' });
    const typed = new Float32Array([1, 2, 3, 4]);
    const plain = [5, 6, 7, 8];
    const items = [
      { id: 'typed', vector: typed },
      { id: 'plain', vector: plain },
    ];
    const adding = store.add(items);
    typed.fill(-1);
    plain.fill(-1);
    (items[0] as { id: string }).id = 'renamed';
    items.push({ id: 'late', vector: [0, 0, 0, 0] });
    await adding;
    expect(store.size).toBe(2);
    expect(Array.from(store.get('typed').vector)).toEqual([1, 2, 3, 4]);
    expect(Array.from(store.get('plain').vector)).toEqual([5, 6, 7, 8]);
    expect(store.has('renamed')).toBe(false);
    expect(store.has('late')).toBe(false);

    const replacement = new Float32Array([9, 9, 9, 9]);
    const upserting = store.upsert({ id: 'typed', vector: replacement });
    replacement.fill(0);
    await upserting;
    expect(Array.from(store.get('typed').vector)).toEqual([9, 9, 9, 9]);
    await store.close();
  });

  test('add: detaching the vector\'s buffer after the call changes nothing', async () => {
    const store = await Store.open({ dim });
    const vector = new Float32Array([1, 2, 3, 4]);
    const adding = store.add({ id: 'a', vector });
    structuredClone(vector.buffer, { transfer: [vector.buffer] });
    expect(vector.length).toBe(0);
    await adding;
    expect(Array.from(store.get('a').vector)).toEqual([1, 2, 3, 4]);
    await store.close();
  });

  test('delete: changing the id list afterwards changes nothing', async () => {
    const store = await Store.open({ dim });
    await store.add(['a', 'b', 'c'].map((id) => ({ id, vector: [1, 2, 3, 4] })));
    const ids = ['a'];
    const deleting = store.delete(ids);
    ids[0] = 'b';
    ids.push('c');
    await deleting;
    expect(store.has('a')).toBe(false);
    expect(store.has('b')).toBe(true);
    expect(store.has('c')).toBe(true);
    await store.close();
  });

  test('search: mutating or detaching the query, or changing the options, afterwards changes nothing', async () => {
    const store = await Store.open({ dim, metric: 'l2' });
    await store.add(Array.from({ length: 50 }, (_, i) => ({ id: `v${i}`, vector: [i, 0, 0, 0] })));
    const expected = store.searchSync([10, 0, 0, 0], { k: 3 });

    const typed = new Float32Array([10, 0, 0, 0]);
    const options = { k: 3 };
    const first = store.search(typed, options);
    typed.fill(40);
    options.k = 7;
    const plain = [10, 0, 0, 0];
    const second = store.search(plain, { k: 3 });
    plain.fill(40);
    const detached = new Float32Array([10, 0, 0, 0]);
    const third = store.search(detached, { k: 3 });
    structuredClone(detached.buffer, { transfer: [detached.buffer] });

    for (const result of await Promise.all([first, second, third])) {
      expect(result.ids).toEqual(expected.ids);
      expect(Array.from(result.distances)).toEqual(Array.from(expected.distances));
    }
    await store.close();
  });

  test('results are the caller\'s own: a later search does not overwrite earlier results', async () => {
    const store = await Store.open({ dim, metric: 'l2' });
    await store.add(Array.from({ length: 20 }, (_, i) => ({ id: `v${i}`, vector: [i, 0, 0, 0] })));
    const first = store.searchSync([0, 0, 0, 0], { k: 5 });
    const snapshot = { ids: [...first.ids], distances: Array.from(first.distances) };
    store.searchSync([19, 0, 0, 0], { k: 5 });
    await store.search([10, 0, 0, 0], { k: 12 });
    expect(first.ids).toEqual(snapshot.ids);
    expect(Array.from(first.distances)).toEqual(snapshot.distances);
    await store.close();
  });
});

// Writes issued without awaiting run on the libuv pool, which has several threads: today
// two un-awaited writes to the same id may apply in either order (last-writer-wins is
// not guaranteed). Enable this test once writes are serialised per store.
test('un-awaited writes apply in call order', async () => {
  const store = await Store.open({ dim: 256, metric: 'l2' });
  for (let trial = 0; trial < 200; trial++) {
    const writes = Array.from({ length: 8 }, (_, i) => store.upsert({ id: 'x', vector: new Float32Array(256).fill(i) }));
    await Promise.all(writes);
    expect(store.get('x').vector[0]).toBe(7);
    const adding = store.add({ id: `y${trial}`, vector: new Float32Array(256) });
    const deleting = store.delete(`y${trial}`);
    await adding;
    await deleting;
  }
  await store.close();
});

describe('process and thread exit', () => {
  const OPEN_AND_WORK = `
    const { Store } = require('loci');
    async function work() {
      const dim = 64;
      let state = 7;
      const random = () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 4294967296);
      const vector = () => Float32Array.from({ length: dim }, () => random() * 2 - 1);
      const store = await Store.open({ dim, metric: 'cosine', quantization: 'int8' });
      await store.add(Array.from({ length: 3000 }, (_, i) => ({ id: 'v' + i, vector: vector() })));
      const inFlight = [];
      for (let i = 0; i < 50; i++) inFlight.push(store.search(vector(), { k: 100 }));
      inFlight.push(store.add(Array.from({ length: 3000 }, (_, i) => ({ id: 'w' + i, vector: vector() }))));
      inFlight.push(store.upsert({ id: 'v1', vector: vector() }));
      return { store, inFlight };
    }
  `;

  async function expectCleanExit(script: string, expectedStdout: string | RegExp): Promise<void> {
    const child = await runNode(OPEN_AND_WORK + script);
    expect(child.signal, child.stderr).toBeNull();
    expect(child.stderr).toBe('');
    expect(child.code).toBe(0);
    expect(child.stdout).toMatch(expectedStdout);
  }

  test('exit without close() after the work settles', async () => {
    await expectCleanExit(
      `work().then(async ({ inFlight }) => { await Promise.all(inFlight); console.log('done'); });`,
      /^done\n$/,
    );
  });

  test('process.exit(0) with searches and writes still in flight', async () => {
    await expectCleanExit(`work().then(() => { console.log('exiting'); process.exit(0); });`, /^exiting\n$/);
  });

  test('process.exit(0) right after starting a large write', async () => {
    await expectCleanExit(
      `work().then(({ store }) => {
        store.add(Array.from({ length: 20000 }, (_, i) => ({ id: 'z' + i, vector: new Float32Array(64).fill(i % 7) })));
        setImmediate(() => process.exit(0));
      });`,
      /^$/,
    );
  });

  test('close() without awaiting, then exit', async () => {
    await expectCleanExit(`work().then(({ store }) => { store.close(); console.log('closing'); });`, /^closing\n$/);
  });

  const WORKERS = `
    const { Worker } = require('node:worker_threads');
    const inWorker = (exitEarly) => watch(new Worker(
      ${JSON.stringify(OPEN_AND_WORK)} + \`
      const { parentPort } = require('node:worker_threads');
      work().then(async ({ store, inFlight }) => {
        if (\${exitEarly}) { parentPort.postMessage('busy'); return; }
        await Promise.all(inFlight);
        parentPort.postMessage('size ' + store.size);
        await store.close();
      });\`,
      { eval: true },
    ));
    // Listen from the start: a worker may post, close and exit before the main thread
    // gets around to waiting for it.
    function watch(worker) {
      worker.messaged = new Promise((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject); });
      worker.exited = new Promise((resolve) => worker.once('exit', resolve));
      return worker;
    }
    const message = (worker) => worker.messaged;
    const exited = (worker) => worker.exited;
  `;

  test('stores in worker threads and the main thread at once, each with its own addon state', async () => {
    await expectCleanExit(
      WORKERS +
        `(async () => {
          const { store, inFlight } = await work();
          const workers = [inWorker(false), inWorker(false)];
          const done = await Promise.all(workers.map(message));
          const codes = await Promise.all(workers.map(exited));
          await Promise.all(inFlight);
          console.log(done.join(', '), codes.join(', '), store.size);
        })().catch((error) => { console.error(error); process.exit(1); });`,
      /^size 6000, size 6000 0, 0 6000\n$/,
    );
  });

  // Known bug (see the test report): terminating a worker while its Loci work is in
  // flight aborts the whole process ("terminate called after throwing an instance of
  // 'Napi::Error'"): the PromiseWorker completes into an environment that can no longer
  // run JS, and node-addon-api rethrows from ThrowAsJavaScriptException. The fix is to
  // build with NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS; then drop \`.fails\` here.
  test('worker.terminate() with searches and writes in flight', async () => {
    await expectCleanExit(
      WORKERS +
        `(async () => {
          const { store, inFlight } = await work();
          // A few rounds: whether a completion lands mid-teardown is a matter of timing.
          for (let round = 0; round < 4; round++) {
            const busy = [inWorker(true), inWorker(true)];
            const states = await Promise.all(busy.map(message));
            // terminate() resolves 1, or undefined if the worker's work ended first.
            await Promise.all(busy.map((worker) => worker.terminate()));
            console.log(states.join(', '));
          }
          await Promise.all(inFlight);
          console.log(store.size);
        })().catch((error) => { console.error(error); process.exit(1); });`,
      /^(busy, busy\n){4}6000\n$/,
    );
  });

  test('an uncaught error with a store open exits with code 1, not a crash', async () => {
    const child = await runNode(OPEN_AND_WORK + `work().then(() => { throw new Error('boom'); });`);
    expect(child.signal).toBeNull();
    expect(child.code).toBe(1);
    expect(child.stderr).toMatch(/boom/);
  });
});
