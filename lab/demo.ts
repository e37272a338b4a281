// npm run demo: the 2022-09-15 incident, replayed and healed on this machine. The
// local three-node Cassandra cluster, the Kask-compatible service with the stale-pool
// fault, the sidecar in front of it, steady traffic; node 2 goes down and comes back,
// the service's driver never reconnects, the sidecar notices and restarts the pool
// gracefully. (The grace is shorter here than production's 75 s, to keep it short.)
import { setTimeout as sleep } from 'node:timers/promises';
import { observePool } from '../src/service/pool-sockets.ts';
import { down, status, up } from './cluster/cluster.ts';
import type { Cleanup } from './cleanup.ts';
import { startService, until } from './session-service/harness.ts';
import { loggedAt, lostWrites, metricOf, startSidecar, type SidecarProcess } from './sidecar-process.ts';
import { sessionTraffic } from './traffic.ts';
import { bounceNode, fastSidecar, graceMs, labService, sustainMs } from './scenarios.ts';

const cleanups: (() => unknown)[] = [];
const scope: Cleanup = { teardown: (fn) => cleanups.unshift(fn) };
const say = (line: string): void => { console.log(`[demo] ${line}`); };
const pool = async (pidFile: string): Promise<string> =>
  Object.entries((await observePool({ pidFile, nativePort: 9042 })).connections).map(([a, n]) => `${a}×${n}`).join(' ') || 'none';

/** What the sidecar saw and decided, for whoever reads a failed demo. */
async function explainFailure(sidecar: SidecarProcess): Promise<void> {
  const status = await sidecar.status().catch(() => null);
  if (status) say(`the sidecar's verdict and remediation: ${JSON.stringify({ reconcile: status.reconcile, remediation: status.remediation })}`);
  for (const line of sidecar.logs.filter((l) => l.level === 'warn' || l.level === 'error').slice(-10)) say(`sidecar log: ${JSON.stringify(line)}`);
}

let startedSidecar: SidecarProcess | undefined;
try {
  const wasUp = (await status()).every((node) => node.answersCql);
  if (!wasUp) {
    say('starting the local Cassandra cluster (3 nodes, dc1, 127.0.0.1-3)…');
    await up((line) => { say(line); });
    scope.teardown(() => down());
  }
  const service = await startService(scope, { ...labService, fault: 'stale-pool' });
  say(`session service (Kask-compatible, fault: stale-pool) on ${service.url}; its pool: ${await pool(service.pidFile)}`);
  const sidecar = await startSidecar(scope, service.url, service.pidFile, fastSidecar);
  startedSidecar = sidecar;
  say(`sidecar proxying on ${sidecar.url}, admin on ${sidecar.adminUrl}/status`);
  const load = sessionTraffic(scope, sidecar.url, { perSecond: 20 });
  say('sending 20 session requests per second through the sidecar');
  await sleep(3000);

  say('node 2 goes down for maintenance and comes back, like sessionstore1001 on 2022-09-15…');
  const answeredAt = await bounceNode(2);
  say(`node 2 answers CQL again; the service's pool: ${await pool(service.pidFile)} (no connection to 127.0.0.2: the stale pool)`);
  await until(async () => (await metricOf(sidecar, 'sessionstore_sidecar_pool_restarts_total', { result: 'restarted' })) >= 1, 90_000, 'the sidecar restarts the pool');
  await sleep(3000);
  const { sent, acked, failed } = await load.stop();

  const seconds = (at: number | null): string => (at === null ? '?' : `${((at - answeredAt) / 1000).toFixed(1)} s`);
  say(`detected the divergence ${seconds(loggedAt(sidecar, 'divergence: stale_pool'))} after node 2 was back (grace ${graceMs / 1000} s + ${sustainMs / 1000} s sustain)`);
  say(`restarted the service's pool gracefully and repooled ${seconds(loggedAt(sidecar, 'graceful restart finished'))} after node 2 was back`);
  say(`the service's pool now: ${await pool(service.pidFile)}`);
  say(`traffic: ${sent} requests sent, ${failed} failed (503 while depooled; clients retry on other pods)`);
  const lost = await lostWrites(acked);
  say(`read back from Cassandra at LOCAL_QUORUM: ${lost.length === 0 ? 'every acknowledged write is there' : `${lost.length} missing!`}`);
  const evidence = sidecar.logs.find((l) => String(l.msg).startsWith('divergence: stale_pool'))?.evidence;
  say(`the sidecar's evidence: ${JSON.stringify(evidence)}`);
  if (lost.length > 0) process.exitCode = 1;
} catch (error) {
  say(`failed: ${(error as Error).message}`);
  process.exitCode = 1;
  if (startedSidecar) await explainFailure(startedSidecar);
} finally {
  for (const cleanup of cleanups) await cleanup();
}
