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
  assert.equal(imageRef(cfg, 'keystone'), 'berth/keystone:2025.1');
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

test('build values that reach apt, sources.list or Docker are refused with file:line and the key', () => {
  const cases: [string, RegExp][] = [
    ['debian_mirror: "http://deb.debian.org/debian $(id)"\n', /build\.yml:1:1: debian_mirror: not an http\(s\) or file:\/\/\/ mirror URL/],
    ['debian_suite: "bookworm main contrib"\n', /build\.yml:1:1: debian_suite: not a Debian suite name/],
    ['keystone_packages_append: [vim, "curl;id"]\n', /build\.yml:1:33: keystone_packages_append\.1: not a Debian package name$/],
    ['build_args:\n  "A B": x\n', /build\.yml:2:3: build_args\.A B: not a build argument name/],
    ['build_args:\n  HTTP_PROXY: "a\\nb"\n', /build\.yml:2:3: build_args\.HTTP_PROXY: not a string or a number/],
    ['docker_registry: "reg:5000;id"\n', /build\.yml:1:1: docker_registry: not a registry/],
    ['push_retries: 1000\n', /build\.yml:1:1: push_retries: must be 0 to 100$/],
    [`base_image: "${'a'.repeat(300)}"\n`, /build\.yml:1:1: base_image: too long \(300 characters; at most 255\)$/],
  ];
  for (const [text, message] of cases) {
    const dir = dirWith({ 'build.yml': text });
    assert.throws(() => loadBuildConfig(dir), (err: unknown) => err instanceof InputError && message.test(err.message) && !!err.hint, text);
  }
});

test('a bad image naming value in globals.yml is reported at its line in globals.yml', () => {
  const dir = dirWith({ 'globals.yml': 'network_interface: eth0\ndocker_namespace: "Not Valid"\n', 'build.yml': 'openstack_tag: zed\n' });
  assert.throws(() => loadBuildConfig(dir), (err: unknown) => err instanceof InputError && err.message.startsWith(`${join(dir, 'globals.yml')}:2:1: docker_namespace: `));
});

test('kolla-ansible naming in globals.yml: openstack_tag: "{{ openstack_release }}" is resolved for the build', () => {
  const cfg = loadBuildConfig(dirWith({ 'globals.yml': 'openstack_release: "2025.1"\nopenstack_tag: "{{ openstack_release }}"\ndocker_registry: "192.0.2.10:4000/"\n' }));
  assert.equal(imageRef(cfg, 'keystone'), '192.0.2.10:4000/berth/keystone:2025.1');
});

test('a build.yml over 1 MiB is refused by name', () => {
  const dir = dirWith({ 'build.yml': `# ${'x'.repeat(2 * 1024 * 1024)}\n` });
  assert.throws(() => loadBuildConfig(dir), (err: unknown) => err instanceof InputError && err.message === `${join(dir, 'build.yml')}: larger than 1 MiB, the most berth reads from one file`);
});
