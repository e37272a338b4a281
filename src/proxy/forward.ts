// The data path: one client request in, the same request to the service, the
// service's answer back unchanged. Bodies stream both ways; only a chunked request
// body is collected first, because its size limit can only be known at its end and
// the service must never see half a request.
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Dispatcher } from 'undici';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../telemetry/logger.ts';
import { clientAddressOf, clientResponseHeaders, requestIdOf, upstreamRequestHeaders } from './headers.ts';
import { methodLabel, type ProxyMetrics, type UpstreamErrorKind } from './metrics.ts';
import { problems, sendProblem, type ProblemKind } from './problem.ts';
import type { TrafficSwitch } from './traffic-switch.ts';
import { TurnedAwayLog } from './turned-away-log.ts';
import { classifyUpstreamError } from './upstream-errors.ts';

/** What happened to one request, for whoever watches the service's answers. */
export interface Answer {
  method: string;
  path: string;
  status: number;
  durationSeconds: number;
  /** The service, or the sidecar itself (depooled, overloaded, malformed, or the service failed). */
  answeredBy: 'service' | 'sidecar';
  /** Set when the exchange with the service failed. */
  upstreamError?: UpstreamErrorKind;
}

/** Whether an answer is the service failing to reach its storage (or failing outright), as the reconcile loop counts it. */
export const isStorageError = (answer: Answer): boolean =>
  answer.upstreamError !== undefined || (answer.answeredBy === 'service' && answer.status >= 500);

export interface ForwarderOptions {
  upstream: Dispatcher;
  config: Config;
  metrics: ProxyMetrics;
  logger: Logger;
  trafficSwitch: TrafficSwitch;
  proto: 'http' | 'https';
  onAnswer?: (answer: Answer) => void;
}

class BodyTooLarge extends Error {}

interface Outcome {
  answeredBy: Answer['answeredBy'];
  clientLeft?: boolean;
  upstreamError?: UpstreamErrorKind;
}

async function collectChunkedBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new BodyTooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

/** The client went away (mid-body, while waiting, or mid-answer) rather than the service failing. */
function clientLeft(req: IncomingMessage, error: unknown): boolean {
  const { name, code } = error as { name?: string; code?: string };
  return name === 'AbortError' || code === 'UND_ERR_ABORTED' || code === 'ERR_STREAM_PREMATURE_CLOSE' || (req.destroyed && !req.complete);
}

export class Forwarder {
  #inflight = 0;
  readonly #options: ForwarderOptions;
  readonly turnedAway: TurnedAwayLog;

  constructor(options: ForwarderOptions) {
    this.#options = options;
    this.turnedAway = new TurnedAwayLog(options.logger);
  }

  get inflight(): number {
    return this.#inflight;
  }

  /** Node's request listener. Never throws: every failure becomes an answer or a clean close. */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    const started = performance.now();
    const requestId = requestIdOf(req.headers);
    const { config, metrics, trafficSwitch } = this.#options;
    this.#inflight++;
    metrics.inflight.inc();

    const done = (outcome: Outcome): void => {
      this.#inflight--;
      metrics.inflight.dec();
      // 499, as nginx counts it: the client left before the answer was complete.
      const status = outcome.clientLeft ? 499 : res.statusCode;
      const durationSeconds = (performance.now() - started) / 1000;
      metrics.requests.inc({ method: methodLabel(req.method), code: status });
      metrics.duration.observe(durationSeconds);
      const answer: Answer = { method: req.method ?? '', path: req.url ?? '', status, durationSeconds, answeredBy: outcome.answeredBy };
      if (outcome.upstreamError !== undefined) answer.upstreamError = outcome.upstreamError;
      this.#options.onAnswer?.(answer);
      this.#log(answer, requestId);
    };
    const answerItself = (problem: ProblemKind, detail: string, options: { retryAfterSeconds?: number; close?: boolean } = {}): void => {
      sendProblem(res, problem, detail, { instance: req.url, requestId, ...options });
      done({ answeredBy: 'sidecar' });
    };

    if (trafficSwitch.depooled) {
      answerItself(problems.depooled, 'this instance is out of rotation', { retryAfterSeconds: config.limits.retry_after_seconds, close: true });
      return;
    }
    if (this.#inflight > config.limits.max_inflight) {
      answerItself(problems.overloaded, `more than ${config.limits.max_inflight} requests in flight`, { retryAfterSeconds: config.limits.retry_after_seconds });
      return;
    }
    if (!req.url?.startsWith('/')) {
      answerItself(problems.badRequest, 'the request target must be a path (origin-form)', { close: true });
      return;
    }
    const declaredLength = req.headers['content-length'];
    if (declaredLength !== undefined && Number(declaredLength) > config.limits.max_body_bytes) {
      answerItself(problems.bodyTooLarge, `the body may be at most ${config.limits.max_body_bytes} bytes`, { close: true });
      return;
    }
    this.#forward(req, res, requestId).then(
      () => { done({ answeredBy: 'service' }); },
      (error: unknown) => { done(this.#fail(req, res, requestId, error)); },
    );
  };

  async #forward(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
    const { upstream, config, trafficSwitch, proto } = this.#options;
    // An EventEmitter is undici's cheapest abort signal; it fires only when the client leaves early.
    const abort = new EventEmitter();
    res.once('close', () => {
      if (!res.writableFinished) abort.emit('abort');
    });

    const chunked = req.headers['transfer-encoding'] !== undefined;
    const hasBody = chunked || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');
    const body = !hasBody ? null : chunked ? await collectChunkedBody(req, config.limits.max_body_bytes) : req;

    // undici's stream() writes the answer straight into the client's response, with backpressure.
    await upstream.stream(
      {
        method: req.method as Dispatcher.HttpMethod,
        path: req.url as string,
        headers: upstreamRequestHeaders(req.rawHeaders, req.headers.connection, {
          clientAddress: clientAddressOf(req.socket.remoteAddress),
          proto,
          requestId,
        }),
        body,
        signal: abort,
        headersTimeout: config.upstream.headers_timeout_ms,
        bodyTimeout: config.upstream.body_timeout_ms,
      },
      ({ statusCode, headers }) => {
        const forwarded = clientResponseHeaders(headers);
        // A depool that arrived while this request was in flight still closes its connection.
        if (trafficSwitch.depooled) forwarded.connection = 'close';
        res.writeHead(statusCode, forwarded);
        return res;
      },
    );
  }

  /** Answers a failed exchange if nothing was sent yet, or cuts the connection so the client sees a truncated answer. */
  #fail(req: IncomingMessage, res: ServerResponse, requestId: string, error: unknown): Outcome {
    const { metrics, config } = this.#options;
    if (error instanceof BodyTooLarge) {
      sendProblem(res, problems.bodyTooLarge, `the body may be at most ${config.limits.max_body_bytes} bytes`, { instance: req.url, requestId, close: true });
      return { answeredBy: 'sidecar' };
    }
    if (clientLeft(req, error)) return { clientLeft: true, answeredBy: 'service' };
    const failure = classifyUpstreamError(error);
    metrics.upstreamErrors.inc({ kind: failure.kind });
    // Once the service's answer has begun, cutting the connection is the only honest signal left.
    if (res.headersSent) {
      res.destroy();
      return { answeredBy: 'service', upstreamError: failure.kind };
    }
    sendProblem(res, failure.problem, failure.detail, { instance: req.url, requestId });
    return { answeredBy: 'sidecar', upstreamError: failure.kind };
  }

  #log(answer: Answer, requestId: string): void {
    const { logger, config } = this.#options;
    // Built only for a line that is written: most requests log nothing.
    const fields = () => ({ request_id: requestId, method: answer.method, path: answer.path, status: answer.status, duration_ms: Math.round(answer.durationSeconds * 1e4) / 10 });
    if (answer.upstreamError !== undefined) {
      logger.error({ ...fields(), error: answer.upstreamError }, 'request failed');
    } else if (answer.answeredBy === 'sidecar' && answer.status >= 500) {
      this.turnedAway.note(fields());
    } else if (answer.status >= 500) {
      logger.error(fields(), 'the session service answered with an error');
    } else if (config.logging.access_log.enabled && Math.random() < config.logging.access_log.sample_rate) {
      logger.info(fields(), 'access');
    }
  }
}
