// How writes travel from the caller's arguments into native code without holding the
// event loop. Validating and encoding an item (id, vector, JSON meta, UTF-8 text) costs
// ~3-4 us on the JS thread with a 500-byte text, so a 1,000-item add() read in one go
// held the loop for ~4 ms. A write is instead read in slices of at most SLICE_ITEMS
// items (and about SLICE_BYTES of vectors, text and meta): the first slice during the
// call, the rest one per event-loop turn, each copied into a NativeBatch; the last slice
// queues the whole batch as one write, so it stays all or nothing. A slice's vectors and
// times go through small buffers per store (SliceScratch), reused: a write never
// allocates an ArrayBuffer the size of its batch, which made V8 collect garbage on the
// event loop ("external memory pressure"). A WriteQueue keeps writes in call order: a
// write is queued in native code only after every write called before it.
//
// The price: the items of a batch larger than one slice are read after the call
// returns, so the caller must leave them (and their vectors and metas) unchanged until
// the Promise settles. A batch of one slice is read, as before, during the call.
import { binding, type NativeBatchHandle, type NativeStoreHandle } from './binding';
import type { Item } from './store';
import { checkId, copyVector, fail } from './validate';

/** Items of an add or upsert read per event-loop turn, at most. */
export const SLICE_ITEMS = 64;
/** Bytes of vectors, text and meta read per turn, at most (but always one item). */
export const SLICE_BYTES = 256 * 1024;
/** Ids of a delete read per turn, at most. */
export const SLICE_IDS = 1024;

/** A write read from its caller's arguments slice by slice. */
export interface StagedWrite {
  /** Reads the next slice; true once the whole write is read. Throws a LociError on bad input. */
  step(): boolean;
  /** Copies the slice read last into native code, to be queued later. */
  stage(): void;
  /** Queues the whole write (with the slice read last, unless staged) in native code; settles when it is committed. */
  submit(): Promise<void>;
}

interface Waiting {
  write: StagedWrite;
  read: boolean;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * Hands writes to native code in call order. The first slice of each write is read
 * during the call, so a write of one slice is copied before the call returns and, with
 * nothing ahead of it, queued in native code right away; the rest follow one slice per
 * event-loop turn. Every step() is followed at once by stage() or submit(), so a slice
 * never waits in the store's shared scratch.
 */
export class WriteQueue {
  private readonly waiting: Waiting[] = [];
  private scheduled = false;

  /** Reads the first slice now (throwing on bad input), the rest on later turns. */
  run(write: StagedWrite): Promise<void> {
    const read = write.step();
    if (read && this.waiting.length === 0) return write.submit();
    write.stage();
    return new Promise((resolve, reject) => {
      this.waiting.push({ write, read, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.turn);
  }

  // One slice per turn; every write already read behind it is queued in the same turn.
  private readonly turn = (): void => {
    this.scheduled = false;
    let stepped = false;
    while (this.waiting.length > 0) {
      const head = this.waiting[0] as Waiting;
      if (!head.read) {
        if (stepped) break;
        stepped = true;
        try {
          head.read = head.write.step();
          if (!head.read) head.write.stage();
        } catch (error) {
          this.waiting.shift();
          head.reject(error);
          continue;
        }
        if (!head.read) break;
      }
      this.waiting.shift();
      try {
        head.write.submit().then(head.resolve, head.reject);
      } catch (error) {
        head.reject(error);
      }
    }
    if (this.waiting.length > 0) this.schedule();
  };
}

/**
 * A store's buffers for the slice being read, reused by every write: native code copies
 * a slice out before the next one is read. Holds SLICE_ITEMS items, fewer for wide
 * vectors.
 */
export class SliceScratch {
  readonly rows: Float32Array;
  readonly times: Float64Array;
  constructor(dim: number) {
    const capacity = Math.min(SLICE_ITEMS, Math.floor(SLICE_BYTES / (dim * 4)) + 1);
    this.rows = new Float32Array(capacity * dim);
    this.times = new Float64Array(capacity);
  }
}

function checkTime(time: unknown, now: number, index: number): number {
  if (time === undefined) return now;
  const value = time instanceof Date ? time.getTime() : time;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    fail('INVALID_ARGUMENT', `time of item ${index} must be Unix milliseconds or a valid Date, got ${String(time)}`);
  }
  return value;
}

function encodeMeta(meta: unknown, index: number): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(meta);
  } catch (error) {
    fail('INVALID_ARGUMENT', `meta of item ${index} cannot be stored as JSON: ${(error as Error).message}`);
  }
  if (json === undefined) fail('INVALID_ARGUMENT', `meta of item ${index} must be a JSON value (not a function, symbol or undefined)`);
  return json;
}

function isWellFormed(text: string): boolean {
  const native = (text as { isWellFormed?: () => boolean }).isWellFormed;
  return native ? native.call(text) : !/\p{Cs}/u.test(text);
}

/** An add or upsert: items validated and encoded a slice at a time. */
export class ItemsWrite implements StagedWrite {
  private readonly now = Date.now();
  private next = 0;
  private staged: NativeBatchHandle | undefined;
  // The slice read last (its vectors in `scratch`), until stage() or submit() copies it.
  private ids: string[] = [];
  private rows: Float32Array;
  private times: Float64Array | undefined;
  private texts: string[] | undefined;
  private metas: string[] | undefined;

  constructor(
    private readonly native: NativeStoreHandle,
    private readonly items: readonly Item[],
    private readonly dim: number,
    private readonly upsert: boolean,
    private readonly scratch: SliceScratch,
  ) {
    this.rows = scratch.rows.subarray(0, 0);
  }

  step(): boolean {
    const { items, dim } = this;
    const first = this.next;
    const { rows, times } = this.scratch;
    const end = Math.min(items.length, first + times.length);
    const ids: string[] = [];
    let texts: string[] | undefined;
    let metas: string[] | undefined;
    let bytes = 0;
    let i = first;
    for (; i < end && (i === first || bytes < SLICE_BYTES); i++) {
      const item = items[i];
      if (typeof item !== 'object' || item === null) fail('INVALID_ARGUMENT', `item ${i} must be an object { id, vector }`);
      const at = i - first;
      ids.push(checkId(item.id, `id of item ${i}`));
      copyVector(item.vector, dim, rows, at * dim, `vector of item ${i}`);
      times[at] = checkTime(item.time, this.now, i);
      bytes += dim * 4;
      if (item.text !== undefined) {
        if (typeof item.text !== 'string') fail('INVALID_ARGUMENT', `text of item ${i} must be a string`);
        if (!isWellFormed(item.text)) fail('INVALID_ARGUMENT', `text of item ${i} has a lone UTF-16 surrogate, which UTF-8 cannot hold`);
        (texts ??= [])[at] = item.text;
        bytes += item.text.length;
      }
      if (item.meta !== undefined) {
        const json = encodeMeta(item.meta, i);
        (metas ??= [])[at] = json;
        bytes += json.length;
      }
    }
    // One element per item (holes, items without text or meta, read as none).
    if (texts !== undefined) texts.length = ids.length;
    if (metas !== undefined) metas.length = ids.length;
    this.next = i;
    this.ids = ids;
    this.rows = rows.subarray(0, ids.length * dim);
    this.times = times.subarray(0, ids.length);
    this.texts = texts;
    this.metas = metas;
    return i === items.length;
  }

  stage(): void {
    this.staged ??= new binding.NativeBatch(0, this.dim, this.items.length);
    this.staged.append(this.ids, this.rows, this.times, this.texts, this.metas);
    this.ids = [];
    this.rows = this.rows.subarray(0, 0);
    this.times = undefined;
    this.texts = undefined;
    this.metas = undefined;
  }

  submit(): Promise<void> {
    return this.native.add(this.ids, this.rows, this.upsert, this.times, this.texts, this.metas, this.staged);
  }
}

/** A delete: ids checked a slice at a time. */
export class RemoveWrite implements StagedWrite {
  private next = 0;
  private staged: NativeBatchHandle | undefined;
  private ids: string[] = [];

  constructor(
    private readonly native: NativeStoreHandle,
    private readonly list: readonly string[],
  ) {}

  step(): boolean {
    const end = Math.min(this.list.length, this.next + SLICE_IDS);
    const ids: string[] = [];
    for (let i = this.next; i < end; i++) ids.push(checkId(this.list[i], `id at index ${i}`));
    this.next = end;
    this.ids = ids;
    return end === this.list.length;
  }

  stage(): void {
    (this.staged ??= new binding.NativeBatch(1, 0, this.list.length)).append(this.ids);
    this.ids = [];
  }

  submit(): Promise<void> {
    return this.native.remove(this.ids, this.staged);
  }
}
