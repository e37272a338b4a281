// Runs one phase of cluster-for-tests.ts in a child that tap does not measure for
// coverage (coverage is about src/; this is the lab's work), and exits with its status.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

export function runClusterPhase(phase: 'begin' | 'end'): never {
  // The hook's parent is tap itself: the lock names the run by tap's pid.
  const child = spawnSync(process.execPath, [join(import.meta.dirname, 'cluster-for-tests.ts'), phase, String(process.ppid)], {
    stdio: 'inherit', env: { ...process.env, _TAPJS_PROCESSINFO_COVERAGE_: '0' },
  });
  process.exit(child.status ?? 1);
}
