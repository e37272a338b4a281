// A secret's file read again at each use: what the kubelet's swap brings is used, and a
// moment without a readable file (half-way through a swap) keeps the last good content.
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { temporaryDirectory } from '../../lab/cleanup.ts';
import { latest, secretText } from '../../src/config/rotating-file.ts';

void t.test('the latest content, or the last good one', (t) => {
  const file = join(temporaryDirectory(t, 'rotating-'), 'password');
  writeFileSync(file, 'first\n');
  const password = latest(file, secretText, 'as loaded');
  t.equal(password(), 'first', 'read at use, trimmed as the loader trims it');
  writeFileSync(`${file}.new`, 'second\n');
  renameSync(`${file}.new`, file);
  t.equal(password(), 'second', 'a swapped-in file counts at once');
  rmSync(file);
  t.equal(password(), 'second', 'no file for a moment: the last good content');
  t.equal(latest(join(file, 'never'), secretText, 'as loaded')(), 'as loaded', 'never readable: what the configuration held');
  t.end();
});
