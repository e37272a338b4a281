// A flood of turned-away requests (a depool during a pool restart) logs its first
// request whole and the rest as one counted line per interval.
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { TurnedAwayLog } from '../../src/proxy/turned-away-log.ts';
import { testLogger } from '../support/http.ts';

void t.test('the first request of a flood whole, then one line with the count', async (t) => {
  const { logger, lines } = testLogger();
  const log = new TurnedAwayLog(logger, 100);
  for (let i = 0; i < 50; i++) log.note({ request_id: `r${i}`, status: 503 });
  t.same(lines().map((l) => [l.level, l.request_id, l.msg]), [['warn', 'r0', 'turned a request away (depooled or over the in-flight limit)']], 'one line at once');
  await sleep(150);
  t.match(lines()[1], { level: 'warn', turned_away: 49, msg: 'turned 49 more requests away in the last 100 ms' }, 'the rest, counted, after the interval');

  log.note({ request_id: 'next' });
  t.equal(lines()[2]?.request_id, 'next', 'a later flood starts with a whole line again');
  log.flush();
  t.equal(lines().length, 3, 'nothing left to count, nothing more logged');
});

void t.test('flush at shutdown counts what the interval has not logged yet', (t) => {
  const { logger, lines } = testLogger();
  const log = new TurnedAwayLog(logger, 60_000);
  log.note({ request_id: 'a' });
  log.note({ request_id: 'b' });
  log.flush();
  t.equal(lines()[1]?.turned_away, 1);
  t.end();
});
