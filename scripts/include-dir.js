#!/usr/bin/env node
// Prints the absolute include directory of an npm dependency, for native/CMakeLists.txt
// and binding.gyp: `node scripts/include-dir.js simsimd|node-addon-api`. Resolution
// goes through Node, so a hoisted dependency (a consumer's node_modules) is found too.
'use strict';
const fs = require('fs');
const path = require('path');

const name = process.argv[2];
if (name === 'node-addon-api') {
  process.stdout.write(path.resolve(require('node-addon-api').include_dir));
} else if (name === 'simsimd') {
  // simsimd's "exports" hides package.json, so walk up from its entry point.
  let dir = path.dirname(require.resolve('simsimd'));
  while (!fs.existsSync(path.join(dir, 'include', 'simsimd', 'simsimd.h'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('simsimd headers not found: run npm install');
    dir = parent;
  }
  process.stdout.write(path.join(dir, 'include'));
} else {
  throw new Error(`unknown dependency ${name}`);
}
