// SIGTERM in a Deployment: readiness fails first, the pod keeps serving while the
// endpoints move traffic to the other pod (the propagation time), and only then turns
// stragglers away. Behind the lab's readiness-aware balancer (kubelet probe 1 s,
// endpoint propagation 1 s) with steady traffic, a pod that stops costs no request.
import t from 'tap';
import { startFleet } from '../../lab/fleet/fleet.ts';
import { labService } from '../../lab/scenarios.ts';
import { loggedAt } from '../../lab/sidecar-process.ts';
import { sessionTraffic } from '../../lab/traffic.ts';

void t.test('a pod stopped by SIGTERM behind the balancer fails no request', async (t) => {
  const fleet = await startFleet(t, {
    name: 'shutdown', mode: 'acting', pods: 2, service: labService,
    // The default propagation time (5 s): above the balancer's probe period plus its propagation (2 s).
    sidecar: {},
  });
  for (let i = 0; fleet.balancer.endpoints().length < 2; i++) {
    if (i > 100) throw new Error('the pods never came into rotation');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const traffic = sessionTraffic(t, fleet.balancer.url, { perSecond: 50 });
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const [stopping, staying] = fleet.pods as [typeof fleet.pods[0], typeof fleet.pods[0]];
  const signalledAt = Date.now();
  t.equal(await stopping.sidecar.stop(), 0, 'the stopped sidecar exits 0');
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const result = await traffic.stop();

  const out = fleet.balancer.changes().find((c) => c.pod === stopping.name && !c.inRotation);
  const turningAway = loggedAt(stopping.sidecar, 'turning new requests away');
  t.ok(out && turningAway && out.at < turningAway, `the balancer took the pod out (${out ? out.at - signalledAt : '?'} ms after SIGTERM) before it turned anyone away (${turningAway ? turningAway - signalledAt : '?'} ms)`);
  t.same(fleet.balancer.endpoints(), [staying.name], 'the other pod serves alone');
  t.ok(result.sent > 150, `${result.sent} requests sent`);
  t.equal(result.failed, 0, 'no request failed', { failures: result.failures });
});
