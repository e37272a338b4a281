// The benchmark's upstream when nginx is missing: a minimal Node server.
import http from 'node:http';
import { responseBody } from './reference-proxies.ts';

http.createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': responseBody.length });
  res.end(responseBody);
}).listen(Number(process.argv[2]), '127.0.0.1');
