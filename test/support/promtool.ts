// Prometheus's own promtool, as the alert tests run it: its exit code and everything it printed.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

export interface PromtoolOutcome { code: number; output: string }

export async function promtool(...args: string[]): Promise<PromtoolOutcome> {
  try {
    const { stdout, stderr } = await promisify(execFile)('promtool', args, { maxBuffer: 1 << 26 });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const { code, stdout, stderr } = error as { code: number; stdout: string; stderr: string };
    return { code, output: stdout + stderr };
  }
}
