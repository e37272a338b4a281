// Requests the sidecar turns away itself (depooled, over the in-flight limit) come
// in floods: during a pool restart every request gets a 503 for a second or two.
// The first one is logged whole, the rest of that interval as one line with a count;
// the 503s are counted per request in sessionstore_sidecar_http_requests_total anyway.
import type { Logger } from '../telemetry/logger.ts';

const message = 'turned a request away (depooled or over the in-flight limit)';

export class TurnedAwayLog {
  readonly #logger: Logger;
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #unlogged = 0;

  constructor(logger: Logger, intervalMs = 1000) {
    this.#logger = logger;
    this.#intervalMs = intervalMs;
  }

  note(fields: Record<string, unknown>): void {
    if (this.#timer !== undefined) {
      this.#unlogged++;
      return;
    }
    this.#logger.warn(fields, message);
    this.#timer = setTimeout(() => { this.flush(); }, this.#intervalMs).unref();
  }

  /** Logs how many went unlogged since the last line; at the interval's end, and at shutdown. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#unlogged === 0) return;
    this.#logger.warn({ turned_away: this.#unlogged }, `turned ${this.#unlogged} more requests away in the last ${this.#intervalMs} ms`);
    this.#unlogged = 0;
  }
}
