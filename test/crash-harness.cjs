// The kill -9 crash loop shared by test/30.store.crash.test.ts and scripts/crash-soak.js.
//
// A child process (test/crash-child.cjs) writes to a durable store and prints, one line
// each, every write it is about to issue ("W") and every write whose Promise resolved
// ("A", "D", "C"). The parent kills it with SIGKILL at a random moment, reopens the store
// and checks it against those lines:
//
// - every acknowledged write is there with the exact content of its last version
//   (vector bit for bit, text, meta, time) and acknowledged deletes are gone;
// - every item present is either acknowledged or written by a write in flight at the
//   kill, with the content of one of the versions the child tried to write;
// - the recovered state is what applying a prefix of the writes, in call order, gives
//   (writes apply in call order and batches are atomic: docs/format/wal.md);
// - size is exactly the number of items present, searching an item's own vector finds
//   it, and Store.verify passes after close.
//
// Not a test file itself. Plain CommonJS so the child and the soak script load it with
// require; it drives the built package (dist/), so run `npx tsc -p .` first.
'use strict';

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const { isDeepStrictEqual } = require('node:util');

const { Store } = require('../dist/src/index.js');

const CHILD = path.join(__dirname, 'crash-child.cjs');

/** mulberry32: a tiny 32-bit PRNG, uniform in [0, 1). Same seed, same sequence. */
function mulberry32(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FNV-1a over the UTF-8 bytes: the per-id part of an item's seed. */
function hashString(text) {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

// Words for texts: multi-byte UTF-8 of every length (2, 3 and 4 bytes, combining marks,
// right-to-left scripts) so a text cut or re-encoded at the wrong byte shows.
const WORDS = [
  'memory', 'agent', 'recall', 'naïve', 'café', 'Zürich', 'Ωμέγα', 'смысл', 'שלום', 'مرحبا',
  '日本語', 'テキスト', '기억', '🦊', '🧠', 'χ²', 'e\u0301', '—', 'ok', '\t', 'line\nbreak',
];

/**
 * The content of version `version` of item `id`: everything the parent needs to check a
 * stored item, derived from the pair alone. Every write of the child has its own version
 * number, so a version names exactly one write.
 * Returns { vector: Float32Array, text?: string, meta?: JSON value, time: number, timeAsDate: boolean }.
 */
function itemContent(id, version, dim) {
  const random = mulberry32(hashString(id) ^ Math.imul(version, 0x9e3779b1));
  const vector = new Float32Array(dim);
  for (let i = 0; i < dim; i++) vector[i] = random() * 2 - 1;
  const content = { vector, time: 0, timeAsDate: false };
  if (version % 11 !== 0) {
    // A few hundred bytes; now and then 20 KB so the arena holds some large blobs too.
    const targetBytes = version % 97 === 0 ? 20000 : 100 + Math.floor(random() * 500);
    let text = `${id}@${version}:`;
    while (Buffer.byteLength(text) < targetBytes) text += ` ${WORDS[Math.floor(random() * WORDS.length)]}`;
    content.text = text;
  }
  if (version % 13 !== 0) {
    content.meta =
      version % 4 === 0
        ? [version, id, null, true, { ключ: 'значение', n: -0.5 }]
        : { id, version, score: random(), tags: ['crash', version % 2 === 0 ? 'even' : 'odd'], nested: { ok: true, nil: null, s: 'ünïcødé 🦊' } };
  }
  // Date inputs hold whole milliseconds; numbers may have a fraction (time is an f64).
  content.timeAsDate = version % 3 === 0;
  content.time = 1_600_000_000_000 + version * 1000 + (content.timeAsDate ? 0 : 0.25);
  return content;
}

/** The Item the child writes for (id, version). */
function itemFor(id, version, dim) {
  const content = itemContent(id, version, dim);
  const item = { id, vector: content.vector, time: content.timeAsDate ? new Date(content.time) : content.time };
  if (content.text !== undefined) item.text = content.text;
  if (content.meta !== undefined) item.meta = content.meta;
  return item;
}

/** '' if the stored item is exactly version `version` of `id`, else what differs. */
function contentDifference(stored, id, version, dim) {
  const expected = itemContent(id, version, dim);
  const vector = stored.vector;
  if (!(vector instanceof Float32Array) || vector.length !== dim) return `vector is not a Float32Array of ${dim}`;
  for (let i = 0; i < dim; i++) {
    if (!Object.is(vector[i], expected.vector[i])) return `vector[${i}] is ${vector[i]}, expected ${expected.vector[i]}`;
  }
  if (stored.text !== expected.text) return `text differs (${describeText(stored.text)} vs ${describeText(expected.text)})`;
  if (!isDeepStrictEqual(stored.meta, expected.meta)) return `meta is ${JSON.stringify(stored.meta)}, expected ${JSON.stringify(expected.meta)}`;
  if (stored.time !== expected.time) return `time is ${stored.time}, expected ${expected.time}`;
  return '';
}

function describeText(text) {
  return text === undefined ? 'none' : `${Buffer.byteLength(text)} bytes starting ${JSON.stringify(text.slice(0, 24))}`;
}

/** The two stores the loop alternates between; each directory is reused across kills. */
function storeConfigs(root) {
  // Small checkpointBytes: the WAL passes it every ~100 items, so automatic checkpoints
  // (and their rotation, arena fsync or garbage collection, manifest rename) get killed too.
  const common = { durability: 'sync', checkpointBytes: 64 * 1024 };
  return [
    { name: 'flat', dir: path.join(root, 'flat'), targetLive: 300, options: { ...common, dim: 24, metric: 'l2', index: 'flat' } },
    // pageSize 4096 and fanout 4: a few dozen items per leaf and a tree of several levels.
    { name: 'atlas', dir: path.join(root, 'atlas'), targetLive: 300, options: { ...common, dim: 16, metric: 'cosine', index: 'atlas', pageSize: 4096, fanout: 4 } },
  ];
}

/** Runs the child until `plan` says to kill it; resolves to what it printed. */
function runChild(stateFile, plan, estimates) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, stateFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines = [];
    let partial = '';
    let stderr = '';
    let startedAt = 0;
    let readyAt = 0;
    let killed = false;
    let hung = false;
    let timer;
    const kill = () => {
      if (killed) return;
      killed = true;
      child.kill('SIGKILL');
    };
    // A child that never gets ready is a failure, not a hang of the loop.
    const watchdog = setTimeout(() => {
      hung = true;
      kill();
    }, 20_000 + plan.delayMs);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop();
      for (const line of parts) {
        lines.push(line);
        if (line.startsWith('S ')) {
          startedAt = performance.now();
          if (plan.phase === 'open') timer = setTimeout(kill, plan.delayMs);
        } else if (line.startsWith('R ')) {
          readyAt = performance.now();
          estimates.openMs = 0.8 * estimates.openMs + 0.2 * (readyAt - startedAt);
          if (plan.phase === 'run') timer = setTimeout(kill, plan.delayMs);
        }
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(watchdog);
      // A line without its newline was cut by the kill: the child had not finished
      // printing it, so for a "W" line it had not issued the write either.
      resolve({ lines, stderr, code, signal, killedByUs: killed, hung, ready: readyAt > 0 });
    });
  });
}

/** Parses the child's lines into writes in call order and the set of acknowledged ones. */
function parseLines(lines) {
  const writes = [];
  const acked = new Set();
  let ready;
  let childError = '';
  for (const line of lines) {
    const tag = line.slice(0, 1);
    const rest = line.slice(2);
    if (tag === 'W') {
      const write = JSON.parse(rest);
      write.position = writes.length;
      writes.push(write);
    } else if (tag === 'A' || tag === 'D' || tag === 'C') {
      acked.add(Number(rest.split(' ')[0]));
    } else if (tag === 'R') {
      ready = JSON.parse(rest);
    } else if (tag === 'E') {
      childError = rest;
    }
  }
  return { writes, acked, ready, childError };
}

/** Applies one write to a state (Map id -> version). */
function applyWrite(state, write) {
  if (write.op === 'add' || write.op === 'upsert') for (const [id, version] of write.entries) state.set(id, version);
  else if (write.op === 'delete') for (const [id] of write.entries) state.delete(id);
}

/**
 * Files in the store directory that show the kill cut a checkpoint short between writing
 * the new generation's files and removing the old ones (store.md, checkpoint steps 2-5).
 * (Extra WAL files are no evidence: every open starts a new one.)
 */
function checkpointEvidence(dir) {
  let names;
  try {
    names = fs.readdirSync(dir);
  } catch {
    return { midCheckpoint: false, setAside: [] };
  }
  const generations = new Map(); // items | vectors | pages | blobs -> generations on disk
  for (const name of names) {
    const match = /^(items|vectors|pages|blobs)\.(\d+)$/.exec(name);
    if (match) generations.set(match[1], (generations.get(match[1]) ?? 0) + 1);
  }
  const midCheckpoint = names.includes('MANIFEST.tmp') || [...generations.values()].some((count) => count > 1);
  return { midCheckpoint, setAside: names.filter((name) => name.endsWith('.corrupt')) };
}

/**
 * Reopens the store in this process and checks it against the child's writes. Returns
 * { failures: string[], state: Map id -> version (what the store holds), details }.
 */
async function checkStore(config, model, parsed, checkDir) {
  const failures = [];
  const { dim } = config.options;
  const { writes, acked } = parsed;
  // An acknowledged write is durable, and so is every write called before it (writes
  // apply in call order). The store may recover to the state after writes[0, low) plus
  // any number of the writes after them, in order. (Checkpoints do not count: the child
  // issues them with no write in flight.)
  let lastAcked = -1;
  for (const write of writes) if (acked.has(write.seq) && write.op !== 'checkpoint' && write.op !== 'compact') lastAcked = write.position;
  const low = lastAcked + 1;
  const lowState = new Map(model.state);
  for (const write of writes.slice(0, low)) applyWrite(lowState, write);
  const inFlight = writes.slice(low).filter((write) => write.op !== 'checkpoint' && write.op !== 'compact');
  const versionsTried = new Map(); // id -> versions written this run
  for (const write of writes) {
    if (write.op !== 'add' && write.op !== 'upsert') continue;
    for (const [id, version] of write.entries) {
      if (!versionsTried.has(id)) versionsTried.set(id, new Set());
      versionsTried.get(id).add(version);
    }
  }
  const touchedInFlight = new Set();
  for (const write of inFlight) for (const [id] of write.entries) touchedInFlight.add(id);

  let store;
  try {
    store = await Store.open(checkDir, model.openOptions());
  } catch (error) {
    return { failures: [`reopen failed: ${error.code} ${error.message}`], state: undefined, details: {} };
  }
  const details = { recovery: store.recovery, inFlightWrites: inFlight.length, inFlightApplied: 0 };
  const actual = new Map();
  try {
    for (const id of model.known) {
      if (!store.has(id)) continue;
      const stored = store.get(id);
      const candidates = new Set(versionsTried.get(id) ?? []);
      if (model.state.has(id)) candidates.add(model.state.get(id));
      let version;
      for (const candidate of candidates) {
        if (contentDifference(stored, id, candidate, dim) === '') {
          version = candidate;
          break;
        }
      }
      if (version === undefined) {
        const expected = lowState.get(id) ?? model.state.get(id);
        const why = expected === undefined ? 'no version matches' : contentDifference(stored, id, expected, dim);
        failures.push(`${id}: stored content is none of the versions written (${[...candidates].join(', ')}): ${why}`);
        actual.set(id, -1);
        continue;
      }
      actual.set(id, version);
      const search = config.options.index === 'atlas' ? store.searchSync(stored.vector, { k: 10, effort: 1 }) : store.searchSync(stored.vector, { k: 1 });
      const found = config.options.index === 'atlas' ? search.ids.includes(id) : search.ids[0] === id;
      if (!found) failures.push(`${id}: searching its own vector does not find it (got ${search.ids.slice(0, 3).join(', ')})`);
    }
    const size = store.size;
    if (size > actual.size) failures.push(`size is ${size} but ${actual.size} known ids are present: items nobody wrote exist`);
    if (size < actual.size) failures.push(`size is ${size} but ${actual.size} ids are present`);
    // The in-flight slack: each in-flight entry may or may not have been applied.
    const slack = inFlight.reduce((sum, write) => sum + write.entries.length, 0);
    if (Math.abs(size - lowState.size) > slack) failures.push(`size is ${size}, acknowledged writes give ${lowState.size} and only ${slack} entries were in flight`);
  } finally {
    await store.close();
  }

  // Acknowledged writes: ids no in-flight write touched must be exactly as acknowledged.
  for (const id of new Set([...lowState.keys(), ...actual.keys()])) {
    if (touchedInFlight.has(id)) continue;
    const expected = lowState.get(id);
    const found = actual.get(id);
    if (expected === found || found === -1) continue;
    if (expected === undefined) failures.push(`${id}: present (version ${found}) but its acknowledged state is deleted or never written`);
    else if (found === undefined) failures.push(`${id}: acknowledged version ${expected} is lost (absent after reopen)`);
    else failures.push(`${id}: acknowledged version ${expected} but version ${found} is stored`);
  }
  // Ids in flight: each holds its acknowledged state or what one of the later writes
  // made of it...
  const possible = new Map(); // id -> states it may be in (version, or undefined = absent)
  for (const id of touchedInFlight) possible.set(id, new Set([lowState.get(id)]));
  const prefixState = new Map(lowState);
  for (const write of inFlight) {
    applyWrite(prefixState, write);
    for (const [id] of write.entries) possible.get(id).add(prefixState.get(id));
  }
  for (const [id, states] of possible) {
    const found = actual.get(id);
    if (found === -1 || states.has(found)) continue;
    const acknowledged = lowState.has(id) ? `version ${lowState.get(id)}` : 'absent';
    failures.push(`${id}: ${found === undefined ? 'absent' : `version ${found}`} after reopen, but acknowledged ${acknowledged} and in flight only ${[...states].map((v) => v ?? 'absent').join(', ')}`);
  }
  // ...and all of them together are the state after one prefix of the writes in call
  // order that includes every acknowledged write.
  prefixState.clear();
  for (const id of touchedInFlight) if (lowState.has(id)) prefixState.set(id, lowState.get(id));
  const matches = () => [...touchedInFlight].every((id) => prefixState.get(id) === actual.get(id));
  let prefix = matches() ? low : -1;
  for (let i = 0; prefix < 0 && i < inFlight.length; i++) {
    applyWrite(prefixState, inFlight[i]);
    if (matches()) prefix = inFlight[i].position + 1;
  }
  if (prefix < 0 && failures.length === 0) {
    const shown = [...touchedInFlight].slice(0, 5).map((id) => `${id}=${actual.get(id) ?? 'absent'}`);
    failures.push(`the recovered state is no prefix of the writes in call order (${inFlight.length} in flight; ${shown.join(', ')})`);
  }
  for (const write of inFlight) if (write.position < prefix) details.inFlightApplied++;

  try {
    details.verify = await Store.verify(checkDir);
  } catch (error) {
    failures.push(`Store.verify after close: ${error.code} ${error.message}`);
  }
  const state = new Map();
  for (const [id, version] of actual) if (version >= 0) state.set(id, version);
  return { failures, state, details };
}

// Test-only damage that a correct checker must report (the suite's self-check).
async function tamper(kind, checkDir, model, parsed, dim) {
  if (!fs.existsSync(path.join(checkDir, 'MANIFEST'))) return; // killed before the store was created
  const store = await Store.open(checkDir);
  try {
    // An id whose acknowledged state no later write of this run can explain away.
    const touched = new Map(); // id -> position of the last write touching it
    for (const write of parsed.writes) if (write.entries) for (const [id] of write.entries) touched.set(id, write.position);
    const candidates = [...model.state.keys()].filter((id) => !touched.has(id));
    for (const write of parsed.writes) {
      if (!parsed.acked.has(write.seq) || (write.op !== 'add' && write.op !== 'upsert')) continue;
      for (const [id] of write.entries) if (touched.get(id) === write.position) candidates.push(id);
    }
    const id = candidates[candidates.length - 1];
    if (id === undefined) return;
    if (kind === 'lose-acked' && store.has(id)) await store.delete(id);
    if (kind === 'wrong-version') await store.upsert(itemFor(id, 999_999_999, dim));
    if (kind === 'ghost') await store.upsert(itemFor('ghost-never-written', 1, dim));
  } finally {
    await store.close();
  }
}

/**
 * The crash loop. Options:
 *   root       a new or empty directory for the stores (reused across the kills)
 *   kills      number of kills (both stores together)
 *   seed       PRNG seed for kill timing and the children's choices
 *   runMs      longest time a child writes before its kill (the delay is random below it)
 *   openKills  fraction of kills aimed at the child's open (recovery), default 0.12
 *   copyChecks fraction of checks made on a copy, leaving the crashed store for the
 *              next child to recover (and maybe be killed while doing so), default 0.5
 *   earlyAck   harness self-check: the child acknowledges before the Promise resolves
 *   tamper     harness self-check: 'lose-acked' | 'wrong-version' | 'ghost' before each check
 *   stopAfterFailures  stop once this many kills failed (default 1)
 *   log        function(string) for progress lines (optional)
 * Resolves to a summary { kills, failures: [{ kill, store, plan, messages }], counts..., elapsedMs }.
 */
async function runCrashLoop(options) {
  const root = options.root;
  const kills = options.kills;
  const random = mulberry32(options.seed ?? 0x10c1);
  const runMs = options.runMs ?? 200;
  const openKills = options.openKills ?? 0.12;
  const copyChecks = options.copyChecks ?? 0.5;
  const stopAfterFailures = options.stopAfterFailures ?? 1;
  const log = options.log ?? (() => {});
  // The parent's model of each store starts empty, so the stores must too.
  if (fs.existsSync(root) && fs.readdirSync(root).length > 0) throw new Error(`${root} is not empty: the crash loop needs a new or empty directory`);
  fs.mkdirSync(root, { recursive: true });
  const started = performance.now();
  const estimates = { openMs: 10 };
  const summary = {
    kills: 0,
    failures: [],
    killsDuringOpen: 0,
    killsMidCheckpoint: 0,
    killsWithWritesInFlight: 0,
    inFlightWritesApplied: 0,
    inFlightWritesDropped: 0,
    tornTails: 0,
    acknowledgedWrites: 0,
    acknowledgedDeletes: 0,
    acknowledgedCheckpoints: 0,
    childReplayedRecords: 0,
    copyChecks: 0,
    largestStore: 0,
    elapsedMs: 0,
  };
  const models = storeConfigs(root).map((config) => ({
    config,
    state: new Map(), // id -> version: what the store held at the last check
    known: new Set(), // every id ever written
    dead: [], // deleted ids the child may add again
    nextVersion: 1,
    run: 0,
    openOptions() {
      // Half the reopens name the shape, half adopt it from the MANIFEST.
      return random() < 0.5 ? { ...config.options } : {};
    },
  }));

  for (let kill = 0; kill < kills; kill++) {
    const model = models[kill % models.length];
    const { config } = model;
    model.run++;
    const stateFile = path.join(root, `${config.name}.state.json`);
    fs.writeFileSync(
      stateFile,
      JSON.stringify({
        dir: config.dir,
        options: config.options,
        run: model.run,
        seed: Math.floor(random() * 2 ** 32),
        nextVersion: model.nextVersion,
        live: [...model.state],
        dead: model.dead.slice(-500),
        targetLive: config.targetLive,
        earlyAck: options.earlyAck === true,
      }),
    );
    // Kill timing: some aimed at open (the child prints "S" just before Store.open), the
    // rest after "R" at a uniform delay; half of those short, so kills in the first
    // writes after a recovery are common too.
    const plan =
      random() < openKills
        ? { phase: 'open', delayMs: Math.floor(random() * 1.5 * estimates.openMs) }
        : { phase: 'run', delayMs: Math.floor(random() * (random() < 0.5 ? runMs / 4 : runMs)) };
    const child = await runChild(stateFile, plan, estimates);
    const parsed = parseLines(child.lines);
    summary.kills++;
    const messages = [];
    if (!child.killedByUs || child.signal !== 'SIGKILL') {
      messages.push(`child exited by itself (code ${child.code}, signal ${child.signal}): ${parsed.childError || child.stderr.trim().slice(0, 2000)}`);
    } else if (child.hung) {
      messages.push(`the child was not ready 20 s after it started (last line: ${child.lines[child.lines.length - 1] ?? 'none'})`);
    } else if (parsed.childError) {
      messages.push(`child reported an error before the kill: ${parsed.childError}`);
    }
    if (!child.ready) summary.killsDuringOpen++;
    if (parsed.ready) summary.childReplayedRecords += parsed.ready.replayedRecords;
    const evidence = checkpointEvidence(config.dir);
    if (evidence.midCheckpoint) summary.killsMidCheckpoint++;
    if (evidence.setAside.length > 0) messages.push(`files set aside as corrupt: ${evidence.setAside.join(', ')}`);

    // Check a copy now and then: the crashed original is left for the next child to
    // recover, so kills during recovery of a crashed store happen too.
    let checkDir = config.dir;
    if (random() < copyChecks && fs.existsSync(config.dir)) {
      checkDir = path.join(root, `${config.name}.copy`);
      fs.rmSync(checkDir, { recursive: true, force: true });
      fs.cpSync(config.dir, checkDir, { recursive: true });
      summary.copyChecks++;
    }
    if (options.tamper) await tamper(options.tamper, checkDir, model, parsed, config.options.dim);

    for (const write of parsed.writes) {
      if (write.op === 'add' || write.op === 'upsert' || write.op === 'delete') for (const [id] of write.entries) model.known.add(id);
    }
    let result = { failures: [], state: model.state, details: {} };
    if (fs.existsSync(path.join(checkDir, 'MANIFEST')) || model.known.size > 0) {
      result = await checkStore(config, model, parsed, checkDir);
    }
    messages.push(...result.failures);
    if (checkDir !== config.dir) fs.rmSync(checkDir, { recursive: true, force: true });

    const { details } = result;
    if (details.recovery && details.recovery.note !== '') summary.tornTails++;
    if (details.inFlightWrites > 0) summary.killsWithWritesInFlight++;
    summary.inFlightWritesApplied += details.inFlightApplied ?? 0;
    summary.inFlightWritesDropped += (details.inFlightWrites ?? 0) - (details.inFlightApplied ?? 0);
    for (const write of parsed.writes) {
      if (!parsed.acked.has(write.seq)) continue;
      if (write.op === 'add' || write.op === 'upsert') summary.acknowledgedWrites++;
      else if (write.op === 'delete') summary.acknowledgedDeletes++;
      else summary.acknowledgedCheckpoints++;
    }
    for (const write of parsed.writes) {
      if (write.entries) for (const [, version] of write.entries) if (version !== undefined) model.nextVersion = Math.max(model.nextVersion, version + 1);
    }
    if (result.state) {
      for (const id of model.state.keys()) if (!result.state.has(id)) model.dead.push(id);
      model.state = result.state;
      summary.largestStore = Math.max(summary.largestStore, model.state.size);
    }
    if (model.dead.length > 2000) model.dead = model.dead.slice(-1000);
    model.dead = model.dead.filter((id) => !model.state.has(id));

    if (messages.length > 0) {
      summary.failures.push({ kill, store: config.name, run: model.run, plan, writes: parsed.writes.length, acked: parsed.acked.size, messages: messages.slice(0, 20) });
      log(`kill ${kill} (${config.name}, ${plan.phase} +${plan.delayMs} ms): FAILED\n  ${messages.slice(0, 20).join('\n  ')}`);
      if (summary.failures.length >= stopAfterFailures) break;
    } else if ((kill + 1) % 50 === 0) {
      log(`${kill + 1} kills, ${summary.acknowledgedWrites} acknowledged writes checked, ${Math.round(performance.now() - started)} ms`);
    }
  }
  summary.elapsedMs = Math.round(performance.now() - started);
  return summary;
}

/** One line: what the loop did. */
function formatSummary(summary) {
  return (
    `crash loop: ${summary.kills} kills, ${summary.failures.length} failed; ` +
    `${summary.acknowledgedWrites} acknowledged writes, ${summary.acknowledgedDeletes} deletes, ${summary.acknowledgedCheckpoints} explicit checkpoints checked; ` +
    `kills during open ${summary.killsDuringOpen}, mid-checkpoint ${summary.killsMidCheckpoint}, with writes in flight ${summary.killsWithWritesInFlight} ` +
    `(${summary.inFlightWritesApplied} in-flight writes recovered, ${summary.inFlightWritesDropped} dropped); torn tails ${summary.tornTails}; ` +
    `records replayed by children ${summary.childReplayedRecords}; checks on a copy ${summary.copyChecks}; largest store ${summary.largestStore} items; ` +
    `${(summary.elapsedMs / 1000).toFixed(1)} s`
  );
}

module.exports = { Store, mulberry32, itemContent, itemFor, contentDifference, runCrashLoop, formatSummary };
