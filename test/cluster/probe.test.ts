// The probe's fallback to system.peers, with a fake client. The real cluster cannot
// produce it: Cassandra 4.0 and later always have system.peers_v2, and every role may
// read the system tables; only a 3.x node answers "unconfigured table peers_v2".
import cassandra from 'cassandra-driver';
import t from 'tap';
import { CoordinatorProbe } from '../../src/cluster/probe.ts';

const row = (values: Record<string, string>): { get(column: string): string | undefined } => ({ get: (column) => values[column] });

void t.test('a node without system.peers_v2 (Cassandra 3.x): the peers come from system.peers, and peers_v2 is not asked again', async (t) => {
  const queries: string[] = [];
  const client = {
    execute: (query: string) => {
      queries.push(query);
      if (query.includes('system.peers_v2')) return Promise.reject(new cassandra.errors.ResponseError(cassandra.types.responseErrorCodes.invalid, 'unconfigured table peers_v2'));
      if (query.includes('FROM system.peers')) return Promise.resolve({ rows: [row({ rpc_address: '10.0.0.2', data_center: 'dc1', rack: 'r2', host_id: 'h2' })] });
      if (query.includes('system.local')) return Promise.resolve({ first: () => row({ rpc_address: '10.0.0.1', data_center: 'dc1', rack: 'r1', host_id: 'h1', release_version: '3.11.17' }) });
      return Promise.resolve({ first: () => row({}) });
    },
  } as unknown as cassandra.Client;
  const clock = { ms: 0 };
  const probe = new CoordinatorProbe({ keyspace: 'sessions', localDataCenter: 'dc1', canaryWrites: true, canaryKey: 'k', onStep: () => undefined, now: () => clock.ms });
  const peersQueries = (): number => queries.filter((q) => q.includes('FROM system.peers ') || q.endsWith('FROM system.peers')).length;
  const first = await probe.run(client);
  t.same(first.peers.map((p) => [p.address, p.rack, p.hostId]), [['10.0.0.2', 'r2', 'h2']], 'the peer, from system.peers');
  clock.ms += 9_000;
  const reused = await probe.run(client);
  t.same(reused.peers, first.peers, 'within 10 s the peers are reused...');
  t.equal(peersQueries(), 1, '...without asking again');
  clock.ms += 2_000;
  await probe.run(client);
  t.equal(queries.filter((q) => q.includes('peers_v2')).length, 1, 'peers_v2 was asked once only');
  t.equal(peersQueries(), 2, 'after 10 s, system.peers is asked again');
});
