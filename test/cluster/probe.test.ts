// The probe with fake clients, for what the lab's cluster cannot produce: a 3.x node's
// answer to system.peers_v2 ("unconfigured table"; 4.0 and later always have it, and every
// role may read the system tables), a node without the virtual tables (before 4.1), and
// a guardrail's state and settings (the lab runs with the guardrail off).
import cassandra from 'cassandra-driver';
import t from 'tap';
import { CoordinatorProbe, storageSettingBytes } from '../../src/cluster/probe.ts';

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
  const probe = new CoordinatorProbe({ keyspace: 'sessions', localDataCenter: 'dc1', canaryWrites: true, storageIntervalMs: 60_000, canaryKey: 'k', onStep: () => undefined, now: () => clock.ms });
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

/** A fake node answering the probe's queries; `storage` false: a node before Cassandra 4.1, without the virtual tables. */
function fakeNode(options: { storage: boolean; queries: string[] }): cassandra.Client {
  const unconfigured = (): Promise<never> => Promise.reject(new cassandra.errors.ResponseError(cassandra.types.responseErrorCodes.invalid, 'unconfigured table'));
  return {
    execute: (query: string, params: unknown[] = []) => {
      options.queries.push(query);
      if (query.includes('system.local')) return Promise.resolve({ first: () => row({ rpc_address: '10.0.0.1', data_center: 'dc1', rack: 'r1', host_id: 'h1', release_version: '5.0.9' }) });
      if (query.includes('system_views.') && !options.storage) return unconfigured();
      if (query.includes('system_views.disk_usage')) {
        return Promise.resolve({ rows: params[0] === 'sessions' ? [row({ mebibytes: '104' }), row({ mebibytes: '1' }), row({ mebibytes: '1' })] : [] });
      }
      if (query.includes('system_views.gossip_info')) {
        return Promise.resolve({ rows: [row({ host_id: 'h2', load: '9.9E9', disk_usage: 'FULL' }), row({ host_id: 'h1', load: '1.09211387E8', disk_usage: 'STUFFED' })] });
      }
      if (query.includes('system_views.settings')) {
        return Promise.resolve({ rows: [
          row({ name: 'data_disk_usage_max_disk_size', value: '500GiB' }), row({ name: 'data_disk_usage_percentage_warn_threshold', value: '70' }),
          row({ name: 'data_disk_usage_percentage_fail_threshold', value: '-1' }), row({ name: 'disk_failure_policy', value: 'stop' }),
        ] });
      }
      return Promise.resolve({ rows: [], first: () => row({}) });
    },
  } as unknown as cassandra.Client;
}

void t.test('the node\'s own storage: its keyspace\'s bytes, its load and guardrail state from its own gossip row, the guardrail\'s settings; read once a minute', async (t) => {
  const queries: string[] = [];
  const clock = { ms: 0 };
  const probe = new CoordinatorProbe({ keyspace: 'sessions', localDataCenter: 'dc1', canaryWrites: true, storageIntervalMs: 60_000, canaryKey: 'k', onStep: () => undefined, now: () => clock.ms });
  const storage = await probe.storage(fakeNode({ storage: true, queries }), 'h1');
  t.same(storage, {
    keyspaceBytes: 106 * 1024 * 1024, loadBytes: 109_211_387, diskUsage: 'STUFFED',
    maxDiskSizeBytes: 500 * 1024 ** 3, warnPercent: 70, failPercent: null, diskFailurePolicy: 'stop',
  }, 'the sum of the keyspace\'s tables; the row of its own host ID, not another member\'s; -1 is a threshold switched off');
  const storageQueries = (): number => queries.filter((q) => q.includes('system_views.')).length;
  t.equal(storageQueries(), 3, 'three queries');
  await probe.run(fakeNode({ storage: true, queries }));
  t.equal(storageQueries(), 3, 'never read by the reachability probe: a slow answer there must not time the probe out');
  clock.ms += 59_000;
  t.same(await probe.storage(fakeNode({ storage: true, queries }), 'h1'), storage, 'the last reading, within the minute...');
  t.equal(storageQueries(), 3, '...reused');
  clock.ms += 2_000;
  await probe.storage(fakeNode({ storage: true, queries }), 'h1');
  t.equal(storageQueries(), 6, 'and read again after it');
});

void t.test('a storage table that does not answer fails the reading, which is not kept: the last one stands, and the next call reads again', async (t) => {
  const queries: string[] = [];
  const node = fakeNode({ storage: true, queries });
  const busy = { execute: (query: string, params: unknown[]) => (query.includes('gossip_info') ? Promise.reject(new cassandra.errors.OperationTimedOutError('timed out', '10.0.0.1')) : node.execute(query, params)) } as unknown as cassandra.Client;
  const probe = new CoordinatorProbe({ keyspace: 'sessions', localDataCenter: 'dc1', canaryWrites: true, storageIntervalMs: 60_000, canaryKey: 'k', onStep: () => undefined, now: () => 0 });
  await t.rejects(probe.storage(busy, 'h1'), /timed out/, 'no reading of nulls in its place');
  t.match(await probe.storage(node, 'h1'), { loadBytes: 109_211_387 }, 'read again at once, since nothing was kept');
});

void t.test('the storage interval is a setting: read again once it has passed, not before', async (t) => {
  const queries: string[] = [];
  const clock = { ms: 0 };
  const probe = new CoordinatorProbe({ keyspace: 'sessions', localDataCenter: 'dc1', canaryWrites: true, storageIntervalMs: 5000, canaryKey: 'k', onStep: () => undefined, now: () => clock.ms });
  const read = async (): Promise<number> => { await probe.storage(fakeNode({ storage: true, queries }), 'h1'); return queries.length; };
  t.equal(await read(), 3);
  clock.ms += 4999;
  t.equal(await read(), 3, 'within its interval, reused');
  clock.ms += 1;
  t.equal(await read(), 6, 'after it, read again');
});

void t.test('a node without the virtual tables (before Cassandra 4.1): nothing known of its storage, and no error', async (t) => {
  const probe = new CoordinatorProbe({ keyspace: 'sessions', localDataCenter: 'dc1', canaryWrites: true, storageIntervalMs: 60_000, canaryKey: 'k', onStep: () => undefined });
  t.same(await probe.storage(fakeNode({ storage: false, queries: [] }), 'h1'), { keyspaceBytes: null, loadBytes: null, diskUsage: null, maxDiskSizeBytes: null, warnPercent: null, failPercent: null, diskFailurePolicy: null });
});

void t.test('data storage settings as system_views.settings shows them', (t) => {
  t.equal(storageSettingBytes('500GiB'), 500 * 1024 ** 3);
  t.equal(storageSettingBytes('2TiB'), 2 * 1024 ** 4);
  t.equal(storageSettingBytes('1024MiB'), 1024 ** 3);
  t.equal(storageSettingBytes('10B'), 10);
  t.equal(storageSettingBytes(null), null, 'unset');
  t.equal(storageSettingBytes('lots'), null, 'not understood');
  t.end();
});
