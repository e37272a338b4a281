// 1,000 concurrent requests through the proxy: none lost, none mixed up.
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { Agent, request } from 'undici';
import { startTestProxy, startUpstream } from '../support/http.ts';

void t.test('1,000 concurrent requests, each gets its own answer', async (t) => {
  // The service echoes the key and the body; a random delay reorders the answers.
  const upstream = await startUpstream(t, (req, res) => {
    setTimeout(() => {
      res.writeHead(200, { 'x-key': req.url });
      res.end(req.body);
    }, Math.random() * 20);
  });
  const { url, registry } = await startTestProxy(t, upstream.url);
  const agent = new Agent({ connections: 200 });
  t.teardown(() => agent.close());
  const results = await Promise.all(Array.from({ length: 1000 }, async (_, i) => {
    const body = randomBytes(64 + (i % 512));
    const response = await request(`${url}/sessions/v1/key-${i}`, { method: 'POST', body, dispatcher: agent });
    const echoed = Buffer.from(await response.body.arrayBuffer());
    return response.statusCode === 200 && response.headers['x-key'] === `/sessions/v1/key-${i}` && echoed.equals(body);
  }));
  t.equal(results.filter(Boolean).length, 1000, 'every request got its own answer');
  t.equal(upstream.seen.length, 1000, 'the service saw each request once');
  const metrics = await registry.metrics();
  t.match(metrics, /sessionstore_sidecar_http_requests_total\{method="POST",code="200"\} 1000/);
  t.match(metrics, /sessionstore_sidecar_http_request_duration_seconds_bucket\{le="0.0005"\}/);
  t.match(metrics, /sessionstore_sidecar_inflight_requests 0/);
  t.match(metrics, /sessionstore_sidecar_build_info\{version="test"\} 1/);
  t.match(metrics, /sessionstore_sidecar_process_resident_memory_bytes/, 'process default metrics');
});
