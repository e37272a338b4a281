// The graceful restart of the service's pool, in order: fleet lease, depool, drain,
// restart, wait until the service and its canary answer, repool, release. Budgets
// (restarts per hour, exponential backoff) stop restart loops; when they are spent
// it stops acting and says so, loudly, for a human. Every step is logged once.
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import type { Config } from '../config/schema.ts';
import type { TrafficSwitch } from '../proxy/traffic-switch.ts';
import { canaryThroughService } from '../service/canary.ts';
import type { Rule, Verdict } from '../reconcile/diagnose.ts';
import type { Logger } from '../telemetry/logger.ts';
import { Counter, Gauge, metricPrefix, type Registry } from '../telemetry/metrics.ts';
import type { FleetLease } from './lease.ts';
import type { RestartResult } from './restart-action.ts';

export type RestartReason = Rule | 'manual';
export type RestartOutcome = 'restarted' | 'dry_run' | 'unhealthy' | 'failed';
export type Suppression = 'no_local_quorum' | 'paused' | 'disabled' | 'budget_exhausted' | 'backoff' | 'lease_held';
const suppressions: readonly Suppression[] = ['no_local_quorum', 'paused', 'disabled', 'budget_exhausted', 'backoff', 'lease_held'];

export interface RestartRecord {
  reason: RestartReason;
  startedAt: string;
  durationMs: number;
  result: RestartOutcome;
  detail: string;
  evidence: string[];
}

export interface RemediatorDependencies {
  config: Config;
  lease: FleetLease;
  trafficSwitch: TrafficSwitch;
  inflight: () => number;
  restart: (config: Config) => Promise<RestartResult>;
  registry: Registry;
  logger: Logger;
  now?: () => number;
}

const hourMs = 3_600_000;
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

export class Remediator {
  #inProgress = false;
  /** Set while this sidecar holds the fleet lease, so that stop() can give it back. */
  #leaseHeld = false;
  #stopped = false;
  #paused = false;
  #nextAllowedAt = 0;
  #suppressed: Suppression | null = null;
  #lastCured: { reason: RestartReason; at: number } | null = null;
  readonly #history: RestartRecord[] = [];
  readonly #deps: RemediatorDependencies;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #upstream: string;
  readonly #metrics: { restarts: Counter<'rule' | 'result'>; inProgress: Gauge; lastRestart: Gauge; suppressed: Gauge<'reason'> };

  constructor(deps: RemediatorDependencies) {
    this.#deps = deps;
    this.#logger = deps.logger.child({ component: 'remediate' });
    this.#now = deps.now ?? Date.now;
    this.#upstream = new URL(deps.config.upstream.url).origin;
    const registers = [deps.registry];
    this.#metrics = {
      restarts: new Counter({ name: `${metricPrefix}pool_restarts_total`, help: "Restarts of the service's pool, by the rule that asked and the result: restarted, dry_run, unhealthy, failed.", labelNames: ['rule', 'result'], registers }),
      inProgress: new Gauge({ name: `${metricPrefix}restart_in_progress`, help: '1 while a graceful restart is under way.', registers }),
      lastRestart: new Gauge({ name: `${metricPrefix}last_restart_timestamp_seconds`, help: 'When the last restart finished (Unix seconds).', registers }),
      suppressed: new Gauge({
        name: `${metricPrefix}remediation_suppressed`,
        help: 'What holds a needed restart back: no_local_quorum, paused, disabled, budget_exhausted (a human is needed), backoff, lease_held.',
        labelNames: ['reason'], registers,
      }),
    };
    this.#setSuppressed(null);
  }

  /** Called with every verdict: acts on a restart verdict unless something holds it back, and says what. */
  consider(verdict: Verdict): void {
    if (this.#stopped) return;
    if (verdict.action === 'suppressed') {
      this.#setSuppressed('no_local_quorum');
      return;
    }
    if (verdict.action !== 'restart' || verdict.rule === null) {
      if (verdict.findings.length === 0) this.#lastCured = null;
      this.#setSuppressed(null);
      return;
    }
    if (this.#inProgress) return;
    if (this.#lastCured?.reason === verdict.rule) {
      this.#logger.error({ rule: verdict.rule, evidence: verdict.evidence }, `the restart did not cure ${verdict.rule}: the divergence is back`);
      this.#lastCured = null;
    }
    const held = this.#holdBack();
    this.#setSuppressed(held);
    if (held === null) void this.restart(verdict.rule, verdict.evidence);
  }

  /**
   * At shutdown: never start another restart, and give back a lease held by one
   * under way (the pod is going away), so that other pods need not wait for its TTL.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (!this.#leaseHeld) return;
    this.#leaseHeld = false;
    this.#logger.warn('stopping during a graceful restart: releasing the fleet lease now');
    await this.#deps.lease.release().catch((error: unknown) => { this.#logger.error({ error: (error as Error).message }, 'could not release the lease; it expires by its TTL'); });
  }

  /** A method, not the field, where an await in between may have changed it. */
  #isStopped(): boolean {
    return this.#stopped;
  }

  pause(): void {
    this.#paused = true;
    this.#logger.warn('remediation paused by an operator');
  }

  resume(): void {
    this.#paused = false;
    this.#logger.info('remediation resumed by an operator');
  }

  status(): { inProgress: boolean; paused: boolean; dryRun: boolean; suppressed: Suppression | null; restartsLastHour: number; budget: number; nextAllowedAt: string | null; history: RestartRecord[] } {
    return {
      inProgress: this.#inProgress,
      paused: this.#paused,
      dryRun: this.#deps.config.remediation.dry_run,
      suppressed: this.#suppressed,
      restartsLastHour: this.#recent(),
      budget: this.#deps.config.remediation.max_restarts_per_hour,
      nextAllowedAt: this.#nextAllowedAt > this.#now() ? new Date(this.#nextAllowedAt).toISOString() : null,
      history: [...this.#history],
    };
  }

  #recent(): number {
    const since = this.#now() - hourMs;
    return this.#history.filter((r) => Date.parse(r.startedAt) >= since).length;
  }

  #holdBack(): Suppression | null {
    const { remediation } = this.#deps.config;
    if (!remediation.enabled) return 'disabled';
    if (this.#paused) return 'paused';
    if (this.#recent() >= remediation.max_restarts_per_hour) return 'budget_exhausted';
    if (this.#now() < this.#nextAllowedAt) return 'backoff';
    return null;
  }

  #setSuppressed(reason: Suppression | null): void {
    if (reason !== this.#suppressed && reason === 'budget_exhausted') {
      this.#logger.error({ restarts_last_hour: this.#recent(), budget: this.#deps.config.remediation.max_restarts_per_hour },
        'restart budget spent and the divergence persists: not acting again; a human is needed');
    }
    this.#suppressed = reason;
    for (const r of suppressions) this.#metrics.suppressed.set({ reason: r }, r === reason ? 1 : 0);
  }

  /** The whole graceful restart. Also the manual trigger, which skips the budget but never the lease. */
  async restart(reason: RestartReason, evidence: string[] = []): Promise<RestartRecord | null> {
    if (this.#inProgress || this.#isStopped()) return null;
    this.#inProgress = true;
    const { config, lease, trafficSwitch } = this.#deps;
    const started = this.#now();
    const log = this.#logger.child({ rule: reason });
    let held = false;
    let result: RestartOutcome = 'failed';
    let detail = '';
    try {
      const taken = await lease.acquire();
      if (!taken.acquired) {
        this.#setSuppressed('lease_held');
        log.warn({ holder: taken.holder }, 'another sidecar in this data center is restarting its service; waiting for the lease');
        return null;
      }
      if (this.#isStopped()) {
        // stop() came while the lease was being taken: give it straight back.
        await lease.release();
        return null;
      }
      held = true;
      this.#leaseHeld = true;
      this.#metrics.inProgress.set(1);
      log.warn({ evidence }, `restarting the service's pool gracefully (${reason}): lease taken, depooling`);
      trafficSwitch.depool(`restarting the service's pool (${reason})`);
      await this.#drain();
      let signalledPid: number | null = null;
      if (config.remediation.dry_run) {
        detail = 'dry run: the restart itself was skipped';
        log.warn({ evidence }, 'dry run: would restart the service now');
      } else {
        const action = await this.#deps.restart(config);
        signalledPid = action.signalledPid;
        detail = action.detail;
        log.warn({ detail }, 'restart requested');
      }
      const healthy = await this.#waitHealthy(signalledPid);
      result = config.remediation.dry_run ? 'dry_run' : healthy ? 'restarted' : 'unhealthy';
      if (!healthy) detail += `; the service did not answer healthily within ${config.remediation.healthy_timeout_ms} ms`;
    } catch (error) {
      detail = `${detail ? `${detail}; ` : ''}${(error as Error).message}`;
      log.error({ error: (error as Error).message }, held ? 'the restart failed' : 'could not take the fleet lease');
      if (!held) this.#nextAllowedAt = this.#now() + this.#deps.config.remediation.backoff_base_ms;
    } finally {
      // After stop() the lease is given back already, and the proxy stays depooled for the shutdown.
      if (held && !this.#isStopped()) {
        this.#leaseHeld = false;
        trafficSwitch.repool();
        await lease.release().catch((error: unknown) => { log.error({ error: (error as Error).message }, 'could not release the lease; it expires by its TTL'); });
        this.#finish(reason, started, result, detail, evidence);
      }
      this.#inProgress = false;
      this.#metrics.inProgress.set(0);
    }
    return this.#history.at(-1) ?? null;
  }

  #finish(reason: RestartReason, started: number, result: RestartOutcome, detail: string, evidence: string[]): void {
    const now = this.#now();
    const record = { reason, startedAt: new Date(started).toISOString(), durationMs: now - started, result, detail, evidence };
    this.#history.push(record);
    if (this.#history.length > 50) this.#history.shift();
    this.#metrics.restarts.inc({ rule: reason, result });
    this.#metrics.lastRestart.set(now / 1000);
    const { backoff_base_ms: base, backoff_max_ms: max } = this.#deps.config.remediation;
    this.#nextAllowedAt = now + Math.min(base * 2 ** Math.max(0, this.#recent() - 1), max);
    this.#lastCured = result === 'restarted' ? { reason, at: now } : null;
    this.#logger[result === 'restarted' || result === 'dry_run' ? 'info' : 'error'](
      { rule: reason, result, duration_ms: record.durationMs, detail, next_allowed_at: new Date(this.#nextAllowedAt).toISOString() },
      `graceful restart finished: ${result}; repooled`);
  }

  async #drain(): Promise<void> {
    const deadline = this.#now() + this.#deps.config.remediation.drain_timeout_ms;
    while (this.#deps.inflight() > 0 && this.#now() < deadline) await sleep(20);
  }

  /** The service is healthy when its old process is gone, /healthz answers, and (if configured) a write and read through its API work. */
  async #waitHealthy(signalledPid: number | null): Promise<boolean> {
    const { remediation } = this.#deps.config;
    const deadline = this.#now() + remediation.healthy_timeout_ms;
    const waiting = (): boolean => this.#now() < deadline && !this.#isStopped();
    while (signalledPid !== null && alive(signalledPid) && waiting()) await sleep(50);
    while (waiting()) {
      try {
        const health = await request(`${this.#upstream}${this.#deps.config.upstream.health_path}`, { headersTimeout: 2000, bodyTimeout: 2000 });
        await health.body.dump();
        if (health.statusCode === 200 && (!remediation.service_canary || (await canaryThroughService(this.#upstream)) === 'ok')) return true;
      } catch {
        // not up yet
      }
      await sleep(250);
    }
    return false;
  }
}
