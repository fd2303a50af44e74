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

type Sections = Map<string, Map<string, string>>;

/**
 * Merges INI texts; later layers win per section and key. Sections keep the order of their first
 * appearance with DEFAULT first, as oslo.config writes them. Comments are not carried over (neither
 * does kolla-ansible): the merged file is generated, the layers are what an operator reads.
 */
export function mergeIni(layers: readonly IniLayer[]): string {
  const merged: Sections = new Map();
  for (const layer of layers) {
    for (const [section, keys] of parseIni(layer)) {
      const target = merged.get(section) ?? new Map<string, string>();
      merged.set(section, target);
      for (const [key, value] of keys) target.set(key, value);
    }
  }
  const names = [...merged.keys()];
  const ordered = names.includes('DEFAULT') ? ['DEFAULT', ...names.filter((n) => n !== 'DEFAULT')] : names;
  return ordered
    .map((name) => {
      const lines = [...merged.get(name)!].map(([key, value]) => (value === '' ? `${key} =` : `${key} = ${value.replace(/\n/g, '\n    ')}`));
      return [`[${name}]`, ...lines].join('\n') + '\n';
    })
    .join('\n');
}

/** oslo.config's INI dialect: `key = value` or `key: value`, `#`/`;` comments, indented continuation lines. */
export function parseIni(layer: IniLayer): Sections {
  const sections: Sections = new Map();
  let current: Map<string, string> | undefined;
  let lastKey: string | undefined;
  for (const [i, raw] of layer.text.split(/\r?\n/).entries()) {
    const where = `${layer.source}:${i + 1}`;
    const trimmed = raw.trim();
    if (trimmed === '') {
      lastKey = undefined;
      continue;
    }
    if (trimmed.startsWith('#') || trimmed.startsWith(';')) continue;
    if (/^\s/.test(raw) && current && lastKey !== undefined) {
      current.set(lastKey, `${current.get(lastKey)}\n${trimmed}`);
      continue;
    }
    const header = /^\[([^\]]+)\]$/.exec(trimmed);
    if (header) {
      const name = header[1]!.trim();
      current = sections.get(name) ?? new Map<string, string>();
      sections.set(name, current);
      lastKey = undefined;
      continue;
    }
    if (trimmed.startsWith('[')) throw new InputError(`${where}: malformed section header`, 'write it as [section]');
    const sep = /[=:]/.exec(trimmed);
    if (!sep || sep.index === 0) throw new InputError(`${where}: expected "key = value"`, 'fix the line, or comment it out with #');
    if (!current) throw new InputError(`${where}: "${trimmed.slice(0, sep.index).trim()}" is outside any section`, 'put it under a section such as [DEFAULT]');
    lastKey = trimmed.slice(0, sep.index).trim();
    current.set(lastKey, trimmed.slice(sep.index + 1).trim());
  }
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
