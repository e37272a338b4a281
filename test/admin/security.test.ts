// SECURITY.md's claims, on a real run: a sidecar with the production role (its
// name and password from files, as the mounted Secret gives them), the admin token, logging
// at debug with every request logged, through a restart it performs. Neither secret
// appears in its output, /status or /metrics; nothing of the admin port answers on the
// proxy port; and operator actions need the token.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { localNode, queryNode } from '../../lab/cluster/cluster.ts';
import { sidecarRole, sidecarRoleName } from '../../lab/cluster/sidecar-schema.ts';
import { labService } from '../../lab/scenarios.ts';
import { startService, until } from '../../lab/session-service/harness.ts';
import { temporaryDirectory } from '../../lab/cleanup.ts';
import { startSidecar } from '../../lab/sidecar-process.ts';
import { sessionTraffic } from '../../lab/traffic.ts';
import { consistencies } from '../../src/cluster/coordinator-client.ts';

const password = `pw-${randomBytes(12).toString('hex')}`;
const token = `token-${randomBytes(16).toString('hex')}`;

t.before(async () => {
  for (const statement of sidecarRole(password)) await queryNode(localNode(1), statement, [], consistencies.localQuorum, 10_000);
});
t.teardown(() => queryNode(localNode(1), `DROP ROLE IF EXISTS ${sidecarRoleName}`, [], consistencies.localQuorum, 10_000));

void t.test('no secret in the output, /status or /metrics; nothing admin on the proxy port; actions need the token', async (t) => {
  const service = await startService(t, labService);
  const secrets = temporaryDirectory(t, 'sidecar-secrets-');
  const secretFile = (name: string, value: string): string => {
    writeFileSync(join(secrets, name), `${value}\n`, { mode: 0o400 });
    return join(secrets, name);
  };
  const sidecar = await startSidecar(t, service.url, service.pidFile, {
    cassandra: { username: undefined, password: undefined, username_file: secretFile('username', sidecarRoleName), password_file: secretFile('password', password) },
    admin: { token_file: secretFile('token', token) },
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
