// Two data centers, as production runs the session store (eqiad and codfw): dc2 joins
// the shared cluster for this file (`npm run cluster -- up --dcs 2`) and leaves it after.
// In each data center a gocql service (Kask's driver, its own data center local, deletes
// at EACH_QUORUM) behind its sidecar, under steady session traffic, and a Prometheus of
// its own with the shipped rules, as each Wikimedia site runs its own.
//   1. dc2 loses quorum (two of its nodes stopped): dc1's reads and writes succeed, its
//      deletes fail (EACH_QUORUM), and dc1's sidecar says why on /status; dc2's requests
//      fail and its sidecar holds back.
//   2. then its last node hangs too (paused): nothing of dc2 answers. Then it all comes
//      back, and both data centers serve every request again.
// No restart anywhere; dc2 pages for its quorum, dc1 pages for nothing and files a
// ticket naming dc2.
import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { allNodes, pauseNode, resumeNode, secondDataCenterNodes, startNode, stopNode, up } from '../../lab/cluster/cluster.ts';
import { secondDataCenter } from '../../lab/cluster/layout.ts';
import { startPrometheus, type PrometheusServer } from '../../lab/prometheus.ts';
import { fastSidecar, graceMs, labService, sustainMs } from '../../lab/scenarios.ts';
import { startService, until } from '../../lab/session-service/harness.ts';
import { lostWrites, metricOf, restartsBy, startSidecar, type SidecarProcess } from '../../lab/sidecar-process.ts';
import { sessionTraffic, type Traffic, type TrafficResult } from '../../lab/traffic.ts';

// dc2 joining and leaving take about a minute and a half on a two-core machine, the replay three.
t.setTimeout(10 * 60_000);
t.before(() => up((line) => { t.comment(line); }, { dataCenters: 2 }));
// Whatever happened: the shared cluster is dc1's alone again, every node of it running.
t.teardown(() => up((line) => { t.comment(line); }, { dataCenters: 1 }));

const rate = 20;

interface Site {
  name: string;
  sidecar: SidecarProcess;
  supervisorRestarts: () => number;
  serviceLines: string[];
  traffic: Traffic;
  prometheus: PrometheusServer;
}

async function startSite(t: Test, dataCenter: 'dc1' | 'dc2'): Promise<Site> {
  const service = await startService(t, { ...labService, dataCenter });
  const contactPoint = (dataCenter === secondDataCenter ? secondDataCenterNodes() : allNodes())[0]?.address ?? '';
  const sidecar = await startSidecar(t, service.url, service.pidFile, {
    ...fastSidecar, cassandra: { contact_points: [contactPoint], local_data_center: dataCenter },
  });
  const traffic = sessionTraffic(t, sidecar.url, { perSecond: rate });
  const prometheus = await startPrometheus(t, [new URL(sidecar.adminUrl).host]);
  return { name: dataCenter, sidecar, supervisorRestarts: () => service.supervisor.restarts(), serviceLines: service.lines, traffic, prometheus };
}

/** Failures seen between `from` and `to`, by what the client saw ("DELETE 500", "GET 503 depooled"...). */
function failuresBetween(result: TrafficResult, from: number, to: number): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const f of result.failureLog) if (f.at >= from && f.at < to) counts[f.what] = (counts[f.what] ?? 0) + 1;
  return counts;
}

const onlyDeletes = (counts: Record<string, number>): boolean => Object.keys(counts).every((what) => what.startsWith('DELETE '));
const total = (counts: Record<string, number>): number => Object.values(counts).reduce((a, b) => a + b, 0);

interface DataCenterStatus { name: string; available: boolean; why: string }

async function dataCentersSeenBy(sidecar: SidecarProcess): Promise<{ eachQuorumAvailable: boolean; dataCenters: DataCenterStatus[] }> {
  return (await sidecar.status()).cluster as { eachQuorumAvailable: boolean; dataCenters: DataCenterStatus[] };
}

void t.test('dc2 loses quorum, then all of it, then comes back: dc1 serves all but deletes, nothing restarts, dc2 pages', async (t) => {
  const [dc1, dc2] = [await startSite(t, 'dc1'), await startSite(t, 'dc2')];
  await sleep(5000);
  const servicesStarted = [dc1.supervisorRestarts(), dc2.supervisorRestarts()];
  const healthy = { dc1: dc1.traffic.snapshot(), dc2: dc2.traffic.snapshot() };
  t.equal(healthy.dc1.failed + healthy.dc2.failed, 0, `both data centers serve every request before the fault (${healthy.dc1.ok} and ${healthy.dc2.ok}; their services restarted ${servicesStarted.join(' and ')} times while starting)`);

  // 1. Two of dc2's three nodes stop: dc2 has no quorum.
  const quorumLostAt = Date.now();
  await Promise.all([stopNode(6), stopNode(7)]);
  await until(async () => !(await dataCentersSeenBy(dc1.sidecar)).eachQuorumAvailable, 20_000, "dc1's sidecar sees dc2 without quorum");
  await until(async () => (await metricOf(dc2.sidecar, 'sessionstore_sidecar_local_quorum_available')) === 0, 20_000, "dc2's sidecar sees its own quorum lost");
  await sleep(5000);
  const seen = await dataCentersSeenBy(dc1.sidecar);
  const remote = seen.dataCenters.find((d) => d.name === secondDataCenter);
  t.ok(remote && !remote.available && /1 of 3 nodes in dc2 reachable/.test(remote.why), `dc1's /status says why deletes fail: ${remote?.why ?? 'dc2 missing'}`);
  t.equal(await metricOf(dc2.sidecar, 'sessionstore_sidecar_remediation_suppressed', { reason: 'no_local_quorum' }), 1, "dc2's sidecar holds back: no local quorum");

  // 2. Its last node hangs too, then all three come back.
  const allDownAt = Date.now();
  pauseNode(5);
  await sleep(10_000);
  const backFrom = Date.now();
  resumeNode(5);
  await Promise.all([startNode(6, undefined, { waitForPeers: false }), startNode(7, undefined, { waitForPeers: false })]);
  const answeredAt = Date.now();
  const servesAgain = (site: Site): boolean => site.traffic.snapshot().perSecond.slice(-3).every((s) => s.failed === 0 && s.ok > 0);
  await until(() => servesAgain(dc1) && servesAgain(dc2), 90_000, 'both data centers serve every request again');
  const recoveredAt = Date.now();
  // Past the stale-pool grace and the sustain from the nodes' return: a restart now would be a false one.
  await sleep(Math.max(0, answeredAt + graceMs + sustainMs + 5000 - Date.now()));
  const [one, two] = [await dc1.traffic.stop(), await dc2.traffic.stop()];

  const dc1During = failuresBetween(one, quorumLostAt, recoveredAt);
  t.ok(onlyDeletes(dc1During), `dc1: only deletes failed while dc2 was down (${JSON.stringify(dc1During)})`);
  t.ok(total(dc1During) > 0, 'and they did fail: EACH_QUORUM needs dc2');
  t.same(failuresBetween(one, recoveredAt, Infinity), {}, 'dc1: no failure once dc2 is back');
  const dc2During = failuresBetween(two, quorumLostAt, recoveredAt);
  t.ok(total(dc2During) > 0, `dc2 failed requests while it lacked quorum (${JSON.stringify(dc2During)})`);
  t.same(failuresBetween(two, recoveredAt, Infinity), {}, 'dc2: no failure once it is back');
  t.comment(`dc2 without quorum ${((allDownAt - quorumLostAt) / 1000).toFixed(1)} s, none of it answering ${((backFrom - allDownAt) / 1000).toFixed(1)} s, its stopped nodes answered CQL ${((answeredAt - backFrom) / 1000).toFixed(1)} s after their start, both data centers served every request ${((recoveredAt - answeredAt) / 1000).toFixed(1)} s later`);
  for (const [site, result] of [[dc1, one], [dc2, two]] as const) {
    const failedConnects = site.serviceLines.filter((l) => l.includes('failed to connect')).map((l) => (JSON.parse(l) as { msg: string }).msg);
    t.comment(`${site.name}: ${result.failed} of ${result.sent} requests failed (${(100 * result.failed / result.sent).toFixed(1)}%): ${JSON.stringify(result.failures)}; ` +
      `its driver failed ${failedConnects.length} connections other than refused${failedConnects.length > 0 ? `, the last: ${failedConnects.at(-1)}` : ''}`);
  }

  for (const [i, site] of [dc1, dc2].entries()) {
    t.equal(await restartsBy(site.sidecar), 0, `${site.name}: no restart by its sidecar`);
    t.equal(site.supervisorRestarts(), servicesStarted[i], `${site.name}: its service ran throughout`, { errors: site.serviceLines.filter((l) => l.includes('ERROR')).slice(-5) });
    const divergences = site.sidecar.logs.filter((l) => String(l.msg).startsWith('divergence:'));
    // On failure, the evidence the sidecar acted on and what the driver said meanwhile: CI keeps only this output.
    t.equal(divergences.length, 0, `${site.name}: no divergence found`, {
      divergences: divergences.map((l) => `${String(l.time)} ${String(l.msg)}: ${JSON.stringify(l.evidence ?? l)}`),
      driver: site.serviceLines.filter((l) => l.includes('"DEBUG"')).slice(-20),
    });
  }
  const quorumPage = dc2.prometheus.alertLives().find((l) => l.alert === 'SessionStoreLocalQuorumUnavailable');
  t.ok(quorumPage?.firedAt, `dc2's Prometheus paged for its lost quorum: ${dc2.prometheus.describe(quorumPage, quorumLostAt)}`);
  t.same(dc2.prometheus.productionPages().map((l) => l.alert).filter((a) => a !== 'SessionStoreLocalQuorumUnavailable'), [], 'and with production for: for nothing else');
  const ticket = dc1.prometheus.alertLives().find((l) => l.alert === 'SessionStoreDataCenterQuorumUnavailable');
  t.equal(ticket?.labels.dc, secondDataCenter, `dc1's Prometheus filed the ticket naming dc2: ${dc1.prometheus.describe(ticket, quorumLostAt)}`);
  t.same(dc1.prometheus.productionPages().map((l) => l.alert), [],
    `dc1's Prometheus pages for nothing with production for: (conditions that held briefly: ${dc1.prometheus.alertLives().map((l) => l.alert).join(', ') || 'none'})`);

  t.ok(one.acked.size > 0 && two.acked.size > 0, 'writes were acknowledged in both');
  t.same(await lostWrites(one.acked), [], `every write dc1 acknowledged reads back in dc1 (${one.acked.size})`);
  t.same(await lostWrites(two.acked, secondDataCenterNodes()), [], `every write dc2 acknowledged reads back in dc2 (${two.acked.size})`);
});
