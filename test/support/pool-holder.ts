// A child process that holds TCP connections open, standing in for the service's
// driver pool in tests of what /proc shows about it.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, writeFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Test } from 'tap';
import { temporaryDirectory } from '../../lab/cleanup.ts';

/** A listener standing in for a Cassandra node's native port. */
export async function listenOn(t: Test, address: string): Promise<number> {
  const server = net.createServer((socket) => socket.on('error', () => undefined)).listen(0, address);
  await once(server, 'listening');
  t.teardown(() => { server.close(); });
  return (server.address() as AddressInfo).port;
}

/** `prefix`: a command the holder's command line is appended to, and which execs it (another UID, say). */
export async function startPoolHolder(t: Test, port: number, address: string, connections: number, prefix: string[] = []): Promise<{ child: ChildProcess; pidFile: string }> {
  const [command, ...args] = [...prefix, process.execPath, '-e', `
    const net = require('node:net');
    let open = 0;
    for (let i = 0; i < ${connections}; i++) net.connect(${port}, '${address}', () => { if (++open === ${connections}) console.log('ready'); });
    setInterval(() => {}, 1000);
  `];
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => child.kill());
  await once(child.stdout as NodeJS.ReadableStream, 'data');
  const directory = temporaryDirectory(t, 'sidecar-pid-');
  chmodSync(directory, 0o755); // readable by a sidecar of another UID
  const pidFile = join(directory, 'service.pid');
  writeFileSync(pidFile, String(child.pid));
  return { child, pidFile };
}
