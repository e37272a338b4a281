// Request bodies are received whole before anything is forwarded: a slow or vanishing
// client never holds a connection to the service, the service never sees half a
// request, and a retry can send the same bytes again. The bytes held across all
// requests are bounded by one budget, so a flood of stalled uploads cannot grow the
// process without limit.
import type { IncomingMessage } from 'node:http';
import { problems, type ProblemKind } from './problem.ts';
import { receivingBody } from './socket-requests.ts';

export class BodyRefused extends Error {
  readonly problem: ProblemKind;
  readonly retryAfter: boolean;

  constructor(problem: ProblemKind, detail: string, retryAfter = false) {
    super(detail);
    this.problem = problem;
    this.retryAfter = retryAfter;
  }
}

/** The client went away before its request was whole (or before its answer was). */
export class ClientGone extends Error {}

/** The bytes that request bodies may hold at once, across every request. */
export class BodyBudget {
  readonly limit: number;
  #held = 0;

  constructor(limit: number) {
    this.limit = limit;
  }

  get held(): number {
    return this.#held;
  }

  tryReserve(bytes: number): boolean {
    if (this.#held + bytes > this.limit) return false;
    this.#held += bytes;
    return true;
  }

  release(bytes: number): void {
    this.#held -= bytes;
  }
}

export interface BodyLimits {
  maxBytes: number;
  timeoutMs: number;
  budget: BodyBudget;
  /** Called with each reservation, so the caller releases exactly what was taken. */
  reserved: (bytes: number) => void;
}

const overBudget = (budget: BodyBudget): BodyRefused =>
  new BodyRefused(problems.overloaded, `request bodies already hold ${budget.held} of ${budget.limit} bytes`, true);

/**
 * Reads the whole body: null when the request has none. Rejects with BodyRefused
 * (too large, too slow, over the budget), or with the stream's error when the client
 * goes away.
 */
export function receiveBody(req: IncomingMessage, limits: BodyLimits): Promise<Buffer | null> {
  const declared = req.headers['content-length'];
  const chunked = req.headers['transfer-encoding'] !== undefined;
  if (!chunked && (declared === undefined || declared === '0')) {
    req.resume(); // nothing to read, but the parser must see the message end
    return Promise.resolve(null);
  }
  const { budget, maxBytes } = limits;
  if (!chunked) {
    const size = Number(declared);
    if (!budget.tryReserve(size)) return Promise.reject(overBudget(budget));
    limits.reserved(size);
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const fail = (error: Error): void => {
      clearTimeout(timer);
      stopWatching();
      req.off('data', onData);
      reject(error);
    };
    const stopWatching = receivingBody(req, (detail) => { fail(new BodyRefused(problems.badRequest, detail)); });
    const timer = setTimeout(() => {
      fail(new BodyRefused(problems.requestTimeout, `the body did not arrive within ${limits.timeoutMs} ms`));
    }, limits.timeoutMs);
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > maxBytes) {
        fail(new BodyRefused(problems.bodyTooLarge, `the body may be at most ${maxBytes} bytes`));
        return;
      }
      if (chunked) {
        if (!budget.tryReserve(chunk.length)) {
          fail(overBudget(budget));
          return;
        }
        limits.reserved(chunk.length);
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => {
      clearTimeout(timer);
      stopWatching();
      resolve(Buffer.concat(chunks, size));
    });
    req.once('error', () => { fail(new ClientGone('the client went away mid-body')); });
    req.once('close', () => {
      if (!req.complete) fail(new ClientGone('the client went away mid-body'));
    });
  });
}
