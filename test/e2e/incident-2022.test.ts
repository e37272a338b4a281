// 2022-09-15 replayed, the service-side failure class: a node restarts and the
// service's driver never takes it back (gocql #1582/#1678). With steady traffic
// through the sidecar: detected after the grace, one graceful restart that cures it
// (the new pool holds all three nodes), nothing lost, and no client request failed
// except the ones the depooled pod turned away.
import t from 'tap';
import { observePool } from '../../src/service/pool-sockets.ts';
import { bounceNode, fastSidecar, graceMs, labService, sustainMs } from '../../lab/scenarios.ts';
import { startService, until } from '../../lab/session-service/harness.ts';
import { loggedAt, lostWrites, metricOf, startSidecar } from '../../lab/sidecar-process.ts';
import { sessionTraffic } from '../../lab/traffic.ts';
import { restoreClusterAfter } from '../support/restore-cluster.ts';

restoreClusterAfter(t);

const rate = 20;

void t.test('stale pool: detected, one restart, all three nodes pooled again', async (t) => {
  const service = await startService(t, { ...labService, fault: 'stale-pool' });
  const sidecar = await startSidecar(t, service.url, service.pidFile, fastSidecar);
  const traffic = sessionTraffic(t, sidecar.url, { perSecond: rate });
  const answeredAt = await bounceNode(2);
  await until(async () => (await metricOf(sidecar, 'sessionstore_sidecar_pool_restarts_total', { rule: 'stale_pool', result: 'restarted' })) === 1, graceMs + 60_000, 'one restart');
  const pooled = async (): Promise<boolean> => {
    const { connections } = await observePool({ pidFile: service.pidFile, nativePort: 9042 });
    return ['127.0.0.1', '127.0.0.2', '127.0.0.3'].every((a) => (connections[a] ?? 0) > 0);
  };
  t.ok(await pooled(), 'the new pool holds every node (verified before repooling)');
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const result = await traffic.stop();

  // Expected: the grace and the sustain, plus up to a probe interval (2 s) and a pool observation (2 s).
  const detectedMs = (loggedAt(sidecar, 'divergence: stale_pool') ?? Infinity) - answeredAt;
  const bound = graceMs + sustainMs + 5_000;
  t.ok(detectedMs >= graceMs && detectedMs <= bound, `detected ${detectedMs} ms after node 2 answered CQL (not before the grace of ${graceMs} ms; bound ${bound} ms)`);
  const depooled = sidecar.logs.find((l) => String(l.msg).startsWith('repooled'))?.depooled_ms as number | undefined;
  const recoveredMs = (loggedAt(sidecar, 'graceful restart finished') ?? Infinity) - answeredAt;
  // A restart is: drain, the supervisor's restart, a new driver connecting, the cure check.
  t.ok(recoveredMs - detectedMs <= 15_000, `repooled with a cured service ${recoveredMs} ms after node 2 answered CQL, ${recoveredMs - detectedMs} ms after detection (bound 15 s), depooled ${depooled ?? '?'} ms`);
  t.equal(await metricOf(sidecar, 'sessionstore_sidecar_pool_restarts_total'), 1, 'exactly one restart');
  t.equal(await metricOf(sidecar, 'sessionstore_sidecar_view_divergence', { rule: 'stale_pool' }), 0, 'divergence is 0');
  t.equal(service.supervisor.restarts(), 1, 'the service process was restarted once');

  // Node 2's own shutdown may fail a write in flight (Cassandra drains). From its return on, the stale pool and its restart
  // fail nothing but what one pod alone turns away while depooled (it has nowhere else to send it), bounded by the depooled time.
  const sinceBack = result.failureLog.filter((f) => f.at >= answeredAt);
  t.same(sinceBack.filter((f) => !f.what.endsWith(' 503 depooled')), [], `from node 2's return on, no failure but the depooled pod's own 503s (${result.failed} of ${result.sent} requests failed in all)`);
  t.ok(sinceBack.length <= rate * ((depooled ?? 0) / 1000 + 1), `${sinceBack.length} turned away, at most ${rate}/s over the ${depooled ?? '?'} ms depooled`);
  t.ok(result.acked.size > 0, 'writes were acknowledged');
  t.same(await lostWrites(result.acked), [], `every acknowledged write reads back (${result.acked.size})`);
});
