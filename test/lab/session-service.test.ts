// The Kask-compatible lab service against the real cluster: Kask's API and problem
// bodies, its gocql-like reconnection timing, and the stale-pool fault, cured by a
// restart as in production.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { observePool } from '../../src/service/pool-sockets.ts';
import { bounceNode } from '../../lab/scenarios.ts';
import { post, restartService, startService, until } from '../../lab/session-service/harness.ts';
import { restoreClusterAfter } from '../support/restore-cluster.ts';

restoreClusterAfter(t);

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

void t.test('one node bounce: a healthy driver takes it back after gocql\'s node-up delay; a stale one never, until restarted', async (t) => {
  const [healthy, stale] = await Promise.all([
    startService(t, { nodeUpDelayMs: 10_000, reconnectIntervalMs: 60_000 }),
    startService(t, { fault: 'stale-pool', nodeUpDelayMs: 10_000, reconnectIntervalMs: 60_000 }),
  ]);
  const holds = async (service: { pidFile: string }, address: string): Promise<boolean> =>
    ((await observePool({ pidFile: service.pidFile, nativePort: 9042 })).connections[address] ?? 0) > 0;
  await until(async () => (await holds(healthy, '127.0.0.2')) && (await holds(stale, '127.0.0.2')), 10_000, 'both pools hold node 2');
  const answeredAt = await bounceNode(2);
  await until(() => holds(healthy, '127.0.0.2'), 30_000, 'the healthy pool takes node 2 back');
  const backMs = Date.now() - answeredAt;
  // gocql waits 10 s after the UP event (which comes as node 2 joins), not the Node driver's 1 s.
  t.ok(backMs >= 7_000 && backMs <= 16_000, `the healthy driver took node 2 back ${backMs} ms after it answered CQL (gocql: about 10 s)`);
  t.equal(await holds(stale, '127.0.0.2'), false, 'node 2 is up, yet the stale pool holds no connection to it');
  t.ok((await holds(stale, '127.0.0.1')) && (await holds(stale, '127.0.0.3')), 'and still holds nodes 1 and 3');
  t.equal(await post(stale.url, 'stale-pool', Buffer.from('x')), 201, 'LOCAL_QUORUM still works through two nodes');
  await restartService(stale);
  await until(() => holds(stale, '127.0.0.2'), 10_000, 'the restarted pool connects to node 2');
  t.ok(await holds(stale, '127.0.0.2'), 'a restart cures it: the new pool holds node 2');
});

void t.test('--service-cmd: another binary runs in the lab service\'s place, as the process the pid file names', async (t) => {
  const service = join(import.meta.dirname, '../../lab/session-service/service.ts');
  const running = await startService(t, { command: `${process.execPath} ${service} --port {port} --username {username} --password {password}` });
  t.equal(await post(running.url, 'service-cmd', Buffer.from('v')), 201, 'it serves the API on the port it was given, with the credentials it was given');
  const pid = Number(readFileSync(running.pidFile, 'utf8'));
  t.match(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), /session-service\/service\.ts/, 'the pid file names the service itself (exec), not a shell, so the sidecar can read its pool');
  await restartService(running);
  t.equal(running.supervisor.restarts(), 1, 'and it is started again when it exits, as the kubelet does');
});
