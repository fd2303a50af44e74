import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { InputError } from '../../src/config/errors.js';
import { redact } from '../../src/ui/deploy-report.js';
import {
  excludeList,
  excludeListPath,
  exclusions,
  maxRegexLength,
  resolveSelection,
  runFiles,
  selectionRegex,
  smokeRegex,
  summarize,
} from '../../src/tempest/run.js';

const allOn = { enable_glance: true, enable_nova: true, enable_neutron: true };

test('exclude list: an @unless block applies only while its service is off, a @when block only to its release', () => {
  const text = readFileSync(excludeListPath, 'utf8');
  const without = excludeList(text, { enable_neutron: false, openstack_release: 'zed' });
  const withNeutron = excludeList(text, { enable_neutron: true, openstack_release: 'zed' });
  assert.match(without, /^\^tempest\\\.api\\\.compute\\\.servers\\\.$/m);
  assert.doesNotMatch(withNeutron, /compute\\\.servers/);
  assert.doesNotMatch(withNeutron, /^@/m);
  // Lines after @always apply either way.
  assert.match(withNeutron, /test_credentials/);
  const byRelease = '^a\n@when openstack_release zed\n^b\n@always\n^c';
  assert.equal(excludeList(byRelease, { openstack_release: 'zed' }), '^a\n^b\n^c');
  assert.equal(excludeList(byRelease, { openstack_release: '2025.1' }), '^a\n^c');
});

test('selection: smoke by default and with --smoke', () => {
  assert.deepEqual(resolveSelection({}), { kind: 'smoke' });
  assert.deepEqual(resolveSelection({ smoke: true }), { kind: 'smoke' });
  assert.equal(selectionRegex({ kind: 'smoke' }, allOn), smokeRegex);
  const smoke = new RegExp(smokeRegex);
  assert.match('tempest.api.identity.v3.test_tokens.TokensV3Test.test_create_token[id-6f8e4436,smoke]', smoke);
  assert.doesNotMatch('tempest.api.identity.v3.test_tokens.TokensV3Test.test_validate_token[id-a9512ac3]', smoke);
});

test('selection: --full is every API test of the deployed services and the scenarios, no smoke filter', () => {
  assert.deepEqual(resolveSelection({ full: true }), { kind: 'full' });
  const all = new RegExp(selectionRegex({ kind: 'full' }, allOn));
  for (const id of [
    'tempest.api.identity.v3.test_tokens.TokensV3Test.test_validate_token[id-a9512ac3]',
    'tempest.api.image.v2.test_images.BasicOperationsImagesTest.test_register_upload_get_image_file[id-139b765e]',
    'tempest.api.compute.servers.test_servers.ServersTestJSON.test_create_specify_keypair[id-f9e15296]',
    'tempest.api.network.test_networks.NetworksTest.test_list_networks[id-f7ffdeda,smoke]',
    'tempest.scenario.test_server_basic_ops.TestServerBasicOps.test_server_basic_ops[compute,id-7fff3fb3,network]',
  ]) {
    assert.match(id, all);
  }
  assert.doesNotMatch('tempest.api.volume.test_volumes_get.VolumesGetTest.test_volume_create_get_update_delete[id-27fb0e9f]', all);
  // Without nova and neutron their API suites are not asked for.
  const keystoneGlance = new RegExp(selectionRegex({ kind: 'full' }, { enable_glance: true }));
  assert.match('tempest.api.image.v2.test_images.ListImagesTest.test_index_no_params[id-1e341d7a]', keystoneGlance);
  assert.doesNotMatch('tempest.api.compute.flavors.test_flavors.FlavorsV2TestJSON.test_list_flavors[id-e36c0eaa]', keystoneGlance);
  assert.doesNotMatch('tempest.api.network.test_networks.NetworksTest.test_list_networks[id-f7ffdeda]', keystoneGlance);
});

test('selection: --regex is the operator regex, as given', () => {
  const regex = String.raw`^tempest\.api\.identity\.v3\.test_(tokens|users)`;
  assert.deepEqual(resolveSelection({ regex }), { kind: 'regex', regex });
  assert.equal(selectionRegex({ kind: 'regex', regex }, allOn), regex);
  // Python spellings JS lacks are accepted.
  assert.equal(resolveSelection({ regex: '(?i)(?P<suite>identity)\\.(?P=suite)' }).kind, 'regex');
});

function assertInputError(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof InputError, `an InputError (exit 2), got ${String(err)}`);
    assert.match(err.message, message);
    return true;
  });
}

test('selection: two at once is a usage error', () => {
  assertInputError(() => resolveSelection({ smoke: true, full: true }), /--smoke and --full/);
  assertInputError(() => resolveSelection({ full: true, regex: 'identity' }), /--full and --regex/);
  assertInputError(() => resolveSelection({ smoke: true, regex: 'identity' }), /--smoke and --regex/);
});

test('selection: a bad regex is refused before anything runs', () => {
  assertInputError(() => resolveSelection({ regex: '' }), /empty/);
  assertInputError(() => resolveSelection({ regex: 'a'.repeat(maxRegexLength + 1) }), /at most 1000/);
  assert.equal(resolveSelection({ regex: 'a'.repeat(maxRegexLength) }).kind, 'regex');
  assertInputError(() => resolveSelection({ regex: 'identity\nrm -rf /' }), /newline or NUL/);
  assertInputError(() => resolveSelection({ regex: 'identity\0' }), /newline or NUL/);
  assertInputError(() => resolveSelection({ regex: 'tempest\\.api\\.(identity' }), /not a valid regular expression/);
  assertInputError(() => resolveSelection({ regex: '*smoke' }), /not a valid regular expression/);
});

const hostile = `'; touch /tmp/pwned #$(id)\`id\` "x" -- *`;

test('run files: the regex is a file of its own, never in the shell script', () => {
  const files = runFiles({ tempestConf: '[DEFAULT]\n', excludeList: '^a\\.b\n', regex: hostile });
  assert.equal(files.selection, hostile);
  assert.ok(!files['run.sh']!.includes(hostile));
  assert.doesNotMatch(files['run.sh']!, /touch|pwned/);
  assert.match(files['run.sh']!, /\/etc\/tempest\/selection/);
  const config = JSON.parse(files['config.json']!) as { config_files: { dest: string; perm: string; owner: string }[] };
  assert.deepEqual(
    config.config_files.map((f) => [f.dest, f.perm, f.owner]),
    ['tempest.conf', 'exclude-list.txt', 'selection', 'run.sh'].map((f) => [`/etc/tempest/${f}`, '0600', 'tempest']),
  );
});

test('run.sh passes the regex to tempest run as one argument, exclusions applied', () => {
  // run.sh under sh, its paths moved into a scratch dir, with tempest and stestr stubs recording argv.
  const dir = mkdtempSync(join(tmpdir(), 'berth-tempest-test-'));
  try {
    for (const d of ['etc', 'lib/results', 'bin']) mkdirSync(join(dir, d), { recursive: true });
    const regex = `-x${hostile}`; // also starts with a dash, which must not read as an option
    const files = runFiles({ tempestConf: '', excludeList: '^a\n', regex });
    for (const f of ['selection', 'exclude-list.txt', 'tempest.conf']) writeFileSync(join(dir, 'etc', f), files[f]!);
    const script = files['run.sh']!.replaceAll('/etc/tempest/', `${dir}/etc/`).replaceAll('/var/lib/tempest', `${dir}/lib`);
    const stub = (name: string, body: string): void => {
      writeFileSync(join(dir, 'bin', name), `#!/bin/sh\n${body}\n`);
      chmodSync(join(dir, 'bin', name), 0o755);
    };
    stub('tempest', `[ "$1" = init ] && mkdir -p "$2/etc" && exit 0; for a in "$@"; do printf '%s\\0' "$a"; done > ${dir}/argv; exit 3`);
    stub('stestr', 'echo subunit');
    let code = 0;
    try {
      execFileSync('sh', ['-c', script], { env: { PATH: `${dir}/bin:/usr/bin:/bin` }, stdio: 'pipe' });
    } catch (err) {
      const e = err as { status: number; stderr: Buffer };
      code = e.status;
      if (code !== 3) throw new Error(`run.sh failed: ${e.stderr.toString()}`, { cause: err });
    }
    assert.equal(code, 3, "tempest's exit status is run.sh's");
    const argv = readFileSync(join(dir, 'argv'), 'utf8').split('\0').slice(0, -1);
    assert.deepEqual(argv, ['run', `--regex=${regex}`, '--exclude-list', `${dir}/etc/exclude-list.txt`, '--concurrency', '2']);
    assert.equal(readFileSync(join(dir, 'lib/results/results.subunit'), 'utf8'), 'subunit\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('output: every secret of the deployment is redacted', () => {
  const secrets = ['Zq8xKd02LmNf', 'rabbitSecret99'];
  const output = `Unauthorized: password Zq8xKd02LmNf rejected\namqp://openstack:rabbitSecret99@10.0.0.1:5672//\n`;
  const redacted = redact(output, secrets);
  for (const s of secrets) assert.ok(!redacted.includes(s), s);
  assert.match(redacted, /password \*+ rejected/);
});

test('summary: totals, and how many exclusions applied and which', () => {
  const excluded = exclusions(excludeList(readFileSync(excludeListPath, 'utf8'), { enable_neutron: false }));
  assert.ok(excluded.every((e) => e.startsWith('^tempest')), excluded.join('\n'));
  const output = '{0} tempest.api.identity... ok\nnoise\n======\nTotals\n======\n - Passed: 7\n - Failed: 0\n';
  const summary = summarize(output, excluded);
  assert.match(summary, /- Passed: 7/);
  assert.doesNotMatch(summary, /noise/);
  assert.match(summary, new RegExp(`excluded \\(reasons in tempest/exclude-list\\.txt\\): ${excluded.length} patterns\\n  \\^tempest`));
  assert.match(summarize(output, []), /excluded \(reasons in tempest\/exclude-list\.txt\): none/);
});
