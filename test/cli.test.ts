// The command: its options, configuration errors, SIGTERM with requests in flight,
// and /status from a running sidecar.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { request } from 'undici';
import { temporaryDirectory } from '../lab/cleanup.ts';
import { freePort, startUpstream } from './support/http.ts';
import { until } from '../lab/session-service/harness.ts';
import { startSidecar } from '../lab/sidecar-process.ts';

const cli = join(import.meta.dirname, '../src/cli.ts');
const dir = temporaryDirectory(t, 'sidecar-main-');
const writeConfig = (name: string, yaml: string): string => {
  const file = join(dir, name);
  writeFileSync(file, yaml);
  return file;
};
const run = (...args: string[]): ReturnType<typeof spawnSync> => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });

void t.test('--version, --help, --check-config', (t) => {
  const version = run('--version');
  t.equal(version.status, 0);
  t.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
  t.match(run('--help').stdout, /--check-config/);
  const good = writeConfig('good.yaml', 'cassandra:\n  contact_points: [127.0.0.1]\n');
  const checked = run('--config', good, '--check-config');
  t.equal(checked.status, 0);
  t.match(checked.stdout, /configuration is valid/);
  const withFallback = run('--config', join(dir, 'absent.yaml'), '--config-fallback', '{"listen": {"port": 18089}}', '--check-config');
  t.equal(withFallback.status, 0, 'a missing file with a valid fallback checks');
  t.match(withFallback.stdout, /absent\.yaml: does not exist; the fallback is valid, and with it the sidecar only proxies/, 'and says what it means');
  const badFallback = run('--config', join(dir, 'absent.yaml'), '--config-fallback', '{"cassandra": {}}', '--check-config');
  t.equal(badFallback.status, 2);
  t.match(badFallback.stderr, /--config-fallback: cassandra: only listen, admin, upstream may be set here/);
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

void t.test('SIGTERM: readiness fails at once, serving goes on for the propagation time, then new requests are refused, those in flight finish, exit 0', async (t) => {
  // The service takes 500 ms, and 3 s for /slow (the sidecar is still draining when its refusals are checked); its /healthz is static, as Kask's.
  const upstream = await startUpstream(t, (req, res) => { setTimeout(() => res.end('finished'), req.url === '/healthz' ? 0 : req.url.includes('slow') ? 3000 : 500); });
  const port = await freePort();
  const adminPort = await freePort();
  const config = writeConfig('run.yaml', `listen: {address: 127.0.0.1, port: ${port}}\nadmin: {address: 127.0.0.1, port: ${adminPort}}\n` +
    `upstream: {url: "${upstream.url}"}\ncassandra: {contact_points: [127.0.0.1]}\ndepool: {propagation_ms: 1000}\nshutdown: {drain_timeout_ms: 5000}\n`);
  const child = spawn(process.execPath, [cli, '--config', config], { stdio: ['ignore', 'pipe', 'inherit'] });
  const logs: string[] = [];
  child.stdout.on('data', (chunk: Buffer) => logs.push(chunk.toString()));
  for (let i = 0; i < 100 && !logs.join('').includes('sessionstore-sidecar started'); i++) await sleep(50);
  const get = (path: string): Promise<{ status: number; body: string }> => request(`http://127.0.0.1:${port}${path}`, { reset: true })
    .then(async (response) => ({ status: response.statusCode, body: await response.body.text() }), (error: unknown) => ({ status: 0, body: (error as { code?: string }).code ?? 'error' }));
  const readyz = async (): Promise<number> => (await request(`http://127.0.0.1:${adminPort}/readyz`)).statusCode;
  // Ready once its first background health check of the service has passed.
  for (let i = 0; i < 40 && (await readyz()) !== 200; i++) await sleep(50);
  t.equal(await readyz(), 200, 'ready');

  const inFlight = [1, 2, 3].map((i) => get(`/sessions/v1/${i}`));
  while (upstream.seen.filter((r) => r.url.startsWith('/sessions/')).length < 3) await sleep(5); // they reached the service
  const signalled = Date.now();
  child.kill('SIGTERM');
  while ((await readyz()) !== 503 && Date.now() - signalled < 1000) await sleep(10);
  t.ok(Date.now() - signalled < 300, `readiness failed ${Date.now() - signalled} ms after SIGTERM`);
  const duringPropagation = get('/sessions/v1/during');
  const slow = get('/sessions/v1/slow');
  while (Date.now() - signalled < 1300) await sleep(20);
  const refused = await get('/sessions/v1/after');
  t.equal(child.exitCode, null, 'still running, draining');
  t.ok(refused.status === 0 || refused.status === 503, `after the propagation time a new request is refused (${refused.status === 0 ? refused.body : refused.status})`);
  t.same(await duringPropagation, { status: 200, body: 'finished' }, 'a request during the propagation time was served');
  const [code] = (await once(child, 'close')) as [number];
  t.same(await Promise.all(inFlight), [1, 2, 3].map(() => ({ status: 200, body: 'finished' })), 'every request in flight at SIGTERM completed');
  t.same(await slow, { status: 200, body: 'finished' }, 'and the slow one too');
  t.equal(code, 0, 'exit 0');
  const lines = logs.join('').trim().split('\n').map((line) => JSON.parse(line) as { msg: string });
  t.ok(lines.some((line) => line.msg.startsWith('depooled')), 'logged the depool');
  t.equal(lines.at(-1)?.msg, 'stopped');
});

void t.test('/status shows the cluster view, from the real cluster', async (t) => {
  const upstream = await startUpstream(t, (_req, res) => res.end('served'));
  const sidecar = await startSidecar(t, upstream.url, join(dir, 'no-service.pid'));
  await until(async () => ((await sidecar.status()) as { cluster: { nodes: unknown[] } }).cluster.nodes.length === 3, 15_000, 'all three nodes are known');
  const status = (await sidecar.status()) as { cluster: { localDataCenter: string; nodes: { address: string; dataCenter: string; rack: string; releaseVersion: string }[] } };
  t.equal(status.cluster.localDataCenter, 'dc1');
  t.same(status.cluster.nodes.map((n) => [n.address, n.dataCenter, n.rack]), [['127.0.0.1', 'dc1', 'r1'], ['127.0.0.2', 'dc1', 'r2'], ['127.0.0.3', 'dc1', 'r3']],
    'the nodes discovered from one contact point, with what they said of themselves');
  t.ok(status.cluster.nodes.every((n) => n.releaseVersion.startsWith('5.0')), 'and their Cassandra version');
});

void t.test('a contact point that does not resolve: the sidecar starts, serves, and says so in /status', async (t) => {
  const upstream = await startUpstream(t, (_req, res) => res.end('served'));
  const sidecar = await startSidecar(t, upstream.url, join(dir, 'no-service.pid'), { cassandra: { contact_points: ['cassandra.invalid', '127.0.0.1'] } });
  t.equal(await (await request(`${sidecar.url}/sessions/v1/k`)).body.text(), 'served', 'the proxy serves');
  const status = (await sidecar.status()) as { cluster: { contactPoints: unknown } };
  t.match(status.cluster.contactPoints, [{ name: 'cassandra.invalid', addresses: [], error: /ENOTFOUND/ }, { name: '127.0.0.1', addresses: ['127.0.0.1'], error: null }]);
  t.ok(sidecar.logs.some((l) => l.contact_point === 'cassandra.invalid' && l.level === 'warn'), 'a warning names the contact point');
});
