// The bench's instruments: wrk for the hop and saturation, the open-loop generator
// (bench/open-loop) for latency at fixed rates, /proc for CPU and memory, the sidecar's
// own /metrics for its event loop.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { request } from 'undici';
import { status as clusterStatus } from '../lab/cluster/cluster.ts';
import { paths } from '../lab/cluster/layout.ts';
import { ensureGoProgram } from '../lab/go-program.ts';
import { findProgram } from '../lab/reference-proxies.ts';
import { eventLoopSamplingMs } from '../src/telemetry/metrics.ts';

const ticksPerSecond = 100; // Linux USER_HZ
const cpuCount = (): number => cpus().length;
export const path = '/sessions/v1/bench-key';

/** User plus system CPU seconds of a process so far. */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}

/** A process's memory now, in MB: all resident pages, the private (anonymous) ones, and the peak. */
export function memoryMb(pid: number): { rss: number; anon: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN);
  const mb = (n: number): number => Math.round(n / 102.4) / 10;
  return { rss: mb(kb('VmRSS')), anon: mb(kb('RssAnon')), peak: mb(kb('VmHWM')) };
}

export interface WrkResult { requestsPerSecond: number; p50Us: number; p99Us: number; errors: number }

const microseconds = (text: string): number => {
  const match = /([\d.]+)(us|ms|s)/.exec(text);
  if (!match) return NaN;
  return Number(match[1]) * (match[2] === 'us' ? 1 : match[2] === 'ms' ? 1000 : 1e6);
};

/** wrk (C, one thread, pinned to `cpu`): it costs far less CPU than what it loads. */
export async function wrk(url: string, connections: number, seconds: number, cpu: number): Promise<WrkResult> {
  const { stdout } = await promisify(execFile)('taskset', ['-c', String(cpu), 'wrk', '-t1', `-c${connections}`, `-d${seconds}s`, '--latency', url + path]);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout)?.slice(1) ?? [];
  const errors = Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0) + socketErrors.reduce((sum, n) => sum + Number(n), 0);
  return {
    requestsPerSecond: Math.round(Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? NaN)),
    p50Us: microseconds(/\s50%\s+(\S+)/.exec(stdout)?.[1] ?? ''),
    p99Us: microseconds(/\s99%\s+(\S+)/.exec(stdout)?.[1] ?? ''),
    errors,
  };
}

export interface OpenLoopResult { rate: number; sent: number; failed: number; p50Us: number; p99Us: number; p999Us: number; maxUs: number; dispatchLateP99Us: number }

const openLoopProgram = {
  name: 'the open-loop load generator', sources: join(import.meta.dirname, 'open-loop'), binary: join(paths.cache, 'open-loop', 'open-loop'),
  libraries: { 'golang-github-codahale-hdrhistogram-dev': 'github.com/codahale/hdrhistogram' },
};

/** Builds the open-loop generator (bench/open-loop, Go) if needed; returns its binary. */
export const ensureOpenLoop = (log: (line: string) => void): string => ensureGoProgram(openLoopProgram, log);

/** The open-loop generator's warm-up at the phase's rate, before it measures. */
export const openLoopWarmupSeconds = 2;

/**
 * A fixed rate for `seconds` (after the warm-up at the same rate), every request sent at
 * its intended time and timed from it (bench/open-loop), the generator alone on `cpu`.
 */
export async function openLoop(url: string, rate: number, seconds: number, cpu: number): Promise<OpenLoopResult> {
  const { stdout } = await promisify(execFile)('taskset', ['-c', String(cpu), openLoopProgram.binary, '-url', url + path, '-rate', String(rate), '-seconds', String(seconds), '-warmup', String(openLoopWarmupSeconds)], { env: { ...process.env, GOMAXPROCS: '1' } });
  const out = JSON.parse(stdout) as Record<string, number>;
  const n = (key: string): number => out[key] ?? NaN;
  return { rate, sent: n('sent'), failed: n('failed'), p50Us: n('p50_us'), p99Us: n('p99_us'), p999Us: n('p999_us'), maxUs: n('max_us'), dispatchLateP99Us: n('dispatch_late_p99_us') };
}

/**
 * The sidecar's longest event-loop stall since the last scrape (prom-client resets its
 * maximum on each): the lag maximum less the sampling interval it includes.
 */
export async function eventLoopStallMaxMs(adminUrl: string): Promise<number> {
  const text = await (await request(`${adminUrl}/metrics`)).body.text();
  const lagMaxMs = Number(/^sessionstore_sidecar_nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(text)?.[1] ?? NaN) * 1000;
  return Math.round(Math.max(0, lagMaxMs - eventLoopSamplingMs) * 10) / 10;
}

/**
 * Keeps the cluster's JVMs off the proxy's core and out of the way on the other: every
 * thread pinned to `cpu` (taskset -a) and scheduled SCHED_IDLE (chrt -i), so that the
 * load generator and the upstream preempt them at once. Measured on the floor at 1,000/s:
 * p99 4.6-4.8 ms with the JVMs idle-scheduled, 5.2-20.9 ms without. Returns how to give
 * them back every CPU and the normal policy.
 */
export async function sidelineCluster(cpu: number): Promise<() => Promise<void>> {
  const pids = (await clusterStatus()).flatMap((node) => (node.pid === null ? [] : [String(node.pid)]));
  const run = promisify(execFile);
  for (const pid of pids) {
    await run('taskset', ['-a', '-p', '-c', String(cpu), pid]);
    await run('chrt', ['-a', '-i', '-p', '0', pid]);
  }
  return async () => {
    for (const pid of pids) {
      await run('chrt', ['-a', '-o', '-p', '0', pid]).catch(() => undefined);
      await run('taskset', ['-a', '-p', '-c', `0-${cpuCount() - 1}`, pid]).catch(() => undefined);
    }
  };
}

/** nginx's path and the cluster answering CQL, as the benches that do not start it need; else it says what to do and exits. */
export async function nginxBesideRunningCluster(): Promise<string> {
  const nginx = findProgram('nginx');
  if (!nginx) {
    console.error('missing: nginx-light; install with: apt-get install -y nginx-light');
    process.exit(2);
  }
  if (!(await clusterStatus()).every((node) => node.answersCql)) {
    console.error('the cluster is not up: npm run cluster -- up');
    process.exit(2);
  }
  return nginx;
}

/** Median and spread (min–max) of repeated measurements. */
export function summary(values: number[]): { median: number; min: number; max: number } {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length === 0 ? NaN : sorted.length % 2 === 1 ? (sorted[mid] ?? NaN) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
  return { median: Math.round(median * 1000) / 1000, min: sorted[0] ?? NaN, max: sorted.at(-1) ?? NaN };
}
