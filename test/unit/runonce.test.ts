import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bootDisk } from '../../src/runonce/boot-disk.js';
import { demoKeypair, publicKeyOfPem } from '../../src/runonce/keypair.js';

test('the demo disk has a BIOS boot sector that points at its message', () => {
  const disk = bootDisk();
  assert.equal(disk.length, 1024 * 1024);
  assert.equal(disk[510], 0x55);
  assert.equal(disk[511], 0xaa);
  const messageAddress = disk.readUInt16LE(6) - 0x7c00;
  assert.match(disk.subarray(messageAddress, messageAddress + 20).toString('ascii'), /^berth demo disk/);
  // One active partition from LBA 1 to the end: nova's image inspection refuses an MBR without one.
  assert.deepEqual([disk[446], disk[450], disk.readUInt32LE(454), disk.readUInt32LE(458)], [0x80, 0x83, 1, 2047]);
  assert.ok(messageAddress + 60 < 446, 'code and message end before the partition table');
});

test('the demo keypair: OpenSSH public key, recoverable from the saved private key', () => {
  const pair = demoKeypair('berth-demo');
  assert.match(pair.publicKey, /^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI[A-Za-z0-9+/]{43} berth-demo$/);
  assert.match(pair.privateKeyPem, /^-----BEGIN PRIVATE KEY-----/);
  assert.equal(publicKeyOfPem(pair.privateKeyPem, 'berth-demo'), pair.publicKey);
});
