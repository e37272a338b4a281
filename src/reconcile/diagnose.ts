// The decision core: compare the sidecar's view of the cluster with the service's,
// and say whether the service's pool has diverged from reality. A pure function of
// its inputs (no I/O, no clock), so every verdict can be replayed and unit-tested.
// Level-triggered: the same views give the same verdict, whatever happened before,
// except for `memory`, which only records since when each condition has held.
import type { ClusterView } from '../cluster/view.ts';

export type Rule = 'stale_pool' | 'false_unavailability';
export const rules: readonly Rule[] = ['stale_pool', 'false_unavailability'];

export interface DiagnosePolicy {
  /** A node must have answered the sidecar this long before a pool without it counts as stale (longer than a healthy driver needs to reconnect). */
  staleGraceMs: number;
  /** Fraction of API requests failing with storage errors (5xx, timeouts) that counts as failing. */
  errorRateThreshold: number;
  /** Fewer requests than this in the window prove nothing. */
  minRequests: number;
  /** A condition must hold this long, without a break, before it calls for a restart: one bad probe or burst never does. */
  sustainMs: number;
}

export const defaultPolicy: DiagnosePolicy = { staleGraceMs: 30_000, errorRateThreshold: 0.2, minRequests: 10, sustainMs: 5_000 };

export interface ServiceSnapshot {
  /** Established connections per node address, from /proc; null when it cannot be read. */
  poolConnections: Record<string, number> | null;
  /** The live traffic's API requests and storage errors over the last `windowSeconds`. */
  traffic: { windowSeconds: number; requests: number; storageErrors: number };
  /** Consecutive failures of the write-then-read canary through the service's API; null when off. */
  canaryFailures: number | null;
}

/** Consecutive failed canaries through the service that count as failing, when live traffic is too thin to tell. */
const canaryFailuresThatCount = 2;

export interface Finding {
  rule: Rule;
  /** Since when the condition has held (epoch ms). */
  since: number;
  evidence: string;
}

export interface Verdict {
  action: 'none' | 'restart' | 'suppressed';
  /** The rule that calls for the restart. */
  rule: Rule | null;
  /** Every rule whose condition holds now, sustained long enough or not. */
  findings: Finding[];
  /** Why nothing may be done even though a rule holds. */
  suppressed: string | null;
  /** The whole reasoning, in words and numbers. */
  evidence: string[];
}

export type Memory = Partial<Record<Rule, number>>;

function stalePool(cluster: ClusterView, service: ServiceSnapshot, now: number, policy: DiagnosePolicy): string | null {
  if (service.poolConnections === null) return null;
  const pool = service.poolConnections;
  const stale = cluster.nodes.filter((node) => {
    const healthySince = node.reachableSince === null ? null : Date.parse(node.reachableSince);
    return node.local && node.reachable && node.breaker === 'closed' && healthySince !== null && now - healthySince >= policy.staleGraceMs && (pool[node.address] ?? 0) === 0;
  });
  if (stale.length === 0) return null;
  return stale.map((node) => `${node.address} has answered the sidecar for ${Math.round((now - Date.parse(node.reachableSince ?? '')) / 1000)} s ` +
    `(grace ${policy.staleGraceMs / 1000} s) but the service holds 0 connections to it`).join('; ');
}

function falseUnavailability(cluster: ClusterView, service: ServiceSnapshot, policy: DiagnosePolicy): string | null {
  if (!cluster.localQuorum.available) return null;
  const { requests, storageErrors, windowSeconds } = service.traffic;
  const rate = requests === 0 ? 0 : storageErrors / requests;
  const whileHealthy = `while LOCAL_QUORUM canaries succeed through ${cluster.localQuorum.coordinators.join(', ')}`;
  if (requests >= policy.minRequests && rate >= policy.errorRateThreshold) {
    return `${storageErrors} of ${requests} requests (${Math.round(rate * 100)}%, threshold ${Math.round(policy.errorRateThreshold * 100)}%) failed with storage errors in the last ${windowSeconds} s, ${whileHealthy}`;
  }
  // Thin traffic proves nothing either way; the canary through the service speaks instead.
  if (requests < policy.minRequests && (service.canaryFailures ?? 0) >= canaryFailuresThatCount) {
    return `the last ${service.canaryFailures ?? 0} canaries through the service failed (only ${requests} requests in the last ${windowSeconds} s), ${whileHealthy}`;
  }
  return null;
}

export function diagnose(cluster: ClusterView, service: ServiceSnapshot, now: number, policy: DiagnosePolicy, memory: Memory): { verdict: Verdict; memory: Memory } {
  const conditions: Record<Rule, string | null> = {
    stale_pool: stalePool(cluster, service, now, policy),
    false_unavailability: falseUnavailability(cluster, service, policy),
  };
  const nextMemory: Memory = {};
  const findings: Finding[] = [];
  for (const rule of rules) {
    const evidence = conditions[rule];
    if (evidence === null) continue;
    const since = memory[rule] ?? now;
    nextMemory[rule] = since;
    findings.push({ rule, since, evidence });
  }
  const evidence = findings.map((f) => `${f.rule}: ${f.evidence} (holding for ${Math.round((now - f.since) / 1000)} s of ${policy.sustainMs / 1000} s)`);

  // A real outage, or this pod cut off from the cluster: a restart cannot help.
  if (!cluster.localQuorum.available) {
    return {
      verdict: { action: 'suppressed', rule: null, findings, suppressed: `the sidecar itself cannot reach LOCAL_QUORUM: ${cluster.localQuorum.why}`, evidence: [...evidence, cluster.localQuorum.why] },
      memory: nextMemory,
    };
  }
  const due = findings.find((f) => now - f.since >= policy.sustainMs);
  return {
    verdict: { action: due ? 'restart' : 'none', rule: due?.rule ?? null, findings, suppressed: null, evidence },
    memory: nextMemory,
  };
}
