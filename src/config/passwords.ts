// passwords.yml: every secret of the deployment, in one 0600 file. No function here puts a value into
// an error, a warning or a return value other than loadPasswords' own result.
import { closeSync, existsSync, fsyncSync, openSync, renameSync, statSync, unlinkSync, writeSync, chmodSync } from 'node:fs';
import { randomBytes, randomInt } from 'node:crypto';
import { join } from 'node:path';
import { Document, isMap, isScalar, LineCounter, parseDocument, type Pair } from 'yaml';
import { InputError } from './errors.js';
import { limits, patterns, shown } from './values.js';
import { checkYamlText, readOperatorFile } from './yaml-file.js';

export interface SecretSpec {
  name: string;
  kind: 'password' | 'fernet';
}

export function passwordsPath(configDir: string): string {
  return join(configDir, 'passwords.yml');
}

/** Fernet keys as keystone reads them: URL-safe base64 of 32 bytes, padded. */
const FERNET_KEY = /^[A-Za-z0-9_-]{43}=$/;

/**
 * Every non-empty string value of passwords.yml; each of `requiredKeys` must be one, and each of
 * `fernetKeys` a Fernet key (keystone fails on every token with a malformed one).
 */
export function loadPasswords(configDir: string, requiredKeys: readonly string[], fernetKeys: readonly string[] = []): Record<string, string> {
  const path = passwordsPath(configDir);
  if (!existsSync(path)) throw new InputError(`${path}: not found`, 'run berth genpwd to generate it');
  const mode = statSync(path).mode & 0o777;
  if (mode & 0o077) {
    const octal = mode.toString(8).padStart(4, '0');
    throw new InputError(`${path}: readable by other users (mode ${octal}); it must be 0600`, `run chmod 600 ${path} (berth genpwd also fixes it)`);
  }
  const { doc, lines } = parse(path, readOperatorFile(path));
  const map = doc.contents;
  if (map !== null && !isMap(map) && !(isScalar(map) && map.value === null)) {
    throw new InputError(`${path}: must be a mapping of key: value lines`);
  }
  const at = (pair: Pair | undefined): string => {
    const offset = (pair?.key as { range?: [number, number, number] } | undefined)?.range?.[0];
    if (offset === undefined) return path;
    const pos = lines.linePos(offset);
    return `${path}:${pos.line}:${pos.col}`;
  };
  const result: Record<string, string> = {};
  const pairs = new Map<string, Pair>();
  for (const pair of isMap(map) ? map.items : []) {
    const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
    pairs.set(key, pair);
    const value = isScalar(pair.value) ? pair.value.value : undefined;
    if (typeof value !== 'string' || value === '') continue;
    checkSecret(at(pair), key, value);
    if (fernetKeys.includes(key) && !FERNET_KEY.test(value)) {
      throw new InputError(
        `${at(pair)}: ${key}: not a Fernet key (44 characters of URL-safe base64 encoding 32 bytes)`,
        'make one with: python3 -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())", or empty the value and run berth genpwd',
      );
    }
    result[key] = value;
  }
  for (const key of requiredKeys) {
    if (result[key] !== undefined) continue;
    const pair = pairs.get(key);
    if (!pair) throw new InputError(`${path}: ${key} is missing`, 'run berth genpwd to add it');
    const value = isScalar(pair.value) ? pair.value.value : pair.value;
    if (value === null || value === '') throw new InputError(`${at(pair)}: ${key} is empty`, 'run berth genpwd to fill it');
    // A number would have lost its leading zeros or been read as octal: ask for quotes rather than guess.
    throw new InputError(`${at(pair)}: ${key} is not a string`, 'quote the value');
  }
  return result;
}

/**
 * Creates passwords.yml or completes it: every key of `keys` that is missing and every empty value
 * gets a fresh secret. A value that is set is never changed; comments and order are kept.
 */
export function genpwd(configDir: string, keys: readonly SecretSpec[]): { added: string[]; warnings: string[] } {
  const path = passwordsPath(configDir);
  if (!existsSync(configDir)) throw new InputError(`${configDir}: no such directory`, 'run berth init first, or pass --config-dir');
  const warnings: string[] = [];
  const exists = existsSync(path);
  const doc = exists ? parse(path, readOperatorFile(path)).doc : newDocument();
  if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) doc.contents = doc.createNode({});
  const map = doc.contents;
  if (!isMap(map)) throw new InputError(`${path}: must be a mapping of key: value lines`);

  const kinds = new Map(keys.map((k) => [k.name, k.kind]));
  const added: string[] = [];
  const seen = new Set<string>();
  for (const pair of map.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
    seen.add(key);
    const empty = pair.value === null || (isScalar(pair.value) && (pair.value.value === null || pair.value.value === ''));
    if (!empty) continue;
    // Keys of an existing file we were not told about are passwords: kolla's genpwd does the same.
    const secret = generate(kinds.get(key) ?? 'password');
    if (isScalar(pair.value)) {
      // Replacing the value in its node keeps a trailing comment on the same line.
      pair.value.value = secret;
    } else {
      pair.value = doc.createNode(secret);
    }
    added.push(key);
  }
  for (const { name, kind } of keys) {
    if (seen.has(name)) continue;
    seen.add(name);
    map.add(doc.createPair(name, generate(kind)));
    added.push(name);
  }

  const mode = exists ? statSync(path).mode & 0o777 : 0o600;
  if (mode & 0o077) warnings.push(`${path} was readable by other users (mode ${mode.toString(8).padStart(4, '0')}); it is now 0600`);
  if (added.length > 0 || !exists) writeAtomically(path, doc.toString());
  else if (mode !== 0o600) chmodSync(path, 0o600);
  return { added, warnings };
}

/**
 * Secrets go into INI files, SQL and client.cnf: one line, bounded. The messages name the key and
 * never the value, not even its length.
 */
function checkSecret(where: string, key: string, value: string): void {
  if (!patterns.variableName.test(key)) {
    throw new InputError(`${where}: "${shown(key)}" is not a valid key`, 'keys are up to 128 letters, digits and _, like database_password');
  }
  const problem =
    value.length > limits.passwordChars
      ? `longer than ${limits.passwordChars} characters`
      : !patterns.oneLine.test(value)
        ? 'contains a control character (a newline, tab or NUL, for instance)'
        : value.trim() !== value
          ? 'starts or ends with whitespace, which INI files drop'
          : undefined;
  if (problem) throw new InputError(`${where}: ${key}: ${problem}`, `set a shorter single-line value, or empty it and run berth genpwd to generate one`);
}

const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

export function generatePassword(): string {
  let s = '';
  for (let i = 0; i < 40; i++) s += alphabet[randomInt(alphabet.length)];
  return s;
}

/** What Python's cryptography.fernet.Fernet.generate_key() returns: urlsafe base64 of 32 bytes, padded (44 chars). */
export function generateFernetKey(): string {
  return randomBytes(32).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

function generate(kind: SecretSpec['kind']): string {
  return kind === 'fernet' ? generateFernetKey() : generatePassword();
}

function newDocument(): Document {
  const doc = new Document({}, { version: '1.1' });
  doc.commentBefore = ' berth passwords: keep this file secret (mode 0600). berth genpwd fills empty values\n and never changes one that is set.';
  return doc;
}

function parse(path: string, text: string): { doc: Document; lines: LineCounter } {
  checkYamlText(path, text);
  const lines = new LineCounter();
  // YAML 1.1 like the other config files; when writing, the library then quotes any value 1.1 would misread.
  const doc = parseDocument(text, { lineCounter: lines, version: '1.1', prettyErrors: false, uniqueKeys: true });
  const error = doc.errors[0];
  if (error) {
    const pos = lines.linePos(error.pos[0]);
    // Only the parser's first line: later lines could quote the file's content.
    throw new InputError(`${path}:${pos.line}:${pos.col}: ${error.message.split('\n')[0] ?? 'invalid YAML'}`, 'fix the YAML syntax');
  }
  return { doc, lines };
}

/** A reader never sees a half-written file, and the secrets are never on disk with a looser mode. */
function writeAtomically(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    unlinkSync(tmp);
    throw err;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (err) {
    unlinkSync(tmp);
    throw err;
  }
}
