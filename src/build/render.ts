// Renders an image's Dockerfile.j2 with nunjucks (Jinja2 syntax). Logic stays here in TypeScript;
// templates receive plain, already-resolved values.
import { readFileSync } from 'node:fs';
import nunjucks from 'nunjucks';
import type { BuildConfig, PackageCustomization } from '../config/build-config.js';
import { InputError } from '../config/errors.js';
import type { ImageDef } from './image-tree.js';
import { serviceUsers } from './users.js';

nunjucks.installJinjaCompat();

export interface RenderInput {
  image: ImageDef;
  /** What the FROM line names: the parent's image reference, or the base root filesystem. */
  parentRef: string;
  config: BuildConfig;
  /** All image folders, the image's own first, so macros.j2 and other images' templates resolve. */
  roots: string[];
}

export function resolvePackages(defaults: string[], custom: PackageCustomization | undefined): string[] {
  if (!custom) return [...defaults];
  if (custom.override) return [...custom.override];
  const removed = new Set(custom.remove);
  const out = defaults.filter((p) => !removed.has(p));
  for (const p of custom.append) if (!out.includes(p)) out.push(p);
  return out;
}

export function renderDockerfile(input: RenderInput): string {
  const { image, config } = input;
  const env = new nunjucks.Environment(
    new nunjucks.FileSystemLoader([image.root, ...input.roots.filter((r) => r !== image.root)], { noCache: true }),
    { autoescape: false, throwOnUndefined: true, trimBlocks: true, lstripBlocks: true },
  );
  const context = {
    image_name: image.name,
    block_prefix: image.name.replace(/-/g, '_'),
    parent_ref: input.parentRef,
    packages: resolvePackages(image.packages, config.packages[image.name]),
    users: serviceUsers,
    install_type: 'binary',
    openstack_release: config.release.name,
    debian_suite: config.debianSuite,
    debian_mirror: config.debianMirror,
    debian_security_mirror: config.debianSecurityMirror,
    parent_template: `${image.name}/Dockerfile.j2`,
  };
  try {
    if (config.templateOverride) {
      return env.renderString(readFileSync(config.templateOverride, 'utf8'), context);
    }
    return env.render(`${image.name}/Dockerfile.j2`, context);
  } catch (err) {
    const source = config.templateOverride ?? `${image.dir}/Dockerfile.j2`;
    throw new InputError(`rendering ${image.name} (${source}): ${(err as Error).message.split('\n').join(' ')}`);
  }
}
