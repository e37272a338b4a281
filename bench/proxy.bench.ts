// npm run bench: the sidecar's hop measured beside the alternatives, in one run, on
// the real cluster (the sidecar probes it as in production).
//   targets: direct (the upstream itself), the sidecar (the production build, with the
//   image's NODE_OPTIONS), a minimal Node proxy of the same shape (the floor for Node:
//   bench/minimal-proxy.ts) and nginx (one worker).
//   pinning: every proxy alone on CPU 1; the upstream, the load generators and the
//   cluster's JVMs on CPU 0, the JVMs idle-scheduled (given back afterwards).
//   per target, BENCH_ROUNDS rounds (default 3), interleaved: the sequential per-hop
//   round trip (wrk, 1 connection), saturation (wrk, 64 connections), and each of
//   BENCH_RATES (default 1000,3000 requests/s) open loop (bench/open-loop: every request
//   sent at its intended time, timed from it) for p50/p99/p99.9 and CPU per request.
//   memory (the sidecar): idle, steady at 1,000/s, and the peak after saturation.
//   start-up: the production build against running src/ through type stripping.
// BENCH_SECONDS sets each load phase (default 10), BENCH_MEMORY_SECONDS the idle and
// steady phases (default 60). Results: bench/results/proxy.md and proxy.json.
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { adminCredentials, status as clusterStatus, up as clusterUp } from '../lab/cluster/cluster.ts';
import { dockerfileEnv } from '../lab/dockerfile.ts';
import { freePort } from '../lab/net.ts';
import { findProgram, removeWorkFiles, start, startNginxProxy, startNginxUpstream, writeSidecarConfig, type Running } from '../lab/reference-proxies.ts';
import { cpuSeconds, ensureOpenLoop, eventLoopStallMaxMs, memoryMb, openLoop, openLoopWarmupSeconds, sidelineCluster, summary, wrk, type OpenLoopResult } from './measure.ts';

const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const memorySeconds = Number(process.env.BENCH_MEMORY_SECONDS ?? 60);
const rates = (process.env.BENCH_RATES ?? '1000,3000').split(',').map(Number);
const root = join(import.meta.dirname, '..');
const nodeOptions = dockerfileEnv('NODE_OPTIONS');
// cpus(), not availableParallelism(): the latter counts only the CPUs this process may use, and the bench pins itself.
const pinned = cpus().length >= 2;
const [loadCpu, proxyCpu] = [0, 1];
const log = (line: string): void => { console.error(`# ${line}`); };

interface AtRate extends OpenLoopResult { cpuPer1000: number | null }
interface Round { seqP50Us: number; wrkRps: number; atRate: AtRate[]; errors: number }
type Target = Running & { measured: boolean };

/** One open-loop phase, with the target's CPU per 1,000 requests over it (warm-up included, on both sides). */
async function atRate(target: Target, rate: number, phaseSeconds: number): Promise<AtRate> {
  const cpuBefore = target.measured ? cpuSeconds(target.pid) : 0;
  const result = await openLoop(target.url, rate, phaseSeconds, loadCpu);
  const requests = rate * (phaseSeconds + openLoopWarmupSeconds);
  return { ...result, cpuPer1000: target.measured ? Math.round(((cpuSeconds(target.pid) - cpuBefore) / requests) * 1000 * 1000) / 1000 : null };
}

async function roundOf(target: Target): Promise<Round> {
  const seq = await wrk(target.url, 1, seconds, loadCpu);
  const saturated = await wrk(target.url, 64, seconds, loadCpu);
  const phases: AtRate[] = [];
  for (const rate of rates) phases.push(await atRate(target, rate, seconds));
  return { seqP50Us: seq.p50Us, wrkRps: saturated.requestsPerSecond, atRate: phases, errors: seq.errors + saturated.errors + phases.reduce((n, p) => n + p.failed, 0) };
}

/** The sidecar alone: idle, then 1,000 requests/s, each for memorySeconds. */
async function memoryPhases(sidecar: Target, adminUrl: string): Promise<Record<string, number>> {
  log(`sidecar idle for ${memorySeconds} s (its probes and observers only)`);
  await eventLoopStallMaxMs(adminUrl);
  const idleCpu = cpuSeconds(sidecar.pid);
  await sleep(memorySeconds * 1000);
  const idleMs = ((cpuSeconds(sidecar.pid) - idleCpu) / memorySeconds) * 1000;
  const idle = memoryMb(sidecar.pid);
  const idleStall = await eventLoopStallMaxMs(adminUrl);
  log(`sidecar at 1,000 requests/s for ${memorySeconds} s`);
  let steadyMax = 0;
  const sampler = setInterval(() => { steadyMax = Math.max(steadyMax, memoryMb(sidecar.pid).rss); }, 1000);
  const steadyRun = await atRate(sidecar, 1000, memorySeconds);
  clearInterval(sampler);
  const steady = memoryMb(sidecar.pid);
  return {
    idleCpuMsPerS: Math.round(idleMs * 10) / 10, idleRssMb: idle.rss, idleAnonMb: idle.anon, idleStallMaxMs: idleStall,
    steadyRssMb: steady.rss, steadyMaxRssMb: Math.max(steadyMax, steady.rss), steadyAnonMb: steady.anon,
    steadyCpuPer1000: steadyRun.cpuPer1000 ?? NaN, steadyStallMaxMs: await eventLoopStallMaxMs(adminUrl), steadyP99Us: steadyRun.p99Us,
  };
}

/** Time until the sidecar's admin port answers /healthz (it is serving), and its memory 5 s later: the build against type stripping. */
async function startup(entry: string, cassandra: Record<string, unknown>, upstream: Running): Promise<{ startedMs: number; rssMb: number }> {
  const admin = await freePort();
  const config = writeSidecarConfig(await freePort(), admin, upstream, cassandra);
  const began = performance.now();
  const child = spawn(process.execPath, [join(root, entry), '--config', config], { env: { ...process.env, NODE_OPTIONS: nodeOptions, NODE_ENV: 'production' }, stdio: ['ignore', 'ignore', 'inherit'] });
  let startedMs = NaN;
  for (let i = 0; i < 1000 && Number.isNaN(startedMs); i++) {
    if (await fetch(`http://127.0.0.1:${admin}/healthz`).then((r) => r.ok, () => false)) startedMs = performance.now() - began;
    else await sleep(10);
  }
  await sleep(5000);
  const { rss } = memoryMb(child.pid ?? 0);
  child.kill('SIGKILL');
  return { startedMs: Math.round(startedMs), rssMb: rss };
}

const nginx = findProgram('nginx');
const missing = [nginx ? null : 'nginx-light', findProgram('wrk') ? null : 'wrk'].filter(Boolean);
if (missing.length > 0) {
  console.error(`missing: ${missing.join(', ')}; install with: apt-get install -y ${missing.join(' ')}`);
  process.exit(2);
}
if (!pinned) log('fewer than 2 CPUs: nothing is pinned, and the numbers mean less');

const running: Running[] = [];
let unsidelineCluster = async (): Promise<void> => {};
const stopAll = async (): Promise<void> => { for (const p of running) p.stop(); removeWorkFiles(); await unsidelineCluster(); };
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => { void stopAll().finally(() => process.exit(130)); });
try {
  ensureOpenLoop(log);
  if (!(await clusterStatus()).every((n) => n.answersCql)) {
    log('starting the local Cassandra cluster (the sidecar probes it, as in production)');
    await clusterUp((line) => { log(`[cluster] ${line}`); });
  }
  // From here on, CPU 1 holds the proxy under test and nothing else: this process, the upstream, wrk, the
  // open-loop generator and the cluster's JVMs (idle-scheduled; mostly idle anyway: the sidecar's probes) share CPU 0.
  if (pinned) {
    await promisify(execFile)('taskset', ['-a', '-p', '-c', String(loadCpu), String(process.pid)]);
    unsidelineCluster = await sidelineCluster(loadCpu);
  }
  log('npm run build: the production JavaScript the image runs');
  await new Promise<void>((resolve, reject) => {
    spawn(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' })
      .on('exit', (code) => { if (code === 0) resolve(); else reject(new Error(`tsc exited ${code}`)); });
  });
  const cassandra = { contact_points: ['127.0.0.1'], ...adminCredentials() };
  const cpu = (n: number): { cpu?: number } => (pinned ? { cpu: n } : {});
  const ports = { upstream: await freePort(), sidecar: await freePort(), admin: await freePort(), minimal: await freePort(), nginx: await freePort() };
  const upstream = await startNginxUpstream(nginx ?? '', ports.upstream, cpu(loadCpu));
  running.push(upstream);
  const env = { NODE_OPTIONS: nodeOptions, NODE_ENV: 'production' };
  const sidecar = await start('sidecar', process.execPath, [join(root, 'dist/cli.js'), '--config', writeSidecarConfig(ports.sidecar, ports.admin, upstream, cassandra)], ports.sidecar, { ...cpu(proxyCpu), env });
  running.push(sidecar);
  const adminUrl = `http://127.0.0.1:${ports.admin}`;
  await sleep(5000); // its first probes, its first look at the service
  const memory = await memoryPhases({ ...sidecar, measured: true }, adminUrl);

  const minimal = await start('node minimal proxy', process.execPath, [join(root, 'bench/minimal-proxy.ts'), String(ports.minimal), upstream.url], ports.minimal, { ...cpu(proxyCpu), env });
  const nginxProxy = await startNginxProxy(nginx ?? '', ports.nginx, ports.upstream, '', cpu(proxyCpu));
  running.push(minimal, nginxProxy);
  const targets: Target[] = [
    { ...upstream, name: 'direct', measured: false }, { ...sidecar, measured: true }, { ...minimal, measured: true }, { ...nginxProxy, measured: true },
  ];
  const results = new Map<string, Round[]>(targets.map((t) => [t.name, []]));
  for (let r = 1; r <= rounds; r++) {
    for (const target of targets) {
      log(`round ${r}/${rounds}: ${target.name} (sequential and saturation with wrk, then open loop at ${rates.join(', ')}/s; ${seconds} s each)`);
      results.get(target.name)?.push(await roundOf(target));
    }
  }
  const peaks = Object.fromEntries(targets.filter((t) => t.measured).map((t) => [t.name, memoryMb(t.pid).peak]));
  log('start-up: the production build against src/ through type stripping, 3 times each');
  const starts: Record<string, { startedMs: number; rssMb: number }[]> = { 'dist/cli.js': [], 'src/cli.ts': [] };
  for (let i = 0; i < 3; i++) for (const entry of Object.keys(starts)) starts[entry]?.push(await startup(entry, cassandra, upstream));

  const report = render(results, peaks, memory, starts);
  console.log(report);
  const dir = join(import.meta.dirname, 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'proxy.md'), report);
  writeFileSync(join(dir, 'proxy.json'), JSON.stringify({ seconds, rounds, rates, memorySeconds, nodeOptions, pinned, results: Object.fromEntries(results), peaks, memory, starts }, null, 2));
  log('written: bench/results/proxy.md and proxy.json');
} finally {
  await stopAll();
}

function render(results: Map<string, Round[]>, peaks: Record<string, number>, memory: Record<string, number>, starts: Record<string, { startedMs: number; rssMb: number }[]>): string {
  const cell = (values: number[], unit = ''): string => {
    const s = summary(values);
    return Number.isNaN(s.median) ? '–' : s.min === s.max ? `${s.median}${unit}` : `${s.median}${unit} (${s.min}–${s.max})`;
  };
  // Ratios and differences are taken within each round (the same minutes of the same machine), then summarised.
  const rowsOf = (name: string): Round[] => results.get(name) ?? [];
  const direct = rowsOf('direct');
  const floor = rowsOf('node minimal proxy');
  const sidecar = rowsOf('sidecar');
  const phase = (row: Round | undefined, rateIndex: number): AtRate | undefined => row?.atRate[rateIndex];
  const hop = (rows: Round[]): number[] => rows.map((r, i) => r.seqP50Us - (direct[i]?.seqP50Us ?? NaN));
  const hopTable = [...results].map(([name, rows]) => `| ${name} | ${cell(rows.map((r) => r.seqP50Us), ' µs')} | ${name === 'direct' ? '–' : cell(hop(rows), ' µs')} | ` +
    `${cell(rows.map((r) => r.wrkRps))} | ${name === 'direct' ? '–' : cell(rows.map((r, i) => Math.round((r.wrkRps / (floor[i]?.wrkRps ?? NaN)) * 100)), '%')} | ${peaks[name] ?? '–'} | ${rows.reduce((sum, r) => sum + r.errors, 0)} |`);
  const rateTable = (k: number): string[] => [...results].map(([name, rows]) => `| ${name} | ${cell(rows.map((r) => phase(r, k)?.p50Us ?? NaN))} | ${cell(rows.map((r) => phase(r, k)?.p99Us ?? NaN))} | ` +
    `${cell(rows.map((r) => phase(r, k)?.p999Us ?? NaN))} | ${cell(rows.map((r) => phase(r, k)?.maxUs ?? NaN))} | ${name === 'direct' ? '–' : cell(rows.map((r, i) => (phase(r, k)?.p99Us ?? NaN) - (phase(floor[i], k)?.p99Us ?? NaN)))} | ` +
    `${cell(rows.map((r) => phase(r, k)?.cpuPer1000 ?? NaN))} | ${cell(rows.map((r) => phase(r, k)?.dispatchLateP99Us ?? NaN))} |`);
  const medianOf = (values: number[]): number => summary(values).median;
  const rateIndex = (rate: number): number => rates.indexOf(rate);
  const p99Against = (rate: number, f: (own: number, floorP99: number) => number): number => medianOf(sidecar.map((r, i) => f(phase(r, rateIndex(rate))?.p99Us ?? NaN, phase(floor[i], rateIndex(rate))?.p99Us ?? NaN)));
  const cpuRatio = medianOf(sidecar.map((r, i) => (phase(r, 0)?.cpuPer1000 ?? NaN) / (phase(floor[i], 0)?.cpuPer1000 ?? NaN)));
  const saturation = medianOf(sidecar.map((r, i) => r.wrkRps / (floor[i]?.wrkRps ?? NaN)));
  const goals: [boolean, string][] = [
    ...(rateIndex(1000) < 0 ? [] : [[p99Against(1000, (own, f) => own - f) <= 1000, `p99 at 1,000/s within 1 ms of the floor's: ${p99Against(1000, (own, f) => own - f)} µs more`] as [boolean, string]]),
    ...(rateIndex(3000) < 0 ? [] : [[p99Against(3000, (own, f) => own / f) <= 2, `p99 at 3,000/s at most twice the floor's: ${Math.round(p99Against(3000, (own, f) => own / f) * 100) / 100}×`] as [boolean, string]]),
    [cpuRatio <= 1.15, `CPU per request at most 1.15× the floor's (at ${rates[0] ?? '?'}/s): ${Math.round(cpuRatio * 100) / 100}×`],
    [saturation >= 0.9, `saturation at least 90% of the floor's (wrk): ${Math.round(saturation * 100)}%`],
    [(memory.steadyMaxRssMb ?? Infinity) <= 100, `RSS at 1,000/s at most 100 MB: ${memory.steadyMaxRssMb} MB at most (${memory.steadyAnonMb} MB private)`],
    [(memory.idleCpuMsPerS ?? Infinity) <= 5, `idle CPU at most 5 ms/s: ${memory.idleCpuMsPerS} ms/s`],
  ];
  const startRow = (entry: string): string => `| ${entry} | ${cell((starts[entry] ?? []).map((s) => s.startedMs), ' ms')} | ${cell((starts[entry] ?? []).map((s) => s.rssMb), ' MB')} |`;
  return [
    `# Proxy benchmark (${new Date().toISOString()})`,
    '',
    `${rounds} interleaved rounds, ${seconds} s per load phase; ${pinned ? `each proxy alone on CPU ${proxyCpu}; the upstream (nginx), the load generators and the cluster's JVMs on CPU ${loadCpu}` : 'nothing pinned (fewer than 2 CPUs)'}. ` +
    `Median (min–max) over the rounds. The sidecar and the minimal Node proxy (the floor) run with the image's NODE_OPTIONS (${nodeOptions}).`,
    '',
    '| target | sequential p50 | added per hop | saturation req/s (wrk) | vs floor | peak RSS MB | errors |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...hopTable,
    ...rates.flatMap((rate, k) => [
      '',
      `Open loop at ${rate} requests/s (µs from each request's intended start; the generator's own dispatch lateness, p99, in the last column):`,
      '',
      '| target | p50 | p99 | p99.9 | max | p99 − floor\'s | CPU s / 1k req | dispatch late p99 |',
      '|---|---:|---:|---:|---:|---:|---:|---:|',
      ...rateTable(k),
    ]),
    '',
    `The sidecar alone: idle ${memorySeconds} s: ${memory.idleCpuMsPerS} ms CPU per second, RSS ${memory.idleRssMb} MB (${memory.idleAnonMb} MB private), longest event-loop stall ${memory.idleStallMaxMs} ms. ` +
    `At 1,000 requests/s for ${memorySeconds} s: RSS ${memory.steadyRssMb} MB (at most ${memory.steadyMaxRssMb}, ${memory.steadyAnonMb} MB private), ${memory.steadyCpuPer1000} CPU s per 1,000 requests, p99 ${memory.steadyP99Us} µs, longest event-loop stall ${memory.steadyStallMaxMs} ms.`,
    '',
    '| start-up (3 runs) | until /healthz answers | RSS 5 s later |',
    '|---|---:|---:|',
    startRow('dist/cli.js'),
    startRow('src/cli.ts'),
    '',
    ...goals.map(([met, text]) => `- ${met ? 'met' : 'NOT met'}: ${text}`),
    '',
  ].join('\n');
}
