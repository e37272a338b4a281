// What the end-to-end scenarios share: the sidecar settings that make them fast
// (a 10 s grace, 2 s backoff), and bouncing a node under the service.
import { setTimeout as sleep } from 'node:timers/promises';
import { startNode, stopNode, type NodeNumber } from './cluster/cluster.ts';

export const graceMs = 10_000;

export const fastSidecar = {
  reconcile: { stale_grace_ms: graceMs, interval_ms: 500 },
  remediation: { backoff_base_ms: 2000, healthy_timeout_ms: 30_000, drain_timeout_ms: 5000 },
};

/** Stops a node long enough for the service's driver to see it down, starts it again; returns when it answered CQL (epoch ms). */
export async function bounceNode(n: NodeNumber): Promise<number> {
  await stopNode(n);
  await sleep(3000);
  const timing = await startNode(n);
  return Date.now() - (timing.seenUpMs - timing.cqlMs);
}
