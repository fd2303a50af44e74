// berth build: renders, keys and builds the selected images over the tree, skipping those whose
// build key is unchanged. Emits events for the UI; returns one result per image.
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { imageRef, type BuildConfig } from '../config/build-config.js';
import { EngineError, type Engine } from '../engine/docker.js';
import { loadImageTree, selectImages, type ImageDef } from './image-tree.js';
import { renderDockerfile } from './render.js';
import { buildKey, contextTar, readContextFiles } from './context.js';
import { ensureRootfs, ROOTFS_IMAGE } from './rootfs.js';
import { runTree, type TreeNode } from './schedule.js';

export const builtinImagesDir = fileURLToPath(new URL('../../images', import.meta.url));

export type ImageStatus = 'built' | 'cached' | 'failed' | 'skipped';

export interface ImageResult {
  name: string;
  ref: string;
  status: ImageStatus;
  durationMs: number;
  id?: string;
  size?: number;
  /** Bytes this image adds over its parent: what it costs on a host that has the parent. */
  addedBytes?: number;
  error?: string;
  logFile?: string;
}

export type BuildEvent =
  | { type: 'start'; image: string }
  | { type: 'finish'; result: ImageResult };

export interface BuildRequest {
  config: BuildConfig;
  engine: Engine;
  patterns: string[];
  logDir: string;
  concurrency?: number;
  signal?: AbortSignal;
  onEvent?: (ev: BuildEvent) => void;
}

export function imageRoots(config: BuildConfig): string[] {
  return [builtinImagesDir, ...config.extraImageDirs];
}

/** Transient failures worth another try: the mirror or the network, not our Dockerfile. */
const transient = /Failed to fetch|Temporary failure|Could not resolve|Connection (timed out|failed|reset)|Hash Sum mismatch|Unable to fetch|unexpected EOF|i\/o timeout/i;
const BUILD_ATTEMPTS = 3;
const PARENT_PLACEHOLDER = 'berth-parent-image';

export async function buildImages(req: BuildRequest): Promise<ImageResult[]> {
  const { config, engine } = req;
  const images = loadImageTree(imageRoots(config), config.release);
  const selected = selectImages(images, req.patterns);
  const useRootfs = config.baseImage === null;
  const nodes: TreeNode[] = [...selected].map((name) => {
    const parent = images.get(name)!.parent ?? (useRootfs ? ROOTFS_IMAGE : undefined);
    return { name, parent };
  });
  if (useRootfs && nodes.some((n) => n.parent === ROOTFS_IMAGE)) nodes.unshift({ name: ROOTFS_IMAGE });

  mkdirSync(req.logDir, { recursive: true });
  const done = new Map<string, { id: string; size: number }>();
  const refOf = (name: string): string => imageRef(config, name);
  const started = new Map<string, number>();
  const replaced: string[] = [];

  const work = async (name: string): Promise<ImageResult> => {
    const logFile = join(req.logDir, `${name}.log`);
    const log = createWriteStream(logFile);
    const t0 = started.get(name) ?? Date.now();
    try {
      const status =
        name === ROOTFS_IMAGE
          ? (await ensureRootfs(engine, refOf(name), config, log, req.signal))
            ? 'built'
            : 'cached'
          : await buildOne(images.get(name)!, log);
      const info = await engine.inspectImage(refOf(name));
      if (!info) throw new EngineError(`${refOf(name)} is missing after its build`);
      done.set(name, { id: info.id, size: info.size });
      const parent = nodes.find((n) => n.name === name)?.parent;
      const parentSize = parent ? (done.get(parent)?.size ?? (await engine.inspectImage(refOf(parent)))?.size) : 0;
      return {
        name,
        ref: refOf(name),
        status,
        durationMs: Date.now() - t0,
        id: info.id,
        size: info.size,
        addedBytes: info.size - (parentSize ?? 0),
        logFile,
      };
    } finally {
      await new Promise((r) => log.end(r));
    }
  };

  const buildOne = async (image: ImageDef, log: WriteStream): Promise<'built' | 'cached'> => {
    const parentName = image.parent ?? (useRootfs ? ROOTFS_IMAGE : undefined);
    const parentRef = parentName ? refOf(parentName) : config.baseImage!;
    const parent = done.get(parentName ?? '') ?? (await engine.inspectImage(parentRef));
    if (!parent) {
      throw new EngineError(
        `parent image ${parentRef} of ${image.name} is not on this host`,
        parentName ? `build it: berth build ${parentName}` : 'pull the configured base_image first',
      );
    }
    const dockerfile = renderDockerfile({ image, parentRef, config, roots: imageRoots(config) });
    // The key sees the parent by its image ID, not its name, so the same build under another
    // registry or tag keeps its key (and is retagged instead of rebuilt).
    const keyed = renderDockerfile({ image, parentRef: PARENT_PLACEHOLDER, config, roots: imageRoots(config) });
    const files = readContextFiles(image.dir);
    const key = buildKey({ dockerfile: keyed, files, parentId: parent.id, buildArgs: config.buildArgs });
    const ref = refOf(image.name);
    const existing = await engine.inspectImage(ref);
    if (existing?.labels['berth.build-key'] === key) {
      log.write(`${ref} is up to date (build key ${key.slice(0, 12)})\n`);
      return 'cached';
    }
    // The same build under another name (the registry, namespace or tag changed): a tag, not a build.
    const twin = await engine.findImageByLabel('berth.build-key', key, image.name);
    if (twin) {
      await engine.tag(twin, ref);
      log.write(`${ref} tagged from ${twin.slice(0, 19)} (same build key ${key.slice(0, 12)})\n`);
      return 'cached';
    }
    log.write(`# ${ref}, build key ${key}\n${dockerfile}\n# ---- build output\n`);
    for (let attempt = 1; ; attempt++) {
      try {
        await engine.build({
          context: contextTar(dockerfile, files),
          tag: ref,
          labels: { 'berth.build-key': key, 'berth.image': image.name, 'berth.parent': parentName ?? config.baseImage! },
          buildArgs: config.buildArgs,
          signal: req.signal,
          onOutput: (text) => log.write(text),
        });
        if (existing) replaced.push(existing.id);
        return 'built';
      } catch (err) {
        const message = (err as Error).message;
        if (attempt >= BUILD_ATTEMPTS || !transient.test(message) || req.signal?.aborted) throw err;
        log.write(`\n# transient failure (${message}); attempt ${attempt + 1} of ${BUILD_ATTEMPTS}\n`);
      }
    }
  };

  const failedResult = (name: string, error: Error): ImageResult => ({
    name,
    ref: refOf(name),
    status: 'failed',
    durationMs: Date.now() - (started.get(name) ?? Date.now()),
    error: error.message,
    logFile: join(req.logDir, `${name}.log`),
  });
  const workAndReport = async (name: string): Promise<ImageResult> => {
    try {
      const result = await work(name);
      req.onEvent?.({ type: 'finish', result });
      return result;
    } catch (err) {
      req.onEvent?.({ type: 'finish', result: failedResult(name, err as Error) });
      throw err;
    }
  };

  const concurrency = req.concurrency ?? config.concurrency ?? availableParallelism();
  const outcomes = await runTree(nodes, concurrency, workAndReport, (name) => {
    started.set(name, Date.now());
    req.onEvent?.({ type: 'start', image: name });
  });

  // Replaced images are untagged now; children go first so their parents become removable. One
  // still used by a container stays.
  for (const id of replaced.reverse()) await engine.removeImageIfUnused(id);

  const results: ImageResult[] = [];
  for (const node of nodes) {
    const outcome = outcomes.get(node.name);
    if (outcome?.status === 'done') results.push(outcome.result);
    else if (outcome?.status === 'failed') results.push(failedResult(node.name, outcome.error));
    else {
      const because = outcome?.status === 'skipped' ? outcome.because : 'an ancestor';
      const result: ImageResult = {
        name: node.name,
        ref: refOf(node.name),
        status: 'skipped',
        durationMs: 0,
        error: `${because} failed`,
      };
      req.onEvent?.({ type: 'finish', result });
      results.push(result);
    }
  }
  return results;
}
