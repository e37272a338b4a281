// The answers the sidecar gives itself, shaped like Kask's own errors: RFC 7807
// problem JSON. Never a stack trace or an internal address.
import type { ServerResponse } from 'node:http';

export interface ProblemKind {
  status: number;
  type: string;
  title: string;
}

/** Every problem the sidecar answers itself has a type under this prefix. */
export const sidecarProblemType = 'urn:sessionstore-sidecar:problem:';

const kind = (status: number, name: string, title: string): ProblemKind => ({
  status,
  type: `${sidecarProblemType}${name}`,
  title,
});

export const problems = {
  badRequest: kind(400, 'bad-request', 'Malformed request'),
  requestTimeout: kind(408, 'request-timeout', 'The request was not received in time'),
  bodyTooLarge: kind(413, 'body-too-large', 'Request body too large'),
  expectationFailed: kind(417, 'expectation-failed', 'Only the 100-continue expectation is supported'),
  headersTooLarge: kind(431, 'headers-too-large', 'Request header fields too large'),
  notImplemented: kind(501, 'not-implemented', 'Transfer coding not supported'),
  versionNotSupported: kind(505, 'http-version-not-supported', 'Only HTTP/1.0 and HTTP/1.1 are supported'),
  upstreamUnavailable: kind(502, 'upstream-unavailable', 'The session service did not answer'),
  depooled: kind(503, 'depooled', 'This instance is out of rotation; retry on another'),
  overloaded: kind(503, 'overloaded', 'Too many requests in flight; retry shortly'),
  upstreamTimeout: kind(504, 'upstream-timeout', 'The session service did not answer in time'),
} as const;

export function problemBody(problem: ProblemKind, detail: string, instance?: string, requestId?: string): string {
  return JSON.stringify({
    type: problem.type,
    title: problem.title,
    status: problem.status,
    detail,
    ...(instance === undefined ? {} : { instance }),
    ...(requestId === undefined ? {} : { request_id: requestId }),
  });
}

export function sendProblem(
  res: ServerResponse,
  problem: ProblemKind,
  detail: string,
  options: { instance?: string; requestId?: string; retryAfterSeconds?: number; close?: boolean } = {},
): void {
  const body = problemBody(problem, detail, options.instance, options.requestId);
  res.writeHead(problem.status, {
    'content-type': 'application/problem+json',
    'content-length': Buffer.byteLength(body),
    ...(options.requestId === undefined ? {} : { 'x-request-id': options.requestId }),
    ...(options.retryAfterSeconds === undefined ? {} : { 'retry-after': String(options.retryAfterSeconds) }),
    ...(options.close ? { connection: 'close' } : {}),
  });
  res.end(body);
}

/** A problem written straight to a socket, for errors found before Node built a request. */
export function rawProblemResponse(problem: ProblemKind, detail: string): string {
  const body = problemBody(problem, detail);
  return (
    `HTTP/1.1 ${problem.status} ${problem.title}\r\n` +
    'content-type: application/problem+json\r\n' +
    `content-length: ${Buffer.byteLength(body)}\r\n` +
    'connection: close\r\n\r\n' +
    body
  );
}
