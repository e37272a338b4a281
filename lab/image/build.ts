// Builds the repository's Dockerfile, unchanged, with podman on the local base.
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ensureLocalBase } from './base.ts';
import { podman } from './podman.ts';

const run = promisify(execFile);
const root = join(import.meta.dirname, '../..');
const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;

/** The image's local name. */
export const imageName = `localhost/sessionstore-sidecar:${version}`;

export interface BuiltImage {
  name: string;
  base: string;
  /** Wall time of `podman build`, the base excluded. */
  buildSeconds: number;
  /** Uncompressed size, as podman reports it. */
  bytes: number;
}

/**
 * The build's RUN steps reach the npm registry through the machine's network (`--network
 * host`: podman adds no bridge and no firewall rule). Where this machine trusts a CA of
 * its own (a TLS-inspecting proxy: NODE_EXTRA_CA_CERTS, or npm's cafile), the build's npm
 * trusts the same file, mounted for the RUN steps only: a build-time volume is never part
 * of a layer.
 */
async function registryTrust(workDir: string): Promise<string[]> {
  const npmCafile = (await run('npm', ['config', 'get', 'cafile'])).stdout.trim();
  const cafile = process.env.NODE_EXTRA_CA_CERTS ?? (npmCafile === 'null' ? '' : npmCafile);
  if (cafile === '') return [];
  const npmrc = join(workDir, 'npmrc');
  writeFileSync(npmrc, 'cafile=/tmp/build-ca.crt\n');
  return ['--volume', `${cafile}:/tmp/build-ca.crt:ro`, '--volume', `${npmrc}:/usr/local/etc/npmrc:ro`];
}

/** Builds the base if podman lacks it, then the Dockerfile; `workDir` holds the base's files. */
export async function buildImage(workDir: string, log: (line: string) => void = () => undefined): Promise<BuiltImage> {
  const base = await ensureLocalBase(workDir, log);
  log(`building ${imageName} from the Dockerfile on ${base}`);
  const started = performance.now();
  await podman(['build', '--pull=never', '--network', 'host', ...await registryTrust(workDir),
    '--build-arg', `NODE_BASE=${base}`, '--tag', imageName, '--file', 'Dockerfile', '.'], root);
  const buildSeconds = (performance.now() - started) / 1000;
  const bytes = Number((await podman(['image', 'inspect', '--format', '{{.Size}}', imageName])).trim());
  return { name: imageName, base, buildSeconds, bytes };
}
