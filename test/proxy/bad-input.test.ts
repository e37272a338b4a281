// Malformed, smuggled, oversized, slow and vanishing requests: each gets a clear
// problem answer or a clean close; none reaches the service; the proxy keeps serving.
import { once } from 'node:events';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { request } from 'undici';
import { problemOf, rawExchange, startTestProxy, startUpstream, statusOf } from '../support/http.ts';

const problem = (name: string): string => `urn:sessionstore-sidecar:problem:${name}`;

void t.test('requests the parser rejects get a problem answer and never reach the service', async (t) => {
  const upstream = await startUpstream(t);
  const { port, url } = await startTestProxy(t, upstream.url, { limits: { max_header_bytes: 4096 } });
  const cases: [string, string, number, string][] = [
    ['a malformed request line', 'GARBAGE\r\n\r\n', 400, 'bad-request'],
    ['an invalid character in a header name', 'GET / HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n', 400, 'bad-request'],
    ['a control character in a header value', 'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n', 400, 'bad-request'],
    ['Content-Length with Transfer-Encoding', 'POST /sessions/v1/k HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400, 'bad-request'],
    ['conflicting Content-Length', 'POST /sessions/v1/k HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd', 400, 'bad-request'],
    ['duplicate Content-Length', 'POST /sessions/v1/k HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\nabcd', 400, 'bad-request'],
    ['an obfuscated Transfer-Encoding', 'POST /sessions/v1/k HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\nabcd', 400, 'bad-request'],
    ['oversized headers', `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(5000)}\r\n\r\n`, 431, 'headers-too-large'],
    ['an absolute-form target', 'GET http://evil.example/sessions/v1/k HTTP/1.1\r\nHost: x\r\n\r\n', 400, 'bad-request'],
  ];
  for (const [what, bytes, status, type] of cases) {
    const answer = await rawExchange(port, bytes);
    t.equal(statusOf(answer), status, `${what}: ${status}`);
    t.equal(problemOf(answer).type, problem(type), `${what}: problem type ${type}`);
    t.notMatch(answer, /at \w+ \(|node:internal|127\.0\.0\.1:\d+/, `${what}: no stack trace or internal address`);
  }
  t.equal(upstream.seen.length, 0, 'the service saw none of them');
  const after = await request(`${url}/sessions/v1/k`);
  t.equal(await after.body.text(), 'ok', 'the proxy still serves');
});

void t.test('oversized bodies: 413 before anything is forwarded, sized or chunked', async (t) => {
  const upstream = await startUpstream(t);
  const { port } = await startTestProxy(t, upstream.url, { limits: { max_body_bytes: 1000 } });
  const sized = await rawExchange(port, `POST /sessions/v1/k HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n${'a'.repeat(1001)}`);
  t.equal(statusOf(sized), 413);
  t.equal(problemOf(sized).type, problem('body-too-large'));
  const chunked = await rawExchange(port, `POST /sessions/v1/k HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n${'a'.repeat(1000)}\r\n1\r\nb\r\n0\r\n\r\n`);
  t.equal(statusOf(chunked), 413);
  t.equal(upstream.seen.length, 0, 'the service saw neither');
});

void t.test('slow clients time out with a clean close', async (t) => {
  const upstream = await startUpstream(t);
  const { port } = await startTestProxy(t, upstream.url, { limits: { header_timeout_ms: 300, request_timeout_ms: 600 } });
  const began = Date.now();
  const headersNeverEnd = await rawExchange(port, 'GET /sessions/v1/k HTTP/1.1\r\nHost: x\r\n', 5000);
  t.equal(statusOf(headersNeverEnd), 408, 'headers that never end: 408');
  t.ok(Date.now() - began < 3000, 'within a few header timeouts');
  const bodyNeverEnds = await rawExchange(port, 'POST /sessions/v1/k HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc', 5000);
  t.ok(bodyNeverEnds === '' || statusOf(bodyNeverEnds) >= 400, 'a body that never ends is cut off');
  t.notOk(upstream.seen.some((seen) => seen.complete), 'no complete request reached the service');
});

void t.test('a client that vanishes mid-body: the service never gets a complete request, the proxy carries on', async (t) => {
  const upstream = await startUpstream(t);
  const { port, url, answers } = await startTestProxy(t, upstream.url);
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(`POST /sessions/v1/k HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n${'a'.repeat(5000)}`);
  await sleep(100);
  socket.destroy();
  await sleep(200);
  t.notOk(upstream.seen.some((seen) => seen.complete), 'the service saw no complete request');
  t.equal(answers.at(-1)?.status, 499, 'counted as the client going away');
  const after = await request(`${url}/sessions/v1/k`);
  t.equal(await after.body.text(), 'ok', 'the proxy still serves');
});
