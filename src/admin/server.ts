// The admin port, never the proxy port: what Kubernetes and SREs ask the sidecar.
//   /metrics  Prometheus text        /healthz  liveness: the event loop answers
//   /readyz   readiness, with why    /status   JSON: every component's view, side by side
//   /reconcile/inputs  JSON: the last ticks' inputs of the decision, to replay them offline
// Reading is open (the kubelet and Prometheus must; nothing here is secret). The
// operator actions (POST) can restart the service, so they need the admin token: a
// bearer token from a Secret. Without one configured they are refused outright.
import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from '../telemetry/logger.ts';

export interface Readiness {
  ready: boolean;
  /** Why not ready; empty when ready. */
  reasons: string[];
}

export interface AdminOptions {
  address: string;
  port: number;
  registry: Registry;
  logger: Logger;
  readiness: () => Promise<Readiness>;
  /** Each section of /status, computed when asked. */
  status: Record<string, () => unknown>;
  /** Further JSON documents to read, by path, each computed when asked. */
  documents?: Record<string, () => unknown>;
  /** POST endpoints (operator switches such as /remediation/pause); one that answers with a status says what happened (see ActionAnswer). */
  actions?: Record<string, () => unknown>;
  /** The bearer token the actions need, as it is now (a rotated Secret counts at once); absent: actions are refused. */
  actionToken?: () => string;
}

export interface AdminServer {
  address(): AddressInfo;
  close(): Promise<void>;
}

/** JSON for people to read, indented; `compact` for documents meant for tools (megabytes, where indenting doubles the size). */
function sendJson(res: http.ServerResponse, status: number, value: unknown, compact = false): void {
  const body = compact ? JSON.stringify(value) : JSON.stringify(value, null, 2);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}

/** Whether the request carries the admin token, compared in constant time. */
function authorized(req: http.IncomingMessage, token: string | undefined): boolean {
  if (token === undefined) return false;
  const given = Buffer.from(/^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '');
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export async function startAdminServer(options: AdminOptions): Promise<AdminServer> {
  const routes: Record<string, (res: http.ServerResponse) => Promise<void>> = {
    '/metrics': async (res) => {
      const body = await options.registry.metrics();
      res.writeHead(200, { 'content-type': options.registry.contentType });
      res.end(body);
    },
    '/healthz': (res) => {
      sendJson(res, 200, { status: 'ok' });
      return Promise.resolve();
    },
    '/readyz': async (res) => {
      const readiness = await options.readiness();
      sendJson(res, readiness.ready ? 200 : 503, readiness);
    },
    '/status': (res) => {
      sendJson(res, 200, Object.fromEntries(Object.entries(options.status).map(([name, section]) => [name, section()])));
      return Promise.resolve();
    },
    ...Object.fromEntries(Object.entries(options.documents ?? {}).map(([path, document]) => [path, (res: http.ServerResponse) => {
      sendJson(res, 200, document(), true);
      return Promise.resolve();
    }])),
  };

  const actions = options.actions ?? {};
  const isActionAnswer = (value: unknown): value is { status: number } => typeof (value as { status?: unknown } | null)?.status === 'number';
  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://admin').pathname;
    const action = actions[path];
    if (action && req.method === 'POST') {
      if (!authorized(req, options.actionToken?.())) {
        options.logger.warn({ path, address: req.socket.remoteAddress }, 'refused an operator action without the admin token');
        sendJson(res, options.actionToken === undefined ? 403 : 401, {
          error: options.actionToken === undefined
            ? 'operator actions are off: configure admin.token_file to turn them on'
            : 'send the admin token: Authorization: Bearer <token>',
        });
        return;
      }
      options.logger.warn({ path, address: req.socket.remoteAddress }, 'operator action on the admin port');
      Promise.resolve(action()).then(
        (result) => {
          if (isActionAnswer(result)) sendJson(res, result.status, { action: path, ...result });
          else sendJson(res, 200, { done: path });
        },
        (error: unknown) => { sendJson(res, 500, { error: (error as Error).message }); },
      );
      return;
    }
    const route = routes[path];
    if (!route || (req.method !== 'GET' && req.method !== 'HEAD')) {
      sendJson(res, route || action ? 405 : 404, { error: route || action ? 'method not allowed' : 'not found', endpoints: Object.keys(routes), actions: Object.keys(actions).map((a) => `POST ${a}`) });
      return;
    }
    route(res).catch((error: unknown) => {
      options.logger.error({ path: req.url, error: (error as Error).message }, 'admin endpoint failed');
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.address, () => {
      server.off('error', reject);
      resolve();
    });
  });
  options.logger.info({ address: options.address, port: (server.address() as AddressInfo).port }, 'admin endpoints listening');
  return {
    address: () => server.address() as AddressInfo,
    close: () => new Promise<void>((resolve) => {
      server.close(() => { resolve(); });
      server.closeAllConnections();
    }),
  };
}
