// The role production gives the sidecar (k8s/cassandra/sidecar-role.cql), applied to
// the real cluster as an operator would: the sidecar works with it (every canary, each
// node's storage, the fleet lease), and it can neither read nor write a session. And,
// since Cassandra's disk usage guardrail spares superusers, what an ordinary role sees
// when a node's disk is full.
import { randomBytes } from 'node:crypto';
import cassandra from 'cassandra-driver';
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { authProvider, heal, localNode, queryNode } from '../../lab/cluster/cluster.ts';
import { overfillDisk } from '../../lab/cluster/faults.ts';
import { sidecarRole, sidecarRoleName } from '../../lab/cluster/sidecar-schema.ts';
import { consistencies } from '../../src/cluster/coordinator-client.ts';
import type { ClusterView } from '../../src/cluster/view.ts';
import { parseConfig } from '../../src/config/load.ts';
import { diagnosePolicy, judge } from '../../src/reconcile/reconciler.ts';
import { emptyMemory, type Memory, type Verdict } from '../../src/reconcile/diagnose.ts';
import { FleetLease } from '../../src/remediate/lease.ts';
import { startTestMonitor, waitFor } from '../support/monitor.ts';

const role = { username: sidecarRoleName, password: `pw-${randomBytes(12).toString('hex')}` };
const asSidecar = (statement: string, params: unknown[] = []): Promise<cassandra.types.ResultSet> =>
  queryNode(localNode(1), statement, params, consistencies.localQuorum, 10_000, role);

t.before(async () => {
  for (const statement of sidecarRole(role.password)) await queryNode(localNode(1), statement, [], consistencies.localQuorum, 10_000);
});
t.teardown(() => queryNode(localNode(1), `DROP ROLE IF EXISTS ${sidecarRoleName}`, [], consistencies.localQuorum, 10_000));

void t.test('with exactly the shipped grants, every node is probed and every canary proves LOCAL_QUORUM', async (t) => {
  const { monitor } = await startTestMonitor(t, { contact_points: ['127.0.0.1'], ...role, probe: { interval_ms: 1000, timeout_ms: 2000 } });
  // Each node's storage is read beside its first probe.
  await waitFor(monitor, (v) => v.nodes.length === 3 && v.nodes.every((n) => n.reachable && n.canCoordinateLocalQuorum === true && n.storage !== null), 20_000);
  t.same(monitor.view().nodes.map((n) => n.canaryError), [null, null, null], 'no canary was refused');
  t.ok(monitor.view().localQuorum.available);
  // The virtual tables need no grant: every node's storage is read with the role as it is.
  t.ok(monitor.view().nodes.every((n) => n.storage?.loadBytes && n.storage.keyspaceBytes !== null && n.storage.diskUsage === 'SPACIOUS'), 'each node\'s storage is read');
});

void t.test('the fleet lease works with the role', async (t) => {
  const client = new cassandra.Client({ contactPoints: ['127.0.0.1'], localDataCenter: 'dc1', authProvider: authProvider(role) });
  t.teardown(() => client.shutdown());
  const sidecarOfPodA = (pid: number): FleetLease => new FleetLease(client, { keyspace: 'sessions', scope: `role-test-${process.pid}`, pod: 'pod-a', pid, ttlSeconds: 30 });
  const lease = sidecarOfPodA(1);
  t.same(await lease.acquire(), { acquired: true, holder: 'pod-a:1' });
  await lease.release();
  t.same(await lease.acquire(), { acquired: true, holder: 'pod-a:1' }, 'released, and taken again');
  const next = sidecarOfPodA(2);
  t.same(await next.acquire(), { acquired: true, holder: 'pod-a:2', tookOverFrom: 'pod-a:1' }, 'taken over by the pod\'s next sidecar');
  await next.release();
});

void t.test('no session can be read or written with the sidecar\'s credentials', async (t) => {
  await t.rejects(asSidecar('SELECT value FROM sessions.values WHERE key = ?', ['any-session']), { message: /has no SELECT permission on <table sessions\.values>/ });
  await t.rejects(asSidecar('INSERT INTO sessions.values (key, value) VALUES (?, ?)', ['any-session', Buffer.from('x')]), { message: /has no MODIFY permission on <table sessions\.values>/ });
  await t.rejects(asSidecar('DROP TABLE sessions.sidecar_canary'), { message: /has no DROP permission/ }, 'nor change the schema');
});

/** What node 3 gossips of its disk, as the cluster's other members hear it. */
const gossipedDiskUsage = async (): Promise<string | undefined> =>
  (await queryNode(localNode(1), 'SELECT address, disk_usage FROM system_views.gossip_info', [], consistencies.localOne, 10_000))
    .rows.find((row) => String(row.get('address')) === '127.0.0.3')?.get('disk_usage') as string | undefined;

void t.test('a node whose disk is past the guardrail\'s failure threshold (2025-03-31): the canaries prove every coordinator by a read, the node is named disk_full, and the service\'s failing writes never call for a restart', async (t) => {
  t.teardown(async () => {
    await heal();
    // The next test's writers are ordinary roles too: wait until the node gossips room again.
    for (const began = Date.now(); (await gossipedDiskUsage()) !== 'SPACIOUS' && Date.now() - began < 120_000;) await sleep(1000);
  });
  const { monitor } = await startTestMonitor(t, { contact_points: ['127.0.0.1'], ...role, probe: { interval_ms: 1000, timeout_ms: 2000, storage_interval_ms: 1000 } });
  await waitFor(monitor, (v) => v.nodes.length === 3 && v.nodes.every((n) => n.reachable && n.canCoordinateLocalQuorum === true && n.storage !== null), 20_000);
  await overfillDisk(3);
  // The lab's nodes check their disks and gossip the state every second (production: every minute); this sidecar reads each node's storage every second.
  const tookMs = await waitFor(monitor, (v) => v.nodes.find((n) => n.address === '127.0.0.3')?.storage?.diskUsage === 'FULL' && v.nodes.every((n) => n.writesRefused !== null), 150_000);
  t.comment(`node 3 gossiped FULL and every canary write was refused ${(tookMs / 1000).toFixed(1)} s after its disk counted as full`);
  const view: ClusterView = monitor.view();
  t.match(view.nodes.map((n) => n.writesRefused?.message), Array(3).fill(/Guardrail replica_disk_usage violated/), 'every coordinator refuses the canary\'s write, as Cassandra says it');
  t.same(view.nodes.map((n) => [n.canCoordinateLocalQuorum, n.canaryError]), Array(3).fill([true, null]), 'and each proves itself with a LOCAL_QUORUM read: no broken coordinator');
  t.ok(view.localQuorum.available, 'LOCAL_QUORUM is not taken for lost: no wrong page');

  // The decision core on this view, the service failing its writes (40% of its traffic) for two minutes.
  const policy = diagnosePolicy(parseConfig({ cassandra: { contact_points: ['127.0.0.1'] } }));
  const state: { memory: Memory; verdict: Verdict | null; restarts: number } = { memory: emptyMemory, verdict: null, restarts: 0 };
  const start = Date.now();
  for (let now = start; now <= start + 120_000; now += 1000) {
    const last = Math.floor(now / 1000);
    const seconds = Array.from({ length: 10 }, (_, i) => ({ second: last - 9 + i, requests: 10, storageErrors: 4, deletes: 0, deleteStorageErrors: 0 }));
    const judged = judge({ now, cluster: view, service: { answering: true, poolConnections: { '127.0.0.1': 2, '127.0.0.2': 2, '127.0.0.3': 2 }, traffic: { windowSeconds: 10, seconds }, canaryFailures: [] } }, policy, state.memory);
    if (!judged) throw new Error('the view is not settled');
    state.memory = judged.memory;
    state.verdict = judged.verdict;
    if (judged.verdict.action === 'restart') state.restarts++;
  }
  const verdict = state.verdict;
  t.equal(state.restarts, 0, 'never a restart in two minutes of it', { verdict });
  t.match(verdict?.findings.find((f) => f.rule === 'disk_full'), { addresses: ['127.0.0.3'], evidence: /127\.0\.0\.3 gossips its disk usage as FULL \(over the guardrail's failure threshold of 98%\)/ }, 'the node named, and why');
  t.match(verdict?.suppressed, { reason: 'disk_full' }, 'what holds the restart back, for the dashboard');
  t.same(verdict?.brokenCoordinators, [], 'no coordinator named broken');
});
