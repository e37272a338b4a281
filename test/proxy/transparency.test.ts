// What passes through the proxy arrives as it was sent: bodies, paths, statuses, headers.
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import t from 'tap';
import { request } from 'undici';
import { rawExchange, startTestProxy, startUpstream } from '../support/http.ts';

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

void t.test('binary bodies from 0 bytes to 4 MiB come back byte-identical in both directions', async (t) => {
  const upstream = await startUpstream(t, (req, res) => {
    const reply = randomBytes(Number(req.headers['x-want-bytes']));
    res.writeHead(201, { 'content-type': 'application/octet-stream', 'x-received-sha256': sha256(req.body), 'x-reply-sha256': sha256(reply) });
    res.end(reply);
  });
  const { url } = await startTestProxy(t, upstream.url, { limits: { max_body_bytes: 8 * 1024 * 1024 } });
  for (const size of [0, 1, 1023, 65_536, 1_048_583, 4 * 1024 * 1024]) {
    const sent = randomBytes(size);
    const response = await request(`${url}/sessions/v1/key-${size}`, {
      method: 'POST', body: sent, headers: { 'content-type': 'application/octet-stream', 'x-want-bytes': String(size) },
    });
    const received = Buffer.from(await response.body.arrayBuffer());
    t.equal(response.statusCode, 201);
    t.equal(response.headers['x-received-sha256'], sha256(sent), `${size} bytes reached the service intact`);
    t.equal(sha256(received), response.headers['x-reply-sha256'], `${size} bytes came back intact`);
  }
});

void t.test('chunked request bodies arrive whole', async (t) => {
  const upstream = await startUpstream(t, (req, res) => { res.end(sha256(req.body)); });
  const { url } = await startTestProxy(t, upstream.url);
  const parts = [randomBytes(10), randomBytes(70_000), randomBytes(1)];
  const response = await request(`${url}/sessions/v1/chunked`, {
    method: 'POST',
    body: Readable.from(parts),
  });
  t.equal(await response.body.text(), sha256(Buffer.concat(parts)));
  t.equal(upstream.seen[0]?.headers['transfer-encoding'], undefined, 'the service got a sized body');
});

void t.test('method, path and query pass exactly as received; statuses and bodiless answers pass unchanged', async (t) => {
  const upstream = await startUpstream(t, (req, res) => {
    const status = Number(/status=(\d+)/.exec(req.url)?.[1] ?? 200);
    res.writeHead(status, { 'x-upstream': 'yes', ...(status === 500 ? { 'content-type': 'application/problem+json' } : {}) });
    res.end(status === 204 || status === 304 ? undefined : `{"status":${status}}`);
  });
  const { port, url } = await startTestProxy(t, upstream.url);
  const paths = ['/sessions/v1/a%2Fb%20c', '/sessions/v1/../v1/x?y=1&y=2&z', '//sessions//v1/Caps', '/sessions/v1/%E2%9C%93?q=%zz'];
  for (const path of paths) {
    // A raw request proves the bytes: no client library in between.
    await rawExchange(port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    t.equal(upstream.seen.at(-1)?.url, path, `${path} reached the service unchanged`);
  }
  for (const status of [200, 201, 204, 304, 404, 500]) {
    const response = await request(`${url}/sessions/v1/k?status=${status}`);
    const body = await response.body.text();
    t.equal(response.statusCode, status, `${status} passes through`);
    t.equal(response.headers['x-upstream'], 'yes');
    t.equal(body, status === 204 || status === 304 ? '' : `{"status":${status}}`);
  }
  const head = await request(`${url}/sessions/v1/k?status=200`, { method: 'HEAD' });
  t.equal(head.statusCode, 200);
  t.equal(await head.body.text(), '', 'HEAD has no body');
  t.equal(upstream.seen.at(-1)?.method, 'HEAD');
  const del = await request(`${url}/sessions/v1/k?status=204`, { method: 'DELETE' });
  t.equal(del.statusCode, 204);
  t.equal(upstream.seen.at(-1)?.method, 'DELETE');
});

void t.test('end-to-end headers pass both ways, hop-by-hop headers stay behind, forwarding headers are added', async (t) => {
  const upstream = await startUpstream(t, (_req, res) => {
    res.setHeader('set-cookie', ['a=1', 'b=2']);
    res.setHeader('x-kask', 'value');
    res.setHeader('keep-alive', 'timeout=99');
    res.setHeader('x-secret-hop', 'drop me');
    res.setHeader('connection', 'keep-alive, x-secret-hop');
    res.end('ok');
  });
  const { url, port } = await startTestProxy(t, upstream.url);
  await rawExchange(port, 'GET /sessions/v1/k HTTP/1.1\r\nHost: x\r\nX-Custom: one\r\nX-Forwarded-For: 203.0.113.9\r\n' +
    'Connection: close, X-Hop-Only\r\nX-Hop-Only: no\r\nTE: trailers\r\nX-Request-ID: req-123\r\n\r\n');
  const response = await request(`${url}/sessions/v1/k`);
  await response.body.text();
  const seen = upstream.seen[0]?.headers ?? {};
  t.equal(seen['x-custom'], 'one', 'an end-to-end request header passes');
  t.equal(seen['x-hop-only'], undefined, 'a header named in Connection is dropped');
  t.equal(seen.te, undefined, 'TE is dropped');
  t.equal(seen['x-forwarded-for'], '203.0.113.9, 127.0.0.1', 'the client is appended to X-Forwarded-For');
  t.equal(seen['x-forwarded-proto'], 'http');
  t.equal(seen['x-request-id'], 'req-123', 'a caller’s request id is kept');
  t.same(response.headers['set-cookie'], ['a=1', 'b=2'], 'repeated response headers stay separate');
  t.equal(response.headers['x-kask'], 'value');
  t.equal(response.headers['x-secret-hop'], undefined, 'a response header named in Connection is dropped');
  t.not(response.headers['keep-alive'], 'timeout=99', 'the service’s Keep-Alive is dropped (the proxy’s own connection has its own)');

  const second = await request(`${url}/sessions/v1/k`);
  await second.body.text();
  t.match(upstream.seen[1]?.headers['x-request-id'], /^[0-9a-f-]{36}$/, 'a request without an id gets a UUID');
});
