// What test helpers need from a tap test (so the demo can use them too): somewhere to
// register cleanup, and scratch directories that go away with the test.
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
