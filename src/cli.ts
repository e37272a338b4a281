#!/usr/bin/env node
// sessionstore-sidecar: one command for the pod and for operators.
//   sessionstore-sidecar --config FILE [--check-config]   the sidecar (the image's entrypoint)
//   sessionstore-sidecar inject [FILE…]                    add the sidecar to Kubernetes manifests
//   sessionstore-sidecar webhook --config FILE             the same, as a mutating admission webhook
// Each command loads only its own code: the sidecar never loads the injection's.
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from './config/load.ts';
import { version } from './version.ts';

export const usage = `usage: sessionstore-sidecar --config FILE [--config-fallback JSON] [--check-config]
       sessionstore-sidecar inject [options] [FILE…]
       sessionstore-sidecar webhook --config FILE

  --config FILE    the sidecar's YAML configuration (see docs/configuration.md)
  --config-fallback JSON  listen, admin and upstream settings for when FILE does not
                   exist (its ConfigMap not created yet): the sidecar then only proxies
  --check-config   validate the configuration, print the result, and exit
  --version        print the version and exit
  --help           this text

inject reads Kubernetes YAML (Deployments, StatefulSets, Pods, Lists; several
documents) from the files, or stdin, and writes it back with the sidecar added:
  --container NAME        the session service's container (default: the one running kask)
  --image IMAGE           the sidecar's image
  --config-map NAME       the sidecar's configuration ConfigMap
  --cassandra-secret NAME the Secret with Cassandra's username and password
  --admin-token-secret NAME  the Secret with the admin token
  --proxy-port N, --admin-port N  preferred ports (others are taken when these collide)
  --sidecar-group GID     the sidecar's own GID (default 65532): not the service's

webhook serves the same injection as a mutating admission webhook (docs/deployment.md).

Secrets come from files the configuration names (cassandra.username_file,
cassandra.password_file, admin.token_file), never from the environment.`;

export type Command =
  | { kind: 'help' }
  | { kind: 'version' }
  | { kind: 'run' | 'check'; configFile: string; fallback?: string }
  | { kind: 'inject'; files: string[]; options: Record<string, string> }
  | { kind: 'webhook'; configFile: string };

const injectOptions = ['container', 'image', 'config-map', 'cassandra-secret', 'admin-token-secret', 'proxy-port', 'admin-port', 'sidecar-group'] as const;

export function parseCommandLine(args: string[]): Command {
  const [first, ...rest] = args;
  if (first === 'inject') {
    const { values, positionals } = parseArgs({ args: rest, options: Object.fromEntries(injectOptions.map((o) => [o, { type: 'string' }])), allowPositionals: true, strict: true });
    return { kind: 'inject', files: positionals, options: values as Record<string, string> };
  }
  const { values } = parseArgs({
    args: first === 'webhook' ? rest : args,
    options: {
      config: { type: 'string' },
      'config-fallback': { type: 'string' },
      'check-config': { type: 'boolean' },
      version: { type: 'boolean' },
      help: { type: 'boolean' },
    },
    strict: true,
  });
  if (values.help) return { kind: 'help' };
  if (values.version) return { kind: 'version' };
  if (values.config === undefined) throw new Error('--config FILE is required');
  if (first === 'webhook') return { kind: 'webhook', configFile: values.config };
  return { kind: values['check-config'] ? 'check' : 'run', configFile: values.config, ...(values['config-fallback'] === undefined ? {} : { fallback: values['config-fallback'] }) };
}

async function main(args: string[]): Promise<void> {
  let command: Command;
  try {
    command = parseCommandLine(args);
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${usage}`);
    process.exitCode = 2;
    return;
  }
  switch (command.kind) {
    case 'help':
      console.log(usage);
      return;
    case 'version':
      console.log(version);
      return;
    case 'inject': {
      const { injectCommand } = await import('./inject/command.ts');
      process.exitCode = await injectCommand(command.files, command.options);
      return;
    }
    case 'webhook': {
      const { webhookCommand } = await import('./inject/webhook.ts');
      process.exitCode = await webhookCommand(command.configFile);
      return;
    }
    case 'run':
    case 'check': {
      let config;
      try {
        config = loadConfig(command.configFile, command.fallback);
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        console.error(`invalid configuration:\n${error.message}`);
        process.exitCode = 2;
        return;
      }
      if (command.kind === 'check') {
        console.log(config.lacking.some((l) => l.setting === 'config')
          ? `${command.configFile}: does not exist; the fallback is valid, and with it the sidecar only proxies`
          : `${command.configFile}: configuration is valid`);
        return;
      }
      const { runSidecar } = await import('./main.ts');
      await runSidecar(config);
    }
  }
}

await main(process.argv.slice(2));
