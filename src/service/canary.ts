// The canary through the service's API: write a random value under a reserved key,
// straight to the service (not through the proxy), and read it back. Used by the
// service view at a low rate and by the remediation to call a restart healthy.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { request } from 'undici';

/**
 * One key per sidecar process: two sidecars writing one key at once would each read the
 * other's value back and call the service broken (a fleet's sidecars start together,
 * and their canaries then run in step; hosts may share a name, as the lab's pods do).
 */
const canaryKey = `sessionstore-sidecar-canary-${hostname()}-${process.pid}`;

/** Returns 'ok', or what went wrong. */
export async function canaryThroughService(upstreamUrl: string): Promise<string> {
  const url = `${new URL(upstreamUrl).origin}/sessions/v1/${canaryKey}`;
  const value = randomBytes(16);
  try {
    const written = await request(url, { method: 'POST', body: value, headers: { 'content-type': 'application/octet-stream' }, headersTimeout: 5000, bodyTimeout: 5000 });
    await written.body.dump();
    if (written.statusCode !== 201) return `write answered ${written.statusCode}`;
    const read = await request(url, { headersTimeout: 5000, bodyTimeout: 5000 });
    const body = Buffer.from(await read.body.arrayBuffer());
    if (read.statusCode !== 200) return `read answered ${read.statusCode}`;
    return body.equals(value) ? 'ok' : 'read back a different value';
  } catch (error) {
    return (error as Error).message;
  }
}
