// Build benchmark: a cold build of the whole image set (every berth image and the builder cache
// removed first), then a no-op rebuild, measured in one run on this machine. Writes the figures
// into docs/benchmarks.md between markers, so reruns replace them.
//
//   node --import tsx bench/build.ts            (destroys and rebuilds this machine's berth images)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildImages, imageRoots, type ImageResult } from '../src/build/builder.js';
import { loadImageTree } from '../src/build/image-tree.js';
import { defaultBuildConfig, imageRef } from '../src/config/build-config.js';
import { Engine } from '../src/engine/docker.js';
import { formatBytes, formatDuration, table } from '../src/ui/format.js';

const engine = new Engine();
const config = defaultBuildConfig;
const logDir = mkdtempSync(join(tmpdir(), 'berth-bench-build-'));

// The set is fixed when the run starts, so an image added meanwhile cannot skew the no-op figure.
const imageSet = [...loadImageTree(imageRoots(config), config.release).keys()].map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));

async function timedBuild(): Promise<{ ms: number; results: ImageResult[] }> {
  const t0 = performance.now();
  const results = await buildImages({ config, engine, patterns: imageSet, logDir });
  const failed = results.filter((r) => r.status === 'failed' || r.status === 'skipped');
  if (failed.length) throw new Error(`build failed: ${failed.map((r) => `${r.name}: ${r.error}`).join('; ')}`);
  return { ms: performance.now() - t0, results };
}

const existing = execFileSync('docker', ['images', '--filter', 'label=berth.image', '--format', '{{.ID}}'], { encoding: 'utf8' })
  .split('\n')
  .filter(Boolean);
if (existing.length) execFileSync('docker', ['rmi', '-f', ...new Set(existing)], { stdio: 'ignore' });
execFileSync('docker', ['builder', 'prune', '-af'], { stdio: 'ignore' });
console.log(`removed ${existing.length} berth images and the builder cache; cold build starts`);

const cold = await timedBuild();
console.log(`cold build: ${formatDuration(cold.ms)}`);
const noop = await timedBuild();
console.log(`no-op rebuild: ${formatDuration(noop.ms)} (${noop.results.filter((r) => r.status === 'built').length} images built)`);

// In a tree every image holds its parent's layers plus its own, so the unique bytes of the set
// are the root's size plus what each image adds.
const uniqueBytes = cold.results.reduce((sum, r) => sum + (r.addedBytes ?? 0), 0);
const sumOfSizes = cold.results.reduce((sum, r) => sum + (r.size ?? 0), 0);

const rows = cold.results.map((r) => [
  r.name,
  imageRef(config, r.name),
  formatDuration(r.durationMs),
  formatBytes(r.size),
  formatBytes(r.addedBytes),
]);
const section = [
  '<!-- build:begin -->',
  `## Image build (\`node --import tsx bench/build.ts\`, ${new Date().toISOString().slice(0, 10)})`,
  '',
  `Machine: ${cpus().length} cores, ${cpus()[0]?.model ?? 'unknown cpu'}; Docker Engine ${await engine.ping()}; packages from the Debian mirror over the network.`,
  '',
  `| measure | value |`,
  `|---|---|`,
  `| cold build of the set (${cold.results.length} images incl. the mmdebstrap rootfs, no cache) | ${formatDuration(cold.ms)} |`,
  `| no-op rebuild (nothing changed) | ${formatDuration(noop.ms)}, ${noop.results.filter((r) => r.status === 'built').length} images built |`,
  `| unique layer bytes of the set | ${formatBytes(uniqueBytes)} |`,
  `| sum of image sizes (what the set would take without layer sharing) | ${formatBytes(sumOfSizes)} |`,
  '',
  '```',
  table(['IMAGE', 'REF', 'COLD BUILD', 'SIZE', 'ADDED OVER PARENT'], rows, [2, 3, 4]),
  '```',
  '<!-- build:end -->',
].join('\n');

const docPath = new URL('../docs/benchmarks.md', import.meta.url);
let doc: string;
try {
  doc = readFileSync(docPath, 'utf8');
} catch {
  doc = '# Benchmarks\n\nFigures from one run of each bench/ script on this project\'s machine (2 cores, shared and noisy: compare figures from the same run).\n';
}
doc = /<!-- build:begin -->[\s\S]*<!-- build:end -->/.test(doc)
  ? doc.replace(/<!-- build:begin -->[\s\S]*<!-- build:end -->/, section)
  : `${doc.trimEnd()}\n\n${section}\n`;
writeFileSync(docPath, doc);
console.log(section);
