// The image tree: explicit parents declared in images/<name>/image.yml, never parsed from FROM lines.
import { readdirSync, readFileSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { InputError } from '../config/errors.js';
import { findRelease, knownReleases, type Release } from '../config/releases.js';

export interface ImageDef {
  name: string;
  /** Parent image name; undefined only for the root (base), which sits on the Debian rootfs. */
  parent?: string;
  description: string;
  packages: string[];
  /** Folder holding Dockerfile.j2 and the files sent as build context. */
  dir: string;
  /** The folder of images this one came from (templates resolve macros.j2 against it). */
  root: string;
}

const releaseName = z.string().refine((r) => findRelease(r) !== undefined, { error: (i) => `unknown release "${String(i.input)}"; known: ${knownReleases()}` });
const imageYaml = z
  .object({
    parent: z.string().nullable().optional(),
    description: z.string().default(''),
    packages: z.array(z.string()).default([]),
    // Only for these releases (neutron-linuxbridge-agent: Debian 13's neutron has no such agent).
    releases: z.array(releaseName).optional(),
    // Packages one release needs on top of `packages` (python3-migrate, which trixie no longer has).
    release_packages: z.record(releaseName, z.array(z.string())).default({}),
  })
  .strict();

/**
 * Loads every image of `release` from the given folders; a later folder's image replaces an
 * earlier one's. Images of other releases are left out; packages are the release's.
 */
export function loadImageTree(roots: string[], release: Release): Map<string, ImageDef> {
  const images = new Map<string, ImageDef>();
  for (const root of roots) {
    if (!existsSync(root)) throw new InputError(`image folder ${root} does not exist`, 'check extra_image_dirs');
    for (const name of readdirSync(root).sort()) {
      const dir = join(root, name);
      const metaFile = join(dir, 'image.yml');
      if (!statSync(dir).isDirectory() || !existsSync(metaFile)) continue;
      if (!existsSync(join(dir, 'Dockerfile.j2'))) {
        throw new InputError(`${dir}: image.yml without Dockerfile.j2`, 'add the template or remove the folder');
      }
      const parsed = imageYaml.safeParse(parseYaml(readFileSync(metaFile, 'utf8')) ?? {});
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new InputError(`${metaFile}: ${issue?.path.join('.') || '(top)'}: ${issue?.message}`);
      }
      const forRelease = (names: string[]): boolean => names.some((r) => findRelease(r) === release);
      if (parsed.data.releases && !forRelease(parsed.data.releases)) {
        images.delete(name);
        continue;
      }
      const extra = Object.entries(parsed.data.release_packages).filter(([r]) => forRelease([r])).flatMap(([, list]) => list);
      images.set(name, {
        name,
        parent: parsed.data.parent ?? undefined,
        description: parsed.data.description,
        packages: [...parsed.data.packages, ...extra],
        dir,
        root,
      });
    }
  }
  for (const img of images.values()) {
    if (img.parent !== undefined && !images.has(img.parent)) {
      throw new InputError(`${join(img.dir, 'image.yml')}: parent "${img.parent}" is not an image`);
    }
  }
  assertAcyclic(images);
  return images;
}

function assertAcyclic(images: Map<string, { name: string; parent?: string }>): void {
  for (const img of images.values()) {
    const seen = new Set<string>();
    for (let cur: string | undefined = img.name; cur !== undefined; cur = images.get(cur)?.parent) {
      if (seen.has(cur)) throw new InputError(`image parents form a cycle through "${cur}"`);
      seen.add(cur);
    }
  }
}

export function ancestors(images: Map<string, { parent?: string }>, name: string): string[] {
  const out: string[] = [];
  for (let cur = images.get(name)?.parent; cur !== undefined; cur = images.get(cur)?.parent) out.push(cur);
  return out;
}

/**
 * Which images to build for the given names or regexes: the matches and their ancestors.
 * No patterns means the whole tree. Patterns are anchored, as an operator expects of a name.
 */
export function selectImages(images: Map<string, { parent?: string }>, patterns: string[]): Set<string> {
  if (patterns.length === 0) return new Set(images.keys());
  const selected = new Set<string>();
  for (const pattern of patterns) {
    let re: RegExp;
    try {
      re = new RegExp(`^(?:${pattern})$`);
    } catch {
      throw new InputError(`"${pattern}" is not a valid image name or regular expression`);
    }
    const matches = [...images.keys()].filter((n) => re.test(n));
    if (matches.length === 0) {
      throw new InputError(`no image matches "${pattern}"`, 'berth build --list shows the images');
    }
    for (const m of matches) {
      selected.add(m);
      for (const a of ancestors(images, m)) selected.add(a);
    }
  }
  return selected;
}

/** Children of each image, in name order, for printing and scheduling. */
export function childrenOf(images: Map<string, { name: string; parent?: string }>): Map<string | undefined, string[]> {
  const children = new Map<string | undefined, string[]>();
  for (const img of [...images.values()].sort((a, b) => a.name.localeCompare(b.name))) {
    const list = children.get(img.parent) ?? [];
    list.push(img.name);
    children.set(img.parent, list);
  }
  return children;
}

export function formatTree(images: Map<string, ImageDef>): string {
  const children = childrenOf(images);
  const lines: string[] = [];
  const walk = (name: string, prefix: string, last: boolean, top: boolean): void => {
    const desc = images.get(name)?.description;
    lines.push(`${top ? '' : prefix + (last ? '└── ' : '├── ')}${name}${desc ? `  — ${desc}` : ''}`);
    const kids = children.get(name) ?? [];
    kids.forEach((k, i) => walk(k, top ? '' : prefix + (last ? '    ' : '│   '), i === kids.length - 1, false));
  };
  for (const root of children.get(undefined) ?? []) walk(root, '', true, true);
  return lines.join('\n');
}
