// The restart sequence's logic with a fake lease, a fake restart and a fake pool (the
// real ones run in test/e2e): pause and resume, the manual trigger, backoff growth and
// its cap, the hourly budget, a restart that does not cure, dry run, and stopping
// mid-restart. Time is virtual (test/support/virtual-clock.ts): no test sleeps.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { temporaryDirectory } from '../../lab/cleanup.ts';
import { parseConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { isServiceRule, type Finding, type Verdict } from '../../src/reconcile/diagnose.ts';
import type { FleetLease } from '../../src/remediate/lease.ts';
import { Remediator } from '../../src/remediate/remediator.ts';
import { restartService } from '../../src/remediate/restart-action.ts';
import { TrafficSwitch } from '../../src/proxy/traffic-switch.ts';
import { createRegistry } from '../../src/telemetry/metrics.ts';
import { startUpstream, testLogger } from '../support/http.ts';
import { metric } from '../support/monitor.ts';
import { VirtualClock } from '../support/virtual-clock.ts';

const staleFinding: Finding = { rule: 'stale_pool', since: 0, evidence: "10.0.0.2 has been a healthy coordinator for 80 s and the service's pool has held 0 connections to it for 80 s (grace 75 s for both)", addresses: ['10.0.0.2'] };
const restartVerdict = (finding: Finding = staleFinding): Verdict =>
  ({ action: 'restart', rule: isServiceRule(finding.rule) ? finding.rule : null, findings: [finding], suppressed: null, brokenCoordinators: [], evidence: [finding.evidence] });
const quietVerdict: Verdict = { action: 'none', rule: null, findings: [], suppressed: null, brokenCoordinators: [], evidence: [] };

type CountingLease = FleetLease & { taken: number; released: number; attempts: number; renewals: number; keeps: boolean; leftByPreviousSidecar: string | null; onRenew: () => void };

function fakeLease(holderElsewhere: { value: string | null }): CountingLease {
  const lease = {
    holder: 'test-pod',
    taken: 0,
    released: 0,
    attempts: 0,
    renewals: 0,
    /** What a renewal finds: false once the lease expired or another pod took it. */
    keeps: true,
    /** A lease this pod's previous sidecar held when it stopped: the next acquire takes it over. */
    leftByPreviousSidecar: null as string | null,
    acquire: () => {
      lease.attempts++;
      if (holderElsewhere.value !== null) return Promise.resolve({ acquired: false, holder: holderElsewhere.value });
      lease.taken++;
      const previous = lease.leftByPreviousSidecar;
      lease.leftByPreviousSidecar = null;
      return Promise.resolve({ acquired: true, holder: 'test-pod', ...(previous === null ? {} : { tookOverFrom: previous }) });
    },
    release: () => {
      lease.released++;
      return Promise.resolve();
    },
    /** Called at each renewal: a test's way to change the world at a point of the restart. */
    onRenew: () => undefined,
    renew: () => {
      lease.renewals++;
      lease.onRenew();
      return Promise.resolve(lease.keeps);
    },
  };
  return lease as unknown as CountingLease;
}

/** `signalled`: what the fake restart waits for before it returns (a signal still in flight). */
async function setUp(t: Test, remediation: Record<string, unknown> = {}, service: { healthy: boolean; pool: Record<string, number>; gone?: string; inflight?: number; signalled?: Promise<void> } = { healthy: true, pool: { '10.0.0.1': 2, '10.0.0.2': 2 } }) {
  const upstream = await startUpstream(t, (req, res) => {
    res.writeHead(req.url === '/healthz' && !service.healthy ? 503 : 200);
    res.end();
  });
  const config = parseConfig({ upstream: { url: upstream.url }, cassandra: { contact_points: ['127.0.0.1'] }, remediation: { healthy_timeout_ms: 1500, backoff_base_ms: 60_000, ...remediation } });
  const registry = createRegistry('test');
  const elsewhere = { value: null as string | null };
  const lease = fakeLease(elsewhere);
  const restarts: string[] = [];
  const { logger, lines } = testLogger();
  const trafficSwitch = new TrafficSwitch(logger, 0);
  const clock = new VirtualClock();
  const remediator = new Remediator({
    config, lease, trafficSwitch, inflight: () => service.inflight ?? 0, registry, logger,
    restart: async () => { restarts.push('restart'); await service.signalled; return { signalledPid: null, detail: 'fake restart' }; },
    servicePool: () => Promise.resolve(service.pool),
    serviceCanary: () => Promise.resolve('ok'),
    recheck: () => Promise.resolve(service.gone ?? null),
    clock,
    random: () => 0.5, // the lease's jitter at its middle: waits of exactly lease_retry_ms
  });
  const settled = async (): Promise<void> => {
    while (remediator.status().inProgress) await new Promise((resolve) => setImmediate(resolve));
  };
  return { remediator, lease, elsewhere, restarts, registry, lines, trafficSwitch, clock, settled, service };
}

void t.test('pause holds automatic restarts back; resume lets them through', async (t) => {
  const { remediator, restarts, registry, settled } = await setUp(t);
  remediator.pause();
  t.match(await remediator.consider(restartVerdict()), { outcome: 'held', held: { reason: 'paused', why: /POST \/remediation\/resume/, until: null } }, 'held, not by itself');
  t.equal(await metric(registry, 'sessionstore_sidecar_remediation_suppressed', { reason: 'paused' }), 1);
  t.same(restarts, [], 'nothing while paused');
  remediator.resume();
  t.same(await remediator.consider(restartVerdict()), { outcome: 'restarting' }, 'nothing holds it back now: the lease is taken and the restart runs');
  await settled();
  t.same(restarts, ['restart']);
  t.match(remediator.status().history[0], { result: 'restarted', reason: 'stale_pool', addresses: ['10.0.0.2'] }, 'cured: the pool holds 10.0.0.2 again');
  t.equal(await metric(registry, 'sessionstore_sidecar_pool_restarts_total', { rule: 'stale_pool', result: 'restarted' }), 1);
});

void t.test('an operator\'s restart answers what happened, with the status to match', async (t) => {
  const { remediator, restarts, elsewhere, service } = await setUp(t);
  t.match(await remediator.operatorRestart(), { status: 200, outcome: 'restarted', restart: { reason: 'manual', result: 'restarted' } }, 'restarted: 200');
  remediator.pause();
  t.match(await remediator.operatorRestart(), { status: 409, outcome: 'refused', reason: 'paused', why: /POST \/remediation\/resume first/ }, 'paused: refused, and how to go on');
  remediator.resume();
  elsewhere.value = 'another-pod';
  t.match(await remediator.operatorRestart(), { status: 409, outcome: 'refused', reason: 'lease_held', why: /another-pod is restarting its service/ }, 'the lease held elsewhere: refused, and by whom');
  elsewhere.value = null;
  const busy = remediator.restart('stale_pool');
  t.match(await remediator.operatorRestart(), { status: 409, reason: 'in_progress' }, 'one under way: refused');
  await busy;
  service.healthy = false;
  t.match(await remediator.operatorRestart(), { status: 502, outcome: 'unhealthy' }, 'ran, but the service came back unhealthy: 502');
  service.healthy = true;
  t.equal(restarts.length, 3, 'only the three that ran restarted anything');
  const { remediator: off } = await setUp(t, { enabled: false });
  t.match(await off.operatorRestart(), { status: 409, reason: 'disabled', why: /remediation.enabled is false/ }, 'disabled: refused');
  await remediator.stop();
  t.match(await remediator.operatorRestart(), { status: 503, reason: 'stopping' }, 'shutting down: 503');
});

void t.test('the manual trigger restarts now, skipping backoff, but always takes the lease and repools', async (t) => {
  const { remediator, lease, restarts, trafficSwitch, elsewhere } = await setUp(t);
  t.match(await remediator.restart('manual', ['by hand']), { reason: 'manual', result: 'restarted' });
  t.equal((await remediator.restart('manual'))?.result, 'restarted', 'no backoff for a human');
  t.same([lease.taken, lease.released, restarts.length], [2, 2, 2]);
  t.equal(trafficSwitch.depooled, false, 'repooled');
  elsewhere.value = 'another-pod';
  t.equal(await remediator.restart('manual'), null, 'another pod holds the lease: nothing done');
  t.equal(restarts.length, 2);
  t.match(remediator.status().suppressed, { reason: 'lease_held', why: /another-pod is restarting its service/ });
});

void t.test('a lease left by this pod\'s previous sidecar: taken over, said, and one restart', async (t) => {
  const { remediator, lease, restarts, lines } = await setUp(t);
  lease.leftByPreviousSidecar = 'test-pod:41';
  t.match(await remediator.restart('stale_pool', ['node 2 missing']), { result: 'restarted' });
  t.equal(restarts.length, 1);
  t.match(lines().find((l) => String(l.msg).startsWith('took the fleet lease over')), { level: 'warn', previous_holder: 'test-pod:41' }, 'the log says from whom');
});

void t.test('while another pod holds the lease: the answer says who and until when; one attempt per jittered wait, and said once', async (t) => {
  const { remediator, lease, elsewhere, clock, restarts, lines, settled, registry } = await setUp(t, { lease_retry_ms: 10_000 });
  elsewhere.value = 'another-pod';
  const asked = clock.now();
  t.match(await remediator.consider(restartVerdict()), { outcome: 'held', held: { reason: 'lease_held', why: /another-pod is restarting its service/, until: asked + 10_000 } },
    'the first verdict asks for the lease, and its answer says at once who holds it and when it is tried again');
  t.match(remediator.status().suppressed, { reason: 'lease_held', until: new Date(asked + 10_000).toISOString() }, '/status formats the time');
  t.equal(lease.attempts, 1);
  for (let tick = 0; tick < 5; tick++) {
    clock.advance(1000);
    t.match(await remediator.consider(restartVerdict()), { outcome: 'held', held: { reason: 'lease_held', until: asked + 10_000 } }, `${tick + 1} s later: held, until the same time`);
  }
  t.equal(lease.attempts, 1, 'no Paxos round while waiting');
  t.equal(await metric(registry, 'sessionstore_sidecar_lease_rounds_total', { operation: 'acquire' }), 1, 'and each round counted');
  clock.advance(5000);
  t.match(await remediator.consider(restartVerdict()), { outcome: 'held', held: { reason: 'lease_held', until: clock.now() + 10_000 } }, 'after the wait: tried again, and a new wait');
  t.equal(lease.attempts, 2);
  t.equal(lines().filter((l) => l.msg === 'another sidecar in this data center is restarting its service; waiting for the lease' && l.level === 'warn').length, 1, 'the wait is said once per holder, not per attempt');
  elsewhere.value = null;
  clock.advance(10_000);
  t.same(await remediator.consider(restartVerdict()), { outcome: 'restarting' }, 'the lease free: the restart goes ahead');
  await settled();
  t.same([lease.attempts, restarts.length], [3, 1]);
});

void t.test('backoff doubles with each restart in the hour, up to backoff_max_ms', async (t) => {
  const { remediator, clock, settled } = await setUp(t, { backoff_base_ms: 60_000, backoff_max_ms: 150_000, max_restarts_per_hour: 10 });
  const waits: number[] = [];
  for (let i = 0; i < 4; i++) {
    t.same(await remediator.consider(restartVerdict()), { outcome: 'restarting' }, `restart ${i + 1} goes ahead`);
    await settled();
    const nextAllowedAt = Date.parse(remediator.status().nextAllowedAt ?? '');
    waits.push(Math.round((nextAllowedAt - clock.now()) / 1000));
    t.match(await remediator.consider(restartVerdict()), { outcome: 'held', held: { reason: 'backoff', until: nextAllowedAt } }, 'held back until then');
    clock.advance((waits.at(-1) ?? 0) * 1000 + 1000);
  }
  t.same(waits, [60, 120, 150, 150], 'base, doubled, then capped');
});

void t.test('the hourly budget: spent, held back with when it frees, then free again an hour later', async (t) => {
  const { remediator, clock, settled, lines, registry } = await setUp(t, { max_restarts_per_hour: 2, backoff_base_ms: 1000, backoff_max_ms: 1000 });
  let first = 0;
  for (let i = 0; i < 2; i++) {
    if (i === 0) first = clock.now();
    await remediator.consider(restartVerdict({ ...staleFinding, addresses: [`10.0.0.${i + 2}`] }));
    await settled();
    clock.advance(2000);
  }
  t.match(await remediator.consider(restartVerdict({ ...staleFinding, addresses: ['10.0.0.9'] })), { outcome: 'held', held: { reason: 'budget_exhausted', why: /2 restarts in the last hour \(budget 2\): a human is needed/, until: first + 3_600_000 } });
  t.match(remediator.status(), { restartsLastHour: 2, budget: 2, budgetFreesAt: /^\d{4}-/ });
  t.equal(await metric(registry, 'sessionstore_sidecar_remediation_suppressed', { reason: 'budget_exhausted' }), 1);
  t.equal(lines().filter((l) => l.level === 'error' && String(l.msg).startsWith('not restarting the service again')).length, 1, 'one error line for a human');
  clock.advance(3_600_000);
  t.same(await remediator.consider(restartVerdict({ ...staleFinding, addresses: ['10.0.0.9'] })), { outcome: 'restarting' }, 'an hour later the budget is free');
  await settled();
});

void t.test('a restart that does not bring the missing node back: not_cured, never repeated for that evidence, and says so', async (t) => {
  const service = { healthy: true, pool: { '10.0.0.1': 2, '10.0.0.2': 0 } as Record<string, number> };
  const { remediator, restarts, clock, settled, registry, lines } = await setUp(t, { backoff_base_ms: 1000, backoff_max_ms: 1000 }, service);
  await remediator.consider(restartVerdict());
  await settled();
  t.match(remediator.status().history[0], { result: 'not_cured', detail: /the service answers, but its pool still holds no connection to 10\.0\.0\.2 within 1500 ms/ });
  t.equal(await metric(registry, 'sessionstore_sidecar_pool_restarts_total', { rule: 'stale_pool', result: 'not_cured' }), 1, 'counted as not_cured');
  t.equal(await metric(registry, 'sessionstore_sidecar_pool_restarts_total', { rule: 'stale_pool', result: 'restarted' }), 0, 'and not as restarted');
  clock.advance(60_000);
  t.match(await remediator.consider(restartVerdict()), { outcome: 'held', held: { reason: 'not_cured', why: /did not change this \(stale_pool: 10\.0\.0\.2\); another would not either: a human is needed/, until: null } }, 'the same evidence: held back, past the backoff, and not by itself');
  t.match(remediator.status(), { suppressed: { reason: 'not_cured' }, notCured: { rule: 'stale_pool', addresses: ['10.0.0.2'] } }, '/status says the same as the metric');
  t.equal(await metric(registry, 'sessionstore_sidecar_remediation_suppressed', { reason: 'not_cured' }), 1);
  t.ok(lines().some((l) => l.level === 'error' && l.reason === 'not_cured'), 'an error line calls for a human');
  t.equal(restarts.length, 1);
  t.same(await remediator.consider(restartVerdict({ ...staleFinding, addresses: ['10.0.0.3'] })), { outcome: 'restarting' }, 'other evidence may still be acted on');
  await settled();
  await remediator.consider(quietVerdict);
  t.equal(remediator.status().notCured, null, 'the uncured evidence is forgotten once it no longer holds');
});

void t.test('a service that never answers again: unhealthy', async (t) => {
  const { remediator, settled } = await setUp(t, {}, { healthy: false, pool: {} });
  await remediator.consider(restartVerdict());
  await settled();
  t.match(remediator.status().history[0], { result: 'unhealthy', detail: /the service did not answer \/healthz within 1500 ms/ });
});

void t.test('a verdict that holds nothing back clears the suppression; a view suppression is passed on', async (t) => {
  const { remediator, registry } = await setUp(t);
  t.same(await remediator.consider({ ...quietVerdict, action: 'suppressed', suppressed: { reason: 'broken_coordinator', why: 'w' } }), { outcome: 'held', held: { reason: 'broken_coordinator', why: 'w', until: null } });
  t.equal(await metric(registry, 'sessionstore_sidecar_remediation_suppressed', { reason: 'broken_coordinator' }), 1);
  t.same(await remediator.consider(quietVerdict), { outcome: 'none' });
  t.equal(await metric(registry, 'sessionstore_sidecar_remediation_suppressed', { reason: 'broken_coordinator' }), 0);
});

void t.test('dry run: no effect on traffic at all (no lease, no depool, no signal); it says what it would do, and backs off like a restart', async (t) => {
  const { remediator, restarts, lease, trafficSwitch, lines, registry } = await setUp(t, { dry_run: true }, { healthy: true, pool: { '10.0.0.2': 0 } });
  const depools: string[] = [];
  const depool = trafficSwitch.depool.bind(trafficSwitch);
  trafficSwitch.depool = (reason: string) => { depools.push(reason); return depool(reason); };
  t.match(await remediator.consider(restartVerdict()), { outcome: 'dry_run', record: { result: 'dry_run' } }, 'the answer is the account');
  t.match(remediator.status().history[0], { result: 'dry_run', durationMs: 0, detail: /would take the fleet lease, depool for \d+ ms, drain .* and restart the service by signal; nothing was done/ });
  t.same(restarts, [], 'no signal');
  t.same([lease.taken, lease.released], [0, 0], 'no lease');
  t.same(depools, [], 'no depool');
  t.equal(trafficSwitch.depooled, false, 'readiness never failed');
  t.match(lines().find((l) => l.msg === 'dry run: would restart the service now'), { evidence: [/10\.0\.0\.2 has been a healthy coordinator/] }, 'and it said so, with the evidence');
  t.equal(await metric(registry, 'sessionstore_sidecar_pool_restarts_total', { rule: 'stale_pool', result: 'dry_run' }), 1);
  t.match(await remediator.consider(restartVerdict()), { outcome: 'held', held: { reason: 'backoff' } }, 'the next would-be restart waits for the backoff, as a real one would');
});

void t.test('dry run: its accounts spend no restart budget (nothing was restarted), and the backoff between them grows as between restarts', async (t) => {
  const { remediator, clock, registry, lines } = await setUp(t, { dry_run: true, max_restarts_per_hour: 2, backoff_base_ms: 1000, backoff_max_ms: 60_000 }, { healthy: true, pool: { '10.0.0.2': 0 } });
  const waits: number[] = [];
  for (let i = 0; i < 4; i++) {
    t.match(await remediator.consider(restartVerdict()), { outcome: 'dry_run' }, `account ${i + 1} for the same lasting evidence: still an account, never held for a spent budget`);
    const held = await remediator.consider(restartVerdict());
    t.match(held, { outcome: 'held', held: { reason: 'backoff' } });
    const until = held.outcome === 'held' ? held.held.until ?? 0 : 0;
    waits.push(until - clock.now());
    clock.advance(until - clock.now());
  }
  t.same(waits, [1000, 2000, 4000, 8000], 'the backoff doubles with each account, as with each restart');
  t.match(remediator.status(), { restartsLastHour: 0, budgetFreesAt: null }, 'no restart spent the budget');
  t.equal(await metric(registry, 'sessionstore_sidecar_remediation_suppressed', { reason: 'budget_exhausted' }), 0, 'nothing pages for a spent budget');
  t.notOk(lines().some((l) => String(l.msg).startsWith('not restarting the service again')), 'nor says a human is needed for one');
  t.equal(await metric(registry, 'sessionstore_sidecar_pool_restarts_total', { rule: 'stale_pool', result: 'dry_run' }), 4, 'each account is counted as one');
});

void t.test('a restart whose reason went by the last moment is cancelled: repooled, no signal, no budget spent', async (t) => {
  const { remediator, restarts, settled, lease, trafficSwitch, registry } = await setUp(t, { max_restarts_per_hour: 1 }, { healthy: true, pool: { '10.0.0.2': 2 }, gone: "stale_pool no longer holds: the service's view agrees with the cluster's" });
  await remediator.consider(restartVerdict());
  await settled();
  t.match(remediator.status().history[0], { result: 'cancelled', detail: /cancelled before the signal: stale_pool no longer holds/ });
  t.same(restarts, [], 'no signal');
  t.same([lease.taken, lease.released], [1, 1], 'the lease was taken and given back');
  t.equal(trafficSwitch.depooled, false, 'repooled');
  t.equal(await metric(registry, 'sessionstore_sidecar_pool_restarts_total', { rule: 'stale_pool', result: 'cancelled' }), 1);
  t.equal(remediator.status().restartsLastHour, 0, 'a cancelled restart does not spend the hourly budget');
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
  // A secret planted in every place these settings can carry one never comes back in what is shown.
  const secret = 'PLANTED-SECRET-7f3a';
  const withCredentials = parseConfig({ cassandra: { contact_points: ['a'] }, remediation: { action: 'http', http_url: `${reload.url.replace('//', `//kask:${secret}@`)}/reload?token=${secret}#${secret}` } });
  const shown = await restartService(withCredentials);
  t.notMatch(shown.detail, secret, `the URL is shown without its credentials: ${shown.detail}`);
  t.match(shown.detail, /POST http:\/\/\*\*\*@127\.0\.0\.1:\d+\/reload\?token=\*\*\*#\*\*\*: 204/);
  const refusing = await startUpstream(t, (_req, res) => { res.writeHead(403); res.end(); });
  const refused = parseConfig({ cassandra: { contact_points: ['a'] }, remediation: { action: 'http', http_url: `${refusing.url}/reload?token=${secret}` } });
  const failureOf = (config: Config): Promise<string> => restartService(config).then(() => 'no failure', (error: unknown) => (error as Error).message);
  const refusal = await failureOf(refused);
  t.match(refusal, /answered 403/);
  t.notMatch(refusal, secret, `a refusal is shown without the token: ${refusal}`);
  const failing = parseConfig({ cassandra: { contact_points: ['a'] }, remediation: { action: 'command', command: ['false', `--password=${secret}`] } });
  const commandFailure = await failureOf(failing);
  t.match(commandFailure, /^false \(1 argument, not shown.*\) failed \(exit 1\)$/, `a failed command is shown without its arguments: ${commandFailure}`);
  const secretCommand = parseConfig({ cassandra: { contact_points: ['a'] }, remediation: { action: 'command', command: ['true', secret] } });
  t.notMatch((await restartService(secretCommand)).detail, secret, 'arguments are not shown by default');
  const shownArgs = parseConfig({ cassandra: { contact_points: ['a'] }, remediation: { action: 'command', command: ['true', 'plain'], show_command_args: true } });
  t.equal((await restartService(shownArgs)).detail, 'ran true plain', 'unless configured as not secret');
  const missing = parseConfig({ cassandra: { contact_points: ['a'] }, service: { pid_file: '/nonexistent/kask.pid' } });
  await t.rejects(restartService(missing), /cannot find the service's process \(pid file \/nonexistent\/kask.pid\)/);
});

void t.test('stopping during a restart gives the lease back at once and leaves the proxy depooled for the shutdown', async (t) => {
  // The signal is still in flight when the sidecar is told to stop; the service never comes back healthy.
  let signalDone = (): void => undefined;
  const signalled = new Promise<void>((resolve) => { signalDone = resolve; });
  const { remediator, lease, trafficSwitch, lines, restarts } = await setUp(t, { healthy_timeout_ms: 60_000 }, { healthy: false, pool: {}, signalled });
  const restarting = remediator.restart('stale_pool');
  while (restarts.length === 0) await new Promise((resolve) => setImmediate(resolve));
  t.equal(lease.taken, 1);
  await remediator.stop();
  t.equal(lease.released, 1, 'released at stop, not after the TTL');
  t.ok(lines().some((l) => l.msg === 'stopping during a graceful restart: releasing the fleet lease now'), 'and said so');
  signalDone();
  t.match(await restarting, null, 'the restart under way gave up waiting for a healthy service, and recorded nothing');
  t.equal(lease.released, 1, 'released once');
  t.equal(trafficSwitch.depooled, true, 'not repooled while the sidecar shuts down');
  t.equal(await remediator.restart('manual'), null, 'no restart after stop');
});

void t.test('the lease is renewed while a restart holds it; one lost before the signal cancels the restart', async (t) => {
  const slow = await setUp(t, { lease_ttl_seconds: 1, healthy_timeout_ms: 3000 }, { healthy: false, pool: { '10.0.0.1': 2, '10.0.0.2': 2 } });
  // The service answers again at the fourth renewal: the restart outlasts the TTL (1 s).
  slow.lease.onRenew = () => { if (slow.lease.renewals >= 4) slow.service.healthy = true; };
  const began = slow.clock.now();
  t.match(await slow.remediator.restart('manual'), { result: 'restarted' }, 'a service slow to come back: restarted');
  t.ok(slow.clock.now() - began > 1000, `the restart outlasted the TTL (${slow.clock.now() - began} ms)`);
  t.ok(slow.lease.renewals >= 2, `renewed every third of the TTL while it ran (${slow.lease.renewals} renewals)`);
  const renewals = slow.lease.renewals;
  slow.clock.advance(700);
  t.equal(slow.lease.renewals, renewals, 'and no more once released');

  const lost = await setUp(t, { lease_ttl_seconds: 1, drain_timeout_ms: 1000 }, { healthy: true, pool: { '10.0.0.1': 2, '10.0.0.2': 2 }, inflight: 1 });
  lost.lease.keeps = false;
  t.match(await lost.remediator.restart('stale_pool', [staleFinding.evidence], ['10.0.0.2']), { result: 'cancelled', detail: /the fleet lease was lost/ }, 'the lease gone while draining: cancelled');
  t.same(lost.restarts, [], 'never signalled: another pod may be depooled now');
  t.equal(lost.trafficSwitch.depooled, false, 'repooled');
  t.ok(lost.lines().some((l) => l.level === 'error' && /fleet lease was lost/.test(String(l.msg))), 'said as an error');
});
