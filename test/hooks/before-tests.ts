// tap runs this once before all test files: one cluster shared by the whole suite.
// It starts whatever is not running and remembers whether it started anything, so
// after-tests.ts leaves the machine as it found it. Test runs share the cluster and
// stop its nodes, so a second run at the same time is refused, not interleaved.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { status, up } from '../../lab/cluster/cluster.ts';
import { paths } from '../../lab/cluster/layout.ts';

const lock = join(paths.cluster, 'test-run.lock');
const running = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const holder = existsSync(lock) ? Number(readFileSync(lock, 'utf8')) : null;
if (holder !== null && holder !== process.ppid && running(holder)) {
  console.error(`another test run (tap, pid ${holder}) is using the local cluster; wait for it, or stop it, and run again`);
  process.exit(1);
}
writeFileSync(lock, String(process.ppid));

const nodes = await status();
if (nodes.every((node) => node.answersCql)) {
  console.log('# local Cassandra cluster already up; the tests use it and leave it running');
} else {
  await up((line) => {
    console.log(`# [cluster] ${line}`);
  });
  writeFileSync(join(paths.cluster, 'started-by-tests'), new Date().toISOString());
}
