// The sidecar's own view of the Cassandra cluster, as plain data, and the pure rules
// that summarise it: membership and schema agreement, whether each data center can
// reach quorum (LOCAL_QUORUM in the local one; every one of them for Kask's
// EACH_QUORUM deletes), and which peers each coordinator no longer hears. No I/O here.
import type { CassandraError } from './cassandra-errors.ts';
import type { NodeStorage } from './probe.ts';

export type BreakerState = 'closed' | 'half-open' | 'open';

export interface NodeIdentity {
  hostId: string | null;
  dataCenter: string | null;
  rack: string | null;
  releaseVersion: string | null;
  schemaVersion: string | null;
}

/** Everything the sidecar knows about one node, as kept between probes. */
export interface NodeState extends NodeIdentity {
  address: string;
  reachable: boolean;
  breaker: BreakerState;
  /** Epoch ms. */
  lastSuccessAt: number | null;
  /** Since when the node has answered without interruption (epoch ms); null while unreachable. */
  reachableSince: number | null;
  lastError: (CassandraError & { at: number }) | null;
  probeLatencyMs: number | null;
  /**
   * Can this node coordinate LOCAL_QUORUM (quorum of its own data center)? As health
   * checks judge, not one canary: false after `unhealthy_threshold` canaries in a row
   * failed, true after `healthy_threshold` in a row succeeded, and null while not yet
   * known (never tried, or not since it was last unreachable).
   */
  canCoordinateLocalQuorum: boolean | null;
  /** Consecutive canary outcomes: positive successes, negative failures. */
  canaryStreak: number;
  /**
   * Since when the node has been a healthy coordinator without a break (epoch ms):
   * reachable, with LOCAL_QUORUM canaries succeeding. A node back from a reboot, or
   * from being a broken coordinator, starts again from its first good canary.
   */
  coordinatingSince: number | null;
  /** Why the last canary failed (Cassandra's error), kept apart from reachability errors. */
  canaryError: (CassandraError & { at: number }) | null;
  /** Why the last canary's write was refused while its read proved the node coordinates: a replica's disk is full (the disk usage guardrail). */
  writesRefused: (CassandraError & { at: number }) | null;
  /**
   * While its canary fails: the members in this node's own gossip state, with the
   * generation:heartbeat it last heard from each and since when that has not changed
   * (epoch ms). null while the canary succeeds.
   */
  gossip: Record<string, { heartbeat: string; unchangedSince: number }> | null;
  /** The members this node listed in its last successful probe (itself and its peers). */
  lists: string[] | null;
  /** The last time any reachable node listed this one (epoch ms). */
  lastListedAt: number;
  /** The keyspace's replication factor per data center, as this node reported it. */
  replication: Record<string, number> | null;
  /** What the node last said of its storage (read once a minute); kept while it does not answer: the last word before a full disk stopped it. */
  storage: NodeStorage | null;
}

export interface LocalQuorum {
  available: boolean;
  replicationFactor: number | null;
  required: number | null;
  reachableLocalNodes: number;
  /** Local nodes whose LOCAL_QUORUM canary succeeded. */
  coordinators: string[];
  why: string;
}

/** What the sidecar's own probes say about the local coordinators, for the proxy's retry rule. */
export interface CoordinatorHealth {
  /** LOCAL_QUORUM is achievable by the sidecar's own probes (a canary succeeded through some coordinator). */
  localQuorum: boolean;
  /** Reachable local nodes whose LOCAL_QUORUM canary succeeds. */
  healthy: number;
  /**
   * Local nodes not proven able to coordinate while others are: their canary fails (named
   * broken coordinators), or their last probe failed, or their canary has not been judged
   * since. The service's driver may still send to each of them; a node that stops answering
   * the sidecar under load fails the service's queries as surely, and a retry goes elsewhere.
   */
  broken: number;
}

/** What the retry rule needs to know of the local coordinators, from the sidecar's own probes. */
export function coordinatorHealth(nodes: readonly NodeState[], localDataCenter: string, localQuorumAvailable: boolean): CoordinatorHealth {
  const local = nodes.filter((n) => n.dataCenter === localDataCenter);
  const healthy = local.filter((n) => n.reachable && n.canCoordinateLocalQuorum === true).length;
  return { localQuorum: localQuorumAvailable, healthy, broken: local.length - healthy };
}

/** Quorum in one data center, proven by canaries its own coordinators ran. */
export interface DataCenterQuorum extends LocalQuorum {
  name: string;
}

/** A peer a node no longer hears: its heartbeat in that node's gossip has not advanced. */
export interface UnheardPeer {
  address: string;
  silentForSeconds: number;
}

/** Gossip heartbeats advance every second; one unchanged for this long is a peer not heard. */
export const unheardAfterMs = 5000;

export interface ClusterView {
  at: string;
  /** False until every node it knows has answered its first probe, and every reachable one its first canary: until then the view proves nothing either way. */
  settled: boolean;
  localDataCenter: string;
  nodes: (Omit<NodeState, 'lastSuccessAt' | 'lastError' | 'canaryError' | 'writesRefused' | 'lastListedAt' | 'reachableSince' | 'coordinatingSince' | 'gossip'> & {
    local: boolean;
    lastSuccess: string | null;
    reachableSince: string | null;
    coordinatingSince: string | null;
    lastError: (CassandraError & { at: string }) | null;
    canaryError: (CassandraError & { at: string }) | null;
    writesRefused: (CassandraError & { at: string }) | null;
    /** While its canary fails: the peers this node's own gossip no longer hears (null: not known). */
    unheardPeers: UnheardPeer[] | null;
  })[];
  membershipAgreement: boolean;
  schemaAgreement: boolean;
  localQuorum: LocalQuorum;
  /** Every data center the keyspace is replicated to, the local one included. */
  dataCenters: DataCenterQuorum[];
  /** Whether quorum is reachable in every data center: what Kask's EACH_QUORUM deletes need. */
  eachQuorumAvailable: boolean;
}

export const quorumOf = (replicationFactor: number): number => Math.floor(replicationFactor / 2) + 1;

export interface CanaryThresholds {
  /** Consecutive good canaries before a node counts as able to coordinate. */
  healthy: number;
  /** Consecutive failed canaries before it counts as unable (a broken coordinator). */
  unhealthy: number;
}

/**
 * A node's coordinator judgement after one more canary, as health checkers judge
 * (Envoy's healthy and unhealthy thresholds): one canary never flips it, and a node
 * that becomes a healthy coordinator again (back from down, or from broken) starts
 * its `coordinatingSince` anew.
 */
export function judgeCanary(node: Pick<NodeState, 'canCoordinateLocalQuorum' | 'canaryStreak' | 'coordinatingSince'>, ok: boolean, now: number, thresholds: CanaryThresholds):
  Pick<NodeState, 'canCoordinateLocalQuorum' | 'canaryStreak' | 'coordinatingSince'> {
  const canaryStreak = ok ? Math.max(0, node.canaryStreak) + 1 : Math.min(0, node.canaryStreak) - 1;
  const canCoordinateLocalQuorum = canaryStreak >= thresholds.healthy ? true : -canaryStreak >= thresholds.unhealthy ? false : node.canCoordinateLocalQuorum;
  return { canaryStreak, canCoordinateLocalQuorum, coordinatingSince: canCoordinateLocalQuorum === true ? node.coordinatingSince ?? now : null };
}

/** True when every reachable node lists the same members. Vacuously true with fewer than two reachable nodes. */
export function membershipAgrees(nodes: readonly NodeState[]): boolean {
  const lists = nodes.filter((n) => n.reachable && n.lists !== null).map((n) => [...(n.lists ?? [])].sort().join(','));
  return new Set(lists).size <= 1;
}

export function schemaAgrees(nodes: readonly NodeState[]): boolean {
  return new Set(nodes.filter((n) => n.reachable && n.schemaVersion !== null).map((n) => n.schemaVersion)).size <= 1;
}

/** The keyspace's replication factor per data center, from the first reachable node that reported it. */
export function replicationOf(nodes: readonly NodeState[]): Record<string, number> | null {
  return nodes.find((n) => n.reachable && n.replication !== null)?.replication ?? null;
}

/**
 * Quorum is achievable in a data center when enough of its nodes answer for the
 * keyspace's replication factor there AND at least one of its coordinators' canaries
 * proves it. For the local data center this is LOCAL_QUORUM.
 */
export function localQuorum(nodes: readonly NodeState[], localDataCenter: string): LocalQuorum {
  const local = nodes.filter((n) => n.dataCenter === localDataCenter);
  const reachable = local.filter((n) => n.reachable);
  const replicationFactor = replicationOf(nodes)?.[localDataCenter] ?? null;
  const required = replicationFactor === null ? null : quorumOf(replicationFactor);
  const coordinators = reachable.filter((n) => n.canCoordinateLocalQuorum === true).map((n) => n.address).sort();
  const enough = required !== null && reachable.length >= required;
  const why =
    replicationFactor === null ? `no reachable node in ${localDataCenter} reported the keyspace's replication`
    : !enough ? `${reachable.length} of ${local.length} nodes in ${localDataCenter} reachable; LOCAL_QUORUM needs ${required} of ${replicationFactor} replicas`
    : coordinators.length === 0 ? `no LOCAL_QUORUM canary succeeded through any of the ${reachable.length} reachable nodes in ${localDataCenter}`
    : `${reachable.length} of ${local.length} nodes in ${localDataCenter} reachable (quorum ${required} of ${replicationFactor}); canaries succeed through ${coordinators.join(', ')}`;
  return { available: enough && coordinators.length > 0, replicationFactor, required, reachableLocalNodes: reachable.length, coordinators, why };
}

const omitLastListed = <T extends { lastListedAt: number }>(node: T): Omit<T, 'lastListedAt'> => {
  const copy: Partial<T> = { ...node };
  delete copy.lastListedAt;
  return copy as Omit<T, 'lastListedAt'>;
};

/** Quorum in every data center the keyspace is replicated to (the local one first). */
export function dataCenterQuorums(nodes: readonly NodeState[], localDataCenter: string): DataCenterQuorum[] {
  const names = new Set([localDataCenter, ...Object.keys(replicationOf(nodes) ?? {})]);
  return [...names].map((name) => ({ name, ...localQuorum(nodes, name) }));
}

/** Peers whose heartbeat in this node's gossip has not advanced for a while. */
export function unheardPeers(node: NodeState, now: number): UnheardPeer[] | null {
  if (node.gossip === null) return null;
  return Object.entries(node.gossip)
    .filter(([address, heard]) => address !== node.address && now - heard.unchangedSince >= unheardAfterMs)
    .map(([address, heard]) => ({ address, silentForSeconds: Math.round((now - heard.unchangedSince) / 1000) }))
    .sort((a, b) => a.address.localeCompare(b.address));
}

export function summarizeCluster(nodes: readonly NodeState[], localDataCenter: string, now: number, settled: boolean): ClusterView {
  const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
  const withIso = (error: (CassandraError & { at: number }) | null): (CassandraError & { at: string }) | null =>
    (error === null ? null : { ...error, at: new Date(error.at).toISOString() });
  const dataCenters = dataCenterQuorums(nodes, localDataCenter);
  return {
    at: new Date(now).toISOString(),
    settled,
    localDataCenter,
    nodes: [...nodes]
      .sort((a, b) => a.address.localeCompare(b.address))
      .map(({ lastSuccessAt, lastError, canaryError, writesRefused, reachableSince, coordinatingSince, gossip, ...node }) => ({
        ...omitLastListed(node),
        local: node.dataCenter === localDataCenter,
        lastSuccess: iso(lastSuccessAt),
        reachableSince: iso(reachableSince),
        coordinatingSince: iso(coordinatingSince),
        lastError: withIso(lastError),
        canaryError: withIso(canaryError),
        writesRefused: withIso(writesRefused),
        unheardPeers: unheardPeers({ ...node, lastSuccessAt, lastError, canaryError, writesRefused, reachableSince, coordinatingSince, gossip }, now),
      })),
    membershipAgreement: membershipAgrees(nodes),
    schemaAgreement: schemaAgrees(nodes),
    localQuorum: localQuorum(nodes, localDataCenter),
    dataCenters,
    eachQuorumAvailable: dataCenters.every((dc) => dc.available),
  };
}

/**
 * Which nodes to start probing and which to forget. A node is forgotten only after
 * no reachable node has listed it for `forgetAfterMs`, and only while some node is
 * reachable: a sidecar cut off from everything has no evidence that anything left.
 * Contact points are never forgotten.
 */
export function membershipChanges(
  known: readonly NodeState[],
  listedNow: ReadonlySet<string>,
  contactPoints: ReadonlySet<string>,
  now: number,
  forgetAfterMs: number,
): { add: string[]; forget: string[] } {
  const knownAddresses = new Set(known.map((n) => n.address));
  const anyReachable = known.some((n) => n.reachable);
  return {
    add: [...listedNow].filter((address) => !knownAddresses.has(address)),
    forget: anyReachable
      ? known.filter((n) => !contactPoints.has(n.address) && !listedNow.has(n.address) && now - n.lastListedAt > forgetAfterMs).map((n) => n.address)
      : [],
  };
}
