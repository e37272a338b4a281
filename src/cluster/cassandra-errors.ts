// Cassandra's errors as SREs know them: the protocol's error name and its message.
import cassandra from 'cassandra-driver';

const { errors, types } = cassandra;

const protocolErrorNames: Record<number, string> = {
  0x0000: 'ServerError', 0x000a: 'ProtocolError', 0x0100: 'BadCredentials', 0x1000: 'Unavailable',
  0x1001: 'Overloaded', 0x1002: 'IsBootstrapping', 0x1003: 'TruncateError', 0x1100: 'WriteTimeout',
  0x1200: 'ReadTimeout', 0x1300: 'ReadFailure', 0x1400: 'FunctionFailure', 0x1500: 'WriteFailure',
  0x2000: 'SyntaxError', 0x2100: 'Unauthorized', 0x2200: 'Invalid', 0x2300: 'ConfigError',
  0x2400: 'AlreadyExists', 0x2500: 'Unprepared',
};

export interface CassandraError {
  /** Cassandra's protocol error name (Unavailable, ReadTimeout…) or the client-side failure (NoHostAvailable, ProbeTimeout…). */
  code: string;
  message: string;
}

export function describeCassandraError(error: unknown): CassandraError {
  if (error instanceof errors.ResponseError) {
    const code = protocolErrorNames[error.code] ?? `0x${error.code.toString(16)}`;
    if (code === 'Unavailable') {
      // The server's own text, as gocql (Kask) logs it (the Node.js driver rewrites it), with the coordinator's own count of live replicas.
      const { consistencies: level, required, alive } = error as { consistencies?: number; required?: number; alive?: number };
      const consistency = Object.entries(types.consistencies).find(([, value]) => value === level)?.[0] ?? 'unknown';
      return { code, message: `Cannot achieve consistency level ${consistency.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()} (${required ?? '?'} required but only ${alive ?? '?'} alive)` };
    }
    return { code, message: error.message };
  }
  if (error instanceof errors.NoHostAvailableError) {
    const inner = Object.values(error.innerErrors as Record<string, Error>).map((e) => e.message);
    return { code: 'NoHostAvailable', message: inner.length > 0 ? inner.join('; ') : error.message };
  }
  if (error instanceof errors.OperationTimedOutError) return { code: 'OperationTimedOut', message: error.message };
  const { code, message } = error as { code?: string; message?: string };
  if (code === 'ETIMEDOUT') return { code: 'ProbeTimeout', message: message ?? 'timed out' };
  return { code: code ?? 'Error', message: message ?? String(error) };
}

/**
 * A write the coordinator refused because a replica's disk is over the disk usage
 * guardrail's failure threshold (Cassandra 4.1+, `data_disk_usage_percentage_fail_threshold`).
 * The coordinator itself works: it refuses every ordinary role's writes to those
 * replicas, and still reads.
 */
export const refusedForDiskUsage = (error: CassandraError): boolean =>
  error.code === 'Invalid' && error.message.includes('Guardrail replica_disk_usage violated');
