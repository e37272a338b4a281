// A server certificate read from files that Kubernetes rotates (a Secret volume swaps a
// symlink): read once at start, and again whenever either file changes. A pair that
// cannot be read keeps the previous one, and says so.
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import type https from 'node:https';
import type { Logger } from '../telemetry/logger.ts';

export interface CertificateFiles {
  cert_file: string;
  key_file: string;
}

export const readCertificate = (files: CertificateFiles): { cert: Buffer; key: Buffer } =>
  ({ cert: readFileSync(files.cert_file), key: readFileSync(files.key_file) });

/** Reloads `server`'s certificate when its files change; returns the function that stops watching. */
export function reloadOnChange(server: https.Server, files: CertificateFiles, logger: Logger): () => void {
  const reload = (): void => {
    try {
      server.setSecureContext(readCertificate(files));
      logger.info({ cert_file: files.cert_file }, 'reloaded the TLS certificate');
    } catch (error) {
      logger.error({ cert_file: files.cert_file, error: (error as Error).message }, 'could not reload the TLS certificate; keeping the previous one');
    }
  };
  // Polling stat follows the symlink swap Kubernetes does when a Secret changes.
  for (const file of [files.cert_file, files.key_file]) watchFile(file, { interval: 1000, persistent: false }, reload);
  return () => { for (const file of [files.cert_file, files.key_file]) unwatchFile(file); };
}
