// Runs the adversarial corpus against a proxy: every case many times, over many
// concurrent connections, family by family. After each family it checks what must hold
// for any proxy trusted with the data path:
//   - every client got an answer the case allows (or none, where none is right);
//   - the upstream received exactly the requests clients completed, byte for byte,
//     and nothing else;
//   - the proxy holds no client connection any more, and (for the sidecar) its
//     in-flight gauge is back to 0;
//   - its open file descriptors are back near where they were before the corpus, once
//     its idle timeouts have passed (a slow client leaves nothing behind);
//   - a normal request still answers, quickly;
// and it reports the proxy's memory.
import { readdir, readFile } from 'node:fs/promises';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { parseProcNetTcp, socketInodesOf } from '../../src/service/pool-sockets.ts';
import { bodyHash, corpus, families, type Case, type Family, type Outcome, type Step } from './corpus.ts';
import { sha256, upstreamKeepAliveMs, type Received, type RecordingUpstream } from './upstream.ts';

export interface Target {
  name: string;
  port: number;
  pid: number;
  /** The sidecar's admin /metrics, for its in-flight gauge; reference proxies have none. */
  metricsUrl?: string;
}

export interface FamilyReport {
  family: Family;
  connections: number;
  /** Requests the clients sent (pipelined ones counted one by one). */
  requests: number;
  violations: string[];
  inflightAfter: number | null;
  clientConnectionsAfter: number;
  /** Open file descriptors after the family, and before the corpus. */
  descriptorsAfter: number;
  descriptorsBefore: number;
  upstreamConnectionsAfter: number;
  rssMb: number;
  normalRequestMs: number;
  seconds: number;
}

const readWithin = 4000;

function statusesIn(text: string): number[] {
  return [...text.matchAll(/(?:^|\r\n)HTTP\/1\.[01] (\d{3})/g)].map((m) => Number(m[1])).filter((status) => status >= 200);
}

/** Plays one case on a fresh connection; returns the final statuses the client read. */
async function play(port: number, steps: Step[], expectAtMost: number): Promise<number[]> {
  const socket = net.connect(port, '127.0.0.1');
  let received = '';
  const state = { closed: false };
  const isClosed = (): boolean => state.closed;
  socket.on('data', (chunk: Buffer) => { received += chunk.toString('latin1'); });
  socket.on('error', () => undefined);
  const closing = new Promise<void>((resolve) => socket.once('close', () => { state.closed = true; resolve(); }));
  await Promise.race([new Promise((resolve) => socket.once('connect', resolve)), closing]);
  for (const step of steps) {
    if (isClosed()) break;
    if ('write' in step) socket.write(Buffer.from(step.write, 'latin1'));
    else if ('pause' in step) await sleep(step.pause);
    else if ('awaitContinue' in step) {
      const until = Date.now() + step.awaitContinue;
      while (!received.includes('100 Continue') && !isClosed() && Date.now() < until) await sleep(5);
    } else if ('end' in step) socket.end();
    else if ('destroy' in step) socket.destroy();
    else socket.resetAndDestroy();
  }
  const deadline = Date.now() + readWithin;
  while (!isClosed() && statusesIn(received).length < expectAtMost && Date.now() < deadline) await sleep(10);
  socket.destroy();
  return statusesIn(received);
}

const sameStatuses = (a: number[], b: number[]): boolean => a.length === b.length && a.every((s, i) => s === b[i]);

async function clientConnections(target: Target): Promise<number> {
  const tables = await Promise.all(['tcp', 'tcp6'].map((file) => readFile(`/proc/net/${file}`, 'utf8').catch(() => '')));
  // Any state but listening (0A) and time-wait (06, no longer the process's) is a connection the proxy still holds.
  return tables.flatMap(parseProcNetTcp).filter((s) => s.localPort === target.port && s.state !== '0A' && s.state !== '06').length;
}

async function upstreamConnections(target: Target, upstreamPort: number): Promise<number> {
  const inodes = await socketInodesOf(target.pid).catch(() => new Set<number>());
  const tables = await Promise.all(['tcp', 'tcp6'].map((file) => readFile(`/proc/net/${file}`, 'utf8').catch(() => '')));
  return tables.flatMap(parseProcNetTcp).filter((s) => s.remotePort === upstreamPort && s.established && inodes.has(s.inode)).length;
}

const descriptors = async (pid: number): Promise<number> => (await readdir(`/proc/${pid}/fd`)).length;
/** Descriptors a proxy may hold beyond its baseline: a few pooled upstream connections and timers' handles. */
const descriptorSlack = 16;

async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]) / 102.4) / 10;
}

async function inflight(target: Target): Promise<number | null> {
  if (!target.metricsUrl) return null;
  const text = await (await request(target.metricsUrl)).body.text();
  return Number(/^sessionstore_sidecar_inflight_requests (\S+)$/m.exec(text)?.[1]);
}

async function normalRequest(target: Target, n: number): Promise<{ ms: number; status: number }> {
  const started = Date.now();
  const response = await request(`http://127.0.0.1:${target.port}/sessions/v1/normal-${n}`, { headersTimeout: 5000, reset: true })
    .catch(() => null);
  await response?.body.dump();
  return { ms: Date.now() - started, status: response?.statusCode ?? 0 };
}

interface Task { id: string; testCase: Case; statuses: number[] }

/** Checks one family's tasks against what the upstream received. */
function verify(tasks: Task[], received: Received[]): string[] {
  const violations: string[] = [];
  const byTask = new Map<string, Received[]>();
  for (const entry of received) {
    const id = /(adv\d+)/.exec(entry.path)?.[1];
    if (id !== undefined) byTask.set(id, [...(byTask.get(id) ?? []), entry]);
  }
  for (const { id, testCase, statuses } of tasks) {
    const outcomes = testCase.outcomes(id);
    const outcome: Outcome | undefined = outcomes.find((o) => sameStatuses(o.statuses, statuses));
    const where = `${testCase.family}/${testCase.name}`;
    const got = byTask.get(id) ?? [];
    byTask.delete(id);
    if (!outcome) {
      violations.push(`${where}: the client read [${statuses.join(', ')}], expected ${outcomes.map((o) => `[${o.statuses.join(', ')}]`).join(' or ')}`);
      continue;
    }
    const claimed = new Set<Received>();
    for (const forward of outcome.forwards) {
      const matching = got.filter((r) => r.method === forward.method && r.path === forward.path && r.sha256 === bodyHash(forward));
      for (const r of matching) claimed.add(r);
      const [min, max] = [forward.min ?? 1, forward.max ?? 1];
      if (matching.length < min || matching.length > max) violations.push(`${where}: the upstream got ${forward.method} ${forward.path} ${matching.length} times, expected ${min === max ? min : `${min} to ${max}`}`);
    }
    for (const extra of got.filter((r) => !claimed.has(r))) {
      violations.push(`${where}: the upstream got ${extra.method} ${extra.path} (body ${extra.sha256 === sha256('') ? 'empty' : extra.sha256.slice(0, 12)}), which no client completed`);
    }
  }
  return violations;
}

export async function attack(target: Target, upstream: RecordingUpstream, options: { repeat: number; concurrency: number; only?: Family[]; log?: (line: string) => void }): Promise<FamilyReport[]> {
  const reports: FamilyReport[] = [];
  let counter = 0;
  const descriptorsBefore = await descriptors(target.pid);
  for (const family of options.only ?? families) {
    const started = Date.now();
    const cases = corpus.filter((c) => c.family === family);
    const tasks: Task[] = [];
    for (let r = 0; r < options.repeat; r++) for (const testCase of cases) tasks.push({ id: `adv${++counter}`, testCase, statuses: [] });
    const receivedBefore = upstream.received.length;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < tasks.length) {
        const task = tasks[next++] as Task;
        const expectAtMost = Math.max(...task.testCase.outcomes(task.id).map((o) => o.statuses.length));
        task.statuses = await play(target.port, task.testCase.steps(task.id), expectAtMost);
      }
    };
    await Promise.all(Array.from({ length: options.concurrency }, worker));
    // Quiescence: connections closed, exchanges (and retries) over.
    const settleBy = Date.now() + 5000;
    while (Date.now() < settleBy && ((await clientConnections(target)) > 0 || ((await inflight(target)) ?? 0) > 0)) await sleep(50);
    await sleep(200);
    const violations = verify(tasks, upstream.received.slice(receivedBefore));
    const inflightAfter = await inflight(target);
    if (inflightAfter !== null && inflightAfter !== 0) violations.push(`the in-flight gauge is ${inflightAfter}, not 0`);
    const clientConnectionsAfter = await clientConnections(target);
    if (clientConnectionsAfter !== 0) violations.push(`the proxy still holds ${clientConnectionsAfter} client connections`);
    // Pooled upstream connections idle out within the upstream's keep-alive hint; then the descriptors must be back.
    const descriptorsBy = Date.now() + upstreamKeepAliveMs + 2000;
    let descriptorsAfter = await descriptors(target.pid);
    while (descriptorsAfter > descriptorsBefore + descriptorSlack && Date.now() < descriptorsBy) {
      await sleep(250);
      descriptorsAfter = await descriptors(target.pid);
    }
    if (descriptorsAfter > descriptorsBefore + descriptorSlack) violations.push(`the proxy holds ${descriptorsAfter} file descriptors, against ${descriptorsBefore} before the corpus`);
    const normal = await normalRequest(target, counter);
    if (normal.status !== 200 || normal.ms > 1000) violations.push(`a normal request got ${normal.status} after ${normal.ms} ms`);
    const requests = tasks.reduce((sum, task) => sum + Math.max(1, ...task.testCase.outcomes(task.id).map((o) => o.statuses.length)), 0);
    const report: FamilyReport = {
      family, connections: tasks.length, requests, violations, inflightAfter, clientConnectionsAfter, descriptorsAfter, descriptorsBefore,
      upstreamConnectionsAfter: await upstreamConnections(target, upstream.port), rssMb: await rssMb(target.pid),
      normalRequestMs: normal.ms, seconds: Math.round((Date.now() - started) / 100) / 10,
    };
    options.log?.(`${target.name} ${family}: ${report.connections} connections, ${report.violations.length} violations, RSS ${report.rssMb} MB, normal request ${report.normalRequestMs} ms`);
    reports.push(report);
  }
  return reports;
}
