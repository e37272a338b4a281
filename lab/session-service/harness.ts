// Running the Kask-compatible service in tests: start it under its supervisor, wait
// for it, restart it, bounce a Cassandra node under it, and talk to its API.
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { temporaryDirectory, type Cleanup } from '../cleanup.ts';
import { adminCredentials, startNode, stopNode, type NodeNumber } from '../cluster/cluster.ts';
import { freePort } from '../net.ts';
import { superviseService, type Supervisor } from './supervisor.ts';

export interface RunningService {
  url: string;
  supervisor: Supervisor;
  pidFile: string;
  lines: string[];
}

export interface ServiceOptions {
  /** `stale-pool`: the driver never takes back a node it saw go down (see service.ts). */
  fault?: 'stale-pool';
  /** gocql's delays, shortened in tests that would otherwise wait a minute. */
  nodeUpDelayMs?: number;
  reconnectIntervalMs?: number;
  /** The service's own group, for faults that single its sockets out. */
  gid?: number;
  /**
   * Any other Kask-compatible binary (the demo's --service-cmd): a shell command in
   * which {port}, {username} and {password} are replaced. The lab's options above do
   * not apply to it.
   */
  command?: string;
}

export async function startService(t: Cleanup, options: ServiceOptions = {}): Promise<RunningService> {
  const port = await freePort();
  const pidFile = join(temporaryDirectory(t, 'kask-'), 'kask.pid');
  const { username, password } = adminCredentials();
  const lines: string[] = [];
  const supervisor = superviseService({
    args: [
      '--port', String(port), '--username', username, '--password', password,
      ...(options.fault ? ['--fault', options.fault] : []),
      ...(options.nodeUpDelayMs === undefined ? [] : ['--node-up-delay-ms', String(options.nodeUpDelayMs)]),
      ...(options.reconnectIntervalMs === undefined ? [] : ['--reconnect-interval-ms', String(options.reconnectIntervalMs)]),
    ],
    ...(options.command === undefined ? {} : {
      command: options.command.replaceAll('{port}', String(port)).replaceAll('{username}', username).replaceAll('{password}', password),
    }),
    pidFile,
    onLine: (line) => lines.push(line),
    ...(options.gid === undefined ? {} : { gid: options.gid }),
  });
  t.teardown(() => supervisor.stop());
  const url = `http://127.0.0.1:${port}`;
  await until(async () => (await request(`${url}/healthz`).then((r) => r.statusCode, () => 0)) === 200, 30_000, 'the service answers');
  return { url, supervisor, pidFile, lines };
}

export async function until(check: () => Promise<boolean> | boolean, limitMs: number, what: string): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${limitMs} ms waiting until ${what}`);
    await sleep(200);
  }
}

export const post = async (url: string, key: string, value: Buffer): Promise<number> => {
  const response = await request(`${url}/sessions/v1/${key}`, { method: 'POST', body: value, headers: { 'content-type': 'application/octet-stream' } });
  await response.body.dump();
  return response.statusCode;
};

export async function restartService(service: { supervisor: Supervisor; url: string }): Promise<void> {
  const before = service.supervisor.restarts();
  process.kill(service.supervisor.pid() ?? 0, 'SIGTERM');
  await until(() => service.supervisor.restarts() > before, 10_000, 'the supervisor restarts the service');
  await until(async () => (await request(`${service.url}/healthz`).then((r) => r.statusCode, () => 0)) === 200, 30_000, 'the restarted service answers');
}

export const bounce = async (n: NodeNumber): Promise<void> => {
  await stopNode(n);
  await sleep(3000); // long enough for the service's driver to see it down
  await startNode(n);
};

