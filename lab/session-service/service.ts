// A Kask-compatible session service for tests and the demo (not product code):
// GET/POST/DELETE /sessions/v1/{key} with Kask's status codes and problem bodies,
// a static /healthz, /metrics, storage in <keyspace>.values at LOCAL_QUORUM through
// cassandra-driver. Two switchable faults reproduce the incidents:
//   --fault stale-pool         a node that goes down is never used or connected to
//                              again (2022-09-15), until the process restarts;
//   --fault false-unavailable  once a node has gone down and come back, every storage
//                              call fails with "Cannot achieve consistency level
//                              LOCAL_QUORUM" (2023-01-24), until the process restarts;
//   --fault always-unavailable the same from the start: a fault no restart cures.
import cassandra from 'cassandra-driver';
import http from 'node:http';
import { parseArgs } from 'node:util';
import { Counter, Registry } from 'prom-client';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '8081' },
    'contact-points': { type: 'string', default: '127.0.0.1,127.0.0.2,127.0.0.3' },
    dc: { type: 'string', default: 'dc1' },
    keyspace: { type: 'string', default: 'sessions' },
    username: { type: 'string' },
    password: { type: 'string' },
    ttl: { type: 'string', default: '86400' },
    fault: { type: 'string' },
  },
});

const log = (level: string, msg: string, fields: Record<string, unknown> = {}): void => {
  console.log(JSON.stringify({ msg, appname: 'sessionstore', time: new Date().toISOString(), level, ...fields }));
};

/** Fault (i): the policy ignores, for good, every host it has seen go down; the driver then drops its pool. */
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
const client = new cassandra.Client({
  contactPoints: args['contact-points'].split(','),
  localDataCenter: args.dc,
  keyspace: args.keyspace,
  ...(args.username ? { authProvider: new cassandra.auth.PlainTextAuthProvider(args.username, args.password ?? '') } : {}),
  ...(forgetful ? { policies: { loadBalancing: forgetful } } : {}),
});

let unavailableSince: string | null = args.fault === 'always-unavailable' ? new Date().toISOString() : null;
const hostsSeenDown = new Set<string>();
const sawDown = (host: cassandra.Host): void => {
  if (hostsSeenDown.has(host.address)) return;
  hostsSeenDown.add(host.address);
  if (forgetful) {
    forgetful.forgotten.add(host.address);
    log('WARNING', `Host ${host.address} is down; it will not be used again`);
  }
};
const sawUp = (host: cassandra.Host): void => {
  if (args.fault === 'false-unavailable' && hostsSeenDown.has(host.address) && unavailableSince === null) {
    unavailableSince = new Date().toISOString();
    log('WARNING', `Host ${host.address} is back up`);
  }
};
// Driver events can be missed or late; the host states are polled as well, once
// the first connections have settled (a host is briefly "down" while the pool starts).
client.on('hostDown', sawDown);
client.on('hostUp', sawUp);
setTimeout(() => {
  setInterval(() => {
    for (const host of client.hosts.values()) {
      if (!host.isUp()) sawDown(host);
      else if (hostsSeenDown.has(host.address)) sawUp(host);
    }
  }, 250).unref();
}, 3000).unref();

const registry = new Registry();
const requests = new Counter({ name: 'kask_requests_total', help: 'Requests by method and code.', labelNames: ['method', 'code'], registers: [registry] });

const problem = (res: http.ServerResponse, status: number, name: string, title: string, detail: string, instance: string): void => {
  const body = JSON.stringify({ type: `https://www.mediawiki.org/wiki/Kask/errors/${name}`, title, detail, instance });
  res.writeHead(status, { 'content-type': 'application/problem+json' });
  res.end(body);
};

async function storage<T>(what: string, requestId: string, work: () => Promise<T>): Promise<T> {
  if (unavailableSince !== null) {
    log('ERROR', `Error ${what} storage (Cannot achieve consistency level LOCAL_QUORUM)`, { request_id: requestId });
    throw new Error('Cannot achieve consistency level LOCAL_QUORUM');
  }
  try {
    return await work();
  } catch (error) {
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

async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = req.url ?? '/';
  const requestId = String(req.headers['x-request-id'] ?? '');
  if (url === '/healthz') {
    res.end('ok'); // static, as Kask's is: that is the point
    return;
  }
  if (url === '/metrics') {
    res.writeHead(200, { 'content-type': registry.contentType });
    res.end(await registry.metrics());
    return;
  }
  const match = /^\/sessions\/v1\/([^/?]+)$/.exec(url);
  if (!match?.[1]) {
    problem(res, 404, 'not_found', 'Not found', 'no such resource', url);
    return;
  }
  const key = decodeURIComponent(match[1]);
  try {
    if (req.method === 'GET') {
      const row = (await storage('reading from', requestId, () => client.execute('SELECT value FROM values WHERE key = ?', [key], localQuorum))).first() as cassandra.types.Row | null;
      if (!row) {
        problem(res, 404, 'not_found', 'Not found', 'the value you requested was not found', url);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end(row.get('value') as Buffer);
    } else if (req.method === 'POST') {
      const value = await readBody(req);
      await storage('writing to', requestId, () => client.execute(`INSERT INTO values (key, value) VALUES (?, ?) USING TTL ${Number(args.ttl)}`, [key, value], localQuorum));
      res.writeHead(201);
      res.end();
    } else if (req.method === 'DELETE') {
      await storage('deleting from', requestId, () => client.execute('DELETE FROM values WHERE key = ?', [key], localQuorum));
      res.writeHead(204);
      res.end();
    } else {
      problem(res, 405, 'method_not_allowed', 'Method not allowed', `${req.method ?? ''} is not supported`, url);
    }
  } catch {
    problem(res, 500, 'server_error', 'Internal server error', 'an error occurred storing or retrieving the value', url);
  }
}

const server = http.createServer((req, res) => {
  res.on('finish', () => { requests.inc({ method: req.method ?? '', code: res.statusCode }); });
  void handle(req, res);
});
await client.connect();
server.listen(Number(args.port), '127.0.0.1', () => { log('INFO', `listening on ${args.port}`, { fault: args.fault ?? 'none' }); });
const stop = (): void => {
  server.close();
  void client.shutdown().then(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
// A test service whose supervisor died (a killed test) goes too, rather than linger on its port.
const supervisorPid = process.ppid;
setInterval(() => { if (process.ppid !== supervisorPid) stop(); }, 1000).unref();
