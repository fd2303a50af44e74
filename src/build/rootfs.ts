// The root of the image tree when no base_image is configured: a slim Debian root filesystem made
// with mmdebstrap and imported as a one-layer image. Rebuilt only when its recipe changes.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BuildConfig } from '../config/build-config.js';
import { EngineError, type Engine } from '../engine/docker.js';

export const ROOTFS_IMAGE = 'debian-rootfs';

export interface RootfsRecipe {
  suite: string;
  variant: string;
  include: string[];
  dpkgOptions: string[];
  aptOptions: string[];
  sources: string[];
}

export function rootfsRecipe(cfg: BuildConfig): RootfsRecipe {
  return {
    suite: cfg.debianSuite,
    // apt, not minbase: every image installs packages, and this is the smallest set that can.
    variant: 'apt',
    include: ['ca-certificates'],
    dpkgOptions: [
      'path-exclude=/usr/share/doc/*',
      'path-include=/usr/share/doc/*/copyright',
      'path-exclude=/usr/share/man/*',
      'path-exclude=/usr/share/info/*',
      'path-exclude=/usr/share/locale/*',
      'path-include=/usr/share/locale/locale.alias',
    ],
    aptOptions: ['APT::Install-Recommends "false"', 'Acquire::Retries "5"'],
    sources: [
      `deb ${cfg.debianMirror} ${cfg.debianSuite} main`,
      `deb ${cfg.debianMirror} ${cfg.debianSuite}-updates main`,
      `deb ${cfg.debianSecurityMirror} ${cfg.debianSuite}-security main`,
    ],
  };
}

export function rootfsKey(recipe: RootfsRecipe): string {
  return createHash('sha256').update(JSON.stringify(['berth-rootfs-v1', recipe])).digest('hex');
}

export function mmdebstrapArgs(recipe: RootfsRecipe, target: string): string[] {
  return [
    `--variant=${recipe.variant}`,
    `--include=${recipe.include.join(',')}`,
    ...recipe.dpkgOptions.map((o) => `--dpkgopt=${o}`),
    ...recipe.aptOptions.map((o) => `--aptopt=${o}`),
    // Leave no apt lists or caches in the layer.
    '--customize-hook=rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/var/log/*.log "$1"/var/log/apt/*',
    recipe.suite,
    target,
    ...recipe.sources,
  ];
}

/** Makes the root filesystem image unless one with the same recipe exists. Returns whether it built. */
export async function ensureRootfs(
  engine: Engine,
  ref: string,
  cfg: BuildConfig,
  log: WriteStream,
  signal?: AbortSignal,
): Promise<boolean> {
  const recipe = rootfsRecipe(cfg);
  const key = rootfsKey(recipe);
  const existing = await engine.inspectImage(ref);
  if (existing?.labels['berth.build-key'] === key) return false;
  const twin = await engine.findImageByLabel('berth.build-key', key, ROOTFS_IMAGE);
  if (twin) {
    await engine.tag(twin, ref);
    log.write(`${ref} tagged from ${twin} (same recipe)\n`);
    return false;
  }

  const work = mkdtempSync(join(tmpdir(), 'berth-rootfs-'));
  try {
    const tarPath = join(work, 'rootfs.tar');
    const args = mmdebstrapArgs(recipe, tarPath);
    log.write(`$ mmdebstrap ${args.join(' ')}\n`);
    await run('mmdebstrap', args, log, signal);
    await engine.importRootfs(tarPath, ref, [
      `LABEL berth.build-key=${key}`,
      `LABEL berth.image=${ROOTFS_IMAGE}`,
      'ENV LANG=C.UTF-8',
      'CMD ["/bin/bash"]',
    ]);
    return true;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function run(cmd: string, args: string[], log: WriteStream, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], signal });
    child.stdout.pipe(log, { end: false });
    child.stderr.pipe(log, { end: false });
    child.on('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'ENOENT'
          ? new EngineError('mmdebstrap is not installed', 'apt-get install mmdebstrap, or set base_image in build.yml')
          : err,
      ),
    );
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new EngineError(`mmdebstrap exited with status ${code}; see the build log`)),
    );
  });
}
