#!/usr/bin/env node
// The kill -9 crash loop of test/30.store.crash.test.ts, for longer:
//
//   node scripts/crash-soak.js [--kills 2000] [--dir <dir>] [--seed <n>] [--run-ms 200]
//                              [--early-ack]
//
// Kills a writer process at random moments and checks every recovery (see
// test/crash-harness.cjs for what is checked). --dir (new or empty) keeps the stores
// there; without it a temp directory is used and removed when the run passes.
// --early-ack is a check of the harness itself: the writer acknowledges writes before
// they are durable, so the run must report lost writes. Prints progress every 50 kills
// and one summary line; exits 1 if any kill failed. Needs the built package
// (`npx tsc -p .` and build/Release/loci.node).
'use strict';

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { formatSummary, runCrashLoop } = require('../test/crash-harness.cjs');

function parseArgs(argv) {
  const args = { kills: 2000, dir: undefined, seed: 0x10c1, runMs: 200, earlyAck: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => {
      const next = argv[++i];
      if (next === undefined) throw new Error(`${flag} needs a value`);
      return next;
    };
    const count = (text, name) => {
      const number = Number(text);
      if (!Number.isInteger(number) || number < 0) throw new Error(`${name} must be a whole number, got ${text}`);
      return number;
    };
    if (flag === '--kills') args.kills = count(value(), '--kills');
    else if (flag === '--dir') args.dir = path.resolve(value());
    else if (flag === '--seed') args.seed = count(value(), '--seed');
    else if (flag === '--run-ms') args.runMs = count(value(), '--run-ms');
    else if (flag === '--early-ack') args.earlyAck = true;
    else if (flag === '--help' || flag === '-h') {
      process.stdout.write(USAGE);
      process.exit(0);
    } else throw new Error(`unknown argument ${flag} (try --help)`);
  }
  return args;
}

const USAGE = 'usage: node scripts/crash-soak.js [--kills 2000] [--dir <new or empty dir>] [--seed <n>] [--run-ms 200] [--early-ack]\n';

async function main() {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
    if (args.dir !== undefined && fs.existsSync(args.dir) && fs.readdirSync(args.dir).length > 0) throw new Error(`--dir ${args.dir} is not empty`);
  } catch (error) {
    process.stderr.write(`${error.message}\n${USAGE}`);
    process.exit(2);
  }
  const root = args.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'loci-crash-soak-'));
  console.log(`crash soak: ${args.kills} kills in ${root} (seed ${args.seed}, writers run up to ${args.runMs} ms)`);
  const summary = await runCrashLoop({
    root,
    kills: args.kills,
    seed: args.seed,
    runMs: args.runMs,
    earlyAck: args.earlyAck,
    // A soak reports every failing kill it meets, up to a point, rather than the first.
    stopAfterFailures: 20,
    log: (line) => console.log(line),
  });
  console.log(formatSummary(summary));
  if (summary.failures.length > 0) {
    console.log(`stores kept in ${root}`);
    process.exitCode = 1;
  } else if (args.dir === undefined) {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
