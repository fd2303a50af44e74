import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { imageRef, loadBuildConfig } from '../../src/config/build-config.js';
import { InputError } from '../../src/config/errors.js';

function dirWith(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'berth-cfg-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

test('defaults without any file; refs are <registry>/<namespace>/<image>:<tag>', () => {
  const cfg = loadBuildConfig(dirWith({}));
  assert.equal(cfg.baseImage, null);
  assert.equal(imageRef(cfg, 'keystone'), 'berth/keystone:zed');
  assert.equal(imageRef({ registry: '127.0.0.1:4000', namespace: 'ns', tag: 't' }, 'x'), '127.0.0.1:4000/ns/x:t');
});

test('a build: section of globals.yml is read when there is no build.yml', () => {
  const cfg = loadBuildConfig(dirWith({ 'globals.yml': 'kolla_base_distro: debian\nbuild:\n  openstack_tag: custom\n' }));
  assert.equal(cfg.tag, 'custom');
});

test('an unknown key names file:line:column and suggests the right one', () => {
  const dir = dirWith({ 'build.yml': 'openstack_tag: zed\ndocker_namespce: x\n' });
  assert.throws(
    () => loadBuildConfig(dir),
    (err: unknown) =>
      err instanceof InputError &&
      err.message.includes(`${join(dir, 'build.yml')}:2:1`) &&
      err.message.includes('did you mean "docker_namespace"'),
  );
});

test('a wrong type names the key and its line', () => {
  const dir = dirWith({ 'build.yml': 'openstack_tag: zed\nbuild_concurrency: many\n' });
  assert.throws(() => loadBuildConfig(dir), /build\.yml:2:\d+: build_concurrency: /);
});

test('malformed YAML is one line with its position', () => {
  const dir = dirWith({ 'build.yml': 'openstack_tag: [zed\n' });
  assert.throws(() => loadBuildConfig(dir), /build\.yml:\d+:\d+: /);
});
