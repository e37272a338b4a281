// The pure rules of the cluster view, with made-up nodes.
import t from 'tap';
import { coordinatorHealth, dataCenterQuorums, judgeCanary, localQuorum, membershipAgrees, membershipChanges, quorumOf, schemaAgrees, summarizeCluster, unheardPeers, type NodeState } from '../../src/cluster/view.ts';

const node = (address: string, overrides: Partial<NodeState> = {}): NodeState => ({
  address, hostId: `id-${address}`, dataCenter: 'dc1', rack: 'r1', releaseVersion: '5.0.9', schemaVersion: 'v1',
  reachable: true, breaker: 'closed', lastSuccessAt: 0, reachableSince: 0, coordinatingSince: 0, lastError: null, probeLatencyMs: 1, canCoordinateLocalQuorum: true, canaryStreak: 1,
  lists: ['a', 'b', 'c'], lastListedAt: 0, replication: { dc1: 3 }, canaryError: null, writesRefused: null, gossip: null, storage: null, ...overrides,
});

void t.test('coordinator health for the retry rule: every local node not proven to coordinate counts against the healthy ones', (t) => {
  const broken = node('b', { canCoordinateLocalQuorum: false });
  t.same(coordinatorHealth([node('a'), broken, node('c')], 'dc1', true), { localQuorum: true, healthy: 2, broken: 1 }, 'a named broken coordinator');
  // T327954 under load: the broken node's probe timed out once. The service still sends it a third of its queries.
  const timedOut = node('b', { reachable: false, canCoordinateLocalQuorum: null });
  t.same(coordinatorHealth([node('a'), timedOut, node('c')], 'dc1', true), { localQuorum: true, healthy: 2, broken: 1 }, 'one whose last probe failed');
  t.same(coordinatorHealth([node('a'), node('b', { canCoordinateLocalQuorum: null }), node('c')], 'dc1', true).broken, 1, 'one answering again, its canary not judged since');
  t.same(coordinatorHealth([node('a'), node('b'), node('c'), node('r', { dataCenter: 'dc2', reachable: false })], 'dc1', true), { localQuorum: true, healthy: 3, broken: 0 }, 'other data centers do not count');
  t.end();
});

void t.test('quorum arithmetic', (t) => {
  t.equal(quorumOf(1), 1);
  t.equal(quorumOf(3), 2);
  t.equal(quorumOf(5), 3);
  t.equal(quorumOf(6), 4);
  const rf3 = (reachable: number): boolean => localQuorum(['a', 'b', 'c'].map((a, i) => node(a, { reachable: i < reachable })), 'dc1').available;
  t.same([rf3(3), rf3(2), rf3(1), rf3(0)], [true, true, false, false], 'RF 3 needs 2 reachable');
  const rf5 = (reachable: number): boolean =>
    localQuorum(['a', 'b', 'c', 'd', 'e'].map((a, i) => node(a, { reachable: i < reachable, replication: { dc1: 5 } })), 'dc1').available;
  t.same([rf5(5), rf5(3), rf5(2)], [true, true, false], 'RF 5 needs 3 reachable');
  t.end();
});

void t.test('quorum needs a successful canary, not only enough reachable nodes', (t) => {
  const nodes = ['a', 'b', 'c'].map((a) => node(a, { canCoordinateLocalQuorum: false }));
  const quorum = localQuorum(nodes, 'dc1');
  t.equal(quorum.available, false);
  t.match(quorum.why, /no LOCAL_QUORUM canary succeeded/);
  nodes[1] = node('b');
  t.same(localQuorum(nodes, 'dc1').coordinators, ['b']);
  t.equal(localQuorum(nodes, 'dc1').available, true);
  t.equal(localQuorum(nodes.map((n) => ({ ...n, replication: null })), 'dc1').available, false, 'unknown replication: not available');
  t.end();
});

void t.test('only the local data center counts toward quorum; others are reported', (t) => {
  const nodes = [
    node('a', { reachable: true }),
    node('b', { reachable: false }),
    node('c', { reachable: false }),
    node('x', { dataCenter: 'dc2' }),
    node('y', { dataCenter: 'dc2' }),
  ];
  const quorum = localQuorum(nodes, 'dc1');
  t.equal(quorum.available, false, 'two healthy remote nodes do not make a local quorum');
  t.equal(quorum.reachableLocalNodes, 1);
  const view = summarizeCluster(nodes, 'dc1', 0, true);
  t.equal(view.nodes.length, 5, 'remote nodes are in the view');
  t.same(view.nodes.filter((n) => !n.local).map((n) => n.address), ['x', 'y']);
  t.end();
});

void t.test('membership and schema agreement among reachable nodes', (t) => {
  t.equal(membershipAgrees([node('a'), node('b', { lists: ['c', 'b', 'a'] })]), true, 'order does not matter');
  t.equal(membershipAgrees([node('a'), node('b', { lists: ['a', 'b'] })]), false, 'a node that misses a member disagrees');
  t.equal(membershipAgrees([node('a'), node('b', { lists: ['a', 'b'], reachable: false })]), true, 'unreachable nodes have no say');
  t.equal(schemaAgrees([node('a'), node('b', { schemaVersion: 'v2' })]), false);
  t.equal(schemaAgrees([node('a'), node('b', { schemaVersion: 'v2', reachable: false })]), true);
  t.end();
});

void t.test('discovery adds listed nodes and forgets only after the grace, only with evidence', (t) => {
  const contact = new Set(['a']);
  const known = [node('a', { lastListedAt: 0 }), node('b', { lastListedAt: 0, reachable: false })];
  t.same(membershipChanges(known, new Set(['a', 'b', 'c']), contact, 1000, 5000).add, ['c'], 'a newly listed node is added');
  t.same(membershipChanges(known, new Set(['a']), contact, 4000, 5000).forget, [], 'not yet: within the grace');
  t.same(membershipChanges(known, new Set(['a']), contact, 6000, 5000).forget, ['b'], 'forgotten after the grace');
  const cutOff = known.map((n) => ({ ...n, reachable: false }));
  t.same(membershipChanges(cutOff, new Set(), contact, 60_000, 5000).forget, [], 'nothing reachable: nothing forgotten');
  const onlyContact = [node('a', { lastListedAt: 0 }), node('b')];
  t.same(membershipChanges(onlyContact, new Set(['b']), contact, 60_000, 5000).forget, [], 'a contact point is never forgotten');
  t.end();
});

void t.test('every data center the keyspace spans has its own quorum; EACH_QUORUM needs all of them', (t) => {
  const replication = { dc1: 3, dc2: 3 };
  const nodes = [
    node('a', { replication }), node('b', { replication }), node('c', { replication }),
    node('x', { dataCenter: 'dc2', replication }), node('y', { dataCenter: 'dc2', replication, reachable: false }), node('z', { dataCenter: 'dc2', replication, reachable: false }),
  ];
  const [local, remote] = dataCenterQuorums(nodes, 'dc1');
  t.match(local, { name: 'dc1', available: true, reachableLocalNodes: 3 });
  t.match(remote, { name: 'dc2', available: false, reachableLocalNodes: 1, why: /1 of 3 nodes in dc2 reachable/ });
  t.equal(summarizeCluster(nodes, 'dc1', 0, true).eachQuorumAvailable, false, 'a remote data center without quorum: EACH_QUORUM fails');
  t.equal(summarizeCluster(nodes, 'dc1', 0, true).localQuorum.available, true, 'while LOCAL_QUORUM works');
  const healed = nodes.map((n) => ({ ...n, reachable: true }));
  t.equal(summarizeCluster(healed, 'dc1', 0, true).eachQuorumAvailable, true);
  t.end();
});

void t.test('the peers a node no longer hears: heartbeats unchanged in its own gossip', (t) => {
  const now = 100_000;
  const broken = node('a', {
    canCoordinateLocalQuorum: false,
    gossip: { a: { heartbeat: '1:90', unchangedSince: now - 1000 }, b: { heartbeat: '1:40', unchangedSince: now - 12_000 }, c: { heartbeat: '1:41', unchangedSince: now - 3000 } },
  });
  t.same(unheardPeers(broken, now), [{ address: 'b', silentForSeconds: 12 }], 'b is silent for 12 s; c for only 3 s, within normal gossip; itself never counts');
  t.equal(unheardPeers(node('b'), now), null, 'not known while its canary succeeds');
  t.end();
});

void t.test('a coordinator is judged on canaries that hold, not on one: unhealthy after 2 failures in a row, healthy again after 1 success', (t) => {
  const thresholds = { healthy: 1, unhealthy: 2 };
  const replay = (outcomes: boolean[], start = { canCoordinateLocalQuorum: null as boolean | null, canaryStreak: 0, coordinatingSince: null as number | null }) =>
    outcomes.reduce((node, ok, i) => judgeCanary(node, ok, 1000 * (i + 1), thresholds), start);
  t.same(replay([true]), { canCoordinateLocalQuorum: true, canaryStreak: 1, coordinatingSince: 1000 }, 'a first good canary: healthy since then');
  t.same(replay([true, true, false]), { canCoordinateLocalQuorum: true, canaryStreak: -1, coordinatingSince: 1000 }, 'one failed canary changes nothing yet');
  t.same(replay([true, false, false]), { canCoordinateLocalQuorum: false, canaryStreak: -2, coordinatingSince: null }, 'two in a row: unable to coordinate');
  t.same(replay([false]), { canCoordinateLocalQuorum: null, canaryStreak: -1, coordinatingSince: null }, 'a node just back whose first canary fails is not known yet: never broken on one canary');
  t.same(replay([true, false, false, true, true]), { canCoordinateLocalQuorum: true, canaryStreak: 2, coordinatingSince: 4000 }, 'broken, then healthy: its healthy clock starts again');
  t.same(replay([false, false, false], { canCoordinateLocalQuorum: true, canaryStreak: 9, coordinatingSince: 0 }).canCoordinateLocalQuorum, false, 'a long healthy streak is not a credit');
  t.end();
});
