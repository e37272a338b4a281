// Tests that stop, kill or pause nodes leave the cluster as they found it, even when
// they fail half way: whatever is paused is resumed and whatever is stopped is started.
import type { Test } from 'tap';
import { resumeNode, startNode, status } from '../../lab/cluster/cluster.ts';

export function restoreClusterAfter(t: Test): void {
  t.teardown(async () => {
    const nodes = await status();
    for (const node of nodes) if (node.process === 'paused') resumeNode(node.number);
    await Promise.all(nodes.filter((node) => node.process === 'stopped').map((node) => startNode(node.number)));
  });
}
