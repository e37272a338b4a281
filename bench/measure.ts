// The bench's instruments: wrk and autocannon for load, /proc for CPU and memory,
// the sidecar's own /metrics for its event loop.
import autocannon from 'autocannon';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { request } from 'undici';

const ticksPerSecond = 100; // Linux USER_HZ
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

export interface AutocannonResult { requestsPerSecond: number; p50Ms: number; p99Ms: number; errors: number; requests: number }

/** autocannon, in this (pinned) process: at saturation, or at a fixed overall rate. */
export async function autocannonRun(url: string, options: { connections: number; seconds: number; overallRate?: number }): Promise<AutocannonResult> {
  const latencies: number[] = [];
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon({ url: url + path, connections: options.connections, duration: options.seconds, ...(options.overallRate ? { overallRate: options.overallRate } : {}) },
      (error: Error | null, done) => { if (error) reject(error); else resolve(done); });
    // autocannon's own histogram has whole-millisecond resolution; keep every latency instead.
    instance.on('response', (_client, _status, _bytes, responseTimeMs) => latencies.push(responseTimeMs));
  });
  latencies.sort((a, b) => a - b);
  const at = (p: number): number => Math.round((latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN) * 1000) / 1000;
  return {
    requestsPerSecond: Math.round(result.requests.total / options.seconds),
    p50Ms: at(50), p99Ms: at(99),
    errors: result.errors + result.non2xx + result.timeouts,
    requests: result.requests.total,
  };
}

/** The largest event-loop delay the sidecar saw since the last scrape (prom-client resets it on each). */
export async function eventLoopLagMaxMs(adminUrl: string): Promise<number> {
  const text = await (await request(`${adminUrl}/metrics`)).body.text();
  return Math.round(Number(/^sessionstore_sidecar_nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(text)?.[1] ?? NaN) * 10000) / 10;
}

/** Median and spread (min–max) of repeated measurements. */
export function summary(values: number[]): { median: number; min: number; max: number } {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length === 0 ? NaN : sorted.length % 2 === 1 ? (sorted[mid] ?? NaN) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
  return { median: Math.round(median * 1000) / 1000, min: sorted[0] ?? NaN, max: sorted.at(-1) ?? NaN };
}
