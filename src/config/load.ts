// Reads the YAML file, validates it, and reads the secrets from their own files (never
// from the environment, which every process of the same UID can read through /proc).
// Every error names the file and the key, so the fix is obvious from the message alone.
// A secret's file that is missing is not an error: a pod whose Secret is not there yet
// must still start and serve, so the sidecar runs without it and says what it lacks.
// Nor is a missing configuration file when the command line gives a fallback
// (--config-fallback, which inject writes): a pod whose ConfigMap is not there yet
// must serve too, so the sidecar runs as a plain proxy to the service.
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { configSchema, type Config, type Lacking } from './schema.ts';

export class ConfigError extends Error {
  override name = 'ConfigError';
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
  const lacking: Lacking[] = [];
  const config: Config = { ...result.data, lacking };
  const secretFrom = (setting: Lacking['setting'], file: string | undefined): string | undefined => {
    if (file === undefined) return undefined;
    try {
      return readFileSync(file, 'utf8').trim();
    } catch (error) {
      lacking.push({ setting, file, why: (error as NodeJS.ErrnoException).code ?? (error as Error).message });
      return undefined;
    }
  };
  config.cassandra.username ??= secretFrom('cassandra.username_file', config.cassandra.username_file);
  config.cassandra.password ??= secretFrom('cassandra.password_file', config.cassandra.password_file);
  config.admin.token ??= secretFrom('admin.token_file', config.admin.token_file);
  if (config.admin.token !== undefined && config.admin.token.length < 16) throw new ConfigError(`${source}: admin.token_file: the admin token must be at least 16 characters`);
  return config;
}

/** The sections a fallback may set: enough to serve as a proxy, nothing that acts. */
const fallbackSections = ['listen', 'admin', 'upstream'];

/**
 * The configuration of a sidecar whose file is missing: the fallback's listen, admin and
 * upstream, defaults for the rest, retries and remediation off (both need its view of
 * Cassandra), and `config` lacking. main.ts then starts the proxy only: the cassandra
 * section is a placeholder that nothing contacts.
 */
export function fallbackConfig(json: string, file: string): Config {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (error) {
    throw new ConfigError(`--config-fallback: not JSON: ${(error as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError('--config-fallback: expected a JSON object of sections (listen, admin, upstream)');
  const unknown = Object.keys(raw).filter((key) => !fallbackSections.includes(key));
  if (unknown.length > 0) throw new ConfigError(`--config-fallback: ${unknown.join(', ')}: only ${fallbackSections.join(', ')} may be set here`);
  const config = parseConfig({ ...raw, cassandra: { contact_points: ['not-configured.invalid'] }, retries: { enabled: false }, remediation: { enabled: false } }, '--config-fallback');
  config.lacking.push({ setting: 'config', file, why: 'ENOENT' });
  return config;
}

export function loadConfig(file: string, fallback?: string): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && fallback !== undefined) return fallbackConfig(fallback, file);
    throw new ConfigError(`${file}: cannot read the configuration file: ${code ?? (error as Error).message}`);
  }
  const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (document.errors.length > 0) {
    throw new ConfigError(document.errors.map((e) => `${file}: YAML: ${e.message}`).join('\n'));
  }
  const raw: unknown = document.toJS() ?? {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError(`${file}: the top level must be a mapping of sections (listen, upstream, cassandra, …)`);
  }
  return parseConfig(raw, file);
}
