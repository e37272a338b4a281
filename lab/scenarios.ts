// What the incident scenarios share (end-to-end tests and the demo): the lab service's
// gocql timings, the sidecar settings that keep a replay short, and the faults.
//
// Timings. Production: gocql takes a node back 10 s after its UP event (its
// nodeUpDelay() for Cassandra 5.0), or at its 60 s reconnect ticker, and the sidecar's
// stale-pool grace is 75 s, above both. A replay keeps gocql's 10 s node-up delay (the
// driver's own, not a setting) but ticks every 15 s, and uses a 20 s grace: still above
// both, so a healthy service is never restarted, at a third of the wait.
import { setTimeout as sleep } from 'node:timers/promises';
import { startNode, stopNode, type NodeNumber } from './cluster/cluster.ts';
import type { ServiceOptions } from './session-service/harness.ts';

export const labService: ServiceOptions = { reconnectIntervalMs: 15_000 };

export const graceMs = 20_000;
export const sustainMs = 5_000;

export const fastSidecar = {
  reconcile: { stale_grace_ms: graceMs, sustain_ms: sustainMs, interval_ms: 500 },
  depool: { propagation_ms: 1000 },
  remediation: { backoff_base_ms: 2000, healthy_timeout_ms: 30_000, drain_timeout_ms: 5000 },
};

/** Stops a node long enough for the service's driver to see it down, starts it again; returns when it answered CQL (epoch ms). */
export async function bounceNode(n: NodeNumber): Promise<number> {
  await stopNode(n);
  await sleep(3000);
  const timing = await startNode(n);
  return Date.now() - (timing.seenUpMs - timing.cqlMs);
}
