import pino from 'pino';

export type Logger = pino.Logger;

/** JSON lines on stdout. Fields that could carry a secret are redacted wherever they appear. */
export function createLogger(level: string, destination: pino.DestinationStream = pino.destination({ sync: false })): Logger {
  return pino(
    {
      level,
      base: { appname: 'sessionstore-sidecar' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: ['password', '*.password', 'token', '*.token', 'credentials', '*.credentials', 'authorization', '*.authorization'], censor: '[redacted]' },
    },
    destination,
  );
}

/**
 * A request's path as the logs show it. Kask's keys are MediaWiki's session IDs, as good
 * as a login to whoever reads them, so the key (the last segment) is replaced and the
 * query dropped: /sessions/v1/enwiki%3AMWSession%3Aabc → /sessions/v1/{key}.
 */
export function loggablePath(path: string): string {
  const segments = (path.split('?')[0] ?? '').split('/');
  return segments.length > 2 && segments.at(-1) !== '' ? [...segments.slice(0, -1), '{key}'].join('/') : segments.join('/');
}
