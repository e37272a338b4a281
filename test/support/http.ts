// Real sockets for proxy tests: a recording upstream, the proxy in-process, raw
// requests, and a logger whose lines the test can read.
import { once } from 'node:events';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type { Test } from 'tap';
import { parseConfig } from '../../src/config/load.ts';
import type { CoordinatorHealth } from '../../src/cluster/view.ts';
import type { Config } from '../../src/config/schema.ts';
import { startProxy, type Proxy } from '../../src/proxy/proxy.ts';
import type { Answer } from '../../src/proxy/forward.ts';
import { createLogger, type Logger } from '../../src/telemetry/logger.ts';
import { createRegistry, type Registry } from '../../src/telemetry/metrics.ts';

export { freePort } from '../../lab/net.ts';

export interface SeenRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  /** False when the body never arrived whole (the proxy or the client gave up). */
  complete: boolean;
}

export interface TestUpstream {
  url: string;
  seen: SeenRequest[];
  server: http.Server;
}

/** An upstream that records every request (after reading its body) and answers with `handler`. */
export async function startUpstream(
  t: Test,
  handler: (req: SeenRequest, res: http.ServerResponse) => void = (_req, res) => res.end('ok'),
): Promise<TestUpstream> {
  const seen: SeenRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    const record = (complete: boolean): SeenRequest => {
      const entry = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, body: Buffer.concat(chunks), complete };
      seen.push(entry);
      return entry;
    };
    req.on('end', () => { handler(record(true), res); });
    req.on('aborted', () => record(false));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => new Promise<void>((resolve) => { server.close(() => { resolve(); }); server.closeAllConnections(); }));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server };
}

export interface TestProxy {
  url: string;
  port: number;
  proxy: Proxy;
  registry: Registry;
  config: Config;
  logLines: () => Record<string, unknown>[];
  answers: Answer[];
}

export function testLogger(): { logger: Logger; lines: () => Record<string, unknown>[] } {
  const raw: string[] = [];
  const logger = createLogger('info', { write: (line: string) => { raw.push(line); } });
  return { logger, lines: () => raw.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

export function testConfig(upstreamUrl: string, overrides: Record<string, Record<string, unknown>> = {}): Config {
  return parseConfig({
    ...overrides,
    // Depooled proxies turn requests away at once, unless a test is about the propagation time.
    depool: { propagation_ms: 0, ...overrides.depool },
    listen: { address: '127.0.0.1', port: 0, ...overrides.listen },
    admin: { address: '127.0.0.1', port: 0, ...overrides.admin },
    upstream: { url: upstreamUrl, ...overrides.upstream },
    cassandra: { contact_points: ['127.0.0.1'], ...overrides.cassandra },
  });
}

export async function startTestProxy(t: Test, upstreamUrl: string, overrides: Record<string, Record<string, unknown>> = {}, health: CoordinatorHealth = { localQuorum: true, healthy: 3, broken: 0 }): Promise<TestProxy> {
  const config = testConfig(upstreamUrl, overrides);
  const { logger, lines } = testLogger();
  const registry = createRegistry('test');
  const answers: Answer[] = [];
  const proxy = await startProxy(config, registry, logger, { onAnswer: (answer) => answers.push(answer), coordinatorHealth: () => health });
  t.teardown(() => proxy.stop());
  const port = proxy.server.address().port;
  return { url: `http://127.0.0.1:${port}`, port, proxy, registry, config, logLines: lines, answers };
}

/** Sends bytes as they are and returns everything the server answers until it closes (or `timeoutMs`). */
export async function rawExchange(port: number, request: string | Buffer, timeoutMs = 5000): Promise<string> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(request);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  const timer = setTimeout(() => socket.destroy(), timeoutMs);
  await once(socket, 'close');
  clearTimeout(timer);
  return Buffer.concat(chunks).toString('latin1');
}

export function statusOf(rawResponse: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(rawResponse)?.[1]);
}

export function problemOf(rawResponse: string): { type: string; status: number } {
  return JSON.parse(rawResponse.slice(rawResponse.indexOf('\r\n\r\n') + 4)) as { type: string; status: number };
}
