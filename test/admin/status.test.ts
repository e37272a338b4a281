// /status as an SRE reads it, every section, from a sidecar in front of the lab
// service on the real cluster; and the operator actions end to end: refused without
// the admin token, done with it.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { temporaryDirectory } from '../../lab/cleanup.ts';
import { labService } from '../../lab/scenarios.ts';
import { startService, until } from '../../lab/session-service/harness.ts';
import { startSidecar } from '../../lab/sidecar-process.ts';
import { sessionTraffic } from '../../lab/traffic.ts';

const token = 'a-test-admin-token-of-32-characters';

interface Status {
  version: string;
  proxy: { upstream: string; inflight: number; depooled: boolean };
  cluster: {
    localDataCenter: string; eachQuorumAvailable: boolean;
    nodes: { address: string; dataCenter: string; rack: string; hostId: string; reachable: boolean; breaker: string; canCoordinateLocalQuorum: boolean; replication: Record<string, number> }[];
    localQuorum: { available: boolean; coordinators: string[]; required: number; replicationFactor: number };
    dataCenters: { name: string; available: boolean }[];
    contactPoints: { name: string; addresses: string[] }[];
  };
  service: { pool: { source: string; pid: number; connections: Record<string, number> }; traffic: { requests: number; storageErrors: number; seconds: unknown[] } };
  reconcile: { at: string; verdict: { action: string; findings: unknown[]; suppressed: unknown; brokenCoordinators: string[] }; memory: { since: object; faults: { to: string | null }[] } };
  remediation: { paused: boolean; inProgress: boolean; budget: number; restartsLastHour: number; history: { reason: string; result: string; evidence: string[] }[] };
}

void t.test('every /status section, and the operator actions with and without the token', async (t) => {
  const tokenFile = join(temporaryDirectory(t, 'sidecar-token-'), 'token');
  writeFileSync(tokenFile, `${token}\n`);
  const service = await startService(t, labService);
  const sidecar = await startSidecar(t, service.url, service.pidFile, { admin: { token_file: tokenFile }, service: { observe_interval_ms: 500 } });
  const status = async (): Promise<Status> => (await sidecar.status()) as unknown as Status;
  const traffic = sessionTraffic(t, sidecar.url, { perSecond: 20 });
  await until(async () => { const s = await status(); return s.cluster.nodes.length === 3 && s.cluster.nodes.every((n) => n.canCoordinateLocalQuorum) && s.service.traffic.requests > 20; }, 20_000, 'the views are in');
  await traffic.stop();
  // The verdict is the reconciler's last tick: wait for one taken on the views that are in now.
  const viewsIn = Date.now();
  await until(async () => Date.parse((await status()).reconcile.at) > viewsIn, 5000, 'a verdict on these views');

  const s = await status();
  t.match(s.version, /^\d+\.\d+\.\d+$/, 'version');
  t.match(s.proxy, { upstream: service.url, inflight: 0, depooled: false }, 'proxy: its upstream, nothing in flight, pooled');
  t.same(s.cluster.nodes.map((n) => [n.address, n.dataCenter, n.rack, n.reachable, n.breaker, n.canCoordinateLocalQuorum]),
    [['127.0.0.1', 'dc1', 'r1', true, 'closed', true], ['127.0.0.2', 'dc1', 'r2', true, 'closed', true], ['127.0.0.3', 'dc1', 'r3', true, 'closed', true]], 'cluster: every node, as probed');
  t.ok(s.cluster.nodes.every((n) => /^[0-9a-f-]{36}$/.test(n.hostId) && n.replication.dc1 === 3), 'with host ids and the keyspace\'s replication');
  t.match(s.cluster.localQuorum, { available: true, required: 2, replicationFactor: 3, coordinators: ['127.0.0.1', '127.0.0.2', '127.0.0.3'] }, 'LOCAL_QUORUM and who proves it');
  t.match(s.cluster, { localDataCenter: 'dc1', eachQuorumAvailable: true, dataCenters: [{ name: 'dc1', available: true }], contactPoints: [{ name: '127.0.0.1', addresses: ['127.0.0.1'] }] });
  t.equal(s.service.pool.source, 'process', "service: its own sockets, found by its pid file");
  // gocql: two pool connections per node, and its control connection on one of them.
  const counts = Object.values(s.service.pool.connections).sort();
  t.same(Object.keys(s.service.pool.connections).sort(), ['127.0.0.1', '127.0.0.2', '127.0.0.3'], 'its pool: every node');
  t.ok(counts.join() === '2,2,2' || counts.join() === '2,2,3', `its pool: gocql's two connections per node, plus its control connection (${counts.join(', ')})`);
  t.ok(s.service.traffic.requests > 20 && s.service.traffic.storageErrors === 0 && s.service.traffic.seconds.length > 0, `the traffic it answered (${s.service.traffic.requests} requests, no storage error)`);
  // t.same, not t.match: a [] pattern in t.match accepts any array.
  const { action, findings, suppressed, brokenCoordinators } = s.reconcile.verdict;
  t.same({ action, findings, suppressed, brokenCoordinators }, { action: 'none', findings: [], suppressed: null, brokenCoordinators: [] }, 'reconcile: nothing to do');
  t.same(s.reconcile.memory.since, {}, 'no rule holding');
  t.same(s.reconcile.memory.faults.filter((f) => f.to === null), [], 'no Cassandra fault in progress');
  const { paused, inProgress, budget, restartsLastHour, history } = s.remediation;
  t.same({ paused, inProgress, budget, restartsLastHour, history }, { paused: false, inProgress: false, budget: 3, restartsLastHour: 0, history: [] }, 'remediation: idle');

  const post = async (path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown> }> => {
    const response = await request(`${sidecar.adminUrl}${path}`, { method: 'POST', headers });
    return { status: response.statusCode, body: (await response.body.json()) as Record<string, unknown> };
  };
  t.match(await post('/remediation/pause'), { status: 401, body: { error: /Authorization: Bearer/ } }, 'without the token: 401');
  t.equal((await post('/remediation/pause', { authorization: 'Bearer not-the-token-but-long-enough' })).status, 401, 'with a wrong token: 401');
  t.equal((await status()).remediation.paused, false, 'and nothing changed');
  t.equal((await post('/remediation/pause', { authorization: `Bearer ${token}` })).status, 200, 'with it: done');
  t.equal((await status()).remediation.paused, true, 'paused');
  t.equal((await post('/remediation/resume', { authorization: `Bearer ${token}` })).status, 200);
  t.equal((await status()).remediation.paused, false, 'resumed');
  const restarted = await post('/remediation/restart', { authorization: `Bearer ${token}` });
  t.match(restarted, { status: 200, body: { action: '/remediation/restart', outcome: 'restarted', restart: { reason: 'manual', result: 'restarted', evidence: ['requested by an operator on the admin port'] } } }, 'a manual restart, gracefully, and what happened');
  t.equal(service.supervisor.restarts(), 1, 'the service process restarted once');
  t.match((await status()).remediation.history, [{ reason: 'manual', result: 'restarted' }], 'in the history');
  t.ok(sidecar.logs.some((l) => l.msg === 'refused an operator action without the admin token'), 'refusals are logged');
  t.notOk(JSON.stringify(sidecar.logs).includes(token), 'the token is in no log line');
  t.notOk(JSON.stringify(await status()).includes(token), 'nor in /status');
});

void t.test('without a token configured, operator actions are off', async (t) => {
  const service = await startService(t, labService);
  const sidecar = await startSidecar(t, service.url, service.pidFile);
  const response = await request(`${sidecar.adminUrl}/remediation/restart`, { method: 'POST', headers: { authorization: 'Bearer anything-at-all-long-enough' } });
  t.equal(response.statusCode, 403);
  t.match(await response.body.json(), { error: /operator actions are off: configure admin.token_file/ }, 'and the answer says how to turn them on');
  t.equal(service.supervisor.restarts(), 0, 'nothing restarted');
});

void t.test('a Secret not mounted yet: the pod serves, and the sidecar says what it lacks and restarts nothing', async (t) => {
  const service = await startService(t, labService);
  const tokenFile = join(temporaryDirectory(t, 'sidecar-token-'), 'token');
  writeFileSync(tokenFile, `${token}\n`);
  const sidecar = await startSidecar(t, service.url, service.pidFile, {
    cassandra: { password: undefined, password_file: '/etc/sessionstore-sidecar/cassandra/password' },
    admin: { token_file: tokenFile },
  });
  const served = await request(`${sidecar.url}/sessions/v1/lacking`, { method: 'POST', body: 'value', headers: { 'content-type': 'application/octet-stream' } });
  await served.body.dump();
  t.equal(served.statusCode, 201, 'requests are served through it');
  await until(async () => (await request(`${sidecar.adminUrl}/readyz`).then(async (r) => { await r.body.dump(); return r.statusCode; })) === 200, 10_000, 'the pod is ready');
  const status = await sidecar.status() as { config: { lacking: unknown[] }; remediation: { suppressed: { reason: string; why: string } | null } };
  t.same(status.config.lacking, [{ setting: 'cassandra.password_file', file: '/etc/sessionstore-sidecar/cassandra/password', why: 'ENOENT' }], '/status says what it lacks');
  await until(async () => ((await sidecar.status()) as typeof status).remediation.suppressed?.reason === 'no_credentials', 10_000, 'remediation held back: no_credentials');
  const metrics = await (await request(`${sidecar.adminUrl}/metrics`)).body.text();
  t.match(metrics, /sessionstore_sidecar_config_lacking\{setting="cassandra.password_file"\} 1/, 'the metric SREs get a ticket from');
  t.match(metrics, /sessionstore_sidecar_remediation_suppressed\{reason="no_credentials"\} 1/);
  t.ok(sidecar.logs.some((l) => l.level === 'warn' && String(l.msg).startsWith('running without cassandra.password_file')), 'a warning at start');
  const restart = await request(`${sidecar.adminUrl}/remediation/restart`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
  t.match({ status: restart.statusCode, body: await restart.body.json() }, { status: 409, body: { outcome: 'refused', reason: 'no_credentials' } }, 'an operator restart is refused, and says why');
  t.equal(service.supervisor.restarts(), 0, 'nothing restarted');
});
