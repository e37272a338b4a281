// The decision core with made-up views: every rule, its hysteresis, the split view
// (a coordinator that cannot reach its peers), EACH_QUORUM deletes across data
// centers, and the errors a Cassandra outage leaves behind.
import t from 'tap';
import type { NodeStorage } from '../../src/cluster/probe.ts';
import type { ClusterView } from '../../src/cluster/view.ts';
import { diagnose, emptyMemory, type DiagnosePolicy, type Memory, type ServiceSnapshot, type Verdict } from '../../src/reconcile/diagnose.ts';
import type { TrafficSecond } from '../../src/service/storage-errors.ts';

const policy: DiagnosePolicy = { staleGraceMs: 75_000, errorRateThreshold: 0.2, minRequests: 10, sustainMs: 5_000, faultLagMs: 6_000 };
const t0 = Date.parse('2026-01-01T00:00:00Z');
const iso = (ms: number): string => new Date(ms).toISOString();

interface ClusterShape {
  reachableSince?: Record<string, number>;
  /** Since when a node has been a healthy coordinator (default: since it has been reachable). */
  coordinatingSince?: Record<string, number>;
  down?: string[];
  /** Reachable, but their LOCAL_QUORUM canary fails. */
  brokenCanary?: string[];
  remote?: string[];
  quorum?: boolean;
  eachQuorum?: boolean;
  /** What each node last said of its disk usage (the guardrail's state). */
  diskUsage?: Record<string, NodeStorage['diskUsage']>;
  /** Reachable, and their canary's write was refused for a full disk (their read proved them). */
  writesRefused?: string[];
}

const guardrailRefusal = 'Guardrail replica_disk_usage violated: Write request failed because disk usage exceeds failure threshold';

function cluster(shape: ClusterShape = {}): ClusterView {
  const addresses = ['10.0.0.1', '10.0.0.2', '10.0.0.3', ...(shape.remote ?? [])];
  const canaryOk = (a: string): boolean => !(shape.down?.includes(a) ?? false) && !(shape.brokenCanary?.includes(a) ?? false);
  const coordinators = addresses.filter((a) => canaryOk(a) && !shape.remote?.includes(a));
  const quorum = shape.quorum ?? coordinators.length > 0;
  return {
    at: iso(t0), settled: true, localDataCenter: 'dc1',
    nodes: addresses.map((address) => {
      const down = shape.down?.includes(address) ?? false;
      const broken = shape.brokenCanary?.includes(address) ?? false;
      return {
        address, hostId: address, dataCenter: shape.remote?.includes(address) ? 'dc2' : 'dc1', rack: 'r', releaseVersion: '5.0', schemaVersion: 'v',
        reachable: !down, breaker: down ? 'open' : 'closed', probeLatencyMs: 1, canCoordinateLocalQuorum: canaryOk(address), canaryStreak: canaryOk(address) ? 5 : -5, lists: addresses, replication: { dc1: 3 },
        storage: shape.diskUsage?.[address] === undefined ? null
          : { keyspaceBytes: null, loadBytes: null, diskUsage: shape.diskUsage[address], maxDiskSizeBytes: null, warnPercent: 90, failPercent: 98, diskFailurePolicy: 'stop' },
        local: !shape.remote?.includes(address), lastSuccess: iso(t0), lastError: down ? { code: 'NoHostAvailable', message: 'connect ECONNREFUSED', at: iso(t0) } : null,
        writesRefused: shape.writesRefused?.includes(address) ? { code: 'Invalid', message: guardrailRefusal, at: iso(t0) } : null,
        canaryError: broken ? { code: 'Unavailable', message: 'Cannot achieve consistency level LOCAL_QUORUM (2 required but only 1 alive)', at: iso(t0) } : null,
        unheardPeers: broken ? [{ address: '10.0.0.2', silentForSeconds: 12 }, { address: '10.0.0.3', silentForSeconds: 12 }] : null,
        reachableSince: down ? null : iso(shape.reachableSince?.[address] ?? t0 - 3_600_000),
        coordinatingSince: canaryOk(address) ? iso(shape.coordinatingSince?.[address] ?? shape.reachableSince?.[address] ?? t0 - 3_600_000) : null,
      };
    }),
    membershipAgreement: true, schemaAgreement: true,
    localQuorum: { available: quorum, replicationFactor: 3, required: 2, reachableLocalNodes: quorum ? 3 : 1, coordinators: quorum ? coordinators : [], why: quorum ? 'fine' : '1 of 3 nodes in dc1 reachable; LOCAL_QUORUM needs 2 of 3 replicas' },
    dataCenters: [],
    eachQuorumAvailable: shape.eachQuorum ?? quorum,
  };
}

/** Traffic over the 10 s before `now`: `perSecond` requests a second, `errors` of them failing (deletes: the same for DELETEs). */
function traffic(now: number, perSecond: { requests: number; errors: number; deletes?: number; deleteErrors?: number }, seconds = 10): ServiceSnapshot['traffic'] {
  const last = Math.floor(now / 1000);
  const list: TrafficSecond[] = Array.from({ length: seconds }, (_, i) => ({
    second: last - seconds + 1 + i, requests: perSecond.requests, storageErrors: perSecond.errors, deletes: perSecond.deletes ?? 0, deleteStorageErrors: perSecond.deleteErrors ?? 0,
  }));
  return { windowSeconds: 10, seconds: list };
}

const fullPool = { '10.0.0.1': 2, '10.0.0.2': 2, '10.0.0.3': 2 };
const stalePool = { '10.0.0.1': 2, '10.0.0.2': 0, '10.0.0.3': 2 };
/** `canaryFailures` canaries failed in a row, the last just now, one every 10 s before it. */
const service = (now: number, pool: Record<string, number> | null = fullPool, perSecond = { requests: 10, errors: 0 }, canaryFailures: number | null = 0, answering: boolean | null = true): ServiceSnapshot =>
  ({ answering, poolConnections: pool, traffic: traffic(now, perSecond), canaryFailures: canaryFailures === null ? null : Array.from({ length: canaryFailures }, (_, i) => now - (canaryFailures - 1 - i) * 10_000) });
/** What diagnose remembers after the pool has lacked these nodes since `since` (an hour by default). */
const lacking = (addresses: string[], since = t0 - 3_600_000): Memory => ({ ...emptyMemory, poolMissingSince: Object.fromEntries(addresses.map((a) => [a, since])) });

/** Runs diagnose at each time in turn, carrying the memory; views may depend on the time. */
function over(times: number[], view: (now: number) => ClusterView, snapshot: (now: number) => ServiceSnapshot, memory: Memory = emptyMemory): { verdict: Verdict; memory: Memory } {
  let result: { verdict: Verdict; memory: Memory } | undefined;
  for (const now of times) result = diagnose(view(now), snapshot(now), now, policy, result?.memory ?? memory);
  if (!result) throw new Error('no times');
  return result;
}
const ticks = (from: number, to: number): number[] => Array.from({ length: Math.floor((to - from) / 1000) + 1 }, (_, i) => from + i * 1000);

void t.test('healthy: nothing to do', (t) => {
  t.same(over([t0], () => cluster(), (now) => service(now)).verdict, { action: 'none', rule: null, findings: [], suppressed: null, brokenCoordinators: [], evidence: [] });
  t.end();
});

void t.test('stale pool: a node healthy past the grace that the service has not held for as long', (t) => {
  const first = over([t0], () => cluster(), (now) => service(now, stalePool), lacking(['10.0.0.2'])).verdict;
  t.equal(first.action, 'none', 'not at the first sight: hysteresis');
  t.match(first.findings, [{ rule: 'stale_pool', addresses: ['10.0.0.2'] }]);
  const sustained = over([t0, t0 + 2_000, t0 + 5_000], () => cluster(), (now) => service(now, stalePool), lacking(['10.0.0.2'])).verdict;
  t.match(sustained, { action: 'restart', rule: 'stale_pool' });
  t.match(sustained.evidence[0], /10\.0\.0\.2 has been a healthy coordinator for \d+ s and the service's pool has held 0 connections to it for \d+ s \(grace 75 s for both\)/);
  t.end();
});

void t.test('stale pool waits for the grace: a node back for 60 s is still the driver\'s to reconnect (gocql\'s 60 s ticker)', (t) => {
  const view = (): ClusterView => cluster({ reachableSince: { '10.0.0.2': t0 - 60_000 } });
  t.equal(over([t0, t0 + 6_000], view, (now) => service(now, stalePool), lacking(['10.0.0.2'])).verdict.findings.length, 0);
  t.equal(over([t0 + 20_000, t0 + 26_000], view, (now) => service(now, stalePool), lacking(['10.0.0.2'])).verdict.action, 'restart', 'but not forever');
  t.end();
});

void t.test('the grace counts from the pool\'s loss too: a driver that drops a node and takes it back within its reconnect interval is never restarted', (t) => {
  // A node healthy for an hour; the cluster flaps it DOWN and UP (as the peers' failure detectors do when T327954 heals),
  // the driver drops it at t0 and takes it back 14 s later (gocql: 10 s after the UP event).
  const pool = (now: number): Record<string, number> => (now < t0 + 14_000 ? stalePool : fullPool);
  let memory = emptyMemory;
  const actions = ticks(t0, t0 + 90_000).map((now) => {
    const result = diagnose(cluster(), service(now, pool(now)), now, policy, memory);
    memory = result.memory;
    return result.verdict.action;
  });
  t.same([...new Set(actions)], ['none'], 'no restart at any of the 91 ticks');
  t.same(memory.poolMissingSince, {}, 'nothing remembered once the pool holds it again');
  const lost = over(ticks(t0, t0 + 80_000), () => cluster(), (now) => service(now, stalePool)).verdict;
  t.match(lost, { action: 'restart', rule: 'stale_pool' }, 'a pool that lacks it for the grace and the sustain is stale');
  t.end();
});

void t.test('the grace counts from the node\'s return as a healthy coordinator: a broken coordinator just healed is the driver\'s to take back', (t) => {
  const healed = (): ClusterView => cluster({ coordinatingSince: { '10.0.0.2': t0 } });
  t.equal(over(ticks(t0, t0 + 60_000), healed, (now) => service(now, stalePool), lacking(['10.0.0.2'])).verdict.findings.length, 0,
    'reachable for an hour, but coordinating only since t0: no stale pool within the grace');
  t.match(over(ticks(t0, t0 + 81_000), healed, (now) => service(now, stalePool), lacking(['10.0.0.2'])).verdict, { action: 'restart', rule: 'stale_pool' }, 'after it, stale');
  t.end();
});

void t.test('a node replaced at a new address (a reimage): the old one forgotten, the new one the driver\'s to take within the grace', (t) => {
  // 10.0.0.2 is replaced by 10.0.0.4 at t0: the view has forgotten the old address (no node lists it) and coordinates through the new one since t0.
  const replaced = (): ClusterView => {
    const view = cluster();
    return { ...view, nodes: view.nodes.map((n) => (n.address === '10.0.0.2' ? { ...n, address: '10.0.0.4', hostId: '10.0.0.4', reachableSince: iso(t0), coordinatingSince: iso(t0) } : n)) };
  };
  // What the pool reading shows: the old address at 0 (the driver dropped it), the new one at 0 until the driver connects.
  const pool = (takenAt: number | null) => (now: number): Record<string, number> =>
    ({ '10.0.0.1': 2, '10.0.0.2': 0, '10.0.0.3': 2, '10.0.0.4': takenAt !== null && now >= takenAt ? 2 : 0 });
  let memory = emptyMemory;
  const actions = ticks(t0, t0 + 120_000).map((now) => {
    const result = diagnose(replaced(), service(now, pool(t0 + 10_000)(now)), now, policy, memory);
    memory = result.memory;
    return result.verdict.findings.map((f) => f.rule).join() || 'none';
  });
  t.same([...new Set(actions)], ['none'], 'the driver connects to the new node 10 s after it joined (gocql adds a NEW_NODE host at once): nothing at any of 121 ticks, and the forgotten address is never judged');
  const within = over(ticks(t0, t0 + 70_000), replaced, (now) => service(now, pool(null)(now))).verdict;
  t.same(within.findings, [], 'a driver that has not taken the new node yet is within its grace');
  const never = over(ticks(t0, t0 + 81_000), replaced, (now) => service(now, pool(null)(now))).verdict;
  t.match(never, { action: 'restart', rule: 'stale_pool', findings: [{ rule: 'stale_pool', addresses: ['10.0.0.4'] }] }, 'a driver that never takes it: a restart, for the new node alone');
  t.end();
});

void t.test('a service that does not answer (crash-looping, starting) is never judged: no stale pool, no false unavailability', (t) => {
  for (const answering of [false, null]) {
    const verdict = over(ticks(t0, t0 + 20_000), () => cluster(), (now) => service(now, { '10.0.0.1': 0, '10.0.0.2': 0, '10.0.0.3': 0 }, { requests: 10, errors: 10 }, 5, answering), lacking(['10.0.0.1', '10.0.0.2', '10.0.0.3'])).verdict;
    t.same(verdict.findings, [], `answering ${String(answering)}: no finding`);
    t.equal(verdict.action, 'none');
    t.match(verdict.evidence.join('\n'), answering === false ? /does not answer its health check/ : /has not answered its health check yet/, 'and the evidence says why');
  }
  t.end();
});

void t.test('one clean observation resets the hysteresis', (t) => {
  let { memory } = diagnose(cluster(), service(t0, stalePool), t0, policy, lacking(['10.0.0.2']));
  ({ memory } = diagnose(cluster(), service(t0 + 3_000, fullPool), t0 + 3_000, policy, memory));
  t.equal(diagnose(cluster(), service(t0 + 6_000, stalePool), t0 + 6_000, policy, memory).verdict.action, 'none', 'the condition must hold without a break');
  t.end();
});

void t.test('nodes of other data centers, unreachable nodes, and an unreadable pool never make a stale pool', (t) => {
  const quiet = (view: ClusterView, pool: Record<string, number> | null): number => over([t0, t0 + 6_000], () => view, (now) => service(now, pool)).verdict.findings.length;
  t.equal(quiet(cluster({ remote: ['10.1.0.1'] }), fullPool), 0, 'a remote node without connections');
  t.equal(quiet(cluster({ down: ['10.0.0.2'] }), stalePool), 0, 'a node the sidecar cannot reach either');
  t.equal(quiet(cluster(), null), 0, 'no /proc view');
  t.end();
});

void t.test('false unavailability: storage errors while LOCAL_QUORUM canaries succeed', (t) => {
  const verdict = over([t0, t0 + 5_000], () => cluster(), (now) => service(now, fullPool, { requests: 10, errors: 5 })).verdict;
  t.match(verdict, { action: 'restart', rule: 'false_unavailability' });
  t.match(verdict.evidence[0], /50 of 100 requests \(50%, threshold 20%\) failed with storage errors in the last 10 s, while LOCAL_QUORUM canaries succeed through 10\.0\.0\.1, 10\.0\.0\.2, 10\.0\.0\.3/);
  t.equal(over([t0, t0 + 5_000], () => cluster(), (now) => service(now, fullPool, { requests: 10, errors: 1 })).verdict.action, 'none', 'below the threshold');
  t.equal(over([t0, t0 + 5_000], () => cluster(), (now) => ({ ...service(now), traffic: traffic(now, { requests: 1, errors: 1 }, 5) })).verdict.action, 'none', 'too few requests to tell');
  t.end();
});

void t.test('thin traffic: two failed canaries through the service speak for it', (t) => {
  const thin = (failures: number, requests = 0) => (now: number): ServiceSnapshot => ({ ...service(now, fullPool, { requests, errors: 0 }, failures) });
  const verdict = over([t0, t0 + 5_000], () => cluster(), thin(2)).verdict;
  t.match(verdict, { action: 'restart', rule: 'false_unavailability' });
  t.match(verdict.evidence[0], /the last 2 canaries through the service failed \(only 0 requests in the last 10 s\)/);
  t.equal(over([t0, t0 + 5_000], () => cluster(), thin(1)).verdict.action, 'none', 'one failed canary is not enough');
  t.equal(over([t0, t0 + 5_000], () => cluster(), thin(5, 10)).verdict.action, 'none', 'plenty of successful traffic outweighs the canary');
  t.end();
});

void t.test('a local node going down or coming back: the failures around it are its own, not the service\'s', (t) => {
  // Node 2 stops at t0 + 10 s (seen by the probes then) and is back at t0 + 40 s; LOCAL_QUORUM holds throughout.
  const view = (now: number): ClusterView => (now >= t0 + 10_000 && now < t0 + 40_000 ? cluster({ down: ['10.0.0.2'], quorum: true }) : cluster());
  const thinCanaries = (failedAt: number[], pool = fullPool) => (now: number): ServiceSnapshot => ({ ...service(now, pool, { requests: 0, errors: 0 }), canaryFailures: failedAt.filter((at) => at <= now) });
  t.match(over(ticks(t0, t0 + 30_000), view, thinCanaries([t0 + 12_000, t0 + 22_000])).verdict, { action: 'none', findings: [] },
    'two canaries failed while the node went down: its in-flight requests, not a false unavailability');
  t.match(over(ticks(t0 + 40_000, t0 + 60_000), view, thinCanaries([t0 + 42_000, t0 + 52_000]), over(ticks(t0, t0 + 39_000), view, thinCanaries([])).memory).verdict, { action: 'none', findings: [] },
    'nor when it came back');
  // 40% of requests failing from the moment it goes down.
  const errorBurst = (now: number): ServiceSnapshot => service(now, fullPool, { requests: 10, errors: now >= t0 + 10_000 ? 4 : 0 });
  t.match(over(ticks(t0, t0 + 23_000), view, errorBurst).verdict, { action: 'none', findings: [] }, 'a burst of errors as it went down: explained');
  t.match(over(ticks(t0, t0 + 23_000), () => cluster(), errorBurst).verdict, { action: 'restart', rule: 'false_unavailability' }, 'the same burst with every node steady: the service\'s');
  const staysDown = (now: number): ClusterView => (now >= t0 + 10_000 ? cluster({ down: ['10.0.0.2'], quorum: true }) : cluster());
  // The service's pool without the node that is down, as a driver drops it.
  const stillFailing = thinCanaries([t0 + 12_000, t0 + 22_000, t0 + 32_000, t0 + 42_000, t0 + 52_000], stalePool);
  t.match(over(ticks(t0, t0 + 41_000), staysDown, stillFailing).verdict, { action: 'none' }, 'canaries that failed before the change settled do not count...');
  t.match(over(ticks(t0, t0 + 58_000), staysDown, stillFailing).verdict, { action: 'restart', rule: 'false_unavailability' },
    '...but a service that still fails once it has settled is judged: the canaries after it count');
  t.end();
});

void t.test('no local quorum for the sidecar either: suppressed, never a restart', (t) => {
  const verdict = over([t0, t0 + 60_000], () => cluster({ down: ['10.0.0.2', '10.0.0.3'], quorum: false }), (now) => service(now, stalePool, { requests: 10, errors: 10 })).verdict;
  t.equal(verdict.action, 'suppressed');
  t.match(verdict.suppressed, { reason: 'no_local_quorum', why: /the sidecar itself cannot reach LOCAL_QUORUM: 1 of 3 nodes in dc1 reachable/ });
  t.end();
});

void t.test('a broken coordinator (T327954): named at once, its errors explained, never a restart', (t) => {
  // One coordinator in three fails, as the service's round robin meets it.
  const view = (): ClusterView => cluster({ brokenCanary: ['10.0.0.1'] });
  const errors = (now: number): ServiceSnapshot => service(now, fullPool, { requests: 9, errors: 3 });
  const first = over([t0], view, errors).verdict;
  t.same(first.brokenCoordinators, ['10.0.0.1'], 'named at the first verdict, no sustain needed: it never restarts anything');
  const finding = first.findings.find((f) => f.rule === 'broken_coordinator');
  t.match(finding?.evidence, /10\.0\.0\.1 answers the sidecar's probes but cannot coordinate LOCAL_QUORUM \(Unavailable: Cannot achieve consistency level LOCAL_QUORUM \(2 required but only 1 alive\)\); its own gossip has not heard 10\.0\.0\.2 for 12 s, 10\.0\.0\.3 for 12 s; LOCAL_QUORUM succeeds through 10\.0\.0\.2, 10\.0\.0\.3\. A restart of the service cannot cure this/);
  const long = over(ticks(t0, t0 + 120_000), view, errors).verdict;
  t.equal(long.action, 'suppressed', 'after two minutes of 33% errors: still no restart');
  t.match(long.suppressed, { reason: 'broken_coordinator', why: /30 of 90 requests failed, and the coordinator 10\.0\.0\.1 explains them/ });
  t.notOk(long.findings.some((f) => f.rule === 'false_unavailability'), 'the errors it explains are not false unavailability');
  t.end();
});

void t.test('a full disk (2025-03-31): named from what Cassandra says, the write errors it explains never a restart', (t) => {
  // Node 3's disk passed the guardrail's failure threshold: every coordinator refuses the writes it would hold (40% of the traffic).
  const view = (): ClusterView => cluster({ diskUsage: { '10.0.0.1': 'SPACIOUS', '10.0.0.2': 'SPACIOUS', '10.0.0.3': 'FULL' }, writesRefused: ['10.0.0.1', '10.0.0.2', '10.0.0.3'] });
  const writesFail = (now: number): ServiceSnapshot => service(now, fullPool, { requests: 10, errors: 4 });
  const first = over([t0], view, writesFail).verdict;
  const finding = first.findings.find((f) => f.rule === 'disk_full');
  t.same(finding?.addresses, ['10.0.0.3'], 'the node, named at the first verdict');
  t.match(finding?.evidence, /10\.0\.0\.3 gossips its disk usage as FULL \(over the guardrail's failure threshold of 98%\).*writes refused through 10\.0\.0\.1, 10\.0\.0\.2, 10\.0\.0\.3: Guardrail replica_disk_usage violated.*cannot cure this.*never wipe its data directory/);
  t.same(first.brokenCoordinators, [], 'no coordinator is broken: each one proved itself with a read');
  const long = over(ticks(t0, t0 + 120_000), view, writesFail).verdict;
  t.equal(long.action, 'suppressed', 'after two minutes of 40% errors: still no restart');
  t.match(long.suppressed, { reason: 'disk_full', why: /40 of 100 requests failed, and a full disk on 10\.0\.0\.3 explains them/ });
  t.notOk(long.findings.some((f) => f.rule === 'false_unavailability'), 'the errors it explains are not false unavailability');
  t.end();
});

void t.test('a node stopped by its full disk (disk_failure_policy stop): named by its last word; writes refused with no node known full are named too', (t) => {
  const stopped = over([t0], () => cluster({ down: ['10.0.0.3'], diskUsage: { '10.0.0.3': 'STUFFED' } }), (now) => service(now)).verdict;
  t.match(stopped.findings.find((f) => f.rule === 'disk_full'), { addresses: ['10.0.0.3'], evidence: /10\.0\.0\.3 stopped answering \(NoHostAvailable\) after it said its disk usage was STUFFED; its disk_failure_policy \(stop\)/ });
  t.notOk(over([t0], () => cluster({ diskUsage: { '10.0.0.3': 'STUFFED' } }), (now) => service(now)).verdict.findings.length, 'STUFFED while it answers: the alerts speak, not the verdict');
  t.notOk(over([t0], () => cluster({ down: ['10.0.0.3'], diskUsage: { '10.0.0.3': 'SPACIOUS' } }), (now) => service(now)).verdict.findings.length, 'a node down with room on its disk is no full disk');
  // A remote data center's full node: the guardrail refuses the write here too, and names no local node.
  const remote = over([t0], () => cluster({ writesRefused: ['10.0.0.1'] }), (now) => service(now)).verdict;
  t.match(remote.findings.find((f) => f.rule === 'disk_full'), { addresses: [], evidence: /^writes refused through 10\.0\.0\.1: Guardrail replica_disk_usage violated/ });
  t.end();
});

void t.test('a node back from a reboot that the service took back before the sidecar judged it: its errors wait for the sidecar\'s verdict', (t) => {
  // The service's driver reconnected to 10.0.0.1 at once; the sidecar's breaker for it is still open.
  const errors = (pool: Record<string, number>) => (now: number): ServiceSnapshot => service(now, pool, { requests: 9, errors: 3 });
  const unreachable = over(ticks(t0, t0 + 10_000), () => cluster({ down: ['10.0.0.1'] }), errors(fullPool)).verdict;
  t.equal(unreachable.action, 'none', 'no restart while the node the service uses is unjudged');
  t.notOk(unreachable.findings.some((f) => f.rule === 'false_unavailability'));
  t.match(unreachable.evidence.join('\n'), /not yet false unavailability: 30 of 90 requests .*the service holds connections to 10\.0\.0\.1, which the sidecar cannot judge yet/);
  const noCanaryYet = (): ClusterView => {
    const view = cluster();
    return { ...view, nodes: view.nodes.map((n) => (n.address === '10.0.0.1' ? { ...n, canCoordinateLocalQuorum: null } : n)) };
  };
  t.equal(over(ticks(t0, t0 + 10_000), noCanaryYet, errors(fullPool)).verdict.action, 'none', 'nor while it answers but its canary has not run yet');
  // Then the sidecar's verdict: it cannot coordinate. Its errors, from before the verdict too, are Cassandra's.
  const judged = over(ticks(t0 + 11_000, t0 + 30_000), () => cluster({ brokenCanary: ['10.0.0.1'] }), errors(fullPool),
    over(ticks(t0, t0 + 10_000), () => cluster({ down: ['10.0.0.1'] }), errors(fullPool)).memory).verdict;
  t.match(judged, { action: 'suppressed', suppressed: { reason: 'broken_coordinator' }, brokenCoordinators: ['10.0.0.1'] });
  // A node the service does not use holds nothing back.
  const withoutIt = { '10.0.0.1': 0, '10.0.0.2': 2, '10.0.0.3': 2 };
  t.match(over(ticks(t0, t0 + 10_000), () => cluster({ down: ['10.0.0.1'] }), errors(withoutIt)).verdict, { action: 'restart', rule: 'false_unavailability' });
  t.end();
});

void t.test('a broken coordinator the service rightly does not hold is no stale pool', (t) => {
  const pool = { '10.0.0.1': 0, '10.0.0.2': 2, '10.0.0.3': 2 };
  const verdict = over(ticks(t0, t0 + 10_000), () => cluster({ brokenCanary: ['10.0.0.1'] }), (now) => service(now, pool)).verdict;
  t.notOk(verdict.findings.some((f) => f.rule === 'stale_pool'));
  t.not(verdict.action, 'restart');
  t.end();
});

void t.test('a broken coordinator does not excuse a stale pool of another node', (t) => {
  const pool = { '10.0.0.1': 2, '10.0.0.2': 2, '10.0.0.3': 0 };
  t.match(over(ticks(t0, t0 + 6_000), () => cluster({ brokenCanary: ['10.0.0.1'] }), (now) => service(now, pool), lacking(['10.0.0.3'])).verdict, { action: 'restart', rule: 'stale_pool' });
  t.end();
});

void t.test('a coordinator whose canary fails while none succeeds is no broken coordinator: that is no quorum', (t) => {
  const verdict = over([t0], () => cluster({ brokenCanary: ['10.0.0.1', '10.0.0.2', '10.0.0.3'], quorum: false }), (now) => service(now)).verdict;
  t.same(verdict.brokenCoordinators, []);
  t.equal(verdict.suppressed?.reason, 'no_local_quorum');
  t.end();
});

void t.test('after a real outage ends, the errors it left in the window never call for a restart', (t) => {
  // 60 s without quorum, every request failing; then quorum is back and the service answers again.
  const outageEnds = t0 + 60_000;
  const view = (now: number): ClusterView => (now < outageEnds ? cluster({ down: ['10.0.0.2', '10.0.0.3'], quorum: false }) : cluster());
  const snapshot = (now: number): ServiceSnapshot => {
    const seconds = traffic(now, { requests: 10, errors: 0 }).seconds.map((s) => ({ ...s, storageErrors: s.second * 1000 < outageEnds ? 10 : 0 }));
    return { ...service(now), traffic: { windowSeconds: 10, seconds } };
  };
  let memory = emptyMemory;
  const actions = new Set<string>();
  for (const now of ticks(t0, outageEnds + 30_000)) {
    const result = diagnose(view(now), snapshot(now), now, policy, memory);
    memory = result.memory;
    actions.add(result.verdict.action);
    if (now === outageEnds + 1_000) t.match(result.verdict.evidence.at(-1), /storage errors in the last 10 s fall within Cassandra's own fault/, 'the evidence says why they do not count');
  }
  t.same([...actions].sort(), ['none', 'suppressed'], 'suppressed during, nothing after: never a restart');
  t.end();
});

void t.test('...but a divergence after the outage is still found, once the outage\'s shadow has passed', (t) => {
  // A 4 s blip without quorum, then the service keeps failing while Cassandra is fine.
  const blipEnds = t0 + 4_000;
  const view = (now: number): ClusterView => (now < blipEnds ? cluster({ down: ['10.0.0.2', '10.0.0.3'], quorum: false }) : cluster());
  let memory = emptyMemory;
  let restartAt: number | null = null;
  for (const now of ticks(t0, t0 + 60_000)) {
    const result = diagnose(view(now), service(now, fullPool, { requests: 10, errors: 10 }), now, policy, memory);
    memory = result.memory;
    if (result.verdict.action === 'restart') {
      restartAt = now;
      break;
    }
  }
  // The blip explains errors until lag (6 s) + its length (4 s) after it, and the nodes' return until lag + 15 s (a
  // driver noticing them), which then leave a 10 s window; then 5 s of sustain.
  t.ok(restartAt !== null && restartAt - blipEnds <= 6_000 + 15_000 + 10_000 + 5_000 + 1_000, `detected ${restartAt === null ? 'never' : `${(restartAt - blipEnds) / 1000} s`} after the blip (a long outage would cover up to the 75 s grace)`);
  t.end();
});

void t.test('EACH_QUORUM: deletes that fail because a remote data center lacks quorum are not the service\'s doing', (t) => {
  const deletesFailing = (now: number): ServiceSnapshot => ({ ...service(now), traffic: traffic(now, { requests: 5, errors: 0, deletes: 5, deleteErrors: 5 }) });
  const remoteDown = over(ticks(t0, t0 + 30_000), () => cluster({ remote: ['10.1.0.1'], eachQuorum: false }), deletesFailing).verdict;
  t.equal(remoteDown.action, 'none', 'a remote data center without quorum explains failed deletes');
  t.notOk(remoteDown.findings.some((f) => f.rule === 'false_unavailability'));
  const remoteFine = over(ticks(t0, t0 + 30_000), () => cluster({ remote: ['10.1.0.1'], eachQuorum: true }), deletesFailing).verdict;
  t.match(remoteFine, { action: 'restart', rule: 'false_unavailability' }, 'with every data center at quorum, failing deletes are the service\'s');
  const readsFailing = (now: number): ServiceSnapshot => ({ ...service(now), traffic: traffic(now, { requests: 5, errors: 5, deletes: 5, deleteErrors: 0 }) });
  t.match(over(ticks(t0, t0 + 30_000), () => cluster({ remote: ['10.1.0.1'], eachQuorum: false }), readsFailing).verdict, { action: 'restart' }, 'a remote data center explains no failed reads or writes (LOCAL_QUORUM)');
  t.end();
});

void t.test('memory keeps only the fault periods a window can still reach', (t) => {
  const view = (now: number): ClusterView => (now < t0 + 2_000 ? cluster({ quorum: false, down: ['10.0.0.2', '10.0.0.3'] }) : cluster());
  const during = over(ticks(t0, t0 + 3_000), view, (now) => service(now)).memory;
  t.match(during.faults, [{ kind: 'no_local_quorum', from: t0, to: t0 + 2_000 }, { kind: 'no_each_quorum', from: t0, to: t0 + 2_000 }]);
  const later = over(ticks(t0, t0 + 60_000), view, (now) => service(now)).memory;
  t.same(later.faults, [], 'forgotten once no window can reach them');
  t.end();
});
