// Maps undici's errors to what the client is told and how SREs count it.
//
// Never hand undici a request its own checks reject (a second Host, Expect,
// Transfer-Encoding…): its Pool then marks the client it chose as busy for good, and
// after `upstream.connections` such requests every request waits forever (undici
// 8.12: DispatcherBase.dispatch returns false on the error, which PoolBase reads as
// "busy"). admission.ts and headers.ts keep those shapes out.
import { problems, type ProblemKind } from './problem.ts';
import type { UpstreamErrorKind } from './metrics.ts';

export interface UpstreamFailure {
  kind: UpstreamErrorKind;
  problem: ProblemKind;
  detail: string;
}

export function classifyUpstreamError(error: unknown): UpstreamFailure {
  const code = (error as { code?: string }).code;
  switch (code) {
    case 'ECONNREFUSED':
      return { kind: 'refused', problem: problems.upstreamUnavailable, detail: 'the session service refused the connection' };
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
      return { kind: 'reset', problem: problems.upstreamUnavailable, detail: 'the session service closed the connection before answering' };
    case 'UND_ERR_CONNECT_TIMEOUT':
      return { kind: 'connect_timeout', problem: problems.upstreamTimeout, detail: 'connecting to the session service timed out' };
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return { kind: 'timeout', problem: problems.upstreamTimeout, detail: 'the session service did not answer in time' };
    default:
      return { kind: 'other', problem: problems.upstreamUnavailable, detail: 'the exchange with the session service failed' };
  }
}
