// `npm run demo` as the tests run it: a child process, stopped and the cluster restored
// however the test ends, and its own error picked out of its output for a failed run.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Test } from 'tap';
import type { ScenarioResult } from '../../lab/demo/incidents.ts';
import { restoreClusterAfter } from './restore-cluster.ts';

export const demo = join(import.meta.dirname, '../../lab/demo/cli.ts');

/** Runs the demo; a test that ends early, however it ends, stops it (SIGTERM: it cleans up after itself) and restores the cluster. */
export function startDemo(t: Test, args: string[]): ChildProcessByStdio<null, Readable, Readable> {
  const child = spawn(process.execPath, [demo, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const running = (): boolean => child.exitCode === null && child.signalCode === null;
  const closed = once(child, 'close').catch(() => undefined);
  process.once('exit', () => { if (running()) child.kill('SIGTERM'); });
  t.teardown(async () => {
    if (running()) child.kill('SIGTERM');
    await closed;
  });
  // Should the demo's own cleanup fail, the suite's later files still find the cluster whole.
  restoreClusterAfter(t);
  return child;
}

/** Runs the demo to its end, its report in `dir`: its exit code, its output, and the report's data (none if it failed before writing it). */
export async function runDemo(t: Test, dir: string, args: string[]): Promise<{ code: number | null; output: string; report: string; results: ScenarioResult[] }> {
  const report = join(dir, 'demo-report.html');
  const child = startDemo(t, [...args, '--report', report]);
  let output = '';
  for (const stream of [child.stdout, child.stderr]) stream.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  const [code] = (await once(child, 'close')) as [number | null];
  const results = code === 0 ? JSON.parse(readFileSync(join(dir, 'demo-report.json'), 'utf8')) as ScenarioResult[] : [];
  return { code, output, report, results };
}

/** For a failed demo: its own error (the failing step, a node's log), which the sidecars' state it prints after would push out of a plain tail, and that tail. */
export function failureOutput(output: string): { error: string; output: string } {
  const at = output.search(/demo failed:|demo: cleaning up failed:/);
  return { error: at === -1 ? '(none said)' : output.slice(at, at + 3000), output: output.slice(-3000) };
}
