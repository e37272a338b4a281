// One attribute of nodes' MBean, read or set over their local JMX ports (jmx/MBeanAttribute.java).
// Asynchronous: a java launch takes a second or more, and the caller's event loop may be
// carrying traffic (a demo's balancers and clients), which a blocked loop would stall.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { localNode, type NodeNumber } from './layout.ts';

/** The attribute's value on each node after the change (or as it is, without `value`), as text: one java launch for all of them. */
export async function mbeanAttribute(nodes: NodeNumber[], bean: string, attribute: string, value?: string): Promise<string[]> {
  if (nodes.length === 0) return [];
  const ports = nodes.map((n) => localNode(n).jmxPort).join(',');
  const args = [join(import.meta.dirname, 'jmx', 'MBeanAttribute.java'), ports, bean, attribute, ...(value === undefined ? [] : [value])];
  const { stdout } = await promisify(execFile)('java', args, { encoding: 'utf8' });
  return stdout.trim().split('\n');
}
