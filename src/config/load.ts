// Reads the YAML file, applies environment overrides for secrets, validates. Every
// error names the file and the key, so the fix is obvious from the message alone.
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { configSchema, type Config } from './schema.ts';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Secrets may come from the environment (a Kubernetes Secret) instead of the file. */
const environmentOverrides: Record<string, (raw: Record<string, unknown>, value: string) => void> = {
  SIDECAR_CASSANDRA_USERNAME: (raw, value) => (section(raw, 'cassandra').username = value),
  SIDECAR_CASSANDRA_PASSWORD: (raw, value) => (section(raw, 'cassandra').password = value),
  SIDECAR_ADMIN_TOKEN: (raw, value) => (section(raw, 'admin').token = value),
};

function section(raw: Record<string, unknown>, key: string): Record<string, unknown> {
  const existing = raw[key];
  if (existing !== undefined && (typeof existing !== 'object' || existing === null || Array.isArray(existing))) return {};
  return (raw[key] ??= {}) as Record<string, unknown>;
}

export function formatIssues(source: string, error: z.ZodError): string {
  return error.issues
    .flatMap((issue) => {
      const at = issue.path.join('.');
      if (issue.code === 'unrecognized_keys') {
        return issue.keys.map((key) => `${source}: ${at ? `${at}.` : ''}${key}: unknown key`);
      }
      const missing = issue.code === 'invalid_type' && 'input' in issue && issue.input === undefined;
      return [`${source}: ${at || '(top level)'}: ${missing ? `required, expected ${issue.expected}` : issue.message}`];
    })
    .join('\n');
}

/** Validates an already-parsed object (tests and the file loader share this). */
export function parseConfig(raw: unknown, source = 'config'): Config {
  const result = configSchema.safeParse(raw, { reportInput: true });
  if (!result.success) throw new ConfigError(formatIssues(source, result.error));
  const config = result.data;
  const secretFrom = (key: string, file: string | undefined): string | undefined => {
    if (file === undefined) return undefined;
    try {
      return readFileSync(file, 'utf8').trim();
    } catch (error) {
      throw new ConfigError(`${source}: ${key}: cannot read ${file}: ${(error as Error).message}`);
    }
  };
  config.cassandra.password ??= secretFrom('cassandra.password_file', config.cassandra.password_file);
  config.admin.token ??= secretFrom('admin.token_file', config.admin.token_file);
  if (config.admin.token !== undefined && config.admin.token.length < 16) throw new ConfigError(`${source}: admin.token_file: the admin token must be at least 16 characters`);
  return config;
}

export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`${file}: cannot read the configuration file: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (document.errors.length > 0) {
    throw new ConfigError(document.errors.map((e) => `${file}: YAML: ${e.message}`).join('\n'));
  }
  const raw: unknown = document.toJS() ?? {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError(`${file}: the top level must be a mapping of sections (listen, upstream, cassandra, …)`);
  }
  for (const [name, apply] of Object.entries(environmentOverrides)) {
    const value = env[name];
    if (value !== undefined) apply(raw as Record<string, unknown>, value);
  }
  return parseConfig(raw, file);
}
