// What the proxy decides about a request from its head alone, before reading any of
// its body: whether it may be forwarded at all. Pure: the same head and state give the
// same answer. Whatever is refused here never reaches the service, and never reaches
// undici either: a request undici's own checks reject would leak one of its pooled
// connections (see upstream-errors.ts).
import type { IncomingHttpHeaders } from 'node:http';
import type { Config } from '../config/schema.ts';
import { problems, type ProblemKind } from './problem.ts';

export interface Refusal {
  problem: ProblemKind;
  detail: string;
  /** Tell the client when to come back (503s). */
  retryAfter: boolean;
  /** The request's body may follow on this connection unread: close it after the answer. */
  close: boolean;
}

export interface RequestHead {
  /** HTTP/0.9's bare "GET /path" parses, but nothing of the service's clients speaks it. */
  httpVersionMajor: number;
  httpVersionMinor: number;
  url: string | undefined;
  headers: IncomingHttpHeaders;
  /** How many Host headers the request carried (RFC 9112 allows exactly one). */
  hostHeaders: number;
}

const chunkedOnly = /^\s*chunked\s*$/i;
const chunkedLast = /(^|,)\s*chunked\s*$/i;

export interface ProxyState {
  /** Readiness fails (from the depool on). */
  depooled: boolean;
  /** New requests are turned away (after the propagation time). */
  turningAway: boolean;
  inflight: number;
}

/**
 * An absolute-form request target ("GET http://host/path HTTP/1.1"), which RFC 9112
 * 3.2.2 says a server must accept: the path to forward, and the authority that replaces
 * any Host header. Null for any other form, which admit() judges.
 */
export function absoluteForm(target: string | undefined): { path: string; authority: string } | null {
  if (target === undefined || !/^https?:\/\//i.test(target)) return null;
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return null;
  }
  return url.host === '' ? null : { path: `${url.pathname}${url.search}`, authority: url.host };
}

export function admit(head: RequestHead, state: ProxyState, config: Pick<Config, 'limits' | 'upstream'>): Refusal | null {
  const { limits } = config;
  const refuse = (problem: ProblemKind, detail: string, options: { retryAfter?: boolean; close?: boolean } = {}): Refusal =>
    ({ problem, detail, retryAfter: options.retryAfter ?? false, close: options.close ?? true });
  if (state.turningAway) return refuse(problems.depooled, 'this instance is out of rotation', { retryAfter: true });
  // A readiness probe that reaches the service through the proxy (Envoy -> sidecar -> Kask) must fail as soon as the pod is depooled.
  if (state.depooled && head.url === config.upstream.health_path) return refuse(problems.depooled, 'this instance is out of rotation', { retryAfter: true });
  if (state.inflight > limits.max_inflight) return refuse(problems.overloaded, `more than ${limits.max_inflight} requests in flight`, { retryAfter: true });
  if (head.httpVersionMajor !== 1) return refuse(problems.versionNotSupported, 'the request must be HTTP/1.0 or HTTP/1.1');
  if (!head.url?.startsWith('/')) return refuse(problems.badRequest, 'the request target must be a path (origin-form) or an http(s) URL (absolute-form)');
  if (head.hostHeaders > 1) return refuse(problems.badRequest, 'the request carries more than one Host header');
  // RFC 9112 3.2: a server must answer 400 to an HTTP/1.1 request without Host, as Kask (Go's net/http) does.
  if (head.httpVersionMinor >= 1 && head.hostHeaders === 0) return refuse(problems.badRequest, 'an HTTP/1.1 request must carry a Host header');
  const coding = head.headers['transfer-encoding'];
  // RFC 9112 6.3: without chunked last, the body's end cannot be known; chunked after another coding is valid but not supported here.
  if (coding !== undefined && !chunkedLast.test(coding)) return refuse(problems.badRequest, `the body's length cannot be determined from Transfer-Encoding "${coding}"`);
  if (coding !== undefined && !chunkedOnly.test(coding)) return refuse(problems.notImplemented, `transfer coding "${coding}" is not supported; only chunked is`);
  const declared = head.headers['content-length'];
  if (declared !== undefined && Number(declared) > limits.max_body_bytes) return refuse(problems.bodyTooLarge, `the body may be at most ${limits.max_body_bytes} bytes`);
  return null;
}
