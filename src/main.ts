// The sidecar's wiring only: configuration -> components -> start; SIGTERM -> stop.
// (src/cli.ts is the command that runs it.)
import cassandra from 'cassandra-driver';
import { hostname } from 'node:os';
import { startAdminServer } from './admin/server.ts';
import { ClusterMonitor } from './cluster/cluster-monitor.ts';
import { cassandraSecurity } from './cluster/connection-options.ts';
import { shutDownClient } from './cluster/coordinator-client.ts';
import { latest, secretText } from './config/rotating-file.ts';
import type { Config } from './config/schema.ts';
import { startProxy, type Proxy } from './proxy/proxy.ts';
import type { ServiceRule } from './reconcile/diagnose.ts';
import { Reconciler, type PublishedVerdict } from './reconcile/reconciler.ts';
import { FleetLease } from './remediate/lease.ts';
import { Remediator } from './remediate/remediator.ts';
import { restartService } from './remediate/restart-action.ts';
import { ServiceHealthCheck } from './service/health-check.ts';
import { ServiceMonitor } from './service/service-monitor.ts';
import { StorageErrorWindow } from './service/storage-errors.ts';
import { createLogger, type Logger } from './telemetry/logger.ts';
import { reportLacking } from './telemetry/lacking.ts';
import { createRegistry, type Registry } from './telemetry/metrics.ts';
import { version } from './version.ts';

type Readiness = () => Promise<{ ready: boolean; reasons: string[] }>;

/** The admin token, from its file at each operator action when it came from one; none when it was lacking at start. */
function adminToken(config: Config): { actionToken?: () => string } {
  const { token, token_file: file } = config.admin;
  if (token === undefined) return {};
  return { actionToken: file === undefined ? () => token : latest(file, secretText, token) };
}

/** Answered at once from state: the kubelet never waits on the service, nor on the pool live traffic uses. */
const readinessOf = (proxy: Proxy, health: ServiceHealthCheck): Readiness => () => {
  const { depooled, reason } = proxy.trafficSwitch.status();
  if (depooled) return Promise.resolve({ ready: false, reasons: [`depooled: ${reason ?? ''}`] });
  const { answering, last } = health.state();
  return Promise.resolve({ ready: answering === true, reasons: answering === true ? [] : [`the session service does not answer its health check (${last})`] });
};

/**
 * SIGTERM and SIGINT: `halt` stops what watches and acts, then `close` (depool, drain,
 * close the ports). Whatever hangs, the process ends on its own, and with an error,
 * within Kubernetes' default 30 s grace with the default settings (5 s + 15 s + 5 s).
 */
function stopOnSignal(config: Config, logger: Logger, halt: () => void, close: () => Promise<void>): void {
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping: depooling and draining in-flight requests');
    const deadlineMs = config.depool.propagation_ms + config.shutdown.drain_timeout_ms + 5_000;
    setTimeout(() => {
      logger.error({ deadline_ms: deadlineMs }, 'stopping did not finish in time; exiting');
      logger.flush();
      process.exit(1);
    }, deadlineMs).unref();
    halt();
    close()
      .then(() => {
        logger.info('stopped');
        logger.flush();
        // Everything is closed; a handle some library still holds must not keep the pod terminating.
        setTimeout(() => { process.exit(); }, 2000).unref();
      })
      .catch((error: unknown) => {
        logger.error({ error: (error as Error).message }, 'error while stopping');
        process.exitCode = 1;
      });
  };
  process.once('SIGTERM', () => { stop('SIGTERM'); });
  process.once('SIGINT', () => { stop('SIGINT'); });
}

export async function runSidecar(config: Config): Promise<void> {
  const logger = createLogger(config.logging.level);
  const registry = createRegistry(version);
  reportLacking(config.lacking, registry, logger);
  if (config.lacking.some((l) => l.setting === 'config')) {
    await runProxyOnly(config, registry, logger);
    return;
  }
  const cluster = new ClusterMonitor(config.cassandra, registry, logger);
  await cluster.start();
  const service = new ServiceMonitor(config, registry, logger, () => cluster.view().nodes.map((node) => node.address));
  service.start();
  const health = new ServiceHealthCheck(config, logger);
  health.start();
  const traffic = new StorageErrorWindow(config.reconcile.error_window_seconds);
  const proxy = await startProxy(config, registry, logger, {
    onAnswer: (answer) => { traffic.record(answer); },
    coordinatorHealth: () => cluster.coordinatorHealth,
  });
  const leaseClient = new cassandra.Client({
    contactPoints: config.cassandra.contact_points,
    localDataCenter: config.cassandra.local_data_center,
    protocolOptions: { port: config.cassandra.port },
    ...cassandraSecurity(config.cassandra),
  });
  const remediator = new Remediator({
    config,
    lease: new FleetLease(leaseClient, {
      keyspace: config.cassandra.keyspace,
      scope: config.remediation.lease_scope ?? config.cassandra.local_data_center,
      pod: hostname(),
      pid: process.pid,
      ttlSeconds: config.remediation.lease_ttl_seconds,
    }),
    trafficSwitch: proxy.trafficSwitch,
    inflight: () => proxy.status().inflight,
    restart: restartService,
    servicePool: async () => {
      await service.observe();
      return service.view().pool?.connections ?? null;
    },
    serviceCanary: async () => {
      const canary = await service.runCanary();
      return canary.ok ? 'ok' : canary.detail;
    },
    // A fresh pool reading and a fresh verdict, just before the signal.
    recheck: async (rule: ServiceRule): Promise<string | null> => {
      await service.observe();
      const verdict: PublishedVerdict = await reconciler.tick();
      if (verdict.findings.some((f) => f.rule === rule)) return null;
      return `${rule} no longer holds: ${verdict.evidence.join('; ') || "the service's view agrees with the cluster's"}`;
    },
    registry,
    logger,
  });
  const reconciler = new Reconciler(config, {
    cluster: () => cluster.view(),
    service: () => ({ answering: health.state().answering, poolConnections: service.view().pool?.connections ?? null, traffic: traffic.snapshot(), canaryFailures: service.canaryFailureTimes() }),
  }, (verdict) => remediator.consider(verdict), registry, logger);
  reconciler.start();
  const admin = await startAdminServer({
    address: config.admin.address,
    port: config.admin.port,
    registry,
    logger,
    readiness: readinessOf(proxy, health),
    status: { version: () => version, config: () => ({ lacking: config.lacking }), proxy: () => proxy.status(), cluster: () => ({ ...cluster.view(), contactPoints: cluster.contactPoints() }), service: () => ({ ...service.view(), health: health.state(), traffic: traffic.snapshot() }), reconcile: () => reconciler.status(), remediation: () => remediator.status() },
    documents: { '/reconcile/inputs': () => reconciler.inputs() },
    ...adminToken(config),
    actions: {
      '/remediation/restart': () => remediator.operatorRestart(),
      '/remediation/pause': () => { remediator.pause(); },
      '/remediation/resume': () => { remediator.resume(); },
    },
  });
  logger.info({ version }, 'sessionstore-sidecar started');

  stopOnSignal(config, logger, () => {
    reconciler.stop();
    cluster.stop();
    service.stop();
    void health.stop();
  }, async () => {
    await remediator.stop();
    await proxy.stop();
    await admin.close();
    await shutDownClient(leaseClient);
  });
}

/**
 * Without its configuration file (its ConfigMap not there yet) the sidecar must not keep
 * the pod from serving: it proxies to the service, with readiness from the service's
 * health check, and says what it lacks. It starts nothing that talks to Cassandra, so
 * it neither retries nor restarts, and pages nobody about Cassandra.
 */
async function runProxyOnly(config: Config, registry: Registry, logger: Logger): Promise<void> {
  const health = new ServiceHealthCheck(config, logger);
  health.start();
  const proxy = await startProxy(config, registry, logger); // retries off: nothing to know of Cassandra
  const admin = await startAdminServer({
    address: config.admin.address,
    port: config.admin.port,
    registry,
    logger,
    readiness: readinessOf(proxy, health),
    status: { version: () => version, config: () => ({ lacking: config.lacking }), proxy: () => proxy.status(), service: () => ({ health: health.state() }) },
    ...adminToken(config),
  });
  logger.info({ version, mode: 'proxy only' }, 'sessionstore-sidecar started');
  stopOnSignal(config, logger, () => { void health.stop(); }, async () => {
    await proxy.stop();
    await admin.close();
  });
}

