// The sidecar's own view of the Cassandra cluster, as plain data, and the pure rules
// that summarise it: membership and schema agreement, and whether LOCAL_QUORUM is
// achievable in the local data center. No I/O here.
import type { CassandraError } from './cassandra-errors.ts';

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
  /** Did the last LOCAL_QUORUM canary coordinated by this node succeed? null: not yet tried. */
  canCoordinateLocalQuorum: boolean | null;
  /** The members this node listed in its last successful probe (itself and its peers). */
  lists: string[] | null;
  /** The last time any reachable node listed this one (epoch ms). */
  lastListedAt: number;
  /** The local data center's replication factor for the keyspace, as this node reported it. */
  replicationFactor: number | null;
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

export interface ClusterView {
  at: string;
  localDataCenter: string;
  nodes: (Omit<NodeState, 'lastSuccessAt' | 'lastError' | 'lastListedAt' | 'reachableSince'> & {
    local: boolean;
    lastSuccess: string | null;
    reachableSince: string | null;
    lastError: (CassandraError & { at: string }) | null;
  })[];
  membershipAgreement: boolean;
  schemaAgreement: boolean;
  localQuorum: LocalQuorum;
}

export const quorumOf = (replicationFactor: number): number => Math.floor(replicationFactor / 2) + 1;

/** True when every reachable node lists the same members. Vacuously true with fewer than two reachable nodes. */
export function membershipAgrees(nodes: readonly NodeState[]): boolean {
  const lists = nodes.filter((n) => n.reachable && n.lists !== null).map((n) => [...(n.lists ?? [])].sort().join(','));
  return new Set(lists).size <= 1;
}

export function schemaAgrees(nodes: readonly NodeState[]): boolean {
  return new Set(nodes.filter((n) => n.reachable && n.schemaVersion !== null).map((n) => n.schemaVersion)).size <= 1;
}

/**
 * LOCAL_QUORUM is achievable when enough local nodes answer for the keyspace's
 * replication factor AND at least one local coordinator's canary proves it.
 * Only the local data center counts.
 */
export function localQuorum(nodes: readonly NodeState[], localDataCenter: string): LocalQuorum {
  const local = nodes.filter((n) => n.dataCenter === localDataCenter);
  const reachable = local.filter((n) => n.reachable);
  const replicationFactor = reachable.map((n) => n.replicationFactor).find((rf) => rf !== null) ?? null;
  const required = replicationFactor === null ? null : quorumOf(replicationFactor);
  const coordinators = reachable.filter((n) => n.canCoordinateLocalQuorum === true).map((n) => n.address);
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

export function summarizeCluster(nodes: readonly NodeState[], localDataCenter: string, now: number): ClusterView {
  const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
  return {
    at: new Date(now).toISOString(),
    localDataCenter,
    nodes: [...nodes]
      .sort((a, b) => a.address.localeCompare(b.address))
      .map(({ lastSuccessAt, lastError, reachableSince, ...node }) => ({
        ...omitLastListed(node),
        local: node.dataCenter === localDataCenter,
        lastSuccess: iso(lastSuccessAt),
        reachableSince: iso(reachableSince),
        lastError: lastError === null ? null : { ...lastError, at: new Date(lastError.at).toISOString() },
      })),
    membershipAgreement: membershipAgrees(nodes),
    schemaAgreement: schemaAgrees(nodes),
    localQuorum: localQuorum(nodes, localDataCenter),
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
