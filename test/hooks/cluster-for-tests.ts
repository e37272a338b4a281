// The shared cluster's life around a test run, run by the before and after hooks
// in a child process that tap does not measure (coverage is about src/, not the lab).
//   begin TAP_PID: one cluster shared by the whole suite. Starts whatever is not
//     running, warms the cluster (seconds when it is warm already) and remembers whether
//     it started anything. Test runs share the cluster
//     and stop its nodes, so a second run at the same time is refused. Builds the lab's
//     session service (Go, gocql) once, so that no test's time bound pays for it.
//   end TAP_PID: stops the cluster if this run started it (SIDECAR_KEEP_CLUSTER=1
//     keeps it for the next run), and releases the run's lock.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { down, status, up, warmUp } from '../../lab/cluster/cluster.ts';
import { paths } from '../../lab/cluster/layout.ts';
import { ensureServiceBinary } from '../../lab/session-service/build.ts';

const [phase, tapPid] = [process.argv[2], Number(process.argv[3])];
const lock = join(paths.cluster, 'test-run.lock');
const marker = join(paths.cluster, 'started-by-tests');
const holder = existsSync(lock) ? Number(readFileSync(lock, 'utf8')) : null;
const running = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

if (phase === 'begin') {
  if (holder !== null && holder !== tapPid && running(holder)) {
    console.error(`another test run (tap, pid ${holder}) is using the local cluster; wait for it, or stop it, and run again`);
    process.exit(1);
  }
  mkdirSync(paths.cluster, { recursive: true }); // a fresh clone has no cache yet
  writeFileSync(lock, String(tapPid));
  ensureServiceBinary((line) => { console.log(`# [session service] ${line}`); });
  if ((await status()).every((node) => node.answersCql)) {
    console.log('# local Cassandra cluster already up; the tests use it and leave it running');
  } else {
    await up((line) => { console.log(`# [cluster] ${line}`); });
    writeFileSync(marker, new Date().toISOString());
  }
  // A cluster started just before the run (CI starts it while lint runs) is as cold as one started here.
  await warmUp((line) => { console.log(`# [cluster] ${line}`); });
} else if (phase === 'end') {
  if (holder !== tapPid) process.exit(0); // not this run's cluster to touch
  if (existsSync(marker) && process.env.SIDECAR_KEEP_CLUSTER !== '1') {
    await down();
    rmSync(marker);
    console.log('# local Cassandra cluster stopped (the test run had started it)');
  }
  rmSync(lock, { force: true });
} else {
  console.error('usage: cluster-for-tests.ts begin|end TAP_PID');
  process.exit(2);
}
