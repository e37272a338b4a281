// MediaWiki-like session traffic at a steady rate: new sessions written (POST), read
// back (GET), and ended (DELETE), with values of a few hundred bytes to a few KB.
// Open loop: requests go out on schedule whether or not earlier ones have answered,
// as a fleet of PHP workers does. Every answer is kept per second, so that the demo
// can chart it and tests can bound it; every acknowledged write is remembered, so that
// it can be read back from Cassandra afterwards.
import { randomBytes, randomInt } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { sidecarProblemType } from '../src/proxy/problem.ts';
import type { Cleanup } from './cleanup.ts';

export type Operation = 'POST' | 'GET' | 'DELETE';

export interface TrafficOptions {
  perSecond: number;
  /** Shares of each operation; GET and DELETE fall back to POST until a session exists. */
  mix?: Partial<Record<Operation, number>>;
}

export interface SecondOfTraffic {
  /** Epoch second. */
  second: number;
  ok: number;
  failed: number;
}

export interface TrafficResult {
  sent: number;
  ok: number;
  failed: number;
  /** Failures by operation and by what the client saw (a status, or the error). */
  failures: Record<string, number>;
  /** Sessions written and acknowledged, and not deleted since: they must read back. */
  acked: Map<string, Buffer>;
  firstFailureAt: number | null;
  lastFailureAt: number | null;
  /** Each failure with when it was seen (the first 10,000). */
  failureLog: { at: number; what: string }[];
  perSecond: SecondOfTraffic[];
}

export interface Traffic {
  /** What the traffic saw so far. */
  snapshot(): TrafficResult;
  /** Stops sending, waits for the answers still due, and returns what it saw. */
  stop(): Promise<TrafficResult>;
}

/** ` depooled` when the sidecar answered itself with its own problem type, so that its own refusals can be told apart. */
function sidecarProblem(contentType: string | string[] | undefined, body: Buffer): string {
  if (!String(contentType).includes('problem+json')) return '';
  let type: unknown;
  try {
    type = (JSON.parse(body.toString()) as { type?: unknown }).type;
  } catch {
    return '';
  }
  return typeof type === 'string' && type.startsWith(sidecarProblemType) ? ` ${type.slice(sidecarProblemType.length)}` : '';
}

const defaultMix: Record<Operation, number> = { POST: 0.4, GET: 0.5, DELETE: 0.1 };
const expected: Record<Operation, number> = { POST: 201, GET: 200, DELETE: 204 };

/** `owner`'s teardown stops it too, so that a test or demo failing halfway never leaves it running. */
export function sessionTraffic(owner: Cleanup, url: string, options: TrafficOptions): Traffic {
  const mix = { ...defaultMix, ...options.mix };
  const total = mix.POST + mix.GET + mix.DELETE;
  const agent = new Agent({ connections: 64, keepAliveTimeout: 10_000 });
  const acked = new Map<string, Buffer>();
  const keys: string[] = [];
  const perSecond = new Map<number, SecondOfTraffic>();
  const failures: Record<string, number> = {};
  const failureLog: { at: number; what: string }[] = [];
  const counts = { sent: 0, ok: 0, failed: 0 };
  let firstFailureAt: number | null = null;
  let lastFailureAt: number | null = null;
  const state = { running: true };
  const pending = new Set<Promise<void>>();

  const record = (ok: boolean, what: string): void => {
    const now = Date.now();
    const second = Math.floor(now / 1000);
    const bucket = perSecond.get(second) ?? { second, ok: 0, failed: 0 };
    perSecond.set(second, bucket);
    if (ok) {
      counts.ok++;
      bucket.ok++;
      return;
    }
    counts.failed++;
    bucket.failed++;
    failures[what] = (failures[what] ?? 0) + 1;
    if (failureLog.length < 10_000) failureLog.push({ at: now, what });
    firstFailureAt ??= now;
    lastFailureAt = now;
  };

  const pick = (): Operation => {
    const roll = Math.random() * total;
    const op: Operation = roll < mix.POST ? 'POST' : roll < mix.POST + mix.GET ? 'GET' : 'DELETE';
    return op !== 'POST' && keys.length === 0 ? 'POST' : op;
  };

  const send = async (op: Operation): Promise<void> => {
    const key = op === 'POST' ? `session-${randomBytes(8).toString('hex')}` : (keys[randomInt(keys.length)] as string);
    const value = op === 'POST' ? randomBytes(randomInt(200, 4096)) : null;
    if (op === 'DELETE') {
      // Ended sessions are not read back, whatever the answer.
      keys.splice(keys.indexOf(key), 1);
      acked.delete(key);
    }
    try {
      const response = await request(`${url}/sessions/v1/${key}`, {
        method: op, dispatcher: agent, headersTimeout: 20_000, bodyTimeout: 20_000,
        ...(value ? { body: value, headers: { 'content-type': 'application/octet-stream' } } : {}),
      });
      const body = Buffer.from(await response.body.arrayBuffer());
      const stored = acked.get(key);
      // A session ended while this read was on its way may read as gone: that is right.
      const ok = op === 'GET' && stored === undefined && response.statusCode === 404
        ? true
        : response.statusCode === expected[op] && (op !== 'GET' || stored === undefined || body.equals(stored));
      if (ok && op === 'POST' && value) {
        acked.set(key, value);
        keys.push(key);
      }
      record(ok, ok ? '' : `${op} ${response.statusCode}${sidecarProblem(response.headers['content-type'], body)}`);
    } catch (error) {
      record(false, `${op} ${(error as { code?: string }).code ?? 'error'}`);
    }
  };

  const loop = (async () => {
    const interval = 1000 / options.perSecond;
    let next = Date.now();
    while (state.running) {
      counts.sent++;
      const flight = send(pick()).finally(() => pending.delete(flight));
      pending.add(flight);
      next += interval;
      // Behind by more than a second (this process was busy): start again from now rather
      // than send a burst that no client fleet would send.
      if (next < Date.now() - 1000) next = Date.now();
      await sleep(Math.max(0, next - Date.now()));
    }
  })();

  const snapshot = (): TrafficResult => ({
    ...counts, failures: { ...failures }, acked, firstFailureAt, lastFailureAt, failureLog: [...failureLog],
    perSecond: [...perSecond.values()].sort((a, b) => a.second - b.second),
  });
  let stopped: Promise<TrafficResult> | null = null;
  const stop = (): Promise<TrafficResult> => {
    stopped ??= (async () => {
      state.running = false;
      await loop;
      await Promise.all(pending);
      await agent.close();
      return snapshot();
    })();
    return stopped;
  };
  owner.teardown(stop);
  return { snapshot, stop };
}
