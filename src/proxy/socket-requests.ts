// Requests in flight per client connection. When a pipelined request turns out
// malformed after valid ones, the valid ones' answers must reach the client first:
// a client told "400" could not otherwise know that a write before it went through.
// When the parser fails inside a body being received (invalid chunk framing), that
// request is the malformed one: it gets its 400 at once, rather than waiting out the
// body timeout for bytes the parser will never deliver.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';

interface SocketState {
  pending: number;
  onIdle: (() => void) | null;
  /** The body being received on this connection, told when its framing is invalid. */
  bodyInProgress: { req: IncomingMessage; fail: (detail: string) => void } | null;
}

const states = new WeakMap<Socket, SocketState>();

export function requestBegan(socket: Socket): void {
  const state = states.get(socket);
  if (state) state.pending++;
  else states.set(socket, { pending: 1, onIdle: null, bodyInProgress: null });
}

export function requestEnded(socket: Socket): void {
  const state = states.get(socket);
  if (!state) return;
  state.pending--;
  if (state.pending === 0 && state.onIdle) {
    const run = state.onIdle;
    state.onIdle = null;
    run();
  }
}

/** Runs `fn` once no request on this connection is in flight: now, or when the last one's answer is done. */
export function whenIdle(socket: Socket, fn: () => void): void {
  const state = states.get(socket);
  if (!state || state.pending === 0) fn();
  else state.onIdle = fn;
}

/** While `req`'s body is received, `onInvalid` answers for a parser error in it. Returns the unregister. */
export function receivingBody(req: IncomingMessage, onInvalid: (detail: string) => void): () => void {
  const entry = { req, fail: onInvalid };
  const state = states.get(req.socket);
  if (state) state.bodyInProgress = entry;
  return () => { if (state?.bodyInProgress === entry) state.bodyInProgress = null; };
}

/**
 * A parser error on this connection: the body being received, if any, fails with it.
 * Whether one was. A body the parser has completed is not (its 'end' may not have been
 * emitted yet): the error is then in the next pipelined request.
 */
export function failBodyInProgress(socket: Socket, detail: string): boolean {
  const body = states.get(socket)?.bodyInProgress;
  if (!body || body.req.complete) return false;
  body.fail(detail);
  return true;
}
