// Command-line arguments: --config FILE, --check-config, --version, --help.
import { parseArgs } from 'node:util';

export const usage = `usage: sessionstore-sidecar --config FILE [--check-config]
  --config FILE    the YAML configuration (see docs/configuration.md)
  --check-config   validate the configuration, print the result, and exit
  --version        print the version and exit
  --help           this text

Environment: SIDECAR_CASSANDRA_USERNAME, SIDECAR_CASSANDRA_PASSWORD override the file's credentials.`;

export type Command = { kind: 'help' } | { kind: 'version' } | { kind: 'run' | 'check'; configFile: string };

export function parseCommandLine(args: string[]): Command {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string' },
      'check-config': { type: 'boolean' },
      version: { type: 'boolean' },
      help: { type: 'boolean' },
    },
    strict: true,
  });
  if (values.help) return { kind: 'help' };
  if (values.version) return { kind: 'version' };
  if (values.config === undefined) throw new Error('--config FILE is required');
  return { kind: values['check-config'] ? 'check' : 'run', configFile: values.config };
}
