// The graceful restart of the service's pool, in order:
//   1. take the fleet lease (one pod per data center at a time), renewed while held;
//   2. depool (readiness fails at once; traffic is still served for the propagation
//      time, while the endpoints move it to other pods) and drain;
//   3. check the evidence again, after the propagation time and the drain: a reason that
//      has gone (the driver took the node back by itself), or a lease that was lost,
//      cancels the restart;
//      restart (signal, HTTP or command);
//   4. verify: the old process is gone, the service answers /healthz, and the evidence
//      is gone (the nodes it lacked are back in its pool; canaries through it pass);
//   5. repool, hold the lease for the propagation time while the endpoints take the
//      pod back, and release it;
//   6. back off.
// A restart that leaves the evidence as it was is "not cured": it is recorded as such,
// and the same evidence never triggers another one; a human is paged instead. Budgets
// (restarts per hour, exponential backoff) stop restart loops. A dry run touches
// nothing: no lease, no depool, no signal; it says what it would do. Every step is
// logged once, and everything remembered between verdicts is in status().
// As a Kubernetes controller's reconciler, consider() returns what it did with each
// verdict (nothing, held back and until when, a restart under way, a dry run's
// account), which the reconcile loop publishes and requeues on. Times are epoch
// milliseconds inside; only status() formats them.
import { request } from 'undici';
import type { Config } from '../config/schema.ts';
import type { TrafficSwitch } from '../proxy/traffic-switch.ts';
import type { ServiceRule, Verdict, ViewSuppression } from '../reconcile/diagnose.ts';
import type { Logger } from '../telemetry/logger.ts';
import { Counter, Gauge, metricPrefix, type Registry } from '../telemetry/metrics.ts';
import { systemClock, type Clock } from './clock.ts';
import type { FleetLease } from './lease.ts';
import type { RestartResult } from './restart-action.ts';

export type RestartReason = ServiceRule | 'manual';

/** Why an operator's restart was not carried out. */
export type OperatorRefusal = 'stopping' | 'disabled' | 'no_credentials' | 'paused' | 'in_progress' | 'lease_held';

export interface OperatorAnswer {
  status: number;
  outcome: RestartOutcome | 'refused';
  reason?: OperatorRefusal;
  why?: string;
  restart?: Shown<RestartRecord>;
}
/**
 * `restarted`: healthy and cured; `not_cured`: healthy, evidence unchanged; `unhealthy`: never healthy again; `failed`: the restart itself failed;
 * `cancelled`: the evidence was gone by the last check before the signal (repooled, nothing restarted); `dry_run`: nothing done, only said.
 */
export type RestartOutcome = 'restarted' | 'not_cured' | 'unhealthy' | 'failed' | 'cancelled' | 'dry_run';
export type Suppression = ViewSuppression | 'no_credentials' | 'paused' | 'disabled' | 'budget_exhausted' | 'backoff' | 'lease_held' | 'not_cured';
export const suppressions: readonly Suppression[] = ['no_local_quorum', 'broken_coordinator', 'disk_full', 'no_credentials', 'paused', 'disabled', 'budget_exhausted', 'backoff', 'lease_held', 'not_cured'];
const outcomes: readonly RestartOutcome[] = ['restarted', 'not_cured', 'unhealthy', 'failed', 'cancelled', 'dry_run'];

/** Suppressions that need a human: the sidecar will not act again by itself. */
const needsHuman: ReadonlySet<Suppression> = new Set(['budget_exhausted', 'not_cured']);

export interface RestartRecord {
  reason: RestartReason;
  /** Epoch ms. */
  startedAt: number;
  durationMs: number;
  result: RestartOutcome;
  detail: string;
  evidence: string[];
  /** The nodes the evidence was about (stale_pool: those the pool lacked). */
  addresses: string[];
}

/** A restart whose lease is taken: what the rest of it needs. */
interface TakenRestart {
  reason: RestartReason;
  evidence: string[];
  addresses: string[];
  startedAt: number;
  log: Logger;
}

interface LeaseRenewal {
  lost: () => boolean;
  stop: () => void;
}

export interface Held {
  reason: Suppression;
  why: string;
  /** When it may act again by itself (epoch ms); null: not by itself (a switch, a human, the views). */
  until: number | null;
}

/** What the remediator did with a verdict, as a controller's reconcile result. */
export type ActionResult =
  | { outcome: 'none' }
  /** Refused, and why; `held.until` says when the loop should look again. */
  | { outcome: 'held'; held: Held }
  /** The lease is taken and a graceful restart runs (this verdict's, or one before). */
  | { outcome: 'restarting' }
  /** Said what it would do, and did nothing. */
  | { outcome: 'dry_run'; record: RestartRecord };

/** Held, RestartRecord and the like as /status shows them: times in ISO 8601. */
export type Shown<T> = { [K in keyof T]: K extends 'until' | 'startedAt' ? (null extends T[K] ? string | null : string) : T[K] };
const iso = (ms: number): string => new Date(ms).toISOString();
export const showHeld = (held: Held | null): Shown<Held> | null => (held === null ? null : { ...held, until: held.until === null ? null : iso(held.until) });
const showRecord = (record: RestartRecord): Shown<RestartRecord> => ({ ...record, startedAt: iso(record.startedAt) });

export interface RemediatorDependencies {
  config: Config;
  lease: FleetLease;
  trafficSwitch: TrafficSwitch;
  inflight: () => number;
  restart: (config: Config) => Promise<RestartResult>;
  /** A fresh read of the service's pool: established connections per node (null: unreadable). */
  servicePool: () => Promise<Record<string, number> | null>;
  /** One write-then-read through the service's API: 'ok' or what went wrong. */
  serviceCanary: () => Promise<string>;
  /** A fresh look at the views, just before the signal: null while the rule still holds, or why it no longer does. */
  recheck: (rule: ServiceRule) => Promise<string | null>;
  registry: Registry;
  logger: Logger;
  clock?: Clock;
  /** In [0, 1): the jitter of the lease's retries. */
  random?: () => number;
}

const hourMs = 3_600_000;
/** Canaries through the service that must all pass to call false unavailability cured. */
const cureCanaries = 3;

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const sameNodes = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && [...a].sort().join() === [...b].sort().join();

export class Remediator {
  #inProgress = false;
  /** Set while this sidecar holds the fleet lease, so that stop() can give it back. */
  #leaseHeld = false;
  #stopped = false;
  #paused = false;
  #nextAllowedAt = 0;
  /** Who held the lease when this pod last asked, and when it may ask again. */
  #leaseWait: { holder: string; until: number } | null = null;
  #held: Held | null = null;
  /** The evidence a restart did not cure: not restarted for again while it holds. */
  #notCured: { rule: RestartReason; addresses: string[]; at: number } | null = null;
  readonly #history: RestartRecord[] = [];
  readonly #deps: RemediatorDependencies;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #upstream: string;
  readonly #metrics: { restarts: Counter<'rule' | 'result'>; inProgress: Gauge; lastRestart: Gauge; suppressed: Gauge<'reason'>; leaseRounds: Counter<'operation'> };

  constructor(deps: RemediatorDependencies) {
    this.#deps = deps;
    this.#logger = deps.logger.child({ component: 'remediate' });
    this.#clock = deps.clock ?? systemClock;
    this.#random = deps.random ?? Math.random;
    this.#upstream = new URL(deps.config.upstream.url).origin;
    const registers = [deps.registry];
    this.#metrics = {
      restarts: new Counter({
        name: `${metricPrefix}pool_restarts_total`,
        help: "Restarts of the service's pool, by the rule that asked and the result: restarted (cured), not_cured, unhealthy, failed, cancelled (the evidence went before the signal), dry_run (only said).",
        labelNames: ['rule', 'result'], registers,
      }),
      inProgress: new Gauge({ name: `${metricPrefix}restart_in_progress`, help: '1 while a graceful restart is under way.', registers }),
      lastRestart: new Gauge({ name: `${metricPrefix}last_restart_timestamp_seconds`, help: 'When the last restart finished (Unix seconds).', registers }),
      suppressed: new Gauge({
        name: `${metricPrefix}remediation_suppressed`,
        help: 'What holds a needed restart back: no_local_quorum, broken_coordinator, disk_full, no_credentials, paused, disabled, budget_exhausted and not_cured (a human is needed), backoff, lease_held.',
        labelNames: ['reason'], registers,
      }),
      leaseRounds: new Counter({
        name: `${metricPrefix}lease_rounds_total`,
        help: "Lightweight transactions (Paxos rounds) this sidecar ran on the fleet lease's partition, by operation: acquire, renew, release.",
        labelNames: ['operation'], registers,
      }),
    };
    for (const operation of ['acquire', 'renew', 'release']) this.#metrics.leaseRounds.inc({ operation }, 0);
    // Every series exists from the start, at 0, so that alerts and dashboards see them.
    for (const rule of [...['stale_pool', 'false_unavailability'], 'manual']) {
      for (const result of outcomes) this.#metrics.restarts.inc({ rule, result }, 0);
    }
    this.#setHeld(null);
  }

  /**
   * Called with every verdict: acts on a restart verdict unless something holds it
   * back, and says what it did. A restart starts here only once its lease is taken
   * (one Paxos round); the rest of it runs in the background while later verdicts
   * answer `restarting`.
   */
  async consider(verdict: Verdict): Promise<ActionResult> {
    if (this.#stopped) return { outcome: 'none' };
    // The evidence a restart did not cure is forgotten once it no longer holds.
    if (this.#notCured !== null && !verdict.findings.some((f) => f.rule === this.#notCured?.rule && sameNodes(f.addresses, this.#notCured.addresses))) {
      this.#logger.info({ rule: this.#notCured.rule, addresses: this.#notCured.addresses }, 'the divergence a restart did not cure is gone');
      this.#notCured = null;
    }
    // Without its credentials the sidecar's view of Cassandra is blind (every node refuses it): it judges nothing.
    const blind = this.#lackingCredentials();
    if (blind !== null) return this.#heldBy(blind);
    if (verdict.action === 'suppressed' && verdict.suppressed !== null) return this.#heldBy({ ...verdict.suppressed, until: null });
    if (verdict.action !== 'restart' || verdict.rule === null) {
      this.#setHeld(null);
      return { outcome: 'none' };
    }
    if (this.#inProgress) return { outcome: 'restarting' };
    const addresses = verdict.findings.find((f) => f.rule === verdict.rule)?.addresses ?? [];
    const held = this.#holdBack(verdict.rule, addresses);
    if (held !== null) return this.#heldBy(held);
    this.#setHeld(null);
    const begun = await this.#begin(verdict.rule, verdict.evidence, addresses);
    if (begun.kind === 'taken') {
      void this.#carryOut(begun);
      return { outcome: 'restarting' };
    }
    if (begun.kind === 'dry_run') return { outcome: 'dry_run', record: begun.record };
    return begun.held === null ? { outcome: 'none' } : { outcome: 'held', held: begun.held };
  }

  #heldBy(held: Held): ActionResult {
    return { outcome: 'held', held: this.#setHeld(held) };
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
    await this.#leaseRound('release', () => this.#deps.lease.release()).catch((error: unknown) => { this.#logger.error({ error: (error as Error).message }, 'could not release the lease; it expires by its TTL'); });
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

  status(): {
    inProgress: boolean; paused: boolean; dryRun: boolean; suppressed: Shown<Held> | null; restartsLastHour: number; budget: number;
    nextAllowedAt: string | null; budgetFreesAt: string | null; notCured: { rule: RestartReason; addresses: string[]; at: string } | null; history: Shown<RestartRecord>[];
  } {
    const { max_restarts_per_hour: budget } = this.#deps.config.remediation;
    const recent = this.#recentStarts();
    return {
      inProgress: this.#inProgress,
      paused: this.#paused,
      dryRun: this.#deps.config.remediation.dry_run,
      suppressed: showHeld(this.#held),
      restartsLastHour: recent.length,
      budget,
      nextAllowedAt: this.#nextAllowedAt > this.#clock.now() ? iso(this.#nextAllowedAt) : null,
      budgetFreesAt: recent.length >= budget && recent[0] !== undefined ? iso(recent[0] + hourMs) : null,
      notCured: this.#notCured === null ? null : { ...this.#notCured, at: iso(this.#notCured.at) },
      history: this.#history.map(showRecord),
    };
  }

  /**
   * Start times (epoch ms) of automatic restarts in the last hour, oldest first: what spends the hourly budget. With
   * `dryRuns`, a dry run's accounts as well: what the backoff grows with.
   */
  #recentStarts(options: { dryRuns?: boolean } = {}): number[] {
    const since = this.#clock.now() - hourMs;
    // A cancelled restart restarted nothing; it is backed off from, but does not spend the hourly budget. Nor does a
    // dry run's account: a budget it spent would page SessionStoreRemediationNeedsHuman for restarts that never were,
    // while a divergence a dry run leaves in place pages for itself (SessionStoreViewDivergence).
    const counted = (r: RestartRecord): boolean => r.reason !== 'manual' && r.result !== 'cancelled' && (options.dryRuns === true || r.result !== 'dry_run');
    return this.#history.filter(counted).map((r) => r.startedAt).filter((at) => at >= since);
  }

  #lackingCredentials(): Held | null {
    const lacking = this.#deps.config.lacking.filter((l) => l.setting.startsWith('cassandra.'));
    if (lacking.length === 0) return null;
    return { reason: 'no_credentials', why: `the sidecar runs without ${lacking.map((l) => `${l.setting} (${l.file}: ${l.why})`).join(' and ')}: its own view of Cassandra cannot be trusted, so it restarts nothing`, until: null };
  }

  #holdBack(rule: ServiceRule, addresses: string[]): Held | null {
    const { remediation } = this.#deps.config;
    if (!remediation.enabled) return { reason: 'disabled', why: 'remediation.enabled is false', until: null };
    if (this.#paused) return { reason: 'paused', why: 'paused by an operator (POST /remediation/resume to resume)', until: null };
    if (this.#notCured !== null && this.#notCured.rule === rule && sameNodes(this.#notCured.addresses, addresses)) {
      return { reason: 'not_cured', why: `a restart did not change this (${rule}${addresses.length > 0 ? `: ${addresses.join(', ')}` : ''}); another would not either: a human is needed`, until: null };
    }
    const recent = this.#recentStarts();
    if (recent.length >= remediation.max_restarts_per_hour) {
      return { reason: 'budget_exhausted', why: `${recent.length} restarts in the last hour (budget ${remediation.max_restarts_per_hour}): a human is needed`, until: (recent[0] ?? 0) + hourMs };
    }
    if (this.#clock.now() < this.#nextAllowedAt) return { reason: 'backoff', why: 'backing off after the last restart (or a failed attempt at the lease)', until: this.#nextAllowedAt };
    if (this.#leaseWait !== null && this.#clock.now() < this.#leaseWait.until) {
      return { reason: 'lease_held', why: `${this.#leaseWait.holder} is restarting its service; the lease is tried again then`, until: this.#leaseWait.until };
    }
    return null;
  }

  #setHeld<H extends Held | null>(held: H): H {
    if (held !== null && held.reason !== this.#held?.reason && needsHuman.has(held.reason)) {
      this.#logger.error({ reason: held.reason, why: held.why }, `not restarting the service again: ${held.why}`);
    }
    this.#held = held;
    for (const r of suppressions) this.#metrics.suppressed.set({ reason: r }, r === held?.reason ? 1 : 0);
    return held;
  }

  /**
   * An operator's restart (POST /remediation/restart), answered with what happened and an
   * HTTP status to match: 200 restarted (or a dry run's account), 502 when the restart
   * ran but the service came back unhealthy or not cured or the action failed, 409
   * refused (disabled, no credentials, paused, one under way, another pod holds the lease), 503 while
   * the sidecar shuts down. It skips the budget, the backoff and the not-cured memory
   * (a human decided), never the switches or the lease.
   */
  async operatorRestart(): Promise<OperatorAnswer> {
    const refused = (reason: OperatorRefusal, why: string, status = 409): OperatorAnswer => ({ status, outcome: 'refused', reason, why });
    if (this.#isStopped()) return refused('stopping', 'the sidecar is shutting down', 503);
    if (!this.#deps.config.remediation.enabled) return refused('disabled', 'remediation.enabled is false');
    const blind = this.#lackingCredentials();
    if (blind !== null) return refused('no_credentials', `${blind.why}; the fleet lease needs them too`);
    if (this.#paused) return refused('paused', 'remediation is paused by an operator: POST /remediation/resume first');
    if (this.#inProgress) return refused('in_progress', 'a graceful restart is already under way (see /status remediation)');
    const before = this.#history.at(-1);
    const record = await this.restart('manual', ['requested by an operator on the admin port']);
    if (record === null || record === before) {
      return this.#isStopped() ? refused('stopping', 'the sidecar is shutting down', 503) : refused('lease_held', this.#held?.why ?? 'another sidecar holds the fleet lease');
    }
    const good = record.result === 'restarted' || record.result === 'dry_run';
    return { status: good ? 200 : 502, outcome: record.result, restart: showRecord(record) };
  }

  /** The whole graceful restart. Also the manual trigger, which skips the budget, backoff and not-cured memory, but never the lease. */
  async restart(reason: RestartReason, evidence: string[] = [], addresses: string[] = []): Promise<RestartRecord | null> {
    if (this.#inProgress || this.#isStopped()) return null;
    const begun = await this.#begin(reason, evidence, addresses);
    if (begun.kind === 'dry_run') return begun.record;
    return begun.kind === 'taken' ? this.#carryOut(begun) : null;
  }

  /**
   * 1. The fleet lease (or, in a dry run, the account of what would be done). Held:
   * another pod holds the lease, or it could not be asked (null: stopped meanwhile).
   */
  async #begin(reason: RestartReason, evidence: string[], addresses: string[]): Promise<
    ({ kind: 'taken' } & TakenRestart) | { kind: 'dry_run'; record: RestartRecord } | { kind: 'held'; held: Held | null }> {
    const { config, lease, trafficSwitch } = this.#deps;
    const startedAt = this.#clock.now();
    const log = this.#logger.child({ rule: reason });
    if (config.remediation.dry_run) {
      // Nothing that touches traffic: no lease, no depool, no signal. Recorded and backed off like a restart, so it says what a real one would do, and when.
      const detail = `dry run: would take the fleet lease, depool for ${trafficSwitch.propagationMs} ms, drain (up to ${config.remediation.drain_timeout_ms} ms) and restart the service by ${config.remediation.action}; nothing was done`;
      log.warn({ evidence, detail }, 'dry run: would restart the service now');
      return { kind: 'dry_run', record: this.#finish({ reason, startedAt, durationMs: 0, result: 'dry_run', detail, evidence, addresses }) };
    }
    // Set before the Paxos round: a verdict arriving meanwhile must not ask for the lease again.
    this.#inProgress = true;
    try {
      const taken = await this.#leaseRound('acquire', () => lease.acquire());
      if (!taken.acquired) {
        // Not again before a jittered wait: the pods waiting for one lease must not run a Paxos round each every tick.
        const holder = taken.holder ?? 'another sidecar';
        const waitMs = Math.round(config.remediation.lease_retry_ms * (0.5 + this.#random()));
        const first = this.#leaseWait?.holder !== holder;
        this.#leaseWait = { holder, until: startedAt + waitMs };
        log[first ? 'warn' : 'debug']({ holder, retry_in_ms: waitMs }, 'another sidecar in this data center is restarting its service; waiting for the lease');
        this.#inProgress = false;
        return { kind: 'held', held: this.#setHeld({ reason: 'lease_held', why: `${holder} is restarting its service; the lease is tried again then`, until: this.#leaseWait.until }) };
      }
      this.#leaseWait = null;
      if (taken.tookOverFrom !== undefined) log.warn({ previous_holder: taken.tookOverFrom }, "took the fleet lease over from this pod's previous sidecar, which stopped while holding it");
      if (this.#isStopped()) {
        // stop() came while the lease was being taken: give it straight back.
        await this.#leaseRound('release', () => lease.release());
        this.#inProgress = false;
        return { kind: 'held', held: null };
      }
    } catch (error) {
      this.#nextAllowedAt = this.#clock.now() + config.remediation.backoff_base_ms;
      log.error({ error: (error as Error).message }, 'could not take the fleet lease');
      this.#inProgress = false;
      return { kind: 'held', held: this.#setHeld({ reason: 'backoff', why: `could not take the fleet lease (${(error as Error).message})`, until: this.#nextAllowedAt }) };
    }
    this.#leaseHeld = true;
    this.#metrics.inProgress.set(1);
    return { kind: 'taken', reason, evidence, addresses, startedAt, log };
  }

  /** 2 to 6, with the lease held: depool, drain, check again, restart, verify, repool, release, record. */
  async #carryOut(taken: TakenRestart): Promise<RestartRecord | null> {
    const { reason, evidence, addresses, startedAt, log } = taken;
    const { config, lease, trafficSwitch } = this.#deps;
    const renewal = this.#renewWhileHeld(log);
    let result: RestartOutcome = 'failed';
    let detail = '';
    let record: RestartRecord | null = null;
    try {
      // 2. Depool (readiness fails; other pods take the traffic while the endpoints update) and drain.
      log.warn({ evidence }, `restarting the service's pool gracefully (${reason}): lease taken, depooling`);
      await trafficSwitch.depool(`restarting the service's pool (${reason})`);
      await this.#drain();
      // 3. The evidence again, at the last moment: seconds have passed, and the driver may have healed itself.
      const gone = reason === 'manual' ? null : await this.#deps.recheck(reason);
      if (renewal.lost()) {
        // Another pod may be depooled now: two out of rotation is what the lease exists to prevent.
        result = 'cancelled';
        detail = 'cancelled before the signal: the fleet lease was lost (it expired, or another pod took it)';
        log.error('the fleet lease was lost before the signal: cancelling, repooling');
      } else if (gone === null) {
        const action = await this.#deps.restart(config);
        detail = action.detail;
        log.warn({ detail }, 'restart requested');
        // 4. Verify.
        const verified = await this.#verify(action.signalledPid, { reason, addresses });
        result = verified.outcome;
        if (verified.detail) detail += `; ${verified.detail}`;
      } else {
        result = 'cancelled';
        detail = `cancelled before the signal: ${gone}`;
        log.warn({ evidence: gone }, 'the reason to restart is gone: cancelling, repooling');
      }
    } catch (error) {
      detail = `${detail ? `${detail}; ` : ''}${(error as Error).message}`;
      log.error({ error: (error as Error).message }, 'the restart failed');
    } finally {
      renewal.stop();
      // 5. Repool and release. After stop() the lease is given back already, and the proxy stays depooled for the shutdown.
      if (!this.#isStopped()) {
        trafficSwitch.repool();
        // The next pod must not depool before the endpoints have taken this one back: with two
        // pods, both would be out of rotation at once.
        await this.#clock.sleep(trafficSwitch.propagationMs);
        this.#leaseHeld = false;
        await this.#leaseRound('release', () => lease.release()).catch((error: unknown) => { log.error({ error: (error as Error).message }, 'could not release the lease; it expires by its TTL'); });
        record = this.#finish({ reason, startedAt, durationMs: this.#clock.now() - startedAt, result, detail, evidence, addresses });
      }
      this.#inProgress = false;
      this.#metrics.inProgress.set(0);
    }
    return record;
  }

  /** 6. Record, count, back off, and remember evidence that a restart did not cure. */
  #finish(record: RestartRecord): RestartRecord {
    const now = this.#clock.now();
    this.#history.push(record);
    if (this.#history.length > 50) this.#history.shift();
    this.#metrics.restarts.inc({ rule: record.reason, result: record.result });
    this.#metrics.lastRestart.set(now / 1000);
    const { backoff_base_ms: base, backoff_max_ms: max } = this.#deps.config.remediation;
    this.#nextAllowedAt = now + Math.min(base * 2 ** Math.max(0, this.#recentStarts({ dryRuns: true }).length - 1), max);
    if (record.result === 'not_cured' && record.reason !== 'manual') this.#notCured = { rule: record.reason, addresses: record.addresses, at: now };
    const level = record.result === 'restarted' || record.result === 'dry_run' ? 'info' : 'error';
    this.#logger[level](
      { rule: record.reason, result: record.result, duration_ms: record.durationMs, detail: record.detail, next_allowed_at: iso(this.#nextAllowedAt) },
      `graceful restart finished: ${record.result}; repooled`);
    return record;
  }

  /**
   * Renews the lease every third of its TTL while this pod holds it: a restart that
   * outlasts the TTL (a slow service start, a long drain) keeps it. A failed renewal is
   * tried again at the next; one that finds the lease gone is remembered.
   */
  #renewWhileHeld(log: Logger): LeaseRenewal {
    let lost = false;
    const stop = this.#clock.every(this.#deps.config.remediation.lease_ttl_seconds * 1000 / 3, () => {
      if (!this.#leaseHeld || lost) return;
      this.#leaseRound('renew', () => this.#deps.lease.renew()).then((still) => {
        if (still || !this.#leaseHeld) return;
        lost = true;
        log.error('the fleet lease was lost during the restart: it expired, or another pod took it');
      }, (error: unknown) => { log.warn({ error: (error as Error).message }, 'could not renew the fleet lease; it holds until its TTL, and is renewed again'); });
    });
    return { lost: () => lost, stop };
  }

  /** One lightweight transaction on the lease, counted: the pods of a data center share one partition's Paxos. */
  #leaseRound<T>(operation: 'acquire' | 'renew' | 'release', round: () => Promise<T>): Promise<T> {
    this.#metrics.leaseRounds.inc({ operation });
    return round();
  }

  async #drain(): Promise<void> {
    const deadline = this.#clock.now() + this.#deps.config.remediation.drain_timeout_ms;
    while (this.#deps.inflight() > 0 && this.#clock.now() < deadline) await this.#clock.sleep(20);
  }

  /**
   * Healthy: the old process is gone and /healthz answers. Cured: the evidence is gone,
   * i.e. the service's pool holds the nodes it lacked (stale_pool), or canaries through
   * its API pass (false_unavailability, and a manual restart when configured).
   */
  async #verify(signalledPid: number | null, cure: { reason: RestartReason; addresses: string[] }): Promise<{ outcome: 'restarted' | 'not_cured' | 'unhealthy'; detail: string }> {
    const { remediation, upstream } = this.#deps.config;
    const deadline = this.#clock.now() + remediation.healthy_timeout_ms;
    const waiting = (): boolean => this.#clock.now() < deadline && !this.#isStopped();
    while (signalledPid !== null && alive(signalledPid) && waiting()) await this.#clock.sleep(50);
    let healthy = false;
    let lastProblem = 'not checked yet';
    while (waiting()) {
      healthy ||= await request(`${this.#upstream}${upstream.health_path}`, { headersTimeout: 2000, bodyTimeout: 2000 })
        .then(async (response) => { await response.body.dump(); return response.statusCode === 200; }, () => false);
      if (healthy) {
        lastProblem = await this.#stillDiverged(cure.reason, cure.addresses);
        if (lastProblem === '') return { outcome: 'restarted', detail: '' };
      }
      await this.#clock.sleep(250);
    }
    const within = `within ${remediation.healthy_timeout_ms} ms`;
    return healthy
      ? { outcome: 'not_cured', detail: `the service answers, but ${lastProblem} ${within}` }
      : { outcome: 'unhealthy', detail: `the service did not answer ${upstream.health_path} ${within}` };
  }

  /** What is still wrong after the restart ('' when nothing is). */
  async #stillDiverged(reason: RestartReason, addresses: string[]): Promise<string> {
    if (reason === 'stale_pool') {
      const pool = await this.#deps.servicePool();
      const missing = addresses.filter((address) => (pool?.[address] ?? 0) === 0);
      if (missing.length > 0) return `its pool still holds no connection to ${missing.join(', ')}`;
    }
    if (reason === 'false_unavailability' || this.#deps.config.remediation.service_canary) {
      for (let i = 0; i < (reason === 'false_unavailability' ? cureCanaries : 1); i++) {
        const canary = await this.#deps.serviceCanary();
        if (canary !== 'ok') return `the canary through it failed (${canary})`;
      }
    }
    return '';
  }
}
