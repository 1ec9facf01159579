// The exact store is the correctness oracle for every index that follows, so it is
// checked here against a brute-force JS reference in double precision, on seeded
// clustered data (Gaussian mixture, skewed cluster sizes): uniform random vectors would
// have no structure and hide ranking errors.
//  - f32 mode: the true top-k, with distances equal to the reference (1e-4 relative).
//  - int8 mode: recall@10 >= 0.99, and every returned distance exact (f32 rerank).
//  - random interleavings of add / upsert / delete agree with a JS Map model.
// Seed: LOCI_TEST_SEED (see support.ts).
import { LociError, Store, type Metric, type Quantization, type SearchResult } from 'loci';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { bruteForce, gaussianMixture, mulberry32, randomInt, referenceDistance, SEED, uniformVector, type Neighbour } from './support';

const DIM = 61; // odd: every kernel's tail is exercised
const COUNT = 3000;
const QUERIES = 100;
const METRICS: Metric[] = ['l2', 'ip', 'cosine'];

/** How large the terms are that cancel in a distance: its float32 error scales with this. */
function distanceScale(metric: Metric, query: Float32Array, vector: Float32Array): number {
  if (metric !== 'ip') return 1;
  let normQ = 0;
  let normV = 0;
  for (let i = 0; i < DIM; i++) {
    normQ += (query[i] as number) ** 2;
    normV += (vector[i] as number) ** 2;
  }
  return 1 + Math.sqrt(normQ * normV);
}

function tolerance(metric: Metric, expected: number, query: Float32Array, vector: Float32Array): number {
  return 1e-4 * Math.max(Math.abs(expected), distanceScale(metric, query, vector));
}

interface Dataset {
  ids: string[];
  vectors: Float32Array[];
  byId: Map<string, Float32Array>;
  queries: Float32Array[];
}

function makeDataset(seed: number): Dataset {
  const random = mulberry32(seed);
  // offset 0.3: cluster centres away from the origin, so l2, ip and cosine rank differently.
  const mixture = gaussianMixture(random, DIM, 12, 0.35, 0.3);
  const ids = Array.from({ length: COUNT }, (_, i) => `doc-${i}`);
  const vectors = ids.map(() => mixture.sample());
  const queries = Array.from({ length: QUERIES }, (_, i) =>
    // Mostly fresh points from the same mixture; every tenth an exact stored vector.
    i % 10 === 0 ? (vectors[randomInt(random, COUNT)] as Float32Array) : mixture.sample(),
  );
  return { ids, vectors, byId: new Map(ids.map((id, i) => [id, vectors[i] as Float32Array])), queries };
}

describe.each(METRICS)(`oracle, metric %s (seed ${SEED})`, (metric) => {
  const data = makeDataset(SEED);
  const stores: Partial<Record<Quantization, Store>> = {};
  let truth: Neighbour[][] = [];

  beforeAll(async () => {
    for (const quantization of ['none', 'int8'] as const) {
      const store = await Store.open({ dim: DIM, metric, quantization });
      await store.add(data.ids.map((id, i) => ({ id, vector: data.vectors[i] as Float32Array })));
      expect(store.size).toBe(COUNT);
      stores[quantization] = store;
    }
    truth = data.queries.map((query) => bruteForce(metric, query, data.byId, 100));
  });
  afterAll(async () => {
    await Promise.all(Object.values(stores).map((store) => store.close()));
  });

  /** Distances sorted, each equal to the reference distance of its own id. */
  function expectExactDistances(result: SearchResult, query: Float32Array, label: string): void {
    expect(new Set(result.ids).size, `${label}: duplicate ids`).toBe(result.ids.length);
    result.ids.forEach((id, i) => {
      const vector = data.byId.get(id) as Float32Array;
      expect(vector, `${label}: unknown id ${id}`).toBeDefined();
      const expected = referenceDistance(metric, query, vector);
      const actual = result.distances[i] as number;
      expect(Math.abs(actual - expected), `${label} #${i} (${id}): ${actual} vs ${expected}`).toBeLessThanOrEqual(
        tolerance(metric, expected, query, vector),
      );
      if (i > 0) expect(actual, `${label}: not sorted at ${i}`).toBeGreaterThanOrEqual(result.distances[i - 1] as number);
    });
  }

  /** The true top-k: distance i equals the i-th true distance, and no id is beyond the k-th. */
  function expectTrueTopK(result: SearchResult, query: Float32Array, reference: Neighbour[], k: number, label: string): void {
    expect(result.ids.length, label).toBe(k);
    expectExactDistances(result, query, label);
    const kth = reference[k - 1] as Neighbour;
    result.ids.forEach((id, i) => {
      const want = reference[i] as Neighbour;
      const vector = data.byId.get(want.id) as Float32Array;
      expect(Math.abs((result.distances[i] as number) - want.distance), `${label} rank ${i}`).toBeLessThanOrEqual(
        tolerance(metric, want.distance, query, vector),
      );
      // Ties at the boundary may swap ids of equal distance, nothing else.
      const distance = referenceDistance(metric, query, data.byId.get(id) as Float32Array);
      expect(distance, `${label}: ${id} is not in the true top ${k}`).toBeLessThanOrEqual(
        kth.distance + tolerance(metric, kth.distance, query, vector),
      );
    });
  }

  test('f32 mode: searchSync returns the true top-k (k = 1, 10, 100)', () => {
    const store = stores.none as Store;
    data.queries.forEach((query, q) => {
      for (const k of [1, 10, 100]) {
        expectTrueTopK(store.searchSync(query, { k }), query, truth[q] as Neighbour[], k, `query ${q} k ${k}`);
      }
    });
  });

  test('f32 mode: a stored vector finds itself first', () => {
    const store = stores.none as Store;
    if (metric === 'ip') return; // ip: a longer vector in the same direction is nearer
    data.queries.forEach((query, q) => {
      if (q % 10 !== 0) return;
      const { ids, distances } = store.searchSync(query, { k: 1 });
      expect(data.byId.get(ids[0] as string)).toEqual(query);
      expect(distances[0] as number).toBeLessThanOrEqual(1e-5);
    });
  });

  test('f32 mode: search (async) agrees with searchSync', async () => {
    const store = stores.none as Store;
    const results = await Promise.all(data.queries.slice(0, 20).map((query) => store.search(query, { k: 10 })));
    results.forEach((result, q) => {
      const sync = store.searchSync(data.queries[q] as Float32Array, { k: 10 });
      expect(result.ids).toEqual(sync.ids);
      expect(Array.from(result.distances)).toEqual(Array.from(sync.distances));
    });
  });

  test('int8 mode: recall@10 >= 0.99 with exact distances for what it returns', () => {
    const store = stores.int8 as Store;
    let found = 0;
    data.queries.forEach((query, q) => {
      const result = store.searchSync(query, { k: 10 });
      expect(result.ids.length).toBe(10);
      expectExactDistances(result, query, `int8 query ${q}`);
      const want = new Set((truth[q] as Neighbour[]).slice(0, 10).map((n) => n.id));
      found += result.ids.filter((id) => want.has(id)).length;
    });
    const recall = found / (10 * QUERIES);
    expect(recall).toBeGreaterThanOrEqual(0.99);
  });

  test('int8 mode: a deeper rerank never lowers recall; rerank = size is exact', () => {
    const store = stores.int8 as Store;
    const recallAt = (rerank: number): number => {
      let found = 0;
      data.queries.forEach((query, q) => {
        const want = new Set((truth[q] as Neighbour[]).slice(0, 10).map((n) => n.id));
        found += store.searchSync(query, { k: 10, rerank }).ids.filter((id) => want.has(id)).length;
      });
      return found / (10 * QUERIES);
    };
    const shallow = recallAt(10);
    const deep = recallAt(200);
    // rerank = k: the INT8 ranking alone, no extra candidates (0.92-0.98 on this data).
    expect(shallow).toBeGreaterThanOrEqual(0.8);
    expect(deep).toBeGreaterThanOrEqual(shallow);
    expect(deep).toBeGreaterThanOrEqual(0.99);
    data.queries.slice(0, 10).forEach((query, q) => {
      expectTrueTopK(store.searchSync(query, { k: 10, rerank: COUNT }), query, truth[q] as Neighbour[], 10, `full rerank ${q}`);
    });
  });

  test('int8 mode with exact: true returns the true top-k, like f32 mode', () => {
    const store = stores.int8 as Store;
    data.queries.forEach((query, q) => {
      expectTrueTopK(store.searchSync(query, { k: 10, exact: true }), query, truth[q] as Neighbour[], 10, `exact query ${q}`);
    });
  });

  test('int8 mode: search (async) agrees with searchSync', async () => {
    const store = stores.int8 as Store;
    const queries = data.queries.slice(0, 20);
    const results = await Promise.all(queries.map((query) => store.search(query, { k: 10 })));
    results.forEach((result, q) => {
      const sync = store.searchSync(queries[q] as Float32Array, { k: 10 });
      expect(result.ids).toEqual(sync.ids);
      expect(Array.from(result.distances)).toEqual(Array.from(sync.distances));
    });
  });
});

// Random add / upsert / delete sequences (single items and batches, valid and invalid),
// mirrored in a Map. After every operation the store must agree with the model; every
// few operations every stored vector and a search are checked in full.
describe.each(
  METRICS.flatMap((metric) => (['none', 'int8'] as Quantization[]).map((quantization) => [metric, quantization] as const)),
)(`random interleavings against a Map model, metric %s, quantization %s (seed ${SEED})`, (metric, quantization) => {
  const dim = 7;
  const OPERATIONS = 400;
  const ID_POOL = 40; // small, so adds collide and deletes hit

  test('every operation agrees with the model', async () => {
    const random = mulberry32(SEED ^ (metric.length * 7919 + quantization.length));
    const model = new Map<string, Float32Array>();
    const store = await Store.open({ dim, metric, quantization });
    const pickId = (): string => `id${randomInt(random, ID_POOL)}`;
    const pickVector = (): Float32Array | number[] => {
      const vector = uniformVector(random, dim);
      // Half the time as number[]: both input forms go through the same path.
      return random() < 0.5 ? vector : Array.from(vector);
    };
    const counts = { add: 0, addRejected: 0, upsert: 0, delete: 0, deleteRejected: 0 };

    const fullCheck = (): void => {
      expect(store.size).toBe(model.size);
      for (const [id, vector] of model) expect(store.get(id).vector, id).toEqual(vector);
      for (let i = 0; i < ID_POOL; i++) expect(store.has(`id${i}`)).toBe(model.has(`id${i}`));
      const query = uniformVector(random, dim);
      const k = 1 + randomInt(random, ID_POOL + 5);
      const result = store.searchSync(query, { k, exact: true });
      const reference = bruteForce(metric, query, model, k);
      expect(result.ids.length).toBe(reference.length);
      result.ids.forEach((id, i) => {
        const vector = model.get(id) as Float32Array;
        expect(vector, `search returned deleted id ${id}`).toBeDefined();
        const want = (reference[i] as Neighbour).distance;
        expect(Math.abs((result.distances[i] as number) - want)).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(want)));
      });
      // Without exact, int8 stores still find the nearest item here (tiny store, rerank 40).
      if (reference.length > 0) {
        const top = store.searchSync(query, { k: 1 });
        const distance = referenceDistance(metric, query, model.get(top.ids[0] as string) as Float32Array);
        expect(Math.abs(distance - (reference[0] as Neighbour).distance)).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(distance)));
      }
    };

    for (let step = 0; step < OPERATIONS; step++) {
      const roll = random();
      const batchSize = 1 + randomInt(random, 4);
      if (roll < 0.35) {
        const items = Array.from({ length: batchSize }, () => ({ id: pickId(), vector: pickVector() }));
        const ids = items.map((item) => item.id);
        const conflict = ids.some((id, i) => model.has(id) || ids.indexOf(id) !== i);
        const call = batchSize === 1 && random() < 0.5 ? store.add(items[0] as (typeof items)[0]) : store.add(items);
        if (conflict) {
          await expect(call).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
          counts.addRejected++;
        } else {
          await call;
          for (const item of items) model.set(item.id, Float32Array.from(item.vector));
          counts.add++;
        }
      } else if (roll < 0.7) {
        const items = Array.from({ length: batchSize }, () => ({ id: pickId(), vector: pickVector() }));
        await store.upsert(items);
        for (const item of items) model.set(item.id, Float32Array.from(item.vector)); // last one wins
        counts.upsert++;
      } else {
        // Mostly ids that exist, sometimes one that does not.
        const stored = [...model.keys()];
        const ids = Array.from({ length: batchSize }, () =>
          stored.length > 0 && random() < 0.85 ? (stored[randomInt(random, stored.length)] as string) : pickId(),
        );
        const call = batchSize === 1 ? store.delete(ids[0] as string) : store.delete(ids);
        if (ids.some((id) => !model.has(id))) {
          const error: unknown = await call.then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(error).toBeInstanceOf(LociError);
          expect((error as LociError).code).toBe('NOT_FOUND');
          counts.deleteRejected++;
        } else {
          await call;
          for (const id of ids) model.delete(id);
          counts.delete++;
        }
      }
      expect(store.size, `after step ${step}`).toBe(model.size);
      if (step % 20 === 19) fullCheck();
    }
    fullCheck();
    // The sequence really exercised every branch.
    for (const [branch, count] of Object.entries(counts)) expect(count, branch).toBeGreaterThan(5);
    await store.close();
  });
});
