// node bench/tail.bench.ts: where the sidecar's latency tail comes from. Run `npm run
// build` first; the cluster must be up (`npm run cluster -- up`).
//   The production build on CPU 1 alone (the upstream, the open-loop generator and the
//   cluster's idle-scheduled JVMs on CPU 0: measure.ts, sidelineCluster), open loop at
//   TAIL_RATES (1000,3000) requests/s for TAIL_SECONDS (20) each, with --trace-gc: p50/p99/p99.9, the event loop's largest
//   delay, and the collector's pauses (how many, their sum and the largest, by kind).
//   Variants, each differing from the image's configuration in one thing: the heap flags
//   dropped; then each part of the background work made rare (once an hour): the probes,
//   the pool read of /proc, the service's health check, the reconciler; then all of them.
//   The minimal Node proxy beside them is the floor. TAIL_ROUNDS (2) rounds, interleaved;
//   medians. The numbers in docs/benchmarks.md come from it.
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { adminCredentials } from '../lab/cluster/cluster.ts';
import { dockerfileEnv } from '../lab/dockerfile.ts';
import { freePort } from '../lab/net.ts';
import { removeWorkFiles, start, startNginxUpstream, writeSidecarConfig, type Running } from '../lab/reference-proxies.ts';
import { ensureOpenLoop, eventLoopStallMaxMs, nginxBesideRunningCluster, openLoop, sidelineCluster, summary } from './measure.ts';

const seconds = Number(process.env.TAIL_SECONDS ?? 20);
const rounds = Number(process.env.TAIL_ROUNDS ?? 2);
const rates = (process.env.TAIL_RATES ?? '1000,3000').split(',').map(Number);
const root = join(import.meta.dirname, '..');
const imageFlags = dockerfileEnv('NODE_OPTIONS');
const rarely = 3_600_000;
const log = (line: string): void => { console.error(`# ${line}`); };

interface Variant {
  name: string;
  nodeOptions: string;
  probeMs?: number;
  observeMs?: number;
  healthMs?: number;
  reconcileMs?: number;
  /** The minimal Node proxy instead of the sidecar. */
  floor?: true;
}
const variants: Variant[] = [
  { name: 'the image (heap flags, every part on)', nodeOptions: imageFlags },
  { name: 'no heap flags', nodeOptions: '' },
  { name: 'probes rare', nodeOptions: imageFlags, probeMs: rarely },
  { name: 'pool read rare', nodeOptions: imageFlags, observeMs: rarely },
  { name: 'health check rare', nodeOptions: imageFlags, healthMs: rarely },
  { name: 'reconciler rare', nodeOptions: imageFlags, reconcileMs: rarely },
  { name: 'all background work rare', nodeOptions: imageFlags, probeMs: rarely, observeMs: rarely, healthMs: rarely, reconcileMs: rarely },
  { name: 'the floor (minimal Node proxy)', nodeOptions: imageFlags, floor: true },
];

interface GcPauses { count: number; totalMs: number; maxMs: number }
interface Measured { p50Us: number; p99Us: number; p999Us: number; stallMaxMs: number; gc: Record<string, GcPauses> }

/** The collector's pauses in a --trace-gc log, by kind, from byte `from` on. */
function gcPauses(file: string, from: number): Record<string, GcPauses> {
  const pauses: Record<string, GcPauses> = {};
  // e.g. "[4242:0x6f1c000]    5309 ms: Scavenge (interleaved) 9.8 (12.3) -> 8.9 (13.3) MB, pooled: 0 MB, 1.07 / 0.00 ms  (average mu = …"
  for (const match of readFileSync(file, 'utf8').slice(from).matchAll(/ms: (Scavenge|Mark-Compact|Minor Mark-Sweep|Mark-Sweep)(?: \([a-z ]+\))? [\d.]+ \([\d.]+\) -> .*?, ([\d.]+) \/ [\d.]+ ms/g)) {
    const kind = match[1] ?? '';
    const ms = Number(match[2]);
    const p = (pauses[kind] ??= { count: 0, totalMs: 0, maxMs: 0 });
    p.count += 1;
    p.totalMs += ms;
    p.maxMs = Math.max(p.maxMs, ms);
  }
  return pauses;
}

const nginx = await nginxBesideRunningCluster();
ensureOpenLoop(log);
await promisify(execFile)('taskset', ['-a', '-p', '-c', '0', String(process.pid)]);
const unsidelineCluster = await sidelineCluster(0);
const upstream = await startNginxUpstream(nginx, await freePort(), { cpu: 0 });
const running: { current: Running | null } = { current: null };
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => { running.current?.stop(); upstream.stop(); removeWorkFiles(); void unsidelineCluster().finally(() => process.exit(130)); });
}
const results = new Map<string, Measured[][]>(variants.map((v) => [v.name, rates.map(() => [])]));
// The --trace-gc logs stay there, for a closer look.
const work = join(root, '.cache', 'tail-bench');
mkdirSync(work, { recursive: true });
try {
  for (let round = 1; round <= rounds; round++) {
    for (const variant of variants) {
      const [port, admin] = [await freePort(), await freePort()];
      const gcLog = join(work, `gc-${port}.log`);
      const env = { NODE_OPTIONS: variant.nodeOptions, NODE_ENV: 'production' };
      let target: Running;
      if (variant.floor) {
        target = await start('minimal', process.execPath, ['--trace-gc', join(root, 'bench/minimal-proxy.ts'), String(port), upstream.url], port, { cpu: 1, env, stdoutFile: gcLog });
      } else {
        const cassandra = { contact_points: ['127.0.0.1'], ...adminCredentials(), ...(variant.probeMs ? { probe: { interval_ms: variant.probeMs, storage_interval_ms: variant.probeMs } } : {}) };
        const config = writeSidecarConfig(port, admin, upstream, cassandra, {
          service: { ...(variant.observeMs ? { observe_interval_ms: variant.observeMs } : {}), ...(variant.healthMs ? { health_check: { interval_ms: variant.healthMs } } : {}) },
          ...(variant.reconcileMs ? { reconcile: { interval_ms: variant.reconcileMs } } : {}),
        });
        target = await start('sidecar', process.execPath, ['--trace-gc', join(root, 'dist/cli.js'), '--config', config], port, { cpu: 1, env, stdoutFile: gcLog });
      }
      running.current = target;
      try {
        await sleep(5000); // start-up, first probes and first look at the service
        for (const [k, rate] of rates.entries()) {
          if (!variant.floor) await eventLoopStallMaxMs(`http://127.0.0.1:${admin}`); // resets the maximum
          const from = readFileSync(gcLog, 'utf8').length;
          const measured = await openLoop(target.url, rate, seconds, 0);
          const stallMaxMs = variant.floor ? NaN : await eventLoopStallMaxMs(`http://127.0.0.1:${admin}`);
          results.get(variant.name)?.[k]?.push({ p50Us: measured.p50Us, p99Us: measured.p99Us, p999Us: measured.p999Us, stallMaxMs, gc: gcPauses(gcLog, from) });
          log(`round ${round}: ${variant.name} at ${rate}/s: p99 ${measured.p99Us} µs, p99.9 ${measured.p999Us} µs`);
        }
      } finally {
        target.stop();
      }
    }
  }
} finally {
  upstream.stop();
  removeWorkFiles();
  await unsidelineCluster();
}

const cell = (values: number[]): string => { const s = summary(values); return Number.isNaN(s.median) ? '–' : s.min === s.max ? String(s.median) : `${s.median} (${s.min}–${s.max})`; };
const gcCell = (runs: Measured[]): string => {
  const kinds = [...new Set(runs.flatMap((r) => Object.keys(r.gc)))].sort();
  return kinds.map((kind) => {
    const of = (f: (p: GcPauses) => number): number => summary(runs.map((r) => (r.gc[kind] ? f(r.gc[kind]) : 0))).median;
    return `${kind}: ${of((p) => p.count)}× Σ${of((p) => Math.round(p.totalMs * 10) / 10)} ms, max ${of((p) => Math.round(p.maxMs * 100) / 100)} ms`;
  }).join('; ') || 'none';
};
console.log(`Where the tail comes from (open loop, ${seconds} s per rate, median of ${rounds} rounds and min–max; latency in µs from each request's intended start; NODE_OPTIONS of the image: \`${imageFlags}\`):\n`);
for (const [k, rate] of rates.entries()) {
  console.log(`At ${rate} requests/s:\n`);
  console.log('| variant | p50 | p99 | p99.9 | longest event-loop stall ms | GC pauses (count, sum, largest; per phase) |\n|---|---:|---:|---:|---:|---|');
  for (const variant of variants) {
    const runs = results.get(variant.name)?.[k] ?? [];
    console.log(`| ${variant.name} | ${cell(runs.map((r) => r.p50Us))} | ${cell(runs.map((r) => r.p99Us))} | ${cell(runs.map((r) => r.p999Us))} | ${cell(runs.map((r) => r.stallMaxMs))} | ${gcCell(runs)} |`);
  }
  console.log('');
}
