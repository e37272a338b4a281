// The remediator's time: the clock and the timers, injected together so that its tests
// run in virtual time (test/support/virtual-clock.ts) and need no real sleeps.
import { setTimeout as sleep } from 'node:timers/promises';

export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  sleep(ms: number): Promise<void>;
  /** Calls `tick` every `ms` until the returned function is called; never keeps the process alive. */
  every(ms: number, tick: () => void): () => void;
}

export const systemClock: Clock = {
  now: Date.now,
  sleep: (ms) => sleep(ms),
  every: (ms, tick) => {
    const timer = setInterval(tick, ms);
    timer.unref();
    return () => { clearInterval(timer); };
  },
};
