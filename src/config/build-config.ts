// Build settings: from build.yml in the config directory, or a `build:` section of globals.yml.
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { InputError } from './errors.js';
import { resolvedSettings } from './globals.js';
import { releaseNamed, type Release } from './releases.js';
import { imageNamingFields, patterns, releaseField, shown, text } from './values.js';
import { didYouMean, readYamlFile, validateYaml, type YamlFile } from './yaml-file.js';

// Package names reach apt-get command lines in the Dockerfiles.
const packageList = z
  .array(text('a Debian package name', 128, patterns.debianPackage), { error: 'expected a list of Debian package names' })
  .max(1000, 'more than 1000 packages');
const perImageKey = /^([a-z0-9][a-z0-9-]{0,63})_packages_(append|remove|override)$/;

// Paths are read by berth itself, not a shell, so spaces are fine; control characters are not.
const path = text('a path', 4096, patterns.oneLine);
const count = (what: string, min: number, max: number) =>
  z.number({ error: `expected ${what}` }).int(`expected ${what}`).min(min, `must be ${min} to ${max}`).max(max, `must be ${min} to ${max}`);

// Mirrors and the suite are written into sources.list and Dockerfile RUN lines: plain characters only.
const fields = {
  base_image: text('an image reference such as debian:bookworm', 255, patterns.imageReference).nullable().default(null),
  openstack_release: releaseField,
  // Unset: the release's suite (bookworm for zed, trixie for 2025.1).
  debian_suite: text('a Debian suite name such as trixie', 32, patterns.debianSuite).nullable().default(null),
  debian_mirror: text('an http(s) or file:/// mirror URL without query or credentials', 2048, patterns.mirrorUrl).default('http://deb.debian.org/debian'),
  debian_security_mirror: text('an http(s) or file:/// mirror URL without query or credentials', 2048, patterns.mirrorUrl).default('http://deb.debian.org/debian-security'),
  ...imageNamingFields,
  template_override: path.nullable().default(null),
  build_args: z
    .record(
      text('a build argument name (letters, digits and _)', 128, patterns.buildArgName),
      z.union([text('a string or a number', 4096, patterns.oneLine, 0), z.number()], { error: 'expected a string or a number' }).transform(String),
    )
    .refine((r) => Object.keys(r).length <= 100, 'more than 100 build arguments')
    .default({}),
  extra_image_dirs: z.array(path, { error: 'expected a list of paths' }).max(64, 'more than 64 directories').default([]),
  build_concurrency: count('a number of builds', 1, 256).nullable().default(null),
  push_concurrency: count('a number of pushes', 1, 64).default(3),
  push_retries: count('a number of retries', 0, 100).default(3),
};

const hints: Record<string, string> = {
  base_image: 'write an image reference such as debian:bookworm, or leave it unset to build the Debian rootfs',
  debian_suite: 'write a suite name such as trixie, or leave it unset to use the release\'s',
  debian_mirror: 'write a URL such as http://deb.debian.org/debian',
  debian_security_mirror: 'write a URL such as http://deb.debian.org/debian-security',
  docker_registry: 'write host or host:port, e.g. 192.0.2.10:4000, or "" for none',
  docker_namespace: 'lowercase letters and digits, separated by ., _, - or /',
  openstack_tag: 'image tags are up to 128 letters, digits, _, . and -, starting with a letter, digit or _',
  build_args: 'build argument names are letters, digits and _; values are one line of at most 4096 characters',
};

// Unknown keys are caught before the schema runs, so a typo reads as a typo, not a type error.
const buildSchema = z.object(fields).catchall(packageList);

export interface PackageCustomization {
  append: string[];
  remove: string[];
  override?: string[];
}

export interface BuildConfig {
  release: Release;
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
  // kolla-ansible's globals.yml says openstack_tag: "{{ openstack_release }}"; the release decides the suite.
  const settings = globals ? resolvedSettings(globals) : {};
  const naming = Object.fromEntries(
    ['openstack_release', 'docker_registry', 'docker_namespace', 'openstack_tag'].filter((k) => settings[k] !== undefined && settings[k] !== null).map((k) => [k, settings[k]]),
  );
  // Checked against globals.yml's own lines: a bad value there is not build.yml's fault.
  if (globals) validateYaml({ ...globals, data: naming }, namingSchema, undefined, hints);
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
        `${scoped.where([key])}: unknown key "${shown([...prefix, key].join('.'))}"${suggestion ? `; did you mean "${suggestion}"?` : ''}`,
        'remove the key or correct its name (per-image keys are <image>_packages_append|remove|override)',
      );
    }
  }
  const data = { ...defaults, ...((scoped.data ?? {}) as Record<string, unknown>) };
  const parsed = validateYaml({ ...scoped, data }, buildSchema, knownKeys, hints);
  return fromParsed(parsed, dirname(file.path));
}

const knownKeys = Object.keys(fields);
const namingSchema = z.object({ openstack_release: fields.openstack_release, docker_registry: fields.docker_registry, docker_namespace: fields.docker_namespace, openstack_tag: fields.openstack_tag });

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
  const release = releaseNamed(p.openstack_release);
  return {
    release,
    baseImage: p.base_image,
    debianSuite: p.debian_suite ?? release.debianSuite,
    debianMirror: p.debian_mirror,
    debianSecurityMirror: p.debian_security_mirror,
    registry: p.docker_registry.replace(/\/+$/, ''),
    namespace: p.docker_namespace,
    tag: p.openstack_tag ?? release.name,
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
