// SECURITY.md's claims, on a real run: a sidecar with the production role (its
// name and password from files, as the mounted Secret gives them), the admin token, logging
// at debug with every request logged, through a restart it performs. Neither secret
// appears in its output, /status or /metrics; nothing of the admin port answers on the
// proxy port; and operator actions need the token. Then the same for the other restart
// actions, whose own settings may hold secrets: a marker in the URL's user info and
// query, or in the command's arguments, through a whole restart each.
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { localNode, queryNode } from '../../lab/cluster/cluster.ts';
import { sidecarRole, sidecarRoleName } from '../../lab/cluster/sidecar-schema.ts';
import { labService } from '../../lab/scenarios.ts';
import { startService, until } from '../../lab/session-service/harness.ts';
import { temporaryDirectory, type Cleanup } from '../../lab/cleanup.ts';
import { startSidecar } from '../../lab/sidecar-process.ts';
import { sessionTraffic } from '../../lab/traffic.ts';
import { consistencies } from '../../src/cluster/coordinator-client.ts';
import { startUpstream } from '../support/http.ts';

const password = `pw-${randomBytes(12).toString('hex')}`;
const token = `token-${randomBytes(16).toString('hex')}`;

t.before(async () => {
  for (const statement of sidecarRole(password)) await queryNode(localNode(1), statement, [], consistencies.localQuorum, 10_000);
});
t.teardown(() => queryNode(localNode(1), `DROP ROLE IF EXISTS ${sidecarRoleName}`, [], consistencies.localQuorum, 10_000));

/** A secret as a mounted Secret gives it: a file of its own. */
const secretFile = (owner: Cleanup, name: string, value: string): string => {
  const file = join(temporaryDirectory(owner, 'sidecar-secrets-'), name);
  writeFileSync(file, `${value}\n`, { mode: 0o400 });
  return file;
};

void t.test('no secret in the output, /status or /metrics; nothing admin on the proxy port; actions need the token', async (t) => {
  const service = await startService(t, labService);
  const sidecar = await startSidecar(t, service.url, service.pidFile, {
    cassandra: { username: undefined, password: undefined, username_file: secretFile(t, 'username', sidecarRoleName), password_file: secretFile(t, 'password', password) },
    admin: { token_file: secretFile(t, 'token', token) },
    logging: { level: 'debug', access_log: { enabled: true, sample_rate: 1 } },
  // The environment is never read for secrets: a wrong password there changes nothing.
  }, { env: { SIDECAR_CASSANDRA_PASSWORD: 'not-the-password' } });
  const traffic = sessionTraffic(t, sidecar.url, { perSecond: 20 });
  await until(async () => ((await sidecar.status()) as { cluster: { localQuorum: { available: boolean } } }).cluster.localQuorum.available, 20_000, 'the role works');

  // Through the proxy port, the admin paths are the service's (Kask has its own /metrics): forwarded, never answered by the sidecar.
  for (const [method, path] of [['GET', '/metrics'], ['GET', '/status'], ['GET', '/readyz'], ['POST', '/remediation/restart'], ['POST', '/remediation/pause']] as const) {
    const exchange = async (base: string): Promise<{ status: number; body: string }> => {
      const response = await request(`${base}${path}`, { method, headers: { authorization: `Bearer ${token}` } });
      return { status: response.statusCode, body: await response.body.text() };
    };
    const [direct, proxied] = [await exchange(service.url), await exchange(sidecar.url)];
    t.equal(proxied.status, direct.status, `${method} ${path} on the proxy port: the service's own answer (${direct.status})`);
    t.notMatch(proxied.body, /sessionstore_sidecar_|"cluster"|"remediation"/, 'with nothing of the sidecar\'s in it');
  }
  t.equal(service.supervisor.restarts(), 0, 'and no restart happened through the proxy port');

  // On the admin port: refused without the token, done with it.
  const restart = (headers: Record<string, string>): Promise<number> => request(`${sidecar.adminUrl}/remediation/restart`, { method: 'POST', headers }).then(async (r) => { await r.body.dump(); return r.statusCode; });
  t.equal(await restart({}), 401, 'no token: 401');
  t.equal(await restart({ authorization: 'Bearer not-the-token-at-all-but-long' }), 401, 'a wrong token: 401');
  t.equal(service.supervisor.restarts(), 0, 'nothing happened');
  t.equal(await restart({ authorization: `Bearer ${token}` }), 200, 'the token: done');
  t.equal(service.supervisor.restarts(), 1, 'one graceful restart');
  await traffic.stop();

  const everything = [
    JSON.stringify(sidecar.logs), sidecar.stderr(),
    JSON.stringify(await sidecar.status()),
    await (await request(`${sidecar.adminUrl}/metrics`)).body.text(),
  ].join('\n');
  t.ok(sidecar.logs.length > 50, `${sidecar.logs.length} log lines, at level debug with every request logged`);
  t.ok(sidecar.logs.some((l) => l.path === '/remediation/{key}'), 'the access log saw the requests that carried the token');
  t.notOk(everything.includes(password), 'the Cassandra password is nowhere');
  t.notOk(everything.includes(token), 'the admin token is nowhere');
});

void t.test('the restart actions\' own secrets, through a whole restart: a marker in the URL\'s user info and query, or in the command\'s arguments, is nowhere', async (t) => {
  const marker = `marker-${randomBytes(12).toString('hex')}`;
  const service = await startService(t, labService);
  // A reload endpoint, as an operator could put in front of the service: it stops the service's process, which the kubelet (here its supervisor) starts again.
  const reload = await startUpstream(t, (req, res) => {
    process.kill(Number(readFileSync(service.pidFile, 'utf8')), 'SIGTERM');
    res.writeHead(200);
    res.end();
  });
  const actions = {
    http: { action: 'http', http_url: `${reload.url.replace('//', `//kask:${marker}@`)}/reload?token=${marker}` },
    command: { action: 'command', command: ['sh', '-c', `kill -TERM "$(cat ${service.pidFile})"`, marker] },
  };
  for (const [name, remediation] of Object.entries(actions)) {
    const before = service.supervisor.restarts();
    const sidecar = await startSidecar(t, service.url, service.pidFile, {
      cassandra: { username: undefined, password: undefined, username_file: secretFile(t, 'username', sidecarRoleName), password_file: secretFile(t, 'password', password) },
      admin: { token_file: secretFile(t, 'token', token) },
      remediation,
      logging: { level: 'debug', access_log: { enabled: true, sample_rate: 1 } },
    });
    await until(async () => ((await sidecar.status()) as { cluster: { localQuorum: { available: boolean } } }).cluster.localQuorum.available, 20_000, 'the role works');
    const answer = await request(`${sidecar.adminUrl}/remediation/restart`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    t.equal(answer.statusCode, 200, `${name}: restarted`, { body: await answer.body.text() });
    t.equal(service.supervisor.restarts(), before + 1, `${name}: the service was restarted once, by the action`);
    const everything = [JSON.stringify(sidecar.logs), sidecar.stderr(), JSON.stringify(await sidecar.status()), await (await request(`${sidecar.adminUrl}/metrics`)).body.text()].join('\n');
    t.match(JSON.stringify((await sidecar.status() as { remediation: { history: unknown[] } }).remediation.history), name === 'http' ? /POST http:\/\/\*\*\*@127\.0\.0\.1:\d+\/reload\?token=\*\*\*: 200/ : /ran sh/, `${name}: the history says what ran`);
    for (const secret of [marker, password, token]) t.notOk(everything.includes(secret), `${name}: ${secret === marker ? 'the action\'s secret' : secret === password ? 'the password' : 'the token'} is nowhere`);
    await sidecar.stop();
  }
});
