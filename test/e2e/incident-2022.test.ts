// 2022-09-15 replayed, the service-side failure class: a node restarts and the
// service's driver never takes it back (gocql #1582/#1678). Three pods of one data
// center see the same stale pool after one node bounce, under steady traffic: two act,
// one is in dry run.
//   - each acting pod detects it after the grace, and one graceful restart cures it (the
//     new pool holds all three nodes); nothing lost, and from the node's return no request
//     failed but the ones a depooled pod turned away;
//   - the fleet lease (a real Cassandra LWT) serialises the restarts: never two pods out
//     of rotation at once, and the contention is seen and logged;
//   - the dry-run pod says what it would do, and has no effect on traffic at all.
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { observePool } from '../../src/service/pool-sockets.ts';
import { bounceNode, fastSidecar, graceMs, labService, sustainMs } from '../../lab/scenarios.ts';
import { startService, until } from '../../lab/session-service/harness.ts';
import { loggedAt, lostWrites, metricOf, startSidecar, type SidecarProcess } from '../../lab/sidecar-process.ts';
import { sessionTraffic } from '../../lab/traffic.ts';
import { restoreClusterAfter } from '../support/restore-cluster.ts';

restoreClusterAfter(t);

const rate = 10;
const depooled = async (sidecar: SidecarProcess): Promise<boolean> => ((await sidecar.status()).proxy as { depooled: boolean }).depooled;

void t.test('three pods, one stale pool each: detected after the grace, restarts one after the other and cure it, and a dry run', async (t) => {
  const pods = await Promise.all(['act', 'act', 'dry'].map(async (mode) => {
    const service = await startService(t, { ...labService, fault: 'stale-pool' });
    const sidecar = await startSidecar(t, service.url, service.pidFile, { ...fastSidecar, remediation: { ...fastSidecar.remediation, dry_run: mode === 'dry' } });
    return { mode, service, sidecar, traffic: sessionTraffic(t, sidecar.url, { perSecond: rate }) };
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
  const answeredAt = await bounceNode(2);
  await until(async () => (await Promise.all(acting.map((p) => metricOf(p.sidecar, 'sessionstore_sidecar_pool_restarts_total', { rule: 'stale_pool', result: 'restarted' })))).every((n) => n === 1), graceMs + 90_000, 'both acting pods restarted');
  await until(async () => dry !== undefined && (await metricOf(dry.sidecar, 'sessionstore_sidecar_pool_restarts_total', { result: 'dry_run' })) >= 1, 60_000, 'the dry run');
  watching.on = false;
  await watcher;
  const pooled = await Promise.all(acting.map(async (p) => {
    const { connections } = await observePool({ pidFile: p.service.pidFile, nativePort: 9042 });
    return ['127.0.0.1', '127.0.0.2', '127.0.0.3'].every((a) => (connections[a] ?? 0) > 0);
  }));
  await sleep(3000);
  const results = await Promise.all(pods.map((p) => p.traffic.stop()));

  t.equal(overlaps, 0, `never two pods depooled at once (${samples} samples)`);
  t.same(pooled, [true, true], 'each acting pod\'s new pool holds every node (verified before repooling)');
  t.same(acting.map((p) => p.service.supervisor.restarts()), [1, 1], 'each acting pod\'s service restarted once');
  for (const [i, pod] of acting.entries()) {
    t.equal(await metricOf(pod.sidecar, 'sessionstore_sidecar_pool_restarts_total'), 1, `acting pod ${i + 1}: exactly one restart`);
    t.equal(await metricOf(pod.sidecar, 'sessionstore_sidecar_view_divergence', { rule: 'stale_pool' }), 0, `acting pod ${i + 1}: divergence is 0`);
    const detectedMs = (loggedAt(pod.sidecar, 'divergence: stale_pool') ?? Infinity) - answeredAt;
    t.ok(detectedMs >= graceMs, `acting pod ${i + 1}: acted on it ${detectedMs} ms after node 2 answered CQL, not before the grace of ${graceMs} ms`);
  }
  // The first to restart took the lease at once (the other acts once it is free): detected after the grace and the
  // sustain, plus up to a probe interval (2 s) and a pool observation (2 s); its restart is: drain, the supervisor's
  // restart, a new driver connecting, the cure check.
  const [first] = acting.toSorted((a, b) => (loggedAt(a.sidecar, 'graceful restart finished') ?? Infinity) - (loggedAt(b.sidecar, 'graceful restart finished') ?? Infinity));
  if (first) {
    const detectedMs = (loggedAt(first.sidecar, 'divergence: stale_pool') ?? Infinity) - answeredAt;
    const bound = graceMs + sustainMs + 5_000;
    t.ok(detectedMs <= bound, `the first restart: detected ${detectedMs} ms after node 2 answered CQL (bound ${bound} ms)`);
    const recoveredMs = (loggedAt(first.sidecar, 'graceful restart finished') ?? Infinity) - answeredAt;
    t.ok(recoveredMs - detectedMs <= 15_000, `the first restart: repooled with a cured service ${recoveredMs} ms after node 2 answered CQL, ${recoveredMs - detectedMs} ms after detection (bound 15 s)`);
  }
  const waited = pods.filter((p) => p.sidecar.logs.some((l) => String(l.msg).startsWith('another sidecar in this data center is restarting')));
  t.ok(waited.length >= 1, `the lease was contended: ${waited.length} pod(s) waited for it (the real LWT said no)`);

  // Node 2's own shutdown may fail a write in flight (Cassandra drains). From its return on, the stale pool and its restart
  // fail nothing but what a pod alone turns away while depooled (it has nowhere else to send it), bounded by the depooled time.
  for (const [i, pod] of pods.entries()) {
    const result = results[i];
    if (!result) continue;
    const sinceBack = result.failureLog.filter((f) => f.at >= answeredAt);
    const depooledMs = pod.sidecar.logs.find((l) => String(l.msg).startsWith('repooled'))?.depooled_ms as number | undefined ?? 0;
    t.same(sinceBack.filter((f) => !f.what.endsWith(' 503 depooled')), [], `${pod.mode} pod ${i + 1}: from node 2's return on, no failure but its own 503s while depooled (${result.failed} of ${result.sent} requests failed in all)`);
    t.ok(sinceBack.length <= rate * (depooledMs / 1000 + 1), `${pod.mode} pod ${i + 1}: ${sinceBack.length} turned away, at most ${rate}/s over the ${depooledMs} ms depooled`);
  }
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
