// berth tempest: runs Tempest (Debian's package, in its own image) against the deployed cloud with
// a tempest.conf written from the deployment: which services exist, the admin credentials, and the
// demo image and flavor of init-runonce when Nova is there. Output and subunit results are kept.
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serviceUsers } from '../build/users.js';
import { imageRef } from '../config/build-config.js';
import { InputError } from '../config/errors.js';
import { EngineError } from '../engine/docker.js';
import type { DeploymentContext } from '../cli/deployment-context.js';
import { renderTemplate } from '../plan/templates.js';
import { demoNetworks } from '../runonce/init-runonce.js';

export const excludeListPath = fileURLToPath(new URL('../../tempest/exclude-list.txt', import.meta.url));

/** Smoke tests of the services the issue names; Tempest skips those of absent services itself. */
export const defaultSelection = "--regex '^tempest\\.api\\.(identity|image|compute|network)\\..*\\[.*\\bsmoke\\b.*\\]'";

export interface TempestResult {
  code: number;
  resultsDir: string;
  summary: string;
}

export async function runTempest(ctx: DeploymentContext, resultsRoot: string, print: (line: string) => void): Promise<TempestResult> {
  const g = ctx.deployment.globals;
  const host = [...ctx.hosts.values()][0]!;
  if (!g.enable_keystone) throw new InputError('keystone is not enabled: there is no cloud to test');

  const lookup = demoLookup(ctx);
  let compute: { image_ref: string; flavor_ref: string } | undefined;
  if (g.enable_nova) compute = { image_ref: await lookup(['image', 'show', 'berth-demo-disk']), flavor_ref: await lookup(['flavor', 'show', 'm1.tiny']) };
  // Tempest gives each test project its own network and router, with the gateway on init-runonce's public1.
  // Tempest checks the extensions it is told about: those this neutron serves, asked of it.
  const network = g.enable_neutron
    ? {
        public_network_id: await lookup(['network', 'show', demoNetworks.external.name]),
        api_extensions: (await toolboxLines(ctx, ['extension', 'list', '--network', '-f', 'value', '-c', 'Alias'])).join(','),
      }
    : undefined;

  const work = mkdtempSync(join(tmpdir(), 'berth-tempest-'));
  const resultsDir = join(resultsRoot, new Date().toISOString().replace(/[:.]/g, '-'));
  try {
    chmodSync(work, 0o700);
    const files: Record<string, string> = {
      'tempest.conf': renderTemplate('shared/tempest.conf.j2', {
        globals: g,
        passwords: ctx.deployment.passwords,
        identity_url: ctx.plan.identityUrl,
        compute,
        network,
        services_available: [
          ['glance', g.enable_glance],
          ['nova', g.enable_nova],
          ['neutron', g.enable_neutron],
          ['cinder', false],
          ['swift', false],
          ['heat', g.enable_heat],
          ['horizon', g.enable_horizon],
        ],
      }),
      'exclude-list.txt': excludeList(readFileSync(excludeListPath, 'utf8'), g),
      'run.sh': renderTemplate('shared/tempest-run.sh.j2', { selection: defaultSelection }),
    };
    const configFiles = Object.keys(files).map((f) => ({
      source: `/var/lib/kolla/config_files/${f}`,
      dest: `/etc/tempest/${f}`,
      owner: 'tempest',
      perm: '0600',
    }));
    files['config.json'] = JSON.stringify({ command: 'sh /etc/tempest/run.sh', config_files: configFiles, permissions: [] });
    for (const [name, text] of Object.entries(files)) writeFileSync(join(work, name), text, { mode: 0o600 });

    mkdirSync(resultsDir, { recursive: true });
    const tempestUser = serviceUsers.tempest!;
    chownSync(resultsDir, tempestUser.uid, tempestUser.gid);
    print(`running Tempest; results in ${resultsDir}`);
    const result = await host.runTool(
      imageRef(ctx.build, 'tempest'),
      undefined,
      [`${work}:/var/lib/kolla/config_files:ro`, `${resultsDir}:/var/lib/tempest/results`],
      { env: { KOLLA_CONFIG_STRATEGY: 'COPY_ALWAYS' }, timeoutMs: 60 * 60_000 },
    );
    writeFileSync(join(resultsDir, 'output.log'), result.output);
    const summary = result.output.split('\n').filter((l) => /^(Totals|=+|\s*- (Passed|Skipped|Failed|Expected Fail|Unexpected Success)|Sum of execute time|\{\d+\} )/.test(l)).join('\n');
    return { code: result.code, resultsDir, summary };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Looks up what init-runonce made (image, flavor, public network) by name, through the toolbox. */
function demoLookup(ctx: DeploymentContext): (what: string[]) => Promise<string> {
  return async (what) => {
    const id = (await toolboxLines(ctx, [...what, '-f', 'value', '-c', 'id'], 'run berth init-runonce first')).pop() ?? '';
    if (!/^[0-9a-f-]{8,}$/.test(id)) throw new EngineError(`cannot find ${what.slice(0, 3).join(' ')}`, 'run berth init-runonce first');
    return id;
  };
}

/** The openstack client's output lines, run in the toolbox with the admin credentials. */
async function toolboxLines(ctx: DeploymentContext, args: string[], hint?: string): Promise<string[]> {
  const host = [...ctx.hosts.values()][0]!;
  const clouds = join(ctx.deployment.configDir, 'clouds.yaml');
  const r = await host.runTool(imageRef(ctx.build, 'toolbox'), ['openstack', '--os-cloud', 'berth-admin', ...args], [`${clouds}:/etc/openstack/clouds.yaml:ro`]);
  if (r.code !== 0) throw new EngineError(`openstack ${args.slice(0, 3).join(' ')} failed (exit ${r.code})`, hint);
  return r.output.trim().split('\n').filter((l) => l !== '');
}

/**
 * The exclude list for this deployment: a line `@unless <enable_key>` starts a block that applies
 * only while that service is off (its tests need it); `@always` ends it.
 */
export function excludeList(text: string, globals: Record<string, unknown>): string {
  let applies = true;
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const unless = /^@unless\s+(\w+)\s*$/.exec(line);
    if (unless) applies = globals[unless[1]!] !== true;
    else if (/^@always\s*$/.test(line)) applies = true;
    else if (applies) out.push(line);
  }
  return out.join('\n');
}
