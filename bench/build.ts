// Build benchmark: a cold build of each release's whole image set (every berth image and the
// builder cache removed first), then a no-op rebuild of each, measured in one run on this machine. Writes the figures
// into docs/benchmarks.md between markers, so reruns replace them.
//
//   node --import tsx bench/build.ts            (destroys and rebuilds this machine's berth images)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSection } from './benchmarks-doc.js';
import { buildImages, imageRoots, type ImageResult } from '../src/build/builder.js';
import { loadImageTree } from '../src/build/image-tree.js';
import { imageRef, loadBuildConfig, type BuildConfig } from '../src/config/build-config.js';
import { releases } from '../src/config/releases.js';
import { Engine } from '../src/engine/docker.js';
import { formatBytes, formatDuration, table } from '../src/ui/format.js';

const engine = new Engine();
const logDir = mkdtempSync(join(tmpdir(), 'berth-bench-build-'));
const configs = releases.map((r) => configFor(r.name));

/** The build settings of a release, as an operator's globals.yml naming only the release gives them. */
function configFor(release: string): BuildConfig {
  const dir = mkdtempSync(join(tmpdir(), 'berth-bench-release-'));
  writeFileSync(join(dir, 'globals.yml'), `network_interface: lo\nopenstack_release: "${release}"\n`);
  return loadBuildConfig(dir);
}

// Each set is fixed when the run starts, so an image added meanwhile cannot skew the no-op figure.
const imageSet = (config: BuildConfig): string[] =>
  [...loadImageTree(imageRoots(config), config.release).keys()].map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));

async function timedBuild(config: BuildConfig): Promise<{ ms: number; results: ImageResult[] }> {
  const t0 = performance.now();
  const results = await buildImages({ config, engine, patterns: imageSet(config), logDir });
  const failed = results.filter((r) => r.status === 'failed' || r.status === 'skipped');
  if (failed.length) throw new Error(`build failed: ${failed.map((r) => `${r.name}: ${r.error}`).join('; ')}`);
  return { ms: performance.now() - t0, results };
}

/** Layer digests of an image, bottom first. */
function layersOf(ref: string): string[] {
  return JSON.parse(execFileSync('docker', ['image', 'inspect', '-f', '{{json .RootFS.Layers}}', ref], { encoding: 'utf8' })) as string[];
}

const existing = execFileSync('docker', ['images', '--filter', 'label=berth.image', '--format', '{{.ID}}'], { encoding: 'utf8' })
  .split('\n')
  .filter(Boolean);
if (existing.length) execFileSync('docker', ['rmi', '-f', ...new Set(existing)], { stdio: 'ignore' });
execFileSync('docker', ['builder', 'prune', '-af'], { stdio: 'ignore' });
console.log(`removed ${existing.length} berth images and the builder cache; cold builds start`);

interface ReleaseFigures {
  config: BuildConfig;
  cold: { ms: number; results: ImageResult[] };
  noop: { ms: number; results: ImageResult[] };
  /** Each image's own layers (the ones over its parent's), by digest, with the bytes it adds. */
  own: Map<string, number>;
}

const figures: ReleaseFigures[] = [];
for (const config of configs) {
  const cold = await timedBuild(config);
  console.log(`${config.release.name}: cold build ${formatDuration(cold.ms)}`);
  figures.push({ config, cold, noop: { ms: 0, results: [] }, own: new Map() });
}
// Switching back after the other release was built must rebuild nothing: both sets stay cached.
for (const f of figures) {
  f.noop = await timedBuild(f.config);
  console.log(`${f.config.release.name}: no-op rebuild ${formatDuration(f.noop.ms)}`);
  for (const r of f.cold.results) {
    const ref = imageRef(f.config, r.name);
    const parent = loadImageTree(imageRoots(f.config), f.config.release).get(r.name)?.parent;
    const below = parent ? layersOf(imageRef(f.config, parent)).length : 0;
    f.own.set(layersOf(ref).slice(below).join(','), r.addedBytes ?? 0);
  }
}

// In a tree every image holds its parent's layers plus its own, so a set's unique bytes are what
// each image adds; across sets, an image whose own layers are the same digests counts once.
const uniqueOf = (f: ReleaseFigures): number => [...f.own.values()].reduce((a, b) => a + b, 0);
const together = new Map<string, number>();
for (const f of figures) for (const [layers, bytes] of f.own) together.set(layers, bytes);
const bothBytes = [...together.values()].reduce((a, b) => a + b, 0);
const sharedBytes = figures.reduce((a, f) => a + uniqueOf(f), 0) - bothBytes;

const rows = figures.flatMap((f) =>
  f.cold.results.map((r) => [f.config.release.name, imageRef(f.config, r.name), formatDuration(r.durationMs), formatBytes(r.size), formatBytes(r.addedBytes)]),
);
const perRelease = (label: string, value: (f: ReleaseFigures) => string): string => `| ${label} | ${figures.map(value).join(' | ')} |`;
writeSection('build', [
  `## Image build (\`node --import tsx bench/build.ts\`, ${new Date().toISOString().slice(0, 10)})`,
  '',
  `Machine: ${cpus().length} cores, ${cpus()[0]?.model ?? 'unknown cpu'}; Docker Engine ${await engine.ping()}; packages from the Debian mirror over the network. Every berth image and the builder cache removed first; then each release's whole set built cold, then each rebuilt with nothing changed (the second release built in between).`,
  '',
  `| measure | ${figures.map((f) => `${f.config.release.name} (Debian ${f.config.debianSuite})`).join(' | ')} |`,
  `|---|${figures.map(() => '---').join('|')}|`,
  perRelease('images (incl. the mmdebstrap rootfs)', (f) => String(f.cold.results.length)),
  perRelease('cold build of the set', (f) => formatDuration(f.cold.ms)),
  perRelease('no-op rebuild after building the other release', (f) => `${formatDuration(f.noop.ms)}, ${f.noop.results.filter((r) => r.status === 'built').length} built`),
  perRelease('unique layer bytes of the set', (f) => formatBytes(uniqueOf(f))),
  perRelease('sum of image sizes (no layer sharing)', (f) => formatBytes(f.cold.results.reduce((a, r) => a + (r.size ?? 0), 0))),
  '',
  `Both sets together: ${formatBytes(bothBytes)} of unique layers (${formatBytes(sharedBytes)} shared between them: each release starts from its own suite's rootfs).`,
  '',
  '```',
  table(['RELEASE', 'REF', 'COLD BUILD', 'SIZE', 'ADDED OVER PARENT'], rows, [2, 3, 4]),
  '```',
]);
