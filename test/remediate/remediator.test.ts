// The restart sequence's logic with a fake lease and a fake restart (the real ones
// run in test/e2e): pause and resume, the manual trigger, the lease held elsewhere,
// backoff, and the HTTP and command actions against real local targets.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { parseConfig } from '../../src/config/load.ts';
import type { Verdict } from '../../src/reconcile/diagnose.ts';
import type { FleetLease } from '../../src/remediate/lease.ts';
import { Remediator } from '../../src/remediate/remediator.ts';
import { restartService } from '../../src/remediate/restart-action.ts';
import { TrafficSwitch } from '../../src/proxy/traffic-switch.ts';
import { createRegistry } from '../../src/telemetry/metrics.ts';
import { temporaryDirectory } from '../../lab/cleanup.ts';
import { startUpstream, testLogger } from '../support/http.ts';
import { metric } from '../support/monitor.ts';

const restartVerdict: Verdict = { action: 'restart', rule: 'stale_pool', findings: [{ rule: 'stale_pool', since: 0, evidence: 'e' }], suppressed: null, evidence: ['e'] };

function fakeLease(holderElsewhere: { value: string | null }): FleetLease & { taken: number; released: number } {
  const lease = {
    holder: 'test-pod',
    taken: 0,
    released: 0,
    acquire: () => {
      if (holderElsewhere.value !== null) return Promise.resolve({ acquired: false, holder: holderElsewhere.value });
      lease.taken++;
      return Promise.resolve({ acquired: true, holder: 'test-pod' });
    },
    release: () => {
      lease.released++;
      return Promise.resolve();
    },
  };
  return lease as unknown as FleetLease & { taken: number; released: number };
}

async function setUp(t: Test, remediation: Record<string, unknown> = {}, service = { healthy: true }) {
  // A service that keeps what it is given: the canary's write and read succeed (unless it is unhealthy).
  let stored: Buffer = Buffer.alloc(0);
  const upstream = await startUpstream(t, (req, res) => {
    if (req.method === 'POST') {
      stored = req.body;
      res.writeHead(201);
      res.end();
      return;
    }
    if (req.url === '/healthz') res.writeHead(service.healthy ? 200 : 503);
    res.end(req.url === '/healthz' ? 'ok' : stored);
  });
  const config = parseConfig({ upstream: { url: upstream.url }, cassandra: { contact_points: ['127.0.0.1'] }, remediation: { healthy_timeout_ms: 3000, backoff_base_ms: 60_000, ...remediation } });
  const registry = createRegistry('test');
  const elsewhere = { value: null as string | null };
  const lease = fakeLease(elsewhere);
  const restarts: string[] = [];
  const { logger, lines } = testLogger();
  const trafficSwitch = new TrafficSwitch(logger);
  const remediator = new Remediator({
    config, lease, trafficSwitch, inflight: () => 0, registry, logger,
    restart: () => { restarts.push('restart'); return Promise.resolve({ signalledPid: null, detail: 'fake restart' }); },
  });
  return { remediator, lease, elsewhere, restarts, registry, lines, trafficSwitch };
}

void t.test('pause holds automatic restarts back; resume lets them through', async (t) => {
  const { remediator, restarts, registry } = await setUp(t);
  remediator.pause();
  remediator.consider(restartVerdict);
  t.equal(await metric(registry, 'sessionstore_sidecar_remediation_suppressed', { reason: 'paused' }), 1);
  t.same(restarts, [], 'nothing while paused');
  remediator.resume();
  remediator.consider(restartVerdict);
  await t.resolves(async () => { while (remediator.status().inProgress || restarts.length === 0) await new Promise((r) => setTimeout(r, 10)); });
  t.same(restarts, ['restart']);
  t.equal(remediator.status().history[0]?.result, 'restarted', 'healthy afterwards: /healthz and the write/read canary answered');
});

void t.test('the manual trigger restarts now, skipping backoff, but always takes the lease and repools', async (t) => {
  const { remediator, lease, restarts, trafficSwitch, elsewhere } = await setUp(t);
  const first = await remediator.restart('manual', ['by hand']);
  t.match(first, { reason: 'manual', result: 'restarted' });
  const second = await remediator.restart('manual');
  t.equal(second?.result, 'restarted', 'no backoff for a human');
  t.same([lease.taken, lease.released, restarts.length], [2, 2, 2]);
  t.equal(trafficSwitch.depooled, false, 'repooled');
  elsewhere.value = 'another-pod';
  t.equal(await remediator.restart('manual'), null, 'another pod holds the lease: nothing done');
  t.equal(restarts.length, 2);
  t.equal(remediator.status().suppressed, 'lease_held');
});

void t.test('after a restart, backoff holds the next one back', async (t) => {
  const { remediator, restarts, registry } = await setUp(t);
  await remediator.restart('stale_pool');
  remediator.consider(restartVerdict);
  t.equal(await metric(registry, 'sessionstore_sidecar_remediation_suppressed', { reason: 'backoff' }), 1);
  t.equal(restarts.length, 1);
  t.match(remediator.status().nextAllowedAt, /^\d{4}-/);
});

void t.test('the http and command restart actions', async (t) => {
  const reload = await startUpstream(t, (_req, res) => { res.writeHead(204); res.end(); });
  const http = parseConfig({ cassandra: { contact_points: ['a'] }, remediation: { action: 'http', http_url: `${reload.url}/reload` } });
  t.match(await restartService(http), { signalledPid: null, detail: /POST .*\/reload: 204/ });
  t.equal(reload.seen[0]?.method, 'POST');
  const marker = join(temporaryDirectory(t, 'sidecar-cmd-'), 'restarted');
  const command = parseConfig({ cassandra: { contact_points: ['a'] }, remediation: { action: 'command', command: ['touch', marker] } });
  await restartService(command);
  t.ok(existsSync(marker), 'the command ran');
  const missing = parseConfig({ cassandra: { contact_points: ['a'] }, service: { pid_file: '/nonexistent/kask.pid' } });
  await t.rejects(restartService(missing), /cannot find the service's process \(pid file \/nonexistent\/kask.pid\)/);
});

void t.test('stopping during a restart gives the lease back at once and leaves the proxy depooled for the shutdown', async (t) => {
  const { remediator, lease, trafficSwitch, lines } = await setUp(t, { healthy_timeout_ms: 60_000 }, { healthy: false });
  // The restarted service never comes back healthy: the restart would wait a minute.
  const restarting = remediator.restart('stale_pool');
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.equal(lease.taken, 1);
  const stopped = Date.now();
  await remediator.stop();
  t.equal(lease.released, 1, 'released at stop, not after the TTL');
  t.ok(lines().some((l) => l.msg === 'stopping during a graceful restart: releasing the fleet lease now'), 'and said so');
  await restarting;
  t.ok(Date.now() - stopped < 1000, 'the restart under way gave up waiting');
  t.equal(lease.released, 1, 'released once');
  t.equal(trafficSwitch.depooled, true, 'not repooled while the sidecar shuts down');
  t.equal(await remediator.restart('manual'), null, 'no restart after stop');
});
