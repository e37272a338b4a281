// The two incidents replayed on the real cluster, with steady load through the
// sidecar in front of the Kask-compatible service: the sidecar detects each
// divergence within its bound, and holds back when Cassandra itself is down.
// (Acting on the verdict, the graceful restart, is the remediation's to test.)
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { startNode, stopNode } from '../support/cluster/cluster.ts';
import { restoreClusterAfter } from '../support/cluster/restore.ts';
import { restartService, startService, until } from '../support/kask/harness.ts';
import { lostWrites, startSidecar, steadyWrites, type SidecarProcess } from '../support/sidecar-process.ts';

restoreClusterAfter(t);

const graceMs = 10_000;
const reconcile = { stale_grace_ms: graceMs, interval_ms: 500 };
type Verdict = { action: string; rule: string | null; evidence: string[]; suppressed: string | null };
const verdictOf = async (sidecar: SidecarProcess): Promise<Verdict | null> => ((await sidecar.status()).reconcile as { verdict: Verdict | null }).verdict;

void t.test('2022-09-15: a node restarts and the service never reconnects to it', async (t) => {
  const service = await startService(t, 'stale-pool');
  const sidecar = await startSidecar(t, service.url, service.pidFile, { reconcile });
  const load = steadyWrites(sidecar.url, 20);
  await stopNode(2);
  await sleep(3000); // the service's driver sees it go down, and forgets it
  const timing = await startNode(2);
  const answeredAt = Date.now() - (timing.seenUpMs - timing.cqlMs);
  await until(async () => (await verdictOf(sidecar))?.rule === 'stale_pool', graceMs + 20_000, 'the sidecar calls it a stale pool');
  const detectedMs = Date.now() - answeredAt;
  const verdict = await verdictOf(sidecar);
  const { acked, failed, sent } = await load.stop();
  t.ok(detectedMs <= graceMs + 10_000, `stale pool detected ${detectedMs} ms after node 2 answered CQL (bound: grace ${graceMs} ms + 10 s)`);
  t.match(verdict, { action: 'restart', rule: 'stale_pool' });
  t.match(verdict?.evidence.join(' '), /127\.0\.0\.2 has answered the sidecar for \d+ s .* but the service holds 0 connections to it/);
  t.ok(sidecar.logs.some((l) => l.component === 'reconcile' && l.level === 'error' && String(l.msg).startsWith('divergence: stale_pool')), 'one log line with the verdict and its evidence');
  t.same(await lostWrites(sidecar.url, acked), [], `every acknowledged write reads back (${acked.size} of ${sent} acknowledged, ${failed} failed)`);
});

void t.test('2023-01-24: false unavailability while the cluster is healthy', async (t) => {
  const service = await startService(t, 'false-unavailable');
  const sidecar = await startSidecar(t, service.url, service.pidFile, { reconcile });
  const load = steadyWrites(sidecar.url, 20);
  await stopNode(3);
  await sleep(3000);
  await startNode(3);
  await until(() => service.lines.some((line) => line.includes('Cannot achieve consistency level LOCAL_QUORUM')), 30_000, 'the service starts failing');
  const failingSince = Date.now();
  await until(async () => (await verdictOf(sidecar))?.rule === 'false_unavailability', 30_000, 'the sidecar calls it false unavailability');
  const detectedMs = Date.now() - failingSince;
  const { acked, failed, sent } = await load.stop();
  t.ok(detectedMs <= 15_000, `false unavailability detected ${detectedMs} ms after the service began failing (bound 15 s)`);
  t.match((await verdictOf(sidecar))?.evidence.join(' '), /failed with storage errors .* while LOCAL_QUORUM canaries succeed/);
  t.ok(failed > 0, `the service did fail (${failed} of ${sent} writes)`);
  await restartService(service); // what the remediation will do; here only to read back
  t.same(await lostWrites(sidecar.url, acked), [], `every acknowledged write is still there (${acked.size}), read through the restarted service`);
});

void t.test('two nodes down: a real outage is reported and suppressed, never acted on', async (t) => {
  const service = await startService(t);
  const sidecar = await startSidecar(t, service.url, service.pidFile, { reconcile });
  await Promise.all([stopNode(2), stopNode(3)]);
  await until(async () => (await verdictOf(sidecar))?.action === 'suppressed', 15_000, 'the sidecar suppresses');
  t.match((await verdictOf(sidecar))?.suppressed, /the sidecar itself cannot reach LOCAL_QUORUM/);
  const metrics = await (await fetch(`${sidecar.adminUrl}/metrics`)).text();
  t.match(metrics, /sessionstore_sidecar_remediation_suppressed\{reason="no_local_quorum"\} 1/);
  await Promise.all([startNode(2), startNode(3)]);
});
