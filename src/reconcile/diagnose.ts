// The decision core: compare the sidecar's view of the cluster with the service's,
// and tell the two failure classes apart.
//   - The service's view diverged from the cluster's (its driver holds a stale pool, or
//     fails while Cassandra is fine): a restart of the service cures it.
//   - Cassandra itself is at fault (no quorum; a coordinator that answers but cannot
//     reach its peers, T327954; a node's full disk, 2025-03-31): a restart cannot cure
//     it, so it never calls for one; it names the node, for a human.
// A pure function of its inputs (no I/O, no clock), so every verdict can be replayed
// and unit-tested. Level-triggered: the same views give the same verdict, except for
// `memory`, which records since when each rule has held, when Cassandra was at fault,
// and since when the service's pool has lacked each node. All are shown in /status.
import type { ClusterView } from '../cluster/view.ts';
import type { TrafficSecond } from '../service/storage-errors.ts';

/** Divergences of the service's view: a restart cures them. */
export type ServiceRule = 'stale_pool' | 'false_unavailability';
/** Cassandra's own faults: a restart cannot cure them. */
export type CassandraRule = 'broken_coordinator' | 'disk_full';
export type Rule = ServiceRule | CassandraRule;
export const serviceRules: readonly ServiceRule[] = ['stale_pool', 'false_unavailability'];
const cassandraRules: readonly CassandraRule[] = ['broken_coordinator', 'disk_full'];
export const rules: readonly Rule[] = [...serviceRules, ...cassandraRules];
export const isServiceRule = (rule: Rule): rule is ServiceRule => (serviceRules as readonly Rule[]).includes(rule);

/** Why a needed restart is not done, as far as the views tell (the remediator adds its own reasons). */
export type ViewSuppression = 'no_local_quorum' | CassandraRule;

export interface DiagnosePolicy {
  /**
   * A pool without a node counts as stale only once the node has been a healthy
   * coordinator this long, and the pool has lacked it this long: longer than a healthy
   * driver needs to take a node back after it returns, or after it drops it.
   */
  staleGraceMs: number;
  /** Fraction of API requests failing with storage errors that counts as failing. */
  errorRateThreshold: number;
  /** Fewer requests than this in the window prove nothing. */
  minRequests: number;
  /** A condition must hold this long, without a break, before it calls for a restart: one bad probe or burst never does. */
  sustainMs: number;
  /** How late the sidecar's own probes can notice a Cassandra fault, or its end (probe interval × failure threshold + timeout). */
  faultLagMs: number;
}

export interface ServiceSnapshot {
  /**
   * Whether the service answers its health check (its own dedicated check, with
   * thresholds); null until known. A service that does not answer (crash-looping,
   * starting, stopped) holds no pool worth judging: the kubelet's business.
   */
  answering: boolean | null;
  /** Established connections per node address, from /proc; null when it cannot be read. */
  poolConnections: Record<string, number> | null;
  /** The live traffic, second by second, over the last `windowSeconds`. */
  traffic: { windowSeconds: number; seconds: TrafficSecond[] };
  /** When each canary through the service's API failed (epoch ms), in its current streak of failures; null when off. */
  canaryFailures: number[] | null;
}

/** Consecutive failed canaries through the service that count as failing, when live traffic is too thin to tell. */
const canaryFailuresThatCount = 2;

export interface Finding {
  rule: Rule;
  /** Since when the condition has held (epoch ms). */
  since: number;
  evidence: string;
  /** The Cassandra nodes the finding is about. */
  addresses: string[];
}

export interface Verdict {
  action: 'none' | 'restart' | 'suppressed';
  /** The rule that calls for the restart. */
  rule: ServiceRule | null;
  /** Every rule whose condition holds now, sustained long enough or not. */
  findings: Finding[];
  /** Why nothing may be done although a restart looked needed. */
  suppressed: { reason: ViewSuppression; why: string } | null;
  /** Local coordinators that answer but cannot coordinate LOCAL_QUORUM while others can: Cassandra's fault, for a human. */
  brokenCoordinators: string[];
  /** The whole reasoning, in words and numbers. */
  evidence: string[];
}

/** A time when the sidecar's own view showed Cassandra at fault; the service's storage errors around it are Cassandra's. */
export interface FaultPeriod {
  /** node_change: a local node went down or came back; requests in flight on it fail, and a driver takes seconds to route around it. */
  kind: 'no_local_quorum' | 'broken_coordinator' | 'disk_full' | 'no_each_quorum' | 'node_change';
  /** Epoch ms; `to` is null while it lasts. */
  from: number;
  to: number | null;
}

export interface Memory {
  since: Partial<Record<Rule, number>>;
  faults: FaultPeriod[];
  /** Since when the service's pool has held no connection to each node (epoch ms), while it could be read. */
  poolMissingSince: Record<string, number>;
  /** Whether each local node was reachable at the last tick: a change opens a node_change period. */
  localReachable: Record<string, boolean>;
}

export const emptyMemory: Memory = { since: {}, faults: [], poolMissingSince: {}, localReachable: {} };

/**
 * How long after a local node went down or came back the service's errors are that
 * change's: requests in flight on a node that dies fail at once, or at the service's
 * query timeout (Kask's 12 s) when it dies silently, and its driver routes around it
 * only once it has noticed.
 */
const nodeChangeSettleMs = 15_000;

const seconds = (ms: number): number => Math.round(ms / 1000);

function brokenCoordinators(cluster: ClusterView): ClusterView['nodes'] {
  if (cluster.localQuorum.coordinators.length === 0) return [];
  return cluster.nodes.filter((node) => node.local && node.reachable && node.canCoordinateLocalQuorum === false);
}

function describeBroken(node: ClusterView['nodes'][number], cluster: ClusterView): string {
  const error = node.canaryError === null ? 'its LOCAL_QUORUM canary failed' : `${node.canaryError.code}: ${node.canaryError.message}`;
  const unheard = node.unheardPeers === null || node.unheardPeers.length === 0 ? ''
    : `; its own gossip has not heard ${node.unheardPeers.map((p) => `${p.address} for ${p.silentForSeconds} s`).join(', ')}`;
  return `${node.address} answers the sidecar's probes but cannot coordinate LOCAL_QUORUM (${error})${unheard}; ` +
    `LOCAL_QUORUM succeeds through ${cluster.localQuorum.coordinators.join(', ')}. A restart of the service cannot cure this: ` +
    `take ${node.address} out of client rotation (nodetool disablebinary) or restart its Cassandra`;
}

/**
 * Nodes whose disk is full, as Cassandra itself says: a node that gossips the disk
 * usage guardrail's FULL, whose replicas every coordinator then refuses writes to; a
 * node that stopped answering after it said its disk was past the warning threshold
 * (its `disk_failure_policy` stops or kills a node whose disk fills); and writes the
 * canaries saw refused for a full disk, wherever it is. With the guardrail off,
 * Cassandra says nothing of its disks over CQL, and only the alerts on the climb speak.
 */
function fullDisks(cluster: ClusterView): { evidence: string; addresses: string[] } | null {
  const full = cluster.nodes.filter((node) => node.reachable && node.storage?.diskUsage === 'FULL');
  const stopped = cluster.nodes.filter((node) => !node.reachable && (node.storage?.diskUsage === 'FULL' || node.storage?.diskUsage === 'STUFFED'));
  // Truthy, not null: views recorded before the field existed lack it.
  const refused = cluster.nodes.filter((node) => node.reachable && node.writesRefused);
  if (full.length + stopped.length + refused.length === 0) return null;
  const evidence = [
    ...full.map((node) => `${node.address} gossips its disk usage as FULL (over the guardrail's failure threshold${node.storage?.failPercent ? ` of ${node.storage.failPercent}%` : ''}): every coordinator refuses writes to the replicas it holds`),
    ...stopped.map((node) => `${node.address} stopped answering (${node.lastError?.code ?? 'no answer'}) after it said its disk usage was ${node.storage?.diskUsage ?? ''}; ` +
      `its disk_failure_policy (${node.storage?.diskFailurePolicy ?? 'unknown'}) stops a node whose disk fills`),
    ...(refused.length === 0 ? [] : [`writes refused through ${refused.map((node) => node.address).join(', ')}: ${refused[0]?.writesRefused?.message ?? ''}`]),
  ];
  return {
    addresses: [...full, ...stopped].map((node) => node.address),
    evidence: `${evidence.join('; ')}. A restart of the service cannot cure this: free space on the node (nodetool clearsnapshot, compaction, ` +
      'shorter TTLs) or add capacity; never wipe its data directory, every session stored there goes with it',
  };
}

/** Since when the pool has lacked each node it holds nothing to, carried over from the last tick. */
function trackPoolMissing(previous: Memory['poolMissingSince'], pool: Record<string, number> | null, now: number): Memory['poolMissingSince'] {
  if (pool === null) return {};
  return Object.fromEntries(Object.entries(pool).filter(([, count]) => count === 0).map(([address]) => [address, previous[address] ?? now]));
}

/**
 * A pool without a healthy local node, for longer than the grace on both clocks: since
 * the node became a healthy coordinator (back from down, or from broken), and since the
 * pool last lost it. A driver that takes a node back within its own reconnect interval
 * never gets that far.
 */
function stalePool(cluster: ClusterView, missingSince: Memory['poolMissingSince'], broken: ReadonlySet<string>, now: number, policy: DiagnosePolicy): { evidence: string; addresses: string[] } | null {
  const stale = cluster.nodes.flatMap((node) => {
    const coordinating = node.coordinatingSince === null ? null : Date.parse(node.coordinatingSince);
    const missing = missingSince[node.address];
    // A coordinator that cannot reach quorum is one the service is right not to hold.
    if (!node.local || !node.reachable || node.breaker !== 'closed' || broken.has(node.address) || coordinating === null || missing === undefined) return [];
    return now - coordinating >= policy.staleGraceMs && now - missing >= policy.staleGraceMs ? [{ address: node.address, coordinating, missing }] : [];
  });
  if (stale.length === 0) return null;
  return {
    addresses: stale.map((node) => node.address),
    evidence: stale.map((node) => `${node.address} has been a healthy coordinator for ${seconds(now - node.coordinating)} s and the service's pool has held 0 connections to it ` +
      `for ${seconds(now - node.missing)} s (grace ${seconds(policy.staleGraceMs)} s for both)`).join('; '),
  };
}

/** How long after a fault its errors may linger: as long as it lasted (a driver reconnecting), at most the stale grace; a node's change, as a driver needs to notice it. */
const settleAfter = (period: FaultPeriod, now: number, policy: DiagnosePolicy): number =>
  policy.faultLagMs + (period.kind === 'node_change' ? nodeChangeSettleMs : Math.min(policy.staleGraceMs, (period.to ?? now) - period.from));

/** Whether the storage errors of epoch second `second` are explained by a Cassandra fault of one of `kinds`. */
function explained(second: number, faults: readonly FaultPeriod[], kinds: readonly FaultPeriod['kind'][], now: number, policy: DiagnosePolicy): boolean {
  const start = second * 1000;
  return faults.some((p) => kinds.includes(p.kind) && p.from - policy.faultLagMs <= start + 999 && (p.to ?? now) + settleAfter(p, now, policy) >= start);
}

interface ErrorCount { requests: number; errors: number; explainedErrors: number }

/** Storage errors in the window, and those a Cassandra fault explains. Deletes (EACH_QUORUM) are also explained by a remote data center without quorum. */
function countErrors(service: ServiceSnapshot, faults: readonly FaultPeriod[], now: number, policy: DiagnosePolicy): ErrorCount {
  const count: ErrorCount = { requests: 0, errors: 0, explainedErrors: 0 };
  for (const s of service.traffic.seconds) {
    count.requests += s.requests + s.deletes;
    count.errors += s.storageErrors + s.deleteStorageErrors;
    if (explained(s.second, faults, ['no_local_quorum', 'broken_coordinator', 'disk_full', 'node_change'], now, policy)) count.explainedErrors += s.storageErrors + s.deleteStorageErrors;
    else if (explained(s.second, faults, ['no_each_quorum'], now, policy)) count.explainedErrors += s.deleteStorageErrors;
  }
  return count;
}

/**
 * Local nodes the service holds connections to that the sidecar cannot judge yet: its
 * probes do not reach them, or have not yet run a canary through them. A node just back
 * from a reboot is one: the service's driver may take it back seconds before the
 * sidecar's next probe, and if it cannot coordinate (T327954) the errors are that
 * node's, which no restart cures. The sidecar waits for its own verdict on the node.
 */
function unjudged(cluster: ClusterView, service: ServiceSnapshot): string[] {
  const pool = service.poolConnections;
  if (pool === null) return [];
  return cluster.nodes.filter((node) => node.local && (pool[node.address] ?? 0) > 0 && (!node.reachable || node.canCoordinateLocalQuorum === null)).map((node) => node.address);
}

type FalseUnavailability = { evidence: string; heldBack: string[] } | null;

function falseUnavailability(cluster: ClusterView, service: ServiceSnapshot, count: ErrorCount, faultsSettledAt: number, policy: DiagnosePolicy): FalseUnavailability {
  if (!cluster.localQuorum.available) return null;
  const { windowSeconds } = service.traffic;
  const unexplained = count.errors - count.explainedErrors;
  const rate = count.requests === 0 ? 0 : unexplained / count.requests;
  const whileHealthy = `while LOCAL_QUORUM canaries succeed through ${cluster.localQuorum.coordinators.join(', ')}`;
  const explainedNote = count.explainedErrors > 0 ? ` (${count.explainedErrors} more are explained by Cassandra's own fault)` : '';
  const heldBack = unjudged(cluster, service);
  if (count.requests >= policy.minRequests && rate >= policy.errorRateThreshold) {
    return { heldBack, evidence: `${unexplained} of ${count.requests} requests (${Math.round(rate * 100)}%, threshold ${Math.round(policy.errorRateThreshold * 100)}%) failed with storage errors in the last ${windowSeconds} s${explainedNote}, ${whileHealthy}` };
  }
  // Thin traffic proves nothing either way; the canary through the service speaks instead: failures after Cassandra's faults have settled.
  const canaryFailures = (service.canaryFailures ?? []).filter((at) => at > faultsSettledAt);
  if (count.requests < policy.minRequests && canaryFailures.length >= canaryFailuresThatCount) {
    return { heldBack, evidence: `the last ${canaryFailures.length} canaries through the service failed (only ${count.requests} requests in the last ${windowSeconds} s), ${whileHealthy}` };
  }
  return null;
}

/** Opens a period for each fault that holds now and closes the ones that ended; forgets those no window can reach. */
function trackFaults(previous: readonly FaultPeriod[], holding: Record<FaultPeriod['kind'], boolean>, now: number, windowMs: number, policy: DiagnosePolicy): FaultPeriod[] {
  const faults = previous.map((p) => (p.to === null && !holding[p.kind] ? { ...p, to: now } : p));
  // A node's change is a moment, not a state: its period closes at once and only settles.
  if (holding.node_change) faults.push({ kind: 'node_change', from: now, to: now });
  for (const kind of ['no_local_quorum', 'broken_coordinator', 'disk_full', 'no_each_quorum'] as const) {
    if (holding[kind] && !faults.some((p) => p.kind === kind && p.to === null)) faults.push({ kind, from: now, to: null });
  }
  return faults.filter((p) => p.to === null || p.to + settleAfter(p, now, policy) + windowMs >= now);
}

export function diagnose(cluster: ClusterView, service: ServiceSnapshot, now: number, policy: DiagnosePolicy, memory: Memory): { verdict: Verdict; memory: Memory } {
  // 1. Cassandra's own faults, from the sidecar's own view.
  const broken = brokenCoordinators(cluster);
  const brokenAddresses = new Set(broken.map((node) => node.address));
  const disk = fullDisks(cluster);
  const localReachable = Object.fromEntries(cluster.nodes.filter((node) => node.local).map((node) => [node.address, node.reachable]));
  const faults = trackFaults(memory.faults, {
    no_local_quorum: !cluster.localQuorum.available,
    broken_coordinator: broken.length > 0,
    disk_full: disk !== null,
    no_each_quorum: !cluster.eachQuorumAvailable,
    node_change: Object.entries(localReachable).some(([address, reachable]) => address in memory.localReachable && memory.localReachable[address] !== reachable),
  }, now, service.traffic.windowSeconds * 1000, policy);
  // When the last of Cassandra's local faults has settled (or will): what the service does before then is Cassandra's doing.
  const faultsSettledAt = Math.max(-Infinity, ...faults.filter((p) => p.kind !== 'no_each_quorum').map((p) => (p.to ?? now) + settleAfter(p, now, policy)));

  // 2. The service's divergences, counting only what Cassandra's faults do not explain,
  //    and only while the service answers: one that does not is not running yet or any more.
  const poolMissingSince = trackPoolMissing(memory.poolMissingSince, service.answering === true ? service.poolConnections : null, now);
  const count = countErrors(service, faults, now, policy);
  const stale = service.answering === true ? stalePool(cluster, poolMissingSince, brokenAddresses, now, policy) : null;
  const unavailability = service.answering === true ? falseUnavailability(cluster, service, count, faultsSettledAt, policy) : null;
  const heldBack = unavailability !== null && unavailability.heldBack.length > 0;
  const conditions: Record<Rule, { evidence: string; addresses: string[] } | null> = {
    stale_pool: stale,
    false_unavailability: unavailability === null || heldBack ? null : { evidence: unavailability.evidence, addresses: [] },
    broken_coordinator: broken.length === 0 ? null : { evidence: broken.map((node) => describeBroken(node, cluster)).join('; '), addresses: [...brokenAddresses] },
    disk_full: disk,
  };

  // 3. Hysteresis: since when each condition has held without a break.
  const since: Memory['since'] = {};
  const findings: Finding[] = [];
  for (const rule of rules) {
    const condition = conditions[rule];
    if (condition === null) continue;
    since[rule] = memory.since[rule] ?? now;
    findings.push({ rule, since: since[rule], ...condition });
  }
  const evidence = findings.map((f) => `${f.rule}: ${f.evidence}` + (isServiceRule(f.rule) ? ` (holding for ${seconds(now - f.since)} s of ${seconds(policy.sustainMs)} s)` : ''));
  if (heldBack) {
    evidence.push(`not yet false unavailability: ${unavailability.evidence}; but the service holds connections to ${unavailability.heldBack.join(', ')}, ` +
      'which the sidecar cannot judge yet (its probes do not reach it, or its canary has not run): the errors may be that node\'s, and a restart would not cure them');
  }
  if (count.explainedErrors > 0) evidence.push(`${count.explainedErrors} storage errors in the last ${service.traffic.windowSeconds} s fall within Cassandra's own fault and do not count against the service`);
  if (service.answering !== true) {
    evidence.push(service.answering === null ? 'the service has not answered its health check yet: its pool and errors are not judged'
      : 'the service does not answer its health check (not running, or not yet started): its pool and errors are not judged, and a restart is the kubelet\'s business');
  }
  const nextMemory: Memory = { since, faults, poolMissingSince, localReachable };
  const verdict = (action: Verdict['action'], rule: ServiceRule | null, suppressed: Verdict['suppressed']): { verdict: Verdict; memory: Memory } =>
    ({ verdict: { action, rule, findings, suppressed, brokenCoordinators: [...brokenAddresses], evidence }, memory: nextMemory });

  // 4. A real outage, or this pod cut off from the cluster: a restart cannot help.
  if (!cluster.localQuorum.available) {
    return verdict('suppressed', null, { reason: 'no_local_quorum', why: `the sidecar itself cannot reach LOCAL_QUORUM: ${cluster.localQuorum.why}` });
  }
  // 5. A service divergence held long enough: restart.
  const due = findings.find((f): f is Finding & { rule: ServiceRule } => isServiceRule(f.rule) && now - f.since >= policy.sustainMs);
  if (due) return verdict('restart', due.rule, null);
  // 6. Errors a restart would once have been tried for, that Cassandra's own fault explains: say which, and do nothing.
  const rawRate = count.requests === 0 ? 0 : count.errors / count.requests;
  const cause = findings.find((f): f is Finding & { rule: CassandraRule } => !isServiceRule(f.rule));
  if (cause && count.requests >= policy.minRequests && rawRate >= policy.errorRateThreshold) {
    const what = cause.rule === 'broken_coordinator' ? `the coordinator ${cause.addresses.join(', ')}` : `a full disk${cause.addresses.length > 0 ? ` on ${cause.addresses.join(', ')}` : ''}`;
    return verdict('suppressed', null, {
      reason: cause.rule,
      why: `${count.errors} of ${count.requests} requests failed, and ${what} explains them: a restart of the service cannot help`,
    });
  }
  return verdict('none', null, null);
}
