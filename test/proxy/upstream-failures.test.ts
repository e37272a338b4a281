// When the service refuses, resets, hangs or dies mid-answer, the client gets the
// matching problem (or a cut connection once the answer has begun) and SREs a count.
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
  t.ok(logLines().some((line) => line.level === 'error' && typeof line.request_id === 'string' && line.path === '/sessions/v1/k'), 'one error line with the request id');
});

