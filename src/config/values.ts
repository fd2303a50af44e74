// The shapes of the values berth reads from operator files. Many end up in shell commands (CMD-SHELL
// healthchecks, job scripts), file names, INI files or Docker arguments, so each is a type with a
// pattern and a length limit, checked where it is read; nothing downstream re-checks or quotes them.
import { isIP } from 'node:net';
import { z } from 'zod';
import { defaultRelease, findRelease, knownReleases } from './releases.js';

export const limits = {
  /** Any one operator file; real ones are a few kilobytes. */
  fileBytes: 1024 * 1024,
  inventoryLineChars: 4096,
  inventoryLines: 100_000,
  /** Hosts in an inventory, ranges expanded: a typo like node[1:99999999] must not exhaust memory. */
  inventoryHosts: 10_000,
  /** YAML flow nesting ([[[...) : the parser runs out of memory on a few hundred thousand levels. */
  yamlNesting: 64,
  passwordChars: 1024,
  pathChars: 4096,
} as const;

/** A value in an error message: keys and words from a file may be megabytes long. */
export function shown(s: string, max = 64): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/** IPv4 or IPv6, without a zone ID (`%eth0` takes any character after the %). */
export function isIpAddress(s: string): boolean {
  return s.length <= 45 && /^[0-9A-Fa-f:.]+$/.test(s) && isIP(s) !== 0;
}

const label = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const dnsPattern = new RegExp(`^${label}(?:\\.${label})*$`);

/** RFC 1123 host name. An all-digit last label is not a name (10.0.0.300 is a mistyped address). */
export function isDnsName(s: string): boolean {
  return s.length <= 253 && dnsPattern.test(s) && !/(?:^|\.)\d+$/.test(s);
}

export function isHostAddress(s: string): boolean {
  return isIpAddress(s) || isDnsName(s);
}

/** An Ansible inventory host name; no leading "-", which ssh and other tools would read as an option. */
export function isInventoryHostName(s: string): boolean {
  return (s.length <= 253 && /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(s)) || isIpAddress(s);
}

export function isPortText(s: string): boolean {
  return /^\d{1,5}$/.test(s) && Number(s) >= 1 && Number(s) <= 65535;
}

/** berth_docker_host: Docker's tcp://HOST:PORT (an IPv6 address in brackets); undefined when not that shape. */
export function parseDockerHost(s: string): { address: string; port: number } | undefined {
  const m = /^tcp:\/\/(\[[0-9A-Fa-f:.]+\]|[^:[\]/]+):(\d{1,5})\/?$/.exec(s);
  if (!m || s.length > 270 || !isPortText(m[2]!)) return undefined;
  const host = m[1]!.startsWith('[') ? m[1]!.slice(1, -1) : m[1]!;
  if (!(m[1]!.startsWith('[') ? isIpAddress(host) && host.includes(':') : isHostAddress(host))) return undefined;
  return { address: host, port: Number(m[2]) };
}

/** 127.0.0.0/8 or ::1: traffic that never leaves the machine. */
export function isLoopback(address: string): boolean {
  return isIP(address) === 4 ? address.startsWith('127.') : address === '::1' || address === 'localhost';
}

/** host[:port], what Docker accepts before the first "/" of an image reference; trailing slashes are dropped later. */
export function isRegistry(s: string): boolean {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[^:[\]/]+)(?::(\d{1,5}))?\/*$/.exec(s);
  if (!m || s.length > 255) return false;
  const host = m[1]!;
  const hostOk = host.startsWith('[') ? isIpAddress(host.slice(1, -1)) && host.includes(':') : isHostAddress(host);
  return hostOk && (m[2] === undefined || isPortText(m[2]));
}

// Patterns for names; each is also the character set that keeps a value inert in a shell command.
export const patterns = {
  interfaceName: /^[A-Za-z0-9_][A-Za-z0-9_.:@-]{0,14}$/,
  /** POSIX portable user names, as useradd takes them. */
  userName: /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/,
  /** Ansible connection plugins: ssh, local, community.docker.docker... */
  connection: /^[a-z][a-z0-9_.]{0,63}$/,
  booleanWord: /^(?:yes|no|true|false|on|off|y|n|1|0)$/i,
  /** A path written in a file; no spaces or shell metacharacters (a leading ~ is left to ssh). */
  path: /^[A-Za-z0-9_./~+@%,:=-]+$/,
  /** Ansible variable names. */
  variableName: /^[A-Za-z_][A-Za-z0-9_]{0,127}$/,
  release: /^[a-z0-9][a-z0-9.]*$/,
  imageTag: /^[\w][\w.-]*$/,
  imageNamespace: /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/,
  /** An absolute path of plain characters, and no ".." that would leave the intended directory. */
  absoluteDirectory: /^(?!.*(?:^|\/)\.\.(?:\/|$))\/[A-Za-z0-9_./-]*$/,
  regionName: /^[A-Za-z0-9][A-Za-z0-9_.-]*$/,
  keystoneName: /^[A-Za-z0-9_][A-Za-z0-9_.@-]*$/,
  debianSuite: /^[a-z][a-z0-9-]*$/,
  debianPackage: /^[a-z0-9][a-z0-9+.:=~-]*$/,
  /** http(s) or file mirrors as apt takes them, without query strings, credentials or shell metacharacters. */
  mirrorUrl: /^(?:https?:\/\/(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?(?:\/[A-Za-z0-9._~%+/-]*)?|file:\/\/\/[A-Za-z0-9._~%+/-]*)$/,
  imageReference: /^[A-Za-z0-9][A-Za-z0-9._/:@-]*$/,
  buildArgName: /^[A-Za-z_][A-Za-z0-9_]{0,127}$/,
  /** Printable text on one line: no control characters (newline, tab, NUL, escape...). */
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  oneLine: /^[^\x00-\x1f\x7f]*$/,
} as const;

/**
 * A string schema: the type, then the length (checked first, so a 2 MB value fails on its size
 * without the message echoing it), then the pattern. `what` reads after "expected"/"not".
 */
export function text(what: string, max: number, pattern?: RegExp, min = 1) {
  const base = z
    .string({ error: `expected ${what}` })
    .max(max, { error: (i) => `too long (${(i.input as string).length} characters; at most ${max})`, abort: true })
    .min(min, { error: `must not be empty`, abort: true });
  return pattern ? base.regex(pattern, `not ${what}`) : base;
}

/** openstack_release: a known release's name or codename, read as its canonical name. */
export const releaseField = z
  .preprocess(
    // An unquoted 2025.1 is a YAML number; "Epoxy" is as good as "epoxy".
    (v) => (typeof v === 'number' ? String(v) : typeof v === 'string' ? v.trim().toLowerCase() : v),
    text('a quoted release name such as "2025.1" or "zed"', 32, patterns.release),
  )
  .refine((v) => findRelease(v) !== undefined, { error: (i) => `unknown release "${String(i.input)}"; berth knows ${knownReleases()}` })
  .transform((v) => findRelease(v)!.name)
  .default(defaultRelease);

/** How images are named: keys globals.yml and build.yml share, one schema so both check and say the same. */
export const imageNamingFields = {
  // Unset: the release's name (kolla-ansible's openstack_tag: "{{ openstack_release }}").
  openstack_tag: text('a valid image tag (letters, digits, _ . -)', 128, patterns.imageTag).optional(),
  docker_registry: text('a registry host[:port]', 255, undefined, 0)
    .refine((s) => s === '' || isRegistry(s), 'not a registry host[:port] such as 192.0.2.10:4000 or quay.io')
    .default(''),
  docker_namespace: text('a valid image namespace', 255, patterns.imageNamespace).default('berth'),
};
