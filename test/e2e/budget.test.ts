// A fault that no restart cures: restarts stop at the budget, and the sidecar says so, loudly.
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { restoreClusterAfter } from '../support/restore-cluster.ts';
import { startService, until } from '../../lab/session-service/harness.ts';
import { fleetLeaseHolder, loggedAt, lostWrites, metricOf, startSidecar, steadyWrites } from '../../lab/sidecar-process.ts';
import { fastSidecar } from '../../lab/scenarios.ts';

restoreClusterAfter(t);

void t.test('a fault no restart cures: restarts stop at the budget, loudly', async (t) => {
  const service = await startService(t, 'always-unavailable');
  const sidecar = await startSidecar(t, service.url, service.pidFile, {
    ...fastSidecar,
    remediation: { ...fastSidecar.remediation, max_restarts_per_hour: 2, backoff_base_ms: 1000, healthy_timeout_ms: 5000 },
  });
  const load = steadyWrites(t, sidecar.url, 20);
  await until(async () => (await metricOf(sidecar, 'sessionstore_sidecar_remediation_suppressed', { reason: 'budget_exhausted' })) === 1, 90_000, 'the budget is spent');
  await sleep(8000);
  const { acked } = await load.stop();
  t.equal(await metricOf(sidecar, 'sessionstore_sidecar_pool_restarts_total'), 2, 'exactly the budget: two restarts, then none');
  t.equal(await metricOf(sidecar, 'sessionstore_sidecar_pool_restarts_total', { result: 'unhealthy' }), 2, 'each found the service still unhealthy');
  t.ok(loggedAt(sidecar, 'restart budget spent and the divergence persists') !== null, 'a log line calls for a human');
  t.equal(((await sidecar.status()).proxy as { depooled: boolean }).depooled, false, 'and the pod is back in rotation');
  t.same(await lostWrites(acked), [], `every acknowledged write reads back (${acked.size}: this service acknowledges none)`);
});

void t.test('a sidecar stopped during a restart gives the fleet lease back at once, not after its TTL', async (t) => {
  const service = await startService(t, 'always-unavailable');
  const sidecar = await startSidecar(t, service.url, service.pidFile, { ...fastSidecar, remediation: { ...fastSidecar.remediation, healthy_timeout_ms: 60_000 } });
  steadyWrites(t, sidecar.url, 20);
  await until(async () => (await metricOf(sidecar, 'sessionstore_sidecar_restart_in_progress')) === 1, 60_000, 'a restart is under way');
  t.not(await fleetLeaseHolder(), null, 'the lease is held while the restart waits for a healthy service');
  const stopped = Date.now();
  t.equal(await sidecar.stop(), 0, 'SIGTERM: exit 0');
  t.equal(await fleetLeaseHolder(), null, `free ${Date.now() - stopped} ms after SIGTERM (TTL: 300 s)`);
  t.ok(loggedAt(sidecar, 'stopping during a graceful restart: releasing the fleet lease now') !== null, 'and the log says so');
});
