// The happy path of every Store method, with distances computed by hand.
import { LociError, Store, type Metric, type Quantization, type SearchResult } from 'loci';
import { afterEach, describe, expect, test } from 'vitest';

const QUANTIZATIONS: Quantization[] = ['none', 'int8'];

// Stores opened by a test, closed after it so a failing test leaks nothing.
const opened: Store[] = [];
async function open(options: Parameters<typeof Store.open>[0]): Promise<Store> {
  const store = await Store.open(options);
  opened.push(store);
  return store;
}
afterEach(async () => {
  await Promise.all(opened.splice(0).map((store) => store.close()));
});

function expectSortedAscending(distances: Float32Array): void {
  for (let i = 1; i < distances.length; i++) {
    expect(distances[i] as number).toBeGreaterThanOrEqual(distances[i - 1] as number);
  }
}

function expectSameResult(actual: SearchResult, expected: SearchResult): void {
  expect(actual.ids).toEqual(expected.ids);
  expect(Array.from(actual.distances)).toEqual(Array.from(expected.distances));
}

describe('Store.open', () => {
  test('defaults: cosine metric, no quantization', async () => {
    const store = await open({ dim: 3 });
    expect(store.dim).toBe(3);
    expect(store.metric).toBe('cosine');
    expect(store.quantization).toBe('none');
    expect(store.size).toBe(0);
    expect(store.closed).toBe(false);
  });

  test.each([
    ['l2', 'none'],
    ['ip', 'int8'],
    ['cosine', 'int8'],
  ] as const)('metric %s, quantization %s', async (metric, quantization) => {
    const store = await open({ dim: 5, metric, quantization });
    expect(store.metric).toBe(metric);
    expect(store.quantization).toBe(quantization);
  });

  test('dimension limits 1 and 65536 are accepted', async () => {
    const one = await open({ dim: 1, metric: 'l2' });
    await one.add({ id: 'x', vector: [2] });
    expect(one.searchSync([5], { k: 1 }).distances[0]).toBe(9);
    const big = await open({ dim: 65536 });
    await big.add({ id: 'x', vector: new Float32Array(65536).fill(1) });
    expect(big.get('x').vector.length).toBe(65536);
  });

  test('stores are independent', async () => {
    const first = await open({ dim: 2 });
    const second = await open({ dim: 2 });
    await first.add({ id: 'a', vector: [1, 0] });
    expect(first.has('a')).toBe(true);
    expect(second.has('a')).toBe(false);
    expect(second.size).toBe(0);
  });
});

describe.each(QUANTIZATIONS)('quantization %s', (quantization) => {
  describe('add', () => {
    test('one item, as an object, with a number[] vector', async () => {
      const store = await open({ dim: 3, metric: 'l2', quantization });
      await expect(store.add({ id: 'a', vector: [1, 2, 3] })).resolves.toBeUndefined();
      expect(store.size).toBe(1);
      expect(store.has('a')).toBe(true);
      expect(Array.from(store.get('a').vector)).toEqual([1, 2, 3]);
    });

    test('a batch mixing Float32Array and number[] vectors', async () => {
      const store = await open({ dim: 3, metric: 'l2', quantization });
      await store.add([
        { id: 'a', vector: new Float32Array([1, 0, 0]) },
        { id: 'b', vector: [0, 1, 0] },
        { id: 'c', vector: new Float32Array([0, 0, 1]) },
      ]);
      expect(store.size).toBe(3);
      expect(Array.from(store.get('b').vector)).toEqual([0, 1, 0]);
      expect(Array.from(store.get('c').vector)).toEqual([0, 0, 1]);
    });

    test('an empty batch is a no-op', async () => {
      const store = await open({ dim: 3, quantization });
      await store.add([]);
      expect(store.size).toBe(0);
    });

    test('a Float32Array view with a byte offset is read from its offset', async () => {
      const store = await open({ dim: 3, metric: 'l2', quantization });
      const backing = new Float32Array([9, 9, 1, 2, 3, 9]);
      await store.add({ id: 'view', vector: backing.subarray(2, 5) });
      expect(Array.from(store.get('view').vector)).toEqual([1, 2, 3]);
    });

    test('number[] values are stored as float32', async () => {
      const store = await open({ dim: 2, metric: 'l2', quantization });
      await store.add({ id: 'a', vector: [0.1, 1 / 3] });
      expect(Array.from(store.get('a').vector)).toEqual([Math.fround(0.1), Math.fround(1 / 3)]);
    });

    test('ids are any non-empty string up to 1024 bytes of UTF-8', async () => {
      const store = await open({ dim: 2, quantization });
      const ids = ['x', ' ', 'ünïcödé', '日本語', '🍵 tea', 'a'.repeat(1024), '€'.repeat(341), 'with\u0000nul', '1', 'constructor', '__proto__'];
      await store.add(ids.map((id, i) => ({ id, vector: [i + 1, 1] })));
      expect(store.size).toBe(ids.length);
      ids.forEach((id, i) => {
        expect(store.has(id)).toBe(true);
        expect(store.get(id)).toEqual({ id, vector: new Float32Array([i + 1, 1]), time: expect.any(Number) });
      });
      // Search results carry every kind of id back intact (ASCII, multi-byte, astral, NUL).
      const all = store.searchSync([1, 1], { k: ids.length });
      expect([...all.ids].sort()).toEqual([...ids].sort());
      expect((await store.search([1, 1], { k: ids.length })).ids).toEqual(all.ids);
      for (const [i, id] of ids.entries()) {
        expect(store.searchSync([i + 1, 1], { k: 1 }).ids).toEqual([id]); // cosine: every direction differs
      }
    });

    test('ids are case- and normalisation-sensitive', async () => {
      const store = await open({ dim: 1, quantization });
      await store.add([
        { id: 'A', vector: [1] },
        { id: 'a', vector: [2] },
        { id: '\u00e9', vector: [3] }, // é precomposed
        { id: 'e\u0301', vector: [4] }, // e + combining acute
      ]);
      expect(store.size).toBe(4);
      expect(store.get('e\u0301').vector[0]).toBe(4);
    });
  });

  describe('upsert', () => {
    test('replaces the vector of an existing id and inserts new ids', async () => {
      const store = await open({ dim: 2, metric: 'l2', quantization });
      await store.add([
        { id: 'a', vector: [1, 1] },
        { id: 'b', vector: [2, 2] },
      ]);
      await store.upsert([
        { id: 'a', vector: [5, 5] },
        { id: 'c', vector: new Float32Array([3, 3]) },
      ]);
      expect(store.size).toBe(3);
      expect(Array.from(store.get('a').vector)).toEqual([5, 5]);
      expect(Array.from(store.get('b').vector)).toEqual([2, 2]);
      expect(Array.from(store.get('c').vector)).toEqual([3, 3]);
      // The search index sees the new vector, not the old one.
      const { ids, distances } = store.searchSync([5, 5], { k: 1 });
      expect(ids).toEqual(['a']);
      expect(distances[0]).toBe(0);
      expect(store.searchSync([1, 1], { k: 3 }).ids).toEqual(['b', 'c', 'a']);
    });

    test('one item as an object', async () => {
      const store = await open({ dim: 2, quantization });
      await store.upsert({ id: 'a', vector: [1, 2] });
      await store.upsert({ id: 'a', vector: [3, 4] });
      expect(store.size).toBe(1);
      expect(Array.from(store.get('a').vector)).toEqual([3, 4]);
    });

    test('within one batch, the last vector for an id wins', async () => {
      const store = await open({ dim: 2, quantization });
      await store.upsert([
        { id: 'a', vector: [1, 0] },
        { id: 'a', vector: [0, 1] },
      ]);
      expect(store.size).toBe(1);
      expect(Array.from(store.get('a').vector)).toEqual([0, 1]);
    });

    test('an empty batch is a no-op', async () => {
      const store = await open({ dim: 2, quantization });
      await store.upsert([]);
      expect(store.size).toBe(0);
    });
  });

  describe('delete', () => {
    test('one id as a string, then a batch', async () => {
      const store = await open({ dim: 2, metric: 'l2', quantization });
      await store.add(['a', 'b', 'c', 'd'].map((id, i) => ({ id, vector: [i, 0] })));
      await expect(store.delete('b')).resolves.toBeUndefined();
      expect(store.size).toBe(3);
      expect(store.has('b')).toBe(false);
      await store.delete(['a', 'd']);
      expect(store.size).toBe(1);
      expect(store.has('a')).toBe(false);
      expect(store.has('d')).toBe(false);
      // The survivor keeps its vector after rows moved around.
      expect(Array.from(store.get('c').vector)).toEqual([2, 0]);
      expect(store.searchSync([0, 0], { k: 10 }).ids).toEqual(['c']);
    });

    test('deleted ids leave search results and can be added again', async () => {
      const store = await open({ dim: 2, metric: 'l2', quantization });
      await store.add([
        { id: 'near', vector: [0, 0] },
        { id: 'far', vector: [10, 10] },
      ]);
      await store.delete('near');
      expect(store.searchSync([0, 0], { k: 5 }).ids).toEqual(['far']);
      await store.add({ id: 'near', vector: [1, 1] });
      expect(store.searchSync([0, 0], { k: 5 }).ids).toEqual(['near', 'far']);
      expect(Array.from(store.get('near').vector)).toEqual([1, 1]);
    });

    test('an id repeated in one batch is deleted once', async () => {
      const store = await open({ dim: 2, quantization });
      await store.add([
        { id: 'a', vector: [1, 0] },
        { id: 'b', vector: [0, 1] },
      ]);
      await store.delete(['a', 'a']);
      expect(store.size).toBe(1);
      expect(store.has('b')).toBe(true);
    });

    test('an empty batch is a no-op; deleting everything leaves an empty, working store', async () => {
      const store = await open({ dim: 2, quantization });
      await store.add({ id: 'a', vector: [1, 0] });
      await store.delete([]);
      expect(store.size).toBe(1);
      await store.delete('a');
      expect(store.size).toBe(0);
      expect(store.searchSync([1, 0]).ids).toEqual([]);
      await store.add({ id: 'a', vector: [1, 0] });
      expect(store.size).toBe(1);
    });
  });

  describe('get and has', () => {
    test('get returns { id, vector } with a fresh Float32Array of dim floats', async () => {
      const store = await open({ dim: 3, quantization });
      await store.add({ id: 'a', vector: [1, 2, 3] });
      const item = store.get('a');
      expect(item.id).toBe('a');
      expect(item.vector).toBeInstanceOf(Float32Array);
      expect(item.vector.length).toBe(3);
      expect(Array.from(item.vector)).toEqual([1, 2, 3]);
    });

    test('get returns a copy: mutating it changes neither the store nor later gets', async () => {
      const store = await open({ dim: 3, metric: 'l2', quantization });
      await store.add({ id: 'a', vector: [1, 2, 3] });
      const first = store.get('a');
      first.vector.fill(100);
      expect(Array.from(store.get('a').vector)).toEqual([1, 2, 3]);
      expect(store.get('a').vector).not.toBe(store.get('a').vector);
      expect(store.searchSync([1, 2, 3], { k: 1 }).distances[0]).toBe(0);
    });

    test('the stored vector does not alias the caller\'s array', async () => {
      const store = await open({ dim: 3, quantization });
      const vector = new Float32Array([1, 2, 3]);
      await store.add({ id: 'a', vector });
      vector.fill(0);
      expect(Array.from(store.get('a').vector)).toEqual([1, 2, 3]);
    });

    test('has is true exactly for stored ids', async () => {
      const store = await open({ dim: 1, quantization });
      expect(store.has('a')).toBe(false);
      await store.add({ id: 'a', vector: [1] });
      expect(store.has('a')).toBe(true);
      expect(store.has('A')).toBe(false);
      expect(store.has('a ')).toBe(false);
      await store.delete('a');
      expect(store.has('a')).toBe(false);
    });

    test('size follows adds, upserts and deletes', async () => {
      const store = await open({ dim: 1, quantization });
      expect(store.size).toBe(0);
      await store.add([
        { id: 'a', vector: [1] },
        { id: 'b', vector: [2] },
      ]);
      expect(store.size).toBe(2);
      await store.upsert([
        { id: 'b', vector: [3] },
        { id: 'c', vector: [4] },
      ]);
      expect(store.size).toBe(3);
      await store.delete(['a', 'c']);
      expect(store.size).toBe(1);
    });
  });

  describe('search and searchSync', () => {
    // a, b, c, d against q = [1, 2, 2] (|q| = 3); distances worked out by hand.
    const items = [
      { id: 'a', vector: [1, 0, 0] }, // q.a = 1,  |a| = 1,    |q-a|^2 = 0+4+4  = 8
      { id: 'b', vector: [0, 2, 0] }, // q.b = 4,  |b| = 2,    |q-b|^2 = 1+0+4  = 5
      { id: 'c', vector: [1, 1, 1] }, // q.c = 5,  |c| = √3,   |q-c|^2 = 0+1+1  = 2
      { id: 'd', vector: [0, 1, 10] }, // q.d = 22, |d| = √101, |q-d|^2 = 1+1+64 = 66
    ];
    const query = [1, 2, 2];
    const expected: Record<Metric, Array<[string, number]>> = {
      l2: [
        ['c', 2],
        ['b', 5],
        ['a', 8],
        ['d', 66],
      ],
      ip: [
        ['d', 1 - 22],
        ['c', 1 - 5],
        ['b', 1 - 4],
        ['a', 1 - 1],
      ],
      cosine: [
        ['c', 1 - 5 / (3 * Math.sqrt(3))],
        ['d', 1 - 22 / (3 * Math.sqrt(101))],
        ['b', 1 - 4 / (3 * 2)],
        ['a', 1 - 1 / 3],
      ],
    };

    describe.each(['l2', 'ip', 'cosine'] as const)('metric %s', (metric) => {
      test('distances match the hand-computed ones, nearest first', async () => {
        const store = await open({ dim: 3, metric, quantization });
        await store.add(items);
        for (const form of [query, new Float32Array(query)]) {
          const { ids, distances } = store.searchSync(form, { k: 4 });
          expect(ids).toEqual(expected[metric].map(([id]) => id));
          expect(distances).toBeInstanceOf(Float32Array);
          expect(distances.length).toBe(4);
          expected[metric].forEach(([, distance], i) => expect(distances[i]).toBeCloseTo(distance, 5));
          expectSortedAscending(distances);
        }
      });

      test('search (async) and searchSync agree exactly', async () => {
        const store = await open({ dim: 3, metric, quantization });
        await store.add(items);
        for (const k of [1, 2, 4, 10]) {
          const sync = store.searchSync(query, { k });
          const async = await store.search(query, { k });
          expect(async.distances).toBeInstanceOf(Float32Array);
          expectSameResult(async, sync);
          expectSameResult(await store.search(new Float32Array(query), { k }), sync);
        }
      });

      test('k = 1 returns the nearest item', async () => {
        const store = await open({ dim: 3, metric, quantization });
        await store.add(items);
        const { ids, distances } = await store.search(query, { k: 1 });
        expect(ids).toEqual([expected[metric][0]?.[0]]);
        expect(distances[0]).toBeCloseTo(expected[metric][0]?.[1] as number, 5);
      });

      test('a query equal to a stored vector is at distance 0 (l2, cosine)', async () => {
        if (metric === 'ip') return; // ip: 1 - |v|^2, not 0
        const store = await open({ dim: 3, metric, quantization });
        await store.add(items);
        const { ids, distances } = store.searchSync([0, 1, 10], { k: 1 });
        expect(ids).toEqual(['d']);
        expect(distances[0]).toBeCloseTo(0, 6);
      });
    });

    test('k larger than size returns every item, sorted', async () => {
      const store = await open({ dim: 3, metric: 'l2', quantization });
      await store.add(items);
      for (const result of [store.searchSync(query, { k: 100 }), await store.search(query, { k: 10000 })]) {
        expect(result.ids).toEqual(['c', 'b', 'a', 'd']);
        expect(result.distances.length).toBe(4);
        expectSortedAscending(result.distances);
      }
    });

    test('an empty store returns no results', async () => {
      const store = await open({ dim: 3, quantization });
      for (const result of [store.searchSync(query), await store.search(query, { k: 5 })]) {
        expect(result.ids).toEqual([]);
        expect(result.distances).toBeInstanceOf(Float32Array);
        expect(result.distances.length).toBe(0);
      }
    });

    test('k defaults to 10; options may be omitted or empty', async () => {
      const store = await open({ dim: 1, metric: 'l2', quantization });
      await store.add(Array.from({ length: 25 }, (_, i) => ({ id: `v${i}`, vector: [i] })));
      const expectedIds = Array.from({ length: 10 }, (_, i) => `v${i}`);
      expect(store.searchSync([0]).ids).toEqual(expectedIds);
      expect(store.searchSync([0], {}).ids).toEqual(expectedIds);
      expect((await store.search([0])).ids).toEqual(expectedIds);
      expect((await store.search([0], {})).ids).toEqual(expectedIds);
      expect(store.searchSync([0], { k: 25 }).distances).toEqual(Float32Array.from({ length: 25 }, (_, i) => i * i));
    });

    test('a query Float32Array view with a byte offset is read from its offset', async () => {
      const store = await open({ dim: 3, metric: 'l2', quantization });
      await store.add(items);
      const backing = new Float32Array([7, 7, 7, 1, 2, 2, 7]);
      const view = backing.subarray(3, 6);
      expectSameResult(store.searchSync(view, { k: 4 }), store.searchSync(query, { k: 4 }));
      expectSameResult(await store.search(view, { k: 4 }), store.searchSync(query, { k: 4 }));
    });

    test('exact: true and rerank are accepted and give exact results here', async () => {
      const store = await open({ dim: 3, metric: 'cosine', quantization });
      await store.add(items);
      const plain = store.searchSync(query, { k: 4 });
      expectSameResult(store.searchSync(query, { k: 4, exact: true }), plain);
      expectSameResult(store.searchSync(query, { k: 4, exact: false, rerank: 0 }), plain);
      expectSameResult(await store.search(query, { k: 4, rerank: 100 }), plain);
      // rerank below k still returns k results (at least k candidates are re-scored).
      expect(store.searchSync(query, { k: 3, rerank: 1 }).ids.length).toBe(3);
    });

    test('repeated searches give identical results (no hidden state)', async () => {
      const store = await open({ dim: 3, metric: 'ip', quantization });
      await store.add(items);
      const first = store.searchSync(query, { k: 4 });
      for (let i = 0; i < 5; i++) expectSameResult(store.searchSync(query, { k: 4 }), first);
    });

    test('ties: equal vectors all come back, at equal distances', async () => {
      const store = await open({ dim: 2, metric: 'l2', quantization });
      await store.add(['x', 'y', 'z'].map((id) => ({ id, vector: [1, 1] })));
      const { ids, distances } = store.searchSync([0, 0], { k: 3 });
      expect([...ids].sort()).toEqual(['x', 'y', 'z']);
      expect(Array.from(distances)).toEqual([2, 2, 2]);
      // Deterministic order for ties.
      expect(store.searchSync([0, 0], { k: 3 }).ids).toEqual(ids);
    });
  });

  describe('cosine and zero vectors', () => {
    test('a zero vector is at distance 1 from any non-zero query, 0 from a zero query', async () => {
      const store = await open({ dim: 3, metric: 'cosine', quantization });
      await store.add([
        { id: 'zero', vector: [0, 0, 0] },
        { id: 'x', vector: [1, 0, 0] },
      ]);
      const fromX = store.searchSync([2, 0, 0], { k: 2 });
      expect(fromX.ids).toEqual(['x', 'zero']);
      expect(Array.from(fromX.distances)).toEqual([0, 1]);
      const fromZero = store.searchSync([0, 0, 0], { k: 2 });
      expect(fromZero.ids).toEqual(['zero', 'x']);
      expect(Array.from(fromZero.distances)).toEqual([0, 1]);
    });

    test('opposite vectors are at distance 2; cosine ignores length', async () => {
      const store = await open({ dim: 2, metric: 'cosine', quantization });
      await store.add([
        { id: 'left', vector: [-3, 0] },
        { id: 'right', vector: [100, 0] },
        { id: 'up', vector: [0, 0.5] },
      ]);
      const { ids, distances } = store.searchSync([1, 0], { k: 3 });
      expect(ids).toEqual(['right', 'up', 'left']);
      expect(distances[0]).toBeCloseTo(0, 6);
      expect(distances[1]).toBeCloseTo(1, 6);
      expect(distances[2]).toBeCloseTo(2, 6);
    });
  });
});

describe('int8 quantization', () => {
  test('returns exact f32 distances, like the f32 store, on vectors with wide ranges', async () => {
    // Components from 1e-3 to 1e3 in one vector: per-vector scales keep the ranking,
    // the f32 rerank keeps the distances exact.
    const dim = 16;
    const vectors = Array.from({ length: 50 }, (_, i) =>
      Float32Array.from({ length: dim }, (_, j) => ((i * 7 + j * 3) % 11) * 10 ** (((i + j) % 7) - 3)),
    );
    for (const metric of ['l2', 'ip', 'cosine'] as const) {
      const f32 = await open({ dim, metric, quantization: 'none' });
      const int8 = await open({ dim, metric, quantization: 'int8' });
      const batch = vectors.map((vector, i) => ({ id: `v${i}`, vector }));
      await f32.add(batch);
      await int8.add(batch);
      for (const query of vectors.slice(0, 10)) {
        const expected = f32.searchSync(query, { k: 5 });
        // The f32 scan uses the row kernels, the rerank the pair kernel: same sums in a
        // different order, so equal up to float rounding.
        for (const actual of [int8.searchSync(query, { k: 5, rerank: 50 }), int8.searchSync(query, { k: 5, exact: true })]) {
          expect(actual.ids).toEqual(expected.ids);
          actual.distances.forEach((distance, i) =>
            expect(Math.abs(distance - (expected.distances[i] as number))).toBeLessThanOrEqual(
              1e-6 * Math.max(1, Math.abs(expected.distances[i] as number)),
            ),
          );
        }
      }
    }
  });
});

// Finite inputs at the edges of float32. A store may refuse a vector or query it cannot
// score (INVALID_VECTOR), but what it accepts must come back with real, sorted distances.
describe('finite vectors at the float32 limits', () => {
  const extremes = [
    { id: 'huge', vector: [3e38, -3e38] }, // |v|^2 overflows float32
    { id: 'large', vector: [1e20, 1e20] }, // |v|^2 = 2e40 overflows float32
    { id: 'unit', vector: [1, 0] },
    { id: 'tiny', vector: [1e-40, 0] }, // a subnormal: |v|^2 underflows to 0
  ];
  const queries = [
    [3e38, 3e38],
    [1, 1],
    [1e-30, 0],
  ];

  for (const metric of ['l2', 'ip', 'cosine'] as const) {
    // Vectors whose squared length overflows float32 are refused (INVALID_VECTOR), so no
    // dot product can overflow; norms are taken in double so tiny vectors keep theirs.
    test.each(QUANTIZATIONS)(`${metric}, quantization %s: no NaN, sorted, or refused`, async (quantization) => {
      const store = await open({ dim: 2, metric, quantization });
      for (const item of extremes) {
        try {
          await store.add(item);
        } catch (error) {
          expect((error as LociError).code).toBe('INVALID_VECTOR');
        }
      }
      expect(store.has('unit')).toBe(true);
      for (const query of queries) {
        let result: SearchResult;
        try {
          result = store.searchSync(query, { k: 4 });
        } catch (error) {
          expect((error as LociError).code).toBe('INVALID_VECTOR'); // a query it cannot score
          continue;
        }
        const { ids, distances } = result;
        expect(ids.length).toBe(store.size);
        for (const distance of distances) expect(Number.isNaN(distance), `${ids.join()} ${distances.join()}`).toBe(false);
        expectSortedAscending(distances);
      }
      if (metric === 'cosine' && store.has('large')) {
        // Same direction as [1, 1]: distance 0 whatever the length.
        expect(store.searchSync([1, 1], { k: 1 }).ids).toEqual(['large']);
      }
    });
  }
});

describe('close', () => {
  test('close resolves, marks the store closed and is idempotent', async () => {
    const store = await Store.open({ dim: 2 });
    await store.add({ id: 'a', vector: [1, 2] });
    await expect(store.close()).resolves.toBeUndefined();
    expect(store.closed).toBe(true);
    await expect(store.close()).resolves.toBeUndefined();
    expect(store.closed).toBe(true);
    expect(() => store.size).toThrow(LociError);
  });

  test('readonly properties stay readable after close', async () => {
    const store = await Store.open({ dim: 4, metric: 'ip', quantization: 'int8' });
    await store.close();
    expect(store.dim).toBe(4);
    expect(store.metric).toBe('ip');
    expect(store.quantization).toBe('int8');
  });
});
