// What test helpers need from a tap test (so the demo can use them too): somewhere to
// register cleanup, scratch directories that go away with the test, and a way to stop
// a process that cannot hang the test stopping it.
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Cleanup {
  teardown(fn: () => unknown): void;
}

/** A fresh directory under the OS temp dir, removed when `owner` tears down. */
export function temporaryDirectory(owner: Cleanup, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  owner.teardown(() => { rmSync(dir, { recursive: true, force: true }); });
  return dir;
}

/**
 * Sends `signal` and resolves with the exit code once `child` has closed. A process
 * still running `graceMs` later gets SIGKILL, as the kubelet sends it after a pod's
 * grace period, and stderr says so: one hung in its shutdown never hangs a teardown.
 */
export async function stopChild(child: ChildProcess, name: string, graceMs: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const closed = once(child, 'close') as Promise<[number | null]>;
  child.kill(signal);
  const killer = setTimeout(() => {
    process.stderr.write(`${name} (pid ${child.pid ?? '?'}) still running ${graceMs} ms after ${signal}: SIGKILL\n`);
    child.kill('SIGKILL');
  }, graceMs);
  try {
    return (await closed)[0];
  } finally {
    clearTimeout(killer);
  }
}
