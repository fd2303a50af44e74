// berth upgrade and rollback on the all-in-one (the default release), with resources made before
// the upgrade (a project, an image, a network with a router, a Heat stack, a server) checked after
// each step. The new image sets are the built images under new tags (`docker tag`: a rebuilt set
// under a new tag, as a same-release upgrade gets), two of them with one image changed on purpose:
// a placement image whose health check never passes, and a glance image whose schema expansion
// creates a table and then fails. Each of those upgrades must end rolled back by itself, the
// database restored (the table gone), `berth check` clean, the resources intact. The first upgrade
// is killed (SIGKILL) halfway and finished by a second `berth upgrade`; a probe measures the
// API's longest unavailable run through it. Bad input: the release deployed, a downgrade, missing
// images, and a deploy that would change the tag.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { dockerAvailable, imageTag, ok, repoRoot, sh, TestCloud } from './harness.js';
import { startProbe, summary } from './vip-probe.js';

const hasDocker = dockerAvailable();
const cloud = new TestCloud('upgrade');
const { configDir } = cloud;
const run = cloud.run.bind(cloud);

const baseGlobals = ['enable_heat: yes', 'enable_horizon: "no"'];
const tags = { good: `${imageTag}-u1`, unhealthy: `${imageTag}-u2`, badMigration: `${imageTag}-u3` };

function setTag(tag: string | undefined, extra: string[] = []): void {
  cloud.writeConfig([...baseGlobals, ...(tag ? [`openstack_tag: "${tag}"`] : []), ...extra]);
}

/** Every built image of the default release, also under `tag`. */
function tagImageSet(tag: string): string[] {
  const refs = ok('docker', ['images', '--format', '{{.Repository}}:{{.Tag}}']).split('\n').filter((r) => new RegExp(`^berth/[a-z0-9-]+:${imageTag.replace('.', '\\.')}$`).test(r));
  assert.ok(refs.length > 10, `the built images: ${refs.join(', ')}`);
  for (const ref of refs) ok('docker', ['tag', ref, ref.replace(/:[^:]+$/, `:${tag}`)]);
  return refs;
}

/** `image` of the set `tag` rebuilt from it with one more layer: a Dockerfile's lines, and files. */
function changeImage(tag: string, image: string, lines: string[], files: Record<string, string>): void {
  const dir = join(cloud.work, `build-${image}-${tag}`);
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text, { mode: 0o755 });
  writeFileSync(join(dir, 'Dockerfile'), [`FROM berth/${image}:${tag}`, ...lines, ''].join('\n'));
  const r = sh('docker', ['build', '-q', '-t', `berth/${image}:${tag}`, dir]);
  assert.equal(r.status, 0, r.stderr);
}

function restorePoints(): { id: string; state: string; failure?: string }[] {
  const r = run(['--format', 'json', 'restore-points']);
  assert.equal(r.status, 0, r.err);
  return JSON.parse(r.out) as { id: string; state: string; failure?: string }[];
}

/** The image reference a container runs ('' while there is none). */
function imageOf(container: string): string {
  return sh('docker', ['inspect', '-f', '{{.Config.Image}}', container]).stdout.trim();
}

const imageNames: Record<string, string> = { mariadb: 'mariadb-server', keystone: 'keystone', glance_api: 'glance-api', nova_api: 'nova-api', neutron_server: 'neutron-server', heat_api: 'heat-api' };

function glanceTables(pattern: string): string {
  return ok('docker', ['exec', '-u', 'root', 'mariadb', 'mariadb', '--protocol=socket', '-sNe', `SHOW TABLES FROM glance LIKE '${pattern}'`]).trim();
}

describe('berth upgrade and rollback (all-in-one, a new image tag of the default release)', { skip: !hasDocker }, () => {
  const probeLog = join(cloud.work, 'probe.jsonl');
  let probe: ReturnType<typeof startProbe> | undefined;

  before(() => {
    setTag(undefined);
    cloud.destroy();
  });

  after(() => {
    probe?.kill();
    cloud.teardown();
    for (const tag of Object.values(tags)) {
      const refs = sh('docker', ['images', '--format', '{{.Repository}}:{{.Tag}}']).stdout.split('\n').filter((r) => r.startsWith('berth/') && r.endsWith(`:${tag}`));
      if (refs.length) sh('docker', ['rmi', ...refs]);
    }
  });

  test('deploy, and the resources an upgrade must keep', async (t) => {
    const t0 = Date.now();
    const r = run(['deploy']);
    assert.equal(r.status, 0, `${r.out}\n${r.err}`);
    assert.equal(run(['post-deploy']).status, 0);
    t.diagnostic(`deploy: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    await cloud.makeResources('e2e-upgrade', '10.77.0.0/24', ['--os-compute-api-version', '2.37', '--nic', 'none'], (m) => t.diagnostic(m));
  });

  test('bad input: the release deployed is nothing to do; a downgrade, missing images and a deploy to another tag are refused', () => {
    const same = run(['upgrade']);
    assert.equal(same.status, 0, same.err);
    assert.match(same.out, /nothing to upgrade/);

    setTag(undefined, ['openstack_release: "zed"']);
    const down = run(['upgrade']);
    assert.equal(down.status, 2, down.out + down.err);
    assert.match(down.err, /older than the 2025\.1 the cloud runs: berth upgrade does not downgrade/);

    setTag(`${imageTag}-absent`);
    const missing = run(['upgrade']);
    assert.equal(missing.status, 2, missing.out + missing.err);
    assert.match(missing.err, /images of 2025\.1 \(tag 2025\.1-absent\) are missing:\n\s+localhost: image berth\/\S+:2025\.1-absent and \d+ more not on the host; run berth build/);
    const deployed = run(['deploy']);
    assert.equal(deployed.status, 2, deployed.out + deployed.err);
    assert.match(deployed.err, /the cloud runs 2025\.1, and globals\.yml names 2025\.1 \(tag 2025\.1-absent\).*\n.*berth upgrade moves it there/);
    assert.deepEqual(restorePoints(), []);
  });

  test('a tag upgrade killed halfway is refused to deploy and finished by berth upgrade; the probe measures the API', async (t) => {
    tagImageSet(tags.good);
    setTag(tags.good);
    probe = startProbe(configDir, '127.0.0.2', probeLog);
    await until('the probe answers', 60_000, () => summary(probeLog, 0).rounds - summary(probeLog, 0).failed > 5);
    const t0 = Date.now();

    // Killed once keystone runs the new tag: the restore point is taken and the cloud half changed.
    const child = spawn(join(repoRoot, 'berth'), ['--config-dir', configDir, 'upgrade'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    await until('keystone on the new tag', 600_000, () => (imageOf('keystone').endsWith(`:${tags.good}`) ? true : undefined), () => child.exitCode !== null && `berth upgrade ended (${child.exitCode}) first:\n${out}`);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('close', r));
    cloud.outputs.push(out);
    assert.deepEqual(restorePoints().map((rp) => rp.state), ['upgrading']);
    assert.match(out, /restore point rp-\d{8}T\d{6}Z: the inputs, \d+ image IDs, database backup mariadb-\d{8}T\d{6}Z/);

    const refused = run(['deploy']);
    assert.equal(refused.status, 2, refused.out + refused.err);
    assert.match(refused.err, /the upgrade of restore point rp-\S+ \(2025\.1 → 2025\.1 \(tag 2025\.1-u1\)\) is not over \(upgrading\)/);

    const finish = run(['upgrade']);
    assert.equal(finish.status, 0, `${finish.out}\n${finish.err}`);
    assert.match(finish.out, /resuming the upgrade of rp-\S+/);
    assert.match(finish.out, /keystone_upgrade_contract/);
    assert.match(finish.out, /upgraded to 2025\.1 \(tag 2025\.1-u1\)/);
    const p = summary(probeLog, t0);
    probe.kill();
    probe = undefined;
    t.diagnostic(`tag upgrade (killed once, finished): ${((Date.now() - t0) / 1000).toFixed(1)} s; probe: ${p.rounds} rounds, ${p.failed} failed, longest outage ${p.outage.ms} ms; errors: ${p.errors.join('; ')}`);
    for (const [c, image] of Object.entries(imageNames)) assert.equal(imageOf(c), `berth/${image}:${tags.good}`);
    assert.deepEqual(restorePoints().map((rp) => rp.state), ['upgraded']);
    // The step containers are gone, and a deploy now changes nothing.
    assert.doesNotMatch(ok('docker', ['ps', '-a', '--format', '{{.Names}}']), /_upgrade_/);
    const noop = run(['deploy']);
    assert.equal(noop.status, 0, noop.err);
    assert.match(noop.out, /^localhost\s+\d+\s+0\s+0\s+0\s+no$/m);
    cloud.checkClean();
    cloud.assertResources('e2e-upgrade');
  });

  test('an image whose health check never passes: the upgrade rolls back by itself', (t) => {
    tagImageSet(tags.unhealthy);
    changeImage(tags.unhealthy, 'placement-api', ['COPY healthcheck_curl /usr/local/bin/healthcheck_curl'], { healthcheck_curl: '#!/bin/sh\necho "berth e2e: this image is never healthy" >&2\nexit 1\n' });
    setTag(tags.unhealthy);
    const t0 = Date.now();
    const r = run(['upgrade', '--health-timeout', '90']);
    t.diagnostic(`failed upgrade and its rollback: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    assert.equal(r.status, 1, `${r.out}\n${r.err}`);
    assert.match(r.err, /the upgrade to 2025\.1 \(tag 2025\.1-u2\) failed and was rolled back: the cloud runs 2025\.1 \(tag 2025\.1-u1\) again/);
    assert.match(r.err, /placement_api: not healthy after 90s/);
    assert.match(r.out, /restoring mariadb-\d{8}T\d{6}Z/);
    assert.equal(imageOf('placement_api'), `berth/placement-api:${tags.good}`);
    assert.deepEqual(restorePoints().map((rp) => rp.state), ['upgraded', 'rolled-back']);
    // globals.yml still names the failed tag (berth never edits it): check reports that as drift
    // until the operator puts the running tag back.
    assert.equal(run(['check']).status, 1);
    setTag(tags.good);
    cloud.checkClean();
    cloud.assertResources('e2e-upgrade');
  });

  test('a schema migration that fails halfway: rolled back, the database restored', (t) => {
    tagImageSet(tags.badMigration);
    // glance-manage's expansion first changes the database, then fails: only the restore undoes that.
    const wrapper = [
      '#!/bin/sh',
      'if [ "$1 $2" = "db expand" ]; then',
      '  python3 - <<"PY"',
      'import configparser, sqlalchemy',
      'conf = configparser.ConfigParser(interpolation=None)',
      'conf.read("/etc/glance/glance-api.conf")',
      'with sqlalchemy.create_engine(conf["database"]["connection"]).begin() as db:',
      '    db.execute(sqlalchemy.text("CREATE TABLE berth_partial_migration (id INT)"))',
      'PY',
      '  echo "berth e2e: this migration fails halfway" >&2',
      '  exit 1',
      'fi',
      'exec /usr/bin/glance-manage "$@"',
      '',
    ].join('\n');
    changeImage(tags.badMigration, 'glance-api', ['COPY glance-manage /usr/local/bin/glance-manage'], { 'glance-manage': wrapper });
    setTag(tags.badMigration);
    const t0 = Date.now();
    const r = run(['upgrade']);
    t.diagnostic(`failed migration and its rollback: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    assert.equal(r.status, 1, `${r.out}\n${r.err}`);
    assert.match(r.err, /failed and was rolled back: the cloud runs 2025\.1 \(tag 2025\.1-u1\) again/);
    assert.match(r.err, /glance_upgrade_expand/);
    assert.match(r.out, /this migration fails halfway/);
    assert.equal(glanceTables('berth_partial%'), '', 'the partial migration was undone');
    assert.equal(imageOf('glance_api'), `berth/glance-api:${tags.good}`);
    assert.deepEqual(restorePoints().map((rp) => rp.state), ['upgraded', 'rolled-back', 'rolled-back']);
    setTag(tags.good);
    cloud.checkClean();
    cloud.assertResources('e2e-upgrade');
  });

  test('restore points are 0700 and list what each upgrade did; rollback of a finished upgrade asks for confirmation', () => {
    const dir = join(configDir, 'restore-points');
    assert.ok(existsSync(dir));
    for (const id of readdirSync(dir)) {
      assert.equal(ok('stat', ['-c', '%a', join(dir, id)]).trim(), '700');
      assert.equal(ok('stat', ['-c', '%a', join(dir, id, 'restore-point.json')]).trim(), '600');
      assert.equal(ok('stat', ['-c', '%a', join(dir, id, 'inputs', 'passwords.yml')]).trim(), '600');
    }
    const listed = run(['restore-points']);
    assert.match(listed.out, /rp-\S+\s+2025\.1 \(tag 2025\.1-u1\) → 2025\.1 \(tag 2025\.1-u2\)\s+rolled-back, database mariadb-\S+ \([\d.]+ [kMG]?B on localhost\)\n\s+failed: .*placement_api/);
    const first = restorePoints()[0]!;
    const r = run(['rollback', first.id]);
    assert.equal(r.status, 2);
    assert.match(r.err, /finished: rolling it back restores the database .* what was written since is lost/);
    assert.ok(!readFileSync(join(dir, first.id, 'restore-point.json'), 'utf8').includes('rolling-back'));
    cloud.assertNoSecretLeaked();
  });
});

async function until<T>(what: string, timeoutMs: number, probe: () => T | undefined, abort?: () => string | false): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    const why = abort?.();
    if (why) throw new Error(why);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

