// Tests that stop, kill, pause or cut off nodes leave the cluster as they found it,
// even when they fail half way (lab/cluster/cluster.ts restore()).
import type { Test } from 'tap';
import { restore } from '../../lab/cluster/cluster.ts';

export function restoreClusterAfter(t: Test): void {
  t.teardown(() => restore());
}
