// The upstream behind the proxy under attack: it records every request that reached
// it whole (method, path, a hash of its body), so the suite can check that the proxy
// forwarded exactly what clients completed and nothing else. A path segment after
// /sessions/v1/ asks it to misbehave, as a broken service would:
//   reset/…    drops the connection before answering
//   hang/…     never answers
//   garbage/…  answers with bytes that are not HTTP
//   bighead/…  answers with 64 KB of headers
//   close/…    answers, then closes its keep-alive connection (a pooled connection gone stale)
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** How long the upstream keeps an idle connection; undici follows its Keep-Alive hint, so the proxy's pool does too. */
export const upstreamKeepAliveMs = 10_000;

export interface Received {
  method: string;
  path: string;
  sha256: string;
}

export interface RecordingUpstream {
  url: string;
  port: number;
  received: Received[];
  close(): Promise<void>;
}

export const sha256 = (body: Buffer | string): string => createHash('sha256').update(body).digest('hex');

export async function startRecordingUpstream(): Promise<RecordingUpstream> {
  const received: Received[] = [];
  const sockets = new Set<Socket>();
  const server = http.createServer({ keepAliveTimeout: upstreamKeepAliveMs }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const path = req.url ?? '';
      received.push({ method: req.method ?? '', path, sha256: sha256(Buffer.concat(chunks)) });
      const mode = /^\/sessions\/v1\/([a-z]+)\//.exec(path)?.[1];
      if (mode === 'reset') {
        req.socket.destroy();
      } else if (mode === 'hang') {
        // never answers
      } else if (mode === 'garbage') {
        req.socket.end('this is not HTTP\r\n\r\n');
      } else if (mode === 'bighead') {
        res.writeHead(200, { 'x-big': 'y'.repeat(64 * 1024) });
        res.end('ok');
      } else {
        res.writeHead(req.method === 'POST' ? 201 : req.method === 'DELETE' ? 204 : 200, mode === 'close' ? { connection: 'close' } : {});
        res.end(req.method === 'GET' ? 'ok' : undefined);
      }
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    received,
    close: () => new Promise((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => { resolve(); });
    }),
  };
}
