// What the logs may show of a request's path: never a session key, never a query.
import t from 'tap';
import { loggablePath } from '../../src/telemetry/logger.ts';

void t.test('the key, the last segment, is replaced; the query dropped; other paths kept', (t) => {
  t.equal(loggablePath('/sessions/v1/enwiki%3AMWSession%3Aabc123'), '/sessions/v1/{key}');
  t.equal(loggablePath('/sessions/v1/abc?x=secret'), '/sessions/v1/{key}');
  t.equal(loggablePath('/healthz'), '/healthz');
  t.equal(loggablePath('/healthz?verbose=1'), '/healthz');
  t.equal(loggablePath('/sessions/v1/'), '/sessions/v1/');
  t.equal(loggablePath('/'), '/');
  t.equal(loggablePath(''), '');
  t.end();
});
