// Virtual time for the remediator's tests: sleeping moves the clock forward at once,
// firing on the way every interval that falls due, so a restart that waits minutes
// runs in milliseconds, in the order real time would give.
import type { Clock } from '../../src/remediate/clock.ts';

interface Interval { next: number; ms: number; tick: () => void }

export class VirtualClock implements Clock {
  #now = Date.parse('2026-01-01T00:00:00Z');
  readonly #intervals = new Set<Interval>();

  now = (): number => this.#now;

  /** Moves time forward by `ms`, firing each interval as it falls due. */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      const due = [...this.#intervals].filter((i) => i.next <= target).sort((a, b) => a.next - b.next)[0];
      if (due === undefined) break;
      this.#now = due.next;
      due.next += due.ms;
      due.tick();
    }
    this.#now = target;
  }

  /** Advances at once; resolves after the I/O already due, so that promises settled meanwhile are seen. */
  sleep = async (ms: number): Promise<void> => {
    this.advance(ms);
    await new Promise((resolve) => setImmediate(resolve));
  };

  every = (ms: number, tick: () => void): (() => void) => {
    const interval = { next: this.#now + ms, ms, tick };
    this.#intervals.add(interval);
    return () => { this.#intervals.delete(interval); };
  };
}
