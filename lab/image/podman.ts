// The container engine the lab builds and runs the image with: Debian's podman, as root,
// with the lab's own engine settings (containers.conf beside this file).
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** podman's environment: this process's, with the lab's engine settings. */
export const podmanEnvironment = (): NodeJS.ProcessEnv => ({ ...process.env, CONTAINERS_CONF: join(import.meta.dirname, 'containers.conf') });

/** Runs podman to the end and returns what it printed; rejects with its stderr when it fails. */
export async function podman(args: string[], cwd?: string): Promise<string> {
  try {
    const { stdout } = await run('podman', args, { cwd, env: podmanEnvironment(), maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (error) {
    const { stderr } = error as { stderr?: string };
    throw new Error(`podman ${args[0] ?? ''} failed: ${(stderr ?? String(error)).trim().split('\n').slice(-5).join('\n')}`, { cause: error });
  }
}

/** Runs podman to the end, whatever its exit code: what a test asserts about a command that must fail. */
export async function podmanOutcome(args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run('podman', args, { env: podmanEnvironment(), maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const { code, stdout, stderr } = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof code === 'number' ? code : -1, output: (stdout ?? '') + (stderr ?? '') };
  }
}

/** Whether a local image of that name exists. */
export async function imageExists(name: string): Promise<boolean> {
  try {
    await podman(['image', 'exists', name]);
    return true;
  } catch {
    return false;
  }
}
