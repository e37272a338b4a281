// npm run cluster -- up [--dcs 1|2] | status | stop N | kill N | pause N | resume N | start N | down [--wipe]
import { MissingToolError } from './install.ts';
import * as cluster from './cluster.ts';
import { parseNodeNumber } from './layout.ts';

const usage = `usage: npm run cluster -- <command>
  up          start the three nodes (fetching Cassandra first if needed) and create the schema
              --dcs 2: a second data center, dc2 (nodes 5, 6, 7 on 127.0.0.5-7), joins;
              --dcs 1: it leaves again. Without --dcs the shape stays as it is
  status      each node's address, process and whether it answers CQL
  stop N      clean shutdown of node N (SIGTERM)
  kill N      SIGKILL node N
  pause N     SIGSTOP node N (a hung node)
  resume N    SIGCONT node N
  start N     start node N again; waits until the other nodes see it up
  isolate N   drop every internode packet to node N (iptables on lo; --peers-keep-it-up:
              its peers never convict it, as in T327954; --gossip-only: drop only its
              peers' gossip connections to it, replica traffic flows; takes hold on
              connections opened after it, so use it with reboot-isolated)
  reboot-isolated N   the 2023-01-24 reboot: kill N, isolate it, start it (same flags;
              T327954 as it happened: --peers-keep-it-up --gossip-only)
  heal        remove every network fault and failure-detector change
  down        stop every node (--wipe also deletes their data)`;

const log = (line: string): void => {
  console.log(`[cluster] ${line}`);
};

const isolation = (args: string[]): cluster.IsolationOptions =>
  ({ peersKeepItUp: args.includes('--peers-keep-it-up'), gossipOnly: args.includes('--gossip-only') });

function dataCenters(args: string[]): { dataCenters?: 1 | 2 } {
  const at = args.indexOf('--dcs');
  if (at === -1) return {};
  const value = args[at + 1];
  if (value !== '1' && value !== '2') throw new Error(`--dcs takes 1 or 2, got ${JSON.stringify(value)}`);
  return { dataCenters: Number(value) as 1 | 2 };
}

async function main(args: string[]): Promise<void> {
  const [command, arg] = args;
  switch (command) {
    case 'up':
      return cluster.up(log, dataCenters(args));
    case 'status':
      for (const node of await cluster.status()) {
        console.log(`node ${node.number}  ${node.dataCenter}  ${node.address.padEnd(10)}  ${node.process.padEnd(8)} pid ${String(node.pid ?? '-').padEnd(8)} cql ${node.answersCql ? 'yes' : 'no'}`);
      }
      return;
    case 'stop':
      return cluster.stopNode(parseNodeNumber(arg), log);
    case 'kill':
      return cluster.killNode(parseNodeNumber(arg), log);
    case 'pause':
      cluster.pauseNode(parseNodeNumber(arg), log);
      return;
    case 'resume':
      cluster.resumeNode(parseNodeNumber(arg), log);
      return;
    case 'start':
      await cluster.startNode(parseNodeNumber(arg), log);
      return;
    case 'isolate':
      await cluster.isolateNode(parseNodeNumber(arg), isolation(args));
      log(`node ${arg} isolated: ${args.includes('--gossip-only') ? "its peers' gossip connections to it are dropped" : 'internode traffic to it is dropped'}`);
      return;
    case 'reboot-isolated':
      await cluster.rebootIsolated(parseNodeNumber(arg), log, isolation(args));
      return;
    case 'heal':
      return cluster.heal(log);
    case 'down':
      return cluster.down(log, { wipe: args.includes('--wipe') });
    default:
      console.error(usage);
      process.exitCode = 2;
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(error instanceof MissingToolError ? error.message : `[cluster] ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
