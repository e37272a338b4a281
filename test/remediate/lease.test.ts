// The fleet lease against the real cluster: a Cassandra lightweight transaction. Two
// holders contend, only one wins and the other learns who holds it; a release lets
// the other in; a holder that dies without releasing loses it at the TTL.
import { setTimeout as sleep } from 'node:timers/promises';
import cassandra from 'cassandra-driver';
import t from 'tap';
import { authProvider } from '../../lab/cluster/cluster.ts';
import { FleetLease } from '../../src/remediate/lease.ts';

const client = new cassandra.Client({ contactPoints: ['127.0.0.1', '127.0.0.2', '127.0.0.3'], localDataCenter: 'dc1', authProvider: authProvider() });
t.teardown(() => client.shutdown());
const scope = `lease-test-${process.pid}`;
const lease = (holder: string, ttlSeconds = 30): FleetLease => new FleetLease(client, { keyspace: 'sessions', scope, holder, ttlSeconds });

void t.test('contention: one holder at a time, the other told who', async (t) => {
  const [a, b] = [lease('pod-a'), lease('pod-b')];
  const results = await Promise.all([a.acquire(), b.acquire()]);
  t.equal(results.filter((r) => r.acquired).length, 1, 'exactly one of two simultaneous takers wins');
  const winner = results[0].acquired ? a : b;
  const loser = winner === a ? b : a;
  t.same(await loser.acquire(), { acquired: false, holder: winner.holder }, 'the other is told who holds it');
  await loser.release();
  t.same(await loser.acquire(), { acquired: false, holder: winner.holder }, 'releasing a lease one does not hold changes nothing');
  await winner.release();
  t.same(await loser.acquire(), { acquired: true, holder: loser.holder }, 'released: the other takes it');
  await loser.release();
});

void t.test('a holder that never releases loses the lease at its TTL', async (t) => {
  const crashed = lease('pod-crashed', 2);
  const next = lease('pod-next', 2);
  t.equal((await crashed.acquire()).acquired, true);
  t.equal((await next.acquire()).acquired, false, 'held');
  await sleep(2500);
  t.same(await next.acquire(), { acquired: true, holder: 'pod-next' }, 'free after the TTL');
  await next.release();
});
