// When the service refuses, resets, hangs or dies mid-answer, the client gets the
// matching problem (or a cut connection once the answer has begun) and SREs a count.
import { once } from 'node:events';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { request } from 'undici';
import { freePort, startTestProxy, startUpstream } from '../support/http.ts';

async function problemAnswer(url: string): Promise<{ status: number; type: string; detail: string }> {
  const response = await request(url);
  const body = (await response.body.json()) as { type: string; detail: string };
  t.equal(response.headers['content-type'], 'application/problem+json');
  return { status: response.statusCode, type: body.type, detail: body.detail };
}

const errorCount = async (registry: import('prom-client').Registry, kind: string): Promise<number> =>
  (await registry.getSingleMetric('sessionstore_sidecar_upstream_errors_total')?.get())?.values.find((v) => v.labels.kind === kind)?.value ?? 0;

void t.test('service refuses: 502', async (t) => {
  const { url, registry } = await startTestProxy(t, `http://127.0.0.1:${await freePort()}`);
  const answer = await problemAnswer(`${url}/sessions/v1/k`);
  t.equal(answer.status, 502);
  t.equal(answer.type, 'urn:sessionstore-sidecar:problem:upstream-unavailable');
  t.notMatch(answer.detail, /127\.0\.0\.1|:\d{2,5}/, 'no internal address in the answer');
  t.equal(await errorCount(registry, 'refused'), 1);
});

void t.test('service resets the connection before answering: 502', async (t) => {
  const upstream = await startUpstream(t, (_req, res) => { res.socket?.destroy(); });
  const { url, registry } = await startTestProxy(t, upstream.url);
  t.equal((await problemAnswer(`${url}/sessions/v1/k`)).status, 502);
  t.equal(await errorCount(registry, 'reset'), 1);
});

void t.test('service does not answer in time: 504', async (t) => {
  const upstream = await startUpstream(t, () => { /* never answers */ });
  const { url, registry } = await startTestProxy(t, upstream.url, { upstream: { headers_timeout_ms: 200 } });
  const answer = await problemAnswer(`${url}/sessions/v1/k`);
  t.equal(answer.status, 504);
  t.equal(answer.type, 'urn:sessionstore-sidecar:problem:upstream-timeout');
  t.equal(await errorCount(registry, 'timeout'), 1);
});

void t.test('a client that leaves while the service works: the request to the service is cut at once, counted 499', async (t) => {
  let serviceSawClose: (() => void) | undefined;
  const closed = new Promise<void>((resolve) => { serviceSawClose = resolve; });
  // Never answers; its response closes when the connection under it does.
  const upstream = await startUpstream(t, (_req, res) => { res.once('close', () => { serviceSawClose?.(); }); });
  const { port, answers } = await startTestProxy(t, upstream.url, { upstream: { headers_timeout_ms: 60_000 } });
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write('GET /sessions/v1/k HTTP/1.1\r\nHost: x\r\n\r\n');
  for (let i = 0; i < 100 && upstream.seen.length === 0; i++) await sleep(10);
  const left = Date.now();
  socket.destroy();
  await closed;
  t.ok(Date.now() - left < 1000, `the service's connection closed ${Date.now() - left} ms after the client left, not at the 60 s timeout`);
  for (let i = 0; i < 100 && answers.length === 0; i++) await sleep(10);
  t.equal(answers.at(-1)?.status, 499, 'counted as the client going away');
});

void t.test('service killed mid-response: the client sees a truncated answer, never a clean one', async (t) => {
  const upstream = await startUpstream(t, (_req, res) => {
    res.writeHead(200, { 'content-length': '100000' });
    res.write(Buffer.alloc(1000));
    setTimeout(() => res.socket?.destroy(), 50);
  });
  const { url, registry, logLines } = await startTestProxy(t, upstream.url);
  const response = await request(`${url}/sessions/v1/k`);
  t.equal(response.statusCode, 200, 'the status was already sent');
  await t.rejects(response.body.arrayBuffer(), 'reading the body fails');
  t.equal(await errorCount(registry, 'reset'), 1);
  t.ok(logLines().some((line) => line.level === 'error' && typeof line.request_id === 'string' && line.path === '/sessions/v1/{key}'), 'one error line with the request id, and the path without its key');
});


void t.test('a pooled connection the service drops just as a request arrives: the request goes out again once, on a new one', async (t) => {
  // The service answers the first request on each connection, and drops the connection on its second, as a
  // server does when its keep-alive timeout and a new request cross.
  const served = new WeakMap<object, number>();
  const upstream = await startUpstream(t, (req, res) => {
    const socket = res.socket as object;
    const count = (served.get(socket) ?? 0) + 1;
    served.set(socket, count);
    if (count === 2) { res.socket?.destroy(); return; }
    res.end(`answer ${req.url}`);
  });
  const { url, registry } = await startTestProxy(t, upstream.url, { upstream: { connections: 1 } });
  t.equal(await (await request(`${url}/sessions/v1/first`)).body.text(), 'answer /sessions/v1/first');
  const second = await request(`${url}/sessions/v1/second`);
  t.equal(second.statusCode, 200, 'no 502 for a connection the service had dropped');
  t.equal(await second.body.text(), 'answer /sessions/v1/second');
  t.equal(upstream.seen.filter((s) => s.url === '/sessions/v1/second').length, 2, 'sent twice: once on the dropped connection, once on a new one');
  t.equal((await registry.getSingleMetric('sessionstore_sidecar_retries_total')?.get())?.values.find((v) => v.labels.outcome === 'succeeded')?.value, 1, 'counted as a retry that succeeded');
});

void t.test('the service\'s storage errors are retried within the budget, and only while the sidecar sees quorum', async (t) => {
  let failNext = 0;
  const upstream = await startUpstream(t, (_req, res) => {
    if (failNext > 0) {
      failNext--;
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end('{"type":"https://www.mediawiki.org/wiki/Kask/errors/server_error"}');
      return;
    }
    res.end('stored');
  });
  const health = { localQuorum: true, healthy: 3, broken: 0 };
  const { url, registry } = await startTestProxy(t, upstream.url, { retries: { min_per_second: 1, budget_ratio: 0.5, max_per_request: 2 } }, health);
  const get = async (path: string): Promise<{ status: number; body: string }> => {
    const response = await request(`${url}${path}`);
    return { status: response.statusCode, body: await response.body.text() };
  };
  failNext = 2;
  t.same(await get('/sessions/v1/a'), { status: 200, body: 'stored' }, 'two 500s, then the answer: two retries shield the client');
  failNext = 3;
  t.equal((await get('/sessions/v1/b')).status, 500, 'three 500s: at most two retries, then the 500 as the service gave it');
  failNext = 1;
  t.equal((await get('/healthz')).status, 500, 'outside Kask\'s API: never retried');
  health.localQuorum = false;
  failNext = 1;
  t.equal((await get('/sessions/v1/c')).status, 500, 'without quorum in the sidecar\'s own view: not retried, it would fail anywhere');
  const skipped = async (reason: string): Promise<number> => (await registry.getSingleMetric('sessionstore_sidecar_retries_skipped_total')?.get())?.values.find((v) => v.labels.reason === reason)?.value ?? 0;
  t.equal(await skipped('no_local_quorum'), 1);
  health.localQuorum = true;
  // The budget: 50% of the requests of the last 10 s, plus 1 a second; spend it.
  failNext = 1000;
  for (let i = 0; i < 10; i++) await get(`/sessions/v1/flood-${i}`);
  failNext = 0;
  t.ok(await skipped('budget') > 0, `a service that fails everything exhausts the budget (${await skipped('budget')} retries skipped)`);
  const retried = (await registry.getSingleMetric('sessionstore_sidecar_retries_total')?.get())?.values.reduce((sum, v) => sum + v.value, 0) ?? 0;
  const requests = 14;
  t.ok(retried <= 0.5 * requests + 10 + 5, `${retried} retries for ${requests} requests: within the budget`);
});
