// The proxy's listener: plain http, or https when a certificate is configured (the
// files are re-read when they change, as Kubernetes rotates Secrets). Requests that
// Node's parser rejects (malformed, smuggling shapes, oversized headers, too slow)
// get a problem answer and a closed connection; nothing of them reaches the service.
// Requests with `Expect: 100-continue` are the forwarder's to answer: 100 only once
// the request will really be forwarded.
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config/schema.ts';
import { readCertificate, reloadOnChange } from '../tls/certificate.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { Forwarder } from './forward.ts';
import { problems, rawProblemResponse, sendProblem } from './problem.ts';
import type { ProxyMetrics } from './metrics.ts';
import { failBodyInProgress, whenIdle } from './socket-requests.ts';

type ParserError = Error & { code?: string };

/** The client closed its side in the middle of a message: there is nobody to answer. */
const clientWentAway = new Set(['ECONNRESET', 'HPE_INVALID_EOF_STATE']);

function answerParserError(error: ParserError, socket: Socket, metrics: ProxyMetrics, logger: Logger): void {
  const code = error.code ?? '';
  if (clientWentAway.has(code) || !socket.writable) {
    socket.destroy();
    return;
  }
  const [problem, detail] =
    code === 'HPE_HEADER_OVERFLOW' ? [problems.headersTooLarge, 'the request headers exceed the limit']
    : code === 'ERR_HTTP_REQUEST_TIMEOUT' || code === 'ERR_HTTP_HEADERS_TIMEOUT' ? [problems.requestTimeout, 'the request did not arrive in time']
    : [problems.badRequest, `the request could not be parsed (${code || 'malformed'})`];
  logger.warn({ status: problem.status, error: code, address: socket.remoteAddress }, 'rejected a malformed or incomplete request');
  // Inside a body being received (invalid chunk framing): that request answers, and counts itself.
  if (failBodyInProgress(socket, `the request body's framing is invalid (${code})`)) return;
  metrics.requests.inc({ method: 'OTHER', code: problem.status });
  // Pipelined requests before the bad one are answered first, in order; then the problem, and the connection closes.
  whenIdle(socket, () => {
    if (!socket.writable) return;
    socket.end(rawProblemResponse(problem, detail));
    socket.destroySoon();
  });
}

export interface ProxyServer {
  address(): AddressInfo;
  /** Closes every keep-alive connection that carries no request right now. */
  closeIdleConnections(): void;
  /** Stops accepting, lets in-flight requests finish within drainMs, then closes what is left. */
  close(drainMs: number): Promise<void>;
}

export async function startProxyServer(config: Config, forwarder: Forwarder, metrics: ProxyMetrics, logger: Logger): Promise<ProxyServer> {
  const serverOptions: http.ServerOptions = {
    maxHeaderSize: config.limits.max_header_bytes,
    headersTimeout: config.limits.header_timeout_ms,
    requestTimeout: config.limits.request_timeout_ms,
    keepAliveTimeout: config.limits.keep_alive_timeout_ms,
    connectionsCheckingInterval: Math.min(1000, config.limits.header_timeout_ms),
    requireHostHeader: false,
    joinDuplicateHeaders: false,
  };
  const tls = config.listen.tls;
  const server = tls ? https.createServer({ ...serverOptions, ...readCertificate(tls) }, forwarder.handle) : http.createServer(serverOptions, forwarder.handle);
  server.on('clientError', (error: ParserError, socket: Socket) => {
    answerParserError(error, socket, metrics, logger);
  });
  server.on('checkContinue', forwarder.handleExpectingContinue);
  server.on('checkExpectation', (req: http.IncomingMessage, res: http.ServerResponse) => {
    metrics.requests.inc({ method: 'OTHER', code: problems.expectationFailed.status });
    sendProblem(res, problems.expectationFailed, `expectation "${String(req.headers.expect)}" is not supported`, { instance: req.url, close: true });
  });

  const stopReloading = tls ? reloadOnChange(server as https.Server, tls, logger) : () => undefined;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.listen.port, config.listen.address, () => {
      server.off('error', reject);
      resolve();
    });
  });
  logger.info({ address: config.listen.address, port: (server.address() as AddressInfo).port, tls: Boolean(tls) }, 'proxy listening');

  return {
    address: () => server.address() as AddressInfo,
    closeIdleConnections: () => { server.closeIdleConnections(); },
    close: async (drainMs) => {
      stopReloading();
      const closed = new Promise<void>((resolve) => server.close(() => { resolve(); }));
      server.closeIdleConnections();
      const deadline = Date.now() + drainMs;
      while (forwarder.inflight > 0 && Date.now() < deadline) await sleep(20);
      if (forwarder.inflight > 0) logger.warn({ inflight: forwarder.inflight }, 'drain timed out; closing the remaining connections');
      server.closeAllConnections();
      await closed;
    },
  };
}
