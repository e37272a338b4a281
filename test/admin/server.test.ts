// The admin port's endpoints, and the access log: off by default, sampled when on.
import t from 'tap';
import { request } from 'undici';
import { startAdminServer } from '../../src/admin/server.ts';
import { createRegistry } from '../../src/telemetry/metrics.ts';
import { startTestProxy, startUpstream, testLogger } from '../support/http.ts';

void t.test('/healthz, /metrics, /status, /readyz, documents and unknown paths', async (t) => {
  let ready = true;
  const admin = await startAdminServer({
    address: '127.0.0.1', port: 0, registry: createRegistry('1.2.3'), logger: testLogger().logger,
    readiness: () => Promise.resolve({ ready, reasons: ready ? [] : ['depooled'] }),
    status: { section: () => ({ answer: 42 }) },
    documents: { '/reconcile/inputs': () => ({ ticks: [1, 2] }) },
  });
  t.teardown(() => admin.close());
  const url = `http://127.0.0.1:${admin.address().port}`;
  const get = async (path: string, method: 'GET' | 'POST' = 'GET'): Promise<{ status: number; type: string; body: string }> => {
    const response = await request(`${url}${path}`, { method });
    return { status: response.statusCode, type: String(response.headers['content-type']), body: await response.body.text() };
  };
  t.match(await get('/healthz'), { status: 200, body: /"ok"/ });
  const metrics = await get('/metrics');
  t.equal(metrics.status, 200);
  t.match(metrics.type, /^text\/plain/);
  t.match(metrics.body, /sessionstore_sidecar_build_info\{version="1.2.3"\} 1/);
  t.match(await get('/status'), { status: 200, body: /"answer": 42/ });
  t.same(JSON.parse((await get('/reconcile/inputs')).body), { ticks: [1, 2] }, 'a document, computed when asked');
  t.equal((await get('/reconcile/inputs', 'POST')).status, 405);
  t.equal((await get('/readyz')).status, 200);
  ready = false;
  t.match(await get('/readyz'), { status: 503, body: /depooled/ });
  t.equal((await get('/nope')).status, 404);
  t.equal((await get('/metrics', 'POST')).status, 405);
});

void t.test('access log: off by default; with sample_rate 1, one line per request', async (t) => {
  const upstream = await startUpstream(t);
  const quiet = await startTestProxy(t, upstream.url);
  await (await request(`${quiet.url}/sessions/v1/a`)).body.text();
  t.equal(quiet.logLines().filter((l) => l.msg === 'access').length, 0, 'no access lines by default');

  const loud = await startTestProxy(t, upstream.url, { logging: { access_log: { enabled: true, sample_rate: 1 } } });
  for (const key of ['a', 'b', 'c']) await (await request(`${loud.url}/sessions/v1/${key}`)).body.text();
  const lines = loud.logLines().filter((l) => l.msg === 'access');
  t.equal(lines.length, 3);
  t.match(lines[0], { method: 'GET', path: '/sessions/v1/{key}', status: 200, request_id: /^[0-9a-f-]{36}$/, duration_ms: Number });
  t.notOk(lines.some((l) => /\/sessions\/v1\/[abc]\b/.test(JSON.stringify(l))), 'never the key: a session ID is as good as a login');

  // A quarter of 400 requests: 100 expected, with a standard deviation of 8.7; 50 to 150 is more than 5 of them.
  const sampled = await startTestProxy(t, upstream.url, { logging: { access_log: { enabled: true, sample_rate: 0.25 } } });
  for (let i = 0; i < 400; i++) await (await request(`${sampled.url}/sessions/v1/s${i}`)).body.text();
  const count = sampled.logLines().filter((l) => l.msg === 'access').length;
  t.ok(count >= 50 && count <= 150, `sample_rate 0.25: ${count} of 400 requests logged (100 expected)`);
});
