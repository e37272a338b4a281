// The adversarial corpus: request shapes an attacker or a real client (libcurl, a
// slow phone, a crashed PHP worker) sends to a proxy, in families. Each case says what
// a correct proxy in front of the session service does with it:
//   - what the client gets: a sequence of final statuses (1xx aside), or none; several
//     alternatives where HTTP parsers may legitimately differ;
//   - exactly which requests reach the upstream, byte for byte (path and body hash),
//     and how often (a retried request may arrive up to three times).
// Every case embeds a unique id in its paths, so that the upstream's record can be
// matched to it, and a "smuggled" path that must never arrive.
import { parseConfig } from '../../src/config/load.ts';
import { sha256 } from './upstream.ts';

export type Step =
  | { write: string }
  | { pause: number }
  /** Waits (at most `ms`) for the proxy's "100 Continue". */
  | { awaitContinue: number }
  /** Half-closes: the client is done sending but still reads. */
  | { end: true }
  /** Closes with a FIN mid-message. */
  | { destroy: true }
  /** Closes with a RST. */
  | { reset: true };

export interface Forward {
  method: string;
  path: string;
  /** The body the upstream must receive, exactly. */
  body: string;
  min?: number;
  max?: number;
}

export interface Outcome {
  /** Final statuses the client reads, in order; [] when it reads none (it left, or the proxy closed). */
  statuses: number[];
  forwards: Forward[];
}

export interface Case {
  family: Family;
  name: string;
  steps(id: string): Step[];
  /** Acceptable outcomes; the first is what the sidecar does. */
  outcomes(id: string): Outcome[];
}

export const families = ['smuggling', 'limits', 'slowness', 'disconnects', 'pipelining', 'methods', 'expect', 'broken-upstream'] as const;
export type Family = (typeof families)[number];

/** The limits the suite configures on every proxy under test, so that slow cases end in seconds. */
/** A request reset before any answer is sent at most this often: once, and the sidecar's retries (its default). */
const maxAttempts = 1 + parseConfig({ cassandra: { contact_points: ['127.0.0.1'] } }).retries.max_per_request;

export const suiteLimits = { maxHeaderBytes: 8192, maxBodyBytes: 65_536, headerTimeoutMs: 1000, bodyTimeoutMs: 1000, upstreamTimeoutMs: 1500 };

const p = (id: string, suffix = ''): string => `/sessions/v1/${id}${suffix}`;
const head = (method: string, path: string, headers: string[] = []): string => `${method} ${path} HTTP/1.1\r\nHost: sessionstore\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\n`;
const get = (id: string, suffix = ''): string => head('GET', p(id, suffix));
const refused = (...statuses: number[]): Outcome[] => statuses.map((status) => ({ statuses: [status], forwards: [] }));
const closedOnly: Outcome[] = [{ statuses: [], forwards: [] }];
const answered = (status: number, method: string, path: string, body = ''): Outcome => ({ statuses: [status], forwards: [{ method, path, body }] });
/** A GET carrying a second request after it: the second must never arrive. */
const smuggled = (id: string): string => `GET ${p(id, '-smuggled')} HTTP/1.1\r\nHost: sessionstore\r\n\r\n`;
const chunked = (body: string): string => `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`;

const write = (text: string): Step => ({ write: text });
/** Writes `text` (ASCII) one character at a time, `ms` apart. */
const trickle = (text: string, ms: number): Step[] => Array.from({ length: text.length }, (_, i) => [write(text.charAt(i)), { pause: ms }]).flat();

export const corpus: Case[] = [
  // Request smuggling and framing: nothing ambiguous is forwarded.
  { family: 'smuggling', name: 'Content-Length with Transfer-Encoding',
    steps: (id) => [write(`${head('POST', p(id), ['Content-Length: 6', 'Transfer-Encoding: chunked'])}0\r\n\r\n${smuggled(id)}`)], outcomes: () => refused(400) },
  { family: 'smuggling', name: 'Transfer-Encoding before Content-Length',
    steps: (id) => [write(`${head('POST', p(id), ['Transfer-Encoding: chunked', 'Content-Length: 6'])}0\r\n\r\n${smuggled(id)}`)], outcomes: () => refused(400) },
  { family: 'smuggling', name: 'two different Content-Lengths',
    steps: (id) => [write(`${head('POST', p(id), ['Content-Length: 3', 'Content-Length: 4'])}abcd`)], outcomes: () => refused(400) },
  { family: 'smuggling', name: 'two equal Content-Lengths',
    steps: (id) => [write(`${head('POST', p(id), ['Content-Length: 4', 'Content-Length: 4'])}abcd`)], outcomes: () => refused(400) },
  { family: 'smuggling', name: 'Transfer-Encoding: xchunked',
    steps: (id) => [write(`${head('POST', p(id), ['Transfer-Encoding: xchunked'])}${chunked('abcd')}${smuggled(id)}`)], outcomes: () => refused(400, 501) },
  { family: 'smuggling', name: 'chunked not last (chunked, identity)',
    steps: (id) => [write(`${head('POST', p(id), ['Transfer-Encoding: chunked, identity'])}${chunked('abcd')}${smuggled(id)}`)], outcomes: () => refused(400) },
  { family: 'smuggling', name: 'another coding before chunked (gzip, chunked)',
    steps: (id) => [write(`${head('POST', p(id), ['Transfer-Encoding: gzip, chunked'])}${chunked('abcd')}`)], outcomes: () => refused(501, 400) },
  { family: 'smuggling', name: 'Transfer-Encoding twice',
    steps: (id) => [write(`${head('POST', p(id), ['Transfer-Encoding: chunked', 'Transfer-Encoding: chunked'])}${chunked('abcd')}${smuggled(id)}`)], outcomes: () => refused(400, 501) },
  { family: 'smuggling', name: 'space before the colon',
    steps: (id) => [write(`${head('POST', p(id), ['Transfer-Encoding : chunked'])}${chunked('abcd')}${smuggled(id)}`)], outcomes: () => refused(400) },
  { family: 'smuggling', name: 'tab before chunked (valid)',
    steps: (id) => [write(`${head('POST', p(id), ['Transfer-Encoding:\tchunked'])}${chunked('abcd')}`)], outcomes: (id) => [answered(201, 'POST', p(id), 'abcd')] },
  { family: 'smuggling', name: 'TRANSFER-ENCODING: CHUNKED (valid)',
    steps: (id) => [write(`${head('POST', p(id), ['TRANSFER-ENCODING: CHUNKED'])}${chunked('abcd')}`)], outcomes: (id) => [answered(201, 'POST', p(id), 'abcd')] },
  { family: 'smuggling', name: 'Content-Length: +4',
    steps: (id) => [write(`${head('POST', p(id), ['Content-Length: +4'])}abcd`)], outcomes: () => refused(400) },
  { family: 'smuggling', name: 'Content-Length: -1',
    steps: (id) => [write(`${head('POST', p(id), ['Content-Length: -1'])}abcd`)], outcomes: () => refused(400) },
  { family: 'smuggling', name: 'Content-Length: 0x4',
    steps: (id) => [write(`${head('POST', p(id), ['Content-Length: 0x4'])}abcd`)], outcomes: () => refused(400) },
  { family: 'smuggling', name: 'chunk size that overflows',
    steps: (id) => [write(`${head('POST', p(id), ['Transfer-Encoding: chunked'])}ffffffffffffffffff\r\nabcd\r\n0\r\n\r\n`)], outcomes: () => refused(400, 408, 413) },
  // Invalid chunk framing: the parser stops inside the body; the answer is a 400 at once, not a 408 after the body timeout.
  { family: 'smuggling', name: 'a tab in the chunk size',
    steps: (id) => [write(`${head('POST', p(id), ['Transfer-Encoding: chunked'])}4\t\r\nabcd\r\n0\r\n\r\n`)], outcomes: () => refused(400) },
  { family: 'smuggling', name: 'a bare LF after the chunk size',
    steps: (id) => [write(`${head('POST', p(id), ['Transfer-Encoding: chunked'])}4\nabcd\r\n0\r\n\r\n`)], outcomes: () => refused(400) },
  { family: 'smuggling', name: 'a 20 kB chunk extension',
    steps: (id) => [write(`${head('POST', p(id), ['Transfer-Encoding: chunked'])}4;${'x'.repeat(20_000)}\r\nabcd\r\n0\r\n\r\n`)], outcomes: () => refused(400) },
  { family: 'smuggling', name: 'chunk extension (valid)',
    steps: (id) => [write(`${head('POST', p(id), ['Transfer-Encoding: chunked'])}4;name=value\r\nabcd\r\n0\r\n\r\n`)], outcomes: (id) => [answered(201, 'POST', p(id), 'abcd')] },
  { family: 'smuggling', name: 'bare LF line endings',
    steps: (id) => [write(`GET ${p(id)} HTTP/1.1\nHost: sessionstore\n\n`)], outcomes: (id) => [...refused(400), answered(200, 'GET', p(id))] },
  { family: 'smuggling', name: 'obsolete line folding',
    steps: (id) => [write(`GET ${p(id)} HTTP/1.1\r\nHost: sessionstore\r\nX-A: a\r\n b\r\n\r\n`)], outcomes: (id) => [...refused(400), answered(200, 'GET', p(id))] },
  { family: 'smuggling', name: 'NUL in a header value',
    steps: (id) => [write(head('GET', p(id), ['X-A: a\u0000b']))], outcomes: () => refused(400) },
  { family: 'smuggling', name: 'two Host headers',
    steps: (id) => [write(`GET ${p(id)} HTTP/1.1\r\nHost: sessionstore\r\nHost: evil\r\n\r\n`)], outcomes: () => refused(400) },
  // RFC 9112 3.2.2: a server accepts absolute-form; the path is forwarded, never the other host.
  { family: 'smuggling', name: 'absolute-form target',
    steps: (id) => [write(`GET http://evil.example${p(id)} HTTP/1.1\r\nHost: sessionstore\r\n\r\n`)], outcomes: (id) => [answered(200, 'GET', p(id))] },
  { family: 'smuggling', name: 'asterisk-form target',
    steps: () => [write('OPTIONS * HTTP/1.1\r\nHost: sessionstore\r\n\r\n')], outcomes: () => refused(400) },
  { family: 'smuggling', name: 'CONNECT',
    steps: () => [write('CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n')], outcomes: () => [...closedOnly, ...refused(400, 405)] },
  { family: 'smuggling', name: 'HTTP/0.9',
    steps: (id) => [write(`GET ${p(id)}\r\n\r\n`)], outcomes: () => [...refused(505, 400), ...closedOnly] },
  { family: 'smuggling', name: 'HTTP/2 preface',
    steps: () => [write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')], outcomes: () => [...closedOnly, ...refused(400, 505)] },
  { family: 'smuggling', name: 'Upgrade: websocket',
    steps: (id) => [write(head('GET', p(id), ['Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version: 13']))],
    outcomes: (id) => [answered(200, 'GET', p(id)), ...closedOnly, ...refused(400, 426, 501)] },

  // Limits: refused before anything is forwarded, and at the limit still served.
  { family: 'limits', name: 'headers over the limit',
    steps: (id) => [write(head('GET', p(id), [`X-Big: ${'a'.repeat(suiteLimits.maxHeaderBytes + 100)}`]))], outcomes: () => refused(431, 400) },
  { family: 'limits', name: 'a target over the header limit',
    steps: (id) => [write(get(id, `-${'a'.repeat(suiteLimits.maxHeaderBytes + 100)}`))], outcomes: () => refused(431, 414, 400) },
  { family: 'limits', name: 'many small headers (within the limit)',
    steps: (id) => [write(head('GET', p(id), Array.from({ length: 100 }, (_, i) => `X-H${i}: v`)))], outcomes: (id) => [answered(200, 'GET', p(id))] },
  { family: 'limits', name: 'a declared body over the limit',
    steps: (id) => [write(`${head('POST', p(id), [`Content-Length: ${suiteLimits.maxBodyBytes + 1}`])}${'a'.repeat(1000)}`)], outcomes: () => refused(413) },
  { family: 'limits', name: 'a chunked body over the limit',
    steps: (id) => [write(`${head('POST', p(id), ['Transfer-Encoding: chunked'])}${chunked('a'.repeat(suiteLimits.maxBodyBytes + 1))}`)], outcomes: () => refused(413) },
  { family: 'limits', name: 'a body exactly at the limit',
    steps: (id) => [write(`${head('POST', p(id), [`Content-Length: ${suiteLimits.maxBodyBytes}`])}${'b'.repeat(suiteLimits.maxBodyBytes)}`)],
    outcomes: (id) => [answered(201, 'POST', p(id), 'b'.repeat(suiteLimits.maxBodyBytes))] },

  // Slow clients: cut off by the proxy's own timeouts, never holding a connection to the service.
  { family: 'slowness', name: 'headers one byte at a time (slowloris)',
    steps: (id) => trickle(get(id), 150), outcomes: () => [...refused(408), ...closedOnly] },
  { family: 'slowness', name: 'a sized body one byte at a time',
    steps: (id) => [write(head('POST', p(id), ['Content-Length: 40'])), ...trickle('x'.repeat(40), 150)], outcomes: () => [...refused(408), ...closedOnly] },
  { family: 'slowness', name: 'a chunked body one byte at a time',
    steps: (id) => [write(head('POST', p(id), ['Transfer-Encoding: chunked'])), ...trickle(chunked('x'.repeat(20)), 150)], outcomes: () => [...refused(408), ...closedOnly] },
  { family: 'slowness', name: 'a body that stalls',
    steps: (id) => [write(`${head('POST', p(id), ['Content-Length: 100'])}${'x'.repeat(10)}`), { pause: 3000 }], outcomes: () => [...refused(408), ...closedOnly] },
  { family: 'slowness', name: 'a body in three parts within the timeout (served)',
    steps: (id) => [write(`${head('POST', p(id), ['Content-Length: 12'])}aaaa`), { pause: 100 }, write('bbbb'), { pause: 100 }, write('cccc')],
    outcomes: (id) => [answered(201, 'POST', p(id), 'aaaabbbbcccc')] },

  // Clients that go away: nothing half-forwarded; a request the client completed may be served without anyone to read the answer.
  { family: 'disconnects', name: 'closes mid-headers',
    steps: (id) => [write(`GET ${p(id)} HTTP/1.1\r\nHost: sess`), { destroy: true }], outcomes: () => closedOnly },
  { family: 'disconnects', name: 'FIN mid-body',
    steps: (id) => [write(`${head('POST', p(id), ['Content-Length: 1000'])}${'x'.repeat(100)}`), { pause: 50 }, { end: true }], outcomes: () => [...closedOnly, ...refused(400)] },
  { family: 'disconnects', name: 'RST mid-body',
    steps: (id) => [write(`${head('POST', p(id), ['Content-Length: 1000'])}${'x'.repeat(100)}`), { pause: 50 }, { reset: true }], outcomes: () => closedOnly },
  // A half-close reads as "the client has gone" to Node and nginx alike: the request may or may not have been forwarded, once at most.
  { family: 'disconnects', name: 'half-closes after a whole request',
    steps: (id) => [write(get(id)), { end: true }],
    outcomes: (id) => [answered(200, 'GET', p(id)), { statuses: [], forwards: [{ method: 'GET', path: p(id), body: '', min: 0, max: 1 }] }] },
  { family: 'disconnects', name: 'leaves while the service is slow',
    steps: (id) => [write(get(`hang/${id}`)), { pause: 300 }, { destroy: true }], outcomes: (id) => [{ statuses: [], forwards: [{ method: 'GET', path: p(`hang/${id}`), body: '' }] }] },

  // Pipelining: answers in order; a bad request after good ones is answered after them.
  { family: 'pipelining', name: 'three GETs at once',
    steps: (id) => [write(get(id, '-1') + get(id, '-2') + get(id, '-3'))],
    outcomes: (id) => [{ statuses: [200, 200, 200], forwards: [1, 2, 3].map((n) => ({ method: 'GET', path: p(id, `-${n}`), body: '' })) }] },
  { family: 'pipelining', name: 'two POSTs at once',
    steps: (id) => [write(`${head('POST', p(id, '-1'), ['Content-Length: 3'])}one${head('POST', p(id, '-2'), ['Content-Length: 3'])}two`)],
    outcomes: (id) => [{ statuses: [201, 201], forwards: [{ method: 'POST', path: p(id, '-1'), body: 'one' }, { method: 'POST', path: p(id, '-2'), body: 'two' }] }] },
  { family: 'pipelining', name: 'a GET, a POST, then garbage',
    steps: (id) => [write(`${get(id, '-1')}${head('POST', p(id, '-2'), ['Content-Length: 3'])}two GARBAGE\r\n\r\n`)],
    outcomes: (id) => [{ statuses: [200, 201, 400], forwards: [{ method: 'GET', path: p(id, '-1'), body: '' }, { method: 'POST', path: p(id, '-2'), body: 'two' }] }] },
  { family: 'pipelining', name: 'a GET, then two Host headers',
    steps: (id) => [write(`${get(id, '-1')}GET ${p(id, '-2')} HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n`)],
    outcomes: (id) => [{ statuses: [200, 400], forwards: [{ method: 'GET', path: p(id, '-1'), body: '' }] }] },
  { family: 'pipelining', name: 'a GET, then headers over the limit',
    steps: (id) => [write(`${get(id, '-1')}${head('GET', p(id, '-2'), [`X-Big: ${'a'.repeat(suiteLimits.maxHeaderBytes + 100)}`])}`)],
    outcomes: (id) => [{ statuses: [200, 431], forwards: [{ method: 'GET', path: p(id, '-1'), body: '' }] }, { statuses: [200, 400], forwards: [{ method: 'GET', path: p(id, '-1'), body: '' }] }] },

  // Methods and paths: passed through as sent, or refused by the parser.
  { family: 'methods', name: 'a lowercase method', steps: (id) => [write(head('get', p(id)))], outcomes: () => refused(400) },
  { family: 'methods', name: 'an unknown but valid method', steps: (id) => [write(head('PROPFIND', p(id)))], outcomes: (id) => [answered(200, 'PROPFIND', p(id)), ...refused(400, 405, 501)] },
  { family: 'methods', name: 'a 200-character method', steps: (id) => [write(head('A'.repeat(200), p(id)))], outcomes: () => refused(400, 405, 501) },
  { family: 'methods', name: 'PUT', steps: (id) => [write(head('PUT', p(id), ['Content-Length: 2']) + 'hi')], outcomes: (id) => [answered(200, 'PUT', p(id), 'hi')] },
  { family: 'methods', name: 'HEAD', steps: (id) => [write(head('HEAD', p(id)))], outcomes: (id) => [answered(200, 'HEAD', p(id))] },
  { family: 'methods', name: 'DELETE', steps: (id) => [write(head('DELETE', p(id)))], outcomes: (id) => [answered(204, 'DELETE', p(id))] },
  { family: 'methods', name: 'an encoded NUL in the path', steps: (id) => [write(get(id, '%00'))], outcomes: (id) => [answered(200, 'GET', p(id, '%00'))] },
  { family: 'methods', name: 'dot segments in the path', steps: (id) => [write(head('GET', `/sessions/v1/../v1/${id}`))], outcomes: (id) => [answered(200, 'GET', `/sessions/v1/../v1/${id}`)] },
  { family: 'methods', name: 'a raw space in the path', steps: (id) => [write(`GET ${p(id)} x HTTP/1.1\r\nHost: sessionstore\r\n\r\n`)], outcomes: () => refused(400) },

  // Expect: 100-continue only once the request will really be forwarded.
  { family: 'expect', name: '100-continue, body after the 100',
    steps: (id) => [write(head('POST', p(id), ['Content-Length: 5', 'Expect: 100-continue'])), { awaitContinue: 2000 }, write('hello')], outcomes: (id) => [answered(201, 'POST', p(id), 'hello')] },
  { family: 'expect', name: '100-continue, body sent at once',
    steps: (id) => [write(`${head('POST', p(id), ['Content-Length: 5', 'Expect: 100-continue'])}hello`)], outcomes: (id) => [answered(201, 'POST', p(id), 'hello')] },
  { family: 'expect', name: '100-continue over the body limit: refused, no 100',
    steps: (id) => [write(head('POST', p(id), [`Content-Length: ${suiteLimits.maxBodyBytes + 1}`, 'Expect: 100-continue'])), { pause: 300 }], outcomes: () => refused(413) },
  { family: 'expect', name: 'an unknown expectation',
    steps: (id) => [write(`${head('POST', p(id), ['Content-Length: 5', 'Expect: something-else'])}hello`)], outcomes: () => refused(417) },

  // A broken upstream: the client always gets an answer, and resets are retried at most twice.
  { family: 'broken-upstream', name: 'resets before answering (GET)', steps: (id) => [write(get(`reset/${id}`))],
    outcomes: (id) => [{ statuses: [502], forwards: [{ method: 'GET', path: p(`reset/${id}`), body: '', min: 1, max: maxAttempts }] }] },
  { family: 'broken-upstream', name: 'resets before answering (POST)', steps: (id) => [write(`${head('POST', p(`reset/${id}`), ['Content-Length: 3'])}abc`)],
    outcomes: (id) => [{ statuses: [502], forwards: [{ method: 'POST', path: p(`reset/${id}`), body: 'abc', min: 1, max: maxAttempts }] }] },
  { family: 'broken-upstream', name: 'never answers', steps: (id) => [write(get(`hang/${id}`))],
    outcomes: (id) => [{ statuses: [504], forwards: [{ method: 'GET', path: p(`hang/${id}`), body: '' }] }] },
  { family: 'broken-upstream', name: 'answers garbage', steps: (id) => [write(get(`garbage/${id}`))],
    outcomes: (id) => [{ statuses: [502], forwards: [{ method: 'GET', path: p(`garbage/${id}`), body: '', min: 1, max: 3 }] }] },
  { family: 'broken-upstream', name: 'answers with 64 KB of headers', steps: (id) => [write(get(`bighead/${id}`))],
    outcomes: (id) => [{ statuses: [502], forwards: [{ method: 'GET', path: p(`bighead/${id}`), body: '', min: 1, max: 3 }] }] },
  { family: 'broken-upstream', name: 'closes its connection after answering', steps: (id) => [write(get(`close/${id}`))],
    outcomes: (id) => [answered(200, 'GET', p(`close/${id}`))] },
];

export const bodyHash = (forward: Forward): string => sha256(forward.body);
