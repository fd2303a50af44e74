// berth's own known_hosts (<config-dir>/known_hosts), in OpenSSH's format so `ssh -o
// UserKnownHostsFile=...` and ssh-keygen -F read it too. berth writes plain (unhashed) entries: the
// inventory beside it names the same hosts, so hashing would hide nothing. It reads hashed ones
// (`|1|salt|hash`) too, for a file copied from ~/.ssh. Parsing and matching are pure; the file is
// read and appended to here, nowhere else.
import { createHash, createHmac } from 'node:crypto';
import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

export interface KnownHostEntry {
  /** 1-based line in the file, for messages. */
  line: number;
  /** Host patterns as written: `name`, `[name]:port`, wildcards, `!negations`, or one `|1|salt|hash`. */
  patterns: string[];
  /** Key type as written: ssh-ed25519, ecdsa-sha2-nistp256, ssh-rsa... */
  type: string;
  /** The public key blob (base64-decoded). */
  key: Buffer;
  /** @revoked or @cert-authority; such lines are never a match for a host key. */
  marker?: string;
}

/** OpenSSH's name for a host on a port: `addr` on 22, `[addr]:port` elsewhere. */
export function hostToken(address: string, port: number): string {
  return port === 22 ? address : `[${address}]:${port}`;
}

export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const fields = line.split(/\s+/);
    const marker = fields[0]!.startsWith('@') ? fields.shift() : undefined;
    const [hosts, type, key] = fields;
    if (!hosts || !type || !key || !/^[A-Za-z0-9+/]+={0,2}$/.test(key)) return; // not an entry OpenSSH would use either
    entries.push({ line: i + 1, patterns: hosts.split(','), type, key: Buffer.from(key, 'base64'), ...(marker ? { marker } : {}) });
  });
  return entries;
}

/** Whether an entry names the host (OpenSSH's rules: any positive pattern matches and no negated one does). */
export function entryMatches(entry: KnownHostEntry, token: string): boolean {
  let matched = false;
  for (const pattern of entry.patterns) {
    if (pattern.startsWith('|1|')) {
      const [, , salt, hash] = pattern.split('|');
      if (salt && hash && createHmac('sha1', Buffer.from(salt, 'base64')).update(token).digest('base64') === hash) matched = true;
    } else if (pattern.startsWith('!')) {
      if (globMatch(pattern.slice(1), token)) return false;
    } else if (globMatch(pattern, token)) {
      matched = true;
    }
  }
  return matched;
}

function globMatch(pattern: string, text: string): boolean {
  const re = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${re}$`, 'i').test(text);
}

/** The key type inside a public key blob (its first SSH string). */
export function keyType(blob: Buffer): string {
  if (blob.length < 4) return 'unknown';
  const n = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + n).toString('latin1');
}

/** `SHA256:<base64 without padding>`, as ssh-keygen -l and OpenSSH's messages print it. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

export type HostKeyVerdict =
  | { status: 'known'; entry: KnownHostEntry }
  | { status: 'unknown' }
  | { status: 'changed'; known: KnownHostEntry[] }
  | { status: 'revoked'; entry: KnownHostEntry };

/**
 * What the recorded keys say about the key a host presented. A host with recorded keys of which
 * none is this one has changed, whatever the type: berth asks for the recorded types first (see
 * hostKeyAlgorithms), so a host that still had the recorded key would have shown it.
 */
export function verifyHostKey(entries: KnownHostEntry[], token: string, presented: Buffer): HostKeyVerdict {
  const forHost = entries.filter((e) => entryMatches(e, token));
  const revoked = forHost.find((e) => e.marker === '@revoked' && e.key.equals(presented));
  if (revoked) return { status: 'revoked', entry: revoked };
  const plain = forHost.filter((e) => e.marker === undefined);
  const same = plain.find((e) => e.key.equals(presented));
  if (same) return { status: 'known', entry: same };
  return plain.length ? { status: 'changed', known: plain } : { status: 'unknown' };
}

/** The signature algorithms that let a host show a key of these recorded types, in ssh2's names. */
export function hostKeyAlgorithms(types: string[]): string[] {
  const all = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
  const wanted = new Set(types.flatMap((t) => (t === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [t])));
  // Recorded types first, the rest after them: a host that lost its recorded key still connects far
  // enough to be told apart (changed) from one that does not answer.
  return [...all.filter((a) => wanted.has(a)), ...all.filter((a) => !wanted.has(a))];
}

export function formatEntry(token: string, blob: Buffer): string {
  return `${token} ${keyType(blob)} ${blob.toString('base64')}`;
}

export function readKnownHosts(path: string): KnownHostEntry[] {
  return existsSync(path) ? parseKnownHosts(readFileSync(path, 'utf8')) : [];
}

/** Records a new host's key: one line appended (the file is made 0644, as OpenSSH's is). */
export function appendKnownHost(path: string, token: string, blob: Buffer): void {
  const text = existsSync(path) ? readFileSync(path, 'utf8') : '';
  appendFileSync(path, `${text && !text.endsWith('\n') ? '\n' : ''}${formatEntry(token, blob)}\n`, { mode: 0o644 });
}

/** Replaces every plain entry naming the host by this key (atomically: a temp file renamed). */
export function replaceKnownHost(path: string, token: string, blob: Buffer): void {
  const lines = existsSync(path) ? readFileSync(path, 'utf8').split('\n') : [];
  const drop = new Set(parseKnownHosts(lines.join('\n')).filter((e) => !e.marker && entryMatches(e, token)).map((e) => e.line));
  const kept = lines.filter((l, i) => !drop.has(i + 1) && !(i === lines.length - 1 && l === ''));
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, [...kept, formatEntry(token, blob)].join('\n') + '\n', { mode: 0o644 });
  renameSync(tmp, path);
}
