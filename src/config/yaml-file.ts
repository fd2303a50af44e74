// YAML files given by the operator: parsed with positions, so every error can say file:line:column.
import { readFileSync } from 'node:fs';
import { isMap, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { InputError } from './errors.js';

export interface YamlFile {
  path: string;
  data: unknown;
  /** "file:line:col" of the value at `keyPath`, or of the nearest parent that exists. */
  where(keyPath: readonly PropertyKey[]): string;
}

export function readYamlFile(path: string): YamlFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputError(`${path}: cannot read (${code ?? String(err)})`);
  }
  return parseYamlText(path, text);
}

export function parseYamlText(path: string, text: string): YamlFile {
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
export function validateYaml<S extends z.ZodType>(file: YamlFile, schema: S, knownKeys?: readonly string[]): z.infer<S> {
  const result = schema.safeParse(file.data);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0]!;
    const at = file.where([...issue.path, key]);
    const suggestion = knownKeys ? didYouMean(key, knownKeys) : undefined;
    throw new InputError(
      `${at}: unknown key "${[...issue.path, key].join('.')}"${suggestion ? `; did you mean "${suggestion}"?` : ''}`,
      'remove the key or correct its name',
    );
  }
  const keyName = issue.path.length ? issue.path.join('.') : '(top level)';
  throw new InputError(`${file.where(issue.path)}: ${keyName}: ${issue.message}`);
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
