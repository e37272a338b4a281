// One attribute of nodes' MBean, read or set over their local JMX ports (jmx/MBeanAttribute.java).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { localNode, type NodeNumber } from './layout.ts';

/** The attribute's value on each node after the change (or as it is, without `value`), as text: one java launch for all of them. */
export function mbeanAttribute(nodes: NodeNumber[], bean: string, attribute: string, value?: string): string[] {
  if (nodes.length === 0) return [];
  const ports = nodes.map((n) => localNode(n).jmxPort).join(',');
  const args = [join(import.meta.dirname, 'jmx', 'MBeanAttribute.java'), ports, bean, attribute, ...(value === undefined ? [] : [value])];
  return execFileSync('java', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim().split('\n');
}
