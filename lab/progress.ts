// The demo's live terminal: each phase with what it waits for and for how long, and
// timeline lines as they happen. On a terminal, a spinner (ora) keeps the current
// phase in view; elsewhere (CI, a pipe) plain lines, with a heartbeat every 15 s so
// that no wait is silent.
import ora, { type Ora } from 'ora';

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

export class Progress {
  readonly #startedAt = Date.now();
  readonly #tty = process.stdout.isTTY;
  #spinner: Ora | null = null;
  #ticker: NodeJS.Timeout | undefined;

  /** A line of the timeline, stamped with the time since the demo began. */
  line(text: string): void {
    const stamped = `[${seconds(Date.now() - this.#startedAt).padStart(7)}] ${text}`;
    if (this.#spinner?.isSpinning) {
      this.#spinner.clear();
      console.log(stamped);
      this.#spinner.render();
    } else {
      console.log(stamped);
    }
  }

  /** Runs one phase: says what it waits for while it waits, and how long it took. */
  async phase<T>(title: string, waitingFor: string, work: () => Promise<T>): Promise<T> {
    const began = Date.now();
    const text = (): string => `${title}: waiting for ${waitingFor} (${seconds(Date.now() - began)})`;
    if (this.#tty) {
      this.#spinner = ora({ text: text(), stream: process.stdout }).start();
      this.#ticker = setInterval(() => { if (this.#spinner) this.#spinner.text = text(); }, 500);
    } else {
      this.line(`▶ ${title}: waiting for ${waitingFor}`);
      this.#ticker = setInterval(() => { this.line(`  … ${text()}`); }, 15_000);
    }
    try {
      const result = await work();
      this.#end(true, `${title} (${seconds(Date.now() - began)})`);
      return result;
    } catch (error) {
      this.#end(false, `${title} failed after ${seconds(Date.now() - began)}: ${(error as Error).message}`);
      throw error;
    }
  }

  #end(ok: boolean, text: string): void {
    clearInterval(this.#ticker);
    if (this.#spinner) {
      if (ok) this.#spinner.succeed(text);
      else this.#spinner.fail(text);
      this.#spinner = null;
    } else {
      this.line(`${ok ? '✔' : '✖'} ${text}`);
    }
  }
}
