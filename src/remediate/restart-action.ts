// How the service's pool is restarted: by default a signal to its process (after
// SIGTERM the kubelet starts the container again, and with it a fresh driver pool),
// or an HTTP call to a reload endpoint, or a command.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { request } from 'undici';
import type { Config } from '../config/schema.ts';
import { findServiceProcess } from '../service/pool-sockets.ts';
import { shownCommand, shownUrl } from '../telemetry/redact.ts';

const run = promisify(execFile);

export interface RestartResult {
  /** The process that was signalled, so the caller can wait for it to go. */
  signalledPid: number | null;
  detail: string;
}

export async function restartService(config: Config): Promise<RestartResult> {
  const { remediation, service } = config;
  switch (remediation.action) {
    case 'signal': {
      const pid = await findServiceProcess({ processName: service.process_name, ...(service.pid_file ? { pidFile: service.pid_file } : {}) });
      if (pid === null) throw new Error(`cannot find the service's process (${service.pid_file ? `pid file ${service.pid_file}` : `name ${service.process_name}`}); does the pod share its process namespace?`);
      process.kill(pid, remediation.signal);
      return { signalledPid: pid, detail: `sent ${remediation.signal} to pid ${pid}` };
    }
    case 'http': {
      const url = remediation.http_url ?? '';
      const shown = shownUrl(url);
      // undici's own errors name the address, never the URL's user info or query; they pass as they are.
      const response = await request(url, { method: 'POST', headersTimeout: 10_000, bodyTimeout: 10_000 });
      await response.body.dump();
      if (response.statusCode >= 300) throw new Error(`POST ${shown} answered ${response.statusCode}`);
      return { signalledPid: null, detail: `POST ${shown}: ${response.statusCode}` };
    }
    case 'command': {
      const command = remediation.command ?? [];
      const [file = '', ...args] = command;
      const shown = shownCommand(command, remediation.show_command_args);
      try {
        await run(file, args, { timeout: 60_000 });
      } catch (error) {
        // execFile's message repeats the whole command line: only what may be shown, and how it ended.
        const { code, signal } = error as { code?: number | string; signal?: string };
        // eslint-disable-next-line preserve-caught-error -- the cause's message repeats the command line, secrets included
        throw new Error(`${shown} failed (${signal ? `signal ${signal}` : `exit ${String(code)}`})`);
      }
      return { signalledPid: null, detail: `ran ${shown}` };
    }
  }
}
