// The service's answers as the reconcile loop needs them: API requests, and those the
// service failed with a storage error, second by second over a sliding window.
// A request counts as failed when the service's *first* attempt failed, whether or not
// a retry then shielded the client: the diagnosis is about the service's view of the
// cluster, which retries do not change. DELETEs are kept apart: Kask deletes at
// EACH_QUORUM, so a remote data center without quorum fails them, and that is not the
// service's doing.
import type { Answer } from '../proxy/forward.ts';
import { PerSecondCounts } from '../telemetry/per-second-counts.ts';

const kinds = ['requests', 'storageErrors', 'deletes', 'deleteStorageErrors', 'failedAnswers'] as const;
type Kind = (typeof kinds)[number];

export interface TrafficSecond {
  /** Epoch second. */
  second: number;
  /** API requests other than DELETE, and those whose first attempt the service failed. */
  requests: number;
  storageErrors: number;
  deletes: number;
  deleteStorageErrors: number;
}

export interface TrafficWindow {
  windowSeconds: number;
  /** Totals over the window, for /status. */
  requests: number;
  storageErrors: number;
  /** Requests whose client got a failure in the end, retries spent. */
  failedAnswers: number;
  /** The last complete second's storage errors, as the per-second rate. */
  storageErrorsLastSecond: number;
  seconds: TrafficSecond[];
}

const apiPath = /^\/sessions\//;

export class StorageErrorWindow {
  readonly #counts: PerSecondCounts<Kind>;
  readonly #now: () => number;

  constructor(windowSeconds: number, now: () => number = Date.now) {
    this.#counts = new PerSecondCounts(kinds, windowSeconds, now);
    this.#now = now;
  }

  record(answer: Answer): void {
    // Only what reached the service says anything about it: not a client that left,
    // nor a request the sidecar refused itself.
    if (answer.attempts === 0 || answer.status === 499 || !apiPath.test(answer.path)) return;
    const isDelete = answer.method === 'DELETE';
    this.#counts.add(isDelete ? 'deletes' : 'requests');
    if (answer.failedAttempts > 0) this.#counts.add(isDelete ? 'deleteStorageErrors' : 'storageErrors');
    if (answer.status >= 500) this.#counts.add('failedAnswers');
  }

  snapshot(): TrafficWindow {
    const lastSecond = Math.floor(this.#now() / 1000) - 1;
    const seconds = this.#counts.seconds().map(({ second, counts }) => ({
      second, requests: counts.requests, storageErrors: counts.storageErrors, deletes: counts.deletes, deleteStorageErrors: counts.deleteStorageErrors,
    }));
    const last = seconds.find((s) => s.second === lastSecond);
    return {
      windowSeconds: this.#counts.windowSeconds,
      requests: this.#counts.total('requests') + this.#counts.total('deletes'),
      storageErrors: this.#counts.total('storageErrors') + this.#counts.total('deleteStorageErrors'),
      failedAnswers: this.#counts.total('failedAnswers'),
      storageErrorsLastSecond: last === undefined ? 0 : last.storageErrors + last.deleteStorageErrors,
      seconds,
    };
  }
}
