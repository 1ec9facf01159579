// The writer that test/30.store.crash.test.ts and scripts/crash-soak.js kill with
// SIGKILL: `node test/crash-child.cjs <state.json>` (the file is written by
// test/crash-harness.cjs). It opens the durable store and writes until it is killed,
// printing one line per event (stdout is a pipe, which Node writes synchronously on
// Linux, so a printed line is with the parent even if the kill comes next):
//
//   S <pid>                   about to call Store.open
//   R <recovery report JSON>  open resolved
//   W <write JSON>            about to issue a write: { seq, op, entries: [[id, version], ...] }
//                             (op add | upsert | delete | checkpoint | compact)
//   A <seq> / D <seq> / C <seq>   that write's Promise resolved (add or upsert / delete /
//                             checkpoint or compact)
//   E <message>               a write rejected: a bug; the child exits
//
// An item's content is itemFor(id, version) (crash-harness.cjs); every entry written has
// a version of its own, so the parent can tell which write a stored item came from.
'use strict';

const fs = require('node:fs');

const { Store, mulberry32, itemFor } = require('./crash-harness.cjs');

const state = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const { dim } = state.options;
const random = mulberry32(state.seed);
const live = new Map(state.live); // id -> version, as the store holds it
const dead = state.dead.slice(); // deleted ids, to add again
let nextVersion = state.nextVersion;
let nextSeq = 1;
let nextId = 0;

function print(line) {
  process.stdout.write(`${line}\n`);
}

function pick(list) {
  return list[Math.floor(random() * list.length)];
}

function newId() {
  nextId++;
  // Now and then a non-ASCII id (ids are UTF-8 in the WAL and the checkpoint).
  const prefix = nextId % 17 === 0 ? 'ü·' : state.options.index.slice(0, 1);
  return `${prefix}${state.run}.${nextId}`;
}

// An id that is live and not yet used by this group of concurrent writes (writes in one
// group must not depend on each other's outcome: each one's validity is known up front).
function liveId(used) {
  const ids = [...live.keys()].filter((id) => !used.has(id));
  return ids.length === 0 ? undefined : pick(ids);
}

function issue(op, entries, promise) {
  const seq = nextSeq++;
  print(`W ${JSON.stringify({ seq, op, entries })}`);
  const ack = op === 'delete' ? 'D' : op === 'checkpoint' || op === 'compact' ? 'C' : 'A';
  if (state.earlyAck) print(`${ack} ${seq}`); // harness self-check only: acknowledges too early
  return promise().then(
    () => {
      if (!state.earlyAck) print(`${ack} ${seq}`);
    },
    (error) => {
      print(`E seq ${seq} (${op}): ${error.code} ${error.message}`);
      process.exit(2);
    },
  );
}

function write(op, ids) {
  const entries = ids.map((id) => [id, nextVersion++]);
  for (const [id, version] of entries) live.set(id, version);
  const items = entries.map(([id, version]) => itemFor(id, version, dim));
  // One item alone is passed as an object, several as an array (one atomic batch).
  const argument = items.length === 1 && random() < 0.5 ? items[0] : items;
  return issue(op, entries, () => (op === 'add' ? store.add(argument) : store.upsert(argument)));
}

function remove(ids) {
  for (const id of ids) {
    live.delete(id);
    dead.push(id);
  }
  const argument = ids.length === 1 && random() < 0.5 ? ids[0] : ids;
  return issue(
    'delete',
    ids.map((id) => [id]),
    () => store.delete(argument),
  );
}

// One write of a group, chosen so the store hovers around targetLive items: growing
// writes (about 1.9 new items each) and deletes (2 each) are equally likely at the target.
function oneWrite(used) {
  const claim = (id) => {
    used.add(id);
    return id;
  };
  if (random() < 0.3) {
    // Upserts: mostly replacing live items, sometimes a batch that also creates some.
    const count = random() < 0.6 ? 1 : 2 + Math.floor(random() * 3);
    const ids = [];
    for (let i = 0; i < count; i++) {
      const id = random() < 0.85 ? liveId(used) : undefined;
      ids.push(claim(id ?? newId()));
    }
    return write('upsert', ids);
  }
  const growShare = Math.min(0.95, Math.max(0.05, 1 - live.size / state.targetLive / 2));
  if (random() >= growShare) {
    const ids = [];
    const count = 1 + Math.floor(random() * 3);
    for (let i = 0; i < count; i++) {
      const id = liveId(used);
      if (id !== undefined) ids.push(claim(id));
    }
    if (ids.length > 0) return remove(ids);
  }
  const roll = random();
  if (roll < 0.15) {
    // An id deleted earlier, added again.
    const id = dead.find((candidate) => !used.has(candidate) && !live.has(candidate));
    if (id !== undefined) {
      dead.splice(dead.indexOf(id), 1);
      return write('add', [claim(id)]);
    }
  }
  if (roll < 0.45) return write('add', Array.from({ length: 2 + Math.floor(random() * 5) }, () => claim(newId())));
  return write('add', [claim(newId())]);
}

let store;

async function main() {
  print(`S ${process.pid}`);
  store = await Store.open(state.dir, state.options);
  print(`R ${JSON.stringify(store.recovery)}`);
  for (;;) {
    const roll = random();
    if (roll < 0.015) {
      await issue('checkpoint', [], () => store.checkpoint());
      continue;
    }
    if (roll < 0.02) {
      await issue('compact', [], () => store.compact());
      continue;
    }
    // Concurrent writes share group commits; about half the groups are one write alone.
    const size = random() < 0.45 ? 1 : 2 + Math.floor(random() * 7);
    const used = new Set();
    const pending = [];
    for (let i = 0; i < size; i++) pending.push(oneWrite(used));
    await Promise.all(pending);
  }
}

main().catch((error) => {
  print(`E ${error.code ?? ''} ${error.stack ?? error}`);
  process.exit(3);
});
