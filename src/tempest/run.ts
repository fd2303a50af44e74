// berth tempest: runs Tempest (Debian's package, in its own image) against the deployed cloud with
// a tempest.conf written from the deployment: which services exist, the admin credentials, and the
// demo image and flavor of init-runonce when Nova is there. Tests are selected like Tempest's own
// run (smoke, full, or a regex), exclusions always apply; redacted output and subunit results are kept.
import { releaseContext, releaseNamed } from '../config/releases.js';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serviceUsers } from '../build/users.js';
import { imageRef } from '../config/build-config.js';
import { InputError } from '../config/errors.js';
import { EngineError } from '../engine/docker.js';
import { toolHost, type DeploymentContext } from '../deployment/context.js';
import { renderTemplate } from '../plan/templates.js';
import { demoNetworks } from '../runonce/init-runonce.js';
import { redact } from '../ui/deploy-report.js';

export const excludeListPath = fileURLToPath(new URL('../../tempest/exclude-list.txt', import.meta.url));

/** Smoke tests of the services the issue names; Tempest skips those of absent services itself. */
export const smokeRegex = '^tempest\\.api\\.(identity|image|compute|network)\\..*\\[.*\\bsmoke\\b.*\\]';

/** Which tests run: like Tempest's own `--smoke`, a full run, or the operator's `--regex`. */
export type Selection = { kind: 'smoke' } | { kind: 'full' } | { kind: 'regex'; regex: string };

export const maxRegexLength = 1000;

/** The command line's choice of tests. */
export interface SelectionOptions {
  smoke?: boolean;
  full?: boolean;
  regex?: string;
}

/** --smoke, --full or --regex: at most one, smoke when none. */
export function resolveSelection(o: SelectionOptions): Selection {
  const given = [o.smoke && '--smoke', o.full && '--full', o.regex !== undefined && '--regex'].filter((x): x is string => typeof x === 'string');
  if (given.length > 1) throw new InputError(`${given.join(' and ')} given: choose one selection`, 'berth tempest [--smoke | --full | --regex REGEX]');
  if (o.regex !== undefined) return { kind: 'regex', regex: validateRegex(o.regex) };
  return o.full ? { kind: 'full' } : { kind: 'smoke' };
}

/**
 * The operator's regex, checked before any container starts. It reaches `tempest run` as one
 * argument read from a file, so only what would break that file or the regex itself is refused.
 */
export function validateRegex(regex: string): string {
  const hint = 'a Python regular expression over test ids, as `tempest run --regex` takes it, e.g. ^tempest\\.api\\.identity\\.';
  if (regex === '') throw new InputError('--regex is empty', hint);
  if (regex.length > maxRegexLength) throw new InputError(`--regex is ${regex.length} characters long; at most ${maxRegexLength}`, hint);
  if (/[\n\r\0]/.test(regex)) throw new InputError('--regex holds a newline or NUL character', hint);
  // JS and Python regex syntax mostly agree; Python's named groups and leading global flags are
  // spelled the JS way first so that valid Python is not refused for them.
  const asJs = regex
    .replace(/^\(\?[aiLmsux]+\)/, '')
    .replace(/\(\?P</g, '(?<')
    .replace(/\(\?P=(\w+)\)/g, '\\k<$1>');
  try {
    new RegExp(asJs);
  } catch (err) {
    throw new InputError(`--regex is not a valid regular expression: ${(err as Error).message}`, hint);
  }
  return regex;
}

/** The API suites Tempest has in tree, by the switch that deploys their service (heat's are in a plugin). */
/** Where the tempest image's kolla_start reads its config, and where its run script writes results. */
const CONFIG_FILES = '/var/lib/kolla/config_files';
const RESULTS = '/var/lib/tempest/results';

const apiSuites: [suite: string, enabled: string | undefined][] = [
  ['identity', undefined],
  ['image', 'enable_glance'],
  ['compute', 'enable_nova'],
  ['network', 'enable_neutron'],
];

/**
 * The regex `tempest run` gets. Full: every test of the deployed services' API suites and the
 * scenario suite, whose tests skip themselves when a service they need is absent.
 */
export function selectionRegex(sel: Selection, globals: Record<string, unknown>): string {
  if (sel.kind === 'regex') return sel.regex;
  if (sel.kind === 'smoke') return smokeRegex;
  const apis = apiSuites.filter(([, key]) => key === undefined || globals[key] === true).map(([suite]) => suite);
  return `^tempest\\.(api\\.(${apis.join('|')})|scenario)\\.`;
}

/** How a selection is named to the operator. */
export function describeSelection(sel: Selection): string {
  return sel.kind === 'regex' ? `--regex ${sel.regex}` : `--${sel.kind}`;
}

/** The patterns of an exclude list that apply: neither blank nor comments. */
export function exclusions(list: string): string[] {
  return list.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
}

/**
 * The files kolla_set_configs puts in /etc/tempest (all 0600, owned by tempest) and its config.json.
 * The regex goes in a file of its own, read by run.sh into one argument: never into shell text.
 */
export function runFiles(inputs: { tempestConf: string; excludeList: string; regex: string }): Record<string, string> {
  const files: Record<string, string> = {
    'tempest.conf': inputs.tempestConf,
    'exclude-list.txt': inputs.excludeList,
    selection: inputs.regex,
    'run.sh': renderTemplate('shared/tempest-run.sh.j2', {}),
  };
  const configFiles = Object.keys(files).map((f) => ({
    source: `/var/lib/kolla/config_files/${f}`,
    dest: `/etc/tempest/${f}`,
    owner: 'tempest',
    perm: '0600',
  }));
  files['config.json'] = JSON.stringify({ command: 'sh /etc/tempest/run.sh', config_files: configFiles, permissions: [] });
  return files;
}

/** Tempest's totals from its output, and the exclusions that applied with where their reasons are. */
export function summarize(output: string, excluded: string[]): string {
  const totals = output.split('\n').filter((l) => /^(Totals|=+|\s*- (Passed|Skipped|Failed|Expected Fail|Unexpected Success)|Sum of execute time|\{\d+\} )/.test(l));
  const n = excluded.length;
  return [
    ...totals,
    `excluded (reasons in tempest/exclude-list.txt): ${n === 0 ? 'none' : `${n} pattern${n === 1 ? '' : 's'}`}`,
    ...excluded.map((e) => `  ${e}`),
  ].join('\n');
}

export interface TempestResult {
  code: number;
  resultsDir: string;
  summary: string;
}

export async function runTempest(
  ctx: DeploymentContext,
  resultsRoot: string,
  options: SelectionOptions,
  print: (line: string) => void,
): Promise<TempestResult> {
  const selection = resolveSelection(options);
  const g = ctx.deployment.globals;
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

  const resultsDir = join(resultsRoot, new Date().toISOString().replace(/[:.]/g, '-'));
  const excludeText = excludeList(readFileSync(excludeListPath, 'utf8'), g);
  const files = runFiles({
    tempestConf: renderTemplate('shared/tempest.conf.j2', {
      globals: g,
      release: releaseContext(releaseNamed(g.openstack_release)),
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
    excludeList: excludeText,
    regex: selectionRegex(selection, g),
  });
  // 0700: Tempest's log and results name the cloud's endpoints and accounts.
  mkdirSync(resultsDir, { recursive: true, mode: 0o700 });
  chmodSync(resultsDir, 0o700);
  const { uid, gid } = serviceUsers.tempest!;
  print(`running Tempest (${describeSelection(selection)}); results in ${resultsDir}`);
  // Config in and results out through the Docker API: the deployment host may be another machine.
  const result = await toolHost(ctx).runTool({
    image: imageRef(ctx.build, 'tempest'),
    files: [
      ...Object.entries(files).map(([name, text]) => ({ path: `${CONFIG_FILES}/${name}`, content: text, mode: 0o600, uid, gid })),
      { path: RESULTS, directory: true, mode: 0o700, uid, gid },
    ],
    collect: { from: RESULTS, into: resultsDir },
    labels: ctx.toolLabels,
    env: { KOLLA_CONFIG_STRATEGY: 'COPY_ALWAYS' },
    timeoutMs: 60 * 60_000,
  });
  const output = redact(result.output, ctx.secrets);
  writeResultFile(join(resultsDir, 'output.log'), output);
  return { code: result.code, resultsDir, summary: summarize(output, exclusions(excludeText)) };
}

/**
 * Writes a file of berth's own into the results directory, 0600, in place of whatever the run's
 * results brought under that name (never followed: the container wrote them).
 */
function writeResultFile(path: string, text: string): void {
  rmSync(path, { force: true });
  writeFileSync(path, text, { mode: 0o600, flag: 'wx' });
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
  const clouds = join(ctx.deployment.configDir, 'clouds.yaml');
  const r = await toolHost(ctx).runTool({
    image: imageRef(ctx.build, 'toolbox'),
    cmd: ['openstack', '--os-cloud', 'berth-admin', ...args],
    files: [{ path: '/etc/openstack/clouds.yaml', content: readFileSync(clouds, 'utf8'), mode: 0o600 }],
    labels: ctx.toolLabels,
  });
  if (r.code !== 0) throw new EngineError(`openstack ${args.slice(0, 3).join(' ')} failed (exit ${r.code})`, hint);
  return r.output.trim().split('\n').filter((l) => l !== '');
}

/**
 * The exclude list for this deployment: a line `@unless <enable_key>` starts a block that applies
 * only while that service is off (its tests need it), `@when <setting> <value>...` one that applies
 * only while a globals.yml setting has one of the values (`@when openstack_release zed`);
 * `@always` ends either.
 */
export function excludeList(text: string, globals: Record<string, unknown>): string {
  let applies = true;
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const unless = /^@unless\s+(\w+)\s*$/.exec(line);
    const when = /^@when\s+(\w+)((?:\s+\S+)+)\s*$/.exec(line);
    if (unless) applies = globals[unless[1]!] !== true;
    else if (when) applies = when[2]!.trim().split(/\s+/).includes(String(globals[when[1]!]));
    else if (/^@always\s*$/.test(line)) applies = true;
    else if (applies) out.push(line);
  }
  return out.join('\n');
}
