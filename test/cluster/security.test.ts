// TLS and password authentication against the real cluster: the cluster's throwaway
// CA (made by test/support when it created the cluster), a client certificate it
// signed, and roles this test makes and drops. Secrets never reach logs, /status or
// metrics.
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { consistencies } from '../../src/cluster/coordinator-client.ts';
import { clusterTls, localNode, queryNode } from '../../lab/cluster/cluster.ts';
import { startTestMonitor, waitFor } from '../support/monitor.ts';

const suffix = randomBytes(4).toString('hex');
const writer = { username: `sidecar_writer_${suffix}`, password: `pw-${randomBytes(12).toString('hex')}` };
const reader = { username: `sidecar_reader_${suffix}`, password: `pw-${randomBytes(12).toString('hex')}` };
const admin = async (statement: string): Promise<void> => {
  await queryNode(localNode(1), statement, [], consistencies.localQuorum, 10_000);
};

t.before(async () => {
  for (const role of [writer, reader]) await admin(`CREATE ROLE ${role.username} WITH LOGIN = true AND PASSWORD = '${role.password}'`);
  await admin(`GRANT SELECT ON KEYSPACE sessions TO ${writer.username}`);
  await admin(`GRANT MODIFY ON KEYSPACE sessions TO ${writer.username}`);
  await admin(`GRANT SELECT ON KEYSPACE sessions TO ${reader.username}`);
});
t.teardown(async () => {
  for (const role of [writer, reader]) await admin(`DROP ROLE IF EXISTS ${role.username}`);
});

const contact = { contact_points: ['127.0.0.1'], probe: { interval_ms: 1000, timeout_ms: 2000 } };
const tls = { ca_file: clusterTls.caFile, cert_file: clusterTls.clientCertFile, key_file: clusterTls.clientKeyFile };
const allGreen = (v: ReturnType<import('../../src/cluster/cluster-monitor.ts').ClusterMonitor['view']>): boolean =>
  v.nodes.length === 3 && v.nodes.every((n) => n.reachable && n.canCoordinateLocalQuorum === true);

void t.test('TLS with a client certificate and a role of our own: every node probed, no secret anywhere', async (t) => {
  const { monitor, registry, logLines } = await startTestMonitor(t, { ...contact, ...writer, tls: { ...tls, verify_hostname: false } });
  await waitFor(monitor, allGreen, 20_000);
  t.ok(allGreen(monitor.view()), 'all three nodes reachable over TLS with password authentication, canaries succeed');
  const everything = [JSON.stringify(logLines()), JSON.stringify(monitor.view()), await registry.metrics()].join('\n');
  t.notOk(everything.includes(writer.password), 'the password is in no log line, /status view or metric');
  t.notMatch(everything, /BEGIN (EC |RSA )?PRIVATE KEY/, 'nor is the client key');
});

void t.test('TLS without the client certificate is refused by the cluster', async (t) => {
  const { monitor } = await startTestMonitor(t, { ...contact, ...writer, tls: { ca_file: clusterTls.caFile, verify_hostname: false } });
  await waitFor(monitor, (v) => v.nodes.some((n) => n.lastError !== null), 10_000);
  const node = monitor.view().nodes[0];
  t.equal(node?.reachable, false, 'unreachable');
  t.match(node?.lastError?.message, /alert certificate required/, 'because the cluster requires a client certificate (TLS alert 116)');
});

void t.test('verify_hostname: on, a node whose certificate does not name its address is refused; off, it is accepted', async (t) => {
  const strict = await startTestMonitor(t, { ...contact, ...writer, tls: { ...tls, verify_hostname: true } });
  await waitFor(strict.monitor, (v) => v.nodes.length === 3 && v.nodes.filter((n) => n.reachable).length === 2 && v.nodes.some((n) => n.lastError !== null), 20_000);
  const refused = strict.monitor.view().nodes.find((n) => !n.reachable);
  t.equal(refused?.address, '127.0.0.3', 'node 3, whose certificate names a host, is refused');
  t.match(refused?.lastError?.message, /IP: 127\.0\.0\.3 is not in the cert's list|does not match certificate|altnames/i, "because the certificate does not name 127.0.0.3");
  t.same(strict.monitor.view().nodes.filter((n) => n.reachable).map((n) => n.address), ['127.0.0.1', '127.0.0.2'], 'nodes whose certificates name their address are accepted');
  const relaxed = await startTestMonitor(t, { ...contact, ...writer, tls: { ...tls, verify_hostname: false } });
  await waitFor(relaxed.monitor, allGreen, 20_000);
  t.ok(allGreen(relaxed.monitor.view()), 'off: all three accepted (the CA still verifies each certificate)');
});

void t.test('a wrong password: unreachable with the authentication error, and the password is not logged', async (t) => {
  const wrong = `wrong-${randomBytes(8).toString('hex')}`;
  const { monitor, logLines } = await startTestMonitor(t, { ...contact, username: writer.username, password: wrong });
  await waitFor(monitor, (v) => v.nodes.some((n) => n.lastError !== null), 10_000);
  t.match(monitor.view().nodes[0]?.lastError?.message, /Provided username .* and\/or password are incorrect/);
  t.notOk(JSON.stringify(logLines()).includes(wrong), 'the wrong password is not logged either');
});

void t.test('a read-only role: the write canary says Unauthorized; with canary_writes off, reads prove quorum', async (t) => {
  const writes = await startTestMonitor(t, { ...contact, ...reader });
  await waitFor(writes.monitor, (v) => v.nodes.length === 3 && v.nodes.every((n) => n.reachable && n.canaryError?.code === 'Unauthorized'), 20_000);
  t.notOk(writes.monitor.view().localQuorum.available, 'a canary that cannot write proves nothing');
  const reads = await startTestMonitor(t, { ...contact, ...reader, probe: { ...contact.probe, canary_writes: false } });
  await waitFor(reads.monitor, allGreen, 20_000);
  t.ok(reads.monitor.view().localQuorum.available, 'read canaries at LOCAL_QUORUM succeed');
});
