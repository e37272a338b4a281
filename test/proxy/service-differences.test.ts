// Where the sidecar and the service answer alike, and the differences the sidecar keeps
// (docs/configuration.md, "Where the sidecar answers otherwise than Kask"), checked side
// by side against the lab's session service (Go's net/http, as Kask's) over the real
// cluster, with the sidecar's default limits.
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { request } from 'undici';
import { labService } from '../../lab/scenarios.ts';
import { startService } from '../../lab/session-service/harness.ts';
import { startSidecar } from '../../lab/sidecar-process.ts';
import { rawExchange, statusOf } from '../support/http.ts';

void t.test('the sidecar and the service, side by side', async (t) => {
  const service = await startService(t, labService);
  const sidecar = await startSidecar(t, service.url, service.pidFile);
  const portOf = (url: string): number => Number(new URL(url).port);
  const both = async (raw: (host: string) => string): Promise<[number, number]> => [
    statusOf(await rawExchange(portOf(service.url), raw(service.url.slice('http://'.length)))),
    statusOf(await rawExchange(portOf(sidecar.url), raw(sidecar.url.slice('http://'.length)))),
  ];

  // Alike.
  t.same(await both(() => 'GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n'), [400, 400], 'HTTP/1.1 without Host: 400 from both');
  t.same(await both((host) => `GET http://${host}/healthz HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`), [200, 200], 'an absolute-form target: accepted by both');
  const chunked = (host: string, body: string): string => `POST /sessions/v1/k HTTP/1.1\r\nHost: ${host}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${body}`;
  t.same(await both((host) => chunked(host, 'zz\r\nabcd\r\n0\r\n\r\n')), [400, 400], 'a chunk size that is not hexadecimal: 400 from both');

  // A value the service stores is never refused: up to Cassandra's largest mutation.
  for (const size of [2 * 1024 * 1024, 12 * 1024 * 1024]) {
    const key = `large-${size}-${randomBytes(4).toString('hex')}`;
    const value = randomBytes(size);
    const written = await request(`${sidecar.url}/sessions/v1/${key}`, { method: 'POST', body: value, headers: { 'content-type': 'application/octet-stream' } });
    await written.body.dump();
    t.equal(written.statusCode, 201, `a ${size / 1024 / 1024} MiB value through the sidecar: stored`);
    const read = await request(`${service.url}/sessions/v1/${key}`);
    t.ok(Buffer.from(await read.body.arrayBuffer()).equals(value), 'and read back whole from the service');
  }

  // The differences the sidecar keeps.
  const overLimit = 16 * 1024 * 1024 + 1;
  const declared = `POST /sessions/v1/too-large HTTP/1.1\r\nHost: ${sidecar.url.slice('http://'.length)}\r\nContent-Length: ${overLimit}\r\nConnection: close\r\n\r\n`;
  t.equal(statusOf(await rawExchange(portOf(sidecar.url), declared)), 413, 'over 16 MiB, more than Cassandra stores in one mutation by default: 413 from the sidecar, before the body');
  const direct = await request(`${service.url}/sessions/v1/too-large`, { method: 'POST', body: Buffer.alloc(overLimit), headers: { 'content-type': 'application/octet-stream' } });
  await direct.body.dump();
  t.equal(direct.statusCode, 500, 'where the service takes it, and Cassandra refuses it: 500');
  const bigHeader = (host: string): string => `GET /healthz HTTP/1.1\r\nHost: ${host}\r\nX-Big: ${'a'.repeat(20 * 1024)}\r\nConnection: close\r\n\r\n`;
  t.same(await both(bigHeader), [200, 431], '20 KiB of headers: the service (up to 1 MiB in Go) answers, the sidecar says 431');
  t.same(await both((host) => chunked(host, '4\t\r\nabcd\r\n0\r\n\r\n')), [201, 400], 'whitespace after a chunk size: Go tolerates it, the sidecar refuses it (RFC 9112, and a smuggling vector)');
  t.same(await both((host) => chunked(host, '4\nabcd\r\n0\r\n\r\n')), [201, 400], 'a chunk line ended by a bare LF: likewise');
});
