// A real outage (two of three nodes down) and the errors it leaves behind, both ways:
//   - during it the sidecar reports it and never restarts the service, and after it
//     the outage's own errors, still in the window, call for nothing;
//   - a genuine divergence right after it (the service loses its way to Cassandra
//     while the sidecar keeps its own) is still found, within the outage's shadow.
// A real Prometheus with the shipped rules: the outage is one page, the quorum alert.
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { blockGroupFrom, heal, startNode, stopNode } from '../../lab/cluster/cluster.ts';
import { startPrometheus } from '../../lab/prometheus.ts';
import { fastSidecar, labService, sustainMs } from '../../lab/scenarios.ts';
import { startService, until } from '../../lab/session-service/harness.ts';
import { loggedAt, lostWrites, metricOf, startSidecar } from '../../lab/sidecar-process.ts';
import { sessionTraffic } from '../../lab/traffic.ts';
import { restoreClusterAfter } from '../support/restore-cluster.ts';

restoreClusterAfter(t);
// Two node restarts and a service restart, each waited for: on a busy machine the file
// has taken more than the suite's 180 s per file.
t.setTimeout(6 * 60_000);

const serviceGroup = 4242;
// A long stale-pool grace keeps that rule out of the way: this test is about the error window's memory of an outage.
const graceMs = 300_000;

void t.test('two nodes down: no restart during or after; a real divergence right after is still found', async (t) => {
  const service = await startService(t, { ...labService, gid: serviceGroup });
  const sidecar = await startSidecar(t, service.url, service.pidFile, { ...fastSidecar, reconcile: { ...fastSidecar.reconcile, stale_grace_ms: graceMs } });
  // No deletes: a delete that fails still takes its session out of the read-back set (it may
  // have been applied), so a minute of failures with deletes could leave nothing to read back.
  const traffic = sessionTraffic(t, sidecar.url, { perSecond: 20, mix: { DELETE: 0 } });
  const prometheus = await startPrometheus(t, [new URL(sidecar.adminUrl).host]);
  await sleep(3000);

  const lostAt = Date.now();
  await Promise.all([stopNode(2), stopNode(3)]);
  await until(async () => (await metricOf(sidecar, 'sessionstore_sidecar_remediation_suppressed', { reason: 'no_local_quorum' })) === 1, 15_000, 'suppression is reported');
  await sleep(8_000); // errors pile up; still nothing may happen
  t.ok(traffic.snapshot().failed > 20, `the outage failed requests (${traffic.snapshot().failed})`);
  t.ok(sidecar.logs.some((l) => l.component === 'reconcile' && String(l.msg).startsWith('no action: the sidecar itself cannot reach LOCAL_QUORUM')), 'the log says why nothing is done');
  await Promise.all([startNode(2), startNode(3)]);
  await until(async () => (await metricOf(sidecar, 'sessionstore_sidecar_local_quorum_available')) === 1, 15_000, 'the sidecar sees quorum again');
  const regainedAt = Date.now();

  // The window still holds the outage's errors: they must call for nothing.
  await until(() => { const s = traffic.snapshot(); return s.perSecond.slice(-3).every((x) => x.failed === 0); }, 20_000, 'the service answers again');
  await sleep(12_000); // more than a window after the last error, with the sustain inside it
  t.equal(await metricOf(sidecar, 'sessionstore_sidecar_pool_restarts_total'), 0, 'zero restarts, during the outage or after it');
  t.equal(service.supervisor.restarts(), 0, 'the service was left alone');
  t.notOk(sidecar.logs.some((l) => String(l.msg).startsWith('divergence: false_unavailability')), 'the outage\'s errors never looked like false unavailability');
  t.ok(sidecar.logs.some((l) => Array.isArray(l.evidence) && l.evidence.some((e) => /fall within Cassandra's own fault/.test(String(e)))), 'the evidence says the errors are Cassandra\'s');
  const lives = prometheus.alertLives();
  const quorum = lives.find((l) => l.alert === 'SessionStoreLocalQuorumUnavailable');
  t.ok(quorum?.firedAt, `Prometheus paged for the lost quorum: ${prometheus.describe(quorum, lostAt)}`);
  // A condition that held for seconds fires with the lab's scaled for:, never with production's.
  t.same(lives.filter((l) => l.alert !== 'SessionStoreLocalQuorumUnavailable' && prometheus.productionFiring(l) !== null).map((l) => l.alert), [], `and with production for: nothing else would page (conditions that held briefly: ${lives.filter((l) => l.alert !== 'SessionStoreLocalQuorumUnavailable').map((l) => l.alert).join(', ') || 'none'})`);

  // The other way: now the service loses its way to every node (a firewall rule on its group), the sidecar does not.
  const divergedAt = Date.now();
  for (const n of [1, 2, 3] as const) blockGroupFrom(serviceGroup, n);
  await until(() => sidecar.logs.some((l) => String(l.msg).startsWith('divergence: false_unavailability')), 90_000, 'the divergence is found');
  await heal(); // let the restart cure it
  const detectedMs = (loggedAt(sidecar, 'divergence: false_unavailability') ?? Infinity) - divergedAt;
  // The outage's shadow: it explains errors until lag + min(grace, its length) after it ended, and the nodes' return
  // until lag + 15 s (lag here: 2 probes of 2 s, a 1.5 s timeout, a 0.5 s tick = 6 s); then two failing seconds reach
  // the 20% threshold, then the sustain.
  const outageMs = regainedAt - lostAt;
  const shadowEnds = regainedAt + 6_000 + Math.max(Math.min(graceMs, outageMs), 15_000);
  const bound = Math.max(0, shadowEnds - divergedAt) + 2_000 + sustainMs + 3_000;
  t.ok(detectedMs <= bound, `found ${detectedMs} ms after the service lost its way (bound ${bound} ms: the outage of ${outageMs} ms casts its shadow until ${Math.max(0, shadowEnds - divergedAt)} ms, then 2 s of errors and the ${sustainMs} ms sustain, and 3 s margin)`);
  await until(async () => (await metricOf(sidecar, 'sessionstore_sidecar_pool_restarts_total', { rule: 'false_unavailability' })) === 1, 60_000, 'the restart finishes');
  const result = await traffic.stop();
  t.ok(result.acked.size > 0, 'writes were acknowledged');
  t.same(await lostWrites(result.acked), [], `every acknowledged write reads back (${result.acked.size})`);
});
