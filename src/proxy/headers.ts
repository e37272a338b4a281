// What crosses the proxy in each direction. End-to-end headers pass unchanged;
// hop-by-hop headers (RFC 9110 section 7.6.1, and any named in Connection) stay behind.
// Expect is answered by the proxy itself, and the body's length is the proxy's to
// state: it forwards the body it received whole.
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

const hopByHop = new Set(['connection', 'proxy-connection', 'keep-alive', 'te', 'transfer-encoding', 'upgrade']);
/** Request headers the proxy answers or restates itself. */
const restated = new Set(['expect', 'content-length', 'x-forwarded-proto', 'x-request-id']);

const noNames = new Set<string>();

/** Header names listed in Connection; the common "keep-alive" or "close" lists none worth a Set. */
function namedInConnection(connection: string | string[] | undefined): Set<string> {
  if (connection === undefined || /^\s*(keep-alive|close)\s*$/i.test(String(connection))) return noNames;
  const names = new Set<string>();
  for (const value of [connection].flat()) {
    for (const name of value.split(',')) names.add(name.trim().toLowerCase());
  }
  return names;
}

const requestIdPattern = /^[\x21-\x7e]{1,200}$/;

/** Keeps a caller's X-Request-ID when it is sane, so the service's logs and ours share it. */
export function requestIdOf(headers: IncomingHttpHeaders): string {
  const given = headers['x-request-id'];
  return typeof given === 'string' && requestIdPattern.test(given) ? given : randomUUID();
}

/**
 * The client's headers as the service should see them, as a flat [name, value, …]
 * list that keeps duplicates and case; and how many Host headers there were. With
 * `authority` (an absolute-form target's), the Host header carries it instead.
 */
export function upstreamRequestHeaders(
  rawHeaders: string[],
  connection: string | undefined,
  forwarded: { clientAddress: string; proto: 'http' | 'https'; requestId: string; authority?: string },
): { headers: string[]; hostHeaders: number } {
  const drop = namedInConnection(connection);
  const out: string[] = [];
  let forwardedFor: string | undefined;
  let hostHeaders = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    const value = rawHeaders[i + 1] as string;
    const lower = name.toLowerCase();
    if (hopByHop.has(lower) || drop.has(lower) || restated.has(lower)) continue;
    if (lower === 'x-forwarded-for') {
      forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
      continue;
    }
    if (lower === 'host') hostHeaders++;
    // An absolute-form target's authority wins over the Host header (RFC 9112 3.2.2).
    out.push(name, lower === 'host' && forwarded.authority !== undefined ? forwarded.authority : value);
  }
  out.push(
    'x-forwarded-for', forwardedFor === undefined ? forwarded.clientAddress : `${forwardedFor}, ${forwarded.clientAddress}`,
    'x-forwarded-proto', forwarded.proto,
    'x-request-id', forwarded.requestId,
  );
  return { headers: out, hostHeaders };
}

/** The service's response headers as the client should see them. */
export function clientResponseHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const drop = namedInConnection(headers.connection);
  const out: Record<string, string | string[]> = {};
  // for-in, not Object.entries: no array per header on the request path.
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || hopByHop.has(name) || drop.has(name)) continue;
    out[name] = value;
  }
  return out;
}

/** "::ffff:10.0.0.1" is how Node shows an IPv4 client on a dual-stack socket. */
export function clientAddressOf(remoteAddress: string | undefined): string {
  if (remoteAddress === undefined) return 'unknown';
  return remoteAddress.startsWith('::ffff:') ? remoteAddress.slice(7) : remoteAddress;
}
