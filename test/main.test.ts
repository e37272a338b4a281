// The sidecar as a process: command line, configuration errors, and SIGTERM with
// requests in flight.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { request } from 'undici';
import { temporaryDirectory } from '../lab/cleanup.ts';
import { freePort, startUpstream } from './support/http.ts';
import { startSidecar } from '../lab/sidecar-process.ts';

const main = join(import.meta.dirname, '../src/main.ts');
const dir = temporaryDirectory(t, 'sidecar-main-');
const writeConfig = (name: string, yaml: string): string => {
  const file = join(dir, name);
  writeFileSync(file, yaml);
  return file;
};
const run = (...args: string[]): ReturnType<typeof spawnSync> => spawnSync(process.execPath, [main, ...args], { encoding: 'utf8' });

void t.test('--version, --help, --check-config', (t) => {
  const version = run('--version');
  t.equal(version.status, 0);
  t.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
  t.match(run('--help').stdout, /--check-config/);
  const good = writeConfig('good.yaml', 'cassandra:\n  contact_points: [127.0.0.1]\n');
  const checked = run('--config', good, '--check-config');
  t.equal(checked.status, 0);
  t.match(checked.stdout, /configuration is valid/);
  t.equal(run('--bogus').status, 2, 'an unknown option exits 2');
  t.equal(run().status, 2, 'no --config exits 2');
  t.end();
});

void t.test('a bad configuration stops the sidecar with the file and key named', (t) => {
  const cases: [string, string, RegExp][] = [
    ['unknown.yaml', 'cassandra:\n  contact_points: [a]\nupstream:\n  urll: http://x\n', /unknown\.yaml: upstream\.urll: unknown key/],
    ['type.yaml', 'cassandra:\n  contact_points: [a]\nlimits:\n  max_inflight: lots\n', /type\.yaml: limits\.max_inflight: Invalid input: expected number, received string/],
    ['missing.yaml', 'listen:\n  port: 8080\n', /missing\.yaml: cassandra: required, expected object/],
    ['yaml.yaml', 'cassandra: [\n', /yaml\.yaml: YAML:/],
    ['scheme.yaml', 'cassandra:\n  contact_points: [a]\nupstream:\n  url: ftp://x\n', /scheme\.yaml: upstream\.url: must be an http:\/\/ or https:\/\/ URL/],
  ];
  for (const [name, yaml, message] of cases) {
    const result = run('--config', writeConfig(name, yaml), '--check-config');
    t.equal(result.status, 2, `${name}: exit 2`);
    t.match(result.stderr, message, `${name}: names the key`);
  }
  const absent = run('--config', join(dir, 'absent.yaml'));
  t.equal(absent.status, 2);
  t.match(absent.stderr, /absent\.yaml: cannot read the configuration file: ENOENT/);
  t.end();
});

void t.test('SIGTERM: depool, finish the requests in flight, exit 0', async (t) => {
  const upstream = await startUpstream(t, (_req, res) => { setTimeout(() => res.end('finished'), 500); });
  const port = await freePort();
  const adminPort = await freePort();
  const config = writeConfig('run.yaml', `listen: {address: 127.0.0.1, port: ${port}}\nadmin: {address: 127.0.0.1, port: ${adminPort}}\n` +
    `upstream: {url: "${upstream.url}"}\ncassandra: {contact_points: [127.0.0.1]}\n`);
  const child = spawn(process.execPath, [main, '--config', config], { stdio: ['ignore', 'pipe', 'inherit'] });
  const logs: string[] = [];
  child.stdout.on('data', (chunk: Buffer) => logs.push(chunk.toString()));
  for (let i = 0; i < 100 && !logs.join('').includes('sessionstore-sidecar started'); i++) await sleep(50);

  const status = (await (await request(`http://127.0.0.1:${adminPort}/status`)).body.json()) as {
    version: string; proxy: { depooled: boolean }; cluster: { localDataCenter: string; nodes: { address: string }[] };
  };
  t.match(status, { proxy: { depooled: false }, cluster: { localDataCenter: 'dc1' } }, '/status shows the proxy and the cluster view');
  t.equal(status.cluster.nodes[0]?.address, '127.0.0.1', 'the contact point is in the cluster view');

  const inFlight = Promise.all([1, 2, 3].map(async (i) => {
    const response = await request(`http://127.0.0.1:${port}/sessions/v1/${i}`);
    return { status: response.statusCode, body: await response.body.text() };
  }));
  await sleep(150);
  child.kill('SIGTERM');
  const [code] = (await once(child, 'close')) as [number];
  t.same(await inFlight, [1, 2, 3].map(() => ({ status: 200, body: 'finished' })), 'every request in flight completed');
  t.equal(code, 0, 'exit 0');
  const lines = logs.join('').trim().split('\n').map((line) => JSON.parse(line) as { msg: string });
  t.ok(lines.some((line) => line.msg.startsWith('depooled')), 'logged the depool');
  t.equal(lines.at(-1)?.msg, 'stopped');
  await t.rejects(request(`http://127.0.0.1:${port}/sessions/v1/late`), 'no longer accepting');
});

void t.test('a contact point that does not resolve: the sidecar starts, serves, and says so in /status', async (t) => {
  const upstream = await startUpstream(t, (_req, res) => res.end('served'));
  const sidecar = await startSidecar(t, upstream.url, join(dir, 'no-service.pid'), { cassandra: { contact_points: ['cassandra.invalid', '127.0.0.1'] } });
  t.equal(await (await request(`${sidecar.url}/sessions/v1/k`)).body.text(), 'served', 'the proxy serves');
  const status = (await sidecar.status()) as { cluster: { contactPoints: unknown } };
  t.match(status.cluster.contactPoints, [{ name: 'cassandra.invalid', addresses: [], error: /ENOTFOUND/ }, { name: '127.0.0.1', addresses: ['127.0.0.1'], error: null }]);
  t.ok(sidecar.logs.some((l) => l.contact_point === 'cassandra.invalid' && l.level === 'warn'), 'a warning names the contact point');
});
