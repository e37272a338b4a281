// The data path: one client request in, the same request to the service, the
// service's answer back unchanged.
//   1. admit: refuse from the head alone what must not be forwarded (admission.ts);
//   2. receive the whole body, within its limits (request-body.ts);
//   3. exchange it with the service, retrying its storage errors within the budget
//      (retry-policy.ts); the answer streams straight into the client's response;
//   4. account for the request when its response closes, however it ended.
// In-flight accounting hangs on the response's 'close' event, which Node emits exactly
// once for every response, so no path can leak a slot; and every exchange has a
// deadline that a sweeper enforces, so no request waits forever, not even one queued
// inside undici's pool.
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { CoordinatorHealth } from '../cluster/view.ts';
import type { Config } from '../config/schema.ts';
import { FloodLog } from '../telemetry/flood-log.ts';
import { loggablePath, type Logger } from '../telemetry/logger.ts';
import { absoluteForm, admit, type Refusal } from './admission.ts';
import { clientAddressOf, clientResponseHeaders, requestIdOf, upstreamRequestHeaders } from './headers.ts';
import { methodLabel, type ProxyMetrics, type UpstreamErrorKind } from './metrics.ts';
import { sendProblem } from './problem.ts';
import { BodyRefused, ClientGone, receiveBody, type BodyBudget } from './request-body.ts';
import { replayable, RetryBudget, type SkipReason } from './retry-policy.ts';
import { requestBegan, requestEnded } from './socket-requests.ts';
import type { TrafficSwitch } from './traffic-switch.ts';
import { classifyUpstreamError } from './upstream-errors.ts';

/** What happened to one request, for whoever watches the service's answers. */
export interface Answer {
  method: string;
  path: string;
  /** The status the client got; 499 when it went away first. */
  status: number;
  durationSeconds: number;
  /** Whose answer the client got: the service's, or the sidecar's own (refused, or the service failed). */
  answeredBy: 'service' | 'sidecar';
  /** Set when the last exchange with the service failed. */
  upstreamError?: UpstreamErrorKind;
  /** Attempts sent to the service (0: refused before forwarding). */
  attempts: number;
  /** Attempts the service failed with a storage error (a 5xx answer, a reset or a timeout), retried or not. */
  failedAttempts: number;
}

/** The service's own failures. Refused connections (the service is down, which the kubelet sees) and the client's doing are not. */
const storageFailureKinds: ReadonlySet<UpstreamErrorKind> = new Set(['reset', 'timeout']);
export const isStorageFailure = (kind: UpstreamErrorKind): boolean => storageFailureKinds.has(kind);

export interface ForwarderOptions {
  upstream: Dispatcher;
  /** The bytes request bodies may hold at once, across requests. */
  bodies: BodyBudget;
  config: Config;
  metrics: ProxyMetrics;
  logger: Logger;
  trafficSwitch: TrafficSwitch;
  proto: 'http' | 'https';
  /** The local coordinators by the sidecar's own probes: storage errors are retried only with LOCAL_QUORUM achievable, and the retry rule asks whether a named broken coordinator explains them. */
  coordinatorHealth: () => CoordinatorHealth;
  onAnswer?: (answer: Answer) => void;
}

/** One request's state, from arrival until its response closes. */
interface Flight {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly started: number;
  readonly requestId: string;
  answeredBy: Answer['answeredBy'];
  upstreamError: UpstreamErrorKind | undefined;
  /** Body bytes reserved in the budget, released when the response closes. */
  reserved: number;
  attempts: number;
  failedAttempts: number;
  retries: number;
  /** When the exchange must have its answer's head (epoch ms), retries included; 0 before it starts. */
  deadline: number;
  /** Aborts the attempt under way (undici's cheapest signal). */
  abort: EventEmitter | null;
  deadlinePassed: boolean;
  /** The request's handling, once it started: it records why it failed, so the answer is reported after it settles. */
  flow: Promise<void> | null;
}

/** undici's errors when the client's side ended the exchange: our abort when it left, or its response closing early. */
const clientSideCodes = new Set(['UND_ERR_ABORTED', 'ERR_STREAM_PREMATURE_CLOSE', 'ERR_STREAM_DESTROYED']);

/** Swallows a failed answer that is about to be retried. */
const discard = (): Writable => new Writable({ write: (_chunk, _encoding, done) => { done(); } });

/** The shortest time worth a retry. */
const minRetryTimeMs = 50;

export class Forwarder {
  #inflight = 0;
  readonly #flights = new Set<Flight>();
  /** Runs only while requests are in flight: an idle sidecar has nothing to sweep, and need not wake for it. */
  #sweeper: NodeJS.Timeout | null = null;
  readonly #options: ForwarderOptions;
  readonly #bodies: BodyBudget;
  readonly #retryBudget: RetryBudget;
  readonly #turnedAway: FloodLog;
  readonly #retried: FloodLog;

  constructor(options: ForwarderOptions) {
    this.#options = options;
    this.#bodies = options.bodies;
    this.#retryBudget = new RetryBudget(options.config.retries, options.coordinatorHealth);
    this.#turnedAway = new FloodLog(options.logger, 'turned a request away (depooled or over a limit)');
    this.#retried = new FloodLog(options.logger, 'retried a storage error of the session service');
  }

  get inflight(): number {
    return this.#inflight;
  }

  /** Node's request listener. Never throws: every failure becomes an answer or a clean close. */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    this.#handle(req, res, false);
  };

  /** The listener for requests that carry `Expect: 100-continue`: 100 only once the request will really be forwarded. */
  readonly handleExpectingContinue = (req: IncomingMessage, res: ServerResponse): void => {
    this.#handle(req, res, true);
  };

  /** At shutdown: logs what the flood logs still hold and stops the sweeper. */
  close(): void {
    this.#stopSweeper();
    this.#turnedAway.flush();
    this.#retried.flush();
  }

  #handle(req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): void {
    const { config, metrics, trafficSwitch, proto } = this.#options;
    const flight: Flight = {
      req, res, started: performance.now(), requestId: requestIdOf(req.headers), answeredBy: 'sidecar', upstreamError: undefined,
      reserved: 0, attempts: 0, failedAttempts: 0, retries: 0, deadline: 0, abort: null, deadlinePassed: false, flow: null,
    };
    this.#inflight++;
    metrics.inflight.inc();
    this.#flights.add(flight);
    this.#sweeper ??= setInterval(() => { this.#abortOverdue(); }, 250).unref();
    requestBegan(req.socket);
    res.once('close', () => { this.#finish(flight); });

    // Absolute-form: from here on the request is what its origin-form twin would be.
    const absolute = absoluteForm(req.url);
    if (absolute) req.url = absolute.path;
    const { headers, hostHeaders } = upstreamRequestHeaders(req.rawHeaders, req.headers.connection, {
      clientAddress: clientAddressOf(req.socket.remoteAddress), proto, requestId: flight.requestId, ...(absolute ? { authority: absolute.authority } : {}),
    });
    const refusal = admit({ httpVersionMajor: req.httpVersionMajor, httpVersionMinor: req.httpVersionMinor, url: req.url, headers: req.headers, hostHeaders }, { depooled: trafficSwitch.depooled, turningAway: trafficSwitch.turningAway, inflight: this.#inflight }, config);
    if (refusal !== null) {
      this.#refuse(flight, refusal);
      return;
    }
    if (expectsContinue) res.writeContinue();
    flight.flow = receiveBody(req, {
      maxBytes: config.limits.max_body_bytes,
      timeoutMs: config.limits.body_timeout_ms,
      budget: this.#bodies,
      reserved: (bytes) => { flight.reserved += bytes; },
    })
      .then((body) => this.#exchange(flight, headers, body))
      .catch((error: unknown) => { this.#fail(flight, error); });
  }

  #refuse(flight: Flight, refusal: Refusal): void {
    const { res, req, requestId } = flight;
    sendProblem(res, refusal.problem, refusal.detail, {
      instance: req.url, requestId, close: refusal.close,
      ...(refusal.retryAfter ? { retryAfterSeconds: this.#options.config.limits.retry_after_seconds } : {}),
    });
  }

  /** Sends the request to the service until an answer may go to the client; its head is written into `res` then, and its body streamed. */
  async #exchange(flight: Flight, headers: string[], body: Buffer | null): Promise<void> {
    const { config, upstream } = this.#options;
    const { req, res } = flight;
    const method = req.method as Dispatcher.HttpMethod;
    const path = req.url as string;
    const canReplay = config.retries.enabled && replayable(method, path);
    if (canReplay) this.#retryBudget.recordRequest();
    flight.deadline = Date.now() + config.upstream.headers_timeout_ms;
    try {
      for (;;) {
        flight.attempts++;
        const isRetry = flight.attempts > 1;
        const abort = new EventEmitter();
        flight.abort = abort;
        let retrying = false;
        try {
          await upstream.stream(
            { method, path, headers, body, signal: abort, headersTimeout: Math.max(1, flight.deadline - Date.now()), bodyTimeout: config.upstream.body_timeout_ms },
            ({ statusCode, headers: answerHeaders }) => {
              if (statusCode >= 500) {
                this.#failedAttempt(flight, canReplay);
                retrying = canReplay && statusCode === 500 && this.#mayRetry(flight, body, 'server_error');
                if (retrying) return discard();
              }
              flight.answeredBy = 'service';
              const forwarded = clientResponseHeaders(answerHeaders);
              // Depooled: the connection closes after the answer, so that the client reconnects to another pod.
              if (this.#options.trafficSwitch.depooled) forwarded.connection = 'close';
              res.writeHead(statusCode, forwarded);
              return res;
            },
          );
        } catch (error) {
          if (!flight.deadlinePassed && clientSideCodes.has((error as { code?: string }).code ?? '')) throw new ClientGone('the client went away');
          const failure = classifyUpstreamError(flight.deadlinePassed ? { code: 'UND_ERR_HEADERS_TIMEOUT' } : error);
          if (isStorageFailure(failure.kind)) this.#failedAttempt(flight, canReplay);
          // A reset before any answer: the service (or a pooled connection it had closed) dropped the request.
          if (!(canReplay && failure.kind === 'reset' && !res.headersSent && this.#mayRetry(flight, body, 'reset'))) throw error;
          retrying = true;
        }
        if (isRetry) this.#options.metrics.retries.inc({ method: methodLabel(method), outcome: retrying ? 'failed' : 'succeeded' });
        if (!retrying) return;
      }
    } finally {
      flight.abort = null;
    }
  }

  /** Counts a storage error; on a first attempt, also toward the share the retry rule compares with the canaries. */
  #failedAttempt(flight: Flight, canReplay: boolean): void {
    flight.failedAttempts++;
    if (canReplay && flight.attempts === 1) this.#retryBudget.recordFailedFirstAttempt();
  }

  /** Whether this failed attempt may be sent again; takes the retry from the budget when it may. */
  #mayRetry(flight: Flight, body: Buffer | null, failure: 'server_error' | 'reset'): boolean {
    const { config, metrics, coordinatorHealth } = this.#options;
    if (flight.retries >= config.retries.max_per_request) return false;
    const skip = (reason: SkipReason): false => {
      metrics.retriesSkipped.inc({ reason });
      return false;
    };
    if (body !== null && body.length > config.retries.max_body_bytes) return skip('body_too_large');
    // A storage error while Cassandra itself lacks quorum fails again wherever it goes.
    if (failure === 'server_error' && !coordinatorHealth().localQuorum) return skip('no_local_quorum');
    if (flight.deadline - Date.now() < minRetryTimeMs) return skip('deadline');
    const explained = this.#retryBudget.explained();
    metrics.retryFaultExplained.set(explained ? 1 : 0);
    if (!this.#retryBudget.tryTake(explained)) return skip('budget');
    flight.retries++;
    this.#retried.note(() => ({ request_id: flight.requestId, method: flight.req.method, path: loggablePath(flight.req.url ?? ''), failure, retry: flight.retries }));
    return true;
  }

  /** Answers a failed request if nothing was sent yet, or cuts the connection so the client sees a truncated answer. */
  #fail(flight: Flight, error: unknown): void {
    const { req, res, requestId } = flight;
    const { metrics, config } = this.#options;
    if (error instanceof BodyRefused) {
      sendProblem(res, error.problem, error.message, {
        instance: req.url, requestId, close: true,
        ...(error.retryAfter ? { retryAfterSeconds: config.limits.retry_after_seconds } : {}),
      });
      return;
    }
    // The client went away (mid-body, while waiting, or mid-answer): nobody to answer.
    if (error instanceof ClientGone) {
      res.destroy();
      return;
    }
    const failure = classifyUpstreamError(flight.deadlinePassed ? { code: 'UND_ERR_HEADERS_TIMEOUT' } : error);
    metrics.upstreamErrors.inc({ kind: failure.kind });
    flight.upstreamError = failure.kind;
    // Once the service's answer has begun, cutting the connection is the only honest signal left.
    if (res.headersSent) {
      res.destroy();
      return;
    }
    flight.answeredBy = 'sidecar';
    sendProblem(res, failure.problem, failure.detail, { instance: req.url, requestId });
  }

  #abortOverdue(): void {
    if (this.#flights.size === 0) {
      this.#stopSweeper();
      return;
    }
    const now = Date.now();
    for (const flight of this.#flights) {
      if (flight.abort !== null && flight.deadline > 0 && now > flight.deadline && !flight.res.headersSent) {
        flight.deadlinePassed = true;
        flight.abort.emit('abort');
      }
    }
  }

  #stopSweeper(): void {
    if (this.#sweeper !== null) clearInterval(this.#sweeper);
    this.#sweeper = null;
  }

  /**
   * The response closed, however it ended: the slot, the body's bytes and the
   * connection's count are free at once; an attempt still under way for a client that
   * left is aborted.
   */
  #finish(flight: Flight): void {
    if (!flight.res.writableFinished) flight.abort?.emit('abort');
    this.#inflight--;
    this.#options.metrics.inflight.dec();
    this.#flights.delete(flight);
    this.#bodies.release(flight.reserved);
    requestEnded(flight.req.socket);
    if (flight.flow === null) this.#report(flight);
    else void flight.flow.then(() => { this.#report(flight); });
  }

  #report(flight: Flight): void {
    const { metrics, onAnswer } = this.#options;
    const { req, res } = flight;
    // 499, as nginx counts it: the client left before its answer was complete.
    const status = !res.writableFinished && flight.upstreamError === undefined ? 499 : res.statusCode;
    const answer: Answer = {
      method: req.method ?? '', path: req.url ?? '', status, durationSeconds: (performance.now() - flight.started) / 1000,
      answeredBy: flight.answeredBy, attempts: flight.attempts, failedAttempts: flight.failedAttempts,
    };
    if (flight.upstreamError !== undefined) answer.upstreamError = flight.upstreamError;
    metrics.requests.inc({ method: methodLabel(req.method), code: status });
    metrics.duration.observe(answer.durationSeconds);
    if (flight.retries > 0) metrics.retriedDuration.observe(answer.durationSeconds);
    onAnswer?.(answer);
    this.#log(answer, flight.requestId);
  }

  #log(answer: Answer, requestId: string): void {
    const { logger, config } = this.#options;
    // Built only for a line that is written: most requests log nothing.
    const fields = () => ({ request_id: requestId, method: answer.method, path: loggablePath(answer.path), status: answer.status, duration_ms: Math.round(answer.durationSeconds * 1e4) / 10, attempts: answer.attempts });
    if (answer.upstreamError !== undefined) {
      logger.error({ ...fields(), error: answer.upstreamError }, 'request failed');
    } else if (answer.answeredBy === 'sidecar' && answer.status === 503) {
      this.#turnedAway.note(fields);
    } else if (answer.answeredBy === 'service' && answer.status >= 500) {
      logger.error(fields(), 'the session service answered with an error');
    } else if (config.logging.access_log.enabled && Math.random() < config.logging.access_log.sample_rate) {
      logger.info(fields(), 'access');
    }
  }
}
