// Everything shipped in k8s/ against Kubernetes' own schemas (the Prometheus Operator's
// for the PrometheusRule), and the inject command, as an operator runs it, printing
// valid manifests for both traffic shapes.
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { parseManifests } from '../../src/inject/command.ts';
import { validateObject } from '../support/kubernetes.ts';

const root = join(import.meta.dirname, '../..');
// A command's outcome whether it succeeded or not, so a refusal can be asserted on.
interface Outcome { code: number; stdout: string; stderr: string }
function outcome(command: string, args: string[], stdin?: Buffer): Promise<Outcome> {
  return new Promise((resolve) => {
    const child = execFile(command, args, { cwd: root }, (error, stdout, stderr) => {
      resolve({ code: typeof error?.code === 'number' ? error.code : 0, stdout, stderr });
    });
    child.stdin?.end(stdin);
  });
}
const yamlFiles = (dir: string): string[] => readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith('.yaml')).map((f) => join(dir, f)).sort();

void t.test('the validator rejects what the API server would', (t) => {
  t.throws(() => { validateObject({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', ports: [{ containerPort: 'eighty' }] }] } }); }, /Pod p:.*containerPort/);
  t.throws(() => { validateObject({ apiVersion: 'example.org/v1', kind: 'Gadget' }); }, /no schema to validate it against/);
  t.end();
});

void t.test('every shipped manifest is valid Kubernetes', (t) => {
  // Prometheus's own files (a rules file, a scrape job) are checked by promtool in test/alerts.
  const files = yamlFiles('k8s').filter((f) => !['k8s/monitoring/sessionstore-sidecar.rules.yaml', 'k8s/monitoring/scrape-config.yaml'].includes(f));
  t.ok(files.length >= 5, `${files.length} files`);
  for (const file of files) {
    const objects = parseManifests(readFileSync(join(root, file), 'utf8'), file);
    t.ok(objects.length > 0, `${file}: has objects`);
    t.doesNotThrow(() => { for (const object of objects) validateObject(object); }, `${file}: ${objects.length} objects, each valid`);
  }
  t.end();
});

void t.test('npx sessionstore-sidecar inject < k8s/examples/<shape>.yaml prints valid manifests, and what to do', async (t) => {
  // npx runs a checkout's bin as it is once it has cached the checkout's path, so
  // `prepare` (npm ci) must leave it executable.
  t.equal(statSync(join(root, 'dist/cli.js')).mode & 0o111, 0o111, 'dist/cli.js is executable after npm ci');
  // npx once: in a fresh clone it first reads the whole dependency tree (about 15 s); the other shape runs the bin it found.
  for (const [shape, command, args] of [['mesh', 'npx', ['--no-install', 'sessionstore-sidecar']], ['plain', process.execPath, [join(root, 'dist/cli.js')]]] as const) {
    const { code, stdout, stderr } = await outcome(command, [...args, 'inject'], readFileSync(join(root, `k8s/examples/${shape}.yaml`)));
    t.equal(code, 0, `${shape}: exit 0`, { stderr });
    const objects = parseManifests(stdout, shape);
    for (const object of objects) validateObject(object);
    t.ok(objects.some((o) => JSON.stringify(o).includes('"name":"sessionstore-sidecar"')), `${shape}: the sidecar is in, and every object valid`);
    t.match(stderr, /^# Deployment\//m, `${shape}: the notes on stderr`);
  }
});

void t.test('bad input: a clear message and a nonzero exit, nothing half written', async (t) => {
  const cli = (...args: string[]): Promise<Outcome> => outcome(process.execPath, [join(root, 'src/cli.ts'), 'inject', ...args]);
  const refused = await cli('--container', 'nope', join(root, 'k8s/examples/plain.yaml'));
  t.match(refused, { code: 1, stdout: '', stderr: /inject refused: Deployment\/sessionstore: no container named nope \(containers: kask\)/ });
  const unreadable = await cli('/nonexistent.yaml');
  t.match(unreadable, { code: 2, stderr: /cannot read the manifests: ENOENT/ });
  const badPort = await cli('--proxy-port', 'eighty', join(root, 'k8s/examples/plain.yaml'));
  t.match(badPort, { code: 1, stderr: /--proxy-port: expected a port number, got "eighty"/ });
});
