// sessionstore-sidecar inject [options] [FILE…]: Kubernetes YAML in (the files, or
// stdin), the same objects out with the sidecar added; what the operator must still do
// goes to stderr as comments. Exit 0 done, 1 refused (with why), 2 unreadable input.
import { readFile } from 'node:fs/promises';
import { text } from 'node:stream/consumers';
import { parseAllDocuments, stringify } from 'yaml';
import { inject, InjectError, type InjectOptions } from './inject.ts';

function optionsFrom(flags: Record<string, string>): Partial<InjectOptions> {
  const integer = (name: string, what: string, max: number): number | undefined => {
    const value = flags[name];
    if (value === undefined) return undefined;
    const number = Number(value);
    if (!Number.isInteger(number) || number < 1 || number > max) throw new InjectError(`--${name}: expected ${what}, got ${JSON.stringify(value)}`);
    return number;
  };
  const port = (name: string): number | undefined => integer(name, 'a port number', 65535);
  const options: Partial<InjectOptions> = {};
  if (flags.container !== undefined) options.serviceContainer = flags.container;
  if (flags.image !== undefined) options.image = flags.image;
  if (flags['config-map'] !== undefined) options.configMap = flags['config-map'];
  if (flags['cassandra-secret'] !== undefined) options.cassandraSecret = flags['cassandra-secret'];
  if (flags['admin-token-secret'] !== undefined) options.adminTokenSecret = flags['admin-token-secret'];
  const proxyPort = port('proxy-port');
  const adminPort = port('admin-port');
  if (proxyPort !== undefined) options.proxyPort = proxyPort;
  if (adminPort !== undefined) options.adminPort = adminPort;
  const sidecarGroup = integer('sidecar-group', 'a GID above 0', 2 ** 31 - 1);
  if (sidecarGroup !== undefined) options.sidecarGroup = sidecarGroup;
  return options;
}

/** Parses a stream of YAML documents; the empty ones (a trailing ---) are dropped. */
export function parseManifests(source: string, name: string): unknown[] {
  const documents = parseAllDocuments(source);
  const errors = documents.flatMap((d) => d.errors);
  if (errors.length > 0) throw new Error(`${name}: ${errors.map((e) => e.message).join('; ')}`);
  return documents.map((d) => d.toJS() as unknown).filter((object) => object !== null);
}

export const printManifests = (objects: readonly unknown[]): string => objects.map((object) => stringify(object, { lineWidth: 0 })).join('---\n');

export async function injectCommand(files: string[], flags: Record<string, string>): Promise<number> {
  let objects: unknown[];
  try {
    const sources = files.length === 0 ? [['stdin', await text(process.stdin)]] : await Promise.all(files.map(async (file) => [file, await readFile(file, 'utf8')]));
    objects = sources.flatMap(([name = '', source = '']) => parseManifests(source, name));
  } catch (error) {
    console.error(`cannot read the manifests: ${(error as Error).message}`);
    return 2;
  }
  try {
    const result = inject(objects, optionsFrom(flags));
    process.stdout.write(printManifests(result.objects));
    for (const note of result.notes) console.error(`# ${note}`);
    return 0;
  } catch (error) {
    if (!(error instanceof InjectError)) throw error;
    console.error(`inject refused: ${error.message}`);
    return 1;
  }
}
