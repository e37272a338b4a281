// The depool switch. Depooled, the pod fails readiness, answers new requests with
// 503 + Retry-After, and closes keep-alive connections after each response, so
// clients reconnect to other pods. In-flight requests always complete.
import type { Logger } from '../telemetry/logger.ts';

export class TrafficSwitch {
  #depooledSince: number | null = null;
  #reason = '';
  readonly #logger: Logger;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  get depooled(): boolean {
    return this.#depooledSince !== null;
  }

  depool(reason: string): void {
    if (this.depooled) return;
    this.#depooledSince = Date.now();
    this.#reason = reason;
    this.#logger.warn({ reason }, 'depooled: failing readiness and turning new requests away');
  }

  repool(): void {
    if (!this.depooled) return;
    this.#logger.info({ reason: this.#reason, depooled_ms: Date.now() - (this.#depooledSince ?? 0) }, 'repooled: serving traffic again');
    this.#depooledSince = null;
    this.#reason = '';
  }

  status(): { depooled: boolean; reason?: string; since?: string } {
    return this.#depooledSince === null
      ? { depooled: false }
      : { depooled: true, reason: this.#reason, since: new Date(this.#depooledSince).toISOString() };
  }
}
