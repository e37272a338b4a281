// The image's base, made here: production pulls node:24.21.0-trixie-slim from a registry,
// and the lab cannot reach one. This is the same shape from the same parts: Debian trixie
// at minbase, slimmed the way Debian's -slim images are, with the Node.js binary the
// `node` devDependency installs (the same release) in /usr/local/bin and npm beside it.
// It is named as what it is, and the Dockerfile takes it through NODE_BASE.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { imageExists, podman } from './podman.ts';

const run = promisify(execFile);
const nodePackage = dirname(createRequire(import.meta.url).resolve('node/package.json'));

/** The Node.js release the base carries: the `node` devDependency's, which is the pinned base's. */
export const nodeVersion = (JSON.parse(readFileSync(join(nodePackage, 'package.json'), 'utf8')) as { version: string }).version;
/** npm in the base: the official images carry the npm of their Node release line; this pins one of that line. */
const npmVersion = '11.21.3';
const suite = 'trixie';
const mirror = 'http://deb.debian.org/debian';

/** This recipe's fingerprint: a base podman keeps from an older recipe is not taken for this one's. */
const recipe = createHash('sha256').update(readFileSync(import.meta.filename)).digest('hex').slice(0, 8);
/** The local base's name: localhost, never the public tag it stands in for. */
export const localBase = `localhost/sessionstore-sidecar-base:node-${nodeVersion}-npm-${npmVersion}-${suite}-slim-${recipe}`;

// What Debian's -slim images leave out (debuerreotype's --slimify): documentation but
// the copyright files, manual pages, info pages and translations.
const slimify = [
  'path-exclude=/usr/share/doc/*', 'path-include=/usr/share/doc/*/copyright', 'path-exclude=/usr/share/man/*',
  'path-exclude=/usr/share/groff/*', 'path-exclude=/usr/share/info/*', 'path-exclude=/usr/share/lintian/*',
  'path-exclude=/usr/share/linda/*', 'path-exclude=/usr/share/locale/*',
];

/** Builds the local base unless podman already holds it; returns its name. `workDir` takes the root filesystem's tarball. */
export async function ensureLocalBase(workDir: string, log: (line: string) => void = () => undefined): Promise<string> {
  if (await imageExists(localBase)) return localBase;
  log(`building ${localBase}: Debian ${suite} (minbase, slim), Node.js ${nodeVersion}, npm ${npmVersion}`);
  mkdirSync(workDir, { recursive: true });
  const npmTarball = join(workDir, (await run('npm', ['pack', `npm@${npmVersion}`, '--pack-destination', workDir, '--silent'], { cwd: workDir })).stdout.trim());
  const rootfs = join(workDir, 'rootfs.tar');
  await run('mmdebstrap', [
    '--quiet', '--variant=minbase', '--format=tar', ...slimify.map((option) => `--dpkgopt=${option}`),
    '--customize-hook=mkdir -p "$1/usr/local/bin" "$1/usr/local/lib/node_modules/npm"',
    `--customize-hook=copy-in ${join(nodePackage, 'bin/node')} /usr/local/bin`,
    `--customize-hook=tar -xzf ${npmTarball} --strip-components=1 --no-same-owner -C "$1/usr/local/lib/node_modules/npm"`,
    '--customize-hook=ln -s ../lib/node_modules/npm/bin/npm-cli.js "$1/usr/local/bin/npm"',
    '--customize-hook=ln -s ../lib/node_modules/npm/bin/npx-cli.js "$1/usr/local/bin/npx"',
    // The official images' own user, uid 1000; the sidecar's stage sets its own.
    '--customize-hook=chroot "$1" sh -c "groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node"',
    suite, rootfs, mirror,
  ], { maxBuffer: 64 * 1024 * 1024 });
  await podman(['import', '--quiet',
    '--change', 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    '--change', `ENV NODE_VERSION=${nodeVersion}`,
    '--change', 'CMD ["node"]',
    '--change', `LABEL org.opencontainers.image.description="Debian ${suite} minbase, slim, with Node.js ${nodeVersion} and npm ${npmVersion}: the lab's stand-in for node:${nodeVersion}-${suite}-slim"`,
    rootfs, localBase]);
  return localBase;
}
