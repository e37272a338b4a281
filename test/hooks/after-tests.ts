// tap runs this once after all test files: stop the cluster if the test run started it
// (set SIDECAR_KEEP_CLUSTER=1 to keep it for the next run), and release the run's lock.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { down } from '../../lab/cluster/cluster.ts';
import { paths } from '../../lab/cluster/layout.ts';

const lock = join(paths.cluster, 'test-run.lock');
if (existsSync(lock) && Number(readFileSync(lock, 'utf8')) !== process.ppid) process.exit(0); // not this run's cluster to touch
const marker = join(paths.cluster, 'started-by-tests');
if (existsSync(marker) && process.env.SIDECAR_KEEP_CLUSTER !== '1') {
  await down();
  rmSync(marker);
  console.log('# local Cassandra cluster stopped (the test run had started it)');
}
rmSync(lock, { force: true });
