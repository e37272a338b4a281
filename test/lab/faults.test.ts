// The lab's network faults on the real cluster, checked from each node's own side:
// isolating a node (its inbound internode traffic dropped) leaves it serving CQL while,
// as coordinator, it cannot reach its peers; after about 20 s its peers convict it too
// (the symmetric view). Healing removes every rule. T327954 as it happened (a reboot
// after which only its peers' gossip cannot reach it, and they keep it UP) leaves
// replica traffic flowing: the other coordinators still reach LOCAL_QUORUM through it.
import t from 'tap';
import { heal, isolateNode, localNode, queryNode, rebootIsolated, type NodeNumber } from '../../lab/cluster/cluster.ts';
import { activeRules } from '../../lab/cluster/faults.ts';
import { until } from '../../lab/session-service/harness.ts';
import { consistencies } from '../../src/cluster/coordinator-client.ts';
import { restoreClusterAfter } from '../support/restore-cluster.ts';

restoreClusterAfter(t);

/** How many replicas a node, as coordinator, counts alive: a read at ALL fails at once with Unavailable when it counts one down. */
async function aliveAsSeenBy(n: NodeNumber): Promise<number> {
  try {
    await queryNode(localNode(n), 'SELECT key FROM sessions.values WHERE key = ?', ['liveness'], consistencies.all, 4000);
    return 3;
  } catch (error) {
    const counted = /(\d) required but only (\d) alive/.exec((error as Error).message);
    return counted ? Number(counted[2]) : 3;
  }
}

async function canCoordinate(n: NodeNumber): Promise<string> {
  try {
    await queryNode(localNode(n), 'INSERT INTO sessions.values (key, value) VALUES (?, ?)', ['faults-test', Buffer.from('x')], consistencies.localQuorum, 4000);
    return 'ok';
  } catch (error) {
    return (error as Error).message;
  }
}

void t.test('isolate node 3: it serves CQL but cannot coordinate; its peers convict it; heal', async (t) => {
  await isolateNode(3);
  t.match(activeRules(), [/-d 127\.0\.0\.3\/32 -p tcp -m tcp --dport 7000 .*-j DROP/], 'one rule, scoped to node 3\'s storage port');
  await until(async () => (await aliveAsSeenBy(3)) === 1, 40_000, 'node 3 counts only itself alive');
  t.match(await canCoordinate(3), /LOCAL_QUORUM \(2 required but only 1 alive\)|Not enough replicas available for query at consistency LOCAL_QUORUM/, 'as coordinator, node 3 answers Unavailable');
  await until(async () => (await aliveAsSeenBy(1)) === 2 && (await aliveAsSeenBy(2)) === 2, 40_000, 'its peers convict it');
  t.equal(await canCoordinate(1), 'ok', 'node 1 still coordinates LOCAL_QUORUM');
  t.equal(await canCoordinate(2), 'ok', 'node 2 too');
  await heal();
  t.same(activeRules(), [], 'no rule left');
  await until(async () => (await canCoordinate(3)) === 'ok' && (await aliveAsSeenBy(1)) === 3, 20_000, 'healed: node 3 coordinates and is seen again');
  t.equal(await canCoordinate(3), 'ok', 'healed: node 3 coordinates LOCAL_QUORUM again');
  t.equal(await aliveAsSeenBy(1), 3, 'and node 1 counts all three alive');
});

void t.test('T327954 as it happened: node 1 rebooted deaf to its peers\' gossip, kept UP by them; replica traffic flows', async (t) => {
  await rebootIsolated(1, undefined, { peersKeepItUp: true, gossipOnly: true });
  t.match(activeRules(), [/-d 127\.0\.0\.1\/32 -p tcp -m tcp --dport 7000 -m u32 --u32 "0x0>>0x16&0x3c@0xc>>0x1a&0x3c@0x0=0xca552dfa&&.*@0x4&0x3=0x1" .*-j DROP/],
    'one rule: the handshake of urgent (gossip) connections to node 1\'s storage port, nothing else');
  t.equal(await aliveAsSeenBy(1), 1, 'when the reboot returns, node 1 already counts only itself alive: the lab checked the fault took hold');
  t.match(await canCoordinate(1), /LOCAL_QUORUM \(2 required but only 1 alive\)|Not enough replicas available for query at consistency LOCAL_QUORUM/, 'as coordinator, node 1 answers Unavailable');
  t.equal(await aliveAsSeenBy(2), 3, 'node 2 counts all three alive: it keeps node 1 UP');
  t.equal(await aliveAsSeenBy(3), 3, 'node 3 too');
  // Every row has a replica on node 1 (replication 3 on 3 nodes): a read at ALL through node 2 needs node 1's answer.
  t.equal(await canCoordinate(2), 'ok', 'node 2 coordinates LOCAL_QUORUM writes');
  const readAtAll = queryNode(localNode(2), 'SELECT key FROM sessions.values WHERE key = ?', ['faults-test'], consistencies.all, 4000);
  await t.resolves(readAtAll, 'and a read at ALL through node 2 gets node 1\'s answer: replica traffic to node 1 flows');
  await heal();
  t.same(activeRules(), [], 'no rule left');
  await until(async () => (await canCoordinate(1)) === 'ok', 20_000, 'healed: node 1 coordinates again');
  t.equal(await canCoordinate(1), 'ok', 'healed: node 1 coordinates LOCAL_QUORUM again');
});
