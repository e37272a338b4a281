// Runs the session service and starts it again whenever it exits, as the kubelet
// restarts a container. The current process's pid is kept in a pid file, so
// the sidecar (and tests) can find and signal it.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { stopChild } from '../cleanup.ts';

/** One exit of the service's process: a signal's name when one ended it (a restart by the sidecar: SIGTERM), else its exit code. */
export interface ServiceExit {
  at: number;
  code: number | null;
  signal: string | null;
}

export interface Supervisor {
  /** The pid of the running service, changing with each restart. */
  pid(): number | undefined;
  restarts(): number;
  exits(): ServiceExit[];
  stop(): Promise<void>;
}

export interface SupervisorOptions {
  /** The lab's service binary and its arguments. */
  file: string;
  args: string[];
  /**
   * Another Kask-compatible binary instead of the lab service: a shell command, run
   * with `exec` so that the pid file names the process that holds the pool.
   */
  command?: string;
  pidFile: string;
  onLine?: (line: string) => void;
  /**
   * How long to wait before starting it again. Default 100 ms, kept short for tests;
   * `crashLoopBackOff` is the kubelet's own: 10 s, doubling with each exit, at most 5 min.
   */
  restartDelayMs?: number | 'crashLoopBackOff';
  /** Run the service with this group, so that network faults can single its sockets out (lab/cluster/faults.ts). */
  gid?: number;
  /**
   * A slow start at every start: the container's process runs (the pid file names it) but
   * connects to nothing and answers nothing for this long, as a service still loading.
   */
  startDelayMs?: number;
}

export function superviseService(options: SupervisorOptions): Supervisor {
  let child: ChildProcess | undefined;
  const exits: ServiceExit[] = [];
  let stopping = false;
  const start = (): void => {
    // Piped, not inherited: a service left behind by a killed test must not hold the test runner's output open.
    const delay = options.startDelayMs === undefined ? '' : `sleep ${options.startDelayMs / 1000} && `;
    // A shell that execs the service keeps its pid: the pid file names the service throughout.
    const [file, args] = options.command === undefined
      ? (delay ? ['/bin/sh', ['-c', `${delay}exec "$0" "$@"`, options.file, ...options.args]] : [options.file, options.args])
      : ['/bin/sh', ['-c', `${delay}exec ${options.command}`]];
    child = spawn(file, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(options.gid === undefined ? {} : { gid: options.gid }),
    });
    child.stderr?.on('data', (chunk: Buffer) => { options.onLine?.(chunk.toString().trimEnd()); });
    writeFileSync(options.pidFile, String(child.pid));
    let buffered = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) options.onLine?.(line);
    });
    child.once('exit', (code, signal) => {
      if (stopping) return;
      exits.push({ at: Date.now(), code, signal });
      const delay = options.restartDelayMs === 'crashLoopBackOff' ? Math.min(10_000 * 2 ** (exits.length - 1), 300_000) : options.restartDelayMs ?? 100;
      void sleep(delay).then(() => { if (!stopping) start(); });
    });
  };
  start();
  return {
    pid: () => child?.pid,
    restarts: () => exits.length,
    exits: () => exits,
    stop: async () => {
      stopping = true;
      if (child) await stopChild(child, 'the session service', 10_000);
    },
  };
}
