// A flood of events (requests turned away during a pool restart, retried storage
// errors) logs its first event whole and the rest as one counted line per interval.
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { FloodLog } from '../../src/telemetry/flood-log.ts';
import { testLogger } from '../support/http.ts';

void t.test('the first event of a flood whole, then one line with the count', async (t) => {
  const { logger, lines } = testLogger();
  const log = new FloodLog(logger, 'turned a request away', 100);
  let built = 0;
  for (let i = 0; i < 50; i++) log.note(() => { built++; return { request_id: `r${i}`, status: 503 }; });
  t.same(lines().map((l) => [l.level, l.request_id, l.msg]), [['warn', 'r0', 'turned a request away']], 'one line at once');
  t.equal(built, 1, 'the fields are built only for the line that is written');
  await sleep(150);
  t.match(lines()[1], { level: 'warn', count: 49, msg: 'turned a request away: 49 more in the last 100 ms' }, 'the rest, counted, after the interval');

  log.note(() => ({ request_id: 'next' }));
  t.equal(lines()[2]?.request_id, 'next', 'a later flood starts with a whole line again');
  log.flush();
  t.equal(lines().length, 3, 'nothing left to count, nothing more logged');
});

void t.test('flush at shutdown counts what the interval has not logged yet', (t) => {
  const { logger, lines } = testLogger();
  const log = new FloodLog(logger, 'retried', 60_000);
  log.note(() => ({ request_id: 'a' }));
  log.note(() => ({ request_id: 'b' }));
  log.flush();
  t.equal(lines()[1]?.count, 1);
  t.end();
});
