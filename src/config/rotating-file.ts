// A secret's file, read again whenever it is needed: Kubernetes rotates a mounted Secret
// in place (it swaps a symlink) while the sidecar runs. A file that cannot be read at
// that moment (half-way through a swap) leaves the last good content in use.
import { readFileSync } from 'node:fs';

export function latest<T>(file: string, parse: (content: Buffer) => T, initial: T): () => T {
  let last = initial;
  return () => {
    try {
      last = parse(readFileSync(file));
    } catch {
      // Keep the last good content.
    }
    return last;
  };
}

/** A secret's text, as the configuration loader reads it (trimmed). */
export const secretText = (content: Buffer): string => content.toString('utf8').trim();
