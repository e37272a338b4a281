// Requests in flight per client connection. When a pipelined request turns out
// malformed after valid ones, the valid ones' answers must reach the client first:
// a client told "400" could not otherwise know that a write before it went through.
import type { Socket } from 'node:net';

interface SocketState {
  pending: number;
  onIdle: (() => void) | null;
}

const states = new WeakMap<Socket, SocketState>();

export function requestBegan(socket: Socket): void {
  const state = states.get(socket);
  if (state) state.pending++;
  else states.set(socket, { pending: 1, onIdle: null });
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
