// Which images each host needs, and where they come from: pure, from the plan and docker_registry.
// berth pull fetches what is missing; deploy and prechecks refuse a host that lacks one.
import { InputError } from '../config/errors.js';
import type { Plan } from './types.js';

/**
 * How hosts get images, from docker_registry:
 * - `none` (empty): images exist where they were built; berth pull streams them to remote hosts;
 * - `loopback` (127.0.0.0/8 or localhost, with a port): berth's registry on the deployment host,
 *   listening on its loopback only, reached by every other host through its SSH connection;
 * - `remote`: an operator's registry, which every host reaches itself.
 */
export type RegistryMode = { kind: 'none' } | { kind: 'loopback'; address: string; port: number } | { kind: 'remote'; address: string };

export function registryMode(registry: string): RegistryMode {
  if (!registry) return { kind: 'none' };
  const m = /^(localhost|127(?:\.\d{1,3}){3})(?::(\d{1,5}))?$/.exec(registry);
  if (!m) return { kind: 'remote', address: registry };
  const port = Number(m[2]);
  if (m[2] === undefined || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new InputError(
      `docker_registry "${registry}" is a loopback address without a port`,
      `write it with a port, e.g. ${m[1]}:4000: berth runs its registry there on the deployment host`,
    );
  }
  return { kind: 'loopback', address: m[1]!, port };
}

/**
 * The image references each host's planned containers and jobs use (host setup jobs included;
 * teardown jobs not: destroy skips one whose image is gone). Hosts in plan order, references sorted.
 */
export function imagesByHost(plan: Pick<Plan, 'services' | 'hosts'>, hosts: readonly string[] = plan.hosts): Map<string, string[]> {
  const out = new Map<string, Set<string>>(hosts.map((h) => [h, new Set<string>()]));
  for (const svc of plan.services) {
    for (const c of [...svc.containers, ...svc.jobs]) out.get(c.host)?.add(c.spec.image);
  }
  return new Map([...out].map(([h, refs]) => [h, [...refs].sort()]));
}

/** The references of `needed` that the host's image list (tag → id) does not have. */
export function missingImages(needed: readonly string[], tags: ReadonlyMap<string, string>): string[] {
  return needed.filter((ref) => !tags.has(ref) && !tags.has(`docker.io/${ref}`));
}

/**
 * One line per host lacking images: the host, the first missing reference (and how many more),
 * and what to run: berth pull for a remote host, berth build for one that is this machine.
 */
export function missingImageLines(missing: ReadonlyMap<string, readonly string[]>, localHosts: ReadonlySet<string>): string[] {
  const lines: string[] = [];
  for (const [host, refs] of missing) {
    if (!refs.length) continue;
    const more = refs.length > 1 ? ` and ${refs.length - 1} more` : '';
    const fix = localHosts.has(host) ? 'run berth build (this machine builds them)' : `run berth pull --limit ${host}`;
    lines.push(`${host}: image ${refs[0]}${more} not on the host; ${fix}`);
  }
  return lines;
}

/** The error deploy stops with, before any change, when a host lacks an image it needs (exit 2). */
export function missingImagesError(missing: ReadonlyMap<string, readonly string[]>, localHosts: ReadonlySet<string>): InputError | undefined {
  const lines = missingImageLines(missing, localHosts);
  if (!lines.length) return undefined;
  return new InputError(
    `${lines.length} host(s) lack images their containers need; nothing was changed:\n${lines.map((l) => `  ${l}`).join('\n')}`,
    'berth pull puts every planned image onto every host (from docker_registry, or streamed from this machine without one); then deploy again',
  );
}
