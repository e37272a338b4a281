// A real outage (two of three nodes down): the sidecar reports it and never restarts the service.
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { startNode, stopNode } from '../../lab/cluster/cluster.ts';
import { restoreClusterAfter } from '../support/restore-cluster.ts';
import { startService, until } from '../../lab/session-service/harness.ts';
import { lostWrites, metricOf, startSidecar, steadyWrites } from '../../lab/sidecar-process.ts';
import { fastSidecar } from '../../lab/scenarios.ts';

restoreClusterAfter(t);

void t.test('two nodes down: zero restarts, suppression reported', async (t) => {
  const service = await startService(t);
  const sidecar = await startSidecar(t, service.url, service.pidFile, fastSidecar);
  const load = steadyWrites(t, sidecar.url, 20);
  await Promise.all([stopNode(2), stopNode(3)]);
  await until(async () => (await metricOf(sidecar, 'sessionstore_sidecar_remediation_suppressed', { reason: 'no_local_quorum' })) === 1, 15_000, 'suppression is reported');
  await sleep(10_000); // errors pile up; still nothing may happen
  t.equal(await metricOf(sidecar, 'sessionstore_sidecar_pool_restarts_total'), 0, 'zero restarts');
  t.equal(service.supervisor.restarts(), 0, 'the service was left alone');
  t.ok(sidecar.logs.some((l) => l.component === 'reconcile' && String(l.msg).startsWith('no action: the sidecar itself cannot reach LOCAL_QUORUM')), 'the log says why nothing is done');
  await Promise.all([startNode(2), startNode(3)]);
  const { acked } = await load.stop();
  t.same(await lostWrites(acked), [], `every acknowledged write reads back (${acked.size})`);
});
