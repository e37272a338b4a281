// npm run bench: the sidecar's hop measured beside the alternatives, in one run, on
// the real cluster (the sidecar probes it as in production).
//   targets: direct (the upstream itself), the sidecar (the production build, with the
//   image's NODE_OPTIONS), a minimal Node proxy of the same shape (the floor for Node:
//   bench/minimal-proxy.ts), nginx and HAProxy (one worker each).
//   pinning: every proxy on CPU 1; the upstream and the load generators on CPU 0.
//   per target, BENCH_ROUNDS rounds (default 3), interleaved: the sequential per-hop
//   round trip (wrk, 1 connection), saturation (wrk, 64 connections; autocannon, 64),
//   and 1,000 requests/s (autocannon) for p50/p99 and CPU per 1,000 requests.
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
import { findProgram, removeWorkFiles, start, startHaproxy, startNginxProxy, startNginxUpstream, writeSidecarConfig, type Running } from '../lab/reference-proxies.ts';
import { autocannonRun, cpuSeconds, eventLoopLagMaxMs, memoryMb, summary, wrk } from './measure.ts';

const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const memorySeconds = Number(process.env.BENCH_MEMORY_SECONDS ?? 60);
const root = join(import.meta.dirname, '..');
const nodeOptions = dockerfileEnv('NODE_OPTIONS');
// cpus(), not availableParallelism(): the latter counts only the CPUs this process may use, and the bench pins itself.
const pinned = cpus().length >= 2;
const [loadCpu, proxyCpu] = [0, 1];
const log = (line: string): void => { console.error(`# ${line}`); };

interface Round { seqP50Us: number; wrkRps: number; autocannonRps: number; p50Ms: number; p99Ms: number; cpuPer1000: number | null; errors: number }
type Target = Running & { measured: boolean };

async function roundOf(target: Target): Promise<Round> {
  const seq = await wrk(target.url, 1, seconds, loadCpu);
  const saturated = await wrk(target.url, 64, seconds, loadCpu);
  const cannon = await autocannonRun(target.url, { connections: 64, seconds });
  const cpuBefore = target.measured ? cpuSeconds(target.pid) : 0;
  const steady = await autocannonRun(target.url, { connections: 32, seconds, overallRate: 1000 });
  const cpu = target.measured ? cpuSeconds(target.pid) - cpuBefore : null;
  return {
    seqP50Us: seq.p50Us, wrkRps: saturated.requestsPerSecond, autocannonRps: cannon.requestsPerSecond,
    p50Ms: steady.p50Ms, p99Ms: steady.p99Ms,
    cpuPer1000: cpu === null ? null : Math.round((cpu / steady.requests) * 1000 * 1000) / 1000,
    errors: seq.errors + saturated.errors + cannon.errors + steady.errors,
  };
}

/** The sidecar alone: idle, then 1,000 requests/s, each for memorySeconds. */
async function memoryPhases(sidecar: Target, adminUrl: string): Promise<Record<string, number>> {
  log(`sidecar idle for ${memorySeconds} s (its probes and observers only)`);
  await eventLoopLagMaxMs(adminUrl);
  const idleCpu = cpuSeconds(sidecar.pid);
  await sleep(memorySeconds * 1000);
  const idleMs = ((cpuSeconds(sidecar.pid) - idleCpu) / memorySeconds) * 1000;
  const idle = memoryMb(sidecar.pid);
  const idleLag = await eventLoopLagMaxMs(adminUrl);
  log(`sidecar at 1,000 requests/s for ${memorySeconds} s`);
  let steadyMax = 0;
  const sampler = setInterval(() => { steadyMax = Math.max(steadyMax, memoryMb(sidecar.pid).rss); }, 1000);
  const steadyCpu = cpuSeconds(sidecar.pid);
  const steadyRun = await autocannonRun(sidecar.url, { connections: 32, seconds: memorySeconds, overallRate: 1000 });
  clearInterval(sampler);
  const steady = memoryMb(sidecar.pid);
  return {
    idleCpuMsPerS: Math.round(idleMs * 10) / 10, idleRssMb: idle.rss, idleAnonMb: idle.anon, idleLagMaxMs: idleLag,
    steadyRssMb: steady.rss, steadyMaxRssMb: Math.max(steadyMax, steady.rss), steadyAnonMb: steady.anon,
    steadyCpuPer1000: Math.round(((cpuSeconds(sidecar.pid) - steadyCpu) / steadyRun.requests) * 1000 * 1000) / 1000,
    steadyLagMaxMs: await eventLoopLagMaxMs(adminUrl), steadyP99Ms: steadyRun.p99Ms,
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
const haproxy = findProgram('haproxy');
const missing = [nginx ? null : 'nginx-light', haproxy ? null : 'haproxy', findProgram('wrk') ? null : 'wrk'].filter(Boolean);
if (missing.length > 0) {
  console.error(`missing: ${missing.join(', ')}; install with: apt-get install -y ${missing.join(' ')}`);
  process.exit(2);
}
if (!pinned) log('fewer than 2 CPUs: nothing is pinned, and the numbers mean less');

const running: Running[] = [];
const stopAll = (): void => { for (const p of running) p.stop(); removeWorkFiles(); };
process.once('SIGINT', () => { stopAll(); process.exit(130); });
try {
  if (!(await clusterStatus()).every((n) => n.answersCql)) {
    log('starting the local Cassandra cluster (the sidecar probes it, as in production)');
    await clusterUp((line) => { log(`[cluster] ${line}`); });
  }
  // From here on, this process (autocannon) shares CPU 0 with the upstream and wrk; the cluster's JVMs stay unpinned.
  if (pinned) await promisify(execFile)('taskset', ['-a', '-p', '-c', String(loadCpu), String(process.pid)]);
  log('npm run build: the production JavaScript the image runs');
  await new Promise<void>((resolve, reject) => {
    spawn(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' })
      .on('exit', (code) => { if (code === 0) resolve(); else reject(new Error(`tsc exited ${code}`)); });
  });
  const cassandra = { contact_points: ['127.0.0.1'], ...adminCredentials() };
  const cpu = (n: number): { cpu?: number } => (pinned ? { cpu: n } : {});
  const ports = { upstream: await freePort(), sidecar: await freePort(), admin: await freePort(), minimal: await freePort(), nginx: await freePort(), haproxy: await freePort() };
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
  const haproxyProxy = await startHaproxy(haproxy ?? '', ports.haproxy, ports.upstream, cpu(proxyCpu));
  running.push(minimal, nginxProxy, haproxyProxy);
  const targets: Target[] = [
    { ...upstream, name: 'direct', measured: false }, { ...sidecar, measured: true }, { ...minimal, measured: true },
    { ...nginxProxy, measured: true }, { ...haproxyProxy, measured: true },
  ];
  const results = new Map<string, Round[]>(targets.map((t) => [t.name, []]));
  for (let r = 1; r <= rounds; r++) {
    for (const target of targets) {
      log(`round ${r}/${rounds}: ${target.name} (sequential, saturation with wrk and autocannon, 1,000/s; ${seconds} s each)`);
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
  writeFileSync(join(dir, 'proxy.json'), JSON.stringify({ seconds, rounds, memorySeconds, nodeOptions, pinned, results: Object.fromEntries(results), peaks, memory, starts }, null, 2));
  log('written: bench/results/proxy.md and proxy.json');
} finally {
  stopAll();
}

function render(results: Map<string, Round[]>, peaks: Record<string, number>, memory: Record<string, number>, starts: Record<string, { startedMs: number; rssMb: number }[]>): string {
  const direct = results.get('direct') ?? [];
  const nginxRounds = results.get('nginx') ?? [];
  const cell = (values: number[], unit = ''): string => {
    const s = summary(values);
    return Number.isNaN(s.median) ? '–' : s.min === s.max ? `${s.median}${unit}` : `${s.median}${unit} (${s.min}–${s.max})`;
  };
  // Ratios and added latencies are taken within each round, then summarised.
  const perRound = (rows: Round[], f: (row: Round, i: number) => number): number[] => rows.map(f);
  const lines = [...results].map(([name, rows]) => `| ${name} | ${cell(perRound(rows, (r) => r.seqP50Us), ' µs')} | ${name === 'direct' ? '–' : cell(perRound(rows, (r, i) => r.seqP50Us - (direct[i]?.seqP50Us ?? NaN)), ' µs')} | ` +
    `${cell(perRound(rows, (r) => r.wrkRps))} | ${name === 'direct' ? '–' : cell(perRound(rows, (r, i) => Math.round((r.wrkRps / (nginxRounds[i]?.wrkRps ?? NaN)) * 100)), '%')} | ${cell(perRound(rows, (r) => r.autocannonRps))} | ` +
    `${cell(perRound(rows, (r) => r.p50Ms))} | ${cell(perRound(rows, (r) => r.p99Ms))} | ${name === 'direct' ? '–' : cell(perRound(rows, (r, i) => Math.round((r.p99Ms - (direct[i]?.p99Ms ?? NaN)) * 1000) / 1000))} | ` +
    `${cell(perRound(rows, (r) => r.cpuPer1000 ?? NaN))} | ${peaks[name] ?? '–'} | ${rows.reduce((sum, r) => sum + r.errors, 0)} |`);
  const sidecar = results.get('sidecar') ?? [];
  const medianOf = (f: (row: Round, i: number) => number, rows = sidecar): number => summary(rows.map(f)).median;
  const goals: [boolean, string][] = [
    [medianOf((r, i) => r.wrkRps / (nginxRounds[i]?.wrkRps ?? NaN)) >= 0.7, `saturation ≥ 70% of nginx (wrk): ${Math.round(medianOf((r, i) => r.wrkRps / (nginxRounds[i]?.wrkRps ?? NaN)) * 100)}%; the Node floor (minimal proxy): ${Math.round(medianOf((r, i) => r.wrkRps / (nginxRounds[i]?.wrkRps ?? NaN), results.get('node minimal proxy') ?? []) * 100)}%`],
    [medianOf((r, i) => r.p99Ms - (direct[i]?.p99Ms ?? NaN)) <= 1, `added p99 at 1,000/s ≤ 1 ms: ${medianOf((r, i) => r.p99Ms - (direct[i]?.p99Ms ?? NaN))} ms`],
    [medianOf((r, i) => r.seqP50Us - (direct[i]?.seqP50Us ?? NaN)) <= 2 * medianOf((r, i) => r.seqP50Us - (direct[i]?.seqP50Us ?? NaN), nginxRounds), `added sequential per-hop ≤ 2× nginx's: ${medianOf((r, i) => r.seqP50Us - (direct[i]?.seqP50Us ?? NaN))} µs against ${medianOf((r, i) => r.seqP50Us - (direct[i]?.seqP50Us ?? NaN), nginxRounds)} µs`],
    [medianOf((r) => r.cpuPer1000 ?? NaN) <= 0.05, `CPU ≤ 0.05 s per 1,000 requests at 1,000/s: ${medianOf((r) => r.cpuPer1000 ?? NaN)} s`],
    [(memory.idleCpuMsPerS ?? Infinity) <= 5, `idle CPU ≤ 5 ms/s: ${memory.idleCpuMsPerS} ms/s`],
    [(memory.idleRssMb ?? Infinity) <= 80, `idle RSS ≤ 80 MB: ${memory.idleRssMb} MB (${memory.idleAnonMb} MB private; the rest is the node binary's pages)`],
    [(memory.steadyMaxRssMb ?? Infinity) <= 96, `RSS at 1,000/s ≤ 96 MB: ${memory.steadyMaxRssMb} MB at most (${memory.steadyAnonMb} MB private)`],
    [(peaks.sidecar ?? Infinity) <= 160, `peak RSS at saturation ≤ 160 MB: ${peaks.sidecar} MB`],
  ];
  const startRow = (entry: string): string => `| ${entry} | ${cell((starts[entry] ?? []).map((s) => s.startedMs), ' ms')} | ${cell((starts[entry] ?? []).map((s) => s.rssMb), ' MB')} |`;
  return [
    `# Proxy benchmark (${new Date().toISOString()})`,
    '',
    `${rounds} interleaved rounds, ${seconds} s per load phase; ${pinned ? `proxies pinned to CPU ${proxyCpu}, upstream (nginx) and load generators to CPU ${loadCpu}` : 'nothing pinned (fewer than 2 CPUs)'}. ` +
    `Median (min–max) over the rounds. The sidecar and the minimal Node proxy run with the image's NODE_OPTIONS (${nodeOptions}).`,
    '',
    '| target | sequential p50 | added per hop | saturation req/s (wrk) | vs nginx | saturation req/s (autocannon) | p50 ms @1k/s | p99 ms @1k/s | added p99 @1k/s | CPU s / 1k req @1k/s | peak RSS MB | errors |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...lines,
    '',
    `The sidecar alone: idle ${memorySeconds} s: ${memory.idleCpuMsPerS} ms CPU per second, RSS ${memory.idleRssMb} MB (${memory.idleAnonMb} MB private), event-loop lag max ${memory.idleLagMaxMs} ms. ` +
    `At 1,000 requests/s for ${memorySeconds} s: RSS ${memory.steadyRssMb} MB (at most ${memory.steadyMaxRssMb}, ${memory.steadyAnonMb} MB private), ${memory.steadyCpuPer1000} CPU s per 1,000 requests, p99 ${memory.steadyP99Ms} ms, event-loop lag max ${memory.steadyLagMaxMs} ms.`,
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
