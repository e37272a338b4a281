// 2023-01-24 replayed: after a node rejoins, the service answers 500 ("Cannot achieve
// consistency level LOCAL_QUORUM") while the cluster is healthy. Detected within
// 15 s, one graceful restart, the errors stop, nothing acknowledged is lost.
import t from 'tap';
import { request } from 'undici';
import { restoreClusterAfter } from '../support/restore-cluster.ts';
import { startService, until } from '../../lab/session-service/harness.ts';
import { loggedAt, lostWrites, metricOf, startSidecar, steadyWrites } from '../../lab/sidecar-process.ts';
import { bounceNode, fastSidecar } from '../../lab/scenarios.ts';

restoreClusterAfter(t);

void t.test('false unavailability: detected, one restart, the errors stop', async (t) => {
  const service = await startService(t, 'false-unavailable');
  const sidecar = await startSidecar(t, service.url, service.pidFile, fastSidecar);
  const load = steadyWrites(t, sidecar.url, 20);
  await bounceNode(3);
  await until(async () => (await metricOf(sidecar, 'sessionstore_sidecar_pool_restarts_total', { rule: 'false_unavailability', result: 'restarted' })) === 1, 60_000, 'one restart');
  const recoveredAt = Date.now();
  const { acked, failed, sent, firstFailureAt } = await load.stop();

  const detectedMs = (loggedAt(sidecar, 'divergence: false_unavailability') ?? Infinity) - (firstFailureAt ?? 0);
  t.ok(firstFailureAt !== null, 'the service did fail');
  t.ok(detectedMs <= 15_000, `detected ${detectedMs} ms after the first failed request (bound 15 s)`);
  t.pass(`recovered ${recoveredAt - (firstFailureAt ?? 0)} ms after the first failed request; ${failed} of ${sent} requests failed`);
  const after = await Promise.all(Array.from({ length: 10 }, async (_, i) => {
    const response = await request(`${sidecar.url}/sessions/v1/after-restart-${i}`, { method: 'POST', body: 'x' });
    await response.body.dump();
    return response.statusCode;
  }));
  t.same(after, Array.from({ length: 10 }, () => 201), 'the errors stopped');
  t.equal(await metricOf(sidecar, 'sessionstore_sidecar_pool_restarts_total'), 1, 'exactly one restart');
  t.same(await lostWrites(acked), [], `every acknowledged write reads back (${acked.size})`);
});
