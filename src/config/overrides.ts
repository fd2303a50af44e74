// Operator overrides for INI config files, merged as kolla-ansible's merge_configs does: the service
// template first, then each override file in order, a later layer's key replacing an earlier one.
import { readdirSync, readFileSync, type Dirent } from 'node:fs';
import { join } from 'node:path';
import { InputError } from './errors.js';

export interface IniLayer {
  /** Where the text came from (a path), for errors. */
  source: string;
  text: string;
}

/**
 * Section → key → every value the key was given, in order. A list because oslo.config's
 * MultiStrOpt options are written as the same key on several lines; a value holding continuation
 * lines joins them with '\n'.
 */
export type IniSections = Map<string, Map<string, string[]>>;

/**
 * Merges INI texts as kolla-ansible's merge_configs does: a key given several times in one layer
 * keeps all its values; a later layer that sets a key replaces all of the earlier values. Sections
 * keep the order of their first appearance with DEFAULT first, as oslo.config writes them. Comments
 * are not carried over (neither does kolla-ansible): the merged file is generated, the layers are
 * what an operator reads.
 */
export function mergeIni(layers: readonly IniLayer[]): string {
  const merged: IniSections = new Map();
  for (const layer of layers) {
    for (const [section, keys] of parseIni(layer)) {
      const target = merged.get(section) ?? new Map<string, string[]>();
      merged.set(section, target);
      for (const [key, values] of keys) target.set(key, values);
    }
  }
  const names = [...merged.keys()];
  const ordered = names.includes('DEFAULT') ? ['DEFAULT', ...names.filter((n) => n !== 'DEFAULT')] : names;
  return ordered
    .map((name) => {
      const lines = [...merged.get(name)!].flatMap(([key, values]) =>
        values.map((value) => (value === '' ? `${key} =` : `${key} = ${value.replace(/\n/g, '\n    ')}`)),
      );
      return [`[${name}]`, ...lines].join('\n') + '\n';
    })
    .join('\n');
}

/**
 * oslo.config's INI dialect: `key = value` or `key: value` (split at the first of the two),
 * `#`/`;` comments, indented continuation lines, a repeated key keeping every value. Throws an
 * InputError naming file:line.
 */
export function parseIni(layer: IniLayer): IniSections {
  return parse(layer, false);
}

/**
 * The same parser for text that may not be INI at all (a rendered JSON or SQL file): undefined
 * instead of an error. Keys before any section are allowed, in section '', since some rendered
 * files (rabbitmq.conf, libvirtd.conf) are sectionless `key = value` lists.
 */
export function tryParseIni(text: string): IniSections | undefined {
  try {
    return parse({ source: '', text }, true);
  } catch (err) {
    if (err instanceof InputError) return undefined;
    throw err;
  }
}

function parse(layer: IniLayer, sectionless: boolean): IniSections {
  const sections: IniSections = new Map();
  let current: Map<string, string[]> | undefined = sectionless ? new Map<string, string[]>() : undefined;
  if (current) sections.set('', current);
  // The values of the last key: a continuation line extends the last of them.
  let last: string[] | undefined;
  for (const [i, raw] of layer.text.split(/\r?\n/).entries()) {
    const where = `${layer.source}:${i + 1}`;
    const trimmed = raw.trim();
    if (trimmed === '') {
      last = undefined;
      continue;
    }
    if (trimmed.startsWith('#') || trimmed.startsWith(';')) continue;
    if (/^\s/.test(raw) && last) {
      last[last.length - 1] += `\n${trimmed}`;
      continue;
    }
    const header = /^\[([^\]]+)\]$/.exec(trimmed);
    if (header) {
      const name = header[1]!.trim();
      current = sections.get(name) ?? new Map<string, string[]>();
      sections.set(name, current);
      last = undefined;
      continue;
    }
    if (trimmed.startsWith('[')) throw new InputError(`${where}: malformed section header`, 'write it as [section]');
    const sep = /[=:]/.exec(trimmed);
    if (!sep || sep.index === 0) throw new InputError(`${where}: expected "key = value"`, 'fix the line, or comment it out with #');
    if (!current) throw new InputError(`${where}: "${trimmed.slice(0, sep.index).trim()}" is outside any section`, 'put it under a section such as [DEFAULT]');
    const key = trimmed.slice(0, sep.index).trim();
    const values = current.get(key) ?? [];
    current.set(key, values);
    values.push(trimmed.slice(sep.index + 1).trim());
    last = values;
  }
  if (sectionless && sections.get('')!.size === 0) sections.delete('');
  return sections;
}

/**
 * The override files for one rendered file of one container on one host, that exist, in kolla
 * order (the later wins). The main file of a service (`<service>.conf`) takes config/global.conf,
 * config/<service>.conf, config/<service>/<container>.conf, config/<service>/<host>/<service>.conf;
 * any other file (ml2_conf.ini, ...) config/<service>/<file>, config/<service>/<host>/<file>, as
 * kolla-ansible's roles look them up.
 */
export function overrideLayers(configDir: string, service: string, container: string, host: string, fileName: string): IniLayer[] {
  const dir = join(configDir, 'config');
  const layers: IniLayer[] = [];
  for (const relative of overrideLayerPaths(service, container, host, fileName)) {
    const source = join(dir, relative);
    try {
      layers.push({ source, text: readFileSync(source, 'utf8') });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') continue;
      throw new InputError(`${source}: cannot read (${code ?? String(err)})`);
    }
  }
  return layers;
}

/** The override files for one rendered file, relative to <configDir>/config, in merge order. */
export function overrideLayerPaths(service: string, container: string, host: string, fileName: string): string[] {
  return fileName === `${service}.conf`
    ? ['global.conf', fileName, `${service}/${container}.conf`, `${service}/${host}/${fileName}`]
    : [`${service}/${fileName}`, `${service}/${host}/${fileName}`];
}

/** Every file under <configDir>/config by relative path, so planning needs no file access. */
export function readOverrideFiles(configDir: string): Record<string, string> {
  const root = join(configDir, 'config');
  const files: Record<string, string> = {};
  const walk = (dir: string, prefix: string): void => {
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new InputError(`${dir}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
    for (const e of entries) {
      const rel = prefix ? `${prefix}/${e.name}` : e.name;
      if (e.isDirectory()) walk(join(dir, e.name), rel);
      else if (e.isFile()) files[rel] = readFileSync(join(dir, e.name), 'utf8');
    }
  };
  walk(root, '');
  // Fail on a malformed override now, with its file:line, not halfway through a deploy.
  for (const [rel, text] of Object.entries(files)) if (/\.(conf|ini)$/.test(rel)) parseIni({ source: join(root, rel), text });
  return files;
}
