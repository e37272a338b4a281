// The depool switch, in the order Kubernetes needs:
//   1. readiness fails at once (the kubelet notices within a probe period);
//   2. for `propagation_ms` the proxy still serves normally, while the endpoints update
//      (kube-proxy, Envoy's EDS), closing keep-alive connections after each answer so
//      that clients reconnect to other pods. Idle connections are left alone: with
//      `limits.keep_alive_timeout_ms` at most the propagation time (both 5 s by
//      default) they time out on their own, as their clients expect from the
//      Keep-Alive header, instead of being closed under a request being sent;
//   3. then new requests get 503 + Retry-After (the pod's last stragglers), idle
//      connections still open are closed, and the caller drains what is in flight.
// Repooling is symmetrical: readiness passes at once, and the endpoints take the pod
// back within the propagation time (the remediator holds the fleet lease until then).
// The same for a graceful restart and for SIGTERM (a preStop sleep, built in).
import type { Logger } from '../telemetry/logger.ts';

export class TrafficSwitch {
  #depooledSince: number | null = null;
  #turningAway = false;
  #reason = '';
  #timer: NodeJS.Timeout | undefined;
  #propagated: Promise<void> = Promise.resolve();
  readonly #listeners: (() => void)[] = [];
  readonly #logger: Logger;
  readonly #propagationMs: number;

  constructor(logger: Logger, propagationMs: number) {
    this.#logger = logger;
    this.#propagationMs = propagationMs;
  }

  /** Readiness fails: from the moment of depool(). */
  get depooled(): boolean {
    return this.#depooledSince !== null;
  }

  /** New requests are turned away: from the end of the propagation time. */
  get turningAway(): boolean {
    return this.#turningAway;
  }

  /** Called when new requests start being turned away. */
  whenTurningAway(listener: () => void): void {
    this.#listeners.push(listener);
  }

  /** How long the endpoints take to follow readiness, either way. */
  get propagationMs(): number {
    return this.#propagationMs;
  }

  /** Fails readiness now; resolves when new requests start being turned away. Idempotent. */
  depool(reason: string): Promise<void> {
    if (this.depooled) return this.#propagated;
    this.#depooledSince = Date.now();
    this.#reason = reason;
    this.#logger.warn({ reason, propagation_ms: this.#propagationMs }, `depooled: failing readiness; serving for ${this.#propagationMs} ms more while the endpoints update, then turning new requests away`);
    this.#propagated = new Promise((resolve) => {
      this.#timer = setTimeout(() => {
        this.#turningAway = true;
        this.#logger.info({ reason }, 'turning new requests away now');
        for (const listener of this.#listeners) listener();
        resolve();
      }, this.#propagationMs);
    });
    return this.#propagated;
  }

  repool(): void {
    if (!this.depooled) return;
    clearTimeout(this.#timer);
    this.#logger.info({ reason: this.#reason, depooled_ms: Date.now() - (this.#depooledSince ?? 0) }, 'repooled: serving traffic again');
    this.#depooledSince = null;
    this.#turningAway = false;
    this.#reason = '';
  }

  status(): { depooled: boolean; turningAway: boolean; reason?: string; since?: string } {
    return this.#depooledSince === null
      ? { depooled: false, turningAway: false }
      : { depooled: true, turningAway: this.#turningAway, reason: this.#reason, since: new Date(this.#depooledSince).toISOString() };
  }
}
