import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { builtinImagesDir } from '../../src/build/builder.js';
import { ancestors, formatTree, loadImageTree, selectImages } from '../../src/build/image-tree.js';
import { InputError } from '../../src/config/errors.js';

const images = loadImageTree([builtinImagesDir]);

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
  const merged = loadImageTree([builtinImagesDir, extra]);
  assert.equal(merged.get('custom')?.parent, 'base');

  writeFileSync(join(extra, 'custom', 'image.yml'), 'parent: nothing\n');
  assert.throws(() => loadImageTree([builtinImagesDir, extra]), /parent "nothing" is not an image/);
  writeFileSync(join(extra, 'custom', 'image.yml'), 'parent: base\npackagez: []\n');
  assert.throws(() => loadImageTree([builtinImagesDir, extra]), /image\.yml/);
});
