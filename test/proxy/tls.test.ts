// https on the proxy port, and a certificate rotated on disk is served without a restart.
import { once } from 'node:events';
import { copyFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import tls from 'node:tls';
import t from 'tap';
import { Agent, request } from 'undici';
import { createCertificateAuthority } from '../../lab/certs.ts';
import { temporaryDirectory } from '../../lab/cleanup.ts';
import { startTestProxy, startUpstream } from '../support/http.ts';

async function servedSerial(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ port, host: '127.0.0.1', ca, servername: undefined }, () => {
      resolve(socket.getPeerCertificate().serialNumber);
      socket.end();
    });
    socket.on('error', reject);
  });
}

void t.test('https listener with certificate reload', async (t) => {
  const ca = createCertificateAuthority(temporaryDirectory(t, 'sidecar-ca-'));
  const first = ca.issue('proxy-1', { ipAddresses: ['127.0.0.1'] });
  const second = ca.issue('proxy-2', { ipAddresses: ['127.0.0.1'] });
  const certFile = join(ca.dir, 'live.crt');
  const keyFile = join(ca.dir, 'live.key');
  copyFileSync(first.certFile, certFile);
  copyFileSync(first.keyFile, keyFile);

  const upstream = await startUpstream(t, (req, res) => res.end(String(req.headers['x-forwarded-proto'])));
  const { port } = await startTestProxy(t, upstream.url, { listen: { tls: { cert_file: certFile, key_file: keyFile } } });
  const agent = new Agent({ connect: { ca: ca.cert } });
  t.teardown(() => agent.close());

  const response = await request(`https://127.0.0.1:${port}/sessions/v1/k`, { dispatcher: agent });
  t.equal(await response.body.text(), 'https', 'forwarded, with X-Forwarded-Proto https');
  const before = await servedSerial(port, ca.cert);

  copyFileSync(second.keyFile, keyFile);
  copyFileSync(second.certFile, certFile);
  let after = before;
  for (let i = 0; i < 40 && after === before; i++) {
    await sleep(100);
    after = await servedSerial(port, ca.cert);
  }
  t.not(after, before, 'the rotated certificate is served without a restart');
});

void t.test('an https upstream, verified with the configured CA', async (t) => {
  const ca = createCertificateAuthority(temporaryDirectory(t, 'sidecar-ca-'));
  const upstreamCert = ca.issue('upstream', { ipAddresses: ['127.0.0.1'] });
  const server = https.createServer({ cert: upstreamCert.cert, key: upstreamCert.key }, (req, res) => res.end(`secure ${req.url}`));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => { server.close(); server.closeAllConnections(); });
  const upstreamUrl = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const verified = await startTestProxy(t, upstreamUrl, { upstream: { ca_file: ca.certFile } });
  const response = await request(`${verified.url}/sessions/v1/k`);
  t.equal(await response.body.text(), 'secure /sessions/v1/k', 'forwarded over TLS');

  const unverified = await startTestProxy(t, upstreamUrl);
  const refused = await request(`${unverified.url}/sessions/v1/k`);
  await refused.body.text();
  t.equal(refused.statusCode, 502, 'without the CA the upstream is not trusted: 502');
});
