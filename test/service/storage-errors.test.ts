import t from 'tap';
import type { Answer } from '../../src/proxy/forward.ts';
import { StorageErrorWindow } from '../../src/service/storage-errors.ts';

const answer = (status: number, overrides: Partial<Answer> = {}): Answer => ({ method: 'GET', path: '/sessions/v1/k', status, durationSeconds: 0.001, answeredBy: 'service', ...overrides });

void t.test('counts API requests and storage errors over a sliding window', (t) => {
  let now = 1_000_000;
  const window = new StorageErrorWindow(10, () => now);
  window.record(answer(200));
  window.record(answer(500));
  window.record(answer(504, { answeredBy: 'sidecar', upstreamError: 'timeout' }));
  window.record(answer(503, { answeredBy: 'sidecar' }));
  window.record(answer(499));
  window.record(answer(500, { path: '/healthz' }));
  t.same(window.snapshot(), { windowSeconds: 10, requests: 4, storageErrors: 2, storageErrorsLastSecond: 0 }, 'the sidecar turning requests away is not a storage error; nor are other paths or clients that left');
  now += 1_000;
  t.equal(window.snapshot().storageErrorsLastSecond, 2, 'the second that just ended had two');
  now += 4_000;
  window.record(answer(500));
  t.same(window.snapshot(), { windowSeconds: 10, requests: 5, storageErrors: 3, storageErrorsLastSecond: 0 });
  now += 5_000;
  t.same(window.snapshot(), { windowSeconds: 10, requests: 1, storageErrors: 1, storageErrorsLastSecond: 0 }, 'answers older than the window fall out');
  now += 20_000;
  window.record(answer(200));
  t.same(window.snapshot(), { windowSeconds: 10, requests: 1, storageErrors: 0, storageErrorsLastSecond: 0 }, 'a reused slot starts from zero');
  t.end();
});
