// The sidecar as a separate process in front of a test service, the way it runs in
// a pod: its config file, its logs, its admin endpoints, and steady client load.
import { spawn } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { stringify } from 'yaml';
import cassandra from 'cassandra-driver';
import { adminCredentials, allNodes, authProvider, type LocalNode } from './cluster/cluster.ts';
import { stopChild, temporaryDirectory, type Cleanup } from './cleanup.ts';
import { freePort } from './net.ts';

/**
 * A connection of its own for each look at the admin port: a test that pauses for
 * seconds between looks must not reuse a keep-alive connection the sidecar is closing
 * at that moment (undici then fails the request with "other side closed").
 */
const adminRequest = { reset: true } as const;

export interface SidecarProcess {
  url: string;
  pid: number;
  adminUrl: string;
  logs: Record<string, unknown>[];
  /** Everything it wrote to stderr (nothing, normally). */
  stderr(): string;
  status(): Promise<Record<string, unknown>>;
  /** SIGTERM, as the kubelet sends it; resolves with the exit code once the process and its output have ended. */
  stop(): Promise<number | null>;
  /** SIGKILL, as the kernel's OOM killer sends it: no shutdown of any kind. Resolves once it has gone. */
  crash(): Promise<void>;
  /** The kubelet starting the container again: the same command line, ports and pod. */
  again(): Promise<SidecarProcess>;
}

export interface Launch {
  /** Added to the environment. */
  env?: Record<string, string>;
  /** A command the sidecar's own command line is appended to (another UID, a namespace of its own): it must exec it. */
  prefix?: string[];
  /** The pod's name, its host name (default: lab-pod-PORT); a sidecar started again as its pod's next container keeps it. */
  podName?: string;
}

export async function startSidecar(t: Cleanup, upstreamUrl: string, pidFile: string, overrides: Record<string, Record<string, unknown>> = {}, launch: Launch = {}): Promise<SidecarProcess> {
  const [port, adminPort] = [await freePort(), await freePort()];
  const directory = temporaryDirectory(t, 'sidecar-');
  chmodSync(directory, 0o755); // a sidecar launched under another UID reads its configuration too
  const file = join(directory, 'sidecar.yaml');
  const base: Record<string, Record<string, unknown>> = {
    listen: { address: '127.0.0.1', port },
    admin: { address: '127.0.0.1', port: adminPort },
    upstream: { url: upstreamUrl },
    service: { pid_file: pidFile },
    cassandra: { contact_points: ['127.0.0.1'], ...adminCredentials() },
  };
  // Overrides change keys within a section; the rest of the section stays.
  const sections = new Set([...Object.keys(base), ...Object.keys(overrides)]);
  writeFileSync(file, stringify(Object.fromEntries([...sections].map((name) => [name, { ...base[name], ...overrides[name] }]))));
  return spawnSidecar(t, ['--config', file], { port, adminPort }, launch);
}

/** The sidecar with the command line given (as a pod's container args), serving on these ports. */
export async function spawnSidecar(t: Cleanup, cliArgs: string[], ports: { port: number; adminPort: number }, launch: Launch = {}): Promise<SidecarProcess> {
  // Every pod has a host name of its own (its UTS namespace): the fleet lease names its holder by it.
  // And a lab sidecar ends with the test that started it, even one killed at its timeout (pdeathsig).
  const ownHostName = ['unshare', '--uts', 'sh', '-c', 'hostname "$0" && exec setpriv --pdeathsig TERM "$@"', launch.podName ?? `lab-pod-${ports.port}`];
  const [command = process.execPath, ...args] = [...ownHostName, ...(launch.prefix ?? []), process.execPath, join(import.meta.dirname, '../src/cli.ts'), ...cliArgs];
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...launch.env } });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); process.stderr.write(chunk); });
  // Past its own deadline (at most 30 s with the lab's settings) a sidecar that still runs is hung.
  const stop = (signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> => stopChild(child, `the sidecar on port ${ports.port}`, 60_000, signal);
  t.teardown(() => stop());
  const logs: Record<string, unknown>[] = [];
  let buffered = '';
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) logs.push(JSON.parse(line) as Record<string, unknown>);
  });
  const adminUrl = `http://127.0.0.1:${ports.adminPort}`;
  // Up to 30 s: a dozen sidecars starting at once on two busy cores take more than 10.
  for (let i = 0; i < 600 && !logs.some((l) => l.msg === 'sessionstore-sidecar started'); i++) await sleep(50);
  return {
    url: `http://127.0.0.1:${ports.port}`,
    pid: child.pid ?? 0,
    adminUrl,
    logs,
    stderr: () => stderr,
    status: async () => (await (await request(`${adminUrl}/status`, adminRequest)).body.json()) as Record<string, unknown>,
    stop: () => stop(),
    crash: async () => { await stop('SIGKILL'); },
    again: () => spawnSidecar(t, cliArgs, ports, launch),
  };
}

/** Who holds the fleet lease of data center dc1 right now (null: nobody). */
export async function fleetLeaseHolder(): Promise<string | null> {
  const client = new cassandra.Client({ contactPoints: ['127.0.0.1', '127.0.0.2', '127.0.0.3'], localDataCenter: 'dc1', authProvider: authProvider() });
  try {
    const row = (await client.execute("SELECT holder FROM sessions.sidecar_leases WHERE scope = 'dc1'", [], { consistency: cassandra.types.consistencies.serial })).first() as cassandra.types.Row | null;
    return (row?.get('holder') as string | null | undefined) ?? null;
  } finally {
    await client.shutdown();
  }
}

/**
 * Reads every acknowledged write back from Cassandra at LOCAL_QUORUM, in the data center
 * that acknowledged it (dc1 unless `nodes` say otherwise): the keys whose value is missing or different.
 */
export async function lostWrites(acked: Map<string, Buffer>, nodes: LocalNode[] = allNodes()): Promise<string[]> {
  const client = new cassandra.Client({
    contactPoints: nodes.map((node) => node.address), localDataCenter: nodes[0]?.dataCenter ?? 'dc1', authProvider: authProvider(),
    profiles: [new cassandra.ExecutionProfile('default', { consistency: cassandra.types.consistencies.localQuorum })],
  });
  try {
    const keys = [...acked.keys()];
    // 32 reads in flight at a time: a replay's thousands of writes read back in seconds.
    const { resultItems } = await cassandra.concurrent.executeConcurrent(client, 'SELECT value FROM sessions.values WHERE key = ?', keys.map((key) => [key]), { concurrencyLevel: 32, collectResults: true, raiseOnFirstError: true });
    return keys.filter((key, i) => {
      const row = (resultItems[i] as cassandra.types.ResultSet | undefined)?.first() as cassandra.types.Row | null | undefined;
      return !(row?.get('value') as Buffer | undefined)?.equals(acked.get(key) ?? Buffer.alloc(0));
    });
  } finally {
    await client.shutdown();
  }
}

export interface Sample {
  name: string;
  labels: Record<string, string | undefined>;
  value: number;
}

/** Every sample of the sidecar's /metrics, read at one moment. */
export async function samplesOf(sidecar: SidecarProcess): Promise<Sample[]> {
  const text = await (await request(`${sidecar.adminUrl}/metrics`, adminRequest)).body.text();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const match = /^(\w+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!match) continue;
    const labels = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1] ?? '', m[2]]));
    samples.push({ name: match[1] ?? '', labels, value: Number(match[3]) });
  }
  return samples;
}

/** The samples of one metric summed over series that match the labels. */
export const sumOf = (samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number =>
  samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((sum, s) => sum + s.value, 0);

/** One sample from the sidecar's /metrics, summed over series that match the labels. */
export async function metricOf(sidecar: SidecarProcess, name: string, labels: Record<string, string> = {}): Promise<number> {
  return sumOf(await samplesOf(sidecar), name, labels);
}

/** Restarts of the service the sidecar carried out, whatever their result (dry runs are not restarts), by its own counter. */
export async function restartsBy(sidecar: SidecarProcess): Promise<number> {
  let total = 0;
  for (const result of ['restarted', 'not_cured', 'unhealthy', 'failed']) total += await metricOf(sidecar, 'sessionstore_sidecar_pool_restarts_total', { result });
  return total;
}

/** When the sidecar first logged a line whose message starts with `prefix` (epoch ms), or null. */
export function loggedAt(sidecar: SidecarProcess, prefix: string): number | null {
  const line = sidecar.logs.find((l) => String(l.msg).startsWith(prefix));
  return line ? Date.parse(String(line.time)) : null;
}
