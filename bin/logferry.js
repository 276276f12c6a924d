#!/usr/bin/env node
import { main } from '../dist/cli.js';

main(process.argv.slice(2)).then(
  (code) => process.exit(typeof code === 'number' ? code : 0),
  (err) => {
    process.stderr.write(`logferry: ${err && err.stack ? err.stack : err}\n`);
    process.exit(1);
  },
);
