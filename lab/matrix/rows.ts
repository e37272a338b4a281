// The production situations the sidecar must get right, each replayed on the real
// cluster with the gocql session service and an acting sidecar at its defaults, under
// steady traffic. A row says what must happen and measures what did: restarts (and
// when), requests failed in the fault window with and without the sidecar, retries
// tried and skipped, and how the service's own driver behaved (when its pool dropped
// and took back each node).
import { appendFileSync, copyFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { parseConfig } from '../../src/config/load.ts';
import type { RestartRecord, Shown } from '../../src/remediate/remediator.ts';
import { temporaryDirectory, type Cleanup } from '../cleanup.ts';
import { startFleet } from '../fleet/fleet.ts';
import { certificateAuthorityIn } from '../certs.ts';
import { blockGroupFrom, clusterTls, heal, healWithFlap, localNode, pauseNode, putBack, queryNode, rebootIsolated, replaceNode, resumeNode, startNode, stopNode, type NodeNumber } from '../cluster/cluster.ts';
import { sidecarRole, sidecarRoleName } from '../cluster/sidecar-schema.ts';
import { consistencies } from '../../src/cluster/coordinator-client.ts';
import { startPrometheus, type AlertLife, type PrometheusServer } from '../prometheus.ts';
import { bounceNode } from '../scenarios.ts';
import { startService } from '../session-service/harness.ts';
import { fleetLeaseHolder, loggedAt, metricOf, type SidecarProcess } from '../sidecar-process.ts';
import { sessionTraffic, type TrafficResult } from '../traffic.ts';
import { startPod, type Pod } from './pod.ts';
import { accountBetween, markOf, type RetryAccount } from './retry-account.ts';

export interface Window {
  sent: number;
  failed: number;
}

export interface RowResult {
  row: string;
  situation: string;
  expected: string;
  /** What happened, one short line each, in order. */
  happened: string[];
  restarts: number;
  failedWithSidecar: Window | null;
  failedWithout: Window | null;
  retries: { succeeded: number; failed: number; skipped: Record<string, number> } | null;
  /** Rows that measure at several rates: one entry per rate. */
  phases?: SplitViewPhase[];
  /** The stale-fleet row: how a data center's pods were healed. */
  healing?: FleetHealing;
  /** Whether the outcome is the one the row expects. */
  right: boolean;
}

export interface RowContext {
  owner: Cleanup;
  /** Steady rates of session traffic, requests per second: rows that measure one rate use the first. */
  rates: number[];
  log: (line: string) => void;
  /** The sidecar whose decision inputs stand for the row (the last one named): npm run matrix -- --record keeps them. */
  record: (sidecar: SidecarProcess) => void;
}

export interface Row {
  name: string;
  situation: string;
  expected: string;
  run(context: RowContext): Promise<RowResult>;
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

async function until(check: () => boolean | Promise<boolean>, limitMs: number): Promise<boolean> {
  const deadline = Date.now() + limitMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(250);
  }
  return false;
}

const windowOf = (before: TrafficResult, after: TrafficResult): Window => ({ sent: after.sent - before.sent, failed: after.failed - before.failed });

async function retriesOf(sidecar: SidecarProcess): Promise<RowResult['retries']> {
  const skipped: Record<string, number> = {};
  for (const reason of ['budget', 'no_local_quorum', 'body_too_large', 'deadline']) {
    const n = await metricOf(sidecar, 'sessionstore_sidecar_retries_skipped_total', { reason });
    if (n > 0) skipped[reason] = n;
  }
  return {
    succeeded: await metricOf(sidecar, 'sessionstore_sidecar_retries_total', { outcome: 'succeeded' }),
    failed: await metricOf(sidecar, 'sessionstore_sidecar_retries_total', { outcome: 'failed' }),
    skipped,
  };
}

/** The service's pool dropping and taking back one node, in words relative to `from`. */
const poolStory = (pod: Pod, address: string, from: number): string[] =>
  pod.poolChanges.filter((c) => c.address === address && c.at >= from)
    .map((c) => `${seconds(c.at - from)}: the service's pool ${c.connections === 0 ? 'dropped' : `holds ${c.connections} connections to`} ${address}`);

/** A real Prometheus scraping the pod's sidecar with the shipped rules. */
const prometheusOf = (owner: Cleanup, pod: Pod): Promise<PrometheusServer> => startPrometheus(owner, [new URL(pod.sidecar.adminUrl).host]);

/** The pages production would have sent, each with its life relative to `from`. */
const pagesSaid = (prometheus: PrometheusServer, pages: AlertLife[], from: number): string =>
  `pages: ${pages.length === 0 ? 'none' : pages.map((life) => `${life.alert} (${prometheus.describe(life, from)})`).join('; ')}`;

/** A pod under steady traffic through its sidecar, settled for 5 s before the row's fault. */
async function podUnderTraffic({ owner, record }: RowContext, rate: number, options: Parameters<typeof startPod>[1] = {}): Promise<{ pod: Pod; traffic: ReturnType<typeof sessionTraffic> }> {
  const pod = await startPod(owner, options);
  record(pod.sidecar);
  const traffic = sessionTraffic(owner, pod.sidecar.url, { perSecond: rate });
  await sleep(5000);
  return { pod, traffic };
}

/** The same, watched by a Prometheus of its own for the pages it would send; `startedAt` when the row's fault begins. */
async function watchedPodUnderTraffic(context: RowContext, rate: number, options: Parameters<typeof startPod>[1] = {}): Promise<{ pod: Pod; traffic: ReturnType<typeof sessionTraffic>; prometheus: PrometheusServer; startedAt: number }> {
  const { pod, traffic } = await podUnderTraffic(context, rate, options);
  const prometheus = await prometheusOf(context.owner, pod);
  return { pod, traffic, prometheus, startedAt: Date.now() };
}

const nodeRestarts: Row = {
  name: 'node-restarts',
  situation: 'three normal node restarts (stop, start), one node after another',
  expected: 'no restart; the service takes each node back by itself (gocql: about 10 s after it answers)',
  async run(context) {
    const { rates: [rate = 30], log } = context;
    const { pod, traffic } = await podUnderTraffic(context, rate);
    const happened: string[] = [];
    let right = true;
    for (const n of [2, 3, 1] as NodeNumber[]) {
      const address = `127.0.0.${n}`;
      log(`stopping and starting node ${n}`);
      const answeredAt = await bounceNode(n);
      const back = await until(() => pod.holds(address), 90_000);
      const backMs = Date.now() - answeredAt;
      happened.push(back ? `node ${n}: the service's pool took it back ${seconds(backMs)} after it answered CQL` : `node ${n}: not taken back within 90 s`);
      right &&= back;
      await sleep(10_000);
    }
    // Long enough for any rule's sustain to pass after the last node's return.
    await sleep(10_000);
    const result = await traffic.stop();
    const restarts = await pod.restarts();
    happened.push(`${restarts} restarts by the sidecar; ${result.failed} of ${result.sent} requests failed (${JSON.stringify(result.failures)})`);
    return { row: this.name, situation: this.situation, expected: this.expected, happened, restarts, failedWithSidecar: { sent: result.sent, failed: result.failed }, failedWithout: null, retries: await retriesOf(pod.sidecar), right: right && restarts === 0 };
  },
};

/** One steady rate in the split view: what failed with the sidecar and without, and what its retries did. */
export interface SplitViewPhase {
  rate: number;
  /** Requests per second really sent through the sidecar: below `rate` when the machine cannot keep up. */
  sentPerSecond: number;
  withSidecar: Window;
  without: Window;
  retries: RetryAccount;
  /**
   * Extra load on the coordinators that work, against what they serve without retries:
   * in the split view every attempt on the broken one fails, so every request served went
   * through a healthy one, where without the sidecar only the share that did not fail did.
   */
  healthyExtraLoad: number;
}

const flakyNode: Row = {
  name: 'flaky-node',
  situation: 'node 2 stalls (SIGSTOP, as a long GC pause or a stalled disk does) for 2 s, then twice for 5 s, 8 s apart: a probe fails and the next succeeds, then its breaker opens and half-opens; then node 3 restarts, its breaker half-opening while it settles into gossip',
  expected: 'no node named a broken coordinator (one probe or canary is never evidence), no restart, no page',
  async run(context) {
    const { rates: [rate = 30], log } = context;
    const { pod, traffic, prometheus, startedAt } = await watchedPodUnderTraffic(context, rate);
    // Probes run every 2 s with a 1.5 s timeout, and 2 failures open the breaker: 2 s fails about one probe, 5 s opens it.
    for (const stallMs of [2000, 5000, 5000]) {
      log(`node 2 stalls for ${seconds(stallMs)}`);
      pauseNode(2);
      await sleep(stallMs);
      resumeNode(2);
      await sleep(8000);
    }
    log('restarting node 3');
    await bounceNode(3);
    await until(() => pod.holds('127.0.0.3'), 90_000);
    await sleep(10_000);
    const result = await traffic.stop();
    const restarts = await pod.restarts();
    const pages = prometheus.productionPages();
    // The fault is real only if node 2's breaker went through open and half-open.
    const stalled = await metricOf(pod.sidecar, 'sessionstore_sidecar_coordinator_breaker_events_total', { address: '127.0.0.2', event: 'half_open' }) > 0;
    const named = pod.sidecar.logs.filter((l) => / cannot coordinate LOCAL_QUORUM while others can/.test(String(l.msg))).map((l) => String(l.msg).split(' cannot')[0] ?? '');
    const happened = [
      `node 2's probes: ${(await Promise.all(['timeout', 'failure', 'open', 'half_open', 'close'].map(async (event) => `${await metricOf(pod.sidecar, 'sessionstore_sidecar_coordinator_breaker_events_total', { address: '127.0.0.2', event })} ${event}`))).join(', ')}`,
      `named a broken coordinator: ${named.length === 0 ? 'none' : named.join('; ')}`,
      `${restarts} restarts and ${pod.depools().length} depools by the sidecar`,
      pagesSaid(prometheus, pages, startedAt),
      `${result.failed} of ${result.sent} requests failed (${JSON.stringify(result.failures)})`,
    ];
    return {
      row: this.name, situation: this.situation, expected: this.expected, happened, restarts,
      failedWithSidecar: { sent: result.sent, failed: result.failed }, failedWithout: null, retries: await retriesOf(pod.sidecar),
      right: stalled && named.length === 0 && restarts === 0 && pod.depools().length === 0 && pages.length === 0,
    };
  },
};

const splitView: Row = {
  name: 't327954',
  situation: "T327954 as it happened: node 1 rebooted deaf to its peers' gossip, kept UP by them; traffic at each rate in turn; then it heals, the cluster flapping it DOWN and UP",
  expected: 'no restart, during the fault or after the heal; node 1 named; fewer than 1% of requests fail through the sidecar at every rate',
  async run({ owner, rates, log, record }) {
    const pod = await startPod(owner);
    record(pod.sidecar);
    const bare = await startService(owner, {});
    const steady = (rate: number) => ({ through: sessionTraffic(owner, pod.sidecar.url, { perSecond: rate }), direct: sessionTraffic(owner, bare.url, { perSecond: rate }) });
    const [firstRate = 30, ...laterRates] = rates;
    let traffic = steady(firstRate);
    await sleep(5000);
    log('rebooting node 1 deaf to its peers\' gossip (they keep it UP)');
    const backAt = await rebootIsolated(1, undefined, { peersKeepItUp: true, gossipOnly: true });
    const happened = [`node 1 answered CQL again at 0.0 s`];
    // gocql takes node 1 back at its reconnect ticker (60 s): the split view begins for users then.
    const taken = await until(() => pod.holds('127.0.0.1'), 90_000);
    happened.push(taken ? `${seconds(Date.now() - backAt)}: the service's pool holds node 1 again: the split view begins` : 'the service never took node 1 back within 90 s');
    const phases: SplitViewPhase[] = [];
    for (const [i, rate] of [firstRate, ...laterRates].entries()) {
      if (i > 0) {
        await Promise.all([traffic.through.stop(), traffic.direct.stop()]);
        traffic = steady(rate);
        // The new rate's connections and the service's goroutines settle before the window opens.
        await sleep(3000);
      }
      log(`${rate} requests per second in the split view`);
      const before = { through: traffic.through.snapshot(), direct: traffic.direct.snapshot(), mark: await markOf(pod.sidecar) };
      await sleep(phaseMs(rates.length));
      const during = { through: traffic.through.snapshot(), direct: traffic.direct.snapshot(), mark: await markOf(pod.sidecar) };
      const withSidecar = windowOf(before.through, during.through);
      const without = windowOf(before.direct, during.direct);
      const healthyExtraLoad = (withSidecar.sent - withSidecar.failed) / Math.max(1, (1 - shareOf(without)) * withSidecar.sent) - 1;
      const phase = { rate, sentPerSecond: Math.round(withSidecar.sent / (phaseMs(rates.length) / 1000)), withSidecar, without, retries: accountBetween(before.mark, during.mark), healthyExtraLoad };
      phases.push(phase);
      happened.push(`at ${rate}/s (${phase.sentPerSecond}/s sent): ${describePhase(phase)}`);
    }
    const named = pod.sidecar.logs.find((l) => String(l.msg).startsWith('Cassandra node 127.0.0.1 cannot coordinate'));
    happened.push(named ? `${seconds(Date.parse(String(named.time)) - backAt)}: the sidecar named node 1` : 'the sidecar never named node 1');
    const restartsInFault = await pod.restarts();
    // After the heal, the first rate again: what matters there is a restart, not the load.
    await Promise.all([traffic.through.stop(), traffic.direct.stop()]);
    const through = sessionTraffic(owner, pod.sidecar.url, { perSecond: firstRate });
    log('healing: the peers convict node 1 once, then hear it again');
    const healedAt = Date.now();
    await healWithFlap();
    // stale_pool needs the pool to lack node 1 for the whole grace (75 s): a restart after the heal could only come
    // while the driver has not taken node 1 back by itself (10 s after its UP, or its 60 s reconnect), and for the
    // sustain (5 s) and a pool observation (2 s) after that; with a margin, a restart after the heal shows here.
    const retaken = await until(() => pod.holds('127.0.0.1'), 75_000);
    if (!retaken) happened.push('after the heal, the service\'s pool did not take node 1 back within the grace (75 s)');
    await sleep(15_000);
    const restarts = await pod.restarts();
    happened.push(...poolStory(pod, '127.0.0.1', healedAt).map((line) => `after the heal, ${line}`));
    for (const depool of pod.depools()) happened.push(`${seconds(depool - healedAt)} after the heal: the sidecar depooled to restart the service`);
    const after = await through.stop();
    happened.push(`${restartsInFault} restarts during the fault, ${restarts - restartsInFault} after the heal; after the heal ${after.failed} of ${after.sent} requests failed through the sidecar (${JSON.stringify(after.failures)})`);
    const total = (pick: (p: SplitViewPhase) => Window): Window => ({ sent: phases.reduce((n, p) => n + pick(p).sent, 0), failed: phases.reduce((n, p) => n + pick(p).failed, 0) });
    return {
      row: this.name, situation: this.situation, expected: this.expected, happened, restarts, phases,
      failedWithSidecar: total((p) => p.withSidecar), failedWithout: total((p) => p.without), retries: await retriesOf(pod.sidecar),
      right: taken && retaken && named !== undefined && restarts === 0 && phases.every((p) => shareOf(p.withSidecar) < 0.01),
    };
  },
};

/** The fault window: 60 s, shared by the rates, at least 30 s each. */
const phaseMs = (rates: number): number => Math.max(30_000, 60_000 / rates);

const shareOf = (w: Window): number => w.failed / Math.max(1, w.sent);
const percent = (share: number): string => `${(100 * share).toFixed(2)}%`;
const ms = (value: number | null): string => (value === null ? '–' : `${value.toFixed(1)} ms`);

export function describePhase({ withSidecar, without, retries: r, healthyExtraLoad }: SplitViewPhase): string {
  return `${withSidecar.failed} of ${withSidecar.sent} failed through the sidecar (${percent(shareOf(withSidecar))}), ${without.failed} of ${without.sent} straight to the service (${percent(shareOf(without))}); `
    + `${r.tried} retries tried, ${r.succeeded} succeeded, skipped ${JSON.stringify(r.skipped)}; extra load ${percent(r.extraLoad)} on the cluster, ${percent(healthyExtraLoad)} on the healthy coordinators; `
    + `retried requests p50 ${ms(r.latencyMs.retried.p50)} p99 ${ms(r.latencyMs.retried.p99)} (all requests p50 ${ms(r.latencyMs.all.p50)} p99 ${ms(r.latencyMs.all.p99)})`;
}

const crashLoop: Row = {
  name: 'crash-loop',
  situation: 'a rollout with a broken config: the service exits at start, and the kubelet restarts it with its CrashLoopBackOff (10 s, 20 s, 40 s, ...)',
  expected: "no restart by the sidecar (the kubelet's business); not ready; /status says the service does not answer",
  async run({ owner, rates: [rate = 10], log, record }) {
    const pod = await startPod(owner, { service: { crashLoopBackOff: true } });
    record(pod.sidecar);
    const traffic = sessionTraffic(owner, pod.sidecar.url, { perSecond: rate });
    await sleep(5000);
    log('rolling out a config the service refuses, and stopping the running one');
    writeFileSync(pod.service.configFile, '{ "listen_port": 0 }');
    const brokeAt = Date.now();
    process.kill(pod.service.supervisor.pid() ?? 0, 'SIGTERM');
    // Long enough for the stale grace (75 s) and the sustain to pass with the pool empty: a sidecar that judged it would restart.
    await sleep(90_000);
    const status = await pod.sidecar.status() as { service?: { health?: { answering: boolean | null } }; reconcile?: { verdict?: { evidence?: string[] } } };
    const ready = await request(`${pod.sidecar.adminUrl}/readyz`, { reset: true }).then(async (r) => { await r.body.dump(); return r.statusCode === 200; });
    const result = await traffic.stop();
    const restarts = await pod.restarts();
    const exits = pod.service.supervisor.restarts();
    const happened = [
      `the service exited ${exits} times in ${seconds(Date.now() - brokeAt)} under the kubelet's backoff`,
      `${restarts} restarts and ${pod.depools().length} depools by the sidecar`,
      `readiness: ${ready ? 'ready' : 'not ready'}; /status service.health.answering: ${String(status.service?.health?.answering)}`,
      `the verdict's evidence: ${status.reconcile?.verdict?.evidence?.join('; ') ?? 'none'}`,
    ];
    return {
      row: this.name, situation: this.situation, expected: this.expected, happened, restarts, failedWithSidecar: { sent: result.sent, failed: result.failed }, failedWithout: null, retries: null,
      right: restarts === 0 && pod.depools().length === 0 && !ready && status.service?.health?.answering === false && exits >= 3,
    };
  },
};

const slowStartMs = 30_000;

const slowStart: Row = {
  name: 'slow-start',
  situation: `a deployment: the pod starts, and its service takes ${slowStartMs / 1000} s before it connects to Cassandra or answers; the balancer sends traffic once the pod is ready`,
  expected: 'not ready until the service answers, then ready; its empty pool is never judged stale; no restart, no page, no request fails',
  async run({ owner, rates: [rate = 30], log, record }) {
    const startedAt = Date.now();
    const pod = await startPod(owner, { service: { startDelayMs: slowStartMs } });
    record(pod.sidecar);
    const prometheus = await prometheusOf(owner, pod);
    const answers = async (url: string): Promise<boolean> => request(url, { reset: true }).then(async (r) => { await r.body.dump(); return r.statusCode === 200; }, () => false);
    let readyEarly = 0;
    const service: { answeredAt: number | null } = { answeredAt: null };
    await until(async () => {
      const ready = await answers(`${pod.sidecar.adminUrl}/readyz`);
      const answering = await answers(`${pod.service.url}/healthz`);
      service.answeredAt ??= answering ? Date.now() : null;
      if (ready && service.answeredAt === null) readyEarly++;
      return ready;
    }, slowStartMs + 30_000);
    const { answeredAt } = service;
    const readyAt = Date.now();
    log(`ready ${seconds(readyAt - startedAt)} after the pod started; traffic begins`);
    const traffic = sessionTraffic(owner, pod.sidecar.url, { perSecond: rate });
    // Past the sustain of every rule, with the pool full since the service answered.
    await sleep(20_000);
    const result = await traffic.stop();
    const restarts = await pod.restarts();
    const pages = prometheus.productionPages();
    // Watched (a possible divergence) or acted on: either would mean the empty pool was judged.
    const staleVerdicts = pod.sidecar.logs.filter((l) => /divergence.*stale_pool/.test(String(l.msg))).length;
    const happened = [
      answeredAt === null ? 'the service never answered' : `the service answered ${seconds(answeredAt - startedAt)} after the pod started; the sidecar was ready at ${seconds(readyAt - startedAt)}`,
      `readiness said ready ${readyEarly} times before the service answered`,
      `stale_pool findings logged: ${staleVerdicts}; ${restarts} restarts and ${pod.depools().length} depools by the sidecar`,
      pagesSaid(prometheus, pages, startedAt),
      `${result.failed} of ${result.sent} requests failed once ready (${JSON.stringify(result.failures)})`,
    ];
    return {
      row: this.name, situation: this.situation, expected: this.expected, happened, restarts,
      failedWithSidecar: { sent: result.sent, failed: result.failed }, failedWithout: null, retries: null,
      right: answeredAt !== null && readyEarly === 0 && staleVerdicts === 0 && restarts === 0 && pod.depools().length === 0 && pages.length === 0 && result.failed === 0,
    };
  },
};

/** One fault of the cluster-wide row: what the retries added, against what the rule allows. */
interface CeilingWindow {
  fault: string;
  seconds: number;
  retries: RetryAccount;
  /** The most retries the ordinary budget and the ceiling allow over the fault. */
  budgetAllows: number;
  ceilingAllows: number;
}

const clusterWide: Row = {
  name: 'cluster-wide',
  situation: 'a cluster-wide failure: two of three nodes stopped (no LOCAL_QUORUM anywhere), then, all back, one node paused with SIGSTOP so that what it coordinates times out',
  expected: 'no restart; retries within the ordinary budget (nothing explains the failures), never beyond the ceiling',
  async run(context) {
    const { rates: [rate = 30], log } = context;
    const { pod, traffic } = await podUnderTraffic(context, rate);
    const { retries } = parseConfig({ cassandra: { contact_points: ['127.0.0.1'] } });
    const windows: CeilingWindow[] = [];
    const measure = async (fault: string, act: () => Promise<void>, undo: () => Promise<void>): Promise<void> => {
      log(fault);
      const before = await markOf(pod.sidecar);
      const started = Date.now();
      await act();
      await sleep(40_000);
      const after = await markOf(pod.sidecar);
      const seconds = (Date.now() - started) / 1000;
      await undo();
      const account = accountBetween(before, after);
      // The budget is a sliding 10 s window: over the fault, at most the ratio of its requests (and of the 10 s
      // before it, which the first window still counts) plus the floor once for each 10 s it spans, and one more.
      const allows = (ratio: number): number => Math.ceil(ratio * (account.requests + rate * 10) + retries.min_per_second * 10 * (Math.ceil(seconds / 10) + 1));
      windows.push({ fault, seconds, retries: account, budgetAllows: allows(retries.budget_ratio), ceilingAllows: allows(retries.ceiling_ratio) });
      // Everyone back and judged healthy before the next fault.
      await until(async () => (await metricOf(pod.sidecar, 'sessionstore_sidecar_local_quorum_available')) === 1, 120_000);
      await sleep(10_000);
    };
    await measure('stopping nodes 2 and 3', async () => { await Promise.all([stopNode(2), stopNode(3)]); }, async () => { await Promise.all([startNode(2), startNode(3)]); });
    await measure('pausing node 3 (SIGSTOP)', async () => { pauseNode(3); await Promise.resolve(); }, async () => { resumeNode(3); await Promise.resolve(); });
    const result = await traffic.stop();
    const restarts = await pod.restarts();
    const happened = windows.map((w) => `${w.fault}, ${w.seconds.toFixed(0)} s: ${w.retries.requests} requests, ${w.retries.tried} retries (${(100 * w.retries.extraLoad).toFixed(1)}% extra load; the budget allows ${w.budgetAllows}, the ceiling ${w.ceilingAllows}), skipped ${JSON.stringify(w.retries.skipped)}`);
    happened.push(`${restarts} restarts by the sidecar; ${result.failed} of ${result.sent} requests failed (${JSON.stringify(result.failures)})`);
    return {
      row: this.name, situation: this.situation, expected: this.expected, happened, restarts,
      failedWithSidecar: { sent: result.sent, failed: result.failed }, failedWithout: null, retries: await retriesOf(pod.sidecar),
      right: restarts === 0 && windows.every((w) => w.retries.tried <= w.budgetAllows && w.retries.tried <= w.ceilingAllows),
    };
  },
};

/** What the stale-fleet row measures beyond the table: the lease's cost and the healing's pace. */
export interface FleetHealing {
  pods: number;
  /** From the node's return (it answered CQL) until every pod's pool held it again, or null. */
  healedAfterMs: number | null;
  /** Most pods depooled at once, as their sidecars said (sampled every 250 ms). */
  mostDepooled: number;
  /** Fewest pods in the balancer's rotation at once. */
  fewestInRotation: number;
  /** Lightweight transactions on the lease, every pod's summed, and per second over the healing. */
  leaseRounds: Record<string, number>;
  leaseRoundsPerSecond: number;
  /** Alerts of severity page that production would have sent (their full `for:` held). */
  pages: string[];
}

const staleFleetPods = 8;

const staleFleet: Row = {
  name: 'stale-fleet',
  situation: `the 2022 shape at production's size: ${staleFleetPods} pods of one data center behind a Service, node 2 bounced, and no service's driver takes it back: every pool stale at once`,
  expected: 'every pod healed by graceful restarts, each for a pool that lacked a healthy node for the grace, one pod at a time (never two out of rotation); none cancelled (a useless depool); the lease under one Paxos round a second; no page; no request fails',
  async run({ owner, rates: [rate = 30], log, record }) {
    const fleet = await startFleet(owner, { name: 'matrix-stale-fleet', mode: 'acting', pods: staleFleetPods, service: { fault: 'stale-pool' }, sidecar: {} });
    const [first] = fleet.pods;
    if (first) record(first.sidecar);
    const traffic = sessionTraffic(owner, fleet.balancer.url, { perSecond: rate });
    await sleep(5000);
    let mostDepooled = 0;
    let fewestInRotation = staleFleetPods;
    const watching = { on: true };
    const watcher = (async () => {
      while (watching.on) {
        // A sidecar that does not answer (the row failing, its cleanup under way) counts as not depooled.
        const depooled = await Promise.all(fleet.pods.map((pod) => pod.sidecar.status().then((s) => (s.proxy as { depooled: boolean }).depooled, () => false)));
        mostDepooled = Math.max(mostDepooled, depooled.filter(Boolean).length);
        fewestInRotation = Math.min(fewestInRotation, fleet.balancer.endpoints().length);
        await sleep(250);
      }
    })();
    const leaseRounds = async (): Promise<Record<string, number>> => Object.fromEntries(await Promise.all(['acquire', 'renew', 'release'].map(async (operation) =>
      [operation, (await Promise.all(fleet.pods.map((pod) => metricOf(pod.sidecar, 'sessionstore_sidecar_lease_rounds_total', { operation })))).reduce((a, b) => a + b, 0)] as const)));
    // Exits before the fault are the services' own (one may exit at start while eight connect at once); the supervisor restarted them.
    const exitsBefore = fleet.pods.map((pod) => pod.service.supervisor.restarts());
    log('stopping and starting node 2: every service drops it and never takes it back');
    const answeredAt = await bounceNode(2);
    const restartedOnce = async (): Promise<number[]> => Promise.all(fleet.pods.map((pod) => metricOf(pod.sidecar, 'sessionstore_sidecar_pool_restarts_total', { result: 'restarted' })));
    // The stale grace (75 s) and the sustain, then one restart after another: 8 of them take minutes.
    const healed = await until(async () => (await restartedOnce()).every((n) => n >= 1), 8 * 60_000);
    const healedAfterMs = healed ? Date.now() - answeredAt : null;
    const firstDepool = Math.min(...fleet.pods.map((pod) => loggedAt(pod.sidecar, "restarting the service's pool gracefully") ?? Infinity));
    const rounds = await leaseRounds();
    const roundsTotal = Object.values(rounds).reduce((a, b) => a + b, 0);
    const leaseRoundsPerSecond = roundsTotal / Math.max(1, (Date.now() - Math.min(firstDepool, Date.now())) / 1000);
    // Long enough for a second restart, a page's condition or a late failure to show.
    await sleep(20_000);
    watching.on = false;
    await watcher;
    const result = await traffic.stop();
    const perPod = await Promise.all(fleet.pods.map(async (pod) => ({
      restarts: await metricOf(pod.sidecar, 'sessionstore_sidecar_pool_restarts_total'),
      exits: pod.service.supervisor.restarts() - (exitsBefore[fleet.pods.indexOf(pod)] ?? 0),
    })));
    const restarts = perPod.reduce((n, p) => n + p.restarts, 0);
    const histories = await Promise.all(fleet.pods.map(async (pod) => ({ pod: pod.name, history: ((await pod.sidecar.status()).remediation as { history: Shown<RestartRecord>[] }).history })));
    const pages = fleet.prometheus.productionPages()
      .map((life) => `${life.alert}${life.labels.instance ? ` on ${life.labels.instance}` : ''}`);
    const happened = [
      healedAfterMs === null ? 'not every pod healed within 8 minutes' : `every pod healed ${seconds(healedAfterMs)} after node 2 answered CQL (the first depool at ${seconds(firstDepool - answeredAt)})`,
      `restarts per pod: ${perPod.map((p) => p.restarts).join(', ')}; the services exited ${perPod.map((p) => p.exits).join(', ')} times after the fault (${exitsBefore.reduce((a, b) => a + b, 0)} exits before it)`,
      ...histories.flatMap(({ pod, history }) => history.map((r) => `${pod}: ${r.reason} at ${seconds(Date.parse(r.startedAt) - answeredAt)}, ${r.result} in ${seconds(r.durationMs)} (${r.evidence.join('; ')})`)),
      // A service that exited more often than its sidecar restarted it: what it said.
      ...fleet.pods.flatMap((pod, i) => (perPod[i]?.exits ?? 0) > (perPod[i]?.restarts ?? 0)
        ? pod.service.lines.filter((line) => /fatal|panic|unable|could not|error/i.test(line)).slice(-3).map((line) => `${pod.name}'s service: ${line.slice(0, 300)}`) : []),
      `at most ${mostDepooled} pod(s) depooled at once; at least ${fewestInRotation} of ${staleFleetPods} in rotation`,
      `lease rounds: ${JSON.stringify(rounds)}, ${leaseRoundsPerSecond.toFixed(2)} a second over the healing`,
      `pages: ${pages.length === 0 ? 'none' : pages.join(', ')}`,
      `${result.failed} of ${result.sent} requests failed (${JSON.stringify(result.failures)}); ${fleet.balancer.rejectedConnections()} connections found no pod`,
    ];
    return {
      row: this.name, situation: this.situation, expected: this.expected, happened, restarts,
      failedWithSidecar: { sent: result.sent, failed: result.failed }, failedWithout: null, retries: null,
      healing: { pods: staleFleetPods, healedAfterMs, mostDepooled, fewestInRotation, leaseRounds: rounds, leaseRoundsPerSecond, pages },
      // One restart per pod where every driver connects at the first try; on a loaded machine a new service's failed
      // dial leaves its pool stale again (the lab's fault is for good), and a second restart for that is right.
      right: healed && histories.every(({ history }) => history.every((r) => r.reason === 'stale_pool' && ['restarted', 'not_cured'].includes(r.result)))
        && perPod.every((p) => p.exits === p.restarts) && mostDepooled <= 1 && fewestInRotation >= staleFleetPods - 1
        && leaseRoundsPerSecond < 1 && pages.length === 0 && result.failed === 0,
    };
  },
};

const clusterOutage: Row = {
  name: 'cluster-outage',
  situation: 'the whole data center down: every Cassandra node stopped for a minute under traffic, then all started again',
  expected: "no restart, during the outage or after it (the service's driver takes the nodes back by itself); one page: SessionStoreLocalQuorumUnavailable",
  async run(context) {
    const { rates: [rate = 30], log } = context;
    const { pod, traffic, prometheus } = await watchedPodUnderTraffic(context, rate);
    const nodes = [1, 2, 3] as const;
    log('stopping every node');
    const downAt = Date.now();
    await Promise.all(nodes.map((n) => stopNode(n)));
    await sleep(60_000);
    log('starting every node again');
    for (const n of nodes) await startNode(n);
    const backAt = Date.now();
    const addresses = nodes.map((n) => `127.0.0.${n}`);
    const taken = await until(() => addresses.every((address) => pod.holds(address)), 150_000);
    const takenMs = Date.now() - backAt;
    // The stale grace (75 s) and the sustain after the last node's return, and a margin: a restart after the outage shows here.
    await sleep(Math.max(0, backAt + 90_000 - Date.now()));
    const result = await traffic.stop();
    const restarts = await pod.restarts();
    const pages = prometheus.productionPages();
    const happened = [
      `every node down at 0.0 s; all answering CQL again at ${seconds(backAt - downAt)}`,
      taken ? `${seconds(takenMs)} later the service's pool held every node again, by itself` : "the service's pool did not take every node back within 150 s",
      ...addresses.flatMap((address) => poolStory(pod, address, backAt)),
      `${restarts} restarts and ${pod.depools().length} depools by the sidecar`,
      pagesSaid(prometheus, pages, downAt),
      `${result.failed} of ${result.sent} requests failed (${JSON.stringify(result.failures)})`,
    ];
    return {
      row: this.name, situation: this.situation, expected: this.expected, happened, restarts,
      failedWithSidecar: { sent: result.sent, failed: result.failed }, failedWithout: null, retries: await retriesOf(pod.sidecar),
      right: taken && restarts === 0 && pod.depools().length === 0 && pages.map((life) => life.alert).join() === 'SessionStoreLocalQuorumUnavailable',
    };
  },
};

const sidecarRestart: Row = {
  name: 'sidecar-restart',
  situation: "the 2022 stale pool, and the sidecar killed (SIGKILL, as the OOM killer does) the moment it has taken the fleet lease and depooled, before its signal; the kubelet starts it again",
  expected: "the new sidecar rebuilds its verdict from the world (the pool, the cluster), takes its own pod's lease over instead of waiting out the TTL, and restarts the service once: one restart in all, the pool whole again, the lease free at the end",
  async run({ owner, rates: [rate = 30], log, record }) {
    const pod = await startPod(owner, { service: { fault: 'stale-pool' }, launch: { podName: 'matrix-sidecar-restart' } });
    record(pod.sidecar);
    const traffic = sessionTraffic(owner, pod.sidecar.url, { perSecond: rate });
    await sleep(5000);
    log('bouncing node 2: the service\'s driver never takes it back');
    const faultAt = Date.now();
    await bounceNode(2);
    const depooled = await until(() => pod.depools().length > 0, 180_000);
    await pod.sidecar.crash();
    const killedAt = Date.now();
    const signalledBeforeKill = pod.service.supervisor.restarts();
    const holderAtKill = await fleetLeaseHolder();
    log(`killed the sidecar ${seconds(killedAt - faultAt)} after the fault, holding the lease (${holderAtKill ?? 'nobody'}); starting it again`);
    const next = await pod.sidecar.again();
    record(next);
    const before = traffic.snapshot();
    const cured = await until(() => pod.holds('127.0.0.2'), 240_000);
    const curedAt = Date.now();
    // Long enough for another verdict to be reached and acted on, if one were.
    await sleep(20_000);
    const result = await traffic.stop();
    const serviceRestarts = pod.service.supervisor.restarts();
    const restarted = await metricOf(next, 'sessionstore_sidecar_pool_restarts_total', { result: 'restarted' });
    const tookOver = next.logs.find((l) => String(l.msg).startsWith('took the fleet lease over'));
    const holderAtEnd = await fleetLeaseHolder();
    const happened = [
      depooled ? `the first sidecar depooled ${seconds(killedAt - faultAt)} after the fault and was killed; the service had been restarted ${signalledBeforeKill} times` : 'the first sidecar never depooled',
      tookOver ? `the new sidecar took the lease over from ${String(tookOver.previous_holder)}` : 'the new sidecar did not take the lease over',
      cured ? `the pool held node 2 again ${seconds(curedAt - killedAt)} after the kill` : 'the pool did not take node 2 back within 240 s of the kill',
      `the service was restarted ${serviceRestarts} times in all (${restarted} restarted by the new sidecar)`,
      `the lease at the end: ${holderAtEnd ?? 'free'}`,
      `${result.failed - before.failed} of ${result.sent - before.sent} requests failed from the kill on, while the pod's only sidecar was down and then depooled (a balancer sends them to other pods); over the whole row: ${JSON.stringify(result.failures)}`,
    ];
    return {
      row: this.name, situation: this.situation, expected: this.expected, happened, restarts: serviceRestarts,
      failedWithSidecar: { sent: result.sent, failed: result.failed }, failedWithout: null, retries: null,
      right: depooled && signalledBeforeKill === 0 && holderAtKill !== null && tookOver !== undefined && cured && serviceRestarts === 1 && restarted === 1 && holderAtEnd === null,
    };
  },
};

const unresolvedName = 'cassandra-sessionstore.lab.test';
/** Long enough for Prometheus to scrape the blind sidecar for a while: a sidecar that exported 0 would have the LOCAL_QUORUM page pending. */
const blindMs = 25_000;

const unresolvedContactPoint: Row = {
  name: 'unresolved-contact-point',
  situation: `a pod starts while DNS does not know the sidecar's only contact point (a name, as production's headless Service); ${blindMs / 1000} s later the name resolves`,
  expected: 'the pod serves throughout; no restart, no page, and not even a pending LOCAL_QUORUM alert (a sidecar that sees no node says nothing about LOCAL_QUORUM); the ticket SessionStoreContactPointUnresolved names the name; the cluster found soon after the name resolves',
  async run({ owner, rates: [rate = 30], log, record }) {
    // The pod's own /etc/hosts, as the kubelet gives each pod one, bind-mounted in the sidecar's
    // mount namespace: appending to it (same inode) is the name's record appearing in DNS.
    const hosts = join(temporaryDirectory(owner, 'pod-hosts-'), 'hosts');
    writeFileSync(hosts, '127.0.0.1 localhost\n');
    const ownHosts = ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', 'mount --bind "$0" /etc/hosts && exec "$@"', hosts];
    const pod = await startPod(owner, { sidecar: { cassandra: { contact_points: [unresolvedName] } }, launch: { prefix: ownHosts } });
    record(pod.sidecar);
    const startedAt = Date.now();
    const traffic = sessionTraffic(owner, pod.sidecar.url, { perSecond: rate });
    const prometheus = await prometheusOf(owner, pod);
    let unready = 0;
    const ready = async (): Promise<boolean> => (await (await request(`${pod.sidecar.adminUrl}/readyz`)).body.json() as { ready: boolean }).ready;
    await until(async () => { if (!await ready()) unready++; return Date.now() - startedAt >= blindMs; }, blindMs + 5000);
    const blind = await pod.sidecar.status() as { cluster: { nodes: unknown[]; contactPoints: { name: string; error: string | null }[] } };
    log(`resolving ${unresolvedName}`);
    appendFileSync(hosts, `127.0.0.1 ${unresolvedName}\n`);
    const resolvedAt = Date.now();
    const seesCluster = async (): Promise<boolean> => {
      const { cluster } = await pod.sidecar.status() as { cluster: { settled: boolean; nodes: unknown[]; localQuorum: { available: boolean } } };
      return cluster.settled && cluster.nodes.length === 3 && cluster.localQuorum.available;
    };
    const found = await until(seesCluster, 60_000);
    const foundMs = Date.now() - resolvedAt;
    await sleep(5000);
    const result = await traffic.stop();
    const restarts = await pod.restarts();
    const pages = prometheus.productionPages();
    const ticket = prometheus.alertLives().find((life) => life.alert === 'SessionStoreContactPointUnresolved' && life.labels.contact_point === unresolvedName);
    const quorumAlert = prometheus.alertLives().find((life) => life.alert === 'SessionStoreLocalQuorumUnavailable');
    const lookupError = blind.cluster.contactPoints.find((point) => point.name === unresolvedName)?.error ?? null;
    const happened = [
      `blind for ${seconds(resolvedAt - startedAt)}: the sidecar knew ${blind.cluster.nodes.length} nodes; /status said of ${unresolvedName}: ${lookupError ?? 'no error'}`,
      `readiness failed ${unready} times while blind`,
      found ? `the sidecar saw every node, LOCAL_QUORUM proven, ${seconds(foundMs)} after the name resolved` : 'the sidecar did not see the cluster within 60 s of the name resolving',
      `ticket SessionStoreContactPointUnresolved: ${ticket ? prometheus.describe(ticket, startedAt) : 'never pending'}`,
      `page SessionStoreLocalQuorumUnavailable: ${quorumAlert ? prometheus.describe(quorumAlert, startedAt) : 'never pending'}`,
      `${restarts} restarts and ${pod.depools().length} depools by the sidecar`,
      pagesSaid(prometheus, pages, startedAt),
      `${result.failed} of ${result.sent} requests failed (${JSON.stringify(result.failures)})`,
    ];
    return {
      row: this.name, situation: this.situation, expected: this.expected, happened, restarts,
      failedWithSidecar: { sent: result.sent, failed: result.failed }, failedWithout: null, retries: null,
      right: found && lookupError !== null && blind.cluster.nodes.length === 0 && unready === 0 && restarts === 0 && pod.depools().length === 0
        && pages.length === 0 && quorumAlert === undefined && ticket !== undefined && result.failed === 0,
    };
  },
};

const { forget_after_ms: forgetAfterMs } = parseConfig({ cassandra: { contact_points: ['127.0.0.1'] } }).cassandra.probe;

const replacedNode: Row = {
  name: 'replaced-node',
  situation: "node 2 replaced by a new machine at a new address, as after a reimage (127.0.0.4 starts empty with replace_address_first_boot, streams node 2's data and takes its token); then the reverse, a new machine at 127.0.0.2 replacing 127.0.0.4",
  expected: "the new node probed, the old address forgotten (after forget_after_ms, 5 minutes); no restart unless the service's driver never takes the new node (then one, which cures it); no page",
  async run(context) {
    const { rates: [rate = 30], log } = context;
    const { pod, traffic, prometheus, startedAt } = await watchedPodUnderTraffic(context, rate);
    const known = async (address: string): Promise<{ reachable: boolean } | undefined> =>
      ((await pod.sidecar.status()).cluster as { nodes: { address: string; reachable: boolean }[] }).nodes.find((node) => node.address === address);
    /** One replacement: when the sidecar probed the new node, and whether the service's pool took it before any restart. */
    const replacement = async (replace: () => Promise<string>, old: string): Promise<{ address: string; probed: boolean; taken: boolean; takenBeforeRestart: boolean; lines: string[] }> => {
      const begin = Date.now();
      const address = await replace();
      const joinedAt = Date.now();
      const probed = await until(async () => (await known(address))?.reachable === true, 60_000);
      const probedMs = Date.now() - joinedAt;
      // Up to the stale grace, its sustain and a restart: a driver that never takes the node is restarted within it.
      const taken = await until(() => pod.holds(address), 150_000);
      const takenAt = Date.now();
      const firstDepool = pod.depools().find((at) => at >= begin);
      const takenBeforeRestart = taken && (firstDepool === undefined || pod.poolChanges.some((c) => c.address === address && c.connections > 0 && c.at < firstDepool));
      return {
        address, probed, taken, takenBeforeRestart,
        lines: [
          `${address} replaced ${old} in ${seconds(joinedAt - begin)} (${old} stopped, ${address} streamed its data and answered CQL)`,
          probed ? `the sidecar probed ${address} ${seconds(probedMs)} after it joined` : `the sidecar did not probe ${address} within 60 s`,
          taken ? `the service's pool took ${address} ${seconds(takenAt - joinedAt)} after it joined${takenBeforeRestart ? ', by itself' : ', after a restart'}` : `the service's pool did not take ${address} within 150 s`,
        ],
      };
    };
    log('replacing node 2 by a new machine at 127.0.0.4');
    const forward = await replacement(() => replaceNode(2), '127.0.0.2');
    const forgotten = await until(async () => (await known('127.0.0.2')) === undefined, forgetAfterMs + 60_000);
    const forgottenAt = Date.now();
    log('putting a new machine back at 127.0.0.2, replacing 127.0.0.4');
    const back = await replacement(async () => { await putBack(); return '127.0.0.2'; }, forward.address);
    // Long enough for a verdict to be reached and acted on, if one were.
    await sleep(20_000);
    const result = await traffic.stop();
    const restarts = await pod.restarts();
    const pages = prometheus.productionPages();
    const happened = [
      ...forward.lines,
      forgotten ? `the sidecar forgot 127.0.0.2 ${seconds(forgottenAt - startedAt)} after the row began` : `the sidecar still knew 127.0.0.2 ${seconds(forgetAfterMs + 60_000)} after no node listed it`,
      ...back.lines,
      `${restarts} restarts and ${pod.depools().length} depools by the sidecar`,
      pagesSaid(prometheus, pages, startedAt),
      `${result.failed} of ${result.sent} requests failed (${JSON.stringify(result.failures)})`,
    ];
    // A restart is right only for a node the pool never took by itself.
    const needed = [forward, back].filter((act) => !act.takenBeforeRestart).length;
    return {
      row: this.name, situation: this.situation, expected: this.expected, happened, restarts,
      failedWithSidecar: { sent: result.sent, failed: result.failed }, failedWithout: null, retries: await retriesOf(pod.sidecar),
      right: forward.probed && back.probed && forward.taken && back.taken && forgotten && restarts === needed && pages.length === 0,
    };
  },
};

/** The lab's sidecars run in a group of their own here, so that iptables can cut their connections and no one else's. */
const sidecarGroup = 4244;

interface RotationStatus { cluster: { localQuorum: { available: boolean }; nodes: { address: string; reachable: boolean; canCoordinateLocalQuorum: boolean | null }[] } }

const secretRotation: Row = {
  name: 'secret-rotation',
  situation: "the sidecar's Cassandra password, client certificate and admin token rotated on disk while it runs, as the kubelet swaps a mounted Secret; the old certificate expires 25 s later, and a network blip cuts the sidecar's connections to node 3 until it has",
  expected: 'the new secrets used without a restart of anything: the old token refused and the new one taken, node 3 probed again with the new password and certificate, LOCAL_QUORUM never lost and nodes 1 and 2 never out of the view; no page, no restart, no request failed',
  async run(context) {
    const { owner, rates: [rate = 30], log } = context;
    const asAdmin = (statement: string): Promise<unknown> => queryNode(localNode(1), statement, [], consistencies.localQuorum, 10_000);
    const [oldPassword, newPassword] = ['rotation-old-password', 'rotation-new-password'];
    const [oldToken, newToken] = ['old-token-of-at-least-32-characters', 'new-token-of-at-least-32-characters'];
    await asAdmin(`DROP ROLE IF EXISTS ${sidecarRoleName}`);
    for (const statement of sidecarRole(oldPassword)) await asAdmin(statement);
    const created = Date.now();
    owner.teardown(() => asAdmin(`DROP ROLE IF EXISTS ${sidecarRoleName}`));
    // Certificates signed by the cluster's own CA, in a folder of the row's.
    const caDir = temporaryDirectory(owner, 'rotation-ca-');
    copyFileSync(clusterTls.caFile, join(caDir, 'ca.crt'));
    copyFileSync(join(clusterTls.caFile, '../ca.key'), join(caDir, 'ca.key'));
    const ca = certificateAuthorityIn(caDir);
    const oldCertificateExpires = Date.now() + 25_000;
    const oldCertificate = ca.issue('sidecar-old', { notAfter: new Date(oldCertificateExpires) });
    const newCertificate = ca.issue('sidecar-new');
    const secrets = temporaryDirectory(owner, 'rotated-secrets-');
    // As the kubelet does: the new content is written aside and swapped in whole.
    const rotate = (name: string, value: string): string => {
      writeFileSync(join(secrets, `.${name}.new`), `${value}\n`);
      renameSync(join(secrets, `.${name}.new`), join(secrets, name));
      return join(secrets, name);
    };
    const { pod, traffic, prometheus, startedAt } = await watchedPodUnderTraffic(context, rate, {
      sidecar: {
        cassandra: {
          username: undefined, password: undefined, username_file: rotate('username', sidecarRoleName), password_file: rotate('password', oldPassword),
          tls: { ca_file: clusterTls.caFile, cert_file: rotate('tls.crt', oldCertificate.cert), key_file: rotate('tls.key', oldCertificate.key), verify_hostname: false },
        },
        admin: { token_file: rotate('token', oldToken) },
      },
      launch: { prefix: ['setpriv', `--regid=${sidecarGroup}`, '--clear-groups', '--'] },
    });
    const status = async (): Promise<RotationStatus> => await pod.sidecar.status() as unknown as RotationStatus;
    const allCoordinate = (view: RotationStatus): boolean => view.cluster.nodes.length === 3 && view.cluster.nodes.every((n) => n.reachable && n.canCoordinateLocalQuorum === true);
    const probedWithOld = await until(async () => allCoordinate(await status()), 30_000);

    // Cassandra 5 lets a role's password change at most every 5 s.
    await sleep(Math.max(0, created + 5500 - Date.now()));
    log('rotating the password (in the cluster and its file), the client certificate and key, and the admin token');
    await asAdmin(`ALTER ROLE ${sidecarRoleName} WITH PASSWORD = '${newPassword}'`);
    rotate('password', newPassword);
    rotate('tls.crt', newCertificate.cert);
    rotate('tls.key', newCertificate.key);
    rotate('token', newToken);
    const rotatedAt = Date.now();
    const pause = async (token: string): Promise<number> => {
      const response = await request(`${pod.sidecar.adminUrl}/remediation/pause`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, reset: true });
      await response.body.dump();
      return response.statusCode;
    };
    const tokens = { old: await pause(oldToken), new: await pause(newToken) };
    await request(`${pod.sidecar.adminUrl}/remediation/resume`, { method: 'POST', headers: { authorization: `Bearer ${newToken}` } }).then((r) => r.body.dump());

    // A network blip resets the sidecar's connections to node 3; it ends once the old certificate has expired.
    log('cutting the sidecar off from node 3 until the old certificate has expired');
    const seen: RotationStatus[] = [];
    const blip = { over: false };
    const watching = (async () => {
      while (!blip.over) {
        seen.push(await status());
        await sleep(500);
      }
    })();
    blockGroupFrom(sidecarGroup, 3);
    await sleep(Math.max(3000, oldCertificateExpires + 1000 - Date.now()));
    await heal();
    const healedAt = Date.now();
    const loggedBefore = pod.sidecar.logs.length;
    const probedWithNew = await until(async () => allCoordinate(await status()), 30_000);
    const backMs = Date.now() - healedAt;
    blip.over = true;
    await watching;
    await sleep(5000);
    const result = await traffic.stop();
    const restarts = await pod.restarts();
    const pages = prometheus.productionPages();
    const quorumKept = seen.length > 0 && seen.every((view) => view.cluster.localQuorum.available);
    const othersKept = seen.every((view) => view.cluster.nodes.filter((n) => n.address !== localNode(3).address).every((n) => n.reachable));
    const refusedAfter = pod.sidecar.logs.slice(loggedBefore).filter((line) => /password|authenticat|certificate/i.test(JSON.stringify(line)));
    const happened = [
      probedWithOld ? 'every node probed with the old password and certificate' : 'the sidecar never probed every node with the old secrets',
      `rotated at ${seconds(rotatedAt - startedAt)}: the old token answered ${tokens.old}, the new one ${tokens.new}`,
      probedWithNew ? `node 3 probed again with the new password and certificate ${seconds(backMs)} after the blip ended (the old certificate expired)` : 'node 3 was not probed again within 30 s of the blip',
      `over ${seen.length} views during the blip: LOCAL_QUORUM ${quorumKept ? 'never lost' : 'lost'}; nodes 1 and 2 ${othersKept ? 'never left the view' : 'left the view'}`,
      `${refusedAfter.length} authentication or certificate failures logged after the blip`,
      `${restarts} restarts by the sidecar; the service exited ${pod.service.supervisor.restarts()} times`,
      pagesSaid(prometheus, pages, startedAt),
      `${result.failed} of ${result.sent} requests failed (${JSON.stringify(result.failures)})`,
    ];
    return {
      row: this.name, situation: this.situation, expected: this.expected, happened, restarts,
      failedWithSidecar: { sent: result.sent, failed: result.failed }, failedWithout: null, retries: null,
      right: probedWithOld && tokens.old === 401 && tokens.new === 200 && probedWithNew && quorumKept && othersKept && refusedAfter.length === 0
        && restarts === 0 && pod.service.supervisor.restarts() === 0 && pages.length === 0 && result.failed === 0,
    };
  },
};

export const rows: Row[] = [nodeRestarts, flakyNode, splitView, crashLoop, slowStart, clusterWide, staleFleet, clusterOutage, sidecarRestart, unresolvedContactPoint, replacedNode, secretRotation];
