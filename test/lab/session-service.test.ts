// The lab's session service (Go, on Debian's gocql 1.3.2) against the real cluster:
// Kask's API and problem bodies, gocql's own reconnection, the stale-pool model cured by
// a restart as in production, and secrets that never reach a command line.
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { observePool } from '../../src/service/pool-sockets.ts';
import { bounceNode } from '../../lab/scenarios.ts';
import { adminCredentials, localNode, queryNode } from '../../lab/cluster/cluster.ts';
import { consistencies } from '../../src/cluster/coordinator-client.ts';
import { temporaryDirectory } from '../../lab/cleanup.ts';
import { serviceBinary } from '../../lab/session-service/build.ts';
import { post, restartService, startService, until } from '../../lab/session-service/harness.ts';
import { restoreClusterAfter } from '../support/restore-cluster.ts';

restoreClusterAfter(t);

void t.test('the driver is gocql 1.3.2 from Debian, the version Kask ran', async (t) => {
  const version = spawnSync('dpkg-query', ['-W', '-f', '${Version}', 'golang-github-gocql-gocql-dev'], { encoding: 'utf8' }).stdout;
  t.match(version, /^1\.3\.2-/, `Debian's gocql package: ${version}`);
  const { url } = await startService(t);
  t.equal((await request(`${url}/healthz`)).statusCode, 200);
  t.ok(statSync(serviceBinary).isFile(), `the service runs the binary built from lab/session-service (${serviceBinary})`);
});

void t.test('the Kask API: store, read, delete, problems, a static /healthz', async (t) => {
  const { url } = await startService(t);
  const value = Buffer.from([0, 1, 2, 255]);
  t.equal(await post(url, 'kask-test', value), 201);
  const read = await request(`${url}/sessions/v1/kask-test`);
  t.equal(read.statusCode, 200);
  t.same(Buffer.from(await read.body.arrayBuffer()), value);
  const deleted = await request(`${url}/sessions/v1/kask-test`, { method: 'DELETE' });
  await deleted.body.dump();
  t.equal(deleted.statusCode, 204);
  const missing = await request(`${url}/sessions/v1/kask-test`);
  t.equal(missing.statusCode, 404);
  t.equal(missing.headers['content-type'], 'application/json', "Kask's problems are application/json");
  t.match(await missing.body.json(), { type: 'https://www.mediawiki.org/wiki/Kask/errors/not_found', instance: '/sessions/v1/kask-test' });
  t.equal(await post(url, 'empty', Buffer.alloc(0)), 400, 'an empty value is a bad request, as in Kask');
  t.match(await (await request(`${url}/metrics`)).body.text(), /kask_requests_total\{method="POST",code="201"\} 1/);
});

void t.test('one node bounce: gocql takes it back after its node-up delay; the stale-pool model never, until restarted', async (t) => {
  const [healthy, stale] = await Promise.all([
    startService(t, { reconnectIntervalMs: 60_000 }),
    startService(t, { fault: 'stale-pool', reconnectIntervalMs: 60_000 }),
  ]);
  const holds = async (service: { pidFile: string }, address: string): Promise<boolean> =>
    ((await observePool({ pidFile: service.pidFile, nativePort: 9042 })).connections[address] ?? 0) > 0;
  await until(async () => (await holds(healthy, '127.0.0.2')) && (await holds(stale, '127.0.0.2')), 10_000, 'both pools hold node 2');
  const answeredAt = await bounceNode(2);
  await until(() => holds(healthy, '127.0.0.2'), 30_000, 'the healthy pool takes node 2 back');
  const backMs = Date.now() - answeredAt;
  // gocql sleeps nodeUpDelay() (10 s: its version check reads 5.0's minor, 0) after the UP event.
  t.ok(backMs >= 7_000 && backMs <= 16_000, `gocql took node 2 back ${backMs} ms after it answered CQL (its node-up delay: 10 s)`);
  t.equal(await holds(stale, '127.0.0.2'), false, 'node 2 is up, yet the stale pool holds no connection to it');
  t.ok((await holds(stale, '127.0.0.1')) && (await holds(stale, '127.0.0.3')), 'and still holds nodes 1 and 3');
  t.ok(stale.lines.some((line) => line.includes('Host 127.0.0.2 is down; it will not be connected to again')), 'the model says when it forgot the node');
  t.equal(await post(stale.url, 'stale-pool', Buffer.from('x')), 201, 'LOCAL_QUORUM still works through two nodes');
  await restartService(stale);
  await until(() => holds(stale, '127.0.0.2'), 10_000, 'the restarted pool connects to node 2');
  t.ok(await holds(stale, '127.0.0.2'), 'a restart cures it: the new pool holds node 2');
});

void t.test('secrets never on a command line: a password that begins with "-" works, and no process shows it', async (t) => {
  // One fresh cluster in 64 drew such a superuser password; passed as `--password <value>`, it killed the old service.
  const role = { username: 'lab_dash_password', password: `-${randomBytes(12).toString('base64url')}` };
  const admin = adminCredentials();
  await queryNode(localNode(1), `CREATE ROLE IF NOT EXISTS ${role.username} WITH LOGIN = true AND PASSWORD = '${role.password}'`, [], consistencies.localOne, 10_000, admin);
  t.teardown(() => queryNode(localNode(1), `DROP ROLE IF EXISTS ${role.username}`, [], consistencies.localOne, 10_000, admin));
  await queryNode(localNode(1), `GRANT SELECT, MODIFY ON KEYSPACE sessions TO ${role.username}`, [], consistencies.localOne, 10_000, admin);
  const service = await startService(t, { credentials: role });
  t.equal(await post(service.url, 'dash-password', Buffer.from('v')), 201, 'the service logs in with it and stores a value');
  const pid = Number(readFileSync(service.pidFile, 'utf8'));
  t.notMatch(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), role.password, 'the password is not on its command line');
  t.equal(statSync(service.configFile).mode & 0o777, 0o600, 'it is in a config file only its owner reads');
});

void t.test('a config file that is wrong is refused with the key named', (t) => {
  const run = spawnSync(serviceBinary, ['--config', '/nonexistent/service.json'], { encoding: 'utf8' });
  t.equal(run.status, 2);
  t.match(run.stderr, /cannot read the config file/);
  const file = join(temporaryDirectory(t, 'service-config-'), 'bad.json');
  writeFileSync(file, JSON.stringify({ listen_port: 0 }));
  const bad = spawnSync(serviceBinary, ['--config', file], { encoding: 'utf8' });
  t.equal(bad.status, 2);
  t.match(bad.stderr, /listen_port must be 1-65535/);
  t.end();
});

void t.test('--service-cmd: another binary runs in the lab service\'s place, as the process the pid file names', async (t) => {
  const running = await startService(t, { command: `${serviceBinary} --config {config}` });
  t.equal(await post(running.url, 'service-cmd', Buffer.from('v')), 201, 'it serves the API on the port it was given, with the credentials in the config file');
  const pid = Number(readFileSync(running.pidFile, 'utf8'));
  t.match(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), /session-service\0--config/, 'the pid file names the service itself (exec), not a shell, so the sidecar can read its pool');
  await restartService(running);
  t.equal(running.supervisor.restarts(), 1, 'and it is started again when it exits, as the kubelet does');
});
