// Three pods in one data center see the same stale pool after one node bounce: two act,
// one is in dry run. The fleet lease (a real Cassandra LWT) serialises the restarts, so
// no two pods are ever out of rotation at once, and the contention is seen and logged.
// The dry-run pod goes through everything but the restart itself.
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { bounceNode, fastSidecar, labService } from '../../lab/scenarios.ts';
import { startService, until } from '../../lab/session-service/harness.ts';
import { lostWrites, metricOf, startSidecar, type SidecarProcess } from '../../lab/sidecar-process.ts';
import { sessionTraffic } from '../../lab/traffic.ts';
import { restoreClusterAfter } from '../support/restore-cluster.ts';

restoreClusterAfter(t);

const depooled = async (sidecar: SidecarProcess): Promise<boolean> => ((await sidecar.status()).proxy as { depooled: boolean }).depooled;

void t.test('three pods, one stale pool each: restarts one after the other, and a dry run', async (t) => {
  const pods = await Promise.all(['act', 'act', 'dry'].map(async (mode) => {
    const service = await startService(t, { ...labService, fault: 'stale-pool' });
    const sidecar = await startSidecar(t, service.url, service.pidFile, { ...fastSidecar, remediation: { ...fastSidecar.remediation, dry_run: mode === 'dry' } });
    return { mode, service, sidecar };
  }));
  const acting = pods.filter((p) => p.mode === 'act');
  const dry = pods.find((p) => p.mode === 'dry');
  let overlaps = 0;
  let samples = 0;
  const watching = { on: true };
  const watcher = (async () => {
    while (watching.on) {
      const states = await Promise.all(pods.map((p) => depooled(p.sidecar)));
      samples++;
      if (states.filter(Boolean).length > 1) overlaps++;
      await sleep(20);
    }
  })();
  const traffic = pods.map((p) => sessionTraffic(t, p.sidecar.url, { perSecond: 10 }));
  await bounceNode(2);
  await until(async () => (await Promise.all(acting.map((p) => metricOf(p.sidecar, 'sessionstore_sidecar_pool_restarts_total', { result: 'restarted' })))).every((n) => n === 1), 90_000, 'both acting pods restarted');
  await until(async () => dry !== undefined && (await metricOf(dry.sidecar, 'sessionstore_sidecar_pool_restarts_total', { result: 'dry_run' })) >= 1, 60_000, 'the dry run');
  watching.on = false;
  await watcher;
  const results = await Promise.all(traffic.map((load) => load.stop()));

  t.equal(overlaps, 0, `never two pods depooled at once (${samples} samples)`);
  t.same(acting.map((p) => p.service.supervisor.restarts()), [1, 1], 'each acting pod\'s service restarted once');
  const waited = pods.filter((p) => p.sidecar.logs.some((l) => String(l.msg).startsWith('another sidecar in this data center is restarting')));
  t.ok(waited.length >= 1, `the lease was contended: ${waited.length} pod(s) waited for it (the real LWT said no)`);
  if (dry) {
    const line = dry.sidecar.logs.find((l) => l.msg === 'dry run: would restart the service now');
    t.match(line?.evidence, [/stale_pool: 127\.0\.0\.2 has been a healthy coordinator for \d+ s and the service's pool has held 0 connections to it/], 'the dry run logged its evidence');
    t.notOk(dry.sidecar.logs.some((l) => String(l.msg).startsWith("restarting the service's pool gracefully")), 'and it never depooled: a dry run has no effect on traffic');
    t.equal(dry.service.supervisor.restarts(), 0, 'and restarted nothing');
    t.equal(await metricOf(dry.sidecar, 'sessionstore_sidecar_pool_restarts_total', { result: 'restarted' }), 0);
  }
  const acked = new Map(results.flatMap((r) => [...r.acked]));
  t.ok(acked.size > 0, 'writes were acknowledged');
  t.same(await lostWrites(acked), [], `every acknowledged write reads back (${acked.size})`);
});
