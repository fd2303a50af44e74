// berth init-runonce: flavors, a bootable demo image berth makes itself, a demo project and user,
// a keypair and (with Neutron) the demo networks, router and security group rules, created idempotently through the toolbox (openstacksdk) with the admin
// credentials post-deploy wrote. Files handed to the container live in a 0700 temp directory.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { imageRef } from '../config/build-config.js';
import { InputError } from '../config/errors.js';
import { EngineError } from '../engine/docker.js';
import { toolHost, type DeploymentContext } from '../deployment/context.js';
import { renderTemplate } from '../plan/templates.js';
import { bootDisk } from './boot-disk.js';
import { demoKeypair, publicKeyOfPem } from './keypair.js';

export const flavors = [
  { name: 'm1.tiny', ram: 512, vcpus: 1, disk: 1 },
  { name: 'm1.small', ram: 2048, vcpus: 1, disk: 20 },
  { name: 'm1.medium', ram: 4096, vcpus: 2, disk: 40 },
  { name: 'm1.large', ram: 8192, vcpus: 4, disk: 80 },
];

/** kolla-ansible's init-runonce layout: a flat provider network on physnet1, a VXLAN tenant network, a router between. */
export const demoNetworks = {
  external: {
    name: 'public1',
    physnet: 'physnet1',
    subnet: { name: 'public1-subnet', cidr: '10.0.2.0/24', gateway: '10.0.2.1', pool: ['10.0.2.150', '10.0.2.199'] },
  },
  tenant: { name: 'demo-net', subnet: { name: 'demo-subnet', cidr: '10.0.0.0/24', gateway: '10.0.0.1' } },
  router: 'demo-router',
};

export async function initRunonce(ctx: DeploymentContext, print: (line: string) => void): Promise<void> {
  const g = ctx.deployment.globals;
  const clouds = join(ctx.deployment.configDir, 'clouds.yaml');
  if (!existsSync(clouds)) throw new InputError(`${clouds} does not exist`, 'run berth post-deploy first');
  if (!g.enable_glance) throw new InputError('init-runonce uploads the demo image, so it needs enable_glance: yes');
  const compute = g.enable_nova;
  if (!compute) print('nova is not enabled: no flavors or keypair');

  const keyFile = join(ctx.deployment.configDir, 'demo-key.pem');
  let publicKey: string;
  if (existsSync(keyFile)) {
    publicKey = publicKeyOfPem(readFileSync(keyFile, 'utf8'), 'berth-demo');
  } else {
    const pair = demoKeypair('berth-demo');
    writeFileSync(keyFile, pair.privateKeyPem, { mode: 0o600 });
    publicKey = pair.publicKey;
    print(`wrote ${keyFile} (0600), the private key of keypair mykey`);
  }

  const spec = {
    compute,
    flavors,
    image: { name: 'berth-demo-disk' },
    project: 'demo',
    user: 'demo',
    password: ctx.deployment.passwords.demo_password,
    keypair: { name: 'mykey', public_key: publicKey },
    admin_project: g.keystone_admin_project,
    network: g.enable_neutron ? demoNetworks : null,
  };
  // Into the container through the Docker API: the deployment host may be another machine.
  const result = await toolHost(ctx).runTool({
    image: imageRef(ctx.build, 'toolbox'),
    cmd: ['python3', '/runonce/runonce.py'],
    files: [
      { path: '/runonce/disk.raw', content: bootDisk(), mode: 0o600 },
      { path: '/runonce/runonce.py', content: renderTemplate('shared/init-runonce.py.j2', {}), mode: 0o600 },
      { path: '/runonce/runonce.json', content: JSON.stringify(spec), mode: 0o600 },
      { path: '/etc/openstack/clouds.yaml', content: readFileSync(clouds, 'utf8'), mode: 0o600 },
    ],
    labels: ctx.toolLabels,
  });
  for (const line of result.output.trim().split('\n')) if (line) print(line);
  if (result.code !== 0) throw new EngineError(`init-runonce failed (exit ${result.code}); its output is above`);
}
