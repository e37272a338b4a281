// 2023-01-24 as it really happened (Wikimedia's T327954): node 1 reboots and comes
// back serving CQL while it cannot hear its peers; its peers never convict it and keep
// it UP. The service is unchanged and fault-free: its real driver meets the real
// failure, one coordinator in three failing with Unavailable.
// Two pods, each a service and its sidecar, as in the Deployment: one sidecar with
// retries off (what happened), one with retries on (users shielded), each under the
// same steady MediaWiki-like traffic. (Each pod needs its own service: a service picks
// coordinators round robin, and two clients of one service would shift each other's
// turn.) Neither sidecar restarts its service: a restart cannot cure this.
// A real Prometheus scrapes both sidecars with the shipped alert rules: the T327954
// page names the node, and every expression of the dashboard returns series.
import t from 'tap';
import { dashboardQueries } from '../../k8s/monitoring/dashboard.ts';
import { heal, queryNode, localNode, rebootIsolated } from '../../lab/cluster/cluster.ts';
import { startPrometheus, type AlertLife } from '../../lab/prometheus.ts';
import { labService } from '../../lab/scenarios.ts';
import { startService, until } from '../../lab/session-service/harness.ts';
import { loggedAt, lostWrites, metricOf, startSidecar, type SidecarProcess } from '../../lab/sidecar-process.ts';
import { sessionTraffic } from '../../lab/traffic.ts';
import { consistencies } from '../../src/cluster/coordinator-client.ts';
import { restoreClusterAfter } from '../support/restore-cluster.ts';

restoreClusterAfter(t);

const probeIntervalMs = 1000;
const settings = (retries: boolean) => ({
  reconcile: { interval_ms: 500 },
  retries: { enabled: retries },
  cassandra: { probe: { interval_ms: probeIntervalMs, timeout_ms: 900 } },
});

/** How a node, as coordinator, counts its replicas: a read at ALL fails at once with Unavailable when it counts one down. */
async function aliveAsSeenBy(n: 1 | 2 | 3): Promise<string> {
  try {
    await queryNode(localNode(n), 'SELECT key FROM sessions.values WHERE key = ?', ['liveness'], consistencies.all, 4000);
    return 'counts 3 of 3 alive';
  } catch (error) {
    const counted = /(\d) required but only (\d) alive/.exec((error as Error).message);
    return counted ? `counts ${counted[2]} of ${counted[1]} alive` : 'counts 3 of 3 alive (and waits for node 1)';
  }
}

const brokenNamed = async (sidecar: SidecarProcess): Promise<boolean> => (await metricOf(sidecar, 'sessionstore_sidecar_broken_coordinator', { address: '127.0.0.1' })) === 1;

void t.test('a rebooted node that coordinates before it sees its peers: named, users shielded by retries, never a restart', async (t) => {
  const [service, other] = await Promise.all([startService(t, labService), startService(t, labService)]);
  const plain = await startSidecar(t, service.url, service.pidFile, settings(false));
  const shielded = await startSidecar(t, other.url, other.pidFile, settings(true));
  const rate = 25;
  const withoutRetries = sessionTraffic(t, plain.url, { perSecond: rate });
  const withRetries = sessionTraffic(t, shielded.url, { perSecond: rate });
  const prometheus = await startPrometheus(t, [plain, shielded].map((s) => new URL(s.adminUrl).host));

  const backAt = await rebootIsolated(1, undefined, { peersKeepItUp: true });
  // The state produced, checked from each node's own side.
  t.equal(await aliveAsSeenBy(1), 'counts 1 of 3 alive', 'node 1 sees its peers DOWN');
  t.match(await aliveAsSeenBy(2), /counts 3 of 3 alive/, 'node 2 still sees node 1 UP');
  t.match(await aliveAsSeenBy(3), /counts 3 of 3 alive/, 'node 3 still sees node 1 UP');

  // The service's driver takes node 1 back at its reconnect ticker; from then on a third of its queries meet it.
  // (A kill fails the requests in flight to node 1; the split view begins once it is back.)
  const failuresSinceBack = (): { second: number; failed: number }[] => withoutRetries.snapshot().perSecond.filter((s) => s.second * 1000 >= backAt && s.failed > 0);
  await until(() => failuresSinceBack().reduce((sum, s) => sum + s.failed, 0) >= 10, 60_000, 'clients without retries see failures');
  const firstFailure = (failuresSinceBack()[0]?.second ?? 0) * 1000;
  await until(() => brokenNamed(plain), 15_000, 'the sidecar names node 1');
  const namedMs = (loggedAt(plain, 'Cassandra node 127.0.0.1 cannot coordinate LOCAL_QUORUM') ?? Infinity) - firstFailure;
  // Expected: one probe interval plus the canary's own time (~1.5 s); bound 10 s (the issue's goal).
  t.ok(namedMs <= 10_000, `node 1 named ${namedMs} ms after the first failed request's second (bound 10 s)`);

  const status = await plain.status() as { reconcile: { verdict: { brokenCoordinators: string[]; findings: { rule: string; evidence: string }[] } } };
  t.same(status.reconcile.verdict.brokenCoordinators, ['127.0.0.1'], '/status names the node');
  t.match(status.reconcile.verdict.findings.find((f) => f.rule === 'broken_coordinator')?.evidence,
    /127\.0\.0\.1 answers the sidecar's probes but cannot coordinate LOCAL_QUORUM \(Unavailable: Cannot achieve consistency level LOCAL_QUORUM \(2 required but only 1 alive\)\); its own gossip has not heard 127\.0\.0\.2 for \d+ s, 127\.0\.0\.3 for \d+ s; LOCAL_QUORUM succeeds through 127\.0\.0\.2, 127\.0\.0\.3/,
    'the evidence: Cassandra\'s error, whom the node cannot hear, and which coordinators work');
  t.equal(await metricOf(plain, 'sessionstore_sidecar_coordinator_can_achieve_local_quorum', { address: '127.0.0.1' }), 0, 'per node: 127.0.0.1 cannot');
  t.equal(await metricOf(plain, 'sessionstore_sidecar_coordinator_can_achieve_local_quorum', { address: '127.0.0.2' }), 1, 'per node: 127.0.0.2 can');

  // Let the fault run a while under load, measured from the first failure.
  const measureFrom = Date.now();
  const before = { plain: withoutRetries.snapshot(), shielded: withRetries.snapshot() };
  await new Promise((resolve) => setTimeout(resolve, 20_000));
  const during = { plain: withoutRetries.snapshot(), shielded: withRetries.snapshot() };
  const share = (a: { sent: number; failed: number }, b: { sent: number; failed: number }): number => (b.failed - a.failed) / Math.max(1, b.sent - a.sent);
  const plainShare = share(before.plain, during.plain);
  const shieldedShare = share(before.shielded, during.shielded);
  // Expected about a third (one coordinator in three); bound 15-55% for scheduling noise on two cores.
  t.ok(plainShare >= 0.15 && plainShare <= 0.55, `without retries ${(plainShare * 100).toFixed(1)}% of requests failed over ${((Date.now() - measureFrom) / 1000).toFixed(0)} s (about a third expected)`);
  t.ok(shieldedShare < 0.01, `with retries ${(shieldedShare * 100).toFixed(2)}% failed (goal < 1%)`);
  // The budget: half the requests of the last 10 s, plus 5 a second.
  const retried = await metricOf(shielded, 'sessionstore_sidecar_retries_total');
  const seconds = (Date.now() - backAt) / 1000;
  const allowed = 0.5 * during.shielded.sent + 5 * seconds;
  t.ok(retried > 0 && retried <= allowed, `${retried} retries for ${during.shielded.sent} requests (${(100 * retried / during.shielded.sent).toFixed(1)}% extra; the budget allows ${Math.round(allowed)})`);
  t.comment(`failures without retries: ${JSON.stringify(during.plain.failures)}; with retries: ${JSON.stringify(during.shielded.failures)}`);

  for (const sidecar of [plain, shielded]) {
    t.equal(await metricOf(sidecar, 'sessionstore_sidecar_pool_restarts_total'), 0, 'no restart: it cannot help');
  }
  t.same([service.supervisor.restarts(), other.supervisor.restarts()], [0, 0], 'neither service process was restarted');
  t.equal(await metricOf(plain, 'sessionstore_sidecar_remediation_suppressed', { reason: 'broken_coordinator' }), 1, 'and the sidecar says why it does not act');

  // What Prometheus made of it, with the shipped rules (for: scaled; production timing from when each condition began).
  const lives = prometheus.alertLives();
  const page = lives.find((l) => l.alert === 'SessionStoreCoordinatorCannotAchieveLocalQuorum');
  t.match(page, { labels: { address: '127.0.0.1', severity: 'page' } }, 'Prometheus pages for the node, by its address');
  t.ok(page?.firedAt, 'and it fired');
  // The lab's fault lasts seconds; 2023's lasted 16 minutes. The condition holds from its start until the heal,
  // so production pages its `for:` (1 min) after the condition began.
  t.equal(page?.resolvedAt, null, 'its condition still holds while the node is broken');
  t.ok((page?.activeAt ?? Infinity) + 60_000 - firstFailure <= 180_000, `production would page within 3 min of the first failed request: ${prometheus.describe(page, firstFailure)}`);
  // The job's 5xx ratio over the rule's [2m] window: while the fault lasts, a third of one pod's requests fail and
  // none of the other's (about 17%), so the ratio crosses 5% once the fault fills about a third of the window:
  // expected about 40 s after the first failure; bound 90 s (the fault still holds meanwhile).
  const errorsPending = (): AlertLife | undefined => prometheus.alertLives().find((l) => l.alert === 'SessionStoreErrorRateHigh');
  await until(() => errorsPending() !== undefined || Date.now() - firstFailure > 90_000, 120_000, 'the error-rate alert is pending, or its bound has passed');
  const errors = errorsPending();
  t.ok(errors !== undefined && errors.activeAt - firstFailure <= 90_000, `the pod without retries drives the job's error ratio over 5% too, within 90 s of the first failure: ${prometheus.describe(errors, firstFailure)}`);
  const others = lives.filter((l) => !['SessionStoreCoordinatorCannotAchieveLocalQuorum', 'SessionStoreErrorRateHigh'].includes(l.alert));
  t.same(others.filter((l) => prometheus.productionFiring(l) !== null).map((l) => l.alert), [], `nothing else would page: no divergence, no quorum loss, no restart alert (conditions that held briefly: ${others.map((l) => l.alert).join(', ') || 'none'})`);
  for (const expr of dashboardQueries({ job: 'sessionstore-sidecar', rateInterval: '30s' })) {
    t.ok((await prometheus.query(expr)).length > 0, `dashboard: ${expr}`);
  }

  // Heal: every coordinator green again within two probe intervals, and still no restart.
  heal();
  const healedAt = Date.now();
  await until(async () => !(await brokenNamed(plain)) && (await metricOf(plain, 'sessionstore_sidecar_coordinator_can_achieve_local_quorum', { address: '127.0.0.1' })) === 1, 30_000, 'node 1 coordinates again');
  const greenMs = Date.now() - healedAt;
  // Gossip has to converge first (about a second), then one probe and its canary.
  t.ok(greenMs <= 2 * probeIntervalMs + 2000, `green ${greenMs} ms after the rules were removed (bound: two probe intervals + gossip convergence 2 s)`);
  await new Promise((resolve) => setTimeout(resolve, 5000));
  const after = { plain: await withoutRetries.stop(), shielded: await withRetries.stop() };
  for (const sidecar of [plain, shielded]) t.equal(await metricOf(sidecar, 'sessionstore_sidecar_pool_restarts_total'), 0, 'no restart after healing either');
  t.comment(`fault began ${((firstFailure - backAt) / 1000).toFixed(1)} s after node 1 served CQL again; totals without retries: ${after.plain.failed} of ${after.plain.sent} failed; with retries: ${after.shielded.failed} of ${after.shielded.sent}`);
  const acked = new Map([...after.plain.acked, ...after.shielded.acked]);
  t.ok(acked.size > 0, 'writes were acknowledged');
  t.same(await lostWrites(acked), [], `every acknowledged write reads back (${acked.size})`);
});
