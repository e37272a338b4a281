// The role production gives the sidecar (k8s/cassandra/sidecar-role.cql), applied to
// the real cluster as an operator would: the sidecar works with it (every canary, each
// node's storage, the fleet lease), and it can neither read nor write a session.
import { randomBytes } from 'node:crypto';
import cassandra from 'cassandra-driver';
import t from 'tap';
import { authProvider, localNode, queryNode } from '../../lab/cluster/cluster.ts';
import { sidecarRole, sidecarRoleName } from '../../lab/cluster/sidecar-schema.ts';
import { consistencies } from '../../src/cluster/coordinator-client.ts';
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
  await waitFor(monitor, (v) => v.nodes.length === 3 && v.nodes.every((n) => n.reachable && n.canCoordinateLocalQuorum === true), 20_000);
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
