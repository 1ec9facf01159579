// capabilities(): which SIMD kernels the native core chose, and that every kernel set
// this CPU can run gives the same search results (LOCI_ISA forces one per process).
import { capabilities } from 'loci';
import { describe, expect, test } from 'vitest';

import { runNode } from './support';

const ISAS = ['serial', 'haswell', 'skylake', 'icelake', 'neon', 'neon_sdot'];

describe('capabilities()', () => {
  test('reports the kernel set in use, what is compiled and what this CPU supports', () => {
    const caps = capabilities();
    expect(typeof caps.isa).toBe('string');
    expect(ISAS).toContain(caps.isa);
    expect(['x86_64', 'aarch64', 'other']).toContain(caps.arch);
    expect(['hardware', 'table']).toContain(caps.crc32c);
    expect(Array.isArray(caps.compiled)).toBe(true);
    expect(Array.isArray(caps.supported)).toBe(true);
    for (const isa of [...caps.compiled, ...caps.supported]) expect(ISAS).toContain(isa);
  });

  test('the serial reference is always compiled and supported', () => {
    const caps = capabilities();
    expect(caps.compiled).toContain('serial');
    expect(caps.supported).toContain('serial');
  });

  test('the kernel set in use is compiled and supported by this CPU', () => {
    const caps = capabilities();
    expect(caps.compiled).toContain(caps.isa);
    expect(caps.supported).toContain(caps.isa);
    // Supported means compiled *and* runnable here.
    for (const isa of caps.supported) expect(caps.compiled).toContain(isa);
  });

  test('SIMD kernels are compiled in (a build without them silently runs serial kernels)', () => {
    const caps = capabilities();
    if (caps.arch === 'x86_64') expect(caps.compiled).toEqual(expect.arrayContaining(['haswell', 'skylake', 'icelake']));
    if (caps.arch === 'aarch64') expect(caps.compiled).toContain('neon');
  });

  test('the best supported kernel set is chosen when LOCI_ISA is unset', () => {
    if (process.env.LOCI_ISA !== undefined) return; // the runner forced one on purpose
    const caps = capabilities();
    const best = ISAS.filter((isa) => caps.supported.includes(isa)).pop();
    expect(caps.isa).toBe(best);
  });

  test('returns a fresh object each call (callers may mutate it)', () => {
    const first = capabilities();
    first.compiled.push('bogus');
    expect(capabilities().compiled).not.toContain('bogus');
  });
});

// One child per kernel set: the choice is made once per process.
const PROBE = `
const { Store, capabilities } = require('loci');
(async () => {
  // A small LCG so the child needs no test helpers; same data in every child.
  let state = 12345;
  const random = () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 4294967296);
  const dim = 37; // odd: exercises every kernel's tail
  const out = { isa: capabilities().isa, results: {} };
  for (const metric of ['l2', 'ip', 'cosine']) {
    for (const quantization of ['none', 'int8']) {
      state = 12345;
      const store = await Store.open({ dim, metric, quantization });
      const items = [];
      for (let i = 0; i < 300; i++) {
        const vector = new Float32Array(dim);
        for (let j = 0; j < dim; j++) vector[j] = random() * 2 - 1 + (i % 5) * 0.3;
        items.push({ id: 'v' + i, vector });
      }
      await store.add(items);
      const query = new Float32Array(dim);
      for (let j = 0; j < dim; j++) query[j] = random() * 2 - 1;
      const { ids, distances } = store.searchSync(query, { k: 10 });
      out.results[metric + '/' + quantization] = { ids, distances: Array.from(distances) };
      await store.close();
    }
  }
  process.stdout.write(JSON.stringify(out));
})().catch((error) => { console.error(error); process.exit(1); });
`;

interface ProbeOutput {
  isa: string;
  results: Record<string, { ids: string[]; distances: number[] }>;
}

describe('LOCI_ISA', () => {
  test('forces each supported kernel set, and all of them agree with the serial reference', async () => {
    const supported = capabilities().supported;
    const outputs = await Promise.all(
      supported.map(async (isa) => {
        const child = await runNode(PROBE, { LOCI_ISA: isa });
        expect(child.stderr).toBe('');
        expect(child.code).toBe(0);
        return JSON.parse(child.stdout) as ProbeOutput;
      }),
    );
    outputs.forEach((output, i) => expect(output.isa).toBe(supported[i]));
    const serial = outputs.find((output) => output.isa === 'serial') as ProbeOutput;
    for (const output of outputs) {
      for (const [key, reference] of Object.entries(serial.results)) {
        const result = output.results[key] as { ids: string[]; distances: number[] };
        expect(result.ids.length, `${output.isa} ${key}`).toBe(10);
        // Summation order differs between kernels, so distances agree to rounding, and
        // ids agree except where two distances tie to rounding (none in this data).
        expect(result.ids, `${output.isa} ${key}`).toEqual(reference.ids);
        result.distances.forEach((distance, j) => {
          const expected = reference.distances[j] as number;
          expect(Math.abs(distance - expected), `${output.isa} ${key} #${j}`).toBeLessThanOrEqual(
            1e-4 * Math.max(1, Math.abs(expected)),
          );
        });
      }
    }
  });

  test('an unknown LOCI_ISA is ignored: the best kernel set is used', async () => {
    const child = await runNode(`process.stdout.write(require('loci').capabilities().isa)`, { LOCI_ISA: 'bogus' });
    expect(child.code).toBe(0);
    const best = ISAS.filter((isa) => capabilities().supported.includes(isa)).pop();
    expect(child.stdout).toBe(best);
  });
});
