// The cluster view as a component: discovers nodes from the contact points, runs a
// NodeProber per node, folds every probe outcome into NodeState, and explains every
// change once in the log and continuously in the metrics. A node that stays down
// logs once when it goes and once when it is back: its breaker's half-open/open
// cycle is at debug level.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../telemetry/logger.ts';
import { removeSeriesWith, type Counter, type Gauge, type Histogram, type Registry } from '../telemetry/metrics.ts';
import { cassandraSecurity } from './connection-options.ts';
import { createClusterMetrics, type ClusterMetrics } from './metrics.ts';
import { NodeProber, type ProbeOutcome } from './node-prober.ts';
import { diskUsageStates, type CanaryResult, type GossipHeartbeats, type Member, type NodeStorage } from './probe.ts';
import { coordinatorHealth, dataCenterQuorums, judgeCanary, localQuorum, membershipAgrees, membershipChanges, schemaAgrees, summarizeCluster, type BreakerState, type ClusterView, type CoordinatorHealth, type NodeState } from './view.ts';

const unknown = 'unknown';

function newNode(address: string, now: number, identity: Partial<Member> = {}): NodeState {
  return {
    address,
    hostId: identity.hostId ?? null,
    dataCenter: identity.dataCenter ?? null,
    rack: identity.rack ?? null,
    releaseVersion: identity.releaseVersion ?? null,
    schemaVersion: identity.schemaVersion ?? null,
    reachable: false,
    breaker: 'closed',
    lastSuccessAt: null,
    reachableSince: null,
    lastError: null,
    probeLatencyMs: null,
    canCoordinateLocalQuorum: null,
    canaryStreak: 0,
    coordinatingSince: null,
    canaryError: null,
    writesRefused: null,
    gossip: null,
    lists: null,
    lastListedAt: now,
    replication: null,
    storage: null,
  };
}

/** A contact point as last looked up; a failed lookup keeps the addresses found before. */
export interface ContactPoint {
  name: string;
  addresses: string[];
  error: string | null;
}

export type Resolve = (name: string) => Promise<string[]>;

const resolveWithSystem: Resolve = async (name) => (await lookup(name, { all: true })).map((entry) => entry.address);

export class ClusterMonitor {
  readonly #nodes = new Map<string, NodeState>();
  readonly #probers = new Map<string, NodeProber>();
  readonly #nodeUpLabels = new Map<string, { address: string; dc: string; rack: string }>();
  readonly #config: Config['cassandra'];
  readonly #logger: Logger;
  readonly #metrics: ClusterMetrics;
  readonly #now: () => number;
  readonly #resolve: Resolve;
  readonly #resolved = new Map<string, ContactPoint>();
  #contactPoints = new Set<string>();
  #resolveTimer: NodeJS.Timeout | undefined;
  #resolving: Promise<void> | null = null;
  #stopped = false;
  /** The last summary; quorum is null until every node has answered its first probe (nothing is known, nothing is logged). */
  #summary: { membership: boolean; schema: boolean; quorum: boolean | null } = { membership: true, schema: true, quorum: null };
  #coordinatorHealth: CoordinatorHealth = { localQuorum: false, healthy: 0, broken: 0 };

  /** `resolve` looks names up (the system resolver, as the service's driver does); tests may pass their own. */
  constructor(config: Config['cassandra'], registry: Registry, logger: Logger, options: { now?: () => number; resolve?: Resolve } = {}) {
    this.#config = config;
    this.#logger = logger.child({ component: 'cluster' });
    this.#metrics = createClusterMetrics(registry);
    this.#now = options.now ?? Date.now;
    this.#resolve = options.resolve ?? resolveWithSystem;
    // Not known until the first node has answered: a 0 here would page for an outage nobody has seen.
    this.#metrics.localQuorumAvailable.remove();
    this.#metrics.dataCenterQuorumAvailable.reset();
  }

  /**
   * Looks the contact points up and starts probing them. Never fails: a name that
   * does not resolve (DNS not ready while the pod starts) is logged, shown in
   * /status and looked up again, while the proxy serves as usual.
   */
  async start(): Promise<void> {
    await this.#resolveContactPoints();
    this.#resolveTimer = setInterval(() => { void this.#resolveContactPoints(); }, this.#config.resolve_interval_ms);
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#resolveTimer);
    for (const prober of this.#probers.values()) prober.stop();
    this.#probers.clear();
  }

  /** The contact points in configured order, each as last looked up. */
  contactPoints(): ContactPoint[] {
    return this.#config.contact_points.flatMap((name) => this.#resolved.get(name) ?? []);
  }

  #resolveContactPoints(): Promise<void> {
    // A slow resolver must not pile lookups up: a round still running is the round.
    this.#resolving ??= this.#resolveOnce().finally(() => { this.#resolving = null; });
    return this.#resolving;
  }

  async #resolveOnce(): Promise<void> {
    await Promise.all(this.#config.contact_points.map(async (name) => {
      const previous = this.#resolved.get(name);
      try {
        const addresses = isIP(name) ? [name] : [...new Set(await this.#resolve(name))].sort();
        if (!isIP(name) && (previous?.error != null || previous?.addresses.join() !== addresses.join())) {
          this.#logger.info({ contact_point: name, addresses }, 'contact point resolved');
        }
        this.#resolved.set(name, { name, addresses, error: null });
        if (!isIP(name)) this.#metrics.contactPointResolved.set({ contact_point: name }, 1);
      } catch (error) {
        const message = (error as Error).message;
        if (previous?.error !== message) {
          this.#logger.warn({ contact_point: name, error: message, addresses: previous?.addresses ?? [] },
            `contact point does not resolve; looking it up again every ${this.#config.resolve_interval_ms} ms`);
        }
        this.#resolved.set(name, { name, addresses: previous?.addresses ?? [], error: message });
        this.#metrics.contactPointResolved.set({ contact_point: name }, 0);
      }
    }));
    if (this.#stopped) return;
    // An address no longer behind any name may be forgotten like any other node.
    this.#contactPoints = new Set(this.contactPoints().flatMap((point) => point.addresses));
    for (const address of this.#contactPoints) {
      if (!this.#nodes.has(address)) this.#add(address);
    }
  }

  view(): ClusterView {
    return summarizeCluster([...this.#nodes.values()], this.#config.local_data_center, this.#now(), this.#summary.quorum !== null);
  }

  /** Cheap: the last computed answer, for the proxy's retry rule. */
  get coordinatorHealth(): CoordinatorHealth {
    return this.#coordinatorHealth;
  }

  #add(address: string, identity: Partial<Member> = {}): void {
    const now = this.#now();
    this.#nodes.set(address, newNode(address, now, identity));
    const { probe } = this.#config;
    const prober = new NodeProber({
      address,
      port: this.#config.port,
      // Its own data center: a coordinator's LOCAL_QUORUM canary proves quorum there.
      localDataCenter: identity.dataCenter ?? this.#config.local_data_center,
      keyspace: this.#config.keyspace,
      canaryWrites: probe.canary_writes,
      storageIntervalMs: probe.storage_interval_ms,
      intervalMs: probe.interval_ms,
      timeoutMs: probe.timeout_ms,
      failureThreshold: probe.failure_threshold,
      resetTimeoutMs: probe.reset_timeout_ms,
      security: cassandraSecurity(this.#config),
      metrics: this.#metrics,
      onOutcome: (node, outcome) => { this.#record(node, outcome); },
      onCanary: (node, result, heartbeats) => { this.#recordCanary(node, result, heartbeats); },
      onStorage: (node, storage) => { this.#recordStorage(node, storage); },
      onBreakerState: (node, state) => { this.#recordBreaker(node, state); },
    });
    this.#probers.set(address, prober);
    this.#updateNodeUp(address);
    prober.start();
    this.#logger.info({ address, dc: identity.dataCenter, rack: identity.rack }, this.#contactPoints.has(address) ? 'probing contact point' : 'discovered a new node; probing it');
  }

  #forget(address: string): void {
    this.#probers.get(address)?.stop();
    this.#probers.delete(address);
    this.#nodes.delete(address);
    this.#nodeUpLabels.delete(address);
    // Every series about the node goes with it, whatever its other labels: no stale 0 on a dashboard.
    for (const metric of Object.values(this.#metrics) as (Counter | Gauge | Histogram)[]) void removeSeriesWith(metric, { address });
    this.#logger.warn({ address, forget_after_ms: this.#config.probe.forget_after_ms }, 'forgot a node no reachable node has listed for a while');
  }

  #record(address: string, outcome: ProbeOutcome): void {
    const node = this.#nodes.get(address);
    if (!node) return; // forgotten while its probe ran
    const before = { ...node };
    const now = this.#now();
    if (outcome.ok) {
      const { report } = outcome;
      Object.assign(node, {
        ...report.self,
        address,
        reachable: true,
        reachableSince: node.reachableSince ?? now,
        lastSuccessAt: now,
        probeLatencyMs: Math.round(report.latencyMs * 10) / 10,
        lists: [address, ...report.peers.map((peer) => peer.address)],
        replication: report.replication,
        lastListedAt: now,
      });
      this.#updateMembership(report.peers, now);
    } else {
      // Unreachable says nothing about coordinating: not known again until its next canaries.
      Object.assign(node, { reachable: false, reachableSince: null, canCoordinateLocalQuorum: null, canaryStreak: 0, coordinatingSince: null, gossip: null });
      if (!outcome.rejectedByOpenBreaker) node.lastError = { ...outcome.error, at: now };
    }
    this.#logChange(before, node);
    this.#updateNodeUp(address);
    this.#updateCoordinatorQuorum(node);
    this.#updateSummary();
  }

  #recordCanary(address: string, { error, writesRefused }: CanaryResult, heartbeats: GossipHeartbeats | null): void {
    const node = this.#nodes.get(address);
    if (!node) return;
    const before = { ...node };
    const now = this.#now();
    const { healthy_threshold: healthy, unhealthy_threshold: unhealthy } = this.#config.probe;
    Object.assign(node, judgeCanary(node, error === null, now, { healthy, unhealthy }));
    node.canaryError = error === null ? null : { ...error, at: now };
    node.writesRefused = writesRefused === null ? null : { ...writesRefused, at: now };
    // A heartbeat that has not changed since the last read is a peer the node does not hear.
    node.gossip = heartbeats === null ? null : Object.fromEntries(Object.entries(heartbeats).map(([peer, heartbeat]) => {
      const previous = before.gossip?.[peer];
      return [peer, { heartbeat, unchangedSince: previous?.heartbeat === heartbeat ? previous.unchangedSince : now }];
    }));
    this.#updateCoordinatorQuorum(node);
    this.#logChange(before, node);
    this.#updateSummary();
  }

  #recordBreaker(address: string, state: BreakerState): void {
    const node = this.#nodes.get(address);
    if (!node) return;
    const previous = node.breaker;
    node.breaker = state;
    // Closed -> open and back to closed are news; a down node's open/half-open cycle is not.
    const level = (previous === 'closed' && state === 'open') || state === 'closed' ? 'info' : 'debug';
    this.#logger[level]({ address, breaker: state, evidence: node.lastError ?? undefined },
      state === 'open' ? `breaker open after ${this.#config.probe.failure_threshold} failed probes; probing again with a fresh connection every ${this.#config.probe.reset_timeout_ms} ms`
      : state === 'half-open' ? 'breaker half-open: next probe uses a fresh connection'
      : 'breaker closed: the node answers again');
  }

  /** The node's storage, and its series: set from what it said, removed where it said nothing. */
  #recordStorage(address: string, storage: NodeStorage): void {
    const node = this.#nodes.get(address);
    if (!node) return;
    node.storage = storage;
    const set = (gauge: Gauge<'address'>, value: number | null | undefined): void => {
      if (value === null || value === undefined) gauge.remove({ address });
      else gauge.set({ address }, value);
    };
    set(this.#metrics.keyspaceBytes, storage.keyspaceBytes);
    set(this.#metrics.loadBytes, storage.loadBytes);
    set(this.#metrics.diskCapacityBytes, storage.maxDiskSizeBytes ?? this.#config.data_disk_bytes);
    for (const state of diskUsageStates) {
      const labels = { address, state: state.toLowerCase() };
      if (storage.diskUsage) this.#metrics.diskUsageState.set(labels, storage.diskUsage === state ? 1 : 0);
      else this.#metrics.diskUsageState.remove(labels);
    }
  }

  #updateCoordinatorQuorum(node: NodeState): void {
    this.#metrics.coordinatorQuorum.set(this.#nodeLabels(node.address), node.reachable && node.canCoordinateLocalQuorum === true ? 1 : 0);
  }

  #updateMembership(peers: Member[], now: number): void {
    for (const peer of peers) {
      const known = this.#nodes.get(peer.address);
      if (known) {
        known.lastListedAt = now;
        // A node we cannot reach still gets its identity from those who list it.
        if (!known.reachable) Object.assign(known, { hostId: peer.hostId, dataCenter: peer.dataCenter, rack: peer.rack, releaseVersion: peer.releaseVersion });
      }
    }
    const listedNow = new Set([...this.#nodes.values()].filter((n) => n.reachable).flatMap((n) => n.lists ?? []));
    const { add, forget } = membershipChanges([...this.#nodes.values()], listedNow, this.#contactPoints, now, this.#config.probe.forget_after_ms);
    for (const address of add) this.#add(address, peers.find((p) => p.address === address));
    for (const address of forget) this.#forget(address);
  }

  #logChange(before: NodeState, after: NodeState): void {
    const fields = { address: after.address, dc: after.dataCenter, rack: after.rack };
    if (before.reachable !== after.reachable) {
      if (after.reachable) this.#logger.info({ ...fields, probe_latency_ms: after.probeLatencyMs }, 'node is reachable as a coordinator');
      else this.#logger.warn({ ...fields, evidence: after.lastError }, `node is unreachable: ${after.lastError?.code ?? 'probe failed'}`);
    } else if (after.reachable && before.canCoordinateLocalQuorum !== after.canCoordinateLocalQuorum) {
      if (after.canCoordinateLocalQuorum) this.#logger.info(fields, 'node coordinates LOCAL_QUORUM again');
      else this.#logger.warn({ ...fields, evidence: after.canaryError }, `node cannot coordinate LOCAL_QUORUM: ${after.canaryError?.code ?? ''}`);
    }
  }

  /**
   * The {address, dc, rack} labels of a node's per-node gauges. When its data center or rack
   * becomes known or changes (a first probe failed, a node replaced), the old series go.
   */
  #nodeLabels(address: string): { address: string; dc: string; rack: string } {
    const node = this.#nodes.get(address);
    const labels = { address, dc: node?.dataCenter ?? unknown, rack: node?.rack ?? unknown };
    const previous = this.#nodeUpLabels.get(address);
    if (previous && (previous.dc !== labels.dc || previous.rack !== labels.rack)) {
      this.#metrics.nodeUp.remove(previous);
      this.#metrics.coordinatorQuorum.remove(previous);
    }
    this.#nodeUpLabels.set(address, labels);
    return labels;
  }

  #updateNodeUp(address: string): void {
    const node = this.#nodes.get(address);
    if (!node) return;
    this.#metrics.nodeUp.set(this.#nodeLabels(address), node.reachable ? 1 : 0);
  }

  #updateSummary(): void {
    const nodes = [...this.#nodes.values()];
    const quorum = localQuorum(nodes, this.#config.local_data_center);
    // Until every node has answered its first probe (and canary), "not achievable" only means "not known yet";
    // and a sidecar that knows no node at all (its contact points do not resolve) knows nothing of Cassandra.
    const settled = this.#summary.quorum !== null || (nodes.length > 0
      && nodes.every((n) => (n.lastSuccessAt !== null || n.lastError !== null) && (!n.reachable || n.canCoordinateLocalQuorum !== null)));
    const summary = { membership: membershipAgrees(nodes), schema: schemaAgrees(nodes), quorum: settled ? quorum.available : null };
    this.#coordinatorHealth = coordinatorHealth(nodes, this.#config.local_data_center, summary.quorum === true);
    this.#metrics.membershipAgreement.set(summary.membership ? 1 : 0);
    this.#metrics.schemaAgreement.set(summary.schema ? 1 : 0);
    if (settled) {
      this.#metrics.localQuorumAvailable.set(quorum.available ? 1 : 0);
      // Only the data centers the keyspace is replicated to now (one that left has no series),
      // each once every node of it known has answered a first probe: a remote data center's
      // nodes, discovered after the local ones, are not "without quorum" for not being probed yet.
      this.#metrics.dataCenterQuorumAvailable.reset();
      const probed = (name: string): boolean => nodes.every((n) => n.dataCenter !== name || n.lastSuccessAt !== null || n.lastError !== null);
      for (const dc of dataCenterQuorums(nodes, this.#config.local_data_center)) {
        if (probed(dc.name)) this.#metrics.dataCenterQuorumAvailable.set({ dc: dc.name }, dc.available ? 1 : 0);
      }
    }
    if (summary.quorum !== null && summary.quorum !== this.#summary.quorum) {
      this.#logger[summary.quorum ? 'info' : 'warn']({ evidence: quorum }, `LOCAL_QUORUM ${summary.quorum ? 'is achievable' : 'is NOT achievable'} in ${this.#config.local_data_center}: ${quorum.why}`);
    }
    if (summary.membership !== this.#summary.membership) this.#logger.warn({ evidence: nodes.map((n) => ({ address: n.address, lists: n.lists })) }, `membership agreement ${summary.membership ? 'restored' : 'lost'}`);
    if (summary.schema !== this.#summary.schema) this.#logger.warn({ evidence: nodes.map((n) => ({ address: n.address, schema_version: n.schemaVersion })) }, `schema agreement ${summary.schema ? 'restored' : 'lost'}`);
    this.#summary = summary;
  }
}
