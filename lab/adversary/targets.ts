// The proxies the adversarial corpus runs against, configured alike: the same header
// and body limits, the same client timeouts, the same upstream timeout.
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import type { Cleanup } from '../cleanup.ts';
import { temporaryDirectory } from '../cleanup.ts';
import { dockerfileEnv } from '../dockerfile.ts';
import { freePort } from '../net.ts';
import { findProgram, startNginxProxy } from '../reference-proxies.ts';
import { startSidecar } from '../sidecar-process.ts';
import { suiteLimits } from './corpus.ts';
import type { Target } from './run.ts';

/** The sidecar as in a pod, minus remediation (its upstream is no session service): the image's heap flags, whose bounds the corpus tests. */
export async function sidecarTarget(owner: Cleanup, upstreamUrl: string): Promise<Target & { adminUrl: string }> {
  const pidFile = join(temporaryDirectory(owner, 'adversary-'), 'service.pid');
  writeFileSync(pidFile, '1');
  const sidecar = await startSidecar(owner, upstreamUrl, pidFile, {
    limits: {
      max_header_bytes: suiteLimits.maxHeaderBytes, max_body_bytes: suiteLimits.maxBodyBytes, max_buffered_bytes: 4 * 1024 * 1024,
      header_timeout_ms: suiteLimits.headerTimeoutMs, body_timeout_ms: suiteLimits.bodyTimeoutMs, request_timeout_ms: 3000, keep_alive_timeout_ms: 1000,
    },
    upstream: { headers_timeout_ms: suiteLimits.upstreamTimeoutMs },
    service: { pid_file: pidFile, canary: { enabled: false } },
    remediation: { enabled: false },
    logging: { level: 'error' },
  }, { env: { NODE_OPTIONS: dockerfileEnv('NODE_OPTIONS') } });
  return { name: 'sidecar', port: Number(new URL(sidecar.url).port), pid: sidecar.pid, metricsUrl: `${sidecar.adminUrl}/metrics`, adminUrl: sidecar.adminUrl };
}

/** nginx with the same limits; null when nginx is not installed. */
export async function nginxTarget(owner: Cleanup, upstreamPort: number): Promise<Target | null> {
  const nginx = findProgram('nginx');
  if (!nginx) return null;
  const port = await freePort();
  const seconds = (ms: number): string => `${ms}ms`;
  const running = await startNginxProxy(nginx, port, upstreamPort,
    `client_header_timeout ${seconds(suiteLimits.headerTimeoutMs)}; client_body_timeout ${seconds(suiteLimits.bodyTimeoutMs)}; ` +
    `client_max_body_size ${suiteLimits.maxBodyBytes}; large_client_header_buffers 4 ${suiteLimits.maxHeaderBytes}; keepalive_timeout 1s; ` +
    `proxy_read_timeout ${seconds(suiteLimits.upstreamTimeoutMs)}; proxy_connect_timeout 1s;`);
  owner.teardown(() => { running.stop(); });
  return { name: 'nginx', port, pid: running.pid };
}
