// Where the local cluster lives on disk and what each node is. One data center, dc1,
// three nodes on their own loopback addresses with Cassandra's standard ports; in the
// two-DC shape (`npm run cluster -- up --dcs 2`) a second one, dc2, of three more, as
// production runs eqiad and codfw.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');
const cache = process.env.SIDECAR_CACHE_DIR ?? join(root, '.cache');

export const dataCenter = 'dc1';
/** The second data center of the two-DC shape: it joins dc1's cluster and leaves it again. */
export const secondDataCenter = 'dc2';
export type DataCenterName = typeof dataCenter | typeof secondDataCenter;
/** Bump when the nodes' configuration changes in a way old data folders cannot follow. */
export const layoutVersion = '3: password auth, optional client TLS, node 3 with a hostname certificate';
export const nodeNumbers = [1, 2, 3] as const;
/** dc2's nodes (4 is the spare's address): 127.0.0.5 to 127.0.0.7. */
export const secondNodeNumbers = [5, 6, 7] as const;
export type NodeNumber = (typeof nodeNumbers)[number] | (typeof secondNodeNumbers)[number];

/** Where one Cassandra process of the lab lives: a member of the cluster, or the spare that replaces one. */
export interface NodePlace {
  number: number;
  dataCenter: string;
  address: string;
  rack: string;
  /** Evenly spaced Murmur3 tokens: no token allocation work at start and a stable ring. */
  initialToken: string;
  jmxPort: number;
  dir: string;
}

export interface LocalNode extends NodePlace {
  number: NodeNumber;
}

const tokens = ['-9223372036854775808', '-3074457345618258603', '3074457345618258602'];

export function localNode(number: NodeNumber): LocalNode {
  const second = (secondNodeNumbers as readonly number[]).includes(number);
  const index = second ? number - secondNodeNumbers[0] : number - 1;
  return {
    number,
    dataCenter: second ? secondDataCenter : dataCenter,
    address: `127.0.0.${number}`,
    // Racks as in production: each data center's three nodes in three racks of its own.
    rack: `r${index + 1}`,
    // Each data center owns the whole ring once: dc2's tokens sit just after dc1's (Cassandra's own advice for a new data center).
    initialToken: second ? String(BigInt(tokens[index] ?? '0') + 100n) : tokens[index] ?? '0',
    jmxPort: 7190 + number,
    dir: join(paths.cluster, `node${number}`),
  };
}

/** dc1's three nodes: the cluster every test shares. */
export const allNodes = (): LocalNode[] => nodeNumbers.map(localNode);
/** dc2's three nodes, members only in the two-DC shape. */
export const secondDataCenterNodes = (): LocalNode[] => secondNodeNumbers.map(localNode);
/** One data center's three nodes. */
export const nodesIn = (name: DataCenterName): LocalNode[] => (name === secondDataCenter ? secondDataCenterNodes() : allNodes());
/** Whether dc2 is part of the cluster (its nodes' folders exist from their first start until the data center leaves). */
export const hasSecondDataCenter = (): boolean => secondDataCenterNodes().some((node) => existsSync(node.dir));
/** Every member of the cluster: dc1's nodes, and dc2's in the two-DC shape. */
export const members = (): LocalNode[] => [...allNodes(), ...(hasSecondDataCenter() ? secondDataCenterNodes() : [])];

/**
 * A new machine for a member's place (the matrix's replaced-node row): an address the
 * cluster never had, 127.0.0.4, in the replaced member's rack, with its own directory.
 * It takes the member's token over by streaming, as `replace_address_first_boot` does.
 */
export function spareNode(replacing: LocalNode): NodePlace {
  return { number: 4, dataCenter: replacing.dataCenter, address: '127.0.0.4', rack: replacing.rack, initialToken: replacing.initialToken, jmxPort: 7194, dir: paths.spare };
}

export const paths = {
  cache,
  cluster: join(cache, 'cluster'),
  /** The spare machine's directory (spareNode), while it stands in for a member. */
  spare: join(cache, 'cluster', 'spare'),
  /** The throwaway CA and the nodes' certificates, made when the cluster is created. */
  tls: join(cache, 'cluster', 'tls'),
  /** The superuser the project creates on a new cluster (the default one is not used after that). */
  credentials: join(cache, 'cluster', 'admin-credentials.json'),
  /** Which shape of cluster the data folders hold; a different one is wiped and made anew. */
  layoutVersion: join(cache, 'cluster', 'layout-version'),
  cassandraLib: (version: string): string => join(cache, `cassandra-${version}`, 'lib'),
};

export function parseNodeNumber(text: string | undefined): NodeNumber {
  const n = Number(text);
  const known: readonly number[] = [...nodeNumbers, ...secondNodeNumbers];
  if (!known.includes(n)) {
    throw new Error(`expected a node number (${nodeNumbers.join(', ')}; ${secondNodeNumbers.join(', ')} in ${secondDataCenter}), got ${JSON.stringify(text)}`);
  }
  return n as NodeNumber;
}
