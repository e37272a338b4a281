// npm run bench: the same offered load, in one run, sent directly to a local
// upstream, through the sidecar, and through nginx and HAProxy as plain reverse
// proxies. Saturation throughput; p50/p99 at fixed 1,000 and 5,000 requests/s;
// CPU seconds per 1,000 requests and peak RSS of each proxy process.
// BENCH_SECONDS sets each phase's length (default 10).
import autocannon from 'autocannon';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { findProgram, removeWorkFiles, responseBody, start, startHaproxy, startNginxProxy, startNginxUpstream, writeSidecarConfig, type Running } from '../lab/reference-proxies.ts';

const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const path = '/sessions/v1/bench-key';
const ticksPerSecond = 100; // Linux USER_HZ

interface Phase { requestsPerSecond: number; p50Ms: number; p99Ms: number; errors: number; cpuSecondsPer1000: number | null }
interface Result { target: string; saturation: Phase; at1000: Phase; at5000: Phase; peakRssMb: number | null }

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}

function peakRssMb(pid: number): number {
  const kb = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  return Math.round(kb / 102.4) / 10;
}

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? NaN : (sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN);
}

async function phase(url: string, pid: number | null, options: { connections: number; overallRate?: number; duration: number }): Promise<Phase> {
  const latencies: number[] = [];
  const cpuBefore = pid === null ? 0 : cpuSeconds(pid);
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon({ url: url + path, ...options }, (error: Error | null, done) => { if (error) reject(error); else resolve(done); });
    // autocannon's own histogram has whole-millisecond resolution; keep every latency instead.
    instance.on('response', (_client, _status, _bytes, responseTimeMs) => latencies.push(responseTimeMs));
  });
  const cpu = pid === null ? null : cpuSeconds(pid) - cpuBefore;
  latencies.sort((a, b) => a - b);
  const round = (n: number): number => Math.round(n * 1000) / 1000;
  return {
    requestsPerSecond: Math.round(result.requests.total / options.duration),
    p50Ms: round(percentile(latencies, 50)),
    p99Ms: round(percentile(latencies, 99)),
    errors: result.errors + result.non2xx + result.timeouts,
    cpuSecondsPer1000: cpu === null || result.requests.total === 0 ? null : round((cpu / result.requests.total) * 1000),
  };
}

async function measure(target: Running, measureProcess: boolean): Promise<Result> {
  const pid = measureProcess ? target.pid : null;
  console.error(`# ${target.name}: warm-up, then ${seconds} s at saturation, at 1,000/s and at 5,000/s`);
  await phase(target.url, null, { connections: 32, duration: 2 });
  const saturation = await phase(target.url, pid, { connections: 64, duration: seconds });
  const at1000 = await phase(target.url, pid, { connections: 32, overallRate: 1000, duration: seconds });
  const at5000 = await phase(target.url, pid, { connections: 64, overallRate: 5000, duration: seconds });
  return { target: target.name, saturation, at1000, at5000, peakRssMb: pid === null ? null : peakRssMb(pid) };
}

function table(results: Result[]): string {
  const cell = (n: number | null, unit = ''): string => (n === null || Number.isNaN(n) ? '–' : `${n}${unit}`);
  const rows = results.map((r) =>
    `| ${r.target} | ${cell(r.saturation.requestsPerSecond)} | ${cell(r.at1000.p50Ms)} | ${cell(r.at1000.p99Ms)} | ` +
    `${cell(r.at5000.p50Ms)} | ${cell(r.at5000.p99Ms)} | ${cell(r.at1000.cpuSecondsPer1000)} | ${cell(r.saturation.cpuSecondsPer1000)} | ${cell(r.peakRssMb)} | ` +
    `${r.saturation.errors + r.at1000.errors + r.at5000.errors} |`);
  return [
    '| target | saturation req/s | p50 ms @1k/s | p99 ms @1k/s | p50 ms @5k/s | p99 ms @5k/s | CPU s/1k req @1k/s | CPU s/1k req saturated | peak RSS MB | errors |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows,
  ].join('\n');
}

function verdicts(results: Result[]): string[] {
  const by = (name: string): Result | undefined => results.find((r) => r.target === name);
  const direct = by('direct');
  const sidecar = by('sidecar');
  const nginx = by('nginx');
  if (!direct || !sidecar) return [];
  const lines: string[] = [];
  const check = (ok: boolean, text: string): void => { lines.push(`- ${ok ? 'met' : 'NOT met'}: ${text}`); };
  const added = Math.round((sidecar.at1000.p99Ms - direct.at1000.p99Ms) * 1000) / 1000;
  check(added <= 1, `added p99 at 1,000/s ≤ 1 ms over direct (measured ${added} ms)`);
  if (nginx) {
    const share = Math.round((sidecar.saturation.requestsPerSecond / nginx.saturation.requestsPerSecond) * 100);
    check(share >= 70, `saturation ≥ 70% of nginx's (measured ${share}%)`);
  } else {
    lines.push('- not measured: saturation against nginx (nginx missing)');
  }
  const cpu = sidecar.at1000.cpuSecondsPer1000 ?? Infinity;
  check(cpu <= 0.1, `≤ 0.1 CPU s per 1,000 requests at 1,000/s (measured ${cpu})`);
  check((sidecar.peakRssMb ?? Infinity) <= 80, `peak RSS ≤ 80 MB (measured ${sidecar.peakRssMb} MB)`);
  return lines;
}

const nginx = findProgram('nginx');
const haproxy = findProgram('haproxy');
const missing = [nginx ? null : 'nginx', haproxy ? null : 'haproxy'].filter(Boolean);
if (missing.length > 0) {
  console.error(`# missing: ${missing.join(', ')}; install with: apt-get install -y ${missing.map((m) => (m === 'nginx' ? 'nginx-light' : m)).join(' ')}`);
}

const ports = { upstream: 18081, sidecar: 18080, sidecarAdmin: 19361, nginx: 18082, haproxy: 18083 };
const running: Running[] = [];
try {
  const upstream = nginx
    ? await startNginxUpstream(nginx, ports.upstream)
    : await start('upstream (node)', process.execPath, [join(import.meta.dirname, '../lab/node-upstream.ts'), String(ports.upstream)], ports.upstream);
  running.push(upstream);
  const sidecar = await start('sidecar', process.execPath,
    [join(import.meta.dirname, '../src/cli.ts'), '--config', writeSidecarConfig(ports.sidecar, ports.sidecarAdmin, upstream)], ports.sidecar);
  running.push(sidecar);
  const targets: [Running, boolean][] = [[{ ...upstream, name: 'direct' }, false], [sidecar, true]];
  if (nginx) targets.push([await startNginxProxy(nginx, ports.nginx, ports.upstream), true]);
  if (haproxy) targets.push([await startHaproxy(haproxy, ports.haproxy, ports.upstream), true]);
  running.push(...targets.slice(2).map(([t]) => t));
  await sleep(200);

  const results: Result[] = [];
  for (const [target, measureProcess] of targets) results.push(await measure(target, measureProcess));

  const report = [
    `# Proxy benchmark (${new Date().toISOString()}, ${seconds} s per phase, upstream: ${upstream.name}, ${path}, ${responseBody.length}-byte answers)`,
    '',
    table(results),
    '',
    ...verdicts(results),
    '',
  ].join('\n');
  console.log(report);
  const dir = join(import.meta.dirname, 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'proxy.md'), report);
  writeFileSync(join(dir, 'proxy.json'), JSON.stringify({ seconds, results }, null, 2));
  console.error("# written: bench/results/proxy.md and proxy.json");
} finally {
  for (const process of running) process.stop();
  removeWorkFiles();
}
