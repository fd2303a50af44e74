// scripts/test-hosts: start N test hosts by hand, or remove them (see docs/testing.md).
import { join } from 'node:path';
import { removeTestHosts, startTestHosts, testKey, waitReady, type HostImage } from './hosts.js';

const [command, count, ...flags] = process.argv.slice(2);
const dir = process.env.BERTH_TH_DIR ?? '/tmp/berth-test-hosts';

if (command === 'up' && Number(count) >= 1) {
  const image: HostImage = flags.includes('--sshd-only') ? 'sshd' : 'docker';
  const key = testKey(dir);
  const hosts = startTestHosts(
    Array.from({ length: Number(count) }, (_, i) => ({ name: `node${i + 1}`, image })),
    key.publicKey,
  );
  await waitReady(hosts);
  console.log(`${hosts.length} test host(s) up (${image === 'docker' ? 'sshd and Docker Engine' : 'sshd only'}); log in as root with ${key.privateKeyFile}:`);
  for (const h of hosts) console.log(`  ${h.container} ${h.address}`);
  console.log(`\ninventory lines (${join(dir, 'id_ed25519')}):`);
  for (const h of hosts) console.log(`${h.container} ansible_host=${h.address} ansible_user=root ansible_ssh_private_key_file=${key.privateKeyFile}`);
  console.log('\nrecord their keys with: berth --config-dir DIR ssh-keyscan');
} else if (command === 'down') {
  removeTestHosts();
  console.log('test hosts, their volumes and the network removed');
} else {
  console.error('usage: scripts/test-hosts up N [--sshd-only] | down');
  process.exitCode = 2;
}
