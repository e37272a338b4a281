// Dry run: everything but the restart; the verdict is logged with its evidence.
import t from 'tap';
import { restoreClusterAfter } from '../support/restore-cluster.ts';
import { startService, until } from '../../lab/session-service/harness.ts';
import { lostWrites, metricOf, startSidecar, steadyWrites } from '../../lab/sidecar-process.ts';
import { bounceNode, fastSidecar } from '../../lab/scenarios.ts';

restoreClusterAfter(t);

void t.test('dry run: the verdict and its evidence are logged, the service is not restarted', async (t) => {
  const service = await startService(t, 'stale-pool');
  const sidecar = await startSidecar(t, service.url, service.pidFile, { ...fastSidecar, remediation: { ...fastSidecar.remediation, dry_run: true } });
  const load = steadyWrites(t, sidecar.url, 20);
  await bounceNode(2);
  await until(async () => (await metricOf(sidecar, 'sessionstore_sidecar_pool_restarts_total', { rule: 'stale_pool', result: 'dry_run' })) >= 1, 60_000, 'a dry run');
  const { acked } = await load.stop();
  const line = sidecar.logs.find((l) => l.msg === 'dry run: would restart the service now');
  t.match(line?.evidence, [/stale_pool: 127\.0\.0\.2 has answered the sidecar .* but the service holds 0 connections to it/], 'logged with its evidence');
  t.equal(service.supervisor.restarts(), 0, 'the service was not restarted');
  t.equal(await metricOf(sidecar, 'sessionstore_sidecar_pool_restarts_total', { result: 'restarted' }), 0);
  t.same(await lostWrites(acked), [], `every acknowledged write reads back (${acked.size})`);
});
