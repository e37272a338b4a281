// Loopback ports for the lab's processes.
import { randomInt } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';

/** Where the kernel starts picking the local ports of outgoing connections. */
function ephemeralRangeStart(): number {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 32768;
  } catch {
    return 32768;
  }
}

async function bindable(port: number): Promise<boolean> {
  const server = net.createServer();
  try {
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    return true;
  } catch {
    return false;
  } finally {
    if (server.listening) await new Promise((resolve) => server.close(resolve));
  }
}

/** Every port this process handed out: nothing listens on one until its process starts. */
const handedOut = new Set<number>();

/**
 * A port nothing listens on right now, below the kernel's ephemeral range: a port the
 * kernel picked (listen on 0) could be given to an outgoing connection before the
 * process it is for binds it (EADDRINUSE in a demo's fleet start, with thousands of
 * connections a minute), one below that range cannot. Never the same port twice: a
 * fleet's pods, balancer and Prometheus ask side by side, before any of them listens.
 */
export async function freePort(): Promise<number> {
  const end = ephemeralRangeStart();
  const start = Math.max(1024, end - 12_000);
  for (;;) {
    const port = randomInt(start, end);
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    if (await bindable(port)) return port;
  }
}
