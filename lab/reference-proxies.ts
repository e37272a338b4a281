// The reference proxies the sidecar is measured against (the benchmark and the
// adversarial suite): nginx as a plain reverse proxy, and an upstream
// standing in for the session service. Each runs as one process with one worker,
// like the sidecar, so CPU and memory are comparable and readable from /proc.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import net from 'node:net';

const work = mkdtempSync(join(tmpdir(), 'sidecar-bench-'));
/** The configurations and logs written for this run; removed once its processes are stopped. */
export const removeWorkFiles = (): void => { rmSync(work, { recursive: true, force: true }); };
/** A session value of the size MediaWiki typically stores. */
export const responseBody = 'x'.repeat(256);

export interface Running {
  name: string;
  url: string;
  pid: number;
  stop(): void;
}

export function findProgram(name: string): string | null {
  for (const candidate of [name, `/usr/sbin/${name}`]) {
    if (spawnSync(candidate, ['-v'], { stdio: 'ignore' }).error === undefined) return candidate;
  }
  return null;
}

async function waitForPort(port: number, child: ChildProcess, name: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}`);
    if (await accepts(port)) return;
    await sleep(50);
  }
  throw new Error(`${name} did not listen on ${port}`);
}

const accepts = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => { socket.destroy(); resolve(true); });
    socket.on('error', () => { resolve(false); });
  });

export interface StartOptions {
  /** Pins the process to this CPU (taskset), so that what is measured does not share a core with the load. */
  cpu?: number;
  env?: Record<string, string>;
  /** A file that takes the process's stdout (--trace-gc writes there), instead of nowhere. */
  stdoutFile?: string;
}

export async function start(name: string, command: string, args: string[], port: number, options: StartOptions = {}): Promise<Running> {
  if (await accepts(port)) throw new Error(`port ${port} is already in use; stop whatever listens there and run the benchmark again`);
  // taskset execs the command: the pid is the measured process's own.
  const [program, argv] = options.cpu === undefined ? [command, args] : ['taskset', ['-c', String(options.cpu), command, ...args]];
  const stdout = options.stdoutFile === undefined ? 'ignore' : openSync(options.stdoutFile, 'w');
  const child = spawn(program, argv, { stdio: ['ignore', stdout, 'inherit'], env: { ...process.env, ...options.env } });
  if (typeof stdout === 'number') closeSync(stdout);
  await waitForPort(port, child, name);
  return { name, url: `http://127.0.0.1:${port}`, pid: child.pid ?? 0, stop: () => child.kill('SIGKILL') };
}

const nginxHead = (name: string): string =>
  `daemon off; master_process off; worker_processes 1; pid ${join(work, `${name}.pid`)}; error_log ${join(work, `${name}-error.log`)} warn;\n` +
  `events { worker_connections 4096; }\n`;

const nginxHttp = (name: string): string =>
  `access_log off; client_body_temp_path ${work}/${name}-body; proxy_temp_path ${work}/${name}-proxy; ` +
  `fastcgi_temp_path ${work}/${name}-fcgi; uwsgi_temp_path ${work}/${name}-uwsgi; scgi_temp_path ${work}/${name}-scgi; keepalive_requests 1000000;`;

export function startNginxUpstream(nginx: string, port: number, options: StartOptions = {}): Promise<Running> {
  const file = join(work, 'upstream.conf');
  writeFileSync(file, `${nginxHead('upstream')}http { ${nginxHttp('upstream')}
    server { listen 127.0.0.1:${port}; location / { default_type application/octet-stream; return 200 "${responseBody}"; } } }\n`);
  return start('upstream (nginx)', nginx, ['-c', file, '-e', join(work, 'upstream-error.log')], port, options);
}

/** nginx as a reverse proxy with upstream keep-alive; `directives` adds http-level settings (timeouts, body limits). */
export function startNginxProxy(nginx: string, port: number, upstreamPort: number, directives = '', options: StartOptions = {}): Promise<Running> {
  const file = join(work, 'proxy.conf');
  writeFileSync(file, `${nginxHead('proxy')}http { ${nginxHttp('proxy')} ${directives}
    upstream session_service { server 127.0.0.1:${upstreamPort}; keepalive 128; }
    server { listen 127.0.0.1:${port};
      location / { proxy_pass http://session_service; proxy_http_version 1.1; proxy_set_header Connection ""; } } }\n`);
  return start('nginx', nginx, ['-c', file, '-e', join(work, 'proxy-error.log')], port, options);
}

/**
 * The sidecar as in a pod: it probes the real cluster (`cassandra`), finds the service
 * (here the upstream) by its pid and watches its sockets. The upstream is no session
 * service, though: the canary through it would fail, and the sidecar must never
 * restart it.
 */
export function writeSidecarConfig(
  port: number, adminPort: number, upstream: Running, cassandra: Record<string, unknown>,
  overrides: { service?: Record<string, unknown>; reconcile?: Record<string, unknown> } = {},
): string {
  const file = join(work, 'sidecar.yaml');
  // JSON is YAML.
  writeFileSync(file, JSON.stringify({
    listen: { address: '127.0.0.1', port },
    admin: { address: '127.0.0.1', port: adminPort },
    upstream: { url: upstream.url },
    service: { pid_file: join(work, 'upstream-service.pid'), canary: { enabled: false }, ...overrides.service },
    remediation: { enabled: false },
    limits: { max_inflight: 100000 },
    logging: { level: 'warn' },
    cassandra,
    ...(overrides.reconcile ? { reconcile: overrides.reconcile } : {}),
  }, null, 2));
  writeFileSync(join(work, 'upstream-service.pid'), String(upstream.pid));
  return file;
}
