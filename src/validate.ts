// Argument checks with precise messages. Native code re-checks only what memory safety
// needs; everything a user can get wrong is caught here first.
import { LociError } from './errors';

/** A vector as users may pass it. */
export type VectorLike = Float32Array | readonly number[];

export const MAX_DIM = 65536;
export const MAX_K = 10000;
export const MAX_ID_BYTES = 1024;

export function fail(code: ConstructorParameters<typeof LociError>[0], message: string): never {
  throw new LociError(code, message);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name}`;
  return typeof value === 'object' ? 'an object' : `${typeof value} ${String(value).slice(0, 40)}`;
}

export function checkInteger(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail('INVALID_ARGUMENT', `${name} must be an integer from ${min} to ${max}, got ${describe(value)}`);
  }
  return value;
}

export function checkNumberIn(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !(value >= min && value <= max)) {
    fail('INVALID_ARGUMENT', `${name} must be a number from ${min} to ${max}, got ${describe(value)}`);
  }
  return value;
}

export function checkId(id: unknown, where: string): string {
  if (typeof id !== 'string' || id.length === 0) {
    fail('INVALID_ARGUMENT', `${where} must be a non-empty string, got ${describe(id)}`);
  }
  if (id.length * 3 > MAX_ID_BYTES && Buffer.byteLength(id, 'utf8') > MAX_ID_BYTES) {
    fail('INVALID_ARGUMENT', `${where} is longer than ${MAX_ID_BYTES} bytes of UTF-8: use a shorter id`);
  }
  if (/\p{Cs}/u.test(id)) fail('INVALID_ARGUMENT', `${where} has a lone UTF-16 surrogate, which UTF-8 cannot hold: ids must be valid Unicode text`);
  return id;
}

/**
 * Copies `vector` into `out` at `offset`, checking its type, length and values.
 * `where` names it in messages ("vector of item 3", "query").
 */
export function copyVector(vector: unknown, dim: number, out: Float32Array, offset: number, where: string): void {
  if (vector instanceof Float32Array) {
    if (vector.length !== dim) {
      fail('DIM_MISMATCH', `${where} has ${vector.length} dimensions, but the store has dim ${dim}`);
    }
    out.set(vector, offset);
  } else if (Array.isArray(vector)) {
    if (vector.length !== dim) {
      fail('DIM_MISMATCH', `${where} has ${vector.length} dimensions, but the store has dim ${dim}`);
    }
    for (let i = 0; i < dim; i++) out[offset + i] = typeof vector[i] === 'number' ? (vector[i] as number) : NaN;  // non-numbers are reported below
  } else {
    fail('INVALID_ARGUMENT', `${where} must be a Float32Array or an array of numbers, got ${describe(vector)}`);
  }
  // Float32Array values are checked for NaN / Infinity by the native layer, which
  // scans them anyway; arrays of numbers are checked here, where a non-number can
  // still be told apart from a NaN.
  if (Array.isArray(vector)) {
    for (let i = 0; i < dim; i++) {
      const value: unknown = vector[i];
      if (typeof value !== 'number') {
        fail('INVALID_ARGUMENT', `${where} has a non-number (${describe(value)}) at index ${i}`);
      }
      if (!Number.isFinite(value)) {
        fail('INVALID_VECTOR', `${where} has ${String(value)} at index ${i}: vectors must contain only finite numbers`);
      }
    }
  }
}

/** A query as a Float32Array of length dim, copied only when it has to be. */
export function toQuery(query: unknown, dim: number): Float32Array {
  if (query instanceof Float32Array && query.length === dim) return query;  // native checks values
  const copy = new Float32Array(dim);
  copyVector(query, dim, copy, 0, 'query');
  return copy;
}
