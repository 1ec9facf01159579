// The CLI's write path under SIGKILL: `loci import` is fed items on stdin and killed at
// random moments; every id it printed as "ok" must then be in the store with the exact
// vector and text it was given, and `loci verify` must pass.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { Store } from 'loci';
import { afterAll, expect, test } from 'vitest';

import { mulberry32, REPO_ROOT, SEED } from './support';

const CLI = path.join(REPO_ROOT, 'dist', 'src', 'cli.js');
const DIM = 8;
const KILLS = Number(process.env.LOCI_CLI_KILLS ?? 12);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loci-cli-kill-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function itemFor(n: number): { id: string; vector: number[]; text: string } {
  const random = mulberry32(SEED + n);
  return { id: `n${n}`, vector: Array.from({ length: DIM }, () => Math.fround(random() - 0.5)), text: `memory ${n} ✓ ${'x'.repeat(n % 300)}` };
}

test(`loci import killed ${KILLS} times loses no acknowledged item`, async () => {
  const random = mulberry32(SEED);
  const acknowledged = new Set<number>();
  let next = 0;
  for (let kill = 0; kill < KILLS; kill++) {
    const child = spawn(process.execPath, [CLI, 'import', dir, '--dim', String(DIM), '--index', 'flat'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stdin.on('error', () => undefined);  // EPIPE once killed
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    // Feed items in small bursts until the kill.
    const deadline = Date.now() + 150 + random() * 400;
    while (Date.now() < deadline) {
      const lines = [];
      for (let i = 0; i < 1 + Math.floor(random() * 20); i++) lines.push(JSON.stringify(itemFor(next++)));
      child.stdin.write(`${lines.join('\n')}\n`);
      await new Promise((resolve) => setTimeout(resolve, random() * 15));
    }
    child.kill('SIGKILL');
    await exited;
    for (const line of out.split('\n')) {
      const match = /^ok n(\d+)$/.exec(line);
      if (match) acknowledged.add(Number(match[1]));
    }
  }
  expect(acknowledged.size).toBeGreaterThan(KILLS);  // the loop did write
  const verify = spawnSync(process.execPath, [CLI, 'verify', dir], { encoding: 'utf8' });
  expect(verify.status, verify.stderr).toBe(0);
  const store = await Store.open(dir);
  try {
    for (const n of acknowledged) {
      const expected = itemFor(n);
      const item = store.get(expected.id);
      expect(Array.from(item.vector)).toEqual(expected.vector);
      expect(item.text).toBe(expected.text);
    }
  } finally {
    await store.close();
  }
}, 120_000);
