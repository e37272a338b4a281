// The traffic window the diagnosis reads: API requests whose first attempt the service
// failed, per second; deletes apart; what the sidecar refused or the client abandoned
// left out.
import t from 'tap';
import type { Answer } from '../../src/proxy/forward.ts';
import { StorageErrorWindow } from '../../src/service/storage-errors.ts';

const answer = (status: number, overrides: Partial<Answer> = {}): Answer => ({
  method: 'GET', path: '/sessions/v1/k', status, durationSeconds: 0.001, answeredBy: 'service', attempts: 1, failedAttempts: status >= 500 ? 1 : 0, ...overrides,
});

void t.test('counts API requests and the service\'s storage errors, second by second', (t) => {
  let now = 1_000_000;
  const window = new StorageErrorWindow(10, () => now);
  window.record(answer(200));
  window.record(answer(500));
  window.record(answer(504, { answeredBy: 'sidecar', upstreamError: 'timeout' }));
  window.record(answer(200, { attempts: 2, failedAttempts: 1 }));
  window.record(answer(503, { answeredBy: 'sidecar', attempts: 0, failedAttempts: 0 }));
  window.record(answer(499));
  window.record(answer(500, { path: '/healthz' }));
  window.record(answer(500, { method: 'DELETE' }));
  const first = window.snapshot();
  t.match(first, { windowSeconds: 10, requests: 5, storageErrors: 4, failedAnswers: 3 },
    'a retried failure still counts against the service; refusals, clients that left and other paths do not');
  t.same(first.seconds, [{ second: 1000, requests: 4, storageErrors: 3, deletes: 1, deleteStorageErrors: 1 }], 'deletes are kept apart');
  now += 1_000;
  t.equal(window.snapshot().storageErrorsLastSecond, 4, 'the second that just ended had four');
  now += 4_000;
  window.record(answer(500));
  t.match(window.snapshot(), { requests: 6, storageErrors: 5, storageErrorsLastSecond: 0 });
  t.equal(window.snapshot().seconds.length, 2);
  now += 5_000;
  t.match(window.snapshot(), { requests: 1, storageErrors: 1 }, 'answers older than the window fall out');
  now += 20_000;
  window.record(answer(200));
  t.match(window.snapshot(), { requests: 1, storageErrors: 0, seconds: [{ requests: 1, storageErrors: 0 }] }, 'a reused slot starts from zero');
  t.end();
});
