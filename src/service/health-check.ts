// Whether the service answers, checked in the background on a connection of its own,
// as Envoy's active health checking does: never through the pool that carries live
// traffic (a busy pool must not fail readiness), with an unhealthy threshold (one slow
// answer never takes a pod out of rotation) and a healthy threshold, and with jitter so
// that the pods of a fleet do not check, and fail, in step. Readiness and the diagnosis
// read the state at once; nothing waits on the service.
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'undici';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../telemetry/logger.ts';

export interface ServiceHealth {
  /** null until the first verdict; then whether the service counts as answering. */
  answering: boolean | null;
  /** Since when it has been so (ISO), or null. */
  since: string | null;
  /** Consecutive outcomes: positive passes, negative failures. */
  streak: number;
  /** The last check's outcome in words. */
  last: string;
}

export class ServiceHealthCheck {
  #state: ServiceHealth = { answering: null, since: null, streak: 0, last: 'not checked yet' };
  #stopped = false;
  #loop: Promise<void> | null = null;
  readonly #client: Client;
  readonly #config: Config['service']['health_check'];
  readonly #path: string;
  readonly #logger: Logger;
  readonly #now: () => number;

  constructor(config: Config, logger: Logger, now: () => number = Date.now) {
    this.#config = config.service.health_check;
    this.#path = config.upstream.health_path;
    // One connection, kept alive, used by nothing else.
    this.#client = new Client(new URL(config.upstream.url).origin, { keepAliveTimeout: 60_000 });
    this.#logger = logger.child({ component: 'service' });
    this.#now = now;
  }

  start(): void {
    this.#loop = (async () => {
      while (!this.#stopped) {
        await this.checkOnce();
        await sleep(this.#config.interval_ms + Math.round(Math.random() * this.#config.jitter_ms));
      }
    })();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#loop;
    await this.#client.close();
  }

  state(): ServiceHealth {
    return this.#state;
  }

  /** One check; the timer runs it, and tests may. */
  async checkOnce(): Promise<ServiceHealth> {
    const { timeout_ms: timeoutMs, healthy_threshold: healthy, unhealthy_threshold: unhealthy } = this.#config;
    const outcome = await this.#client.request({ method: 'GET', path: this.#path, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, signal: AbortSignal.timeout(timeoutMs) })
      .then(async (response) => { await response.body.dump(); return response.statusCode < 500 ? 'ok' : `answered ${response.statusCode}`; },
        (error: unknown) => `no answer (${(error as { code?: string }).code ?? (error as Error).name})`);
    const passed = outcome === 'ok';
    const streak = passed ? Math.max(0, this.#state.streak) + 1 : Math.min(0, this.#state.streak) - 1;
    const verdict = streak >= healthy ? true : -streak >= unhealthy ? false : this.#state.answering;
    const changed = verdict !== this.#state.answering;
    this.#state = { answering: verdict, since: changed ? new Date(this.#now()).toISOString() : this.#state.since, streak, last: outcome };
    if (changed && verdict !== null) {
      this.#logger[verdict ? 'info' : 'warn']({ evidence: outcome, streak },
        verdict ? 'the service answers its health check' : `the service does not answer its health check (${-streak} checks in a row): not ready, and nothing about its pool is judged`);
    }
    return this.#state;
  }
}
