// Which failed exchanges the proxy may send to the service again, and how many.
//
// Kask's API is idempotent: GET reads a key, POST sets a key's value, DELETE removes
// it, so doing one twice leaves the same state as doing it once. Kask's driver picks a
// coordinator per query, round robin, so when one Cassandra coordinator is broken
// (it answers but cannot reach its peers, T327954) a second attempt usually lands on
// a healthy one.
//
// The budget bounds the load retries may add: over the last 10 s, retries may be at
// most `budget_ratio` of the API requests, plus `min_per_second` so that thin traffic
// is shielded too. With the default 0.5, one failing coordinator in three (a third of
// requests fail once, a ninth twice: about 45% extra) is fully shielded, and a
// service that fails everything gets at most 1.5 times its load, never double.
// Envoy's retry budgets bound *concurrent* retries as a share of active requests; a
// fast service has one or two requests active at a time, so there the floor alone
// would decide, and the load a budget may add is what SREs need to know. Hence a
// share of requests.
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

export class RetryBudget {
  readonly #counts: PerSecondCounts<'requests' | 'retries'>;
  readonly #ratio: number;
  readonly #floor: number;

  constructor(config: Config['retries'], now: () => number = Date.now) {
    this.#counts = new PerSecondCounts(['requests', 'retries'], 10, now);
    this.#ratio = config.budget_ratio;
    this.#floor = config.min_per_second * 10;
  }

  /** Every API request that could be retried counts toward the budget. */
  recordRequest(): void {
    this.#counts.add('requests');
  }

  /** Takes one retry from the budget, or says there is none left. */
  tryTake(): boolean {
    const allowed = this.#ratio * this.#counts.total('requests') + this.#floor;
    if (this.#counts.total('retries') + 1 > allowed) return false;
    this.#counts.add('retries');
    return true;
  }
}
