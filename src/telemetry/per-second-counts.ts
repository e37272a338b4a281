// Counts per second over a sliding window of whole seconds: one bucket per second,
// reused in a ring, so counting costs a few additions on the request path. The
// storage-error window and the retry budget are both built on it.

export class PerSecondCounts<Name extends string> {
  readonly windowSeconds: number;
  readonly #names: readonly Name[];
  readonly #now: () => number;
  readonly #stamp: number[];
  readonly #counts: Record<Name, number[]>;

  constructor(names: readonly Name[], windowSeconds: number, now: () => number = Date.now) {
    this.windowSeconds = windowSeconds;
    this.#names = names;
    this.#now = now;
    this.#stamp = new Array<number>(windowSeconds).fill(-1);
    this.#counts = Object.fromEntries(names.map((name) => [name, new Array<number>(windowSeconds).fill(0)])) as Record<Name, number[]>;
  }

  add(name: Name, amount = 1): void {
    const second = Math.floor(this.#now() / 1000);
    const slot = second % this.windowSeconds;
    if (this.#stamp[slot] !== second) {
      this.#stamp[slot] = second;
      for (const n of this.#names) this.#counts[n][slot] = 0;
    }
    this.#counts[name][slot] = (this.#counts[name][slot] ?? 0) + amount;
  }

  /** Sums over the window, the current second included. */
  total(name: Name): number {
    const oldest = Math.floor(this.#now() / 1000) - this.windowSeconds + 1;
    let sum = 0;
    for (let slot = 0; slot < this.windowSeconds; slot++) {
      if ((this.#stamp[slot] ?? -1) >= oldest) sum += this.#counts[name][slot] ?? 0;
    }
    return sum;
  }

  /** The window second by second, oldest first: [epoch second, counts]. Seconds with nothing counted are left out. */
  seconds(): { second: number; counts: Record<Name, number> }[] {
    const current = Math.floor(this.#now() / 1000);
    const out: { second: number; counts: Record<Name, number> }[] = [];
    for (let second = current - this.windowSeconds + 1; second <= current; second++) {
      const slot = second % this.windowSeconds;
      if (this.#stamp[slot] !== second) continue;
      out.push({ second, counts: Object.fromEntries(this.#names.map((n) => [n, this.#counts[n][slot] ?? 0])) as Record<Name, number> });
    }
    return out;
  }
}
