// Running the lab's session service (Go, on the real gocql: see main.go) in tests and
// the demo: start it under its supervisor with a config file only it reads, wait for
// it, restart it, bounce a Cassandra node under it, and talk to its API.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { temporaryDirectory, type Cleanup } from '../cleanup.ts';
import { adminCredentials, clusterTls, startNode, stopNode, type Credentials, type NodeNumber } from '../cluster/cluster.ts';
import { dataCenter, nodesIn, type DataCenterName } from '../cluster/layout.ts';
import { freePort } from '../net.ts';
import { ensureServiceBinary } from './build.ts';
import { superviseService, type Supervisor } from './supervisor.ts';

export interface RunningService {
  url: string;
  supervisor: Supervisor;
  pidFile: string;
  /** The service's config file (it holds the password: mode 0600). */
  configFile: string;
  lines: string[];
}

export interface ServiceOptions {
  /** `stale-pool`: the real driver never reconnects to a node it saw go down (see storage.go). */
  fault?: 'stale-pool';
  /** gocql's ReconnectInterval for down hosts (production: 60 s), shortened where a test would wait a minute. */
  reconnectIntervalMs?: number;
  /** The service's own group, for faults that single its sockets out. */
  gid?: number;
  /** The data center the service runs in, its hosts that data center's nodes (dc2: the two-DC shape's). */
  dataCenter?: DataCenterName;
  /** The kubelet's CrashLoopBackOff between restarts (10 s doubling) instead of the tests' quick 100 ms. */
  crashLoopBackOff?: boolean;
  /** A slow start (see SupervisorOptions): startService then returns at once, without waiting for an answer. */
  startDelayMs?: number;
  /** The role the service logs in as (the cluster's superuser by default). */
  credentials?: Credentials;
  /**
   * Any other Kask-compatible binary (the demo's --service-cmd): a shell command in
   * which {port} and {config} (the lab's config file, credentials included) are
   * replaced. The lab's options above do not apply to it.
   */
  command?: string;
}

/** The service's config: Kask's production storage settings, over the lab cluster with TLS (host names not verified) and a password. */
export function serviceConfig(port: number, options: ServiceOptions = {}): object {
  const { username, password } = options.credentials ?? adminCredentials();
  return {
    listen_address: '127.0.0.1',
    listen_port: port,
    cassandra: {
      hosts: nodesIn(options.dataCenter ?? dataCenter).map((node) => node.address),
      local_dc: options.dataCenter ?? dataCenter,
      authentication: { username, password },
      tls: { ca_path: clusterTls.caFile, cert_path: clusterTls.clientCertFile, key_path: clusterTls.clientKeyFile },
      ...(options.reconnectIntervalMs === undefined ? {} : { reconnect_interval_ms: options.reconnectIntervalMs }),
    },
    ...(options.fault ? { lab_fault: options.fault } : {}),
  };
}

export async function startService(t: Cleanup, options: ServiceOptions = {}): Promise<RunningService> {
  const port = await freePort();
  const folder = temporaryDirectory(t, 'kask-');
  const pidFile = join(folder, 'kask.pid');
  const configFile = join(folder, 'service.json');
  writeFileSync(configFile, JSON.stringify(serviceConfig(port, options), null, 2), { mode: 0o600 });
  const lines: string[] = [];
  const supervisor = superviseService({
    file: ensureServiceBinary(),
    args: ['--config', configFile],
    ...(options.command === undefined ? {} : {
      command: options.command.replaceAll('{port}', String(port)).replaceAll('{config}', configFile),
    }),
    pidFile,
    onLine: (line) => lines.push(line),
    ...(options.crashLoopBackOff ? { restartDelayMs: 'crashLoopBackOff' as const } : {}),
    ...(options.gid === undefined ? {} : { gid: options.gid }),
    ...(options.startDelayMs === undefined ? {} : { startDelayMs: options.startDelayMs }),
  });
  t.teardown(() => supervisor.stop());
  const url = `http://127.0.0.1:${port}`;
  if (options.startDelayMs === undefined) await until(async () => (await request(`${url}/healthz`).then((r) => r.statusCode, () => 0)) === 200, 30_000, 'the service answers');
  return { url, supervisor, pidFile, configFile, lines };
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

