// What the image sets, read from the Dockerfile itself, so the lab runs the production
// build the way the image does (the bench's heap settings, the soak).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** An ENV the Dockerfile's runtime stage sets, e.g. NODE_OPTIONS. */
export function dockerfileEnv(name: string): string {
  const value = new RegExp(`^ENV ${name}="([^"]*)"$`, 'm').exec(readFileSync(join(import.meta.dirname, '../Dockerfile'), 'utf8'))?.[1];
  if (value === undefined) throw new Error(`the Dockerfile sets no ${name}`);
  return value;
}
