// Readiness that cannot empty a Service. A fleet of three pods behind the lab's
// balancer, whose kubelet probes each sidecar's /readyz with the probe `inject` writes
// (lab/fleet/balancer.ts), under steady traffic:
//   - every pod's service stalls for 2 s at once (SIGSTOP, SIGCONT): the sidecars'
//     health checks need three failures in a row, so every pod stays in rotation;
//   - the whole machine starves for 2.5 s (every service and every sidecar stopped):
//     the kubelet's probes time out, and its failure threshold keeps every pod in
//     rotation. With one failure allowed, as inject once wrote, all three left at once.
import t from 'tap';
import { startFleet, type Fleet } from '../../lab/fleet/fleet.ts';
import { labService } from '../../lab/scenarios.ts';
import { sessionTraffic } from '../../lab/traffic.ts';

const settle = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Stops the processes for `ms`, all at once, then lets them run again. */
async function stall(pids: number[], ms: number): Promise<void> {
  for (const pid of pids) process.kill(pid, 'SIGSTOP');
  await settle(ms);
  for (const pid of pids) process.kill(pid, 'SIGCONT');
}

const servicePids = (fleet: Fleet): number[] => fleet.pods.map((pod) => {
  const pid = pod.service.supervisor.pid();
  if (pid === undefined) throw new Error(`${pod.name}: its service is not running`);
  return pid;
});

void t.test('a fleet keeps every pod in rotation through a stalled service and a starved machine', async (t) => {
  const fleet = await startFleet(t, { name: 'stall', mode: 'acting', pods: 3, service: labService, sidecar: {} });
  for (let i = 0; fleet.balancer.endpoints().length < 3; i++) {
    if (i > 200) throw new Error('the pods never came into rotation');
    await settle(100);
  }
  const traffic = sessionTraffic(t, fleet.balancer.url, { perSecond: 50 });
  await settle(2000);

  const since = Date.now();
  await stall(servicePids(fleet), 2000);
  await settle(4000); // the kubelet's threshold and the endpoints' propagation, had anything failed
  t.same(fleet.balancer.changes().filter((c) => c.at >= since), [], 'the services stalled for 2 s: no pod left rotation');

  const starvedSince = Date.now();
  await stall([...servicePids(fleet), ...fleet.pods.map((pod) => pod.sidecar.pid)], 2500);
  await settle(4000);
  t.same(fleet.balancer.changes().filter((c) => c.at >= starvedSince), [], 'the machine starved for 2.5 s: no pod left rotation');

  const result = await traffic.stop();
  t.ok(result.sent > 400, `${result.sent} requests sent`);
  t.equal(fleet.balancer.rejectedConnections(), 0, 'the Service never refused a connection');
  t.equal(result.failed, 0, 'no request failed: the stalls only delayed them', { failures: result.failures });
});
