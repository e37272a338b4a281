// npm run soak [-- --minutes M | --seconds S] [--rate R]: session traffic at R requests
// a second (default 1,000) through the sidecar in front of the lab service on the local
// cluster, for M minutes (default 30). Meanwhile, as in production: a node is stopped
// and started (a quarter in), the service is restarted (60% in), and another node is
// stopped and started (80% in). Every 5 s it samples the sidecar's RSS and
// in-flight gauge; at the end every acknowledged write is read back from Cassandra.
// (`--short`, for CI: node 2 hangs for 10 s instead, paused as a frozen host is, and the
// service is restarted: the same disturbances of the proxy, without two minutes of JVM start.)
// Exits 1 when a write is lost, the in-flight gauge does not return to 0, or memory
// keeps growing.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { pauseNode, resumeNode, startNode, status, stopNode, up, type NodeNumber } from './cluster/cluster.ts';
import { labService } from './scenarios.ts';
import { restartService, startService } from './session-service/harness.ts';
import { dockerfileEnv } from './dockerfile.ts';
import { lostWrites, metricOf, startSidecar } from './sidecar-process.ts';
import { sessionTraffic } from './traffic.ts';

export interface SoakSample {
  atSeconds: number;
  rssMb: number;
  inflight: number;
  sent: number;
  failed: number;
  event: string;
}

export interface SoakResult {
  samples: SoakSample[];
  /** The disturbances, from their start until the cluster or the service answered again (epoch ms). */
  disturbances: { what: string; from: number; to: number }[];
  sent: number;
  failed: number;
  failures: Record<string, number>;
  /** Failures outside every disturbance (2 s of margin after each). */
  failedOutsideDisturbances: number;
  acked: number;
  lost: number;
  inflightAtEnd: number;
}

const rssMb = (pid: number): number => Math.round(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 102.4) / 10;

export async function soak(options: { seconds: number; rate: number; short?: boolean; log: (line: string) => void }): Promise<SoakResult> {
  const cleanups: (() => unknown)[] = [];
  const owner = { teardown: (fn: () => unknown) => cleanups.unshift(fn) };
  try {
    if (!(await status()).every((n) => n.answersCql)) await up(options.log);
    const service = await startService(owner, labService);
    // With the image's heap settings: memory is judged as production would run it, not by how lazily V8 grows an uncapped heap.
    const sidecar = await startSidecar(owner, service.url, service.pidFile, { logging: { level: 'warn' } }, { env: { NODE_OPTIONS: dockerfileEnv('NODE_OPTIONS') } });
    const traffic = sessionTraffic(owner, sidecar.url, { perSecond: options.rate });
    const started = Date.now();
    const samples: SoakSample[] = [];
    let event = '';
    const disturbances: SoakResult['disturbances'] = [];
    const sampler = setInterval(() => {
      const seen = traffic.snapshot();
      void metricOf(sidecar, 'sessionstore_sidecar_inflight_requests').then((inflight) => {
        samples.push({ atSeconds: Math.round((Date.now() - started) / 1000), rssMb: rssMb(sidecar.pid), inflight, sent: seen.sent, failed: seen.failed, event });
        event = '';
      });
    }, 5000);
    owner.teardown(() => { clearInterval(sampler); });
    const at = async (share: number, what: string, act: () => Promise<unknown>): Promise<void> => {
      await sleep(Math.max(0, started + share * options.seconds * 1000 - Date.now()));
      options.log(`${Math.round((Date.now() - started) / 1000)} s: ${what}`);
      event = what;
      const from = Date.now();
      await act();
      if (share < 1) disturbances.push({ what, from, to: Date.now() });
    };
    const bounce = (n: NodeNumber) => async (): Promise<void> => {
      await stopNode(n);
      await sleep(5000);
      await startNode(n);
    };
    const hang = (n: NodeNumber) => async (): Promise<void> => {
      pauseNode(n);
      await sleep(10_000);
      resumeNode(n);
    };
    await at(0.25, options.short ? 'node 2 paused for 10 s and resumed' : 'node 2 stopped and started', options.short ? hang(2) : bounce(2));
    await at(0.6, 'the service restarted', () => restartService(service));
    if (!options.short) await at(0.8, 'node 3 stopped and started', bounce(3));
    await at(1, 'done; reading every acknowledged write back', () => Promise.resolve());
    const result = await traffic.stop();
    await sleep(1000);
    const inflightAtEnd = await metricOf(sidecar, 'sessionstore_sidecar_inflight_requests');
    const lost = (await lostWrites(result.acked)).length;
    const failedOutsideDisturbances = result.failureLog.filter((f) => !disturbances.some((d) => f.at >= d.from && f.at <= d.to + 2000)).length;
    return { samples, disturbances, sent: result.sent, failed: result.failed, failures: result.failures, failedOutsideDisturbances, acked: result.acked.size, lost, inflightAtEnd };
  } finally {
    for (const cleanup of cleanups) await cleanup();
  }
}

/** Memory keeps growing when the last quarter's average RSS exceeds the second quarter's by more than 20%. */
export function memoryGrows(samples: SoakSample[]): boolean {
  const quarter = (q: number): number[] => samples.filter((_, i) => Math.floor((i * 4) / samples.length) === q).map((s) => s.rssMb);
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  return mean(quarter(3)) > mean(quarter(1)) * 1.2;
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { minutes: { type: 'string' }, seconds: { type: 'string' }, rate: { type: 'string', default: '1000' }, short: { type: 'boolean' } } });
  const seconds = values.seconds !== undefined ? Number(values.seconds) : Number(values.minutes ?? 30) * 60;
  const log = (line: string): void => { console.error(`[soak] ${line}`); };
  log(`${values.rate} requests a second for ${seconds} s`);
  const result = await soak({ seconds, rate: Number(values.rate), short: values.short ?? false, log });
  console.log('| s | RSS MB | in flight | sent | failed | event |\n|---:|---:|---:|---:|---:|---|');
  for (const s of result.samples) console.log(`| ${s.atSeconds} | ${s.rssMb} | ${s.inflight} | ${s.sent} | ${s.failed} | ${s.event} |`);
  const rss = result.samples.map((s) => s.rssMb);
  for (const d of result.disturbances) console.log(`- ${d.what}: ${((d.to - d.from) / 1000).toFixed(1)} s`);
  console.log(`\n${result.sent} requests, ${result.failed} failed (${JSON.stringify(result.failures)}), ${result.failedOutsideDisturbances} of them outside a disturbance; ${result.acked} acknowledged writes read back, ${result.lost} lost; ` +
    `in flight at the end ${result.inflightAtEnd}; RSS ${Math.min(...rss)}–${Math.max(...rss)} MB`);
  process.exitCode = result.lost > 0 || result.inflightAtEnd !== 0 || result.failedOutsideDisturbances > 0 || memoryGrows(result.samples) ? 1 : 0;
}
