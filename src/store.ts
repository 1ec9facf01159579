import { binding, type NativeStoreHandle } from './binding';
import { LociError } from './errors';
import { checkId, checkInteger, copyVector, fail, MAX_DIM, MAX_K, toQuery, type VectorLike } from './validate';

/**
 * How distance is measured. Smaller is nearer for all three.
 * - `'l2'`: squared Euclidean distance, |q − v|².
 * - `'ip'`: inner product, reported as 1 − q·v.
 * - `'cosine'`: 1 − cos(q, v); 0 for two zero vectors, 1 when one of them is zero.
 */
export type Metric = 'l2' | 'ip' | 'cosine';

/**
 * How vectors are scanned.
 * - `'none'`: exact f32 distances for every stored vector.
 * - `'int8'`: each vector is also kept as INT8 codes with its own scale (max|x|/127);
 *   searches scan the codes with INT8 kernels, then re-score the best `rerank`
 *   candidates with the f32 originals, so returned distances are exact.
 */
export type Quantization = 'none' | 'int8';

/**
 * Which index answers searches.
 * - `'flat'`: the exact store; every search scans every vector (exact, or INT8 + f32
 *   rerank with `quantization: 'int8'`). Best below ~10,000 items and as an oracle.
 * - `'atlas'`: the Atlas page-clustered tree: INT8 leaf pages probed after an INT8
 *   descent, f32 rerank. Sub-linear; recall is traded for speed with `effort`.
 */
export type IndexKind = 'flat' | 'atlas';

/** Options for {@link Store.open}. */
export interface StoreOptions {
  /** Number of dimensions of every vector, 1 to 65536. */
  dim: number;
  /** Distance measure. Default `'cosine'`. */
  metric?: Metric;
  /** Index. Default `'flat'`. */
  index?: IndexKind;
  /** `flat` only: scan mode. Default `'none'` (exact). Atlas always uses INT8 + f32 rerank. */
  quantization?: Quantization;
  /** `atlas` only: bytes per leaf page, a multiple of 4096 up to 1 MiB. Default 262144 (see docs/atlas.md). */
  pageSize?: number;
  /** `atlas` only: children per inner node at most, 4 to 1024. Default 64. */
  fanout?: number;
}

/** One item to store. */
export interface Item {
  /** Non-empty string, at most 1024 bytes of UTF-8. */
  id: string;
  /** `dim` finite numbers. */
  vector: VectorLike;
}

/** Options for {@link Store.search} and {@link Store.searchSync}. */
export interface SearchOptions {
  /** How many neighbours to return, 1 to 10000. Default 10. */
  k?: number;
  /** `int8` stores: scan the f32 originals instead (slower, always exact). Default false. */
  exact?: boolean;
  /** INT8 candidates re-scored in f32; 0 = the index's default (flat: max(4k, 40)). */
  rerank?: number;
  /**
   * `atlas`: the recall-versus-speed knob, in (0, 1]. Default 0.35. It sets `probes`,
   * `beam`, `eps` and `rerank` from the tree's size; 1 scans every leaf.
   */
  effort?: number;
  /** `atlas`, expert: leaves scanned at most (overrides `effort`'s choice). */
  probes?: number;
  /** `atlas`, expert: inner nodes expanded during the descent at most. */
  beam?: number;
  /** `atlas`, expert: SPANN pruning, scan leaf j only while d(q, c_j) <= (1 + eps) d(q, c_1). */
  eps?: number;
}

/** Size and shape of a store, from {@link Store.stats}. */
export interface StoreStats {
  /** Live items. */
  items: number;
  /** Bytes the index holds beyond the f32 originals: codes, pages, tree, id table. */
  indexBytes: number;
  /** Bytes of f32 originals (kept for exact rerank and `get`). */
  vectorBytes: number;
  /** `atlas`: leaf pages, inner nodes, levels, page size and entries per page (0 for flat). */
  leaves: number;
  innerNodes: number;
  depth: number;
  pageSize: number;
  leafCapacity: number;
}

/** Search results, nearest first: `ids[i]` is at `distances[i]`. */
export interface SearchResult {
  ids: string[];
  distances: Float32Array;
}

/** A stored item as returned by {@link Store.get}. */
export interface StoredItem {
  id: string;
  vector: Float32Array;
}

const METRICS: Record<Metric, number> = { l2: 0, ip: 1, cosine: 2 };
const QUANTIZATIONS: Record<Quantization, number> = { none: 0, int8: 1 };
const INDEX_KINDS: Record<IndexKind, number> = { flat: 0, atlas: 1 };
const PARAM_COUNT = 7; // [k, exact, rerank, effort, probes, beam, eps]: see store_wrap.cpp

function checkChoice<T extends string>(value: unknown, name: string, choices: Record<T, number>): T {
  if (typeof value !== 'string' || !Object.prototype.hasOwnProperty.call(choices, value)) {
    fail('INVALID_ARGUMENT', `${name} must be one of ${Object.keys(choices).map((c) => `'${c}'`).join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value as T;
}

// Native search returns ids joined into one string; boundaries[0] is the count and id i
// is joined.slice(boundaries[i + 1], boundaries[i + 2]) (see native/addon/store_wrap.cpp).
function splitIds(joined: string, boundaries: Uint32Array): string[] {
  const count = boundaries[0] as number;
  const ids = new Array<string>(count);
  for (let i = 0; i < count; i++) ids[i] = joined.slice(boundaries[i + 1], boundaries[i + 2]);
  return ids;
}

/**
 * A vector store. In this version it lives in memory and scans every vector (the exact
 * store): it is the correctness oracle and baseline for the indexes that follow.
 *
 * Writes and `search` return Promises and run on the libuv thread pool; `get`, `has`
 * and `searchSync` are synchronous microsecond calls. Every method rejects or throws a
 * {@link LociError} on bad input and never crashes the process.
 *
 * @example
 * const store = await Store.open({ dim: 3, metric: 'cosine' })
 * await store.add([{ id: 'tea', vector: [0.9, 0.1, 0] }])
 * const { ids, distances } = store.searchSync([1, 0, 0], { k: 1 })
 * await store.close()
 */
export class Store {
  /** Number of dimensions of every vector. */
  readonly dim: number;
  /** Distance measure. */
  readonly metric: Metric;
  /** Scan mode (`'int8'` for Atlas). */
  readonly quantization: Quantization;
  /** Index kind. */
  readonly index: IndexKind;

  private native: NativeStoreHandle | null;
  private readonly pending = new Set<Promise<unknown>>();
  // Writes run on the libuv pool, which has several threads: they are chained so they
  // apply in call order (each takes the store's exclusive lock anyway).
  private lastWrite: Promise<unknown> = Promise.resolve();
  // Scratch for searchSync's id boundaries, reused across calls (see store_wrap.cpp).
  private boundaries = new Uint32Array(12);

  // Reused for searchSync's parameters; async searches get their own (read before queuing).
  private readonly params = new Float64Array(PARAM_COUNT);

  private constructor(native: NativeStoreHandle, dim: number, metric: Metric, quantization: Quantization, index: IndexKind) {
    this.native = native;
    this.dim = dim;
    this.metric = metric;
    this.quantization = quantization;
    this.index = index;
  }

  /** Creates a store. */
  static async open(options: StoreOptions): Promise<Store> {
    if (typeof options !== 'object' || options === null) {
      fail('INVALID_ARGUMENT', 'Store.open expects an options object such as { dim: 768 }');
    }
    const dim = checkInteger(options.dim, 'dim', 1, MAX_DIM);
    const metric = checkChoice<Metric>(options.metric ?? 'cosine', 'metric', METRICS);
    const index = checkChoice<IndexKind>(options.index ?? 'flat', 'index', INDEX_KINDS);
    let quantization: Quantization;
    if (index === 'atlas') {
      if (options.quantization !== undefined && options.quantization !== 'int8') {
        fail('INVALID_ARGUMENT', "the atlas index always stores INT8 codes (with f32 rerank): omit quantization or pass 'int8'");
      }
      quantization = 'int8';
    } else {
      quantization = checkChoice<Quantization>(options.quantization ?? 'none', 'quantization', QUANTIZATIONS);
      if (options.pageSize !== undefined || options.fanout !== undefined) {
        fail('INVALID_ARGUMENT', "pageSize and fanout apply to the atlas index: pass index: 'atlas' or omit them");
      }
    }
    const pageSize = options.pageSize === undefined ? 262144 : checkInteger(options.pageSize, 'pageSize', 4096, 1 << 20);
    if (pageSize % 4096 !== 0) fail('INVALID_ARGUMENT', `pageSize must be a multiple of 4096, got ${pageSize}`);
    const fanout = options.fanout === undefined ? 64 : checkInteger(options.fanout, 'fanout', 4, 1024);
    const native = new binding.NativeStore(dim, METRICS[metric], QUANTIZATIONS[quantization], INDEX_KINDS[index], pageSize, fanout);
    return new Store(native, dim, metric, quantization, index);
  }

  /** Number of stored items. */
  get size(): number {
    return this.handle().size();
  }

  /** True once {@link Store.close} has been called. */
  get closed(): boolean {
    return this.native === null;
  }

  /**
   * Stores new items. All or nothing: if any id already exists (or repeats in the
   * batch) the promise rejects with `ALREADY_EXISTS` and nothing is stored.
   */
  add(items: Item | readonly Item[]): Promise<void> {
    return this.track(async () => this.write(items, false));
  }

  /** Stores items, replacing the vectors of ids that exist. All or nothing. */
  upsert(items: Item | readonly Item[]): Promise<void> {
    return this.track(async () => this.write(items, true));
  }

  /** Deletes items. All or nothing: an unknown id rejects with `NOT_FOUND`. */
  delete(ids: string | readonly string[]): Promise<void> {
    return this.track(async () => {
      const native = this.handle();
      const list = typeof ids === 'string' ? [ids] : ids;
      if (!Array.isArray(list)) fail('INVALID_ARGUMENT', 'delete expects an id or an array of ids');
      list.forEach((id, i) => checkId(id, `id at index ${i}`));
      const copy = list.slice();
      await this.inOrder(() => native.remove(copy));
    });
  }

  /** The stored item. Throws `NOT_FOUND` for an unknown id (see {@link Store.has}). */
  get(id: string): StoredItem {
    const native = this.handle();
    checkId(id, 'id');
    return { id, vector: native.get(id) };
  }

  /** True if `id` is stored. */
  has(id: string): boolean {
    const native = this.handle();
    checkId(id, 'id');
    return native.has(id);
  }

  /** The `k` nearest items to `query`, computed on the libuv pool. */
  search(query: VectorLike, options?: SearchOptions): Promise<SearchResult> {
    return this.track(async () => {
      const native = this.handle();
      const params = this.searchParams(options, new Float64Array(PARAM_COUNT));
      const [joined, boundaries, distances] = await native.search(toQuery(query, this.dim), params);
      return { ids: splitIds(joined, boundaries), distances };
    });
  }

  /** The `k` nearest items to `query`, on the calling thread. */
  searchSync(query: VectorLike, options?: SearchOptions): SearchResult {
    const native = this.handle();
    const params = this.searchParams(options, this.params);
    const k = params[0] as number;
    const distances = new Float32Array(k);
    const boundaries = this.boundaries.length >= k + 2 ? this.boundaries : (this.boundaries = new Uint32Array(k + 2));
    const joined = native.searchSync(toQuery(query, this.dim), params, distances, boundaries);
    const ids = splitIds(joined, boundaries);
    return { ids, distances: ids.length === k ? distances : distances.subarray(0, ids.length) };
  }

  /**
   * Closes the store once the operations already started have settled. Later calls
   * throw `CLOSED`; closing twice is harmless.
   */
  async close(): Promise<void> {
    const native = this.native;
    if (native === null) return;
    this.native = null;
    await Promise.allSettled([...this.pending]);
    native.close();
  }

  private handle(): NativeStoreHandle {
    if (this.native === null) throw new LociError('CLOSED', 'the store is closed: open it again with Store.open()');
    return this.native;
  }

  /** Size and shape of the store: memory used, and for Atlas the tree's shape. */
  stats(): StoreStats {
    return this.handle().stats();
  }

  // Validates options into `out`: [k, exact, rerank, effort, probes, beam, eps].
  private searchParams(options: SearchOptions | undefined, out: Float64Array): Float64Array {
    out.fill(0);
    out[0] = 10;
    out[6] = -1;
    if (options === undefined) return out;
    if (typeof options !== 'object' || options === null) fail('INVALID_ARGUMENT', 'search options must be an object such as { k: 10 }');
    if (options.k !== undefined) out[0] = checkInteger(options.k, 'k', 1, MAX_K);
    if (options.exact !== undefined && typeof options.exact !== 'boolean') fail('INVALID_ARGUMENT', 'exact must be true or false');
    out[1] = options.exact === true ? 1 : 0;
    if (options.rerank !== undefined) out[2] = checkInteger(options.rerank, 'rerank', 0, MAX_K);
    if (options.effort !== undefined) {
      if (typeof options.effort !== 'number' || !(options.effort > 0 && options.effort <= 1)) {
        fail('INVALID_ARGUMENT', `effort must be a number in (0, 1], got ${String(options.effort)}`);
      }
      out[3] = options.effort;
    }
    if (options.probes !== undefined) out[4] = checkInteger(options.probes, 'probes', 1, 1e9);
    if (options.beam !== undefined) out[5] = checkInteger(options.beam, 'beam', 1, 1e9);
    if (options.eps !== undefined) {
      if (typeof options.eps !== 'number' || !(options.eps >= 0)) fail('INVALID_ARGUMENT', `eps must be a number >= 0, got ${String(options.eps)}`);
      out[6] = options.eps;
    }
    return out;
  }

  private async write(items: Item | readonly Item[], upsert: boolean): Promise<void> {
    const native = this.handle();
    const list: readonly Item[] = Array.isArray(items) ? items : [items as Item];
    if (list.length === 0) return;
    const ids = new Array<string>(list.length);
    const vectors = new Float32Array(list.length * this.dim);
    list.forEach((item, i) => {
      if (typeof item !== 'object' || item === null) fail('INVALID_ARGUMENT', `item ${i} must be an object { id, vector }`);
      ids[i] = checkId(item.id, `id of item ${i}`);
      copyVector(item.vector, this.dim, vectors, i * this.dim, `vector of item ${i}`);
    });
    await this.inOrder(() => native.add(ids, vectors, upsert));
  }

  // Starts `write` once every earlier write has settled.
  private inOrder(write: () => Promise<void>): Promise<void> {
    const run = this.lastWrite.then(write, write);
    this.lastWrite = run.catch(() => undefined);
    return run;
  }

  // Remembers an operation until it settles so close() can wait for it.
  private track<T>(operation: () => Promise<T>): Promise<T> {
    const promise = operation();
    this.pending.add(promise);
    const forget = (): void => {
      this.pending.delete(promise);
    };
    promise.then(forget, forget);
    return promise;
  }
}
