// Every generated file in k8s/ is what its one source makes today (npm run generate),
// and the check an author runs says so.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { generatedFiles } from '../../k8s/generate.ts';

const k8s = join(import.meta.dirname, '../../k8s');

void t.test('each generated file is current', (t) => {
  const files = Object.entries(generatedFiles());
  t.ok(files.length >= 4);
  for (const [file, content] of files) t.equal(readFileSync(join(k8s, file), 'utf8'), content, `k8s/${file} (regenerate with npm run generate)`);
  t.end();
});

void t.test('npm run generate -- --check agrees', async (t) => {
  const { stderr } = await promisify(execFile)(process.execPath, [join(k8s, 'generate.ts'), '--check']);
  t.equal(stderr, '');
});
