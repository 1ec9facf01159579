import { binding, type NativeOpenReport, type NativeStoreHandle } from './binding';
import { LociError } from './errors';
import { checkId, checkInteger, checkNumberIn, fail, MAX_DIM, MAX_K, toQuery, type VectorLike } from './validate';
import { ItemsWrite, RemoveWrite, SliceScratch, WriteQueue } from './writes';

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

/**
 * When a resolved write is on disk (durable stores). See docs/format/wal.md.
 * - `'sync'` (default): every write is fsynced before its Promise resolves (writers in
 *   flight at the same time share one fsync). Survives a process crash and power loss.
 * - `'interval'`: the WAL is fsynced every `syncIntervalMs`. Survives a process crash; a
 *   machine crash or power loss can lose the writes resolved in the last interval.
 * - `'none'`: never fsynced between checkpoints. Survives a process crash (the OS holds
 *   the bytes); a machine crash can lose every write since the last checkpoint.
 */
export type Durability = 'sync' | 'interval' | 'none';

/**
 * What opening a durable store does with a damaged WAL record. See docs/format/wal.md.
 * - `'tolerate-torn-tail'` (default): a damaged last record (a write cut by a crash,
 *   never acknowledged) is dropped; damage anywhere else fails with `CORRUPT`.
 * - `'absolute'`: any damage fails with `CORRUPT`.
 * - `'point-in-time'`: salvage: the store opens as of the last good record; later WAL
 *   files are renamed `*.corrupt`.
 */
export type RecoveryMode = 'tolerate-torn-tail' | 'absolute' | 'point-in-time';

/** Options for {@link Store.open}. */
export interface StoreOptions {
  /**
   * Number of dimensions of every vector, 1 to 65536. Required to create a store;
   * optional when reopening one (the stored value is used; a different one is refused).
   */
  dim?: number;
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
  /**
   * `atlas` only: boundary replication, the number of leaves a written vector may be
   * copied into, 1 to 8. A vector near the border of its leaf is also written into up
   * to `replicas - 1` neighbouring leaves (SPANN's rule, docs/atlas.md "Replication"),
   * which raises recall at low effort for more memory and slower writes. A write policy
   * of this open, not stored with the store: copies made earlier stay. Default 1 (off).
   */
  replicas?: number;
  /**
   * `atlas` only: how full the bulk build (an `add` batch at least as large as the
   * store) packs its leaf pages, 0.5 to 1. Fuller leaves take less memory; the slack
   * absorbs later online inserts before a leaf splits. A build policy of this open, not
   * stored. Default 0.85 (docs/atlas.md "Defaults").
   */
  buildFill?: number;
  /** Durable stores: when a resolved write is on disk. Default `'sync'`. */
  durability?: Durability;
  /** Durability `'interval'`: milliseconds between WAL fsyncs, 1 to 3,600,000. Default 10. */
  syncIntervalMs?: number;
  /**
   * Durable stores: checkpoint automatically once the WAL holds this many bytes (or a
   * quarter of the checkpoint files, if larger). Default 64 MiB; at least 4096.
   */
  checkpointBytes?: number;
  /** Durable stores: how damage in the WAL is handled at open. Default `'tolerate-torn-tail'`. */
  recovery?: RecoveryMode;
}

/** One item to store. */
export interface Item {
  /** Non-empty string, at most 1024 bytes of UTF-8. */
  id: string;
  /** `dim` finite numbers. */
  vector: VectorLike;
  /** The memory's text, any length (stored in the blob arena, not indexed). */
  text?: string;
  /** Metadata: any JSON-serialisable value (stored as JSON text). */
  meta?: unknown;
  /** When it happened: Unix milliseconds or a Date. Default: the time of the write. */
  time?: number | Date;
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
  /** Bytes of f32 originals (kept for exact rerank and `get`), mapped or in memory. */
  vectorBytes: number;
  /**
   * Of `vectorBytes`, those served from the last checkpoint's vectors file: the store
   * maps the originals it has just written instead of keeping them in its own memory,
   * so the kernel may evict them under memory pressure and read them back from disk
   * when a rerank or `get` needs one. 0 for a store without a directory.
   */
  vectorMappedBytes: number;
  /** `atlas`: leaf pages, inner nodes, levels, page size and entries per page (0 for flat). */
  leaves: number;
  innerNodes: number;
  depth: number;
  pageSize: number;
  leafCapacity: number;
  /** `atlas`: entries in the leaf pages: one per item, plus `replicas` copies and stale entries not yet compacted. */
  leafEntries: number;
  /** Durable stores: the last write's log sequence number, and the checkpoint's. */
  lsn: number;
  checkpointLsn: number;
  /** Checkpoints written since open. */
  checkpoints: number;
  /** Bytes in the WAL since the checkpoint, in the blob arena, held by live blobs, on disk. */
  walBytes: number;
  arenaBytes: number;
  arenaLiveBytes: number;
  diskBytes: number;
  /** Group commits since open, and the write batches they held (batches / groups = sharing). */
  groupCommits: number;
  batches: number;
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
  /** Omitted if the item has no text. */
  text?: string;
  /** Omitted if the item has no metadata. */
  meta?: unknown;
  /** Unix milliseconds. */
  time?: number;
}

/** What {@link Store.open} found: set on {@link Store.recovery}. */
export interface RecoveryReport {
  /** True if this open created the store. */
  created: boolean;
  /** WAL records replayed (writes since the last checkpoint). */
  replayedRecords: number;
  /** Milliseconds spent loading the checkpoint and replaying the WAL. */
  loadMs: number;
  replayMs: number;
  /** What the recovery mode dropped or set aside ('' if nothing). */
  note: string;
}

const METRICS: Record<Metric, number> = { l2: 0, ip: 1, cosine: 2 };
const QUANTIZATIONS: Record<Quantization, number> = { none: 0, int8: 1 };
const INDEX_KINDS: Record<IndexKind, number> = { flat: 0, atlas: 1 };
const DURABILITIES: Record<Durability, number> = { sync: 0, interval: 1, none: 2 };
const RECOVERY_MODES: Record<RecoveryMode, number> = { 'tolerate-torn-tail': 0, absolute: 1, 'point-in-time': 2 };
const NAMES = <T extends string>(choices: Record<T, number>): T[] => Object.keys(choices) as T[];
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
 * A vector store of memories: id, vector, text, metadata and time per item. Opened on a
 * directory it is durable (WAL with group commit, checkpoints, crash recovery: see
 * docs/format/store.md); opened without one it lives in memory only.
 *
 * Writes and `search` return Promises and run on the libuv thread pool; `get`, `has`
 * and `searchSync` are synchronous microsecond calls. Every method rejects or throws a
 * {@link LociError} on bad input and never crashes the process.
 *
 * @example
 * const store = await Store.open('./memory', { dim: 3, metric: 'cosine' })
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
  /** The store's directory, or undefined for an in-memory store. */
  readonly dir: string | undefined;
  /** What opening found and recovered. */
  readonly recovery: RecoveryReport;

  private native: NativeStoreHandle | null;
  private readonly pending = new Set<Promise<unknown>>();
  // Puts add, upsert and delete into native code in call order, a slice per turn.
  private readonly writes = new WriteQueue();
  // Each slice's vectors and times pass through these buffers on their way to native code.
  private scratch: SliceScratch | undefined;
  // Scratch for searchSync's id boundaries, reused across calls (see store_wrap.cpp).
  private boundaries = new Uint32Array(12);

  // Reused for searchSync's parameters; async searches get their own (read before queuing).
  private readonly params = new Float64Array(PARAM_COUNT);

  private constructor(native: NativeStoreHandle, report: NativeOpenReport, dir: string | undefined) {
    this.native = native;
    this.dim = report.dim;
    this.metric = NAMES(METRICS)[report.metric] as Metric;
    this.quantization = NAMES(QUANTIZATIONS)[report.quantization] as Quantization;
    this.index = NAMES(INDEX_KINDS)[report.index] as IndexKind;
    this.dir = dir;
    this.recovery = {
      created: report.created,
      replayedRecords: report.replayedRecords,
      loadMs: report.loadMs,
      replayMs: report.replayMs,
      note: report.recoveryNote,
    };
  }

  /**
   * Opens a store.
   * - `Store.open(dir, options)`: a durable store in directory `dir`, created if it
   *   does not exist (then `dim` is required), reopened and recovered if it does. One
   *   writer at a time: a second open of the same directory (from this or another
   *   process) rejects with `LOCKED`.
   * - `Store.open(options)`: an in-memory store, gone when closed.
   */
  static async open(dirOrOptions: string | StoreOptions, maybeOptions?: StoreOptions): Promise<Store> {
    let dir: string | undefined;
    let options: StoreOptions;
    if (typeof dirOrOptions === 'string') {
      if (dirOrOptions.length === 0 || dirOrOptions.includes('\0')) fail('INVALID_ARGUMENT', 'dir must be a non-empty path');
      dir = dirOrOptions;
      options = maybeOptions ?? {};
    } else {
      options = dirOrOptions;
    }
    if (typeof options !== 'object' || options === null) {
      fail('INVALID_ARGUMENT', dir === undefined ? 'Store.open expects a directory or an options object such as { dim: 768 }' : 'Store.open options must be an object such as { dim: 768 }');
    }
    if (dir === undefined && options.dim === undefined) fail('INVALID_ARGUMENT', 'dim is required: pass { dim: <number of dimensions> }');
    const dim = options.dim === undefined ? 0 : checkInteger(options.dim, 'dim', 1, MAX_DIM);
    const metric = options.metric === undefined ? undefined : checkChoice<Metric>(options.metric, 'metric', METRICS);
    const index = options.index === undefined ? undefined : checkChoice<IndexKind>(options.index, 'index', INDEX_KINDS);
    let quantization: Quantization | undefined;
    if (index === 'atlas') {
      if (options.quantization !== undefined && options.quantization !== 'int8') {
        fail('INVALID_ARGUMENT', "the atlas index always stores INT8 codes (with f32 rerank): omit quantization or pass 'int8'");
      }
      quantization = options.quantization === undefined ? undefined : 'int8';
    } else {
      quantization = options.quantization === undefined ? undefined : checkChoice<Quantization>(options.quantization, 'quantization', QUANTIZATIONS);
      if (index === 'flat' && (options.pageSize !== undefined || options.fanout !== undefined || options.replicas !== undefined || options.buildFill !== undefined)) {
        fail('INVALID_ARGUMENT', "pageSize, fanout, replicas and buildFill apply to the atlas index: pass index: 'atlas' or omit them");
      }
    }
    const pageSize = options.pageSize === undefined ? 0 : checkInteger(options.pageSize, 'pageSize', 4096, 1 << 20);
    if (pageSize % 4096 !== 0) fail('INVALID_ARGUMENT', `pageSize must be a multiple of 4096, got ${pageSize}`);
    const fanout = options.fanout === undefined ? 0 : checkInteger(options.fanout, 'fanout', 4, 1024);
    const replicas = options.replicas === undefined ? 1 : checkInteger(options.replicas, 'replicas', 1, 8);
    const buildFill = options.buildFill === undefined ? 0 : checkNumberIn(options.buildFill, 'buildFill', 0.5, 1);
    const durability = checkChoice<Durability>(options.durability ?? 'sync', 'durability', DURABILITIES);
    const syncIntervalMs = options.syncIntervalMs === undefined ? 10 : checkInteger(options.syncIntervalMs, 'syncIntervalMs', 1, 3_600_000);
    const checkpointBytes = options.checkpointBytes === undefined ? 64 * 1024 * 1024 : checkInteger(options.checkpointBytes, 'checkpointBytes', 4096, Number.MAX_SAFE_INTEGER);
    const recovery = checkChoice<RecoveryMode>(options.recovery ?? 'tolerate-torn-tail', 'recovery', RECOVERY_MODES);
    const native = new binding.NativeStore();
    const report = await native.open({
      ...(dir === undefined ? {} : { dir }),
      dim,
      metric: metric === undefined ? (dir === undefined ? METRICS.cosine : -1) : METRICS[metric],
      quantization: quantization === undefined ? -1 : QUANTIZATIONS[quantization],
      index: index === undefined ? (dir === undefined ? INDEX_KINDS.flat : -1) : INDEX_KINDS[index],
      pageSize,
      fanout,
      replicas,
      buildFill,
      durability: DURABILITIES[durability],
      syncIntervalMs,
      checkpointBytes,
      recovery: RECOVERY_MODES[recovery],
    });
    for (const name of ['replicas', 'buildFill'] as const) {
      if (options[name] !== undefined && report.index !== INDEX_KINDS.atlas) {
        await native.close();
        fail('INVALID_ARGUMENT', `${name} applies to the atlas index, and ${dir === undefined ? 'this store' : `the store at ${dir}`} is flat: pass index: 'atlas' or omit ${name}`);
      }
    }
    return new Store(native, report, dir);
  }

  /**
   * Checks every checksum and invariant of the closed store in `dir` without changing
   * it. Resolves to a short report; rejects with `CORRUPT` naming the damaged file and
   * offset, or `LOCKED` if a writer has the store open.
   */
  static async verify(dir: string): Promise<string> {
    if (typeof dir !== 'string' || dir.length === 0) fail('INVALID_ARGUMENT', 'verify expects a directory path');
    return binding.NativeStore.verify(dir);
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
   *
   * The call reads the first 64 items (fewer for very wide vectors or long texts) and
   * returns; a larger batch is read 64 items per event-loop turn after it, so that no
   * call holds the loop for long. Leave the items, their vectors and metas unchanged
   * until the Promise settles. Writes apply in call order, whatever their size.
   */
  add(items: Item | readonly Item[]): Promise<void> {
    return this.track(async () => this.write(items, false));
  }

  /**
   * Writes a checkpoint now (durable stores): the WAL is folded into the checkpoint
   * files, so the next open replays nothing. Checkpoints also run automatically (see
   * `checkpointBytes`) and at `close()`. No-op for an in-memory store.
   */
  checkpoint(): Promise<void> {
    return this.track(async () => {
      const native = this.handle();
      if (this.dir !== undefined) await native.checkpoint(false);
    });
  }

  /**
   * Checkpoints and reclaims space: drops what deletes and upserts left in the index
   * pages and copies live texts into a new blob arena generation.
   */
  compact(): Promise<void> {
    return this.track(async () => {
      const native = this.handle();
      if (this.dir !== undefined) await native.checkpoint(true);
    });
  }

  /**
   * Stores items, replacing the vectors of ids that exist. All or nothing. Large batches
   * are read a slice per event-loop turn, as for {@link Store.add}.
   */
  upsert(items: Item | readonly Item[]): Promise<void> {
    return this.track(async () => this.write(items, true));
  }

  /**
   * Deletes items. All or nothing: an unknown id rejects with `NOT_FOUND`. A list of
   * more than 1,024 ids is read 1,024 per event-loop turn: leave it unchanged until the
   * Promise settles.
   */
  delete(ids: string | readonly string[]): Promise<void> {
    return this.track(async () => {
      const native = this.handle();
      const list = typeof ids === 'string' ? [ids] : ids;
      if (!Array.isArray(list)) fail('INVALID_ARGUMENT', 'delete expects an id or an array of ids');
      await this.writes.run(new RemoveWrite(native, list));
    });
  }

  /** The stored item. Throws `NOT_FOUND` for an unknown id (see {@link Store.has}). */
  get(id: string): StoredItem {
    const native = this.handle();
    checkId(id, 'id');
    const [vector, time, text, meta] = native.getItem(id);
    const item: StoredItem = { id, vector };
    if (text !== '') item.text = text;
    if (meta !== '') item.meta = JSON.parse(meta) as unknown;
    if (!Number.isNaN(time)) item.time = time;
    return item;
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
    await native.close();
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

  // Reads the items through the write queue (src/writes.ts): the first slice during the
  // call, larger batches over the next event-loop turns; writes reach native code in
  // call order and concurrent writes share one WAL fsync (group commit).
  private write(items: Item | readonly Item[], upsert: boolean): Promise<void> {
    const native = this.handle();
    const list: readonly Item[] = Array.isArray(items) ? items : [items as Item];
    if (list.length === 0) return Promise.resolve();
    this.scratch ??= new SliceScratch(this.dim);
    return this.writes.run(new ItemsWrite(native, list, this.dim, upsert, this.scratch));
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
