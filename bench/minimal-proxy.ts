// The floor for a Node.js proxy of the sidecar's shape, measured beside it by npm run
// bench: node:http in, the request body received whole, an undici Pool to the
// upstream, the answer streamed back. No sidecar logic at all: the difference between
// this and the sidecar is what the sidecar's own work costs.
//   node bench/minimal-proxy.ts LISTEN_PORT UPSTREAM_URL
import http from 'node:http';
import { Pool } from 'undici';

const [port, upstream] = [Number(process.argv[2]), process.argv[3] ?? ''];
const pool = new Pool(upstream, { connections: 128 });

http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    pool.request({ method: req.method as 'GET', path: req.url ?? '/', headers: req.headers, body: chunks.length > 0 ? Buffer.concat(chunks) : null })
      .then(({ statusCode, headers, body }) => {
        res.writeHead(statusCode, headers as http.OutgoingHttpHeaders);
        body.pipe(res);
      }, () => { res.writeHead(502).end(); });
  });
}).listen(port, '127.0.0.1');
// An orderly exit, so that a profiler (bench/profile.bench.ts) writes what it sampled.
process.once('SIGTERM', () => process.exit(0));
