// Two service+sidecar pairs in one data center see the same divergence: the fleet
// lease serialises their restarts, so the two pods are never out of rotation at once.
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { restoreClusterAfter } from '../support/restore-cluster.ts';
import { startService, until } from '../../lab/session-service/harness.ts';
import { lostWrites, metricOf, startSidecar, steadyWrites, type SidecarProcess } from '../../lab/sidecar-process.ts';
import { bounceNode, fastSidecar } from '../../lab/scenarios.ts';

restoreClusterAfter(t);

void t.test('two pairs, one stale pool each: restarts one after the other', async (t) => {
  const pairs = await Promise.all([1, 2].map(async () => {
    const service = await startService(t, 'stale-pool');
    return { service, sidecar: await startSidecar(t, service.url, service.pidFile, fastSidecar) };
  }));
  const depooled = async (sidecar: SidecarProcess): Promise<boolean> => ((await sidecar.status()).proxy as { depooled: boolean }).depooled;
  let both = 0;
  let samples = 0;
  const watching = { on: true };
  const watcher = (async () => {
    while (watching.on) {
      const [a, b] = await Promise.all(pairs.map((p) => depooled(p.sidecar)));
      samples++;
      if (a && b) both++;
      await sleep(20);
    }
  })();
  const loads = pairs.map((p) => steadyWrites(t, p.sidecar.url, 10));
  await bounceNode(2);
  await until(async () => (await Promise.all(pairs.map((p) => metricOf(p.sidecar, 'sessionstore_sidecar_pool_restarts_total', { result: 'restarted' })))).every((n) => n === 1), 90_000, 'both restarted');
  watching.on = false;
  await watcher;
  const acked = new Map((await Promise.all(loads.map((l) => l.stop()))).flatMap((r) => [...r.acked]));
  t.equal(both, 0, `never both depooled (${samples} samples)`);
  t.same(pairs.map((p) => p.service.supervisor.restarts()), [1, 1], 'each service restarted once');
  const waited = pairs.some((p) => p.sidecar.logs.some((l) => String(l.msg).startsWith('another sidecar in this data center is restarting')));
  t.pass(waited ? 'one sidecar waited for the lease' : 'the two restarts did not overlap in time');
  t.same(await lostWrites(acked), [], `every acknowledged write reads back (${acked.size})`);
});
