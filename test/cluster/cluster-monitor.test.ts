// The sidecar's cluster view against the real three-node cluster: discovery, and
// detection and recovery bounds (in probe intervals) for stopped, paused and
// restarted nodes. Every test leaves the cluster as it found it.
import { statfsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import type { ClusterMonitor } from '../../src/cluster/cluster-monitor.ts';
import type { ClusterView } from '../../src/cluster/view.ts';
import type { Registry } from '../../src/telemetry/metrics.ts';
import { paths } from '../../lab/cluster/layout.ts';
import { adminCredentials, killNode, pauseNode, resumeNode, startNode, stopNode, type NodeNumber } from '../../lab/cluster/cluster.ts';
import { restoreClusterAfter } from '../support/restore-cluster.ts';
import { metric, startTestMonitor, waitFor } from '../support/monitor.ts';

const intervalMs = 1000;
const probe = { interval_ms: intervalMs, timeout_ms: 800, reset_timeout_ms: intervalMs, failure_threshold: 2 };
const address = (n: NodeNumber): string => `127.0.0.${n}`;

restoreClusterAfter(t);

async function startMonitor(t: Test) {
  const started = await startTestMonitor(t, { contact_points: ['127.0.0.1'], ...adminCredentials(), probe });
  await waitFor(started.monitor, (v) => v.nodes.length === 3 && v.nodes.every((n) => n.reachable && n.canCoordinateLocalQuorum === true) && v.localQuorum.available, 15_000);
  return started;
}

const nodeOf = (view: ClusterView, n: NodeNumber) => view.nodes.find((node) => node.address === address(n));

/** Records the latest probe latency and last success of the given nodes while `during` runs. */
async function watchOthers(monitor: ClusterMonitor, others: NodeNumber[], during: () => Promise<void>): Promise<{ maxLatencyMs: number; maxGapMs: number; alwaysReachable: boolean; errors: string[] }> {
  let maxLatencyMs = 0;
  let alwaysReachable = true;
  const errors = new Set<string>();
  const lastSuccess = new Map<NodeNumber, number>(others.map((n) => [n, Date.now()]));
  let maxGapMs = 0;
  const state = { watching: true };
  const watcher = (async () => {
    while (state.watching) {
      const view = monitor.view();
      for (const n of others) {
        const node = nodeOf(view, n);
        alwaysReachable &&= node?.reachable === true;
        if (node?.reachable !== true) errors.add(`node ${n}: ${node?.lastError?.code ?? '?'} ${node?.lastError?.message ?? ''}`);
        maxLatencyMs = Math.max(maxLatencyMs, node?.probeLatencyMs ?? 0);
        const success = Date.parse(node?.lastSuccess ?? '');
        if (success > (lastSuccess.get(n) ?? 0)) lastSuccess.set(n, success);
        maxGapMs = Math.max(maxGapMs, Date.now() - (lastSuccess.get(n) ?? 0));
      }
      await sleep(50);
    }
  })();
  await during();
  state.watching = false;
  await watcher;
  return { maxLatencyMs, maxGapMs, alwaysReachable, errors: [...errors] };
}

/** Waits until the nodes' probes succeed every interval, well within the timeout, for 3 intervals in a row. */
async function waitForSteadyProbes(monitor: ClusterMonitor, nodes: NodeNumber[], limitMs: number): Promise<void> {
  const began = Date.now();
  for (;;) {
    const baseline = await watchOthers(monitor, nodes, () => sleep(3 * intervalMs));
    if (baseline.alwaysReachable && baseline.maxGapMs <= intervalMs + 500 && baseline.maxLatencyMs < probe.timeout_ms / 2) return;
    if (Date.now() - began > limitMs) throw new Error(`probes not steady within ${limitMs} ms: ${JSON.stringify(baseline)}`);
  }
}

void t.test('one contact point: all three nodes discovered with their identity', async (t) => {
  const { monitor, registry, logLines } = await startMonitor(t);
  const quorumLines = logLines().filter((l) => String(l.msg).startsWith('LOCAL_QUORUM'));
  t.same(quorumLines.map((l) => [l.level, String(l.msg).split(':')[0]]), [['info', 'LOCAL_QUORUM is achievable in dc1']], 'one line at start, and no warning before the first probes answered');
  const view = monitor.view();
  t.same(view.nodes.map((n) => [n.address, n.dataCenter, n.rack, n.local]), [
    ['127.0.0.1', 'dc1', 'r1', true], ['127.0.0.2', 'dc1', 'r2', true], ['127.0.0.3', 'dc1', 'r3', true],
  ]);
  t.ok(view.nodes.every((n) => n.hostId && n.releaseVersion?.startsWith('5.0') && n.canCoordinateLocalQuorum), 'host ids, versions, canaries');
  t.ok(view.membershipAgreement && view.schemaAgreement, 'agreement');
  t.equal(view.localQuorum.replicationFactor, 3);
  t.equal(await metric(registry, 'sessionstore_sidecar_cassandra_node_up', { address: '127.0.0.2', dc: 'dc1', rack: 'r2' }), 1);
  t.equal(await metric(registry, 'sessionstore_sidecar_local_quorum_available'), 1);
});

void t.test('each node\'s storage, as the node itself says: its load, the session keyspace\'s bytes, the disk usage guardrail', async (t) => {
  const { monitor, registry } = await startMonitor(t);
  // Read beside each node's first probe.
  await waitFor(monitor, (v) => v.nodes.every((n) => n.storage !== null), 5_000);
  // The lab runs the guardrail as production should (lab/cluster/node-files.ts): its disk is this machine's.
  const { blocks, bsize } = statfsSync(paths.cluster);
  const disk = Math.floor((blocks * bsize) / 2 ** 20) * 2 ** 20;
  for (const node of monitor.view().nodes) {
    const { storage } = node;
    t.ok(storage && storage.loadBytes !== null && storage.loadBytes > 0, `${node.address}: its load (${storage?.loadBytes ?? 'none'} bytes)`);
    t.ok(storage && storage.keyspaceBytes !== null && storage.keyspaceBytes >= 0, `${node.address}: the session keyspace's bytes (${storage?.keyspaceBytes ?? 'none'})`);
    t.match(storage, { diskUsage: 'SPACIOUS', maxDiskSizeBytes: disk, warnPercent: 90, failPercent: 98, diskFailurePolicy: 'stop' }, `${node.address}: the guardrail's state and settings`);
    t.equal(await metric(registry, 'sessionstore_sidecar_cassandra_node_load_bytes', { address: node.address }), storage?.loadBytes, 'exported');
    t.equal(await metric(registry, 'sessionstore_sidecar_cassandra_node_disk_capacity_bytes', { address: node.address }), disk);
    t.equal(await metric(registry, 'sessionstore_sidecar_cassandra_node_disk_usage_state', { address: node.address, state: 'spacious' }), 1);
    t.equal(await metric(registry, 'sessionstore_sidecar_cassandra_node_disk_usage_state', { address: node.address, state: 'full' }), 0);
  }
});

void t.test('contact point names: one that does not resolve is reported and looked up again; the rest discover the cluster', async (t) => {
  const { monitor, logLines } = await startTestMonitor(t, { contact_points: ['cassandra.invalid', '127.0.0.1'], resolve_interval_ms: 200, ...adminCredentials(), probe });
  await waitFor(monitor, (v) => v.nodes.length === 3 && v.nodes.every((n) => n.reachable), 15_000);
  t.match(monitor.contactPoints(), [{ name: 'cassandra.invalid', addresses: [], error: /ENOTFOUND/ }, { name: '127.0.0.1', addresses: ['127.0.0.1'], error: null }]);
  t.equal(logLines().filter((l) => l.contact_point === 'cassandra.invalid').length, 1, 'logged once, not at every lookup');

  // A name whose DNS record appears later, then moves: a fake resolver stands in for DNS.
  let record: string[] | null = null;
  const later = await startTestMonitor(t, { contact_points: ['cassandra.test'], resolve_interval_ms: 200, ...adminCredentials(), probe }, (name) =>
    record === null ? Promise.reject(new Error(`getaddrinfo ENOTFOUND ${name}`)) : Promise.resolve(record));
  t.same(later.monitor.view().nodes, [], 'nothing to probe yet');
  await sleep(500);
  // A sidecar that knows no node knows nothing of LOCAL_QUORUM: a 0 would page for an outage nobody saw.
  t.equal(later.monitor.view().settled, false, 'nothing known: the view is not settled');
  t.equal(await metric(later.registry, 'sessionstore_sidecar_local_quorum_available'), undefined, 'no LOCAL_QUORUM series while nothing is known');
  t.equal(await metric(later.registry, 'sessionstore_sidecar_contact_point_resolved', { contact_point: 'cassandra.test' }), 0, 'the failed lookup is a series');
  t.notOk(later.logLines().some((l) => String(l.msg).startsWith('LOCAL_QUORUM')), 'and no LOCAL_QUORUM line');
  record = ['127.0.0.2'];
  const discoveredMs = await waitFor(later.monitor, (v) => v.nodes.length === 3 && v.nodes.every((n) => n.reachable), 15_000);
  t.equal(await metric(later.registry, 'sessionstore_sidecar_contact_point_resolved', { contact_point: 'cassandra.test' }), 1);
  await waitFor(later.monitor, (v) => v.settled, 5000);
  t.equal(await metric(later.registry, 'sessionstore_sidecar_local_quorum_available'), 1, 'known once every node answered');
  // Expected: the next lookup (200 ms), a probe of the contact point, then a probe of each node it lists (1 s apart at most).
  t.ok(discoveredMs <= 2 * 200 + 2 * intervalMs + 1000, `the cluster discovered ${discoveredMs} ms after the name resolved (bound: 2 lookups + 2 probe intervals + 1 s)`);
  record = ['127.0.0.3'];
  await sleep(500);
  t.same(later.monitor.contactPoints(), [{ name: 'cassandra.test', addresses: ['127.0.0.3'], error: null }], 'the new address is followed');
  t.ok(later.logLines().some((l) => l.msg === 'contact point resolved' && String(l.addresses) === '127.0.0.3'), 'and logged');
});

void t.test('node 3 paused: timeouts open its breaker without slowing the other probes; resumed, it comes back', async (t) => {
  const { monitor } = await startMonitor(t);
  // The baseline first: on a small machine a node's warm-up (JIT, compactions) can
  // stall its probes, and that is not what this test measures.
  await waitForSteadyProbes(monitor, [1, 2, 3], 30_000);
  let openMs = 0;
  const others = await watchOthers(monitor, [1, 2], async () => {
    const paused = Date.now();
    pauseNode(3);
    await waitFor(monitor, (v) => nodeOf(v, 3)?.breaker === 'open', 4 * intervalMs + 2000);
    openMs = Date.now() - paused;
    // Stay paused a while: the other probes must keep their pace.
    await sleep(3 * intervalMs);
  });
  t.ok(openMs <= 4 * intervalMs, `breaker opened within 4 probe intervals (${openMs} ms)`);
  t.match(nodeOf(monitor.view(), 3)?.lastError?.code, /ProbeTimeout|OperationTimedOut|NoHostAvailable/, 'the evidence is a timeout');
  t.ok(others.alwaysReachable, `nodes 1 and 2 stayed up ${others.errors.join('; ')}`);
  t.ok(others.maxGapMs <= 2 * intervalMs + 500, `their probes kept succeeding every interval (largest gap ${others.maxGapMs} ms)`);
  // Below the timeout is what the breaker guarantees anyway; below half of it means they were not slowed down.
  t.ok(others.maxLatencyMs < probe.timeout_ms / 2, `and kept their latency (max ${others.maxLatencyMs} ms; bound: half the ${probe.timeout_ms} ms timeout)`);
  resumeNode(3);
  const back = await waitFor(monitor, (v) => nodeOf(v, 3)?.reachable === true && nodeOf(v, 3)?.breaker === 'closed', 10_000);
  // Expected: the breaker's next half-open probe, at most reset_timeout away, on a fresh connection.
  t.ok(back <= probe.reset_timeout_ms + intervalMs + 1000, `node 3 is back ${back} ms after resuming (bound: reset timeout + a probe interval + 1 s)`);
});

void t.test('node 2 stopped and started again', async (t) => {
  const { monitor, registry, logLines } = await startMonitor(t);
  await waitForSteadyProbes(monitor, [1, 2, 3], 30_000);
  let fromSignalMs = 0;
  let afterExitMs = 0;
  let openAfterExitMs = 0;
  const others = await watchOthers(monitor, [1, 3], async () => {
    const signalled = Date.now();
    // A clean stop drains for a few seconds; the bound counts from the moment the node is gone.
    await stopNode(2);
    const exited = Date.now();
    await waitFor(monitor, (v) => nodeOf(v, 2)?.reachable === false, 3 * intervalMs + 2000);
    fromSignalMs = Date.now() - signalled;
    afterExitMs = Date.now() - exited;
    await waitFor(monitor, (v) => nodeOf(v, 2)?.breaker === 'open', 3 * intervalMs + 2000);
    openAfterExitMs = Date.now() - exited;
  });
  t.ok(afterExitMs <= 3 * intervalMs, `node_up fell to 0 within 3 probe intervals of the node stopping (${afterExitMs} ms after it exited, ${fromSignalMs} ms after SIGTERM)`);
  t.ok(openAfterExitMs <= 3 * intervalMs, `its breaker opened within 3 probe intervals (${openAfterExitMs} ms after it exited)`);
  t.equal(await metric(registry, 'sessionstore_sidecar_cassandra_node_up', { address: '127.0.0.2' }), 0);
  // While the node stays down its breaker goes half-open every reset_timeout for one trial probe, and open again.
  const breakerState = await metric(registry, 'sessionstore_sidecar_coordinator_breaker_state', { address: '127.0.0.2' });
  t.ok(breakerState === 1 || breakerState === 2, `its breaker series says open (2) or half-open (1), not closed: ${breakerState}`);
  t.ok(others.alwaysReachable, 'nodes 1 and 3 stayed up');
  t.ok(others.maxLatencyMs < probe.timeout_ms / 2, `their probes kept their latency (max ${others.maxLatencyMs} ms; bound: half the ${probe.timeout_ms} ms timeout)`);
  t.ok(logLines().some((l) => l.address === '127.0.0.2' && String(l.msg).startsWith('node is unreachable')), 'one log line says node 2 is unreachable and why');
  // A node that stays down: its breaker half-opens and opens again every reset_timeout, at debug level only.
  const before = logLines().length;
  await sleep(5 * probe.reset_timeout_ms);
  t.same(logLines().slice(before).filter((l) => l.address === '127.0.0.2').map((l) => l.msg), [], `nothing logged about node 2 while it stays down for ${5 * probe.reset_timeout_ms} ms`);

  await expectRecovery(t, monitor, registry, 2);
});

/**
 * Starts the node and asserts node_up is 1 within 2 probe intervals of it answering
 * CQL. Measured from the node's side (when it first answered a query, to the harness's
 * 250 ms poll) to the sidecar's (when its probe first succeeded: reachableSince), not
 * from the harness's wait for the other nodes to see it up.
 */
async function expectRecovery(t: Test, monitor: ClusterMonitor, registry: Registry, n: NodeNumber): Promise<void> {
  const timing = await startNode(n);
  const answeredAt = Date.now() - (timing.seenUpMs - timing.cqlMs);
  await waitFor(monitor, (v) => nodeOf(v, n)?.reachable === true, 2 * intervalMs + 2000);
  const recoveredMs = Date.parse(nodeOf(monitor.view(), n)?.reachableSince ?? '') - answeredAt;
  t.ok(recoveredMs <= 2 * intervalMs, `node_up is 1 within 2 probe intervals of node ${n} answering CQL (${recoveredMs} ms; the node's own answer is seen by a 250 ms poll)`);
  await waitFor(monitor, (v) => nodeOf(v, n)?.breaker === 'closed', 2000);
  t.equal(await metric(registry, 'sessionstore_sidecar_cassandra_node_up', { address: address(n) }), 1);
}

void t.test('node 2 killed (SIGKILL) and started again', async (t) => {
  const { monitor, registry } = await startMonitor(t);
  const killed = Date.now();
  await killNode(2);
  await waitFor(monitor, (v) => nodeOf(v, 2)?.reachable === false, 3 * intervalMs + 2000);
  const detectedMs = Date.now() - killed;
  await waitFor(monitor, (v) => nodeOf(v, 2)?.breaker === 'open', 3 * intervalMs + 2000);
  const openMs = Date.now() - killed;
  t.ok(detectedMs <= 3 * intervalMs, `node_up fell to 0 within 3 probe intervals of SIGKILL (${detectedMs} ms)`);
  t.ok(openMs <= 3 * intervalMs, `its breaker opened within 3 probe intervals (${openMs} ms)`);
  await expectRecovery(t, monitor, registry, 2);
});

void t.test('two nodes down: no local quorum, the survivor reports Unavailable; all back: green', async (t) => {
  const { monitor, registry } = await startMonitor(t);
  await Promise.all([stopNode(2), stopNode(3)]);
  await waitFor(monitor, (v) => !v.localQuorum.available, 3 * intervalMs + 2000);
  t.equal(await metric(registry, 'sessionstore_sidecar_local_quorum_available'), 0);
  await waitFor(monitor, (v) => nodeOf(v, 1)?.canaryError?.code === 'Unavailable', 3 * intervalMs + 2000);
  const survivor = nodeOf(monitor.view(), 1);
  t.equal(survivor?.reachable, true, 'node 1 itself is reachable');
  t.equal(survivor?.canCoordinateLocalQuorum, false, 'but cannot coordinate LOCAL_QUORUM');
  t.equal(survivor?.canaryError?.message, 'Cannot achieve consistency level LOCAL_QUORUM (2 required but only 1 alive)', "in Cassandra's own words, with its count of live replicas");
  t.equal(await metric(registry, 'sessionstore_sidecar_coordinator_can_achieve_local_quorum', { address: '127.0.0.1' }), 0, 'per node: it cannot');
  t.match(monitor.view().localQuorum.why, /1 of 3 nodes in dc1 reachable/);

  await Promise.all([startNode(2), startNode(3)]);
  await waitFor(monitor, (v) => v.localQuorum.available && v.nodes.every((n) => n.reachable && n.canCoordinateLocalQuorum && n.breaker === 'closed'), 4 * intervalMs + 2000);
  t.equal(await metric(registry, 'sessionstore_sidecar_local_quorum_available'), 1);
  t.equal(await metric(registry, 'sessionstore_sidecar_membership_agreement'), 1);
  t.equal(await metric(registry, 'sessionstore_sidecar_schema_agreement'), 1);
});

void t.test('probe cost with the default settings: a few queries per second per node', async (t) => {
  const { monitor, registry } = await startTestMonitor(t, { contact_points: ['127.0.0.1'], ...adminCredentials() });
  await waitFor(monitor, (v) => v.nodes.length === 3 && v.nodes.every((n) => n.reachable), 15_000);
  const counts = async (): Promise<number[]> => Promise.all([1, 2, 3].map(async (n) => (await metric(registry, 'sessionstore_sidecar_probe_queries_total', { address: address(n as NodeNumber) })) ?? 0));
  const before = await counts();
  const seconds = 8;
  await sleep(seconds * 1000);
  const perSecond = (await counts()).map((count, i) => (count - (before[i] ?? 0)) / seconds);
  t.ok(perSecond.every((q) => q > 0 && q <= 3), `queries per second per node as coordinator: ${perSecond.map((q) => q.toFixed(2)).join(', ')}`);
});

void t.test('metric series follow the live view: a node first seen unreachable, then forgotten, leaves no series behind', async (t) => {
  // A contact point name whose record first points where no Cassandra listens, then moves to node 1.
  let record = ['127.0.0.9'];
  const { monitor, registry } = await startTestMonitor(t, {
    contact_points: ['cassandra.test'], resolve_interval_ms: 200, ...adminCredentials(), probe: { ...probe, forget_after_ms: 1500 },
  }, () => Promise.resolve(record));
  /** Every series labelled with an address, as "metric address dc rack". */
  const seriesByAddress = async (): Promise<string[]> => (await registry.getMetricsAsJSON())
    .flatMap((m) => m.values.filter((v) => v.labels.address !== undefined).map((v) => `${m.name} ${String(v.labels.address)} ${String(v.labels.dc ?? '')} ${String(v.labels.rack ?? '')}`));
  await waitFor(monitor, (v) => v.nodes.some((n) => n.address === '127.0.0.9' && n.lastError !== null), 10_000);
  t.ok((await seriesByAddress()).some((s) => s.startsWith('sessionstore_sidecar_cassandra_node_up 127.0.0.9 unknown unknown')), 'an unreachable node: its series, data center unknown');
  record = ['127.0.0.1'];
  await waitFor(monitor, (v) => v.nodes.length === 3 && v.nodes.every((n) => n.reachable && n.canCoordinateLocalQuorum === true), 20_000);
  const view = monitor.view();
  const live = new Map(view.nodes.map((n) => [n.address, `${n.dataCenter ?? ''} ${n.rack ?? ''}`]));
  const series = await seriesByAddress();
  t.same(series.filter((s) => !live.has(s.split(' ')[1] ?? '')), [], 'no series of a node the view forgot');
  const gauges = series.filter((s) => /_(cassandra_node_up|coordinator_can_achieve_local_quorum) /.test(s));
  t.ok(gauges.length >= 6, `${gauges.length} per-node gauges`);
  t.same(gauges.filter((s) => { const [, address = '', dc, rack] = s.split(' '); return live.get(address) !== `${dc} ${rack}`; }), [], 'every per-node gauge carries the node\'s live data center and rack, and no "unknown" left over');
});
