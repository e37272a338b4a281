import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ConfigError, loadConfig, parseConfig } from '../../src/config/load.ts';
import { temporaryDirectory } from '../../lab/cleanup.ts';

const dir = temporaryDirectory(t, 'sidecar-config-');
const file = (name: string, text: string): string => {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};

void t.test('defaults for everything but the contact points', (t) => {
  const config = parseConfig({ cassandra: { contact_points: ['10.0.0.1'] } });
  t.equal(config.upstream.url, 'http://127.0.0.1:8080', "Kask's port");
  t.equal(config.listen.port, 8089, "none of Kask's or Envoy's");
  t.equal(config.admin.port, 9364, "not Envoy's telemetry port 9361");
  t.equal(config.cassandra.local_data_center, 'dc1');
  t.equal(config.cassandra.probe.interval_ms, 2000);
  t.equal(config.logging.access_log.enabled, false);
  t.throws(() => parseConfig({}), ConfigError);
  t.end();
});

void t.test('secrets come from their files, never from the environment; a missing one is lacking, not fatal', (t) => {
  const inline = loadConfig(file('inline.yaml', 'cassandra:\n  contact_points: [a]\n  username: from-yaml\n  password: from-yaml\n'));
  t.same([inline.cassandra.username, inline.cassandra.password, inline.lacking], ['from-yaml', 'from-yaml', []]);
  process.env.SIDECAR_CASSANDRA_PASSWORD = 'from-the-environment';
  t.teardown(() => { delete process.env.SIDECAR_CASSANDRA_PASSWORD; });
  const user = file('username', 'sidecar-role\n');
  const secret = file('password', 'from-secret-file\n');
  const fromFile = loadConfig(file('pf.yaml', `cassandra:\n  contact_points: [a]\n  username_file: ${user}\n  password_file: ${secret}\n`));
  t.equal(fromFile.cassandra.username, 'sidecar-role', 'username_file is read and trimmed');
  t.equal(fromFile.cassandra.password, 'from-secret-file', 'password_file is read and trimmed; the environment is ignored');
  const missing = loadConfig(file('pf2.yaml', 'cassandra:\n  contact_points: [a]\n  password_file: /nonexistent/password\nadmin:\n  token_file: /nonexistent/token\n'));
  t.equal(missing.cassandra.password, undefined);
  t.same(missing.lacking, [
    { setting: 'cassandra.password_file', file: '/nonexistent/password', why: 'ENOENT' },
    { setting: 'admin.token_file', file: '/nonexistent/token', why: 'ENOENT' },
  ], 'a Secret not mounted yet: the sidecar starts without it and knows what it lacks');
  t.end();
});

void t.test('a missing configuration file with a fallback: a plain proxy that lacks its configuration; anything else is an error', (t) => {
  const fallback = JSON.stringify({ listen: { port: 18089 }, admin: { port: 19364 }, upstream: { url: 'http://127.0.0.1:18080' } });
  const proxyOnly = loadConfig('/nonexistent/config.yaml', fallback);
  t.same([proxyOnly.listen.port, proxyOnly.admin.port, proxyOnly.upstream.url], [18089, 19364, 'http://127.0.0.1:18080'], "the fallback's ports and service");
  t.same([proxyOnly.retries.enabled, proxyOnly.remediation.enabled], [false, false], 'no retries, no restarts: both need a view of Cassandra');
  t.same(proxyOnly.lacking, [{ setting: 'config', file: '/nonexistent/config.yaml', why: 'ENOENT' }], 'it says what it lacks');
  const present = loadConfig(file('present.yaml', 'cassandra:\n  contact_points: [a]\n'), fallback);
  t.same([present.listen.port, present.lacking], [8089, []], 'a file that exists wins; the fallback is not read');
  t.throws(() => loadConfig('/nonexistent/config.yaml'), /cannot read the configuration file: ENOENT/, 'without a fallback a missing file is an error, as before');
  t.throws(() => loadConfig('/nonexistent/config.yaml', '{listen'), /--config-fallback: not JSON/);
  t.throws(() => loadConfig('/nonexistent/config.yaml', '[1]'), /--config-fallback: expected a JSON object/);
  t.throws(() => loadConfig('/nonexistent/config.yaml', '{"remediation": {"enabled": true}}'), /--config-fallback: remediation: only listen, admin, upstream may be set here/, 'nothing that acts');
  t.throws(() => loadConfig('/nonexistent/config.yaml', '{"listen": {"port": "x"}}'), /--config-fallback: listen.port/, 'its settings are validated like the file\'s');
  t.end();
});

void t.test('structural errors name the key', (t) => {
  t.throws(() => loadConfig(file('list.yaml', '- a\n- b\n')), /the top level must be a mapping/);
  t.throws(() => loadConfig(file('dup.yaml', 'cassandra:\n  contact_points: [a]\ncassandra:\n  port: 1\n')), /YAML: .*[Mm]ap keys must be unique/);
  t.throws(() => parseConfig({ cassandra: { contact_points: ['a'], probe: { interval_ms: -1 } } }), /cassandra\.probe\.interval_ms: Too small/);
  t.throws(() => parseConfig({ cassandra: { contact_points: ['a'] }, listen: { tls: { cert_file: 'x' } } }), /listen\.tls\.key_file/);
  t.end();
});
