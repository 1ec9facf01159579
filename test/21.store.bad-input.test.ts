// Every public method against every class of bad input. Each case asserts:
//  - a LociError (instanceof, name) with the exact stable `code`;
//  - a message that names what was expected, so the caller knows what to do;
//  - async methods reject (never throw synchronously), sync methods throw;
//  - afterwards the store holds exactly what it held before and still works.
import { createRequire } from 'node:module';
import * as path from 'node:path';

import { LociError, Store, type LociErrorCode, type Quantization, type SearchOptions, type StoreOptions } from 'loci';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';

import { expectRejects, expectThrows, REPO_ROOT } from './support';

const DIM = 4;
const LONG_ID = 'x'.repeat(2000);

interface BadCase {
  /** What is wrong, as the test name. */
  name: string;
  /** A factory: some values (detached buffers) can be used only once. */
  value: () => unknown;
  code: LociErrorCode;
  /** The message must say what was expected. */
  message: RegExp;
}

function detachedFloat32Array(): Float32Array {
  const buffer = new ArrayBuffer(DIM * 4);
  const view = new Float32Array(buffer);
  structuredClone(buffer, { transfer: [buffer] }); // detaches `buffer`: view.length becomes 0
  return view;
}

function withValue(index: number, value: number): Float32Array {
  const vector = new Float32Array([0.5, 0.25, -1, 2]);
  vector[index] = value;
  return vector;
}

const NOT_A_VECTOR = /must be a Float32Array or an array of numbers/;
const NON_NUMBER = /non-number .*at index \d+/;
const WRONG_DIM = /has \d+ dimensions, but the store has dim 4/;
const NOT_FINITE = /finite numbers/;

/** Bad vectors, for add/upsert items and for search queries alike. */
const BAD_VECTORS: BadCase[] = [
  { name: 'number[] too short', value: () => [1, 2, 3], code: 'DIM_MISMATCH', message: WRONG_DIM },
  { name: 'number[] too long', value: () => [1, 2, 3, 4, 5], code: 'DIM_MISMATCH', message: WRONG_DIM },
  { name: 'empty array', value: () => [], code: 'DIM_MISMATCH', message: WRONG_DIM },
  { name: 'Float32Array too short', value: () => new Float32Array(DIM - 1), code: 'DIM_MISMATCH', message: WRONG_DIM },
  { name: 'Float32Array too long', value: () => new Float32Array(DIM + 1), code: 'DIM_MISMATCH', message: WRONG_DIM },
  { name: 'empty Float32Array', value: () => new Float32Array(0), code: 'DIM_MISMATCH', message: WRONG_DIM },
  { name: 'Float32Array over a detached buffer', value: detachedFloat32Array, code: 'DIM_MISMATCH', message: WRONG_DIM },
  { name: 'NaN in number[]', value: () => [1, NaN, 3, 4], code: 'INVALID_VECTOR', message: /NaN at index 1.*finite numbers/ },
  { name: 'Infinity in number[]', value: () => [1, 2, Infinity, 4], code: 'INVALID_VECTOR', message: /Infinity at index 2.*finite numbers/ },
  { name: '-Infinity in number[]', value: () => [-Infinity, 2, 3, 4], code: 'INVALID_VECTOR', message: /-Infinity at index 0.*finite numbers/ },
  { name: 'NaN in Float32Array', value: () => withValue(1, NaN), code: 'INVALID_VECTOR', message: NOT_FINITE },
  { name: 'Infinity in Float32Array', value: () => withValue(3, Infinity), code: 'INVALID_VECTOR', message: NOT_FINITE },
  { name: '-Infinity in Float32Array', value: () => withValue(0, -Infinity), code: 'INVALID_VECTOR', message: NOT_FINITE },
  { name: 'number overflowing float32', value: () => [1e39, 0, 0, 0], code: 'INVALID_VECTOR', message: NOT_FINITE },
  { name: 'a string', value: () => 'abcd', code: 'INVALID_ARGUMENT', message: NOT_A_VECTOR },
  { name: 'a number', value: () => 4, code: 'INVALID_ARGUMENT', message: NOT_A_VECTOR },
  { name: 'a boolean', value: () => true, code: 'INVALID_ARGUMENT', message: NOT_A_VECTOR },
  { name: 'null', value: () => null, code: 'INVALID_ARGUMENT', message: NOT_A_VECTOR },
  { name: 'undefined', value: () => undefined, code: 'INVALID_ARGUMENT', message: NOT_A_VECTOR },
  { name: 'a plain object', value: () => ({}), code: 'INVALID_ARGUMENT', message: NOT_A_VECTOR },
  { name: 'an array-like object', value: () => ({ length: 4, 0: 1, 1: 2, 2: 3, 3: 4 }), code: 'INVALID_ARGUMENT', message: NOT_A_VECTOR },
  { name: 'an Int8Array', value: () => new Int8Array(DIM), code: 'INVALID_ARGUMENT', message: NOT_A_VECTOR },
  { name: 'a Uint8Array', value: () => new Uint8Array(DIM), code: 'INVALID_ARGUMENT', message: NOT_A_VECTOR },
  { name: 'a Float64Array', value: () => new Float64Array(DIM), code: 'INVALID_ARGUMENT', message: NOT_A_VECTOR },
  { name: 'an ArrayBuffer', value: () => new ArrayBuffer(DIM * 4), code: 'INVALID_ARGUMENT', message: NOT_A_VECTOR },
  { name: 'a DataView', value: () => new DataView(new ArrayBuffer(DIM * 4)), code: 'INVALID_ARGUMENT', message: NOT_A_VECTOR },
  { name: 'a Map', value: () => new Map([[0, 1]]), code: 'INVALID_ARGUMENT', message: NOT_A_VECTOR },
  { name: 'nested arrays', value: () => [[1], [2], [3], [4]], code: 'INVALID_ARGUMENT', message: NON_NUMBER },
  { name: 'an array with a string in it', value: () => [1, '2', 3, 4], code: 'INVALID_ARGUMENT', message: /non-number \(string 2\) at index 1/ },
  { name: 'an array with null in it', value: () => [1, 2, null, 4], code: 'INVALID_ARGUMENT', message: NON_NUMBER },
  { name: 'an array with undefined in it', value: () => [1, 2, 3, undefined], code: 'INVALID_ARGUMENT', message: NON_NUMBER },
  { name: 'an array with a boolean in it', value: () => [true, 2, 3, 4], code: 'INVALID_ARGUMENT', message: NON_NUMBER },
  { name: 'an array of bigints', value: () => [1n, 2n, 3n, 4n], code: 'INVALID_ARGUMENT', message: NON_NUMBER },
  { name: 'an array with a Number object', value: () => [1, new Number(2), 3, 4], code: 'INVALID_ARGUMENT', message: NON_NUMBER },
  { name: 'a sparse array', value: () => new Array(DIM), code: 'INVALID_ARGUMENT', message: NON_NUMBER },
  { name: 'an array with a symbol in it', value: () => [1, 2, Symbol('x'), 4], code: 'INVALID_ARGUMENT', message: NON_NUMBER },
  {
    // Never converted: a non-number's valueOf is not called, so it cannot throw or lie.
    name: 'an array with an object whose valueOf throws',
    value: () => [1, { valueOf: () => { throw new Error('valueOf called'); } }, 3, 4],
    code: 'INVALID_ARGUMENT',
    message: NON_NUMBER,
  },
];

const NOT_AN_ID = /must be a non-empty string/;
const ID_TOO_LONG = /longer than 1024 bytes of UTF-8/;

/** Bad ids, for add/upsert items, delete, get and has. */
const BAD_IDS: BadCase[] = [
  { name: 'empty string', value: () => '', code: 'INVALID_ARGUMENT', message: NOT_AN_ID },
  { name: 'a number', value: () => 5, code: 'INVALID_ARGUMENT', message: NOT_AN_ID },
  { name: 'null', value: () => null, code: 'INVALID_ARGUMENT', message: NOT_AN_ID },
  { name: 'undefined', value: () => undefined, code: 'INVALID_ARGUMENT', message: NOT_AN_ID },
  { name: 'an object', value: () => ({ toString: () => 'a' }), code: 'INVALID_ARGUMENT', message: NOT_AN_ID },
  { name: 'an array of one string', value: () => ['a'], code: 'INVALID_ARGUMENT', message: NOT_AN_ID },
  { name: 'a String object', value: () => new String('a'), code: 'INVALID_ARGUMENT', message: NOT_AN_ID },
  { name: 'a symbol', value: () => Symbol('a'), code: 'INVALID_ARGUMENT', message: NOT_AN_ID },
  { name: 'a 2000-byte string', value: () => LONG_ID, code: 'INVALID_ARGUMENT', message: ID_TOO_LONG },
  { name: 'a 1025-byte string', value: () => 'y'.repeat(1025), code: 'INVALID_ARGUMENT', message: ID_TOO_LONG },
  { name: '342 three-byte characters (1026 bytes)', value: () => '€'.repeat(342), code: 'INVALID_ARGUMENT', message: ID_TOO_LONG },
  // Lone surrogates are not Unicode text: UTF-8 encoding turns every one into U+FFFD,
  // so two different ids would silently become the same stored id.
  { name: 'a lone high surrogate', value: () => 'a\uD800', code: 'INVALID_ARGUMENT', message: /surrogate/ },
  { name: 'a lone low surrogate', value: () => '\uDC00b', code: 'INVALID_ARGUMENT', message: /surrogate/ },
];

const K_RANGE = /k must be an integer from 1 to 10000/;
const RERANK_RANGE = /rerank must be an integer from 0 to 10000/;
const NOT_OPTIONS = /search options must be an object such as \{ k: 10 \}/;

/** Bad search options, for search and searchSync. */
const BAD_SEARCH_OPTIONS: BadCase[] = [
  ...[0, -1, 1.5, 10001, NaN, Infinity, -Infinity, 2 ** 53, -0.5, '5', null, true, [3]].map(
    (k): BadCase => ({ name: `k = ${describeValue(k)}`, value: () => ({ k }), code: 'INVALID_ARGUMENT', message: K_RANGE }),
  ),
  ...[-1, 1.5, NaN, Infinity, 10001, '8', null, false].map(
    (rerank): BadCase => ({
      name: `rerank = ${describeValue(rerank)}`,
      value: () => ({ k: 5, rerank }),
      code: 'INVALID_ARGUMENT',
      message: RERANK_RANGE,
    }),
  ),
  ...['yes', 1, 0, null].map(
    (exact): BadCase => ({
      name: `exact = ${describeValue(exact)}`,
      value: () => ({ exact }),
      code: 'INVALID_ARGUMENT',
      message: /exact must be true or false/,
    }),
  ),
  ...[null, 5, 'k', true, () => 10].map(
    (options): BadCase => ({ name: `options = ${describeValue(options)}`, value: () => options, code: 'INVALID_ARGUMENT', message: NOT_OPTIONS }),
  ),
];

function describeValue(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return `[${value.join(', ')}]`;
  return String(value);
}

// --- the store under test and its invariants ------------------------------------------

const SEEDED = [
  { id: 'a', vector: [1, 0, 0, 0] },
  { id: 'b', vector: [0, 2, 0, 0] },
  { id: 'c', vector: [0.5, 0.5, -0.5, 3] },
];
const PROBE_QUERY = [1, 1, 0, 0];

interface Snapshot {
  size: number;
  vectors: Record<string, number[]>;
  search: { ids: string[]; distances: number[] };
}

function snapshot(store: Store): Snapshot {
  const vectors: Record<string, number[]> = {};
  const all = store.searchSync(PROBE_QUERY, { k: 100 });
  for (const id of all.ids) vectors[id] = Array.from(store.get(id).vector);
  return { size: store.size, vectors, search: { ids: all.ids, distances: Array.from(all.distances) } };
}

/** The store holds what it held before, and every operation still works. */
async function expectIntact(store: Store, before: Snapshot): Promise<void> {
  expect(store.closed).toBe(false);
  expect(snapshot(store)).toEqual(before);
  const async = await store.search(PROBE_QUERY, { k: 100 });
  expect(async.ids).toEqual(before.search.ids);
  // A write and its undo go through.
  await store.add({ id: 'intact-probe', vector: [9, 9, 9, 9] });
  expect(store.has('intact-probe')).toBe(true);
  await store.delete('intact-probe');
  expect(snapshot(store)).toEqual(before);
}

describe.each(['none', 'int8'] as Quantization[])('quantization %s', (quantization) => {
  let store: Store;
  let before: Snapshot;

  beforeEach(async () => {
    store = await Store.open({ dim: DIM, metric: 'l2', quantization });
    await store.add(SEEDED);
    before = snapshot(store);
    expect(before.size).toBe(3);
  });
  afterEach(async () => {
    await store.close();
  });

  describe('bad vectors', () => {
    describe.each(BAD_VECTORS)('$name', ({ value, code, message }) => {
      test('add (one item) rejects', async () => {
        const error = await expectRejects(() => store.add({ id: 'new', vector: value() as number[] }), code, message);
        expect(error.message).toMatch(/item 0/);
        await expectIntact(store, before);
      });

      test('add (bad item in the middle of a batch) rejects and stores nothing', async () => {
        const items = [
          { id: 'new1', vector: [1, 1, 1, 1] },
          { id: 'new2', vector: value() as number[] },
          { id: 'new3', vector: [2, 2, 2, 2] },
        ];
        const error = await expectRejects(() => store.add(items), code, message);
        expect(error.message).toMatch(/item 1/);
        expect(store.has('new1')).toBe(false);
        await expectIntact(store, before);
      });

      test('upsert (replacing an existing id) rejects and replaces nothing', async () => {
        const items = [
          { id: 'a', vector: [7, 7, 7, 7] },
          { id: 'b', vector: value() as number[] },
        ];
        await expectRejects(() => store.upsert(items), code, message);
        await expectIntact(store, before);
      });

      test('search rejects', async () => {
        const error = await expectRejects(() => store.search(value() as number[], { k: 2 }), code, message);
        expect(error.message).toMatch(/query/);
        await expectIntact(store, before);
      });

      test('searchSync throws', async () => {
        const error = expectThrows(() => store.searchSync(value() as number[], { k: 2 }), code, message);
        expect(error.message).toMatch(/query/);
        await expectIntact(store, before);
      });
    });
  });

  describe('bad items', () => {
    const BAD_ITEMS: BadCase[] = [
      { name: 'null', value: () => null, code: 'INVALID_ARGUMENT', message: /item 0 must be an object \{ id, vector \}/ },
      { name: 'undefined', value: () => undefined, code: 'INVALID_ARGUMENT', message: /item 0 must be an object/ },
      { name: 'a string', value: () => 'a', code: 'INVALID_ARGUMENT', message: /item 0 must be an object/ },
      { name: 'a number', value: () => 7, code: 'INVALID_ARGUMENT', message: /item 0 must be an object/ },
      { name: 'an array of null', value: () => [null], code: 'INVALID_ARGUMENT', message: /item 0 must be an object/ },
      {
        name: 'a batch with a number in it',
        value: () => [{ id: 'new', vector: [1, 1, 1, 1] }, 3],
        code: 'INVALID_ARGUMENT',
        message: /item 1 must be an object/,
      },
      { name: 'an item without a vector', value: () => ({ id: 'new' }), code: 'INVALID_ARGUMENT', message: NOT_A_VECTOR },
      { name: 'an item without an id', value: () => ({ vector: [1, 1, 1, 1] }), code: 'INVALID_ARGUMENT', message: NOT_AN_ID },
      { name: 'an empty object', value: () => ({}), code: 'INVALID_ARGUMENT', message: NOT_AN_ID },
    ];

    describe.each(BAD_ITEMS)('$name', ({ value, code, message }) => {
      test('add rejects', async () => {
        await expectRejects(() => store.add(value() as never), code, message);
        await expectIntact(store, before);
      });
      test('upsert rejects', async () => {
        await expectRejects(() => store.upsert(value() as never), code, message);
        await expectIntact(store, before);
      });
    });
  });

  describe('bad ids', () => {
    describe.each(BAD_IDS)('$name', ({ value, code, message }) => {
      test('add rejects', async () => {
        await expectRejects(() => store.add([{ id: 'ok', vector: [1, 1, 1, 1] }, { id: value() as string, vector: [1, 2, 3, 4] }]), code, message);
        await expectIntact(store, before);
      });
      test('upsert rejects', async () => {
        await expectRejects(() => store.upsert({ id: value() as string, vector: [1, 2, 3, 4] }), code, message);
        await expectIntact(store, before);
      });
      test('delete (one id) rejects', async () => {
        const id = value();
        if (Array.isArray(id)) return; // an array of ids is a valid argument of delete
        // A non-string value is not an id list either: either message says what to pass.
        const error = await expectRejects(() => store.delete(id as string), code);
        expect(error.message).toMatch(new RegExp(`${message.source}|an id or an array of ids`));
        await expectIntact(store, before);
      });
      test('delete (in a batch with a stored id) rejects and deletes nothing', async () => {
        await expectRejects(() => store.delete(['a', value() as string]), code, message);
        await expectIntact(store, before);
      });
      test('get throws', async () => {
        expectThrows(() => store.get(value() as string), code, message);
        await expectIntact(store, before);
      });
      test('has throws', async () => {
        expectThrows(() => store.has(value() as string), code, message);
        await expectIntact(store, before);
      });
    });
  });

  describe('ids that exist or do not', () => {
    test('add of a stored id rejects with ALREADY_EXISTS, saying to use upsert', async () => {
      await expectRejects(() => store.add({ id: 'a', vector: [5, 5, 5, 5] }), 'ALREADY_EXISTS', /'a' already exists.*upsert\(\)/);
      await expectIntact(store, before);
    });

    test('add of a batch with one stored id stores none of it', async () => {
      const items = [
        { id: 'new1', vector: [1, 1, 1, 1] },
        { id: 'c', vector: [5, 5, 5, 5] },
      ];
      await expectRejects(() => store.add(items), 'ALREADY_EXISTS', /'c' already exists.*upsert\(\)/);
      expect(store.has('new1')).toBe(false);
      await expectIntact(store, before);
    });

    test('add of a batch that repeats an id rejects and stores nothing', async () => {
      const items = [
        { id: 'new1', vector: [1, 1, 1, 1] },
        { id: 'new1', vector: [2, 2, 2, 2] },
      ];
      await expectRejects(() => store.add(items), 'ALREADY_EXISTS', /'new1' already exists \(it appears twice in this batch\).*upsert\(\)/);
      await expectIntact(store, before);
    });

    test('get of an unknown id throws NOT_FOUND, pointing to has()', async () => {
      expectThrows(() => store.get('nope'), 'NOT_FOUND', /'nope' is not in the store.*has\(\)/);
      expectThrows(() => store.get('A'), 'NOT_FOUND', /has\(\)/);
      await expectIntact(store, before);
    });

    test('has of an unknown id is false, not an error', async () => {
      expect(store.has('nope')).toBe(false);
      await expectIntact(store, before);
    });

    test('delete of an unknown id rejects with NOT_FOUND', async () => {
      await expectRejects(() => store.delete('nope'), 'NOT_FOUND', /'nope' is not in the store: nothing was deleted.*has\(\)/);
      await expectIntact(store, before);
    });

    test('delete of a batch with one unknown id deletes nothing', async () => {
      await expectRejects(() => store.delete(['a', 'b', 'nope']), 'NOT_FOUND', /'nope'.*nothing was deleted/);
      await expectIntact(store, before);
    });

    test('delete of something that is not an id or a list', async () => {
      for (const value of [{}, 5, true, new Set(['a'])]) {
        await expectRejects(() => store.delete(value as never), 'INVALID_ARGUMENT', /delete expects an id or an array of ids/);
      }
      await expectIntact(store, before);
    });
  });

  describe('bad search options', () => {
    describe.each(BAD_SEARCH_OPTIONS)('$name', ({ value, code, message }) => {
      test('search rejects', async () => {
        await expectRejects(() => store.search(PROBE_QUERY, value() as SearchOptions), code, message);
        await expectIntact(store, before);
      });
      test('searchSync throws', async () => {
        expectThrows(() => store.searchSync(PROBE_QUERY, value() as SearchOptions), code, message);
        await expectIntact(store, before);
      });
    });

    test('k = 10000 (the limit) is accepted', async () => {
      expect(store.searchSync(PROBE_QUERY, { k: 10000 }).ids.length).toBe(3);
      expect((await store.search(PROBE_QUERY, { k: 10000, rerank: 10000 })).ids.length).toBe(3);
      await expectIntact(store, before);
    });
  });

  describe('use after close', () => {
    const CLOSED = /the store is closed: open it again with Store\.open\(\)/;

    beforeEach(async () => {
      await store.close();
    });

    test('add, upsert, delete and search reject with CLOSED', async () => {
      await expectRejects(() => store.add({ id: 'new', vector: [1, 1, 1, 1] }), 'CLOSED', CLOSED);
      await expectRejects(() => store.upsert({ id: 'a', vector: [1, 1, 1, 1] }), 'CLOSED', CLOSED);
      await expectRejects(() => store.delete('a'), 'CLOSED', CLOSED);
      await expectRejects(() => store.search(PROBE_QUERY), 'CLOSED', CLOSED);
    });

    test('get, has, searchSync and size throw CLOSED', () => {
      expectThrows(() => store.get('a'), 'CLOSED', CLOSED);
      expectThrows(() => store.has('a'), 'CLOSED', CLOSED);
      expectThrows(() => store.searchSync(PROBE_QUERY), 'CLOSED', CLOSED);
      expectThrows(() => store.size, 'CLOSED', CLOSED);
    });

    test('CLOSED wins over bad arguments (the store is the first thing wrong)', async () => {
      await expectRejects(() => store.add(null as never), 'CLOSED', CLOSED);
      await expectRejects(() => store.search('nope' as never), 'CLOSED', CLOSED);
      expectThrows(() => store.get(5 as never), 'CLOSED', CLOSED);
      expectThrows(() => store.searchSync([1], { k: -1 }), 'CLOSED', CLOSED);
    });

    test('closing again (twice, or concurrently) resolves', async () => {
      await expect(store.close()).resolves.toBeUndefined();
      await expect(Promise.all([store.close(), store.close()])).resolves.toEqual([undefined, undefined]);
      expect(store.closed).toBe(true);
    });

    test('other stores are unaffected', async () => {
      const other = await Store.open({ dim: DIM, metric: 'l2', quantization });
      await other.add(SEEDED);
      expect(other.searchSync(PROBE_QUERY, { k: 100 }).ids).toEqual(before.search.ids);
      await other.close();
    });
  });
});

describe('Store.open', () => {
  const DIM_RANGE = /dim must be an integer from 1 to 65536/;
  const NOT_OPTIONS_OBJECT = /Store\.open expects a directory or an options object such as \{ dim: 768 \}/;
  const DIM_REQUIRED = /dim is required/;
  const METRICS = /metric must be one of 'l2', 'ip', 'cosine'/;
  const QUANTIZATIONS = /quantization must be one of 'none', 'int8'/;

  const BAD_OPTIONS: BadCase[] = [
    ...[undefined, null, 5, true, Symbol('x')].map(
      (options): BadCase => ({ name: `options = ${String(options)}`, value: () => options, code: 'INVALID_ARGUMENT', message: NOT_OPTIONS_OBJECT }),
    ),
    { name: 'no dim', value: () => ({}), code: 'INVALID_ARGUMENT', message: DIM_REQUIRED },
    { name: 'an array', value: () => [4], code: 'INVALID_ARGUMENT', message: DIM_REQUIRED },
    ...[0, -1, 1.5, 65537, 2 ** 32, NaN, Infinity, '3', null, true].map(
      (dim): BadCase => ({ name: `dim = ${describeValue(dim)}`, value: () => ({ dim }), code: 'INVALID_ARGUMENT', message: DIM_RANGE }),
    ),
    ...['L2', 'euclidean', 'dot', '', 'toString', '__proto__', 0, true, {}].map(
      (metric): BadCase => ({
        name: `metric = ${describeValue(metric)}`,
        value: () => ({ dim: 4, metric }),
        code: 'INVALID_ARGUMENT',
        message: METRICS,
      }),
    ),
    ...['int4', 'INT8', 'f16', 'float32', '', 'hasOwnProperty', 1, false].map(
      (quantization): BadCase => ({
        name: `quantization = ${describeValue(quantization)}`,
        value: () => ({ dim: 4, quantization }),
        code: 'INVALID_ARGUMENT',
        message: QUANTIZATIONS,
      }),
    ),
  ];

  test.each(BAD_OPTIONS)('$name rejects', async ({ value, code, message }) => {
    await expectRejects(() => Store.open(value() as StoreOptions), code, message);
  });

  test('the message of a bad choice quotes the value that was given', async () => {
    const error = await expectRejects(() => Store.open({ dim: 4, metric: 'euclid' as never }), 'INVALID_ARGUMENT');
    expect(error.message).toContain('"euclid"');
  });

  test('after failed opens, opening works', async () => {
    const store = await Store.open({ dim: 4 });
    expect(store.size).toBe(0);
    await store.close();
  });
});

describe('LociError', () => {
  test('is an Error with a stable code, usable in catch blocks and across JSON', async () => {
    const store = await Store.open({ dim: 2 });
    let caught: unknown;
    try {
      store.get('missing');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(LociError);
    expect(caught).toBeInstanceOf(Error);
    const error = caught as LociError;
    expect(error.code).toBe('NOT_FOUND');
    expect(error.name).toBe('LociError');
    expect(typeof error.stack).toBe('string');
    expect(String(error)).toMatch(/^LociError: /);
    await store.close();
  });

  test('can be constructed by callers (for mocks) and keeps its code', () => {
    const error = new LociError('CORRUPT', 'a page failed its checksum: restore from a backup');
    expect(error.code).toBe('CORRUPT');
    expect(error.message).toMatch(/checksum/);
  });
});

// The TS layer catches everything above before it reaches native code. These cases call
// the internal native handle directly, as a bug in the TS layer would: native code must
// still refuse rather than read or write out of bounds.
describe('native handle, with the TS checks bypassed', () => {
  interface RawHandle {
    add(ids: unknown, vectors: unknown, upsert: unknown): Promise<void>;
    remove(ids: unknown): Promise<void>;
    get(id: unknown): Float32Array;
    has(id: unknown): boolean;
    searchSync(query: unknown, params: unknown, out: unknown, boundaries: unknown): string;
    search(query: unknown, params: unknown): Promise<unknown>;
    constructor: new (...args: unknown[]) => RawHandle;
  }
  let store: Store;
  let raw: RawHandle;

  beforeEach(async () => {
    store = await Store.open({ dim: DIM, metric: 'l2', quantization: 'int8' });
    await store.add(SEEDED);
    raw = (store as unknown as { native: RawHandle }).native;
    expect(raw).toBeTruthy();
  });
  afterEach(async () => {
    await store.close();
  });

  const query = new Float32Array(PROBE_QUERY);
  // The native parameter block: [k, exact, rerank, effort, probes, beam, eps].
  const params = (k: number, rerank = 0): Float64Array => new Float64Array([k, 0, rerank, 0, 0, 0, -1]);

  test('searchSync refuses output buffers shorter than k (distances) or k + 2 (id boundaries)', () => {
    const boundaries = new Uint32Array(5);
    expectThrows(() => raw.searchSync(query, params(3, 0), new Float32Array(2), boundaries), 'INVALID_ARGUMENT', /distancesOut/);
    expectThrows(() => raw.searchSync(query, params(3, 0), new Float64Array(3), boundaries), 'INVALID_ARGUMENT', /distancesOut/);
    expectThrows(() => raw.searchSync(query, params(3, 0), undefined, boundaries), 'INVALID_ARGUMENT', /distancesOut/);
    const distances = new Float32Array(3);
    expectThrows(() => raw.searchSync(query, params(3, 0), distances, new Uint32Array(4)), 'INVALID_ARGUMENT', /boundariesOut/);
    expectThrows(() => raw.searchSync(query, params(3, 0), distances, new Int32Array(5)), 'INVALID_ARGUMENT', /boundariesOut/);
    expectThrows(() => raw.searchSync(query, params(3, 0), distances, undefined), 'INVALID_ARGUMENT', /boundariesOut/);
    expectThrows(() => raw.searchSync(query, params(3, 0), distances, [0, 0, 0, 0, 0]), 'INVALID_ARGUMENT', /boundariesOut/);
  });

  test('searchSync and search refuse queries that are not Float32Array of dim floats', async () => {
    const out = new Float32Array(10);
    const boundaries = new Uint32Array(12);
    expectThrows(() => raw.searchSync([1, 1, 0, 0], 3, false, 0, out, boundaries), 'INVALID_ARGUMENT', /Float32Array/);
    expectThrows(() => raw.searchSync(new Float64Array(DIM), params(3, 0), out, boundaries), 'INVALID_ARGUMENT', /Float32Array/);
    expectThrows(() => raw.searchSync(new Float32Array(DIM - 1), params(3, 0), out, boundaries), 'DIM_MISMATCH');
    expectThrows(() => raw.search(new Float32Array(DIM + 1), params(3)), 'DIM_MISMATCH');
    expectThrows(() => raw.search('query', params(3)), 'INVALID_ARGUMENT');
  });

  test('bad k and rerank values are refused, not cast', async () => {
    const out = new Float32Array(20000);
    const boundaries = new Uint32Array(20002);
    for (const k of [0, -1, NaN, 1e12, Infinity]) {
      expectThrows(() => raw.searchSync(query, params(k, 0), out, boundaries), 'INVALID_ARGUMENT', /k must be/);
      await expectRejects(() => raw.search(query, params(k)), 'INVALID_ARGUMENT', /k must be/);
    }
    expectThrows(() => raw.searchSync(query, 'ten', out, boundaries), 'INVALID_ARGUMENT', /Float64Array/);
    expectThrows(() => raw.searchSync(query, new Float64Array(3), out, boundaries), 'INVALID_ARGUMENT', /7 numbers/);
    expectThrows(() => raw.searchSync(query, [2, 0, 0, 0, 0, 0, -1], out, boundaries), 'INVALID_ARGUMENT', /Float64Array/);
    expectThrows(() => raw.search(query, new Float32Array(7)), 'INVALID_ARGUMENT', /Float64Array/);
    // A bad rerank falls back to the default depth: results are still exact.
    const expected = store.searchSync(query, { k: 2 }).ids.join('');
    expect(raw.searchSync(query, params(2, -5), out, boundaries)).toBe(expected);
    expect(raw.searchSync(query, params(2, NaN), out, boundaries)).toBe(expected);
  });

  test('add refuses ids that are not strings and vectors of the wrong size or type', async () => {
    expectThrows(() => raw.add('a', new Float32Array(DIM), false), 'INVALID_ARGUMENT');
    expectThrows(() => raw.add([5], new Float32Array(DIM), false), 'INVALID_ARGUMENT');
    expectThrows(() => raw.add(['p', 'q'], new Float32Array(DIM), false), 'DIM_MISMATCH');
    expectThrows(() => raw.add(['p'], [1, 2, 3, 4], false), 'INVALID_ARGUMENT');
    expectThrows(() => raw.add(['p'], new Int8Array(DIM), false), 'INVALID_ARGUMENT');
    await expectRejects(() => raw.add([''], new Float32Array(DIM), false), 'INVALID_ARGUMENT', /empty/);
    await expectRejects(() => raw.add([LONG_ID], new Float32Array(DIM), false), 'INVALID_ARGUMENT', /1024 bytes/);
    await expectRejects(() => raw.add(['p'], withValue(2, NaN), false), 'INVALID_VECTOR', /finite/);
    expect(store.size).toBe(3);
  });

  test('remove, get and has refuse non-string ids', () => {
    expectThrows(() => raw.remove('a'), 'INVALID_ARGUMENT');
    expectThrows(() => raw.remove([1]), 'INVALID_ARGUMENT');
    expectThrows(() => raw.get(1), 'INVALID_ARGUMENT');
    expectThrows(() => raw.has(undefined), 'INVALID_ARGUMENT');
    expect(store.size).toBe(3);
  });

  test('open refuses bad dimensions, metrics, quantizations and index kinds', async () => {
    const NativeStore = raw.constructor;
    // Codes only: these messages are internal (Store.open reports bad options first).
    const base = { dim: 4, metric: 0, quantization: 0, index: 0, pageSize: 0, fanout: 0, durability: 0, syncIntervalMs: 10, checkpointBytes: 1 << 26, recovery: 0 };
    const refuses = async (config: unknown): Promise<void> => {
      await expectRejects(() => new NativeStore().open(config), 'INVALID_ARGUMENT');
    };
    await refuses({ ...base, dim: 0 });
    await refuses({ ...base, dim: 1e9 });
    await refuses({ ...base, dim: NaN });
    await refuses({ ...base, metric: 3 });
    await refuses({ ...base, quantization: 2 });
    await refuses({ ...base, index: 7 });
    await refuses({ ...base, index: 1, pageSize: 4097 });
    await refuses({ ...base, dim: '4' });
    expectThrows(() => new NativeStore().open(), 'INVALID_ARGUMENT');
    expectThrows(() => new NativeStore().open('dim'), 'INVALID_ARGUMENT');
  });

  test('staged batches: a foreign object, a batch already queued, or one made for another kind of write or dim is refused', async () => {
    // The class src/writes.ts hands large batches over with, slice by slice.
    const addon = createRequire(import.meta.url)(path.join(REPO_ROOT, 'build', 'Release', 'loci.node')) as {
      NativeBatch: new (op: number, dim: number, items: number) => { append(...args: unknown[]): void };
    };
    const rows = (n: number): Float32Array => new Float32Array(n * DIM).fill(0.25);
    const stagedAdd = (staged: unknown): Promise<void> => (raw.add as (...args: unknown[]) => Promise<void>)(['s9'], rows(1), false, undefined, undefined, undefined, staged);
    const stagedRemove = (staged: unknown): Promise<void> => (raw.remove as (...args: unknown[]) => Promise<void>)(['s9'], staged);
    expectThrows(() => stagedAdd({}), 'INVALID_ARGUMENT', /NativeBatch/);
    expectThrows(() => stagedAdd(raw), 'INVALID_ARGUMENT', /NativeBatch/);  // wrapped, but another class
    expectThrows(() => stagedAdd(5), 'INVALID_ARGUMENT', /NativeBatch/);
    const batch = new addon.NativeBatch(0, DIM, 2);
    expectThrows(() => stagedAdd(Object.create(batch)), 'INVALID_ARGUMENT', /NativeBatch/);
    expectThrows(() => stagedAdd(new addon.NativeBatch(0, DIM + 1, 1)), 'INVALID_ARGUMENT', /another kind of write or another dim/);
    expectThrows(() => stagedRemove(new addon.NativeBatch(0, DIM, 1)), 'INVALID_ARGUMENT', /another kind of write/);
    expectThrows(() => stagedAdd(new addon.NativeBatch(1, 0, 1)), 'INVALID_ARGUMENT', /another kind of write/);
    // A bad slice appends nothing; a good one is queued with the last slice.
    expectThrows(() => batch.append(['s1'], rows(2)), 'DIM_MISMATCH');
    expectThrows(() => batch.append(['s1'], new Float64Array(DIM)), 'INVALID_ARGUMENT', /Float32Array/);
    expectThrows(() => batch.append([''], rows(1)), 'INVALID_ARGUMENT', /empty/);
    expectThrows(() => batch.append(['s1'], rows(1), new Float64Array(3)), 'INVALID_ARGUMENT', /times/);
    batch.append(['s1'], rows(1), undefined, ['text of s1']);
    await stagedAdd(batch);
    expect(store.get('s1').text).toBe('text of s1');
    expect(store.has('s9')).toBe(true);
    expectThrows(() => stagedAdd(batch), 'INVALID_ARGUMENT', /already queued/);
    expectThrows(() => batch.append(['s2'], rows(1)), 'INVALID_ARGUMENT', /already queued/);
    const removal = new addon.NativeBatch(1, 0, 1);
    removal.append(['s1']);
    await stagedRemove(removal);
    expect(store.has('s1')).toBe(false);
    expect(store.has('s9')).toBe(false);
  });

  test('methods called on a foreign object throw instead of crashing', () => {
    expect(() => raw.get.call({}, 'a')).toThrow();
    expect(() => raw.searchSync.call({}, query, 1, false, 0, new Float32Array(1), new Uint32Array(3))).toThrow();
    expect(() => raw.has.call(Object.create(raw), 'a')).toThrow();
  });
});
