// The fleet lease against the real cluster: a Cassandra lightweight transaction. Two
// holders contend, only one wins and the other learns who holds it; a release lets
// the other in; a holder that dies without releasing loses it at the TTL; a renewal
// keeps it past the TTL, and only for its holder. And, with a
// client that answers as Cassandra does, a Paxos round that times out with its outcome
// unknown (it happened in CI under contention; it cannot be produced at will).
import { setTimeout as sleep } from 'node:timers/promises';
import cassandra from 'cassandra-driver';
import t from 'tap';
import { authProvider } from '../../lab/cluster/cluster.ts';
import { FleetLease } from '../../src/remediate/lease.ts';

const client = new cassandra.Client({ contactPoints: ['127.0.0.1', '127.0.0.2', '127.0.0.3'], localDataCenter: 'dc1', authProvider: authProvider() });
t.teardown(() => client.shutdown());
const scope = `lease-test-${process.pid}`;
/** The sidecar of pod `pod`; `pid` tells apart the pod's successive sidecars. */
const lease = (pod: string, ttlSeconds = 30, pid = 1): FleetLease => new FleetLease(client, { keyspace: 'sessions', scope, pod, pid, ttlSeconds });

void t.test('contention: one holder at a time, the other told who', async (t) => {
  const [a, b] = [lease('pod-a'), lease('pod-b')];
  const results = await Promise.all([a.acquire(), b.acquire()]);
  t.ok(results.filter((r) => r.acquired).length <= 1, 'never two holders');
  // Two contended Paxos rounds can both time out without either applying (each then reads the lease as free):
  // a taker tries again, as the remediator does at its next tick.
  const winner = results[0].acquired ? a : results[1].acquired ? b : (await a.acquire()).acquired ? a : null;
  if (winner === null) throw new Error('nobody holds the lease after a retry');
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
  t.same(await next.acquire(), { acquired: true, holder: 'pod-next:1' }, 'free after the TTL');
  await next.release();
});

void t.test('a renewed lease outlives its first TTL; only its holder renews it', async (t) => {
  // Each step at a time set from the last answer, with seconds to spare around the TTL's
  // edges: a Paxos round on a busy machine can take a second or more (CI saw a renewal
  // 2 s after a 3 s lease was taken arrive too late).
  const ttlSeconds = 6;
  const holder = lease('pod-renewing', ttlSeconds);
  const other = lease('pod-other', ttlSeconds);
  const until = (at: number): Promise<void> => sleep(Math.max(0, at - Date.now()));
  t.equal((await holder.acquire()).acquired, true);
  // The first TTL ends at the latest ttl after this answer.
  const acquiredBy = Date.now();
  await until(acquiredBy + 3000);
  // The renewed TTL ends at the earliest ttl after this request.
  const renewedFrom = Date.now();
  t.equal(await holder.renew(), true, 'renewed by its holder');
  t.equal(await other.renew(), false, 'not by another pod');
  await until(acquiredBy + ttlSeconds * 1000 + 500);
  t.ok(Date.now() < renewedFrom + ttlSeconds * 1000, 'checked before the renewed TTL could end');
  t.same(await other.acquire(), { acquired: false, holder: 'pod-renewing:1' }, 'still held past the first TTL: the row lives by its renewed holder');
  await until(Date.now() + ttlSeconds * 1000 + 500);
  t.equal(await holder.renew(), false, 'not renewed in time: lost, and the holder is told');
  t.same(await other.acquire(), { acquired: true, holder: 'pod-other:1' }, 'free for the next pod');
  await other.release();
});

void t.test('a sidecar that died holding the lease: its pod\'s next sidecar takes it over at once; no other pod does', async (t) => {
  const died = lease('pod-a', 30, 100);
  t.equal((await died.acquire()).acquired, true);
  t.same(await lease('pod-b', 30, 100).acquire(), { acquired: false, holder: 'pod-a:100' }, 'another pod waits, whatever its pid');
  t.same(await lease('pod-a-2', 30, 7).acquire(), { acquired: false, holder: 'pod-a:100' }, 'a pod whose name begins alike is another pod');
  const next = lease('pod-a', 30, 200);
  t.same(await next.acquire(), { acquired: true, holder: 'pod-a:200', tookOverFrom: 'pod-a:100' }, 'the pod\'s next sidecar takes it over, and is told from whom');
  t.equal(await died.renew(), false, 'the old holder\'s renewal would fail');
  t.same(await lease('pod-b', 30, 100).acquire(), { acquired: false, holder: 'pod-a:200' }, 'held by the new one');
  await next.release();
  t.same(await lease('pod-b', 30, 100).acquire(), { acquired: true, holder: 'pod-b:100' }, 'released as usual');
  await lease('pod-b', 30, 100).release();
});

/** A client whose lease insert times out in its Paxos phase, as Cassandra answers under contention; its serial read finds `holder`. */
function timingOutClient(holder: string | null): { client: cassandra.Client; serialReads: number[] } {
  const serialReads: number[] = [];
  const fake = {
    execute: (query: string, _params: unknown[], options: { consistency: number }) => {
      if (query.startsWith('INSERT')) {
        const error = Object.assign(new cassandra.errors.ResponseError(0x1100, 'Operation timed out - received only 1 responses.'), { writeType: 'CAS' });
        return Promise.reject(error);
      }
      serialReads.push(options.consistency);
      return Promise.resolve({ first: () => (holder === null ? null : { get: () => holder }) });
    },
  };
  return { client: fake as unknown as cassandra.Client, serialReads };
}

void t.test('a Paxos round that timed out with its outcome unknown: a serial read says who holds the lease', async (t) => {
  const take = (holder: string | null): Promise<{ acquired: boolean; holder: string | null }> =>
    new FleetLease(timingOutClient(holder).client, { keyspace: 'sessions', scope: 'unknown-outcome', pod: 'pod-a', pid: 1, ttlSeconds: 30 }).acquire();
  t.same(await take('pod-a:1'), { acquired: true, holder: 'pod-a:1' }, 'our insert applied after all: we hold it');
  t.same(await take('pod-b:1'), { acquired: false, holder: 'pod-b:1' }, 'the other\'s did: we are told who');
  t.same(await take(null), { acquired: false, holder: null }, 'neither applied: not ours, try again later');
  const { client, serialReads } = timingOutClient('pod-a:1');
  await new FleetLease(client, { keyspace: 'sessions', scope: 'unknown-outcome', pod: 'pod-a', pid: 1, ttlSeconds: 30 }).acquire();
  t.same(serialReads, [cassandra.types.consistencies.localSerial], 'read at LOCAL_SERIAL, which finishes a round in flight');
  const unavailable = { execute: () => Promise.reject(new cassandra.errors.ResponseError(0x1000, 'Cannot achieve consistency level LOCAL_QUORUM')) } as unknown as cassandra.Client;
  await t.rejects(new FleetLease(unavailable, { keyspace: 'sessions', scope: 'unknown-outcome', pod: 'pod-a', pid: 1, ttlSeconds: 30 }).acquire(), { code: 0x1000 }, 'any other error is the caller\'s, as before');
});
