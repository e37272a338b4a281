// One attribute of a node's MBean, read or set over its local JMX port (jmx/MBeanAttribute.java).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { localNode, type NodeNumber } from './layout.ts';

/** The attribute's value after the change (or as it is, without `value`), as text. */
export function mbeanAttribute(n: NodeNumber, bean: string, attribute: string, value?: string): string {
  const args = [join(import.meta.dirname, 'jmx', 'MBeanAttribute.java'), String(localNode(n).jmxPort), bean, attribute, ...(value === undefined ? [] : [value])];
  return execFileSync('java', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}
