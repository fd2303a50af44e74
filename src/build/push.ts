// berth push: built images to the configured registry, a bounded number at a time, with retries.
import pLimit from 'p-limit';
import { imageRef, type BuildConfig } from '../config/build-config.js';
import { InputError } from '../config/errors.js';
import type { Engine } from '../engine/docker.js';
import { imageRoots } from './builder.js';
import { loadImageTree, selectImages } from './image-tree.js';

export interface PushResult {
  name: string;
  ref: string;
  ok: boolean;
  attempts: number;
  durationMs: number;
  error?: string;
}

export async function pushImages(
  config: BuildConfig,
  engine: Engine,
  patterns: string[],
  onResult: (r: PushResult) => void,
  backoffMs = 2000,
): Promise<PushResult[]> {
  if (!config.registry) {
    throw new InputError('docker_registry is not set', 'set docker_registry in build.yml (e.g. 192.0.2.10:4000)');
  }
  const images = loadImageTree(imageRoots(config), config.release);
  const names = [...selectImages(images, patterns)];
  const limit = pLimit(config.pushConcurrency);
  return Promise.all(
    names.map((name) =>
      limit(async () => {
        const ref = imageRef(config, name);
        const t0 = Date.now();
        let attempts = 0;
        let error: string | undefined;
        if (!(await engine.inspectImage(ref))) {
          error = `${ref} is not built on this host; run berth build ${name}`;
        } else {
          while (attempts <= config.pushRetries) {
            attempts++;
            try {
              await engine.push(ref, () => undefined);
              error = undefined;
              break;
            } catch (err) {
              error = (err as Error).message;
              if (attempts <= config.pushRetries) await new Promise((r) => setTimeout(r, backoffMs * attempts));
            }
          }
        }
        const result: PushResult = { name, ref, ok: error === undefined, attempts, durationMs: Date.now() - t0, error };
        onResult(result);
        return result;
      }),
    ),
  );
}
