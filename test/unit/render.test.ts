import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { builtinImagesDir } from '../../src/build/builder.js';
import { buildKey, readContextFiles } from '../../src/build/context.js';
import { loadImageTree } from '../../src/build/image-tree.js';
import { renderDockerfile, resolvePackages } from '../../src/build/render.js';
import { defaultBuildConfig, loadBuildConfig, type BuildConfig } from '../../src/config/build-config.js';

const images = loadImageTree([builtinImagesDir], defaultBuildConfig.release);
const keystone = images.get('keystone')!;
const render = (config: BuildConfig): string =>
  renderDockerfile({ image: keystone, parentRef: 'berth/openstack-base:zed', config, roots: [builtinImagesDir] });
const keyOf = (config: BuildConfig, parentId = 'sha256:parent'): string =>
  buildKey({ dockerfile: render(config), files: readContextFiles(keystone.dir), parentId, buildArgs: config.buildArgs });

function configFrom(yaml: string): BuildConfig {
  const dir = mkdtempSync(join(tmpdir(), 'berth-cfg-'));
  writeFileSync(join(dir, 'build.yml'), yaml);
  return loadBuildConfig(dir);
}

test('renders FROM the parent, the fixed-UID user and the packages', () => {
  const text = render(defaultBuildConfig);
  assert.match(text, /^FROM berth\/openstack-base:zed$/m);
  assert.match(text, /--uid 42425 --gid 42425/);
  assert.match(text, /RUN berth-apt-install python3-keystone$/m);
  assert.match(text, /^USER keystone$/m);
  assert.doesNotMatch(text, /&lt;|&gt;|&amp;/, 'autoescape must be off');
});

test('every image renders and has empty header and footer blocks', () => {
  for (const image of images.values()) {
    const text = renderDockerfile({ image, parentRef: 'x/y:z', config: defaultBuildConfig, roots: [builtinImagesDir] });
    assert.match(text, /^FROM x\/y:z$/m, image.name);
    const prefix = image.name.replace(/-/g, '_');
    const source = readFileSync(join(image.dir, 'Dockerfile.j2'), 'utf8');
    assert.match(source, new RegExp(`{% block ${prefix}_header %}{% endblock %}`), image.name);
    assert.match(source, new RegExp(`{% block ${prefix}_footer %}{% endblock %}`), image.name);
  }
});

test('packages_append / _remove / _override', () => {
  assert.deepEqual(resolvePackages(['a', 'b'], { append: ['c', 'a'], remove: ['b'] }), ['a', 'c']);
  assert.deepEqual(resolvePackages(['a', 'b'], { append: ['c'], remove: [], override: ['z'] }), ['z']);
  const cfg = configFrom('keystone_packages_append: [python3-ldap]\n');
  assert.match(render(cfg), /RUN berth-apt-install python3-keystone python3-ldap$/m);
});

test('a template override replaces a block of the image', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-override-'));
  writeFileSync(
    join(dir, 'override.j2'),
    '{% extends parent_template %}\n{% block keystone_footer %}RUN echo customized > /etc/motd{% endblock %}\n',
  );
  writeFileSync(join(dir, 'build.yml'), 'template_override: override.j2\n');
  const text = render(loadBuildConfig(dir));
  assert.match(text, /^RUN echo customized > \/etc\/motd$/m);
  assert.match(text, /^USER keystone$/m, 'the rest of the template is kept');
});

test('the build key changes with the Dockerfile, packages, parent and build args, and only then', () => {
  const base = keyOf(defaultBuildConfig);
  assert.equal(keyOf(defaultBuildConfig), base, 'stable');
  assert.notEqual(keyOf(configFrom('keystone_packages_append: [python3-ldap]\n')), base);
  assert.notEqual(keyOf(defaultBuildConfig, 'sha256:other-parent'), base);
  assert.notEqual(keyOf(configFrom('build_args: {HTTP_PROXY: "http://127.0.0.1:3128"}\n')), base);
  assert.equal(keyOf(configFrom('memcached_packages_append: [htop]\n')), base, "another image's packages");
  const files = readContextFiles(keystone.dir);
  const edited = files.map((f) => (f.path === 'extend_start.sh' ? { ...f, content: Buffer.from('# changed') } : f));
  assert.notEqual(
    buildKey({ dockerfile: render(defaultBuildConfig), files: edited, parentId: 'sha256:parent', buildArgs: {} }),
    base,
  );
});
