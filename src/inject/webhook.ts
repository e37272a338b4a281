// sessionstore-sidecar webhook --config FILE: the injection as a mutating admission
// webhook (AdmissionReview v1 over TLS, answered with a JSONPatch), for pods annotated
// `sessionstore-sidecar/inject: "true"`. When injection fails the pod is admitted
// unchanged, with a warning, unless `fail_closed` is set: a webhook must not stop a
// deployment because of itself. Its certificate is reloaded when the Secret rotates.
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import fastJsonPatch from 'fast-json-patch';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { formatIssues } from '../config/load.ts';
import { createLogger, type Logger } from '../telemetry/logger.ts';
import { readCertificate, reloadOnChange } from '../tls/certificate.ts';
import { defaultInjectOptions, inject, injectAnnotation, type InjectOptions } from './inject.ts';

export const webhookConfigSchema = z.strictObject({
  listen: z.strictObject({ address: z.string().default('0.0.0.0'), port: z.number().int().min(0).max(65535).default(8443) }).prefault({}),
  tls: z.strictObject({ cert_file: z.string().min(1), key_file: z.string().min(1) }),
  /** Refuse pods whose injection fails, rather than admit them without the sidecar. */
  fail_closed: z.boolean().default(false),
  inject: z.strictObject({
    image: z.string().min(1).default(defaultInjectOptions.image),
    container: z.string().min(1).optional(),
    config_map: z.string().min(1).default(defaultInjectOptions.configMap),
    cassandra_secret: z.string().min(1).default(defaultInjectOptions.cassandraSecret),
    admin_token_secret: z.string().min(1).default(defaultInjectOptions.adminTokenSecret),
    proxy_port: z.number().int().min(1).max(65535).default(defaultInjectOptions.proxyPort),
    admin_port: z.number().int().min(1).max(65535).default(defaultInjectOptions.adminPort),
    /** The sidecar's own GID: never the service's (see InjectOptions.sidecarGroup). */
    sidecar_group: z.number().int().positive().default(defaultInjectOptions.sidecarGroup),
  }).prefault({}),
  logging: z.strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info') }).prefault({}),
});
export type WebhookConfig = z.infer<typeof webhookConfigSchema>;

interface AdmissionRequest {
  uid: string;
  kind?: { kind?: string };
  namespace?: string;
  object?: { metadata?: { name?: string; generateName?: string; annotations?: Record<string, string> } };
}

interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  patchType?: 'JSONPatch';
  patch?: string;
  warnings?: string[];
  status?: { code: number; message: string };
}

/** How an AdmissionReview is answered: a pure function of the request and the settings. */
export function review(request: AdmissionRequest, config: WebhookConfig): AdmissionResponse {
  const pod = request.object;
  if (request.kind?.kind !== 'Pod' || pod?.metadata?.annotations?.[injectAnnotation] !== 'true') return { uid: request.uid, allowed: true };
  const options: Partial<InjectOptions> = {
    image: config.inject.image, configMap: config.inject.config_map, cassandraSecret: config.inject.cassandra_secret,
    adminTokenSecret: config.inject.admin_token_secret, proxyPort: config.inject.proxy_port, adminPort: config.inject.admin_port,
    sidecarGroup: config.inject.sidecar_group,
    ...(config.inject.container === undefined ? {} : { serviceContainer: config.inject.container }),
  };
  try {
    const { objects, notes } = inject([{ ...pod, kind: 'Pod' }], options);
    const injected = objects[0] as Record<string, unknown>;
    const patch = fastJsonPatch.compare({ ...pod, kind: 'Pod' }, injected);
    return {
      uid: request.uid, allowed: true,
      ...(patch.length > 0 ? { patchType: 'JSONPatch' as const, patch: Buffer.from(JSON.stringify(patch)).toString('base64') } : {}),
      ...(notes.length > 0 ? { warnings: notes.map((note) => `sessionstore-sidecar: ${note}`) } : {}),
    };
  } catch (error) {
    const message = `sessionstore-sidecar injection failed: ${(error as Error).message}`;
    return config.fail_closed
      ? { uid: request.uid, allowed: false, status: { code: 400, message } }
      : { uid: request.uid, allowed: true, warnings: [`${message}; admitted without the sidecar`] };
  }
}

const maxBody = 4 * 1024 * 1024;

export interface WebhookServer {
  address(): AddressInfo;
  close(): Promise<void>;
}

export async function startWebhook(config: WebhookConfig, logger: Logger): Promise<WebhookServer> {
  const server = https.createServer(readCertificate(config.tls), (req, res) => {
    const answer = (status: number, body: unknown): void => {
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    if (req.method === 'GET' && req.url === '/healthz') {
      answer(200, { status: 'ok' });
      return;
    }
    if (req.method !== 'POST') {
      answer(405, { error: 'POST an AdmissionReview' });
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBody) req.destroy();
      else chunks.push(chunk);
    });
    req.on('end', () => {
      let body: { apiVersion?: string; request?: AdmissionRequest };
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof body;
        if (typeof body.request?.uid !== 'string') throw new Error('no request.uid');
      } catch (error) {
        answer(400, { error: `not an AdmissionReview: ${(error as Error).message}` });
        return;
      }
      const request = body.request;
      const response = review(request, config);
      const pod = `${request.namespace ?? ''}/${request.object?.metadata?.name ?? request.object?.metadata?.generateName ?? '?'}`;
      if (response.patch !== undefined) logger.info({ pod, uid: request.uid }, 'injected the sidecar');
      else if (response.warnings !== undefined || !response.allowed) logger.warn({ pod, uid: request.uid, allowed: response.allowed, warnings: response.warnings, status: response.status }, 'did not inject the sidecar');
      answer(200, { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response });
    });
  });
  const stopReloading = reloadOnChange(server, config.tls, logger);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.listen.port, config.listen.address, () => { server.off('error', reject); resolve(); });
  });
  logger.info({ port: (server.address() as AddressInfo).port }, 'injection webhook listening');
  return {
    address: () => server.address() as AddressInfo,
    close: () => new Promise((resolve) => {
      stopReloading();
      server.close(() => { resolve(); });
      server.closeAllConnections();
    }),
  };
}

export function loadWebhookConfig(file: string): WebhookConfig {
  const document = parseDocument(readFileSync(file, 'utf8'));
  if (document.errors.length > 0) throw new Error(document.errors.map((e) => `${file}: YAML: ${e.message}`).join('\n'));
  const result = webhookConfigSchema.safeParse(document.toJS() ?? {}, { reportInput: true });
  if (!result.success) throw new Error(formatIssues(file, result.error));
  return result.data;
}

export async function webhookCommand(configFile: string): Promise<number> {
  let config: WebhookConfig;
  try {
    config = loadWebhookConfig(configFile);
  } catch (error) {
    console.error(`invalid configuration:\n${(error as Error).message}`);
    return 2;
  }
  const logger = createLogger(config.logging.level);
  const server = await startWebhook(config, logger);
  await new Promise<void>((resolve) => {
    const stop = (): void => { void server.close().then(resolve); };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  logger.info('stopped');
  return 0;
}
