// Fashion-MNIST (Xiao, Rasul and Vollgraf 2017) as ann-benchmarks uses it: the 60,000
// training images are the base set, the 10,000 test images the queries, each image a
// 784-d vector of raw pixel values 0..255 (as float32), metric L2.
//
// The images come from the Debian package dataset-fashion-mnist (IDX files, gzipped),
// found through `dpkg -L`, so no benchmark downloads anything at run time.
// LOCI_FASHION_MNIST_DIR overrides the directory (it must hold the four IDX files,
// gzipped or not) for machines without dpkg.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';

export const FASHION_MNIST_INSTALL = 'sudo apt-get update && sudo apt-get install -y dataset-fashion-mnist';

export interface FashionMnist {
  dim: 784;
  base: Float32Array;
  baseCount: number;
  queries: Float32Array;
  queryCount: number;
  /** Class of each base image (0..9): T-shirt, trouser, pullover, ... */
  baseLabels: Uint8Array;
  queryLabels: Uint8Array;
}

const FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

function packageFiles(): string[] {
  const override = process.env.LOCI_FASHION_MNIST_DIR;
  if (override) return fs.readdirSync(override).map((name) => path.join(override, name));
  try {
    return execFileSync('dpkg', ['-L', 'dataset-fashion-mnist'], { stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .split('\n')
      .filter((line) => line.length > 0);
  } catch {
    throw new Error(
      `Fashion-MNIST is not installed: the package dataset-fashion-mnist is missing. Install it with\n  ${FASHION_MNIST_INSTALL}\n` +
        '(or point LOCI_FASHION_MNIST_DIR at a directory holding the four IDX files).',
    );
  }
}

function findFile(files: string[], baseName: string): string {
  const found = files.find((file) => path.basename(file) === baseName) ?? files.find((file) => path.basename(file) === `${baseName}.gz`);
  if (found === undefined) {
    throw new Error(`Fashion-MNIST: ${baseName}(.gz) not found among the files of dataset-fashion-mnist; reinstall with\n  ${FASHION_MNIST_INSTALL}`);
  }
  return found;
}

function readIdx(file: string): { dims: number[]; data: Uint8Array } {
  let bytes: Buffer = fs.readFileSync(file);
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = zlib.gunzipSync(bytes);
  // IDX header: two zero bytes, a type byte (0x08 = unsigned byte), the number of
  // dimensions, then each dimension as a big-endian u32.
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0 || bytes[2] !== 0x08) {
    throw new Error(`${file} is not an unsigned-byte IDX file`);
  }
  const rank = bytes[3] as number;
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) dims.push(bytes.readUInt32BE(4 + 4 * i));
  const offset = 4 + 4 * rank;
  const size = dims.reduce((a, b) => a * b, 1);
  if (bytes.length !== offset + size) throw new Error(`${file}: expected ${offset + size} bytes, found ${bytes.length}`);
  return { dims, data: new Uint8Array(bytes.buffer, bytes.byteOffset + offset, size) };
}

function readImages(file: string, expectedCount: number): Float32Array {
  const { dims, data } = readIdx(file);
  if (dims.length !== 3 || dims[0] !== expectedCount || dims[1] !== 28 || dims[2] !== 28) {
    throw new Error(`${file}: expected ${expectedCount} x 28 x 28 images, found ${dims.join(' x ')}`);
  }
  return Float32Array.from(data);
}

function readLabels(file: string, expectedCount: number): Uint8Array {
  const { dims, data } = readIdx(file);
  if (dims.length !== 1 || dims[0] !== expectedCount) throw new Error(`${file}: expected ${expectedCount} labels`);
  return Uint8Array.from(data);
}

/** Loads the whole set (about 0.5 s). Throws with the apt-get command if the package is missing. */
export function loadFashionMnist(): FashionMnist {
  const files = packageFiles();
  return {
    dim: 784,
    base: readImages(findFile(files, FILES.trainImages), 60000),
    baseCount: 60000,
    queries: readImages(findFile(files, FILES.testImages), 10000),
    queryCount: 10000,
    baseLabels: readLabels(findFile(files, FILES.trainLabels), 60000),
    queryLabels: readLabels(findFile(files, FILES.testLabels), 10000),
  };
}
