// Build settings: from build.yml in the config directory, or a `build:` section of globals.yml.
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { InputError } from './errors.js';
import { didYouMean, readYamlFile, validateYaml, type YamlFile } from './yaml-file.js';

const packageList = z.array(z.string().regex(/^[a-z0-9][a-z0-9+.:=~-]*$/, 'not a Debian package name'));
const perImageKey = /^([a-z0-9][a-z0-9-]*)_packages_(append|remove|override)$/;

const fields = {
  base_image: z.string().min(1).nullable().default(null),
  debian_suite: z.string().default('bookworm'),
  debian_mirror: z.string().url().default('http://deb.debian.org/debian'),
  debian_security_mirror: z.string().url().default('http://deb.debian.org/debian-security'),
  docker_registry: z.string().default(''),
  docker_namespace: z.string().regex(/^[a-z0-9]+([._-][a-z0-9]+)*(\/[a-z0-9]+([._-][a-z0-9]+)*)*$/).default('berth'),
  openstack_tag: z.string().regex(/^[\w][\w.-]{0,127}$/, 'not a valid image tag').default('zed'),
  template_override: z.string().nullable().default(null),
  build_args: z.record(z.string(), z.union([z.string(), z.number()]).transform(String)).default({}),
  extra_image_dirs: z.array(z.string()).default([]),
  build_concurrency: z.number().int().positive().nullable().default(null),
  push_concurrency: z.number().int().positive().default(3),
  push_retries: z.number().int().min(0).default(3),
};

// Unknown keys are caught before the schema runs, so a typo reads as a typo, not a type error.
const buildSchema = z.object(fields).catchall(packageList);

export interface PackageCustomization {
  append: string[];
  remove: string[];
  override?: string[];
}

export interface BuildConfig {
  baseImage: string | null;
  debianSuite: string;
  debianMirror: string;
  debianSecurityMirror: string;
  registry: string;
  namespace: string;
  tag: string;
  /** Absolute path, or null. */
  templateOverride: string | null;
  buildArgs: Record<string, string>;
  extraImageDirs: string[];
  concurrency: number | null;
  pushConcurrency: number;
  pushRetries: number;
  packages: Record<string, PackageCustomization>;
}

export const defaultBuildConfig: BuildConfig = fromParsed(buildSchema.parse({}), '/');

/**
 * Reads build.yml, else the `build:` section of globals.yml, else defaults. Image naming set at the
 * top of globals.yml (docker_registry, docker_namespace, openstack_tag, as kolla-ansible has them)
 * is the default for the build too, so build and deploy always name images alike.
 */
export function loadBuildConfig(configDir: string): BuildConfig {
  const globalsFile = join(configDir, 'globals.yml');
  const globals = existsSync(globalsFile) ? readYamlFile(globalsFile) : undefined;
  const top = (globals?.data ?? {}) as Record<string, unknown>;
  const naming = Object.fromEntries(
    ['docker_registry', 'docker_namespace', 'openstack_tag'].filter((k) => typeof top[k] === 'string').map((k) => [k, top[k]]),
  );
  const buildFile = join(configDir, 'build.yml');
  if (existsSync(buildFile)) return fromFile(readYamlFile(buildFile), [], naming);
  if (globals && top.build !== undefined && top.build !== null) return fromFile({ ...globals, data: top.build }, ['build'], naming);
  return fromParsed(buildSchema.parse(naming), configDir);
}

function fromFile(file: YamlFile, prefix: string[], defaults: Record<string, unknown>): BuildConfig {
  const scoped: YamlFile = { ...file, where: (p) => file.where([...prefix, ...p]) };
  if (scoped.data !== null && typeof scoped.data === 'object' && !Array.isArray(scoped.data)) {
    for (const key of Object.keys(scoped.data)) {
      if (key in fields || perImageKey.test(key)) continue;
      const suggestion = didYouMean(key, knownKeys);
      throw new InputError(
        `${scoped.where([key])}: unknown key "${[...prefix, key].join('.')}"${suggestion ? `; did you mean "${suggestion}"?` : ''}`,
        'remove the key or correct its name (per-image keys are <image>_packages_append|remove|override)',
      );
    }
  }
  const data = { ...defaults, ...((scoped.data ?? {}) as Record<string, unknown>) };
  const parsed = validateYaml({ ...scoped, data }, buildSchema, knownKeys);
  return fromParsed(parsed, dirname(file.path));
}

const knownKeys = Object.keys(fields);

function fromParsed(p: z.infer<typeof buildSchema>, relativeTo: string): BuildConfig {
  const abs = (x: string): string => (isAbsolute(x) ? x : resolve(relativeTo, x));
  const packages: Record<string, PackageCustomization> = {};
  for (const [key, value] of Object.entries(p)) {
    const m = perImageKey.exec(key);
    if (!m) continue;
    const image = m[1]!.replace(/_/g, '-');
    const entry = (packages[image] ??= { append: [], remove: [] });
    const list = value as string[];
    if (m[2] === 'append') entry.append = list;
    else if (m[2] === 'remove') entry.remove = list;
    else entry.override = list;
  }
  const override = p.template_override === null ? null : abs(p.template_override);
  if (override !== null && !existsSync(override)) {
    throw new InputError(`template_override: ${override} does not exist`, 'fix the path in build.yml');
  }
  return {
    baseImage: p.base_image,
    debianSuite: p.debian_suite,
    debianMirror: p.debian_mirror,
    debianSecurityMirror: p.debian_security_mirror,
    registry: p.docker_registry.replace(/\/+$/, ''),
    namespace: p.docker_namespace,
    tag: p.openstack_tag,
    templateOverride: override,
    buildArgs: p.build_args,
    extraImageDirs: p.extra_image_dirs.map(abs),
    concurrency: p.build_concurrency,
    pushConcurrency: p.push_concurrency,
    pushRetries: p.push_retries,
    packages,
  };
}

/** `<registry>/<namespace>/<image>:<tag>`, the registry part left out when none is set. */
export function imageRef(cfg: Pick<BuildConfig, 'registry' | 'namespace' | 'tag'>, image: string): string {
  return `${cfg.registry ? cfg.registry + '/' : ''}${cfg.namespace}/${image}:${cfg.tag}`;
}
