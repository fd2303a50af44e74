import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { catalog, catalogSecrets } from '../../src/catalog/index.js';
import { defaultBuildConfig } from '../../src/config/build-config.js';
import { loadDeployment } from '../../src/config/deployment.js';
import { initConfig } from '../../src/config/init.js';
import { genpwd } from '../../src/config/passwords.js';
import { plan, rabbitmqUser, type PlanInput } from '../../src/plan/plan.js';
import { decide } from '../../src/reconcile/diff.js';
import { LABEL } from '../../src/plan/types.js';
import { canonicalJson } from '../../src/plan/plan.js';

function input(overrides: Record<string, string> = {}): PlanInput {
  const dir = mkdtempSync(join(tmpdir(), 'berth-plan-'));
  initConfig(dir, { interface: 'ens3', address: '192.0.2.20', hostname: 'aio' });
  genpwd(dir, catalogSecrets());
  const { deployment } = loadDeployment(dir, { requiredSecrets: catalogSecrets().map((s) => s.name) });
  return { deployment, overrides, images: defaultBuildConfig, hostnames: { localhost: 'aio' } };
}

const base = input();

test('services come in dependency order with their containers and jobs, fully resolved', () => {
  const p = plan(base, catalog);
  const names = p.services.map((s) => s.service);
  assert.ok(names.indexOf('keystone') > names.indexOf('mariadb'));
  const keystone = p.services.find((s) => s.service === 'keystone')!;
  assert.deepEqual(keystone.jobs.map((j) => j.name), ['keystone_database', 'keystone_bootstrap']);
  const c = keystone.containers[0]!;
  assert.equal(c.spec.image, 'berth/keystone:zed');
  assert.equal(c.spec.networkMode, 'host');
  assert.match(c.files['keystone-uwsgi.ini']!, /http-socket = 192\.0\.2\.20:5000/);
  assert.match(c.spec.healthcheck.test, /^healthcheck_curl http:\/\/192\.0\.2\.20:5000\/v3$/);
  const config = JSON.parse(c.files['config.json']!) as { command: string; config_files: { dest: string }[] };
  assert.equal(config.command, 'uwsgi --ini /etc/keystone/keystone-uwsgi.ini');
  assert.ok(config.config_files.some((f) => f.dest === '/etc/keystone/fernet-keys/0'));
  const rabbit = p.services.find((s) => s.service === 'rabbitmq')!.containers[0]!;
  assert.match(rabbit.files['rabbitmq-env.conf']!, /NODENAME=rabbit@aio/);
  assert.match(rabbit.files['definitions.json']!, /"name": "keystone"/);
  JSON.parse(rabbit.files['definitions.json']!);
});

test('no secret is in a container spec (environment, command, labels)', () => {
  const p = plan(base, catalog);
  const secrets = Object.values(base.deployment.passwords);
  for (const s of p.services) {
    for (const c of [...s.containers, ...s.jobs]) {
      const spec = canonicalJson(c.spec);
      for (const secret of secrets) assert.ok(!spec.includes(secret), `${c.name} spec holds a secret`);
    }
  }
});

test('the plan is deterministic, and an override changes only that file of that container', () => {
  const a = plan(base, catalog);
  const b = plan(base, catalog);
  assert.equal(canonicalJson(a), canonicalJson(b));
  const withOverride = plan({ ...base, overrides: { 'keystone.conf': '[token]\nexpiration = 7200\n' } }, catalog);
  const ks = (p: typeof a) => p.services.find((s) => s.service === 'keystone')!.containers[0]!;
  assert.match(ks(withOverride).files['keystone.conf']!, /\[token\]\nprovider = fernet\nexpiration = 7200/);
  assert.equal(ks(withOverride).specHash, ks(a).specHash);
  assert.notEqual(ks(withOverride).configHash, ks(a).configHash);
  const job = (p: typeof a) => p.services.find((s) => s.service === 'keystone')!.jobs.find((j) => j.name === 'keystone_bootstrap')!;
  assert.equal(job(withOverride).inputsHash, job(a).inputsHash, 'bootstrap does not rerun for a keystone.conf change');
  for (const svc of ['mariadb', 'memcached', 'rabbitmq']) {
    const before = a.services.find((s) => s.service === svc)!.containers[0]!;
    const after = withOverride.services.find((s) => s.service === svc)!.containers[0]!;
    assert.equal(after.configHash, before.configHash, svc);
  }
});

test('a disabled service is not planned', () => {
  const g = { ...base.deployment.globals, enable_memcached: false };
  const p = plan({ ...base, deployment: { ...base.deployment, globals: g } }, catalog);
  assert.ok(!p.services.some((s) => s.service === 'memcached'));
});

test('decide: create, recreate with the field named, restart with the file and key named, none', () => {
  const c = plan(base, catalog).services.find((s) => s.service === 'keystone')!.containers[0]!;
  assert.equal(decide(c, {}).kind, 'create');
  const actual = {
    id: 'x', name: c.name, imageId: 'sha256:1', running: true, exitCode: 0, startedAt: new Date().toISOString(),
    labels: { [LABEL.specHash]: c.specHash, [LABEL.spec]: canonicalJson(c.spec), [LABEL.configHash]: c.configHash },
  };
  assert.deepEqual(decide(c, { container: actual, imageId: 'sha256:1', files: c.files, filesWrittenAt: 0 }), { kind: 'none' });
  const changedFiles = { ...c.files, 'keystone.conf': c.files['keystone.conf']!.replace('expiration = 86400', 'expiration = 60') };
  const restart = decide(c, { container: actual, imageId: 'sha256:1', files: changedFiles, filesWrittenAt: 0 });
  assert.equal(restart.kind, 'restart');
  assert.match(restart.kind === 'restart' ? restart.reasons.join() : '', /keystone\.conf changed \(token\.expiration\)/);
  const oldSpec = { ...c.spec, capAdd: ['NET_ADMIN'] };
  const recreate = decide(c, { container: { ...actual, labels: { ...actual.labels, [LABEL.specHash]: 'old', [LABEL.spec]: canonicalJson(oldSpec) } }, imageId: 'sha256:1', files: c.files });
  assert.deepEqual(recreate, { kind: 'recreate', reasons: ['capAdd changed'] });
  assert.equal(decide(c, { container: actual, imageId: 'sha256:2', files: c.files }).kind, 'recreate');
  assert.equal(decide(c, { container: { ...actual, running: false }, imageId: 'sha256:1', files: c.files }).kind, 'start');
});

test('RabbitMQ password hashes are stable and in RabbitMQ SHA-256 format', () => {
  const h = rabbitmqUser('nova', 'secret');
  assert.deepEqual(rabbitmqUser('nova', 'secret'), h);
  assert.equal(Buffer.from(h.password_hash, 'base64').length, 36);
});
