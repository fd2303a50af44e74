import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chooseOvsDatapath } from '../../src/config/init.js';
import { moduleAvailability, type ModuleFacts } from '../../src/engine/kernel-modules.js';

const none: ModuleFacts = { module: 'openvswitch', kernelRelease: '6.1.0-1-amd64', loaded: false, builtinList: null, modulesDep: null, kernelConfig: null };

test('openvswitch loaded, built in or in modules.dep: available, and berth init chooses the system datapath', () => {
  for (const facts of [
    { ...none, loaded: true },
    { ...none, builtinList: 'kernel/net/bridge/bridge.ko\nkernel/net/openvswitch/openvswitch.ko\n' },
    { ...none, modulesDep: 'kernel/net/openvswitch/openvswitch.ko: kernel/net/nsh/nsh.ko kernel/net/netfilter/nf_conntrack.ko\n' },
    { ...none, modulesDep: 'kernel/net/openvswitch/openvswitch.ko.xz: kernel/net/nsh/nsh.ko.xz\n' },
    { ...none, kernelConfig: 'CONFIG_NET=y\nCONFIG_OPENVSWITCH=y\n' },
  ]) {
    const found = moduleAvailability(facts);
    assert.equal(found.available, true, JSON.stringify(facts));
    assert.equal(chooseOvsDatapath(found).value, 'system');
  }
});

test('openvswitch absent: netdev, with the reason from the kernel config or the module files', () => {
  // This machine's case: built without it (config.gz), no /lib/modules.
  const unset = moduleAvailability({ ...none, kernelRelease: '6.18.44', kernelConfig: 'CONFIG_VXLAN=y\n# CONFIG_OPENVSWITCH is not set\nCONFIG_TUN=y\n' });
  assert.deepEqual(unset, { available: false, why: 'kernel 6.18.44 is built without openvswitch (CONFIG_OPENVSWITCH is not set in /proc/config.gz)' });
  assert.equal(chooseOvsDatapath(unset).value, 'netdev');
  // A module build whose modules are not installed: modprobe cannot load it.
  assert.match(moduleAvailability({ ...none, kernelConfig: 'CONFIG_OPENVSWITCH=m\n' }).why, /as a module \(CONFIG_OPENVSWITCH=m\), but \/lib\/modules\/6\.1\.0-1-amd64 does not have it/);
  // Other modules listed, not this one; a name that only contains it does not count.
  const other = moduleAvailability({ ...none, modulesDep: 'kernel/net/bridge/bridge.ko:\nkernel/net/foo/openvswitch_helper.ko:\n' });
  assert.equal(other.available, false);
  assert.match(other.why, /neither loaded nor in \/lib\/modules/);
  // Nothing to go on: no module can be loaded without /lib/modules.
  assert.match(moduleAvailability(none).why, /has no \/lib\/modules\/6\.1\.0-1-amd64/);
  assert.equal(chooseOvsDatapath(moduleAvailability(none)).value, 'netdev');
});
