// The crash suite: kill -9 a process writing to a durable store, at random moments
// (mid-write, mid-group-commit, mid-checkpoint, during open and recovery), reopen, and
// check that every acknowledged write is there, exactly, and nothing half-written is.
// The loop and its checks are test/crash-harness.cjs, the writer test/crash-child.cjs;
// scripts/crash-soak.js runs the same loop for longer.
//
// LOCI_CRASH_KILLS=<n> sets the number of kills (default 200); LOCI_CRASH_RUN_MS=<ms> the
// longest a child writes before its kill (default 200); LOCI_TEST_SEED the kill schedule.
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';

import { describe, expect, test } from 'vitest';

import { SEED } from './support';

interface KillFailure {
  kill: number;
  store: string;
  messages: string[];
}

interface CrashSummary {
  kills: number;
  failures: KillFailure[];
  killsDuringOpen: number;
  killsMidCheckpoint: number;
  killsWithWritesInFlight: number;
  acknowledgedWrites: number;
  acknowledgedDeletes: number;
  elapsedMs: number;
}

interface CrashLoopOptions {
  root: string;
  kills: number;
  seed?: number;
  runMs?: number;
  openKills?: number;
  copyChecks?: number;
  tamper?: 'lose-acked' | 'wrong-version' | 'ghost';
  stopAfterFailures?: number;
  log?: (line: string) => void;
}

// CommonJS, shared with the child and the soak script; it loads the built package itself.
const harness = createRequire(import.meta.url)('./crash-harness.cjs') as {
  runCrashLoop(options: CrashLoopOptions): Promise<CrashSummary>;
  formatSummary(summary: CrashSummary): string;
};

const KILLS = Number(process.env.LOCI_CRASH_KILLS ?? 200);
const RUN_MS = Number(process.env.LOCI_CRASH_RUN_MS ?? 200);

function tempRoot(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'loci-crash-'));
}

describe('kill -9 while writing to a durable store', () => {
  test(
    `${KILLS} kills: acknowledged writes survive exactly, nothing half-written appears`,
    async () => {
      const root = tempRoot();
      const summary = await harness.runCrashLoop({ root, kills: KILLS, seed: SEED, runMs: RUN_MS, log: (line) => console.log(line) });
      console.log(harness.formatSummary(summary));
      // Keep the stores of a failed run for a post-mortem.
      if (summary.failures.length === 0) fs.rmSync(root, { recursive: true, force: true });
      expect(summary.failures, `store directories kept in ${root}`).toEqual([]);
      expect(summary.kills).toBe(KILLS);
      // The kills landed where they should: the loop wrote, deleted and was cut mid-write.
      expect(summary.acknowledgedWrites).toBeGreaterThan(KILLS);
      expect(summary.acknowledgedDeletes).toBeGreaterThan(0);
      if (KILLS >= 100) {
        expect(summary.killsWithWritesInFlight).toBeGreaterThan(KILLS / 10);
        expect(summary.killsDuringOpen).toBeGreaterThan(0);
        expect(summary.killsMidCheckpoint).toBeGreaterThan(0);
      }
    },
    15 * 60_000,
  );
});

// The checker must fail when something is lost: damage a store between the kill and the
// check, as a broken recovery would, and expect the loop to report it.
describe('the crash checker catches', () => {
  test.each([
    ['an acknowledged write that is lost', 'lose-acked', /acknowledged version \d+ is lost/],
    ['an item whose content is no version the child wrote', 'wrong-version', /stored content is none of the versions written/],
    ['an item nobody wrote', 'ghost', /items nobody wrote exist/],
  ] as const)(
    '%s',
    async (_name, tamper, message) => {
      const root = tempRoot();
      try {
        const summary = await harness.runCrashLoop({ root, kills: 6, seed: SEED, runMs: 100, openKills: 0, copyChecks: 0, tamper });
        expect(summary.failures.length).toBe(1);
        expect(summary.failures[0]?.messages.join('\n')).toMatch(message);
      } finally {
        fs.rmSync(root, { recursive: true, force: true });
      }
    },
    60_000,
  );
});
