// Probes one coordinator on its own schedule, through its own circuit breaker and its
// own driver client, so a hung or dead node never delays or taints another's probes.
// When the breaker half-opens, the probe runs on a fresh client: a node that came
// back is seen as soon as it answers, whatever the old client's reconnection state.
import type cassandra from 'cassandra-driver';
import CircuitBreaker from 'opossum';
import { describeCassandraError, type CassandraError } from './cassandra-errors.ts';
import { connectToCoordinator, shutDownClient } from './coordinator-client.ts';
import type { CassandraSecurity } from './connection-options.ts';
import type { ClusterMetrics } from './metrics.ts';
import { CoordinatorProbe, type CanaryResult, type GossipHeartbeats, type NodeStorage, type ProbeReport } from './probe.ts';
import type { BreakerState } from './view.ts';

export type ProbeOutcome = { ok: true; report: ProbeReport } | { ok: false; error: CassandraError; rejectedByOpenBreaker: boolean };

export interface NodeProberOptions {
  address: string;
  port: number;
  localDataCenter: string;
  keyspace: string;
  canaryWrites: boolean;
  storageIntervalMs: number;
  intervalMs: number;
  timeoutMs: number;
  failureThreshold: number;
  resetTimeoutMs: number;
  security: CassandraSecurity;
  metrics: ClusterMetrics;
  onOutcome(address: string, outcome: ProbeOutcome): void;
  /** The canary's result; when it failed, what the node's gossip hears. */
  onCanary(address: string, result: CanaryResult, heartbeats: GossipHeartbeats | null): void;
  /** What the node says of its storage: a new reading every storageIntervalMs, the last one in between. */
  onStorage(address: string, storage: NodeStorage): void;
  onBreakerState(address: string, state: BreakerState): void;
}

const breakerGauge: Record<BreakerState, number> = { closed: 0, 'half-open': 1, open: 2 };

export class NodeProber {
  readonly address: string;
  #client: cassandra.Client | null = null;
  #consecutiveFailures = 0;
  #running = false;
  #canaryRunning = false;
  #storageRunning = false;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  readonly #breaker: CircuitBreaker<[], ProbeReport>;
  readonly #probe: CoordinatorProbe;
  readonly #options: NodeProberOptions;

  constructor(options: NodeProberOptions) {
    this.address = options.address;
    this.#options = options;
    const { metrics, address } = options;
    this.#probe = new CoordinatorProbe({
      keyspace: options.keyspace,
      localDataCenter: options.localDataCenter,
      canaryWrites: options.canaryWrites,
      storageIntervalMs: options.storageIntervalMs,
      canaryKey: `sessionstore-sidecar:canary:${address}`,
      onStep: (step, seconds) => {
        metrics.probeDuration.observe({ address, probe: step }, seconds);
        metrics.probeQueries.inc({ address });
      },
    });
    this.#breaker = new CircuitBreaker(() => this.#probe.run(this.#clientForProbe()), {
      timeout: options.timeoutMs,
      resetTimeout: options.resetTimeoutMs,
      // The breaker opens on consecutive failures (below), never on a percentage.
      volumeThreshold: Number.MAX_SAFE_INTEGER,
      // Nor are its rolling statistics read: no latency percentiles, no snapshot every second.
      rollingPercentilesEnabled: false,
      enableSnapshots: false,
      name: address,
    });
    const count = (event: string) => () => { metrics.breakerEvents.inc({ address, event }); };
    for (const event of ['success', 'failure', 'timeout', 'reject']) this.#breaker.on(event as 'success', count(event));
    const transition = (state: BreakerState, event: string) => () => {
      count(event)();
      metrics.breakerState.set({ address }, breakerGauge[state]);
      // A fresh client for the next probe: the old one's pool may be as stale as the service's.
      if (state !== 'closed') this.#dropClient();
      options.onBreakerState(address, state);
      // Half-open: try at once rather than at the next tick, so a node that came back is seen sooner.
      if (state === 'half-open') void this.probeOnce();
    };
    this.#breaker.on('open', transition('open', 'open'));
    this.#breaker.on('halfOpen', transition('half-open', 'half_open'));
    this.#breaker.on('close', transition('closed', 'close'));
    metrics.breakerState.set({ address }, 0);
  }

  get breakerState(): BreakerState {
    return this.#breaker.opened ? 'open' : this.#breaker.halfOpen ? 'half-open' : 'closed';
  }

  start(): void {
    const tick = (): void => {
      this.#timer = setTimeout(tick, this.#options.intervalMs);
      void this.probeOnce();
    };
    tick();
  }

  /** One probe through the breaker; a probe still running (bounded by the timeout) is not doubled. */
  async probeOnce(): Promise<void> {
    if (this.#running || this.#stopped) return;
    this.#running = true;
    try {
      const report = await this.#breaker.fire();
      this.#consecutiveFailures = 0;
      if (!this.#active()) return;
      this.#options.onOutcome(this.address, { ok: true, report });
      void this.#runCanary();
      void this.#readStorage(report.self.hostId);
    } catch (error) {
      const rejectedByOpenBreaker = (error as { code?: string }).code === 'EOPENBREAKER';
      if (!rejectedByOpenBreaker && ++this.#consecutiveFailures >= this.#options.failureThreshold && this.#breaker.closed) this.#breaker.open();
      if (this.#active()) this.#options.onOutcome(this.address, { ok: false, error: describeCassandraError(error), rejectedByOpenBreaker });
    } finally {
      this.#running = false;
    }
  }

  /**
   * The canary runs beside the reachability probe, not inside it: a hung replica can
   * slow LOCAL_QUORUM through a healthy coordinator, which must not make that
   * coordinator look unreachable, nor delay its next probe.
   */
  async #runCanary(): Promise<void> {
    if (this.#canaryRunning || this.#stopped || !this.#client) return;
    this.#canaryRunning = true;
    try {
      const client = this.#client;
      const result = await this.#probe.canary(client);
      // A coordinator that cannot reach quorum: ask it whom it still hears.
      const heartbeats = result.error === null ? null : await this.#probe.gossipHeartbeats(client);
      if (this.#active()) this.#options.onCanary(this.address, result, heartbeats);
    } finally {
      this.#canaryRunning = false;
    }
  }

  /**
   * The storage, beside the probe too: three virtual tables on a node busy compacting a
   * full disk may answer slowly, which must not count as the node not answering.
   */
  async #readStorage(hostId: string | null): Promise<void> {
    if (this.#storageRunning || this.#stopped || !this.#client) return;
    this.#storageRunning = true;
    try {
      const storage = await this.#probe.storage(this.#client, hostId);
      if (this.#active()) this.#options.onStorage(this.address, storage);
    } catch {
      // A reading the node did not answer in time says nothing: the last one stands, and the next probe reads again.
    } finally {
      this.#storageRunning = false;
    }
  }

  /** Stopped probers report nothing: an answer that arrives after stop() is dropped. (A method, since awaits may change it.) */
  #active(): boolean {
    return !this.#stopped;
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#breaker.shutdown();
    this.#dropClient();
  }

  #clientForProbe(): cassandra.Client {
    this.#client ??= connectToCoordinator({
      address: this.address,
      port: this.#options.port,
      localDataCenter: this.#options.localDataCenter,
      connectTimeoutMs: this.#options.timeoutMs,
      readTimeoutMs: this.#options.timeoutMs,
      ...this.#options.security,
    });
    return this.#client;
  }

  #dropClient(): void {
    const client = this.#client;
    this.#client = null;
    // Not awaited: a hung node can keep a connecting client waiting.
    if (client) void shutDownClient(client);
  }
}
