// Ansible INI inventories (the `all-in-one` / `multinode` files kolla-ansible operators already
// have). No npm package parses this dialect faithfully, and we want every error to say file:line.
import { InputError } from './errors.js';
import { isHostAddress, isInventoryHostName, isIpAddress, isPortText, limits, parseDockerHost, patterns, shown } from './values.js';
import { didYouMean, fileTooBig, readOperatorFile } from './yaml-file.js';

export interface InventoryHost {
  name: string;
  /** Variables given on the host's own lines (all of them merged, later lines win). */
  vars: Record<string, string>;
  /** Line of the host's first appearance. */
  line: number;
}

export interface InventoryGroup {
  name: string;
  /** Hosts listed directly under [name], in order. */
  hosts: string[];
  /** Groups listed under [name:children], in order. */
  children: string[];
  /** From [name:vars]. */
  vars: Record<string, string>;
  /** Line of the group's first section; 0 for a group that exists without one (all, ungrouped, top-level groups, defaults). */
  line: number;
  /** The inventory does not define it: its children are berth's default (kolla-ansible's multinode layout). */
  isDefault?: true;
}

export interface Inventory {
  path: string;
  hosts: Map<string, InventoryHost>;
  groups: Map<string, InventoryGroup>;
}

export interface InventoryOptions {
  /** Group names that may hold hosts directly besides the top-level ones (e.g. per-service groups from the catalog). */
  knownGroups?: readonly string[];
  /**
   * Groups with the children they get when the inventory does not define them (the catalog's
   * per-service groups: `nova-compute` → compute). They may hold hosts directly too.
   */
  defaultGroups?: Readonly<Record<string, readonly string[]>>;
}

/** The groups berth places services on. They always exist, possibly empty, so `[mariadb:children]\nstorage` works in an inventory without [storage]. */
export const topLevelGroups = ['control', 'network', 'compute', 'storage', 'monitoring', 'deployment', 'baremetal'] as const;

/** Groups of kolla-ansible's multinode layout that are no service's, with their default children. */
export const layoutGroups: Readonly<Record<string, readonly string[]>> = { loadbalancer: ['network'] };

export function loadInventory(path: string, opts: InventoryOptions = {}): Inventory {
  return parseInventory(path, readOperatorFile(path, 'the inventory'), opts);
}

/**
 * The host variables berth reads, and what each must look like. They reach ssh, Docker and shell
 * commands (ansible_host and tunnel_address are in CMD-SHELL healthchecks), so each is checked on
 * the line that sets it; other variables are Ansible's business and pass through unchecked.
 */
const checkedVars: Record<string, { valid: (v: string) => boolean; what: string; hint: string }> = {
  ansible_host: { valid: isHostAddress, what: 'must be an IP address or a DNS host name', hint: 'write ansible_host=192.0.2.11 or ansible_host=node1.example.com' },
  tunnel_address: { valid: isIpAddress, what: 'must be an IP address', hint: 'write the IP address of the host on the tunnel network, e.g. tunnel_address=10.0.1.11' },
  ansible_port: { valid: isPortText, what: 'must be a port number (1-65535)', hint: 'write e.g. ansible_port=22' },
  ansible_user: { valid: (v) => patterns.userName.test(v), what: 'must be a user name', hint: 'user names are up to 32 letters, digits, _, . and -, not starting with a digit, . or -' },
  ansible_ssh_user: { valid: (v) => patterns.userName.test(v), what: 'must be a user name', hint: 'user names are up to 32 letters, digits, _, . and -, not starting with a digit, . or -' },
  ansible_connection: { valid: (v) => patterns.connection.test(v), what: 'must be a connection plugin name', hint: 'berth supports ansible_connection=local or ansible_connection=ssh' },
  ansible_become: { valid: (v) => patterns.booleanWord.test(v), what: 'must be yes or no', hint: 'write yes/no or true/false' },
  // Docker's own remote API instead of SSH (DOCKER_HOST's form), with its client TLS files.
  berth_docker_host: { valid: (v) => parseDockerHost(v) !== undefined, what: 'must be tcp://ADDRESS:PORT', hint: 'write e.g. berth_docker_host=tcp://192.0.2.11:2376, as DOCKER_HOST is written' },
  berth_docker_tls_dir: {
    valid: (v) => v.length <= limits.pathChars && patterns.path.test(v),
    what: 'must be a directory path',
    hint: 'the directory of Docker\'s client files ca.pem, cert.pem and key.pem (DOCKER_CERT_PATH); paths are letters, digits and _ . / ~ + @ % , : = -',
  },
  // Per-host (or [group:vars]) interfaces, overriding globals.yml for those hosts.
  ...Object.fromEntries(
    ['network_interface', 'api_interface', 'tunnel_interface', 'neutron_external_interface', 'dns_interface'].map((key) => [
      key,
      { valid: (v: string) => patterns.interfaceName.test(v), what: 'must be a network interface name', hint: 'write the name as `ip link` shows it on that host, e.g. eth1' },
    ]),
  ),
  ansible_ssh_private_key_file: {
    valid: (v) => v.length <= limits.pathChars && patterns.path.test(v),
    what: 'must be a file path',
    hint: 'paths are letters, digits and _ . / ~ + @ % , : = - (no spaces or shell characters)',
  },
};

type SectionKind = 'hosts' | 'children' | 'vars';

type Fail = (line: number, message: string, hint?: string) => never;

// What the parser learnt about where things were written, for errors raised after the whole file is read.
interface Sources {
  childLines: Map<string, Map<string, number>>;
  hostLines: Map<string, Map<string, number>>;
  hostSectionLines: Map<string, number>;
  varsLines: Map<string, number>;
  /** [g:vars] may come before [g]: kept aside and attached once the file is read. */
  groupVars: Map<string, Record<string, string>>;
}

export function parseInventory(path: string, text: string, opts: InventoryOptions = {}): Inventory {
  const inv: Inventory = { path, hosts: new Map(), groups: new Map() };
  const src: Sources = { childLines: new Map(), hostLines: new Map(), hostSectionLines: new Map(), varsLines: new Map(), groupVars: new Map() };
  const ansibleHostLine = new Map<string, number>();
  for (const name of ['all', 'ungrouped', ...topLevelGroups]) inv.groups.set(name, emptyGroup(name, 0));

  const fail: Fail = (line, message, hint) => {
    throw new InputError(`${path}:${line}: ${message}`, hint);
  };
  // The value is not printed: the line is named, and a value of the wrong key may be a secret.
  const checkVar = (line: number, scope: string, key: string, value: string): void => {
    const check = checkedVars[key];
    if (check && !check.valid(value)) fail(line, `${scope}: ${key}: ${check.what}`, check.hint);
  };

  if (Buffer.byteLength(text) > limits.fileBytes) throw fileTooBig(path);
  const lines = text.split(/\r?\n/);
  if (lines.length > limits.inventoryLines) {
    fail(limits.inventoryLines + 1, `more than ${limits.inventoryLines} lines`, 'check that this is the right file');
  }

  // Hosts before any section are "ungrouped", as in Ansible.
  let group = 'ungrouped';
  let kind: SectionKind = 'hosts';
  for (const [i, raw] of lines.entries()) {
    const line = i + 1;
    if (raw.length > limits.inventoryLineChars) {
      fail(line, `line is longer than ${limits.inventoryLineChars} characters`, 'split the host variables over [group:vars] sections');
    }
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#') || trimmed.startsWith(';')) continue;

    if (trimmed.startsWith('[')) {
      const m = /^\[([^\]]*)\]\s*(?:[#;].*)?$/.exec(trimmed);
      if (!m) fail(line, `malformed section header "${shown(trimmed)}"`, 'write it as [group], [group:children] or [group:vars]');
      const [name, suffix, extra] = m[1]!.trim().split(':');
      if (extra !== undefined || (suffix !== undefined && suffix !== 'children' && suffix !== 'vars')) {
        fail(line, `malformed section header "${shown(trimmed)}"`, 'the only section kinds are [group], [group:children] and [group:vars]');
      }
      checkGroupName(name!, line, fail);
      group = name!;
      kind = suffix === 'children' ? 'children' : suffix === 'vars' ? 'vars' : 'hosts';
      if (kind === 'vars') {
        if (!src.varsLines.has(group)) src.varsLines.set(group, line);
        if (!src.groupVars.has(group)) src.groupVars.set(group, {});
        continue;
      }
      if (!inv.groups.has(group)) inv.groups.set(group, emptyGroup(group, line));
      const g = inv.groups.get(group)!;
      if (g.line === 0) g.line = line;
      if (kind === 'hosts' && !src.hostSectionLines.has(group)) src.hostSectionLines.set(group, line);
      continue;
    }

    if (kind === 'children') {
      const child = stripInlineComment(trimmed);
      if (/\s/.test(child)) fail(line, `a [${group}:children] line must hold one group name, found "${shown(child)}"`);
      checkGroupName(child, line, fail);
      const lines = src.childLines.get(group) ?? new Map<string, number>();
      src.childLines.set(group, lines);
      if (!lines.has(child)) {
        lines.set(child, line);
        inv.groups.get(group)!.children.push(child);
      }
      continue;
    }

    if (kind === 'vars') {
      const eq = trimmed.indexOf('=');
      const key = eq < 0 ? '' : trimmed.slice(0, eq).trim();
      if (!patterns.variableName.test(key)) {
        fail(line, `a [${group}:vars] line must be key=value`, 'variable names are up to 128 letters, digits and _');
      }
      const value = unquote(stripInlineComment(trimmed.slice(eq + 1).trim()), line, fail);
      checkVar(line, `[${group}:vars]`, key, value);
      src.groupVars.get(group)![key] = value;
      continue;
    }

    // A host line: a name or range, then key=value host variables.
    const words = shellWords(raw, line, fail);
    if (words.length === 0) continue;
    const [pattern, ...assignments] = words;
    // `name:port`, but not an IPv6 address; the colons inside a range's brackets do not count.
    const portMatch = /^(.*[^:]):(\d+)$/.exec(pattern!);
    let namePattern = pattern!;
    let linePort: string | undefined;
    if (portMatch && !portMatch[1]!.replace(/\[[^\]]*\]/g, '').includes(':')) {
      namePattern = portMatch[1]!;
      linePort = portMatch[2]!;
    }
    const scope = `host "${shown(namePattern)}"`;
    const vars: Record<string, string> = {};
    for (const [n, word] of assignments.entries()) {
      const eq = word.indexOf('=');
      // The word itself is not printed: it may be half of `ansible_password secret`.
      if (eq <= 0) fail(line, `host variables must be key=value; word ${n + 2} on this line has no "="`);
      const key = word.slice(0, eq);
      if (!patterns.variableName.test(key)) {
        fail(line, `host variables must be key=value; word ${n + 2} on this line has no valid variable name before "="`, 'variable names are up to 128 letters, digits and _');
      }
      checkVar(line, scope, key, word.slice(eq + 1));
      vars[key] = word.slice(eq + 1);
    }
    if (linePort !== undefined && vars.ansible_port === undefined) {
      checkVar(line, scope, 'ansible_port', linePort);
      vars.ansible_port = linePort;
    }
    const g = inv.groups.get(group)!;
    const listed = src.hostLines.get(group) ?? new Map<string, number>();
    src.hostLines.set(group, listed);
    for (const name of expandHostPattern(namePattern, line, fail)) {
      if (!isInventoryHostName(name)) {
        fail(line, `"${shown(name)}" is not a valid host name`, 'host names are up to 253 letters, digits, _, . and -, starting with a letter, digit or _, or an IP address');
      }
      const first = listed.get(name);
      if (first !== undefined) fail(line, `duplicate host "${name}" in [${group}] (already listed at line ${first})`, 'list each host once per group');
      listed.set(name, line);
      g.hosts.push(name);
      const host = inv.hosts.get(name) ?? { name, vars: {}, line };
      inv.hosts.set(name, host);
      if (inv.hosts.size > limits.inventoryHosts) fail(line, `more than ${limits.inventoryHosts} hosts`, 'check the host ranges on this line');
      if (vars.ansible_host !== undefined) {
        const previous = host.vars.ansible_host;
        if (previous !== undefined && previous !== vars.ansible_host) {
          const at = ansibleHostLine.get(name);
          fail(line, `host "${name}" has ansible_host=${vars.ansible_host} here but ansible_host=${previous} at line ${at}`, 'give each host one address');
        }
        ansibleHostLine.set(name, line);
      }
      Object.assign(host.vars, vars);
    }
  }

  // Groups the file does not define get berth's default children, before :vars attach and cycles are looked for.
  const defaults = { ...layoutGroups, ...(opts.defaultGroups ?? {}) };
  for (const [name, children] of Object.entries(defaults)) {
    if (!inv.groups.has(name)) inv.groups.set(name, { ...emptyGroup(name, 0), children: [...children], isDefault: true });
  }
  validate(inv, src, new Set([...topLevelGroups, ...(opts.knownGroups ?? []), ...Object.keys(defaults)]), fail);
  return inv;
}

function validate(inv: Inventory, src: Sources, known: Set<string>, fail: Fail): void {
  const defined = [...inv.groups.keys()].filter((g) => !inv.groups.get(g)!.isDefault);

  // A :children entry must name a group that exists, or the hosts meant for it are silently lost.
  for (const [parent, lines] of src.childLines) {
    for (const [child, line] of lines) {
      if (inv.groups.has(child)) continue;
      const suggestion = didYouMean(child, defined);
      fail(
        line,
        `[${parent}:children] lists "${child}", a group that is not defined${suggestion ? `; did you mean "${suggestion}"?` : ''}`,
        `correct the name, or define [${child}] with its hosts`,
      );
    }
  }

  // Rule: a group may hold hosts directly only if berth knows it (a top-level group, or one the caller
  // names) or the inventory wires it into the tree as another group's child. Anything else is almost
  // always a typo like [contrl], which would otherwise leave its hosts out of every service.
  const isChild = new Set([...src.childLines.values()].flatMap((lines) => [...lines.keys()]));
  for (const [name, line] of src.hostSectionLines) {
    const g = inv.groups.get(name)!;
    if (g.hosts.length === 0 || name === 'all' || name === 'ungrouped' || known.has(name) || isChild.has(name)) continue;
    const suggestion = didYouMean(name, [...known]);
    fail(
      line,
      `unknown group [${name}] holds hosts, but no service runs on it${suggestion ? `; did you mean [${suggestion}]?` : ''}`,
      `use one of ${topLevelGroups.join(', ')}, or add it to one with [<group>:children]`,
    );
  }

  for (const [name, vars] of src.groupVars) {
    const g = inv.groups.get(name);
    if (!g) {
      const suggestion = didYouMean(name, defined);
      fail(
        src.varsLines.get(name)!,
        `[${name}:vars] is for a group that is not defined${suggestion ? `; did you mean "${suggestion}"?` : ''}`,
        `correct the name, or define [${name}]`,
      );
    }
    Object.assign(g.vars, vars);
  }

  // Depth-first with a path stack: the edge that reaches a group already on the stack closes a cycle.
  // With berth's default groups in it, the cycle is reported at an edge the file wrote.
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, stack: string[]): void => {
    if (state.get(name) === 'done') return;
    state.set(name, 'visiting');
    for (const child of inv.groups.get(name)!.children) {
      if (state.get(child) === 'visiting') {
        const path = [...stack.slice(stack.indexOf(child)), name, child];
        const edges = path.slice(0, -1).map((parent, i) => ({ parent, child: path[i + 1]!, line: src.childLines.get(parent)?.get(path[i + 1]!) }));
        // The edge that closes the cycle if the file wrote it, else the nearest one it wrote.
        const written = [...edges].reverse().find((e) => e.line !== undefined) ?? edges[0]!;
        const implied = edges.filter((e) => e.line === undefined).map((e) => `[${e.parent}:children] ${e.child}`);
        fail(
          written.line ?? 0,
          `[${written.parent}:children] makes a cycle: ${path.join(' → ')}${implied.length ? ` (berth's default ${implied.join(', ')}, since the inventory does not define ${implied.length > 1 ? 'those groups' : 'that group'})` : ''}`,
          'a group cannot contain itself; remove one of these entries, or define the default group yourself',
        );
      }
      visit(child, [...stack, name]);
    }
    state.set(name, 'done');
  };
  for (const name of inv.groups.keys()) visit(name, []);
}

function emptyGroup(name: string, line: number): InventoryGroup {
  return { name, hosts: [], children: [], vars: {}, line };
}

function checkGroupName(name: string, line: number, fail: Fail): void {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(name)) {
    fail(line, `"${shown(name)}" is not a valid group name`, 'group names are up to 128 letters, digits, _, . and -');
  }
}

function stripInlineComment(s: string): string {
  return s.replace(/\s+[#;].*$/, '').trim();
}

function unquote(value: string, line: number, fail: Fail): string {
  const q = value[0];
  if (q === '"' || q === "'") {
    if (value.length < 2 || value[value.length - 1] !== q) fail(line, 'unterminated quote');
    return value.slice(1, -1);
  }
  return value;
}

/** Splits a host line like POSIX shlex with comments: quotes group, `#` at a word start ends the line. */
function shellWords(raw: string, line: number, fail: Fail): string[] {
  const words: string[] = [];
  let word: string | null = null;
  let quote: string | null = null;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (quote) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"' && i + 1 < raw.length) word += raw[++i]!;
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      word ??= '';
    } else if (/\s/.test(c)) {
      if (word !== null) words.push(word);
      word = null;
    } else if (c === '#' && word === null) {
      break;
    } else if (c === '\\' && i + 1 < raw.length) {
      word = (word ?? '') + raw[++i]!;
    } else {
      word = (word ?? '') + c;
    }
  }
  if (quote) fail(line, 'unterminated quote');
  if (word !== null) words.push(word);
  return words;
}

/** `node[01:03]` → node01 node02 node03; `node[a:c]`; `[start:end:stride]`; several ranges multiply. */
function expandHostPattern(pattern: string, line: number, fail: Fail): string[] {
  const open = pattern.indexOf('[');
  if (open < 0) {
    if (pattern.includes(']') || pattern.includes('=')) fail(line, `"${shown(pattern)}" is not a valid host name`);
    return [pattern];
  }
  const m = /^([^[\]]*)\[([A-Za-z0-9]*):([A-Za-z0-9]+)(?::(\d+))?\](.*)$/.exec(pattern);
  if (!m) fail(line, `malformed host range in "${shown(pattern)}"`, 'write ranges as name[01:10] or name[a:f]');
  const [, prefix, begin, end, strideText, rest] = m;
  const stride = strideText === undefined ? 1 : Number(strideText);
  if (stride < 1) fail(line, `host range "${shown(pattern)}" needs a stride of at least 1`);
  const items: string[] = [];
  if (/^\d*$/.test(begin!) && /^\d+$/.test(end!)) {
    const from = begin === '' ? 0 : Number(begin);
    const to = Number(end);
    // Ansible's rule: a zero-padded start fixes the width, and the end must have that width too.
    const width = begin!.length > 1 && begin!.startsWith('0') ? begin!.length : 0;
    if (width && end!.length !== width) fail(line, `host range "${shown(pattern)}": ${begin} and ${end} must have the same number of digits`);
    if (from > to) fail(line, `host range "${shown(pattern)}" runs backwards`);
    // Counted before expanding: node[1:99999999] would otherwise fill memory.
    if (Math.floor((to - from) / stride) + 1 > limits.inventoryHosts) tooManyHosts(pattern, line, fail);
    for (let n = from; n <= to; n += stride) items.push(String(n).padStart(width, '0'));
  } else if (/^[a-z]$/.test(begin!) === /^[a-z]$/.test(end!) && /^[A-Za-z]$/.test(begin!) && /^[A-Za-z]$/.test(end!)) {
    const from = begin!.charCodeAt(0);
    const to = end!.charCodeAt(0);
    if (from > to) fail(line, `host range "${shown(pattern)}" runs backwards`);
    for (let c = from; c <= to; c += stride) items.push(String.fromCharCode(c));
  } else {
    fail(line, `malformed host range in "${shown(pattern)}"`, 'a range is numbers (name[01:10]) or single letters of one case (name[a:f])');
  }
  const tails = expandHostPattern(rest!, line, fail);
  if (items.length * tails.length > limits.inventoryHosts) tooManyHosts(pattern, line, fail);
  return items.flatMap((item) => tails.map((tail) => `${prefix}${item}${tail}`));
}

function tooManyHosts(pattern: string, line: number, fail: Fail): never {
  return fail(line, `host range "${shown(pattern)}" makes more than ${limits.inventoryHosts} hosts`, 'check the range bounds');
}

/** Hosts of a group with its :children, in Ansible's order (own hosts, then children breadth first), deduplicated. */
export function hostsOf(inv: Inventory, group: string): string[] {
  if (group === 'all') return [...inv.hosts.keys()];
  const start = inv.groups.get(group);
  if (!start) return [];
  const seenGroups = new Set<string>([group]);
  const order: InventoryGroup[] = [start];
  for (let i = 0; i < order.length; i++) {
    for (const child of order[i]!.children) {
      if (seenGroups.has(child)) continue;
      seenGroups.add(child);
      const g = inv.groups.get(child);
      if (g) order.push(g);
    }
  }
  return [...new Set(order.flatMap((g) => g.hosts))];
}

/**
 * Ansible's --limit pattern: host or group names separated by commas or colons; `all` (or `*`)
 * for every host; a leading `!` excludes a host or group. Returns the hosts it selects.
 */
export function resolveLimit(inv: Inventory, pattern: string): Set<string> {
  const words = pattern.split(/[,:]/).map((w) => w.trim()).filter((w) => w !== '');
  if (!words.length) throw new InputError('--limit is empty', 'write host or group names of the inventory, separated by commas, e.g. --limit compute,ctl01');
  const names = [...inv.hosts.keys(), ...inv.groups.keys()];
  const expand = (word: string): string[] => {
    if (word === 'all' || word === '*') return [...inv.hosts.keys()];
    if (inv.groups.has(word)) return hostsOf(inv, word);
    if (inv.hosts.has(word)) return [word];
    const suggestion = didYouMean(word, names);
    throw new InputError(
      `--limit: "${shown(word)}" is neither a host nor a group of ${inv.path}${suggestion ? `; did you mean "${suggestion}"?` : ''}`,
      'write host or group names of the inventory, separated by commas or colons (a leading ! excludes one)',
    );
  };
  const included = words.filter((w) => !w.startsWith('!'));
  const selected = new Set((included.length ? included : ['all']).flatMap(expand));
  for (const w of words.filter((x) => x.startsWith('!'))) for (const h of expand(w.slice(1))) selected.delete(h);
  return selected;
}

/** The groups a host belongs to, directly or through :children (without `all`). */
export function groupsOf(inv: Inventory, host: string): string[] {
  return [...inv.groups.keys()].filter((g) => g !== 'all' && hostsOf(inv, g).includes(host));
}

/**
 * A host's variables as Ansible resolves them (approximately): [all:vars] < groups by depth (a
 * parent before its children; same depth by name) < the host's own variables.
 */
export function hostVars(inv: Inventory, host: string): Record<string, string> {
  const h = inv.hosts.get(host);
  if (!h) return {};
  const depth = groupDepths(inv);
  const groups = groupsOf(inv, host).sort((a, b) => depth.get(a)! - depth.get(b)! || (a < b ? -1 : a > b ? 1 : 0));
  const merged: Record<string, string> = { ...inv.groups.get('all')!.vars };
  for (const g of groups) Object.assign(merged, inv.groups.get(g)!.vars);
  return Object.assign(merged, h.vars);
}

/** Longest distance from `all`: groups nobody lists as a child are 1, each level of :children adds 1. */
function groupDepths(inv: Inventory): Map<string, number> {
  const parents = new Map<string, string[]>();
  for (const g of inv.groups.values()) {
    for (const child of g.children) parents.set(child, [...(parents.get(child) ?? []), g.name]);
  }
  const depth = new Map<string, number>([['all', 0]]);
  const of = (name: string): number => {
    const known = depth.get(name);
    if (known !== undefined) return known;
    const ps = (parents.get(name) ?? []).filter((p) => p !== 'all');
    // Cycles were rejected at parse time, so this recursion ends.
    const d = ps.length === 0 ? 1 : 1 + Math.max(...ps.map(of));
    depth.set(name, d);
    return d;
  };
  for (const name of inv.groups.keys()) of(name);
  return depth;
}
