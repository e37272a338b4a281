// Events that come in floods (requests turned away during a pool restart, retried
// storage errors while a coordinator is broken) are logged as the first one whole,
// then one line per interval with how many more there were. Every event is still
// counted in its metric; the log only explains.
import type { Logger } from './logger.ts';

export class FloodLog {
  readonly #logger: Logger;
  readonly #message: string;
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #unlogged = 0;

  constructor(logger: Logger, message: string, intervalMs = 1000) {
    this.#logger = logger;
    this.#message = message;
    this.#intervalMs = intervalMs;
  }

  /** `fields` is called only when the line is written. */
  note(fields: () => Record<string, unknown>): void {
    if (this.#timer !== undefined) {
      this.#unlogged++;
      return;
    }
    this.#logger.warn(fields(), this.#message);
    this.#timer = setTimeout(() => { this.flush(); }, this.#intervalMs).unref();
  }

  /** Logs how many went unlogged since the last line; at the interval's end, and at shutdown. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#unlogged === 0) return;
    this.#logger.warn({ count: this.#unlogged }, `${this.#message}: ${this.#unlogged} more in the last ${this.#intervalMs} ms`);
    this.#unlogged = 0;
  }
}
