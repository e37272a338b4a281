// Tests that stop, kill, pause or cut off nodes leave the cluster as they found it,
// even when they fail half way: network faults are healed, whatever is paused is
// resumed and whatever is stopped is started.
import type { Test } from 'tap';
import { heal, resumeNode, startNode, status } from '../../lab/cluster/cluster.ts';

export async function restoreCluster(): Promise<void> {
  heal();
  const nodes = await status();
  for (const node of nodes) if (node.process === 'paused') resumeNode(node.number);
  await Promise.all(nodes.filter((node) => node.process === 'stopped').map((node) => startNode(node.number)));
}

export function restoreClusterAfter(t: Test): void {
  t.teardown(restoreCluster);
}
