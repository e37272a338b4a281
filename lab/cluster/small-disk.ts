// A node's data directory on a small filesystem of its own: the 2025-03-31 outage's
// full disk, for real, in minutes rather than three weeks.
//
// giveSmallDisk(n) stops node n, makes an ext4 filesystem in a sparse image file,
// mounts it (a loop device) beside the node's data directory, copies the data onto it
// and points the node's data_file_directories there. A filler file next to the data
// takes all of the filesystem but `roomMebibytes`: the disk's other tenants (a heap
// dump, old logs, anything that is not Cassandra's). Its guardrail counts as the
// disk's size its data and the free space, and its `data_disk_usage_max_disk_size`
// says the same (its data when it moved and the room), as an operator sets it where
// the data shares its disk, so that the guardrail and the sidecar's disk alerts
// measure one disk. The node flushes its memtables every megabyte or so (a small
// memtable space), so that its load climbs in steps the lab's minutes can see, and
// starts again. Session traffic then fills the room.
//
// takeBackSmallDisk() reverses it: the node is killed (a node whose disk filled does
// not stop cleanly) and starts again on its own directory, which still holds its data
// as it was before the fault; the filesystem is unmounted and its loop device
// detached, the image deleted. What the node wrote onto the full disk is dropped, not
// copied back: a flush cut short by ENOSPC can leave files that stop Cassandra from
// starting, and the lab's later tests need the node whole. Its replicas hold those
// writes (LOCAL_QUORUM), and read repair and hints bring it up to date, as after any
// node that was down for a few minutes. restore() and down() call it, so a test or demo
// that fails half way, or a killed one followed by `npm run cluster -- down`, leaves no
// mount and no loop device behind. Needs root (mount, losetup).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { localNode, paths, type NodeNumber, type NodePlace } from './layout.ts';

/** What the node's cassandra.yaml says while it lives on a small disk (node-files.ts reads it). */
export interface SmallDiskSettings {
  node: NodeNumber;
  /** Its data_file_directories entry, on the small disk. */
  dataDirectory: string;
  /** data_disk_usage_max_disk_size: the node's data when it moved, and the room left. */
  maxDiskMebibytes: number;
  /** memtable_heap_space: small, so that the load climbs in small steps. */
  memtableMebibytes: number;
}

const record = join(paths.cluster, 'small-disk.json');
const image = (node: NodePlace): string => join(paths.cluster, `node${node.number}-small-disk.img`);
const mountPoint = (node: NodePlace): string => join(node.dir, 'small-disk');
const mebibyte = 1024 * 1024;

/** The node on a small disk now, if any. */
export function smallDisk(): SmallDiskSettings | null {
  return existsSync(record) ? JSON.parse(readFileSync(record, 'utf8')) as SmallDiskSettings : null;
}

function run(command: string, args: string[]): string {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.error) throw new Error(`${command} is needed for the small-disk fault (it runs as root): ${result.error.message}`);
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')}: ${result.stderr.trim() || `exit ${result.status}`}`);
  return result.stdout;
}

const bytesIn = (dir: string): number => Number(run('du', ['-sb', dir]).split('\t')[0]);

/** What node n holds in its data directory now, in bytes. */
export const dataBytes = (n: NodeNumber): number => bytesIn(join(localNode(n).dir, 'data'));
const isMountPoint = (dir: string): boolean => spawnSync('mountpoint', ['-q', dir]).status === 0;

export interface SmallDiskOptions {
  /** Free space left for the node's growth after the filler. */
  roomMebibytes: number;
}

/**
 * Moves a stopped node's data onto a small filesystem of its own (see the header);
 * returns what its cassandra.yaml will say. The caller starts the node.
 */
export function moveToSmallDisk(n: NodeNumber, { roomMebibytes }: SmallDiskOptions): SmallDiskSettings {
  const current = smallDisk();
  if (current !== null) throw new Error(`node ${current.node} is on a small disk already`);
  const node = localNode(n);
  const data = join(node.dir, 'data');
  const used = bytesIn(data);
  // Room for the data, ext4's own, the filler's few megabytes and the room itself.
  const sizeMebibytes = Math.ceil(used / mebibyte) + roomMebibytes + 64;
  const file = image(node);
  const disk = mountPoint(node);
  run('truncate', ['-s', `${sizeMebibytes}M`, file]);
  run('mkfs.ext4', ['-q', '-F', '-m', '0', '-L', `lab-node${n}`, file]);
  mkdirSync(disk, { recursive: true });
  const settings: SmallDiskSettings = {
    node: n, dataDirectory: join(disk, 'data'), maxDiskMebibytes: Math.floor(used / mebibyte) + roomMebibytes, memtableMebibytes: 2,
  };
  // Recorded before the mount, so that a failure from here on is taken back.
  writeFileSync(record, JSON.stringify(settings));
  run('mount', ['-o', 'loop', file, disk]);
  run('cp', ['-a', data, settings.dataDirectory]);
  const { bavail, bsize } = statfsSync(disk);
  const fillerBytes = bavail * bsize - roomMebibytes * mebibyte;
  if (fillerBytes > 0) run('fallocate', ['-l', String(fillerBytes), join(disk, 'filler')]);
  return settings;
}

/** Unmounts the small disk and detaches its loop device (-d); while what held its files is still exiting, for up to 10 s. */
function unmount(disk: string): void {
  for (const deadline = Date.now() + 10_000; ;) {
    const result = spawnSync('umount', ['-d', disk], { encoding: 'utf8' });
    if (result.status === 0) return;
    const said = result.error ? result.error.message : result.stderr.trim() || `exit ${result.status}`;
    if (!said.includes('busy') || Date.now() > deadline) {
      const holders = spawnSync('fuser', ['-vm', disk], { encoding: 'utf8' });
      throw new Error(`umount -d ${disk}: ${said} ${holders.error ? '' : holders.stderr.trim()}\n` +
        'Stop what holds it, then `npm run cluster -- down` takes the small disk back.');
    }
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 250);
  }
}

/**
 * Returns the node to its own data directory, as it was before the fault, and removes
 * the small disk; the node must be stopped. Safe to call when no node is on a small disk.
 */
export function leaveSmallDisk(): void {
  const settings = smallDisk();
  if (settings === null) return;
  const node = localNode(settings.node);
  const disk = mountPoint(node);
  if (isMountPoint(disk)) unmount(disk);
  rmSync(disk, { recursive: true, force: true });
  rmSync(image(node), { force: true });
  rmSync(record, { force: true });
}
