// npm run image: builds the image from the Dockerfile with podman, on the local base when
// the public one cannot be pulled, and writes its SBOM beside it.
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildImage } from './build.ts';
import { podman } from './podman.ts';

const root = join(import.meta.dirname, '../..');
const usage = `usage: npm run image -- [--sbom FILE]

Builds localhost/sessionstore-sidecar:VERSION from the Dockerfile with podman (as root),
on a base made from Debian trixie and the Node.js binary of the node devDependency
(built once, kept by podman; see docs/deployment.md), and prints its size and build time.

  --sbom FILE   where to write the image's CycloneDX SBOM (default dist/sbom.cdx.json);
                the image holds the same file at /app/sbom.cdx.json`;

const { values: args } = parseArgs({ options: { sbom: { type: 'string', default: join(root, 'dist/sbom.cdx.json') }, help: { type: 'boolean' } } });
if (args.help) {
  console.log(usage);
  process.exit(0);
}

const work = join(root, '.cache/image');
try {
  const image = await buildImage(work, (line) => { console.log(line); });
  const mounted = (await podman(['image', 'mount', image.name])).trim();
  try {
    mkdirSync(dirname(args.sbom), { recursive: true });
    copyFileSync(join(mounted, 'app/sbom.cdx.json'), args.sbom);
  } finally {
    await podman(['image', 'unmount', image.name]);
  }
  console.log(`${image.name}: ${(image.bytes / 1e6).toFixed(1)} MB, built in ${image.buildSeconds.toFixed(1)} s; SBOM in ${args.sbom}`);
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
} finally {
  rmSync(work, { recursive: true, force: true });
}
