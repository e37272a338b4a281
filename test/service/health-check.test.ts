// The service's health check, against real HTTP servers: one slow answer, or two,
// never makes a pod unready; three in a row do; one good answer brings it back; a
// service that is gone is named with what the check saw.
import t from 'tap';
import { ServiceHealthCheck } from '../../src/service/health-check.ts';
import { startUpstream, testConfig, testLogger } from '../support/http.ts';

void t.test('thresholds: a stall of two checks keeps the service answering, a third makes it not; one pass brings it back', async (t) => {
  const stalled = { on: false };
  const upstream = await startUpstream(t, (req, res) => {
    if (stalled.on) return; // hangs, like a service stopped with SIGSTOP
    res.writeHead(req.url === '/healthz' ? 200 : 404);
    res.end();
  });
  const { logger, lines } = testLogger();
  const health = new ServiceHealthCheck(testConfig(upstream.url, { service: { health_check: { timeout_ms: 200 } } }), logger);
  t.teardown(() => health.stop());
  t.match(health.state(), { answering: null, last: 'not checked yet' }, 'nothing known before the first check');
  t.match(await health.checkOnce(), { answering: true, streak: 1, last: 'ok' });
  stalled.on = true;
  t.match(await health.checkOnce(), { answering: true, streak: -1 }, 'one check without an answer: still answering');
  t.match(await health.checkOnce(), { answering: true, streak: -2 }, 'two: still answering');
  t.match(await health.checkOnce(), { answering: false, streak: -3, last: /no answer/ }, 'three in a row: not answering');
  t.match(lines().find((l) => String(l.msg).startsWith('the service does not answer its health check')), { level: 'warn' }, 'said, as a warning');
  stalled.on = false;
  t.match(await health.checkOnce(), { answering: true, streak: 1 }, 'one good answer brings it back');
});

void t.test('a service that is gone: refused connections, named', async (t) => {
  const { logger } = testLogger();
  const health = new ServiceHealthCheck(testConfig('http://127.0.0.1:1'), logger);
  t.teardown(() => health.stop());
  for (let i = 0; i < 3; i++) await health.checkOnce();
  t.match(health.state(), { answering: false, last: 'no answer (ECONNREFUSED)' });
});

void t.test('a 5xx from the health path counts as not answering; a 4xx does not (the service runs)', async (t) => {
  const status = { code: 503 };
  const upstream = await startUpstream(t, (_req, res) => { res.writeHead(status.code); res.end(); });
  const { logger } = testLogger();
  const health = new ServiceHealthCheck(testConfig(upstream.url, { service: { health_check: { unhealthy_threshold: 1 } } }), logger);
  t.teardown(() => health.stop());
  t.match(await health.checkOnce(), { answering: false, last: 'answered 503' });
  status.code = 404;
  t.match(await health.checkOnce(), { answering: true });
});

void t.test('in the background, with jitter: it checks on its own, and stop() ends it', async (t) => {
  const upstream = await startUpstream(t);
  const { logger } = testLogger();
  const health = new ServiceHealthCheck(testConfig(upstream.url, { service: { health_check: { interval_ms: 50, jitter_ms: 50 } } }), logger);
  health.start();
  while (upstream.seen.length < 3) await new Promise((resolve) => setTimeout(resolve, 10));
  await health.stop();
  const seen = upstream.seen.length;
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.equal(upstream.seen.length, seen, 'no check after stop()');
  t.equal(health.state().answering, true);
});
