// The build context of an image and its build key. The key covers everything that can change the
// image: the rendered Dockerfile, every context file (content and executable bit), the parent's
// image ID and the build args. An image whose key matches its label is not rebuilt.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Readable } from 'node:stream';
import { pack } from 'tar-stream';

export interface ContextFile {
  path: string;
  executable: boolean;
  content: Buffer;
}

/** Files of the image folder sent to the engine (the template and metadata are ours, not the engine's). */
export function readContextFiles(dir: string): ContextFile[] {
  const files: ContextFile[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const full = join(d, name);
      const st = statSync(full);
      if (st.isDirectory()) walk(full);
      else {
        const path = relative(dir, full);
        if (path === 'Dockerfile.j2' || path === 'image.yml') continue;
        files.push({ path, executable: (st.mode & 0o111) !== 0, content: readFileSync(full) });
      }
    }
  };
  walk(dir);
  return files;
}

export function buildKey(parts: {
  dockerfile: string;
  files: ContextFile[];
  parentId: string;
  buildArgs: Record<string, string>;
}): string {
  const h = createHash('sha256');
  const field = (s: string | Buffer): void => {
    h.update(String(s.length));
    h.update(':');
    h.update(s);
  };
  field('berth-build-key-v1');
  field(parts.dockerfile);
  for (const f of [...parts.files].sort((a, b) => a.path.localeCompare(b.path))) {
    field(f.path);
    field(f.executable ? 'x' : '-');
    field(f.content);
  }
  field(parts.parentId);
  for (const k of Object.keys(parts.buildArgs).sort()) {
    field(k);
    field(parts.buildArgs[k]!);
  }
  return h.digest('hex');
}

/** A tar stream of the Dockerfile and the context files, with fixed times so it is reproducible. */
export function contextTar(dockerfile: string, files: ContextFile[]): Readable {
  const tar = pack();
  const mtime = new Date(0);
  tar.entry({ name: 'Dockerfile', mode: 0o644, mtime }, dockerfile);
  for (const f of files) tar.entry({ name: f.path, mode: f.executable ? 0o755 : 0o644, mtime }, f.content);
  tar.finalize();
  return Readable.from(tar);
}
