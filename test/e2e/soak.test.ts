// The soak's short form (the long one is `npm run soak`, 30 minutes at 1,000 requests
// a second, with nodes stopped and started): session traffic through the sidecar while
// a node hangs for 10 s and the service is restarted. Nothing acknowledged is lost, the in-flight gauge
// returns to 0, memory does not keep growing.
import t from 'tap';
import { memoryGrows, soak } from '../../lab/soak.ts';
import { restoreClusterAfter } from '../support/restore-cluster.ts';

restoreClusterAfter(t);
// 45 s of traffic; reading thousands of writes back and a busy machine take more.
t.setTimeout(6 * 60_000);

void t.test('a short soak: a node that hangs and a service restart under steady traffic', async (t) => {
  const result = await soak({ seconds: 45, rate: 200, short: true, log: (line) => { t.comment(line); } });
  t.ok(result.acked > 500, `${result.acked} writes acknowledged`);
  t.equal(result.lost, 0, 'every acknowledged write reads back');
  t.equal(result.inflightAtEnd, 0, 'the in-flight gauge is back to 0');
  t.notOk(memoryGrows(result.samples), `memory does not keep growing (RSS ${result.samples.map((s) => s.rssMb).join(', ')} MB)`);
  t.equal(result.failedOutsideDisturbances, 0, `no request failed outside the disturbances (${result.failed} of ${result.sent} failed within them: ${JSON.stringify(result.failures)}; ` +
    `${result.disturbances.map((d) => `${d.what} for ${((d.to - d.from) / 1000).toFixed(1)} s`).join(', ')})`);
});
