// A Kask-compatible session service for tests and the demo (lab code, not product):
// GET/POST/DELETE /sessions/v1/{key} with Kask's status codes and problem bodies, a
// static /healthz, /metrics, storage in <keyspace>.values through cassandra-driver,
// configured the way Kask configures gocql, so that it meets Cassandra's failures the
// way Kask does:
//   - reads and writes at LOCAL_QUORUM, deletes at EACH_QUORUM (Kask's storage.go);
//   - coordinators chosen round robin in the local data center, not token-aware;
//   - no retries: Kask sets no retry policy, so an error reaches the client;
//   - 2 connections per host and a 12 s query timeout;
//   - gocql's reconnection: after a node's UP event it waits `--node-up-delay-ms`
//     (gocql's nodeUpDelay(): 10 s for Cassandra 4.0 and later, a version check that
//     reads only the minor version), and it retries down hosts every
//     `--reconnect-interval-ms` (gocql's ReconnectInterval, 60 s).
// One fault, switched on with --fault, reproduces the driver-side failure class:
//   stale-pool   a host the driver has seen go down is never used or connected to
//                again, until the process restarts (gocql issues #1582 and #1678).
// Cassandra-side failures (a coordinator that cannot reach its peers, T327954) need
// no switch: the lab produces them on the real cluster (lab/cluster/faults.ts).
import cassandra from 'cassandra-driver';
import http from 'node:http';
import { parseArgs } from 'node:util';
import { Counter, Registry } from 'prom-client';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '8080' },
    'contact-points': { type: 'string', default: '127.0.0.1,127.0.0.2,127.0.0.3' },
    dc: { type: 'string', default: 'dc1' },
    keyspace: { type: 'string', default: 'sessions' },
    username: { type: 'string' },
    password: { type: 'string' },
    ttl: { type: 'string', default: '86400' },
    'node-up-delay-ms': { type: 'string', default: '10000' },
    'reconnect-interval-ms': { type: 'string', default: '60000' },
    fault: { type: 'string' },
  },
});

const log = (level: string, msg: string, fields: Record<string, unknown> = {}): void => {
  console.log(JSON.stringify({ msg, appname: 'sessionstore', time: new Date().toISOString(), level, ...fields }));
};

/** The stale-pool fault: the policy ignores, for good, every host it has seen go down; the driver then drops its pool. */
class ForgetfulPolicy extends cassandra.policies.loadBalancing.DCAwareRoundRobinPolicy {
  readonly forgotten = new Set<string>();
  override getDistance(host: cassandra.Host): cassandra.types.distance {
    return this.forgotten.has(host.address) ? cassandra.types.distance.ignored : super.getDistance(host);
  }
  override newQueryPlan(keyspace: string, options: cassandra.ExecutionOptions, callback: (error: Error, iterator: Iterator<cassandra.Host>) => void): void {
    super.newQueryPlan(keyspace, options, (error, plan) => {
      const hosts = [...{ [Symbol.iterator]: () => plan }].filter((host) => !this.forgotten.has(host.address));
      callback(error, hosts[Symbol.iterator]());
    });
  }
}

const forgetful = args.fault === 'stale-pool' ? new ForgetfulPolicy(args.dc) : null;
const nodeUpDelayMs = Number(args['node-up-delay-ms']);
const client = new cassandra.Client({
  contactPoints: args['contact-points'].split(','),
  localDataCenter: args.dc,
  keyspace: args.keyspace,
  ...(args.username ? { authProvider: new cassandra.auth.PlainTextAuthProvider(args.username, args.password ?? '') } : {}),
  policies: {
    loadBalancing: forgetful ?? new cassandra.policies.loadBalancing.DCAwareRoundRobinPolicy(args.dc),
    retry: new cassandra.policies.retry.FallthroughRetryPolicy(),
    reconnection: new cassandra.policies.reconnection.ConstantReconnectionPolicy(Number(args['reconnect-interval-ms'])),
  },
  pooling: { coreConnectionsPerHost: { [cassandra.types.distance.local]: 2, [cassandra.types.distance.remote]: 0 } },
  socketOptions: { readTimeout: 12_000 },
});

/**
 * gocql's node-up delay. The driver reacts to a node's UP event by reconnecting to it
 * (after 1 s of its own); gocql sleeps nodeUpDelay() first. Wrapping the host's
 * reconnect-now hook adds the difference.
 */
const delayReconnectOnUp = (host: cassandra.Host): void => {
  const hook = host as unknown as { checkIsUp: () => void };
  const reconnectNow = hook.checkIsUp.bind(host);
  hook.checkIsUp = () => { setTimeout(reconnectNow, Math.max(0, nodeUpDelayMs - 1000)).unref(); };
};

const hostsSeenDown = new Set<string>();
const sawDown = (host: cassandra.Host): void => {
  if (hostsSeenDown.has(host.address)) return;
  hostsSeenDown.add(host.address);
  if (forgetful) {
    forgetful.forgotten.add(host.address);
    log('WARNING', `Host ${host.address} is down; it will not be used again`);
  }
};
client.on('hostDown', sawDown);
// The driver's events can come late; a forgetful pool also polls the hosts' states, once its first connections have settled.
if (forgetful) {
  setTimeout(() => {
    setInterval(() => { for (const host of client.hosts.values()) if (!host.isUp()) sawDown(host); }, 250).unref();
  }, 3000).unref();
}
client.on('hostAdd', delayReconnectOnUp);
client.on('hostUp', (host: cassandra.Host) => { hostsSeenDown.delete(host.address); });

const registry = new Registry();
const requests = new Counter({ name: 'kask_requests_total', help: 'Requests by method and code.', labelNames: ['method', 'code'], registers: [registry] });

/** Kask's problem answers (http.go): application/json, RFC 7807 fields. */
const problem = (res: http.ServerResponse, status: number, name: string, title: string, detail: string, instance: string): void => {
  const body = JSON.stringify({ type: `https://www.mediawiki.org/wiki/Kask/errors/${name}`, title, detail, instance }, null, 2);
  res.writeHead(status, { 'content-type': 'application/json', 'x-content-type-options': 'nosniff' });
  res.end(`${body}\n`);
};

async function storage<T>(what: string, requestId: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    // Kask logs the driver's error text; gocql's is the server's own.
    log('ERROR', `Error ${what} storage (${(error as Error).message})`, { request_id: requestId });
    throw error;
  }
}

const readBody = async (req: http.IncomingMessage): Promise<Buffer> => {
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
};

const localQuorum = { prepare: true, consistency: cassandra.types.consistencies.localQuorum };
const eachQuorum = { prepare: true, consistency: cassandra.types.consistencies.eachQuorum };

async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = req.url ?? '/';
  const requestId = String(req.headers['x-request-id'] ?? '00000000-0000-0000-0000-000000000000');
  if (url === '/healthz') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(); // static, as Kask's is: that is the point
    return;
  }
  if (url === '/metrics') {
    res.writeHead(200, { 'content-type': registry.contentType });
    res.end(await registry.metrics());
    return;
  }
  const match = /^\/sessions\/v1\/([^/?]+)$/.exec(url);
  if (!match?.[1]) {
    problem(res, 404, 'not_found', 'Not found', 'The value you requested was not found', url);
    return;
  }
  const key = decodeURIComponent(match[1]);
  try {
    if (req.method === 'GET') {
      const row = (await storage('reading from', requestId, () => client.execute('SELECT value FROM values WHERE key = ?', [key], localQuorum))).first() as cassandra.types.Row | null;
      if (!row) {
        problem(res, 404, 'not_found', 'Not found', 'The value you requested was not found', url);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end(row.get('value') as Buffer);
    } else if (req.method === 'POST') {
      const value = await readBody(req);
      if (value.length === 0) {
        problem(res, 400, 'bad_request', 'Bad request', 'The request was incorrect or malformed', url);
        return;
      }
      await storage('writing to', requestId, () => client.execute(`INSERT INTO values (key, value) VALUES (?, ?) USING TTL ${Number(args.ttl)}`, [key, value], localQuorum));
      res.writeHead(201, { 'content-type': 'application/octet-stream' });
      res.end();
    } else if (req.method === 'DELETE') {
      await storage('deleting in', requestId, () => client.execute('DELETE FROM values WHERE key = ?', [key], eachQuorum));
      res.writeHead(204);
      res.end();
    } else {
      problem(res, 400, 'bad_request', 'Bad request', 'The request was incorrect or malformed', url);
    }
  } catch {
    problem(res, 500, 'server_error', 'Internal server error', 'The server encountered an error with your request', url);
  }
}

const server = http.createServer((req, res) => {
  res.on('finish', () => { requests.inc({ method: req.method ?? '', code: res.statusCode }); });
  void handle(req, res);
});
await client.connect();
for (const host of client.hosts.values()) delayReconnectOnUp(host);
server.listen(Number(args.port), '127.0.0.1', () => { log('INFO', `listening on ${args.port}`, { fault: args.fault ?? 'none' }); });
const stop = (): void => {
  server.close();
  void client.shutdown().then(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
// A service whose supervisor died (a killed test) goes too, rather than linger on its port.
const supervisorPid = process.ppid;
setInterval(() => { if (process.ppid !== supervisorPid) stop(); }, 1000).unref();
