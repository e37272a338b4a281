// The service's pool as SREs see it: per-node connection counts (0 for a node the
// pool lacks), when it last held one, and one log line when that changes.
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { parseConfig } from '../../src/config/load.ts';
import { ServiceMonitor } from '../../src/service/service-monitor.ts';
import { createRegistry } from '../../src/telemetry/metrics.ts';
import { startUpstream, testLogger } from '../support/http.ts';
import { metric } from '../support/monitor.ts';
import { listenOn, startPoolHolder } from '../support/pool-holder.ts';

void t.test('connections per node, a node the pool lacks, and the moment it loses one', async (t) => {
  const port = await listenOn(t, '127.0.0.2');
  const { child, pidFile } = await startPoolHolder(t, port, '127.0.0.2', 3);
  const config = parseConfig({ cassandra: { contact_points: ['127.0.0.1'], port }, service: { pid_file: pidFile } });
  const registry = createRegistry('test');
  const { logger, lines } = testLogger();
  const monitor = new ServiceMonitor(config, registry, logger, () => ['127.0.0.1', '127.0.0.2']);

  await monitor.observe();
  t.match(monitor.view().pool, { source: 'process', pid: child.pid, connections: { '127.0.0.1': 0, '127.0.0.2': 3 }, lastConnected: { '127.0.0.1': null } });
  t.equal(await metric(registry, 'sessionstore_sidecar_service_pool_connections', { address: '127.0.0.2' }), 3);
  t.equal(await metric(registry, 'sessionstore_sidecar_service_pool_connections', { address: '127.0.0.1' }), 0, 'a known node without connections shows 0');

  child.kill('SIGKILL');
  // The kernel closes a killed process's sockets as it reaps it.
  for (let i = 0; i < 50 && (await metric(registry, 'sessionstore_sidecar_service_pool_connections', { address: '127.0.0.2' })) !== 0; i++) {
    await sleep(20);
    await monitor.observe();
  }
  t.equal(await metric(registry, 'sessionstore_sidecar_service_pool_connections', { address: '127.0.0.2' }), 0);
  t.ok(monitor.view().pool?.lastConnected['127.0.0.2'], 'remembers when it last had one');
  t.ok(lines().some((l) => l.address === '127.0.0.2' && l.msg === "the service's pool holds no connection to this node"), 'one log line says so');
});

void t.test('the canary through the service: write, read back, count consecutive failures', async (t) => {
  let failing = false;
  let stored: Buffer = Buffer.alloc(0);
  const upstream = await startUpstream(t, (req, res) => {
    if (failing) { res.writeHead(500); res.end(); return; }
    if (req.method === 'POST') { stored = req.body; res.writeHead(201); res.end(); return; }
    res.end(stored);
  });
  const config = parseConfig({ upstream: { url: upstream.url }, cassandra: { contact_points: ['127.0.0.1'] } });
  const { logger, lines } = testLogger();
  const monitor = new ServiceMonitor(config, createRegistry('test'), logger, () => []);
  t.match(await monitor.runCanary(), { ok: true, consecutiveFailures: 0, detail: 'ok' });
  t.match(upstream.seen[0]?.url, /^\/sessions\/v1\/sessionstore-sidecar-canary-/, 'a reserved key');
  failing = true;
  await monitor.runCanary();
  t.match(await monitor.runCanary(), { ok: false, consecutiveFailures: 2, detail: 'write answered 500' });
  t.ok(lines().some((l) => l.msg === 'the canary through the service failed'), 'logged once when it starts failing');
  failing = false;
  t.match(await monitor.runCanary(), { ok: true, consecutiveFailures: 0 });
});
