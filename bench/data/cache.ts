// Raw typed-array files under bench/.cache/ (gitignored): generated vectors and ground
// truth, so a rerun reads in seconds what took minutes to compute. Files hold the
// array's bytes in little-endian order and nothing else; the file name carries every
// parameter that determines the content, so a changed parameter is a cache miss rather
// than stale data. Writes go to a temporary name and are renamed into place, so an
// interrupted run never leaves a truncated file behind under the real name.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

if (os.endianness() !== 'LE') throw new Error('the benchmark cache assumes a little-endian machine');

/** bench/.cache, or LOCI_BENCH_CACHE if set. */
export function cacheDir(): string {
  // dist/bench/data/cache.js -> repository root
  const root = path.resolve(__dirname, '..', '..', '..');
  const dir = process.env.LOCI_BENCH_CACHE ?? path.join(root, 'bench', '.cache');
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

export function cachePath(fileName: string): string {
  return path.join(cacheDir(), fileName);
}

type Typed = Float32Array | Int32Array;

const CHUNK_BYTES = 1 << 30;  // read/write calls are capped near 2 GiB; stay well below

/** Reads the file into a new array of `length` elements, or null if it is absent or has the wrong size. */
export function readArray<T extends Typed>(file: string, make: (length: number) => T, length: number): T | null {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return null;
  }
  try {
    const out = make(length);
    if (fs.fstatSync(fd).size !== out.byteLength) return null;
    const bytes = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
    for (let done = 0; done < bytes.length; ) {
      const read = fs.readSync(fd, bytes, done, Math.min(CHUNK_BYTES, bytes.length - done), done);
      if (read <= 0) return null;
      done += read;
    }
    return out;
  } finally {
    fs.closeSync(fd);
  }
}

/** Writes the array's bytes to `file` atomically (temporary file, fsync, rename). */
export function writeArray(file: string, array: Typed): void {
  const temporary = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(temporary, 'w');
  try {
    const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
    for (let done = 0; done < bytes.length; ) {
      done += fs.writeSync(fd, bytes, done, Math.min(CHUNK_BYTES, bytes.length - done), done);
    }
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(temporary, file);
}

/** Progress and timing lines go to stderr, so a benchmark's stdout stays its report. */
export function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

export function seconds(startMs: number): string {
  return `${((performance.now() - startMs) / 1000).toFixed(1)} s`;
}
