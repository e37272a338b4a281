// The lab's network faults on the real cluster, checked from each node's own side:
// isolating a node (its inbound internode traffic dropped) leaves it serving CQL while,
// as coordinator, it cannot reach its peers; after about 20 s its peers convict it too
// (the symmetric view). Healing removes every rule. (T327954's asymmetric view, peers
// that keep it UP, is produced and checked in test/e2e/incident-2023.test.ts.)
import t from 'tap';
import { heal, isolateNode, localNode, queryNode, type NodeNumber } from '../../lab/cluster/cluster.ts';
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
  isolateNode(3);
  t.match(activeRules(), [/-d 127\.0\.0\.3\/32 -p tcp -m tcp --dport 7000 .*-j DROP/], 'one rule, scoped to node 3\'s storage port');
  await until(async () => (await aliveAsSeenBy(3)) === 1, 40_000, 'node 3 counts only itself alive');
  t.match(await canCoordinate(3), /LOCAL_QUORUM \(2 required but only 1 alive\)|Not enough replicas available for query at consistency LOCAL_QUORUM/, 'as coordinator, node 3 answers Unavailable');
  await until(async () => (await aliveAsSeenBy(1)) === 2 && (await aliveAsSeenBy(2)) === 2, 40_000, 'its peers convict it');
  t.equal(await canCoordinate(1), 'ok', 'node 1 still coordinates LOCAL_QUORUM');
  t.equal(await canCoordinate(2), 'ok', 'node 2 too');
  heal();
  t.same(activeRules(), [], 'no rule left');
  await until(async () => (await canCoordinate(3)) === 'ok' && (await aliveAsSeenBy(1)) === 3, 20_000, 'healed: node 3 coordinates and is seen again');
  t.equal(await canCoordinate(3), 'ok', 'healed: node 3 coordinates LOCAL_QUORUM again');
  t.equal(await aliveAsSeenBy(1), 3, 'and node 1 counts all three alive');
});
