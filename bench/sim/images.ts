// The fleet's images: a catalogue standing for the registry (what a pull can fetch), with stable
// fake IDs, sizes, layers and labels, and the progress events a pull streams, as Docker sends them.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** An image as configured: a reference and, optionally, what inspecting it shows. */
export interface ImageSpec {
  ref: string;
  /** `sha256:…`; by default the sha256 of the normalized reference. Two refs with one id are one image. */
  id?: string;
  /** Bytes; by default a stable figure between 100 and 600 MB drawn from the reference. */
  size?: number;
  labels?: Record<string, string>;
  env?: string[];
  cmd?: string[] | null;
  entrypoint?: string[] | null;
  user?: string;
  /**
   * Layer names, bottom first. Images naming the same layer share it: a pull finds it
   * "Already exists". By default three layers of the image's own.
   */
  layers?: string[];
}

export interface Layer {
  /** The 12 hex characters pull events carry. */
  short: string;
  digest: string;
  size: number;
}

export interface CatalogImage {
  id: string;
  ref: string;
  size: number;
  labels: Record<string, string>;
  env: string[];
  cmd: string[] | null;
  entrypoint: string[] | null;
  user: string;
  layers: Layer[];
  /** The manifest digest a pull reports and RepoDigests shows. */
  digest: string;
  created: string;
}

/** The images file of the CLI's --images: the registry's images, and which of them every engine starts with. */
export interface ImagesFile {
  registry: (string | ImageSpec)[];
  /** References every engine holds at start, or "all" of the registry. */
  present?: string[] | 'all';
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * Docker's normalized form, as RepoTags show it: a tag always (`latest` by default), `docker.io/`
 * and `library/` dropped. `host:5000/a/b` keeps its port colon, which is not a tag.
 */
export function normalizeRef(ref: string): string {
  let r = ref.replace(/^(?:index\.)?docker\.io\//, '').replace(/^library\//, '');
  if (r.includes('@')) return r;
  const slash = r.lastIndexOf('/');
  if (r.lastIndexOf(':') <= slash) r += ':latest';
  return r;
}

/** `a/b:tag` → [`a/b`, `tag`]; digest references keep the digest as the "tag". */
export function splitNormalized(ref: string): [string, string] {
  const at = ref.indexOf('@');
  if (at >= 0) return [ref.slice(0, at), ref.slice(at + 1)];
  const colon = ref.lastIndexOf(':');
  return [ref.slice(0, colon), ref.slice(colon + 1)];
}

export function catalogImage(spec: ImageSpec): CatalogImage {
  const ref = normalizeRef(spec.ref);
  const id = spec.id ?? `sha256:${sha256(ref)}`;
  const size = spec.size ?? 100e6 + (parseInt(sha256(`size ${ref}`).slice(0, 8), 16) % 500e6);
  const names = spec.layers ?? [1, 2, 3].map((i) => `${ref} layer ${i}`);
  const layers = names.map((name, i): Layer => {
    const hex = sha256(`layer ${name}`);
    // An even share of the size, the rest on the last layer.
    const share = Math.floor(size / names.length);
    return { short: hex.slice(0, 12), digest: `sha256:${hex}`, size: i === names.length - 1 ? size - share * (names.length - 1) : share };
  });
  return {
    id,
    ref,
    size,
    labels: spec.labels ?? {},
    env: spec.env ?? ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
    cmd: spec.cmd === undefined ? ['/bin/sh'] : spec.cmd,
    entrypoint: spec.entrypoint ?? null,
    user: spec.user ?? '',
    layers,
    digest: `sha256:${sha256(`manifest ${id}`)}`,
    created: '2024-01-01T00:00:00.000000000Z',
  };
}

/** The registry: normalized reference → image. */
export class ImageCatalog {
  private readonly byRef = new Map<string, CatalogImage>();
  private readonly byDigest = new Map<string, CatalogImage>();

  constructor(specs: readonly (string | ImageSpec)[]) {
    for (const s of specs) {
      const image = catalogImage(typeof s === 'string' ? { ref: s } : s);
      this.byRef.set(image.ref, image);
      this.byDigest.set(`${splitNormalized(image.ref)[0]}@${image.digest}`, image);
    }
  }

  get(ref: string): CatalogImage | undefined {
    const r = normalizeRef(ref);
    return this.byRef.get(r) ?? this.byDigest.get(r);
  }

  refs(): string[] {
    return [...this.byRef.keys()];
  }
}

export function readImagesFile(path: string): ImagesFile {
  const file = JSON.parse(readFileSync(path, 'utf8')) as ImagesFile;
  if (!Array.isArray(file.registry)) throw new Error(`${path}: "registry" must be a list of image references or {ref, ...} objects`);
  return file;
}

/** One event of a pull's stream and when it goes out, as a share of the pull's time (0..1). */
export interface TimedEvent {
  at: number;
  event: Record<string, unknown>;
}

function progressBar(current: number, total: number): string {
  const width = 50;
  const filled = Math.round((current / total) * width);
  const mb = (n: number): string => `${(n / 1e6).toFixed(1)}MB`;
  return `[${'='.repeat(Math.max(filled - 1, 0))}${filled ? '>' : ''}${' '.repeat(width - filled)}]  ${mb(current)}/${mb(total)}`;
}

/**
 * The events of pulling `image` as `ref` onto an engine holding `present` layers: Docker's
 * sequence (Pulling from, Pulling fs layer / Already exists, Waiting, Downloading, Verifying
 * Checksum, Download complete, Extracting, Pull complete, Digest, Status), spread over the pull.
 */
export function pullEvents(image: CatalogImage, ref: string, present: ReadonlySet<string>): TimedEvent[] {
  const [repo, tag] = splitNormalized(ref);
  const events: TimedEvent[] = [{ at: 0, event: { status: `Pulling from ${repo}`, id: tag } }];
  const missing = image.layers.filter((l) => !present.has(l.digest));
  for (const l of image.layers) {
    events.push({ at: 0, event: present.has(l.digest) ? { status: 'Already exists', progressDetail: {}, id: l.short } : { status: 'Pulling fs layer', progressDetail: {}, id: l.short } });
  }
  for (const l of missing.slice(3)) events.push({ at: 0, event: { status: 'Waiting', progressDetail: {}, id: l.short } });
  // Downloads run side by side over the first half, extraction one layer after another in the second.
  for (const l of missing) {
    for (const share of [0.25, 0.5, 1]) {
      const current = Math.round(l.size * share);
      events.push({ at: 0.5 * share * 0.9, event: { status: 'Downloading', progressDetail: { current, total: l.size }, progress: progressBar(current, l.size), id: l.short } });
    }
    events.push({ at: 0.48, event: { status: 'Verifying Checksum', progressDetail: {}, id: l.short } });
    events.push({ at: 0.5, event: { status: 'Download complete', progressDetail: {}, id: l.short } });
  }
  missing.forEach((l, i) => {
    const start = 0.5 + (0.5 * i) / missing.length;
    const end = 0.5 + (0.5 * (i + 1)) / missing.length;
    events.push({ at: start, event: { status: 'Extracting', progressDetail: { current: l.size, total: l.size }, progress: progressBar(l.size, l.size), id: l.short } });
    events.push({ at: end, event: { status: 'Pull complete', progressDetail: {}, id: l.short } });
  });
  events.push({ at: 1, event: { status: `Digest: ${image.digest}` } });
  events.push({ at: 1, event: { status: `Status: Downloaded newer image for ${ref}` } });
  return events.sort((a, b) => a.at - b.at);
}
