// The service's answers as the reconcile loop needs them: API requests and storage
// errors per second, summed over a sliding window. One bucket per second, reused in
// a ring, so recording an answer costs a few additions on the request path.
import { isStorageError, type Answer } from '../proxy/forward.ts';

export interface TrafficWindow {
  windowSeconds: number;
  requests: number;
  storageErrors: number;
  /** The last complete second's storage errors, as the per-second rate. */
  storageErrorsLastSecond: number;
}

const apiPath = /^\/sessions\//;

export class StorageErrorWindow {
  readonly #seconds: number;
  readonly #now: () => number;
  readonly #stamp: number[];
  readonly #requests: number[];
  readonly #errors: number[];

  constructor(windowSeconds: number, now: () => number = Date.now) {
    this.#seconds = windowSeconds;
    this.#now = now;
    this.#stamp = new Array<number>(windowSeconds).fill(-1);
    this.#requests = new Array<number>(windowSeconds).fill(0);
    this.#errors = new Array<number>(windowSeconds).fill(0);
  }

  record(answer: Answer): void {
    if (!apiPath.test(answer.path) || answer.status === 499) return; // a client that left says nothing about storage
    const second = Math.floor(this.#now() / 1000);
    const slot = second % this.#seconds;
    if (this.#stamp[slot] !== second) {
      this.#stamp[slot] = second;
      this.#requests[slot] = 0;
      this.#errors[slot] = 0;
    }
    this.#requests[slot] = (this.#requests[slot] ?? 0) + 1;
    if (isStorageError(answer)) this.#errors[slot] = (this.#errors[slot] ?? 0) + 1;
  }

  snapshot(): TrafficWindow {
    const current = Math.floor(this.#now() / 1000);
    const oldest = current - this.#seconds + 1;
    let requests = 0;
    let storageErrors = 0;
    let storageErrorsLastSecond = 0;
    for (let slot = 0; slot < this.#seconds; slot++) {
      const stamp = this.#stamp[slot] ?? -1;
      if (stamp < oldest) continue;
      requests += this.#requests[slot] ?? 0;
      storageErrors += this.#errors[slot] ?? 0;
      if (stamp === current - 1) storageErrorsLastSecond = this.#errors[slot] ?? 0;
    }
    return { windowSeconds: this.#seconds, requests, storageErrors, storageErrorsLastSecond };
  }
}
