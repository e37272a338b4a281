// Which failed exchanges the proxy may send to the service again, and how many.
//
// Kask's API is idempotent: GET reads a key, POST sets a key's value, DELETE removes
// it, so doing one twice leaves the same state as doing it once. Kask's driver picks a
// coordinator per query, round robin, so when one Cassandra coordinator is broken
// (it answers but cannot reach its peers, T327954) another attempt usually lands on a
// healthy one.
//
// How much retrying is allowed depends on whether the failures are explained:
//   - An explained fault: some local coordinators are not proven (their canaries fail, or
//     their probes do, as a broken node's may under load), LOCAL_QUORUM succeeds through
//     the others, and the share of first attempts that fail is no more than the unproven
//     coordinators' share of the local ones would make it. Retries then go
//     to coordinators that work, and each one turns a failed request into a served one:
//     they may use the whole ceiling (`ceiling_ratio`, default 1: never more than double
//     the requests over 10 s).
//   - Anything else (the cluster failing everywhere, an unknown cause): retries mostly
//     fail again and only multiply the load, so they get the ordinary budget
//     (`budget_ratio`, default 0.2, Linkerd's and Envoy's 20%).
// An explained fault stays explained for the window after it was last seen so, while
// LOCAL_QUORUM holds: the evidence flickers for a probe interval (the broken node's
// probe times out under load, its canary is judged again) while the service keeps
// sending it a share of its queries, and a lapse that cut retries to the ordinary
// budget failed requests in every CI run of the split view at load (1 to 3% in seconds).
// Both are shares of the API requests over the last 10 s, plus `min_per_second` so that
// thin traffic is shielded too. Linkerd's budget is the same shape (a ratio of requests
// over a TTL plus a floor per second). Envoy's bounds *concurrent* retries as a share
// of active requests; a fast service has one or two requests active at a time, so the
// floor alone would decide there, and the load a budget may add is what SREs need to
// know. Hence a share of requests. The ceiling is a hard limit in every case: it is the
// most extra load the sidecar can ever put on the cluster.
import type { CoordinatorHealth } from '../cluster/view.ts';
import type { Config } from '../config/schema.ts';
import { PerSecondCounts } from '../telemetry/per-second-counts.ts';

const kaskApi = /^\/sessions\//;
/** The methods of Kask's idempotent API: the `method` label values of retries_total. */
export const retriedMethods: readonly string[] = ['GET', 'POST', 'DELETE'];

/** Requests that may be sent again: Kask's idempotent API calls. */
export const replayable = (method: string, path: string): boolean => retriedMethods.includes(method) && kaskApi.test(path);

/** Why a retry was not sent; the `reason` label of retries_skipped_total. */
export const skipReasons = ['budget', 'no_local_quorum', 'body_too_large', 'deadline'] as const;
export type SkipReason = (typeof skipReasons)[number];

/** First attempts seen over the window, and how many of them the service failed. */
export interface FirstAttempts {
  requests: number;
  failed: number;
}

/** Below this many first attempts in the window, the observed share says too little to contradict the canaries. */
const minSample = 20;
/** Slack over the broken coordinators' share, for chance: round robin under concurrency is not exact. */
const shareSlack = 1.5;

/**
 * Whether the storage errors are explained by named broken coordinators while LOCAL_QUORUM
 * succeeds through others. A failing share well above what the broken coordinators
 * account for means something else fails too, and the ordinary budget applies.
 */
export function explainedFault(health: CoordinatorHealth, firstAttempts: FirstAttempts): boolean {
  if (!health.localQuorum || health.broken === 0 || health.healthy === 0) return false;
  if (firstAttempts.requests < minSample) return true;
  const brokenShare = health.broken / (health.broken + health.healthy);
  return firstAttempts.failed / firstAttempts.requests <= Math.min(1, brokenShare * shareSlack);
}

/** The retries allowed over the window: a share of its requests plus the floor. */
export function retriesAllowed(config: Config['retries'], explained: boolean, requests: number, windowSeconds: number): number {
  const ratio = explained ? config.ceiling_ratio : Math.min(config.budget_ratio, config.ceiling_ratio);
  return ratio * requests + config.min_per_second * windowSeconds;
}

const windowSeconds = 10;

export class RetryBudget {
  readonly #counts: PerSecondCounts<'requests' | 'failedFirst' | 'retries'>;
  readonly #config: Config['retries'];
  readonly #health: () => CoordinatorHealth;
  readonly #now: () => number;
  /** When the fault was last explained (epoch ms). */
  #explainedAt = -Infinity;

  constructor(config: Config['retries'], health: () => CoordinatorHealth, now: () => number = Date.now) {
    this.#counts = new PerSecondCounts(['requests', 'failedFirst', 'retries'], windowSeconds, now);
    this.#config = config;
    this.#health = health;
    this.#now = now;
  }

  /** Every API request that could be retried counts toward the budget. */
  recordRequest(): void {
    this.#counts.add('requests');
  }

  /** A first attempt the service failed with a storage error: the observed share the canaries must explain. */
  recordFailedFirstAttempt(): void {
    this.#counts.add('failedFirst');
  }

  /** Whether the current failures are explained (the ceiling applies), from the canaries and the window; held over the window while LOCAL_QUORUM does. */
  explained(): boolean {
    const health = this.#health();
    const now = this.#now();
    if (explainedFault(health, { requests: this.#counts.total('requests'), failed: this.#counts.total('failedFirst') })) {
      this.#explainedAt = now;
      return true;
    }
    return health.localQuorum && now - this.#explainedAt < windowSeconds * 1000;
  }

  /** Takes one retry from the budget (the ceiling when the fault is explained), or says there is none left. */
  tryTake(explained: boolean): boolean {
    const allowed = retriesAllowed(this.#config, explained, this.#counts.total('requests'), windowSeconds);
    if (this.#counts.total('retries') + 1 > allowed) return false;
    this.#counts.add('retries');
    return true;
  }
}
