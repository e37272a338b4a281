// The injection webhook over real TLS: AdmissionReview v1 in, JSONPatch out; the patch
// applied to the pod gives a valid pod with the sidecar. It fails open (or closed when
// told), refuses what is not an AdmissionReview, and serves a rotated certificate
// without a restart.
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import fastJsonPatch, { type Operation } from 'fast-json-patch';
import t, { type Test } from 'tap';
import { Agent, request } from 'undici';
import { createCertificateAuthority } from '../../lab/certs.ts';
import { temporaryDirectory } from '../../lab/cleanup.ts';
import { sidecarName } from '../../src/inject/inject.ts';
import { startWebhook, webhookConfigSchema } from '../../src/inject/webhook.ts';
import { testLogger } from '../support/http.ts';
import { validateObject } from '../support/kubernetes.ts';

const pod = (annotations: Record<string, string>, spec: Record<string, unknown> = {}): Record<string, unknown> => ({
  apiVersion: 'v1', kind: 'Pod',
  metadata: { generateName: 'kask-production-', namespace: 'sessionstore', labels: { app: 'kask' }, annotations },
  spec: { securityContext: { runAsUser: 65533 }, containers: [{ name: 'kask', image: 'kask:1', command: ['./kask'], ports: [{ containerPort: 8080 }] }], ...spec },
});

async function setUp(t: Test, failClosed = false) {
  const ca = createCertificateAuthority(temporaryDirectory(t, 'webhook-ca-'));
  const first = ca.issue('webhook-1', { ipAddresses: ['127.0.0.1'] });
  const [certFile, keyFile] = [join(ca.dir, 'live.crt'), join(ca.dir, 'live.key')];
  copyFileSync(first.certFile, certFile);
  copyFileSync(first.keyFile, keyFile);
  const config = webhookConfigSchema.parse({ listen: { address: '127.0.0.1', port: 0 }, tls: { cert_file: certFile, key_file: keyFile }, fail_closed: failClosed });
  const webhook = await startWebhook(config, testLogger().logger);
  t.teardown(() => webhook.close());
  const agent = new Agent({ connect: { ca: ca.cert } });
  t.teardown(() => agent.close());
  const url = `https://127.0.0.1:${webhook.address().port}/mutate`;
  const admit = async (object: unknown): Promise<{ allowed: boolean; uid: string; patchType?: string; patch?: string; warnings?: string[]; status?: { message: string } }> => {
    const response = await request(url, { method: 'POST', dispatcher: agent, body: JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u-1', kind: { group: '', version: 'v1', kind: 'Pod' }, namespace: 'sessionstore', operation: 'CREATE', object } }) });
    const body = (await response.body.json()) as { apiVersion: string; kind: string; response: { allowed: boolean; uid: string } };
    t.match(body, { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'u-1' } }, 'an AdmissionReview answer for the request');
    return body.response;
  };
  return { ca, certFile, keyFile, agent, url, admit, port: webhook.address().port };
}

void t.test('an annotated pod gets the sidecar as a JSONPatch; applied, it is a valid pod', async (t) => {
  const { admit } = await setUp(t);
  const original = pod({ 'sessionstore-sidecar/inject': 'true' });
  const answer = await admit(original);
  t.match(answer, { allowed: true, patchType: 'JSONPatch' });
  const patch = JSON.parse(Buffer.from(answer.patch ?? '', 'base64').toString()) as Operation[];
  const patched = fastJsonPatch.applyPatch(structuredClone(original), patch).newDocument as { spec: { initContainers: { name: string }[]; shareProcessNamespace: boolean } };
  validateObject(patched);
  t.equal(patched.spec.initContainers[0]?.name, sidecarName, 'the sidecar is in');
  t.equal(patched.spec.shareProcessNamespace, true);
  t.match(answer.warnings, [/no Service among the input selects this pod/], 'what the webhook cannot do is said as warnings');
  t.same(await admit(patched), { uid: 'u-1', allowed: true }, 'an injected pod again: allowed, nothing to patch');
  t.same(await admit(pod({})), { uid: 'u-1', allowed: true }, 'a pod without the annotation: allowed untouched');
});

void t.test('injection that fails: admitted without the sidecar and a warning; or refused, when fail_closed', async (t) => {
  const hostNetwork = pod({ 'sessionstore-sidecar/inject': 'true' }, { hostNetwork: true });
  const open = await setUp(t);
  const opened = await open.admit(hostNetwork);
  t.match(opened, { allowed: true, warnings: [/injection failed: .*hostNetwork pods share the node's network.*; admitted without the sidecar/] });
  t.equal(opened.patch, undefined, 'and no patch');
  const closed = await setUp(t, true);
  t.match(await closed.admit(hostNetwork), { allowed: false, status: { message: /injection failed: .*hostNetwork/ } });
});

void t.test('what is not an AdmissionReview: 400, with why', async (t) => {
  const { url, agent } = await setUp(t);
  for (const body of ['not json', '{"apiVersion":"admission.k8s.io/v1","request":{}}']) {
    const response = await request(url, { method: 'POST', dispatcher: agent, body });
    t.equal(response.statusCode, 400);
    t.match(await response.body.json(), { error: /not an AdmissionReview/ });
  }
});

void t.test('a rotated certificate is served without a restart', async (t) => {
  const { ca, certFile, keyFile, port } = await setUp(t);
  const serial = (): Promise<string> => new Promise((resolve, reject) => {
    const socket = tls.connect({ port, host: '127.0.0.1', ca: ca.cert }, () => { resolve(socket.getPeerCertificate().serialNumber); socket.end(); });
    socket.on('error', reject);
  });
  const before = await serial();
  const second = ca.issue('webhook-2', { ipAddresses: ['127.0.0.1'] });
  copyFileSync(second.keyFile, keyFile);
  copyFileSync(second.certFile, certFile);
  let after = before;
  for (let i = 0; i < 40 && after === before; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    after = await serial();
  }
  t.not(after, before, `rotated: serial ${before} -> ${after}`);
});
