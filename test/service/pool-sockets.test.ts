// Reading the service's pool from /proc: the format, and real sockets of this
// process and of a child process standing in for the service.
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import t from 'tap';
import { findServiceProcess, observePool, parseProcNetTcp } from '../../src/service/pool-sockets.ts';
import { listenOn, startPoolHolder } from '../support/pool-holder.ts';

void t.test('parses /proc/net/tcp and tcp6 lines', (t) => {
  const tcp = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 0100007F:C350 0100007F:2352 01 00000000:00000000 00:00000000 00000000     0        0 4242 1 0 20 4 30 10 -1',
    '   1: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 35 1 0 100 0 0 10 0',
    '   2: 0100007F:C351 9000400A:2352 06 00000000:00000000 00:00000000 00000000     0        0 0 1 0 20 4 30 10 -1',
  ].join('\n');
  t.same(parseProcNetTcp(tcp), [
    { localPort: 50000, remoteAddress: '127.0.0.1', remotePort: 9042, state: '01', established: true, inode: 4242 },
    { localPort: 8080, remoteAddress: '0.0.0.0', remotePort: 0, state: '0A', established: false, inode: 35 },
    { localPort: 50001, remoteAddress: '10.64.0.144', remotePort: 9042, state: '06', established: false, inode: 0 },
  ]);
  const tcp6 = [
    '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 00000000000000000000000001000000:C350 00000000000000000000000001000000:2352 01 00000000:00000000 00:00000000 00000000     0        0 77 1 0 20 4 30 10 -1',
    '   1: 0000000000000000FFFF00000100007F:C351 0000000000000000FFFF00000300007F:2352 01 00000000:00000000 00:00000000 00000000     0        0 78 1 0 20 4 30 10 -1',
    '   2: 00000000000000000000000000000000:C352 B80D0120000000000000000001000000:2352 01 00000000:00000000 00:00000000 00000000     0        0 79 1 0 20 4 30 10 -1',
  ].join('\n');
  t.same(parseProcNetTcp(tcp6).map((s) => s.remoteAddress), ['::1', '127.0.0.3', '2001:db8::1'], 'IPv6, IPv4-mapped, and a global address');
  t.end();
});

void t.test('counts the service process’s own connections, or everyone’s but the sidecar’s', async (t) => {
  const port = await listenOn(t, '127.0.0.2');
  // This process is the "sidecar": one connection of its own to the port.
  const own = net.connect(port, '127.0.0.2');
  await once(own, 'connect');
  t.teardown(() => own.destroy());
  // A child process is the "service": two pooled connections to the node.
  const { child, pidFile } = await startPoolHolder(t, port, '127.0.0.2', 2);

  t.same(await observePool({ pidFile, nativePort: port }), { source: 'process', pid: child.pid, connections: { '127.0.0.2': 2 } }, 'by pid file: the service’s two connections');
  const byName = await observePool({ processName: 'no-such-process', nativePort: port });
  t.equal(byName.source, 'namespace', 'service not found: fall back to the namespace');
  t.same(byName.connections, { '127.0.0.2': 2 }, 'the sidecar’s own connection is left out');
  t.same((await observePool({ pidFile, nativePort: port === 65535 ? 1 : port + 1 })).connections, {}, 'other ports do not count');
});

void t.test('by name: the last pid found is checked first, and dropped once its name no longer matches', async (t) => {
  const name = readFileSync(`/proc/${process.pid}/comm`, 'utf8').trim();
  t.equal(await findServiceProcess({ processName: name, knownPid: process.pid }), process.pid, 'the known pid, while its name matches');
  t.equal(await findServiceProcess({ processName: 'no-such-process', knownPid: process.pid }), null, 'a known pid of another name is not taken');
  const scanned = await findServiceProcess({ processName: name, knownPid: 999_999_999 });
  t.ok(scanned !== null && readFileSync(`/proc/${scanned}/comm`, 'utf8').trim() === name, 'a vanished pid: every process is scanned again');
});
