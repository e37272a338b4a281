// The image, run the way the kubelet runs the injected sidecar container: its security
// context and memory limit, translated from the container spec that inject writes, and
// its volumes mounted read-only where the spec mounts them.
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Cleanup } from '../cleanup.ts';
import { podman } from './podman.ts';

/** The parts of a Kubernetes container spec that decide how the runtime starts it. */
export interface ContainerSpec {
  args?: string[];
  resources?: { limits?: { memory?: string } };
  securityContext?: {
    readOnlyRootFilesystem?: boolean;
    allowPrivilegeEscalation?: boolean;
    capabilities?: { drop?: string[] };
    seccompProfile?: { type?: string };
  };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}

/** "160Mi" → "160m": podman's units are binary too. */
function memoryFlag(quantity: string): string {
  const found = /^(\d+)(Ki|Mi|Gi)$/.exec(quantity);
  if (!found) throw new Error(`memory limit ${quantity}: only Ki, Mi and Gi quantities are translated`);
  return `${found[1] ?? ''}${(found[2] ?? '').charAt(0).toLowerCase()}`;
}

/**
 * podman's flags for what the spec asks of the runtime, with the volumes' directories
 * prepared as the kubelet prepares them. Not translated: runAsUser and
 * runAsGroup (inject sets Kask's own IDs; the image's USER, 65532, stands in here, there
 * being no Kask image), and the pod's shared namespaces: the container shares the
 * machine's network (`--network host`: its loopback is the pod's, and podman adds no
 * bridge and no firewall rule), not Kask's processes.
 */
export function runFlags(spec: ContainerSpec, volumes: Record<string, string>): string[] {
  const security = spec.securityContext ?? {};
  const flags = ['--network', 'host'];
  // A read-only root, and no tmpfs of podman's own on /tmp, /run and /var/tmp: Kubernetes adds none.
  if (security.readOnlyRootFilesystem === true) flags.push('--read-only', '--read-only-tmpfs=false');
  if (security.allowPrivilegeEscalation === false) flags.push('--security-opt', 'no-new-privileges');
  for (const capability of security.capabilities?.drop ?? []) flags.push('--cap-drop', capability.toLowerCase());
  // RuntimeDefault is podman's default seccomp profile; anything else is not translated.
  if (security.seccompProfile?.type !== undefined && security.seccompProfile.type !== 'RuntimeDefault') throw new Error(`seccomp profile ${security.seccompProfile.type} is not translated`);
  const memory = spec.resources?.limits?.memory;
  if (memory !== undefined) flags.push('--memory', memoryFlag(memory));
  const mounts = (spec.volumeMounts ?? []).map((mount) => {
    const source = volumes[mount.name];
    if (source === undefined) throw new Error(`no directory given for the volume ${mount.name}`);
    return { ...mount, source };
  });
  for (const mount of mounts) {
    // A mount inside another (the Secrets inside the ConfigMap's directory): runc cannot make its mount point
    // in a read-only parent, so the kubelet makes it in the parent volume's own directory first (Kubernetes
    // 1.10, kubernetes/kubernetes#60342). So does this.
    const parent = mounts.filter((m) => mount.mountPath.startsWith(`${m.mountPath}/`)).sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
    if (parent) mkdirSync(join(parent.source, mount.mountPath.slice(parent.mountPath.length)), { recursive: true });
    flags.push('--volume', `${mount.source}:${mount.mountPath}${mount.readOnly === true ? ':ro' : ''}`);
  }
  return flags;
}

export interface RunningContainer {
  name: string;
  /** The process the container runs, as this machine sees it. */
  pid: number;
  /** Everything the container wrote to stdout and stderr so far. */
  logs(): Promise<string>;
  signal(signal: NodeJS.Signals): Promise<void>;
  /** Resolves with the exit code once the container has stopped. */
  exited(): Promise<number>;
  /** The files the container changed in its own root filesystem, as podman diff lists them. */
  changes(): Promise<string[]>;
}

/** Starts the image detached; the container is removed when `owner` tears down, whatever happened. */
export async function runContainer(owner: Cleanup, image: string, name: string, flags: string[], args: string[]): Promise<RunningContainer> {
  owner.teardown(() => podman(['rm', '--force', '--time', '0', name]).catch(() => undefined));
  await podman(['run', '--detach', '--name', name, ...flags, image, ...args]);
  const pid = Number((await podman(['inspect', '--format', '{{.State.Pid}}', name])).trim());
  let exit: Promise<number> | undefined;
  return {
    name,
    pid,
    logs: async () => podman(['logs', name]),
    signal: async (signal) => { await podman(['kill', '--signal', signal, name]); },
    exited: () => (exit ??= podman(['wait', name]).then((code) => Number(code.trim()))),
    changes: async () => (await podman(['diff', name])).split('\n').filter(Boolean),
  };
}

/** The memory limit the kernel enforces on a container's process (cgroup v1 or v2), in bytes. */
export function memoryLimitOf(pid: number): number {
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
  const v1 = lines.find((line) => /^\d+:(?:[^:]*,)?memory(?:,[^:]*)?:/.test(line))?.split(':')[2];
  const file = v1 === undefined
    ? `/sys/fs/cgroup${lines.find((line) => line.startsWith('0::'))?.slice(3) ?? ''}/memory.max`
    : `/sys/fs/cgroup/memory${v1}/memory.limit_in_bytes`;
  return Number(readFileSync(file, 'utf8').trim());
}
