// The decision core with made-up views: every rule, its hysteresis, and suppression.
import t from 'tap';
import type { ClusterView } from '../../src/cluster/view.ts';
import { diagnose, type DiagnosePolicy, type Memory, type ServiceSnapshot } from '../../src/reconcile/diagnose.ts';

const policy: DiagnosePolicy = { staleGraceMs: 30_000, errorRateThreshold: 0.2, minRequests: 10, sustainMs: 5_000 };
const t0 = Date.parse('2026-01-01T00:00:00Z');
const iso = (ms: number): string => new Date(ms).toISOString();

function cluster(overrides: { reachableSince?: Record<string, number>; down?: string[]; remote?: string[]; quorum?: boolean } = {}): ClusterView {
  const addresses = ['10.0.0.1', '10.0.0.2', '10.0.0.3', ...(overrides.remote ?? [])];
  const quorum = overrides.quorum ?? true;
  return {
    at: iso(t0), localDataCenter: 'dc1',
    nodes: addresses.map((address) => {
      const down = overrides.down?.includes(address) ?? false;
      return {
        address, hostId: address, dataCenter: overrides.remote?.includes(address) ? 'dc2' : 'dc1', rack: 'r', releaseVersion: '5.0', schemaVersion: 'v',
        reachable: !down, breaker: down ? 'open' : 'closed', probeLatencyMs: 1, canCoordinateLocalQuorum: !down, lists: addresses, replicationFactor: 3,
        local: !overrides.remote?.includes(address), lastSuccess: iso(t0), lastError: null,
        reachableSince: down ? null : iso(overrides.reachableSince?.[address] ?? t0 - 3_600_000),
      };
    }),
    membershipAgreement: true, schemaAgreement: true,
    localQuorum: { available: quorum, replicationFactor: 3, required: 2, reachableLocalNodes: quorum ? 3 : 1, coordinators: quorum ? ['10.0.0.1'] : [], why: quorum ? 'fine' : '1 of 3 nodes in dc1 reachable; LOCAL_QUORUM needs 2 of 3 replicas' },
  };
}

const service = (pool: Record<string, number> | null, requests = 100, storageErrors = 0, canaryFailures: number | null = 0): ServiceSnapshot =>
  ({ poolConnections: pool, traffic: { windowSeconds: 10, requests, storageErrors }, canaryFailures });
const fullPool = { '10.0.0.1': 2, '10.0.0.2': 2, '10.0.0.3': 2 };
const stalePool = { '10.0.0.1': 2, '10.0.0.2': 0, '10.0.0.3': 2 };

/** Runs diagnose at each time in turn, carrying the memory, and returns the last verdict. */
function over(times: number[], clusterView: ClusterView, snapshot: ServiceSnapshot): ReturnType<typeof diagnose>['verdict'] {
  let memory: Memory = {};
  let verdict;
  for (const now of times) ({ verdict, memory } = diagnose(clusterView, snapshot, now, policy, memory));
  if (!verdict) throw new Error('no times');
  return verdict;
}

void t.test('healthy: nothing to do', (t) => {
  t.match(over([t0], cluster(), service(fullPool)), { action: 'none', rule: null, findings: [], suppressed: null });
  t.end();
});

void t.test('stale pool: a node healthy past the grace that the service does not hold', (t) => {
  const first = over([t0], cluster(), service(stalePool));
  t.equal(first.action, 'none', 'not at the first sight: hysteresis');
  t.equal(first.findings[0]?.rule, 'stale_pool');
  const sustained = over([t0, t0 + 2_000, t0 + 5_000], cluster(), service(stalePool));
  t.match(sustained, { action: 'restart', rule: 'stale_pool' });
  t.match(sustained.evidence[0], /10\.0\.0\.2 has answered the sidecar for \d+ s \(grace 30 s\) but the service holds 0 connections to it/);
  t.end();
});

void t.test('stale pool waits for the grace: a node back for 10 s is the driver’s to reconnect', (t) => {
  const view = cluster({ reachableSince: { '10.0.0.2': t0 - 10_000 } });
  t.equal(over([t0, t0 + 6_000], view, service(stalePool)).findings.length, 0);
  t.equal(over([t0 + 20_000, t0 + 26_000], view, service(stalePool)).action, 'restart', 'but not forever');
  t.end();
});

void t.test('one clean observation resets the hysteresis', (t) => {
  let memory: Memory = {};
  ({ memory } = diagnose(cluster(), service(stalePool), t0, policy, memory));
  ({ memory } = diagnose(cluster(), service(fullPool), t0 + 3_000, policy, memory));
  const { verdict } = diagnose(cluster(), service(stalePool), t0 + 6_000, policy, memory);
  t.equal(verdict.action, 'none', 'the condition must hold without a break');
  t.end();
});

void t.test('nodes of other data centers, unreachable nodes, and an unreadable pool never make a stale pool', (t) => {
  t.equal(over([t0, t0 + 6_000], cluster({ remote: ['10.1.0.1'] }), service(fullPool)).findings.length, 0, 'a remote node without connections');
  t.equal(over([t0, t0 + 6_000], cluster({ down: ['10.0.0.2'] }), service(stalePool)).findings.length, 0, 'a node the sidecar cannot reach either');
  t.equal(over([t0, t0 + 6_000], cluster(), service(null)).findings.length, 0, 'no /proc view');
  t.end();
});

void t.test('false unavailability: storage errors while LOCAL_QUORUM canaries succeed', (t) => {
  const verdict = over([t0, t0 + 5_000], cluster(), service(fullPool, 100, 50));
  t.match(verdict, { action: 'restart', rule: 'false_unavailability' });
  t.match(verdict.evidence[0], /50 of 100 requests \(50%, threshold 20%\) failed with storage errors in the last 10 s, while LOCAL_QUORUM canaries succeed through 10\.0\.0\.1/);
  t.equal(over([t0, t0 + 5_000], cluster(), service(fullPool, 100, 10)).action, 'none', 'below the threshold');
  t.equal(over([t0, t0 + 5_000], cluster(), service(fullPool, 5, 5)).action, 'none', 'too few requests to tell');
  t.end();
});

void t.test('thin traffic: two failed canaries through the service speak for it', (t) => {
  const verdict = over([t0, t0 + 5_000], cluster(), service(fullPool, 2, 0, 2));
  t.match(verdict, { action: 'restart', rule: 'false_unavailability' });
  t.match(verdict.evidence[0], /the last 2 canaries through the service failed \(only 2 requests in the last 10 s\)/);
  t.equal(over([t0, t0 + 5_000], cluster(), service(fullPool, 2, 0, 1)).action, 'none', 'one failed canary is not enough');
  t.equal(over([t0, t0 + 5_000], cluster(), service(fullPool, 100, 0, 5)).action, 'none', 'plenty of successful traffic outweighs the canary');
  t.end();
});

void t.test('no local quorum for the sidecar either: suppressed, never a restart', (t) => {
  const verdict = over([t0, t0 + 60_000], cluster({ down: ['10.0.0.2', '10.0.0.3'], quorum: false }), service(stalePool, 100, 100));
  t.equal(verdict.action, 'suppressed');
  t.match(verdict.suppressed, /the sidecar itself cannot reach LOCAL_QUORUM: 1 of 3 nodes in dc1 reachable/);
  t.end();
});
