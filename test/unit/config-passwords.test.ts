import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { InputError } from '../../src/config/errors.js';
import { generateFernetKey, genpwd, loadPasswords, type SecretSpec } from '../../src/config/passwords.js';

const keys: SecretSpec[] = [
  { name: 'database_password', kind: 'password' },
  { name: 'keystone_admin_password', kind: 'password' },
  { name: 'keystone_fernet_key', kind: 'fernet' },
];

function configDir(passwords?: string, mode = 0o600): string {
  const dir = mkdtempSync(join(tmpdir(), 'berth-pw-'));
  if (passwords !== undefined) {
    writeFileSync(join(dir, 'passwords.yml'), passwords);
    chmodSync(join(dir, 'passwords.yml'), mode);
  }
  return dir;
}

const modeOf = (path: string): number => statSync(path).mode & 0o777;

test('genpwd creates passwords.yml, mode 0600, with a secret of the right kind for every key', () => {
  const dir = configDir();
  const { added, warnings } = genpwd(dir, keys);
  assert.deepEqual(added, ['database_password', 'keystone_admin_password', 'keystone_fernet_key']);
  assert.deepEqual(warnings, []);
  const path = join(dir, 'passwords.yml');
  assert.equal(modeOf(path), 0o600);
  const pw = loadPasswords(dir, keys.map((k) => k.name));
  assert.match(pw.database_password!, /^[A-Za-z0-9]{40}$/);
  assert.notEqual(pw.database_password, pw.keystone_admin_password);
  // A Fernet key: urlsafe base64 of 32 bytes, padded.
  assert.match(pw.keystone_fernet_key!, /^[A-Za-z0-9_-]{43}=$/);
  assert.equal(Buffer.from(pw.keystone_fernet_key!, 'base64url').length, 32);
  // Written through a temporary file that does not stay behind.
  assert.deepEqual(readdirSync(dir), ['passwords.yml']);
});

test('genpwd fills only empty values and missing keys, keeping values, comments and order', () => {
  const original = `# my passwords
keystone_admin_password: "keep-me"   # chosen by hand
database_password:    # filled by genpwd
other_service_password: ''

# a section comment
keystone_fernet_key: existing
`;
  const dir = configDir(original);
  const { added } = genpwd(dir, [...keys, { name: 'rabbitmq_password', kind: 'password' }]);
  assert.deepEqual(added, ['database_password', 'other_service_password', 'rabbitmq_password']);

  const text = readFileSync(join(dir, 'passwords.yml'), 'utf8');
  const lines = text.split('\n');
  assert.equal(lines[0], '# my passwords');
  assert.equal(lines[1], 'keystone_admin_password: "keep-me" # chosen by hand');
  assert.match(lines[2]!, /^database_password: [A-Za-z0-9]{40} # filled by genpwd$/);
  assert.match(lines[3]!, /^other_service_password: '[A-Za-z0-9]{40}'$/);
  assert.ok(text.includes('\n# a section comment\nkeystone_fernet_key: existing\nrabbitmq_password: '));

  // A second run has nothing to do and leaves the file as it is.
  assert.deepEqual(genpwd(dir, keys).added, []);
  assert.equal(readFileSync(join(dir, 'passwords.yml'), 'utf8'), text);
});

test('genpwd warns about a file readable by others and makes it 0600', () => {
  const dir = configDir('database_password: x\nkeystone_admin_password: y\nkeystone_fernet_key: z\n', 0o644);
  const { added, warnings } = genpwd(dir, keys);
  assert.deepEqual(added, []);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /readable by other users \(mode 0644\); it is now 0600/);
  assert.equal(modeOf(join(dir, 'passwords.yml')), 0o600);
});

test('loadPasswords without the file says to run berth genpwd', () => {
  const dir = configDir();
  assert.throws(
    () => loadPasswords(dir, ['database_password']),
    (err: unknown) => err instanceof InputError && err.message.includes(join(dir, 'passwords.yml')) && /genpwd/.test(err.hint ?? ''),
  );
});

test('loadPasswords names the file, line and key that is missing or empty, never a value', () => {
  const dir = configDir('database_password: s3cr3t\nkeystone_admin_password:\nnumeric_password: 0123\n');
  const path = join(dir, 'passwords.yml');
  assert.deepEqual(loadPasswords(dir, ['database_password']), { database_password: 's3cr3t' });
  assert.throws(() => loadPasswords(dir, ['rabbitmq_password']), (err: unknown) => err instanceof InputError && err.message === `${path}: rabbitmq_password is missing`);
  assert.throws(() => loadPasswords(dir, ['keystone_admin_password']), (err: unknown) => err instanceof InputError && err.message === `${path}:2:1: keystone_admin_password is empty`);
  assert.throws(
    () => loadPasswords(dir, ['numeric_password']),
    (err: unknown) => err instanceof InputError && err.message === `${path}:3:1: numeric_password is not a string` && !/0123|83/.test(err.message.replace(path, '') + String(err.hint)),
  );
});

test('loadPasswords refuses a file other users can read', () => {
  const dir = configDir('database_password: s3cr3t\n', 0o640);
  assert.throws(() => loadPasswords(dir, []), (err: unknown) => err instanceof InputError && /mode 0640\); it must be 0600/.test(err.message) && !err.message.includes('s3cr3t'));
});

test('an over-long password is refused naming file:line:col and the key, never the value', () => {
  const secret = 'Zq'.repeat(600);
  const dir = configDir(`database_password: ok\nkeystone_admin_password: ${secret}\n`);
  const path = join(dir, 'passwords.yml');
  assert.throws(
    () => loadPasswords(dir, ['database_password']),
    (err: unknown) =>
      err instanceof InputError &&
      err.message === `${path}:2:1: keystone_admin_password: longer than 1024 characters` &&
      !`${err.message} ${err.hint}`.includes('ZqZq'),
  );
  // 1024 characters is still fine.
  assert.equal(loadPasswords(configDir(`database_password: ${'a'.repeat(1024)}\n`), ['database_password']).database_password!.length, 1024);
});

test('a password with a newline, NUL or surrounding space is refused without echoing it', () => {
  for (const [value, problem] of [
    ['"s3cr3t\\ninjected = 1"', /control character/],
    ['"s3cr3t\\0"', /control character/],
    ['" s3cr3t"', /whitespace/],
  ] as const) {
    const dir = configDir(`database_password: ${value}\n`);
    assert.throws(
      () => loadPasswords(dir, ['database_password']),
      (err: unknown) =>
        err instanceof InputError &&
        err.message.startsWith(`${join(dir, 'passwords.yml')}:1:1: database_password: `) &&
        problem.test(err.message) &&
        !`${err.message} ${err.hint}`.includes('s3cr3t'),
    );
  }
});

test('a passwords.yml over 1 MiB is refused by name, by loadPasswords and genpwd alike', () => {
  const dir = configDir(`database_password: ${'x'.repeat(1000)}\n`.repeat(1100));
  const path = join(dir, 'passwords.yml');
  const tooBig = (err: unknown) => err instanceof InputError && err.message === `${path}: larger than 1 MiB, the most berth reads from one file`;
  assert.throws(() => loadPasswords(dir, []), tooBig);
  assert.throws(() => genpwd(dir, keys), tooBig);
});

test('a Fernet key that is not 32 bytes of URL-safe base64 is refused, naming the key and not the value', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-pw-'));
  const path = join(dir, 'passwords.yml');
  const bad = Buffer.from('rotated-fernet-key-rotated-fernet-k').toString('base64');
  writeFileSync(path, `keystone_fernet_key0: ${bad}\n`, { mode: 0o600 });
  assert.throws(
    () => loadPasswords(dir, ['keystone_fernet_key0'], ['keystone_fernet_key0']),
    (err: unknown) => err instanceof InputError && err.message.startsWith(`${path}:1:1: keystone_fernet_key0: not a Fernet key`) && !err.message.includes(bad),
  );
  writeFileSync(path, `keystone_fernet_key0: ${generateFernetKey()}\n`, { mode: 0o600 });
  assert.ok(loadPasswords(dir, ['keystone_fernet_key0'], ['keystone_fernet_key0']).keystone_fernet_key0);
});
