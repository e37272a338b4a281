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
    ['an asterisk-form target', 'GET * HTTP/1.1\r\nHost: x\r\n\r\n', 400, 'bad-request'],
    ['an HTTP/1.1 request without Host (RFC 9112 3.2, as Kask answers)', 'GET /sessions/v1/k HTTP/1.1\r\n\r\n', 400, 'bad-request'],
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

void t.test('an absolute-form target is accepted as RFC 9112 3.2.2 says: forwarded in origin-form, its authority as Host; HTTP/1.0 needs no Host', async (t) => {
  const upstream = await startUpstream(t);
  const { port } = await startTestProxy(t, upstream.url);
  const absolute = await rawExchange(port, 'GET http://sessionstore.example:8081/sessions/v1/k?x=1 HTTP/1.1\r\nHost: other.example\r\nConnection: close\r\n\r\n');
  t.equal(statusOf(absolute), 200, 'absolute-form: answered by the service');
  t.match(upstream.seen.at(-1), { url: '/sessions/v1/k?x=1', headers: { host: 'sessionstore.example:8081' } }, 'the service saw the path, and the target\'s authority as Host');
  const old = await rawExchange(port, 'GET /sessions/v1/k HTTP/1.0\r\n\r\n');
  t.equal(statusOf(old), 200, 'HTTP/1.0 without Host: answered');
});

void t.test('invalid chunk framing gets its 400 at once, not after the body timeout, and never reaches the service', async (t) => {
  const upstream = await startUpstream(t);
  const { port, url, proxy } = await startTestProxy(t, upstream.url, { limits: { body_timeout_ms: 5000 } });
  const head = 'POST /sessions/v1/k HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n';
  const shapes: [string, string][] = [
    ['a tab in the chunk size', `${head}3\t\r\nabc\r\n0\r\n\r\n`],
    ['a bare LF after the chunk size', `${head}3\nabc\r\n0\r\n\r\n`],
    ['a 20 kB chunk extension', `${head}3;${'x'.repeat(20_000)}\r\nabc\r\n0\r\n\r\n`],
    ['a chunk longer than its size', `${head}3\r\nabcdef\r\n0\r\n\r\n`],
  ];
  for (const [what, bytes] of shapes) {
    const started = Date.now();
    const answer = await rawExchange(port, bytes, 3000);
    const took = Date.now() - started;
    t.equal(statusOf(answer), 400, `${what}: 400`);
    t.equal(problemOf(answer).type, problem('bad-request'), `${what}: problem type bad-request`);
    t.ok(took < 1000, `${what}: answered at once (${took} ms), not after the 5 s body timeout`);
  }
  t.equal(upstream.seen.length, 0, 'the service saw none of them');
  t.equal(proxy.status().inflight, 0, 'nothing left in flight');
  t.equal(await (await request(`${url}/sessions/v1/k`)).body.text(), 'ok', 'the proxy still serves');
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
  const { port } = await startTestProxy(t, upstream.url, { limits: { header_timeout_ms: 300, body_timeout_ms: 400, request_timeout_ms: 2000 } });
  const began = Date.now();
  const headersNeverEnd = await rawExchange(port, 'GET /sessions/v1/k HTTP/1.1\r\nHost: x\r\n', 5000);
  t.equal(statusOf(headersNeverEnd), 408, 'headers that never end: 408');
  t.ok(Date.now() - began < 3000, `within a few header timeouts (${Date.now() - began} ms; the harness gives up at 5000)`);
  const bodyStarted = Date.now();
  const bodyNeverEnds = await rawExchange(port, 'POST /sessions/v1/k HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc', 5000);
  t.equal(statusOf(bodyNeverEnds), 408, 'a body that never ends: 408, from the proxy, not an empty reply');
  t.equal(problemOf(bodyNeverEnds).type, problem('request-timeout'));
  t.ok(Date.now() - bodyStarted < 2000, `at the body timeout (${Date.now() - bodyStarted} ms; body_timeout_ms 400, the harness gives up at 5000)`);
  t.notOk(upstream.seen.some((seen) => seen.complete), 'no complete request reached the service');
});

void t.test('shapes undici itself would refuse never reach it: answered, and the pool is not wedged', async (t) => {
  // Each of these once leaked one of undici's pooled connections (see upstream-errors.ts); with 4 of them, 4 were enough.
  const upstream = await startUpstream(t);
  const { port, url, proxy } = await startTestProxy(t, upstream.url, { upstream: { connections: 4 } });
  const shapes: [string, string, number][] = [
    ['two Host headers', 'GET /sessions/v1/k HTTP/1.1\r\nHost: up\r\nHost: evil\r\n\r\n', 400],
    ['gzip, chunked', 'POST /sessions/v1/k HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n1\r\na\r\n0\r\n\r\n', 501],
    ['HTTP/0.9', 'GET /sessions/v1/k\r\n\r\n', 505],
    ['an unknown expectation', 'POST /sessions/v1/k HTTP/1.1\r\nHost: x\r\nExpect: nothing\r\nContent-Length: 1\r\n\r\na', 417],
  ];
  for (let round = 0; round < 5; round++) {
    for (const [what, bytes, status] of shapes) t.equal(statusOf(await rawExchange(port, bytes)), status, `${what}: ${status} (round ${round + 1})`);
  }
  t.equal(proxy.status().inflight, 0, 'nothing left in flight');
  const started = Date.now();
  const after = await request(`${url}/sessions/v1/plain`, { headersTimeout: 2000 });
  t.equal(await after.body.text(), 'ok', `a plain request still answers (${Date.now() - started} ms)`);
  t.equal(upstream.seen.filter((s) => s.url !== '/sessions/v1/plain').length, 0, 'none of them reached the service');
});

void t.test('Expect: 100-continue: 100 only when the request will be forwarded, then the service\'s answer', async (t) => {
  const upstream = await startUpstream(t, (req, res) => {
    const answer = String(req.body.length);
    res.writeHead(201, { 'content-length': answer.length });
    res.end(answer);
  });
  const { port, proxy } = await startTestProxy(t, upstream.url, { limits: { max_body_bytes: 1000 }, depool: { propagation_ms: 50 } });
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  let received = '';
  socket.on('data', (chunk: Buffer) => { received += chunk.toString(); });
  const started = Date.now();
  socket.write('POST /sessions/v1/k HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 200\r\n\r\n');
  while (!received.includes('100 Continue') && Date.now() - started < 2000) await sleep(5);
  t.match(received, /^HTTP\/1\.1 100 Continue\r\n\r\n$/, 'a 100 Continue first, and nothing else yet');
  socket.write('x'.repeat(200));
  while (!received.includes('201') && Date.now() - started < 2000) await sleep(5);
  socket.destroy();
  t.match(received, /HTTP\/1\.1 201 Created[\s\S]*\r\n\r\n200$/, 'then the service\'s answer: it got all 200 bytes');
  t.ok(Date.now() - started < 1000, `answered in ${Date.now() - started} ms`);
  t.equal(upstream.seen.at(-1)?.headers.expect, undefined, 'the proxy met the expectation itself: no Expect upstream');

  const tooLarge = await rawExchange(port, 'POST /sessions/v1/k HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n', 2000);
  t.equal(statusOf(tooLarge), 413, 'too large: the final answer at once, never a 100');
  t.notMatch(tooLarge, /100 Continue/);
  await proxy.trafficSwitch.depool('test'); // and the propagation time is over: new requests are turned away
  const depooled = await rawExchange(port, 'POST /sessions/v1/k HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n', 2000);
  t.equal(statusOf(depooled), 503, 'depooled: 503 at once, never a 100');
  t.equal(upstream.seen.length, 1, 'only the first reached the service');
});

void t.test('a client that vanishes mid-body: the service never gets a complete request, the proxy carries on', async (t) => {
  const upstream = await startUpstream(t);
  const { port, url, answers } = await startTestProxy(t, upstream.url);
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(`POST /sessions/v1/k HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n${'a'.repeat(5000)}`);
  await sleep(100);
  socket.destroy();
  for (let i = 0; i < 100 && answers.length === 0; i++) await sleep(10);
  t.notOk(upstream.seen.some((seen) => seen.complete), 'the service saw no complete request');
  t.equal(answers.at(-1)?.status, 499, 'counted as the client going away');
  const after = await request(`${url}/sessions/v1/k`);
  t.equal(await after.body.text(), 'ok', 'the proxy still serves');
});
