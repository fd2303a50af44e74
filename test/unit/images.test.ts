import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { builtinImagesDir } from '../../src/build/builder.js';
import { ancestors, formatTree, loadImageTree, selectImages } from '../../src/build/image-tree.js';
import { defaultBuildConfig, loadBuildConfig } from '../../src/config/build-config.js';
import { releaseNamed } from '../../src/config/releases.js';
import { InputError } from '../../src/config/errors.js';

const images = loadImageTree([builtinImagesDir], defaultBuildConfig.release);

test('the built-in tree has the images of the build issue with explicit parents', () => {
  for (const name of ['base', 'openstack-base', 'mariadb-server', 'memcached', 'rabbitmq', 'keystone', 'toolbox']) {
    assert.ok(images.has(name), name);
  }
  assert.equal(images.get('base')?.parent, undefined);
  assert.equal(images.get('keystone')?.parent, 'openstack-base');
  assert.deepEqual(ancestors(images, 'keystone'), ['openstack-base', 'base']);
  assert.deepEqual(ancestors(images, 'heat-engine'), ['heat-base', 'openstack-base', 'base']);
  assert.deepEqual(ancestors(images, 'horizon'), ['openstack-base', 'base']);
});

test('naming an image selects its missing ancestors; regexes are anchored', () => {
  assert.deepEqual([...selectImages(images, ['keystone'])].sort(), ['base', 'keystone', 'openstack-base']);
  assert.deepEqual([...selectImages(images, ['m.*'])].sort(), ['base', 'mariadb-server', 'memcached']);
  assert.equal(selectImages(images, []).size, images.size);
  assert.throws(() => selectImages(images, ['key']), InputError);
  assert.throws(() => selectImages(images, ['(']), /not a valid image name/);
});

test('--list prints the tree', () => {
  const text = formatTree(images);
  assert.match(text, /^base/m);
  assert.match(text, /openstack-base[\s\S]*keystone/);
});

test('an extra image folder adds images; a missing parent is a clear error', () => {
  const extra = mkdtempSync(join(tmpdir(), 'berth-images-'));
  mkdirSync(join(extra, 'custom'));
  writeFileSync(join(extra, 'custom', 'image.yml'), 'parent: base\npackages: [htop]\n');
  writeFileSync(join(extra, 'custom', 'Dockerfile.j2'), 'FROM {{ parent_ref }}\n');
  const merged = loadImageTree([builtinImagesDir, extra], defaultBuildConfig.release);
  assert.equal(merged.get('custom')?.parent, 'base');

  writeFileSync(join(extra, 'custom', 'image.yml'), 'parent: nothing\n');
  assert.throws(() => loadImageTree([builtinImagesDir, extra], defaultBuildConfig.release), /parent "nothing" is not an image/);
  writeFileSync(join(extra, 'custom', 'image.yml'), 'parent: base\npackagez: []\n');
  assert.throws(() => loadImageTree([builtinImagesDir, extra], defaultBuildConfig.release), /image\.yml/);
});

test('the tree is per release: zed keeps linuxbridge and sqlalchemy-migrate, 2025.1 has neither', () => {
  const zed = loadImageTree([builtinImagesDir], releaseNamed('zed'));
  const epoxy = loadImageTree([builtinImagesDir], releaseNamed('epoxy'));
  assert.ok(zed.has('neutron-linuxbridge-agent'));
  assert.ok(!epoxy.has('neutron-linuxbridge-agent'));
  assert.ok(zed.get('openstack-base')!.packages.includes('python3-migrate'));
  assert.ok(!epoxy.get('openstack-base')!.packages.includes('python3-migrate'));
  assert.deepEqual(zed.get('keystone')!.packages, epoxy.get('keystone')!.packages);
});

test('build.yml and globals.yml pick the release; it decides the suite and the tag', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-rel-'));
  writeFileSync(join(dir, 'globals.yml'), 'network_interface: eth0\nopenstack_release: "zed"\n');
  const zed = loadBuildConfig(dir);
  assert.deepEqual([zed.release.name, zed.debianSuite, zed.tag], ['zed', 'bookworm', 'zed']);
  assert.deepEqual([defaultBuildConfig.release.name, defaultBuildConfig.debianSuite, defaultBuildConfig.tag], ['2025.1', 'trixie', '2025.1']);
  writeFileSync(join(dir, 'globals.yml'), 'network_interface: eth0\nopenstack_release: "kilo"\n');
  assert.throws(() => loadBuildConfig(dir), /globals\.yml:2:1: openstack_release: unknown release "kilo"; berth knows zed, 2025\.1 \(epoxy\)/);
});
