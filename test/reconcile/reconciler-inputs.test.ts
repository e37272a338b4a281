// What GET /reconcile/inputs serves: every tick's inputs, the unsettled ones too, for the
// last 10 minutes only (the sidecar runs for months), with the policy they were judged by.
import t from 'tap';
import type { ClusterView } from '../../src/cluster/view.ts';
import { parseConfig } from '../../src/config/load.ts';
import type { ServiceSnapshot } from '../../src/reconcile/diagnose.ts';
import { diagnosePolicy, Reconciler } from '../../src/reconcile/reconciler.ts';
import { createRegistry } from '../../src/telemetry/metrics.ts';
import { testLogger } from '../support/http.ts';

void t.test('the reconciler keeps the last 10 minutes of its inputs, oldest first', async (t) => {
  const config = parseConfig({ cassandra: { contact_points: ['127.0.0.1'] } });
  const clock = { ms: Date.parse('2026-01-01T00:00:00Z') };
  // Not settled: nothing is judged, and the act is never asked; the inputs are kept all the same.
  const cluster = (): ClusterView => ({ at: new Date(clock.ms).toISOString(), settled: false, localDataCenter: 'dc1', nodes: [], membershipAgreement: true, schemaAgreement: true,
    localQuorum: { available: false, replicationFactor: null, required: null, reachableLocalNodes: 0, coordinators: [], why: 'not known yet' }, dataCenters: [], eachQuorumAvailable: false });
  const service = (): ServiceSnapshot => ({ answering: null, poolConnections: null, traffic: { windowSeconds: 10, seconds: [] }, canaryFailures: null });
  const reconciler = new Reconciler(config, { cluster, service }, () => Promise.reject(new Error('nothing is judged')), createRegistry('test'), testLogger().logger, () => clock.ms);
  const first = clock.ms;
  for (let i = 0; i < 700; i++) {
    await reconciler.tick();
    clock.ms += 1000;
  }
  const { policy, ticks } = reconciler.inputs();
  t.same(policy, diagnosePolicy(config), 'the policy the ticks were judged by');
  t.equal(ticks.length, 600, 'one tick a second: 600 kept');
  t.equal(ticks[0]?.now, first + 100_000, 'the oldest: 10 minutes before the last');
  t.equal(ticks.at(-1)?.now, first + 699_000, 'the newest last');
  t.equal(ticks.at(-1)?.cluster.at, new Date(first + 699_000).toISOString(), 'each with the views of its own moment');
});
