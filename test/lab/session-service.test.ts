// The Kask-compatible test service against the real cluster: its API, its supervisor,
// and the two incident faults, each cured by a restart, as in production.
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { request } from 'undici';
import { observePool } from '../../src/service/pool-sockets.ts';
import { restoreClusterAfter } from '../support/restore-cluster.ts';
import { bounce, post, restartService, startService, until } from '../../lab/session-service/harness.ts';

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
  t.match(await missing.body.json(), { type: 'https://www.mediawiki.org/wiki/Kask/errors/not_found', instance: '/sessions/v1/kask-test' });
  t.match(await (await request(`${url}/metrics`)).body.text(), /kask_requests_total\{method="POST",code="201"\} 1/);
});

void t.test('fault stale-pool: a node that restarts is never reconnected, until the service restarts', async (t) => {
  const service = await startService(t, 'stale-pool');
  const pool = async (): Promise<Record<string, number>> => (await observePool({ pidFile: service.pidFile, nativePort: 9042 })).connections;
  await until(async () => { const held = await pool(); return ['127.0.0.1', '127.0.0.2', '127.0.0.3'].every((a) => (held[a] ?? 0) > 0); }, 10_000, 'the pool holds all three nodes');
  await bounce(2);
  await sleep(5000); // a healthy driver reconnects within a few seconds
  const held = await pool();
  t.equal(held['127.0.0.2'] ?? 0, 0, 'node 2 is up, yet the pool holds no connection to it');
  t.ok((held['127.0.0.1'] ?? 0) > 0 && (held['127.0.0.3'] ?? 0) > 0, 'and still holds nodes 1 and 3');
  t.equal(await post(service.url, 'stale-pool', Buffer.from('x')), 201, 'LOCAL_QUORUM still works through two nodes');
  await restartService(service);
  await until(async () => ((await pool())['127.0.0.2'] ?? 0) > 0, 10_000, 'the restarted pool connects to node 2');
  t.pass('a restart cures it');
});

void t.test('fault false-unavailable: 500s with LOCAL_QUORUM errors while the cluster is healthy, until the service restarts', async (t) => {
  const service = await startService(t, 'false-unavailable');
  t.equal(await post(service.url, 'false-unavailable', Buffer.from('x')), 201, 'healthy at first');
  await bounce(3);
  await until(async () => (await post(service.url, 'false-unavailable', Buffer.from('x'))) === 500, 30_000, 'the service fails');
  // Its log arrives through a pipe, possibly after the answer.
  await until(() => service.lines.some((line) => line.includes('Cannot achieve consistency level LOCAL_QUORUM')), 2000, 'the service logs what Kask logged');
  t.pass('500s, and the log says what Kask logged');
  await restartService(service);
  t.equal(await post(service.url, 'false-unavailable', Buffer.from('x')), 201, 'a restart cures it');
});
