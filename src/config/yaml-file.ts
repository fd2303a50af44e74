// YAML files given by the operator: parsed with positions, so every error can say file:line:column.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { isMap, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { InputError } from './errors.js';
import { limits, shown } from './values.js';

export interface YamlFile {
  path: string;
  data: unknown;
  /** "file:line:col" of the value at `keyPath`, or of the nearest parent that exists. */
  where(keyPath: readonly PropertyKey[]): string;
}

export function readYamlFile(path: string): YamlFile {
  return parseYamlText(path, readOperatorFile(path));
}

/**
 * Every operator file is read through here: at most limits.fileBytes are read, so a wrong path
 * (a disk image, /dev/zero) is refused by name instead of filling memory.
 */
export function readOperatorFile(path: string, what = ''): string {
  const cannot = (err: unknown): InputError =>
    new InputError(`${path}: cannot read${what ? ` ${what}` : ''} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw cannot(err);
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new InputError(`${path}: not a regular file`, 'give the path of the file itself');
    if (stat.size > limits.fileBytes) throw fileTooBig(path);
    // Read one byte past the limit: the size from fstat may be stale or 0 (procfs).
    const buf = Buffer.alloc(limits.fileBytes + 1);
    let n = 0;
    for (let r = -1; r !== 0 && n < buf.length; n += r) r = readSync(fd, buf, n, buf.length - n, null);
    if (n > limits.fileBytes) throw fileTooBig(path);
    return buf.toString('utf8', 0, n);
  } catch (err) {
    throw err instanceof InputError ? err : cannot(err);
  } finally {
    closeSync(fd);
  }
}

export function fileTooBig(path: string): InputError {
  return new InputError(`${path}: larger than ${limits.fileBytes / 1024 / 1024} MiB, the most berth reads from one file`, 'check that this is the right file; configuration files are a few kilobytes');
}

/** Size and nesting limits for YAML text, also when it did not come from readOperatorFile. */
export function checkYamlText(path: string, text: string): void {
  if (Buffer.byteLength(text) > limits.fileBytes) throw fileTooBig(path);
  const deep = flowNestingOffset(text, limits.yamlNesting);
  if (deep !== undefined) {
    const line = text.slice(0, deep).split('\n').length;
    const col = deep - text.lastIndexOf('\n', deep - 1);
    throw new InputError(`${path}:${line}:${col}: [ or { nested more than ${limits.yamlNesting} levels deep`, 'berth files are flat key: value settings; simplify the value');
  }
}

/**
 * Where flow collections first nest deeper than `max`, skipping quoted scalars and comments; the
 * yaml parser itself runs out of memory on very deep nesting (a fatal error, not an exception).
 */
function flowNestingOffset(text: string, max: number): number | undefined {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    const prev = i === 0 ? '\n' : text[i - 1]!;
    if (c === '[' || c === '{') {
      if (++depth > max) return i;
    } else if (c === ']' || c === '}') {
      depth = Math.max(0, depth - 1);
    } else if (c === '#' && /\s/.test(prev)) {
      const end = text.indexOf('\n', i);
      i = end < 0 ? text.length : end;
    } else if ((c === '"' || c === "'") && /[\s[{,:]/.test(prev)) {
      // A quote only starts a quoted scalar at the start of a token.
      for (i++; i < text.length; i++) {
        if (c === '"' && text[i] === '\\') i++;
        else if (text[i] === c) break;
      }
    }
  }
  return undefined;
}

export function parseYamlText(path: string, text: string): YamlFile {
  checkYamlText(path, text);
  const lineCounter = new LineCounter();
  // YAML 1.1: operators' kolla-ansible files say `yes`/`no` and mean booleans.
  const doc = parseDocument(text, { lineCounter, version: '1.1', prettyErrors: false, uniqueKeys: true });
  const firstError = doc.errors[0];
  if (firstError) {
    const pos = lineCounter.linePos(firstError.pos[0]);
    const message = firstError.message.split('\n')[0] ?? 'invalid YAML';
    throw new InputError(`${path}:${pos.line}:${pos.col}: ${message}`, 'fix the YAML syntax');
  }
  const where = (keyPath: readonly PropertyKey[]): string => {
    const node = nearestNode(doc, keyPath.map(String), true);
    const offset = node?.range?.[0] ?? 0;
    const pos = lineCounter.linePos(offset);
    return `${path}:${pos.line}:${pos.col}`;
  };
  return { path, data: doc.toJS() ?? {}, where };
}

/** The node at keyPath (the key's node when `preferKey`), or the deepest parent that exists. */
function nearestNode(doc: Document, keyPath: string[], preferKey: boolean): Node | undefined {
  let node: unknown = doc.contents;
  let best = node as Node | undefined;
  for (const [i, key] of keyPath.entries()) {
    if (isMap(node)) {
      const pair = node.items.find((p) => String((p.key as { value?: unknown } | null)?.value ?? p.key) === key);
      if (!pair) return best;
      const last = i === keyPath.length - 1;
      best = (last && preferKey ? pair.key : pair.value) as Node | undefined;
      node = pair.value;
    } else if (isSeq(node)) {
      const item = node.items[Number(key)];
      if (item === undefined) return best;
      best = item as Node;
      node = item;
    } else {
      return best;
    }
  }
  return best;
}

/** Validates with a zod schema; the first problem becomes one actionable line. */
export function validateYaml<S extends z.ZodType>(
  file: YamlFile,
  schema: S,
  knownKeys?: readonly string[],
  /** What to write instead, by top-level key. */
  hints?: Readonly<Record<string, string>>,
): z.infer<S> {
  const result = schema.safeParse(file.data);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0]!;
    const at = file.where([...issue.path, key]);
    const suggestion = knownKeys ? didYouMean(key, knownKeys) : undefined;
    throw new InputError(
      `${at}: unknown key "${shown([...issue.path, key].join('.'))}"${suggestion ? `; did you mean "${suggestion}"?` : ''}`,
      'remove the key or correct its name',
    );
  }
  const keyName = issue.path.length ? shown(issue.path.map(String).join('.')) : '(top level)';
  // A record's bad key: zod's own message is only "Invalid key in record".
  const message = issue.code === 'invalid_key' ? (issue.issues[0]?.message ?? issue.message) : issue.message;
  const hint = hints?.[String(issue.path[0])] ?? `correct the value of ${keyName}`;
  throw new InputError(`${file.where(issue.path)}: ${keyName}: ${message}`, hint);
}

export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}
