// The retry rule, pure: when a named broken coordinator explains the storage errors,
// retries may use the whole ceiling; otherwise the ordinary budget; never more than the
// ceiling. A fake clock drives the 10 s window.
import t from 'tap';
import { parseConfig } from '../../src/config/load.ts';
import type { CoordinatorHealth } from '../../src/cluster/view.ts';
import { explainedFault, retriesAllowed, RetryBudget } from '../../src/proxy/retry-policy.ts';

const retries = parseConfig({ cassandra: { contact_points: ['127.0.0.1'] } }).retries;
const splitView: CoordinatorHealth = { localQuorum: true, healthy: 2, broken: 1 };
const allHealthy: CoordinatorHealth = { localQuorum: true, healthy: 3, broken: 0 };

void t.test('the defaults: Linkerd\'s and Envoy\'s 20% for an unexplained failure, a ceiling of one retry per request', (t) => {
  t.equal(retries.budget_ratio, 0.2);
  t.equal(retries.ceiling_ratio, 1);
  t.equal(retries.max_per_request, 4);
  t.equal(retriesAllowed(retries, false, 1000, 10), 200 + 50, '20% of the window\'s requests plus 5 a second');
  t.equal(retriesAllowed(retries, true, 1000, 10), 1000 + 50, 'explained: the whole ceiling');
  t.equal(retriesAllowed({ ...retries, budget_ratio: 0.8, ceiling_ratio: 0.5 }, false, 1000, 10), 500 + 50, 'a budget above the ceiling is held to the ceiling');
  t.end();
});

void t.test('a fault is explained only by a named broken coordinator, with LOCAL_QUORUM through the others', (t) => {
  const third = { requests: 300, failed: 100 };
  t.ok(explainedFault(splitView, third), 'one broken coordinator in three, a third of first attempts fail');
  t.notOk(explainedFault(allHealthy, third), 'no coordinator named: not explained');
  t.notOk(explainedFault({ ...splitView, localQuorum: false }, third), 'no LOCAL_QUORUM: the cluster fails everywhere');
  t.notOk(explainedFault({ localQuorum: true, healthy: 0, broken: 3 }, third), 'no healthy coordinator to retry on');
  t.ok(explainedFault(splitView, { requests: 300, failed: 150 }), 'half fail: within the slack of round robin under concurrency');
  t.notOk(explainedFault(splitView, { requests: 300, failed: 240 }), 'four in five fail: something beyond the named node fails too');
  t.ok(explainedFault(splitView, { requests: 10, failed: 10 }), 'too few requests to contradict the canaries');
  t.ok(explainedFault({ localQuorum: true, healthy: 1, broken: 2 }, { requests: 300, failed: 200 }), 'two broken of three explain two thirds');
  t.end();
});

void t.test('the budget over a sliding 10 s window: the ceiling while explained, the ordinary budget otherwise', (t) => {
  let now = 1_000_000;
  let health = splitView;
  const budget = new RetryBudget({ ...retries, min_per_second: 0 }, () => health, () => now);
  for (let i = 0; i < 100; i++) budget.recordRequest();
  for (let i = 0; i < 34; i++) budget.recordFailedFirstAttempt();
  t.ok(budget.explained(), 'a third of first attempts fail with one coordinator in three named');
  let taken = 0;
  while (budget.tryTake(budget.explained())) taken++;
  t.equal(taken, 100, 'explained: up to the ceiling, one retry per request');
  health = allHealthy;
  now += 10_000;
  for (let i = 0; i < 100; i++) budget.recordRequest();
  t.notOk(budget.explained(), 'nothing named for the whole window: not explained');
  taken = 0;
  while (budget.tryTake(budget.explained())) taken++;
  t.equal(taken, 20, 'the window moved on: 20% of the new requests');
  t.end();
});

void t.test('an explained fault stays explained for the window through a flicker of its evidence, never without LOCAL_QUORUM', (t) => {
  let now = 1_000_000;
  let health = splitView;
  const budget = new RetryBudget(retries, () => health, () => now);
  for (let i = 0; i < 100; i++) budget.recordRequest();
  for (let i = 0; i < 34; i++) budget.recordFailedFirstAttempt();
  t.ok(budget.explained(), 'one coordinator in three named');
  // The broken node's probe timed out, its canary not judged again yet: a view with nothing named.
  health = allHealthy;
  now += 4_000;
  t.ok(budget.explained(), '4 s later, nothing named: still explained');
  now += 5_999;
  t.ok(budget.explained(), 'up to the window');
  now += 1;
  t.notOk(budget.explained(), 'a whole window with nothing named: not explained');
  health = splitView;
  t.ok(budget.explained(), 'named again');
  health = { ...allHealthy, localQuorum: false };
  now += 1_000;
  t.notOk(budget.explained(), 'LOCAL_QUORUM lost: not explained at once');
  t.end();
});
