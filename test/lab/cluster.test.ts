// Proves the local cluster is a real Cassandra cluster with real LOCAL_QUORUM semantics.
import cassandra from 'cassandra-driver';
import { randomBytes, randomUUID } from 'node:crypto';
import t from 'tap';
import { connectToCoordinator, consistencies } from '../../src/cluster/coordinator-client.ts';
import { allNodes, authProvider, startNode, status, stopNode } from '../../lab/cluster/cluster.ts';
import { dataCenter } from '../../lab/cluster/layout.ts';
import { restoreClusterAfter } from '../support/restore-cluster.ts';

const write = 'INSERT INTO sessions.values (key, value) VALUES (?, ?)';
const read = 'SELECT value FROM sessions.values WHERE key = ?';
const localQuorum = { prepare: true, consistency: consistencies.localQuorum };

restoreClusterAfter(t);

void t.test('LOCAL_QUORUM through the whole cluster, one node down, two nodes down, and back', async (t) => {
  const client = new cassandra.Client({ contactPoints: allNodes().map((n) => n.address), localDataCenter: dataCenter, authProvider: authProvider() });
  const node1 = connectToCoordinator({ address: '127.0.0.1', localDataCenter: dataCenter, authProvider: authProvider() });
  t.teardown(() => Promise.all([client.shutdown(), node1.shutdown()]));

  const roundTrip = async (c: cassandra.Client): Promise<void> => {
    const key = `test-${randomUUID()}`;
    const value = randomBytes(64);
    await c.execute(write, [key, value], localQuorum);
    const row = (await c.execute(read, [key], localQuorum)).first();
    t.same(row.get('value'), value, 'the value written at LOCAL_QUORUM reads back at LOCAL_QUORUM');
  };

  await roundTrip(client);

  await stopNode(3);
  await roundTrip(client);
  await roundTrip(node1);

  await stopNode(2);
  // Cassandra's Unavailable (0x1000) for LOCAL_QUORUM with one live replica of three. Its
  // text on the wire is "Cannot achieve consistency level LOCAL_QUORUM" (what gocql logs);
  // the Node.js driver rewrites it from the error's fields, which we assert instead.
  const unavailable = {
    name: 'ResponseError',
    code: cassandra.types.responseErrorCodes.unavailableException,
    consistencies: consistencies.localQuorum,
    required: 2,
    alive: 1,
  };
  await t.rejects(node1.execute(write, [`test-${randomUUID()}`, randomBytes(8)], localQuorum), unavailable, 'a write gets Unavailable');
  await t.rejects(node1.execute(read, ['any-key'], localQuorum), unavailable, 'a read gets Unavailable');

  await Promise.all([startNode(2), startNode(3)]);
  t.ok((await status()).every((n) => n.process === 'running' && n.answersCql), 'all three nodes run and answer CQL');
  for (const node of allNodes()) {
    const coordinator = connectToCoordinator({ address: node.address, localDataCenter: dataCenter, authProvider: authProvider() });
    try {
      await roundTrip(coordinator);
    } finally {
      await coordinator.shutdown();
    }
  }
});
