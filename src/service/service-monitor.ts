// The service's side of the story, observed without changing the service: which
// Cassandra nodes its driver pool holds connections to, and since when; and, at a
// low rate, whether a write and read through its API work.
import type { Config } from '../config/schema.ts';
import type { Logger } from '../telemetry/logger.ts';
import { Gauge, metricPrefix, type Registry } from '../telemetry/metrics.ts';
import { canaryThroughService } from './canary.ts';
import { observePool, type PoolObservation } from './pool-sockets.ts';

export interface ServicePoolView {
  at: string;
  source: PoolObservation['source'];
  pid: number | null;
  /** Established connections per node, including 0 for every node the cluster view knows. */
  connections: Record<string, number>;
  /** When the pool last held a connection to each node (null: not since the sidecar started). */
  lastConnected: Record<string, string | null>;
}

export interface ServiceCanary {
  at: string;
  ok: boolean;
  consecutiveFailures: number;
  detail: string;
}

export interface ServiceView {
  pool: ServicePoolView | null;
  /** The last write-then-read through the service's API; null when off or not yet run. */
  canary: ServiceCanary | null;
}

export class ServiceMonitor {
  #timer: NodeJS.Timeout | undefined;
  #canaryTimer: NodeJS.Timeout | undefined;
  #pool: ServicePoolView | null = null;
  #observing: Promise<void> | null = null;
  #canary: ServiceCanary | null = null;
  /** When each canary of the current streak of failures failed (epoch ms); empty after a success. */
  #canaryFailureTimes: number[] = [];
  readonly #lastConnectedAt = new Map<string, number>();
  readonly #config: Config;
  readonly #logger: Logger;
  readonly #connectionsGauge: Gauge<'address'>;
  readonly #clusterNodes: () => string[];
  readonly #now: () => number;

  /** `clusterNodes` lists the nodes the sidecar's own view knows, so that a node the pool lacks shows as 0. */
  constructor(config: Config, registry: Registry, logger: Logger, clusterNodes: () => string[], now: () => number = Date.now) {
    this.#config = config;
    this.#logger = logger.child({ component: 'service' });
    this.#clusterNodes = clusterNodes;
    this.#now = now;
    this.#connectionsGauge = new Gauge({
      name: `${metricPrefix}service_pool_connections`,
      help: "Established connections from the service's driver pool to each Cassandra node's native port, read from /proc.",
      labelNames: ['address'],
      registers: [registry],
    });
  }

  start(): void {
    void this.observe();
    this.#timer = setInterval(() => { void this.observe(); }, this.#config.service.observe_interval_ms);
    if (this.#config.service.canary.enabled) {
      this.#canaryTimer = setInterval(() => { void this.runCanary(); }, this.#config.service.canary.interval_ms);
    }
  }

  stop(): void {
    clearInterval(this.#timer);
    clearInterval(this.#canaryTimer);
  }

  view(): ServiceView {
    return { pool: this.#pool, canary: this.#canary };
  }

  /** When the canaries of the current streak of failures failed (the last 10); null when the canary is off. */
  canaryFailureTimes(): number[] | null {
    return this.#config.service.canary.enabled ? [...this.#canaryFailureTimes] : null;
  }

  /** One canary through the service's API; consecutive failures are counted. */
  async runCanary(): Promise<ServiceCanary> {
    const detail = await canaryThroughService(this.#config.upstream.url);
    const ok = detail === 'ok';
    const failures = ok ? 0 : (this.#canary?.consecutiveFailures ?? 0) + 1;
    if (ok !== (this.#canary?.ok ?? true)) {
      this.#logger[ok ? 'info' : 'warn']({ detail }, ok ? 'the canary through the service works again' : 'the canary through the service failed');
    }
    this.#canaryFailureTimes = ok ? [] : [...this.#canaryFailureTimes, this.#now()].slice(-10);
    this.#canary = { at: new Date(this.#now()).toISOString(), ok, consecutiveFailures: failures, detail };
    return this.#canary;
  }

  /** One observation of the pool; also run by the timer. One at a time: a call while one runs shares it. */
  observe(): Promise<void> {
    this.#observing ??= this.#observeOnce().finally(() => { this.#observing = null; });
    return this.#observing;
  }

  async #observeOnce(): Promise<void> {
    const now = this.#now();
    const observed = await observePool({
      knownPid: this.#pool?.pid ?? null,
      nativePort: this.#config.cassandra.port,
      processName: this.#config.service.process_name,
      ...(this.#config.service.pid_file ? { pidFile: this.#config.service.pid_file } : {}),
    });
    const addresses = new Set([...this.#clusterNodes(), ...Object.keys(observed.connections)]);
    const connections = Object.fromEntries([...addresses].sort().map((address) => [address, observed.connections[address] ?? 0]));
    const previous = this.#pool;
    // A node neither the cluster view nor the pool knows any more leaves no series behind.
    for (const address of Object.keys(previous?.connections ?? {})) if (!addresses.has(address)) this.#connectionsGauge.remove({ address });
    for (const [address, count] of Object.entries(connections)) {
      if (count > 0) this.#lastConnectedAt.set(address, now);
      this.#connectionsGauge.set({ address }, count);
      const before = previous?.connections[address];
      if (before !== undefined && (before > 0) !== (count > 0)) {
        this.#logger[count > 0 ? 'info' : 'warn']({ address, connections: count, source: observed.source },
          count > 0 ? "the service's pool holds connections to this node again" : "the service's pool holds no connection to this node");
      }
    }
    if (previous?.source !== observed.source) {
      this.#logger.info({ source: observed.source, pid: observed.pid, process_name: this.#config.service.process_name },
        observed.source === 'process' ? "reading the service's own sockets" : "the service's sockets cannot be told apart (its process not visible, or of another GID); counting every connection in the pod's namespace except the sidecar's");
    }
    this.#pool = {
      at: new Date(now).toISOString(),
      source: observed.source,
      pid: observed.pid,
      connections,
      lastConnected: Object.fromEntries([...addresses].sort().map((address) => {
        const at = this.#lastConnectedAt.get(address);
        return [address, at === undefined ? null : new Date(at).toISOString()];
      })),
    };
  }
}
