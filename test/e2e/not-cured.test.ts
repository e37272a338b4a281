// A divergence no restart of the service cures: the service cannot reach a node the
// sidecar reaches (a firewall rule on the service's group). One restart, recorded as
// not cured; the same evidence never triggers another; /status, the metrics and the
// log say the same thing, and call for a human. And a sidecar stopped while such a
// restart waits gives the real fleet lease back at once. A real Prometheus with the
// shipped rules pages a human for the restart that did not cure.
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { blockGroupFrom, heal } from '../../lab/cluster/cluster.ts';
import { startPrometheus } from '../../lab/prometheus.ts';
import { fastSidecar, labService } from '../../lab/scenarios.ts';
import { startService, until } from '../../lab/session-service/harness.ts';
import { fleetLeaseHolder, loggedAt, metricOf, startSidecar } from '../../lab/sidecar-process.ts';
import { sessionTraffic } from '../../lab/traffic.ts';
import { restoreClusterAfter } from '../support/restore-cluster.ts';

restoreClusterAfter(t);

const serviceGroup = 4243;

interface Status {
  reconcile: { verdict: { action: string; rule: string | null; suppressed: { reason: string; why: string } | null } };
  remediation: { suppressed: { reason: string } | null; notCured: { rule: string; addresses: string[] } | null; history: { result: string; detail: string }[] };
  proxy: { depooled: boolean };
}

void t.test('the service cannot reach node 2, the sidecar can: one restart, not cured, then a page instead of another', async (t) => {
  const service = await startService(t, { ...labService, gid: serviceGroup });
  const sidecar = await startSidecar(t, service.url, service.pidFile, { ...fastSidecar, reconcile: { ...fastSidecar.reconcile, stale_grace_ms: 5000 } });
  const traffic = sessionTraffic(t, sidecar.url, { perSecond: 10 });
  const prometheus = await startPrometheus(t, [new URL(sidecar.adminUrl).host]);
  blockGroupFrom(serviceGroup, 2);
  await until(async () => (await metricOf(sidecar, 'sessionstore_sidecar_pool_restarts_total', { rule: 'stale_pool', result: 'not_cured' })) === 1, 90_000, 'a restart, not cured');
  await until(async () => (await metricOf(sidecar, 'sessionstore_sidecar_remediation_suppressed', { reason: 'not_cured' })) === 1, 10_000, 'held back as not cured');
  await sleep(10_000); // past the backoff (2 s): still no second restart
  t.equal(await metricOf(sidecar, 'sessionstore_sidecar_pool_restarts_total'), 1, 'exactly one restart');
  t.equal(service.supervisor.restarts(), 1, 'the service process was restarted once');

  const status = await sidecar.status() as unknown as Status;
  t.match(status.remediation.history, [{ result: 'not_cured', detail: /its pool still holds no connection to 127\.0\.0\.2/ }], 'the history says not cured, and why');
  t.match(status.reconcile.verdict, { action: 'suppressed', rule: 'stale_pool', suppressed: { reason: 'not_cured', why: /did not change this \(stale_pool: 127\.0\.0\.2\)/ } }, 'the verdict says nothing will be done, and why');
  t.match(status.remediation, { suppressed: { reason: 'not_cured' }, notCured: { rule: 'stale_pool', addresses: ['127.0.0.2'] } }, 'the remediation section agrees with it');
  t.equal(status.proxy.depooled, false, 'and the pod is back in rotation');
  t.ok(loggedAt(sidecar, 'not restarting the service again') !== null, 'an error line calls for a human');
  await until(() => prometheus.alertLives().some((l) => l.alert === 'SessionStoreRemediationNeedsHuman' && l.firedAt !== null), 15_000, 'Prometheus pages');
  t.match(prometheus.alertLives().find((l) => l.alert === 'SessionStoreRemediationNeedsHuman')?.labels, { reason: 'not_cured', severity: 'page' }, 'Prometheus pages a human: the restart did not cure');
  t.notOk(prometheus.alertLives().some((l) => l.alert === 'SessionStoreViewDivergence' && prometheus.productionFiring(l) !== null), 'once, not also as a divergence');

  await heal();
  await until(async () => (await metricOf(sidecar, 'sessionstore_sidecar_remediation_suppressed', { reason: 'not_cured' })) === 0, 40_000, 'the driver reaches node 2 again and the evidence is gone');
  t.equal((await sidecar.status() as unknown as Status).remediation.notCured, null, 'forgotten once it no longer holds');
  const result = await traffic.stop();
  t.ok(result.ok > 0, `the service kept answering through nodes 1 and 3 (${result.ok} of ${result.sent})`);
});

void t.test('a sidecar stopped during a restart gives the fleet lease back at once, not after its TTL', async (t) => {
  const service = await startService(t, { ...labService, gid: serviceGroup });
  const sidecar = await startSidecar(t, service.url, service.pidFile, { ...fastSidecar, remediation: { ...fastSidecar.remediation, healthy_timeout_ms: 60_000 } });
  sessionTraffic(t, sidecar.url, { perSecond: 20 });
  // Cut off from every node, the service fails everything, and its restart never gets healthy.
  for (const n of [1, 2, 3] as const) blockGroupFrom(serviceGroup, n);
  await until(async () => (await metricOf(sidecar, 'sessionstore_sidecar_restart_in_progress')) === 1, 60_000, 'a restart is under way');
  t.not(await fleetLeaseHolder(), null, 'the lease is held while the restart waits for a healthy service');
  const stopped = Date.now();
  t.equal(await sidecar.stop(), 0, 'SIGTERM: exit 0');
  const holder = await fleetLeaseHolder();
  t.equal(holder, null, `free ${Date.now() - stopped} ms after SIGTERM (TTL: 300 s)`);
  t.ok(loggedAt(sidecar, 'stopping during a graceful restart: releasing the fleet lease now') !== null, 'and the log says so');
});
