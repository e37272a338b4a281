// 2022-09-15 replayed: a node restarts and the service's driver never reconnects to
// it. With steady load through the sidecar: detected within the grace + 10 s, one
// graceful restart, the pool holds all three nodes again, nothing lost.
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { observePool } from '../../src/service/pool-sockets.ts';
import { restoreClusterAfter } from '../support/restore-cluster.ts';
import { startService, until } from '../../lab/session-service/harness.ts';
import { loggedAt, lostWrites, metricOf, startSidecar, steadyWrites } from '../../lab/sidecar-process.ts';
import { bounceNode, fastSidecar, graceMs } from '../../lab/scenarios.ts';

restoreClusterAfter(t);

void t.test('stale pool: detected, one restart, all three nodes pooled again', async (t) => {
  const service = await startService(t, 'stale-pool');
  const sidecar = await startSidecar(t, service.url, service.pidFile, fastSidecar);
  const load = steadyWrites(t, sidecar.url, 20);
  const answeredAt = await bounceNode(2);
  await until(async () => (await metricOf(sidecar, 'sessionstore_sidecar_pool_restarts_total', { rule: 'stale_pool', result: 'restarted' })) === 1, graceMs + 60_000, 'one restart');
  await until(async () => { const { connections } = await observePool({ pidFile: service.pidFile, nativePort: 9042 }); return ['127.0.0.1', '127.0.0.2', '127.0.0.3'].every((a) => (connections[a] ?? 0) > 0); }, 10_000, 'the new pool holds every node');
  await sleep(3000);
  const { acked, failed, sent } = await load.stop();

  const detectedMs = (loggedAt(sidecar, 'divergence: stale_pool') ?? Infinity) - answeredAt;
  const recoveredMs = (loggedAt(sidecar, 'graceful restart finished') ?? Infinity) - answeredAt;
  t.ok(detectedMs <= graceMs + 10_000, `detected ${detectedMs} ms after node 2 answered CQL (bound: grace ${graceMs} ms + 10 s)`);
  t.pass(`recovered (repooled with a healthy service) ${recoveredMs} ms after node 2 answered CQL`);
  t.equal(await metricOf(sidecar, 'sessionstore_sidecar_pool_restarts_total'), 1, 'exactly one restart');
  t.equal(await metricOf(sidecar, 'sessionstore_sidecar_view_divergence', { rule: 'stale_pool' }), 0, 'divergence is 0');
  t.equal(service.supervisor.restarts(), 1, 'the service process was restarted once');
  t.pass(`${failed} of ${sent} requests failed during the window`);
  t.same(await lostWrites(acked), [], `every acknowledged write reads back (${acked.size})`);
});
