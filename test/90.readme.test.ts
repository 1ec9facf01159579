// The README's API example must run as written: it is extracted from README.md (the
// first ```js block under "## Use it") and run in a fresh node process.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { expect, test } from 'vitest';

import { REPO_ROOT, runNode } from './support';

function readmeExample(): string {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Use it'));
  const match = /```js\n([\s\S]*?)```/.exec(section);
  if (!match) throw new Error('README.md has no ```js block under "## Use it"');
  return match[1] as string;
}

test('the README API example runs as written and prints what its comments say', async () => {
  const result = await runNode(readmeExample());
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  const lines = result.stdout.trim().split('\n');
  expect(lines[0]).toContain("[ 'tea', 'coffee' ]");
  expect(result.stdout).toContain("[ 'water' ]");
  expect(result.stdout).toContain('DIM_MISMATCH');
  expect(result.stdout).toContain("user likes green tea { who: 'alice' }");
  expect(lines[lines.length - 1]).toMatch(/^2 false (serial|haswell|skylake|icelake|neon|neon_sdot)$/);
});
