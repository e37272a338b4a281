// A Kubernetes Service in front of a local fleet, as kube-proxy and the kubelet make
// one: connection-level (L4) balancing over the pods whose readiness passes.
//   - the kubelet probes each pod's readiness every `probePeriodMs` (timeout `timeoutMs`)
//     and calls it unready after `failureThreshold` failures in a row, ready after one
//     pass; by default with the probe `inject` writes for the sidecar;
//   - the endpoints controller and kube-proxy apply each change `propagationMs` later;
//   - a new client connection goes to the next pod in rotation (kube-proxy picks per
//     connection, not per request); established connections stay where they are, as
//     conntrack keeps them, until either side closes.
// With no pod in rotation a new connection is closed at once, as kube-proxy rejects
// connections to a Service without endpoints.
import { once } from 'node:events';
import net, { type AddressInfo, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import type { Cleanup } from '../cleanup.ts';
import { injectedExample } from '../injected-example.ts';

export interface BalancedPod {
  name: string;
  /** Where traffic goes: host:port of the pod's serving port. */
  address: { host: string; port: number };
  /** The readiness probe's URL. */
  readinessUrl: string;
}

export interface EndpointChange {
  at: number;
  pod: string;
  inRotation: boolean;
}

export interface Balancer {
  url: string;
  /** Pods in rotation now. */
  endpoints(): string[];
  /** Every change of the endpoints, in order. */
  changes(): EndpointChange[];
  /** Connections that found no pod in rotation, or whose pod refused them. */
  rejectedConnections(): number;
  stop(): Promise<void>;
}

export interface BalancerOptions {
  probePeriodMs?: number;
  timeoutMs?: number;
  failureThreshold?: number;
  propagationMs?: number;
}

/** The readiness probe `inject` gives the sidecar, as the kubelet's settings. */
export function injectedReadiness(): Required<Omit<BalancerOptions, 'propagationMs'>> {
  const probe = injectedExample().sidecar.readinessProbe;
  if (!probe) throw new Error('inject wrote no readiness probe for the sidecar');
  return { probePeriodMs: probe.periodSeconds * 1000, timeoutMs: probe.timeoutSeconds * 1000, failureThreshold: probe.failureThreshold };
}

export async function startBalancer(owner: Cleanup, pods: BalancedPod[], options: BalancerOptions = {}): Promise<Balancer> {
  const { probePeriodMs, timeoutMs, failureThreshold, propagationMs = 1000 } = { ...injectedReadiness(), ...options };
  const inRotation = new Set<string>();
  const changes: EndpointChange[] = [];
  const sockets = new Set<Socket>();
  let rejected = 0;
  let turn = 0;

  const server = net.createServer((client) => {
    const candidates = pods.filter((pod) => inRotation.has(pod.name));
    const pod = candidates[turn++ % Math.max(1, candidates.length)];
    if (!pod) {
      rejected++;
      client.destroy();
      return;
    }
    const upstream = net.connect(pod.address.port, pod.address.host);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    }
    let connected = false;
    upstream.once('connect', () => { connected = true; });
    upstream.once('error', () => { if (!connected) rejected++; client.destroy(); });
    client.once('error', () => upstream.destroy());
    client.pipe(upstream).pipe(client);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');

  // The kubelet's probes and the endpoints' propagation.
  const stopping = new AbortController();
  const failures = new Map<string, number>();
  const probing = Promise.all(pods.map(async (pod) => {
    let observed: boolean | null = null;
    while (!stopping.signal.aborted) {
      const passed = await request(pod.readinessUrl, { headersTimeout: timeoutMs, bodyTimeout: timeoutMs, signal: stopping.signal })
        .then(async (r) => { await r.body.dump(); return r.statusCode >= 200 && r.statusCode < 400; }, () => false);
      failures.set(pod.name, passed ? 0 : (failures.get(pod.name) ?? 0) + 1);
      const ready: boolean = passed || (observed === true && (failures.get(pod.name) ?? 0) < failureThreshold);
      if (ready !== observed) {
        const first = observed === null;
        observed = ready;
        setTimeout(() => {
          if (stopping.signal.aborted) return;
          if (ready) inRotation.add(pod.name);
          else inRotation.delete(pod.name);
          changes.push({ at: Date.now(), pod: pod.name, inRotation: ready });
        }, first ? 0 : propagationMs);
      }
      await sleep(probePeriodMs, undefined, { signal: stopping.signal }).catch(() => undefined);
    }
  }));

  const stop = async (): Promise<void> => {
    if (stopping.signal.aborted) return;
    stopping.abort();
    await probing;
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  };
  owner.teardown(stop);
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    endpoints: () => pods.filter((pod) => inRotation.has(pod.name)).map((pod) => pod.name),
    changes: () => [...changes],
    rejectedConnections: () => rejected,
    stop,
  };
}
