// The depool switch: readiness fails, new requests get 503 + Retry-After, keep-alive
// connections close after their answer, and requests in flight complete.
import { once } from 'node:events';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { Agent, request } from 'undici';
import { startAdminServer } from '../../src/admin/server.ts';
import { startTestProxy, startUpstream, testLogger } from '../support/http.ts';

void t.test('depool and repool', async (t) => {
  const upstream = await startUpstream(t, (req, res) => {
    setTimeout(() => res.end(`done ${req.url}`), req.url.includes('slow') ? 300 : 0);
  });
  const { url, proxy, registry, logLines } = await startTestProxy(t, upstream.url);
  const admin = await startAdminServer({
    address: '127.0.0.1', port: 0, registry, logger: testLogger().logger,
    readiness: () => Promise.resolve(proxy.trafficSwitch.depooled ? { ready: false, reasons: ['depooled'] } : { ready: true, reasons: [] }),
    status: { proxy: () => proxy.status() },
  });
  t.teardown(() => admin.close());
  const adminUrl = `http://127.0.0.1:${admin.address().port}`;
  const agent = new Agent({ connections: 1 });
  t.teardown(() => agent.close());

  t.equal((await request(`${adminUrl}/readyz`)).statusCode, 200, 'ready while pooled');
  const first = await request(`${url}/sessions/v1/a`, { dispatcher: agent });
  await first.body.text();
  t.not(first.headers.connection, 'close', 'keep-alive while pooled');

  const inFlight = request(`${url}/sessions/v1/slow`, { dispatcher: agent });
  while (!upstream.seen.some((s) => s.url === '/sessions/v1/slow')) await sleep(5);
  void proxy.trafficSwitch.depool('test');
  const finished = await inFlight;
  t.equal(await finished.body.text(), 'done /sessions/v1/slow', 'the request in flight completes');
  t.equal(finished.headers.connection, 'close', 'and its connection closes, so the client reconnects elsewhere');

  const refused = await request(`${url}/sessions/v1/b`);
  for (let i = 0; i < 5; i++) await (await request(`${url}/sessions/v1/b${i}`)).body.dump();
  t.equal(logLines().filter((l) => String(l.msg).startsWith('turned a request away')).length, 1, 'a flood of refusals logs one line at first, not one per request');
  const problem = (await refused.body.json()) as { type: string };
  t.equal(refused.statusCode, 503);
  t.equal(refused.headers['retry-after'], '2');
  t.equal(refused.headers.connection, 'close');
  t.equal(problem.type, 'urn:sessionstore-sidecar:problem:depooled');
  const readyz = await request(`${adminUrl}/readyz`);
  t.equal(readyz.statusCode, 503, 'readiness fails while depooled');
  t.same(((await readyz.body.json()) as { reasons: string[] }).reasons, ['depooled']);
  const status = (await (await request(`${adminUrl}/status`)).body.json()) as { proxy: { depooled: boolean; reason: string } };
  t.match(status.proxy, { depooled: true, reason: 'test' }, '/status shows the depool and why');

  proxy.trafficSwitch.repool();
  const again = await request(`${url}/sessions/v1/c`);
  t.equal(await again.body.text(), 'done /sessions/v1/c', 'serves again after repool');
  t.equal((await request(`${adminUrl}/readyz`)).statusCode, 200, 'ready again');
  t.equal(upstream.seen.filter((s) => s.url === '/sessions/v1/b').length, 0, 'the refused request never reached the service');
});

void t.test('over the in-flight limit: 503 + Retry-After', async (t) => {
  const upstream = await startUpstream(t, (_req, res) => { setTimeout(() => res.end('ok'), 200); });
  const { url } = await startTestProxy(t, upstream.url, { limits: { max_inflight: 2, retry_after_seconds: 3 } });
  const answers = await Promise.all([1, 2, 3].map(async (i) => {
    const response = await request(`${url}/sessions/v1/${i}`);
    const body = await response.body.text();
    return { status: response.statusCode, retryAfter: response.headers['retry-after'], body };
  }));
  t.same(answers.map((a) => a.status).sort(), [200, 200, 503]);
  const refused = answers.find((a) => a.status === 503);
  t.equal(refused?.retryAfter, '3', 'with Retry-After');
  t.match(JSON.parse(refused?.body ?? '{}'), { type: 'urn:sessionstore-sidecar:problem:overloaded', status: 503 }, 'and the overloaded problem');
});

void t.test('the propagation time: readiness fails at once, requests are served on (connections closing) until it ends, then turned away', async (t) => {
  const upstream = await startUpstream(t);
  const { url, proxy } = await startTestProxy(t, upstream.url, { depool: { propagation_ms: 400 } });
  const started = Date.now();
  const propagated = proxy.trafficSwitch.depool('test');
  t.match(proxy.status(), { depooled: true, turningAway: false }, 'depooled (readiness fails), not yet turning away');
  const during = await request(`${url}/sessions/v1/during`);
  t.equal(await during.body.text(), 'ok', 'served during the propagation time');
  t.equal(during.headers.connection, 'close', 'with its connection closing, so the client reconnects elsewhere');
  const probe = await request(`${url}/healthz`);
  await probe.body.dump();
  t.equal(probe.statusCode, 503, "but the service's health path, as a readiness probe through the proxy asks it (Envoy's shape), fails at once");
  t.notOk(upstream.seen.some((s) => s.url === '/healthz'), 'answered by the sidecar itself');
  await propagated;
  t.ok(Date.now() - started >= 400, `turning away after ${Date.now() - started} ms (propagation_ms 400)`);
  const after = await request(`${url}/sessions/v1/after`);
  await after.body.dump();
  t.equal(after.statusCode, 503, 'then turned away');
  proxy.trafficSwitch.repool();
  t.match(proxy.status(), { depooled: false, turningAway: false });
});

void t.test('an idle keep-alive connection is left to time out during the propagation time, and closed when it ends, so that it carries no request in after it', async (t) => {
  const upstream = await startUpstream(t);
  // A keep-alive timeout above the propagation time: the end of the propagation is what closes it.
  const { url, proxy } = await startTestProxy(t, upstream.url, { depool: { propagation_ms: 600 }, limits: { keep_alive_timeout_ms: 10_000 } });
  const socket = connect(Number(new URL(url).port), '127.0.0.1');
  await once(socket, 'connect');
  socket.write('GET /sessions/v1/idle HTTP/1.1\r\nHost: sidecar\r\n\r\n');
  const [answer] = (await once(socket, 'data')) as [Buffer];
  t.match(answer.toString(), /^HTTP\/1\.1 200 [\s\S]*keep-alive/i, 'kept alive while pooled');
  const closed = once(socket, 'close');
  const depooledAt = Date.now();
  void proxy.trafficSwitch.depool('test');
  await closed;
  const closedMs = Date.now() - depooledAt;
  // Expected at 600 ms; margin 400 ms for a busy machine.
  t.ok(closedMs >= 590 && closedMs < 1000, `closed ${closedMs} ms after depooling began: at the end of the 600 ms propagation time, not at once and not at the 10 s keep-alive timeout`);
  proxy.trafficSwitch.repool();
});
