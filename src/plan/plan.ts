// plan: a pure function from the deployment and the catalog to the desired containers and jobs
// on every host, fully resolved: image references, rendered files, hashes, labels.
import { releaseContext, releaseNamed } from '../config/releases.js';
import { createHash, createHmac } from 'node:crypto';
import { posix } from 'node:path';
import type { ServiceDef, ContainerDef, JobDef, UpgradeCommandDef } from '../catalog/types.js';
import { dependencyOrder } from '../catalog/index.js';
import { imageRef, type BuildConfig } from '../config/build-config.js';
import type { Deployment } from '../config/deployment.js';
import { InputError } from '../config/errors.js';
import { hostsOf, type Inventory } from '../config/inventory.js';
import { mergeIni, overrideLayerPaths, type IniLayer } from '../config/overrides.js';
import { addressing, TUNNEL_BRIDGE, unknownHostsIn, type Addressing } from './addresses.js';
import { renderInline, renderTemplate } from './templates.js';
import type { ContainerSpec, DesiredContainer, DesiredJob, HostFacts, Plan, ServicePlan, UpgradeExec } from './types.js';

export interface PlanInput {
  deployment: Deployment;
  /** Operator override files under <configDir>/config, by path relative to it. */
  overrides: Record<string, string>;
  /** How images are named: the same settings the build used. */
  images: ImageNaming;
  /**
   * Facts read off the hosts before planning (hostname, interface addresses). A host without
   * facts (unreachable) is still planned; what needs its facts is marked `needsFactsOf`.
   */
  facts: Readonly<Record<string, HostFacts>>;
  /**
   * Plan `berth upgrade`'s steps too (the catalog's `upgrade` checks, before and after steps), from
   * the release the cloud runs; templates see it as `upgrade_from`.
   */
  upgrade?: { from: string };
}

type ImageNaming = Pick<BuildConfig, 'registry' | 'namespace' | 'tag'>;

const CONFIG_MOUNT = '/var/lib/kolla/config_files';
/** Made on network hosts when neutron_external_interface is unset; its peer is `<name>-host`. */
export const EXTERNAL_VETH = 'berth-ext';

export function plan(input: PlanInput, catalog: readonly ServiceDef[]): Plan {
  const { deployment } = input;
  const g = deployment.globals;
  const enabled = catalog.filter((s) => (g as unknown as Record<string, unknown>)[s.enableKey] === true);
  const at = addressing(deployment, input.facts);
  // A container runs on its own group (nova_compute on nova-compute) or its service's; each is one
  // of the inventory's groups, or berth's default for it (the catalog's `groups`).
  const hostsFor = (svc: ServiceDef, container?: ContainerDef): string[] => hostsOf(deployment.inventory, container?.group ?? svc.group);
  const balancer = enabled.find((s) => s.precedesAll);
  // Where a service is reached: through haproxy on the VIP when there is one, else at its first host.
  const firstAddress = (name: string): string => {
    const svc = catalog.find((s) => s.name === name);
    if (balancer && svc?.frontends?.length) return at.vip;
    const host = svc ? hostsFor(svc)[0] : undefined;
    return host ? at.api(host) : at.vip;
  };
  const groupHosts = (name: string): string[] => {
    const svc = catalog.find((s) => s.name === name);
    return svc ? hostsFor(svc) : [];
  };
  const galeraHosts = groupHosts('mariadb');
  const rabbitHosts = groupHosts('rabbitmq');
  const balancerHosts = balancer ? hostsFor(balancer) : [];

  const memcached = catalog.find((s) => s.name === 'memcached');
  const keystoneAddress = firstAddress('keystone');
  const shared = {
    globals: g,
    /** The OpenStack release: templates branch on `release.at_least('2025.1')`, never on names. */
    release: releaseContext(releaseNamed(g.openstack_release)),
    /** During berth upgrade, the release the cloud runs (nova's workaround for a jump over releases); else false. */
    upgrade_from: input.upgrade ? releaseContext(releaseNamed(input.upgrade.from)) : (false as const),
    passwords: deployment.passwords,
    internal_address: at.vip,
    database_address: firstAddress('mariadb'),
    keystone_address: keystoneAddress,
    identity_url: `http://${keystoneAddress}:${g.keystone_public_port}`,
    /** Every RabbitMQ node: clients list them all (oslo.messaging fails over), nodes cluster with each other. */
    rabbitmq_nodes: rabbitHosts.map((h) => ({ address: at.api(h), hostname: at.hostname(h) })),
    /** A Galera cluster when [mariadb] has more than one host: each node's replication address. */
    galera: galeraHosts.length > 1 ? { nodes: galeraHosts.map((h) => `${at.api(h)}:${g.mariadb_wsrep_port}`) } : false,
    load_balancer: false as object | false,
    /** Address of each catalog service's first host: where its API is reached. */
    service_address: Object.fromEntries(catalog.map((s) => [s.name, firstAddress(s.name)])),
    /** Hostnames of each inventory group's hosts (the names services register under, e.g. compute hosts). */
    group_hostnames: Object.fromEntries(
      [...deployment.inventory.groups.keys()].map((grp) => [grp, hostsOf(deployment.inventory, grp).map((h) => at.hostname(h))]),
    ),
    memcached_servers: (memcached ? hostsFor(memcached) : []).map((h) => `${at.api(h)}:${g.memcached_port}`),
    rabbitmq_users: enabled
      .filter((s) => s.rabbitmqUser)
      .map((s) => rabbitmqUser(s.rabbitmqUser!.user, deployment.passwords[s.rabbitmqUser!.passwordKey]!)),
  };

  const byName = new Map(deployment.hosts.map((h) => [h.name, h]));
  assertTunnelInterfaces(deployment, byName);
  // Where a container runs: its group, or only the group's first host (firstHostOnly).
  const placedOn = (svc: ServiceDef, c: ContainerDef): string[] => {
    const hosts = hostsFor(svc, c);
    return c.firstHostOnly && renderInline(c.firstHostOnly.when, shared).trim() === 'true' ? hosts.slice(0, 1) : hosts;
  };
  // haproxy's servers are where each frontend's container is placed.
  if (balancer) shared.load_balancer = loadBalancerContext(enabled, balancerHosts, at, placedOn, g);
  // Each host's own: its addresses, its name, its interfaces (inventory variables over globals.yml).
  const hostContext = (host: string): object => {
    const external = byName.get(host)!.interfaces.neutronExternal;
    return {
      ...shared,
      host,
      hostname: at.hostname(host),
      api_address: at.api(host),
      api_interface: byName.get(host)!.interfaces.api,
      tunnel_address: at.tunnel(host),
      tunnel_interface: byName.get(host)!.interfaces.tunnel,
      /** Where the tunnel address moves with the userspace datapath between hosts (read back by addressing). */
      tunnel_bridge: TUNNEL_BRIDGE,
      /** The flat provider network's interface; berth's own veth pair when the operator names none. */
      neutron_external_interface: external ?? EXTERNAL_VETH,
      neutron_external_veth: external === undefined,
    };
  };

  const services: ServicePlan[] = [];
  const warnings: string[] = [];
  const upgradeChecks: DesiredJob[] = [];
  for (const svc of dependencyOrder(enabled)) {
    const hosts = hostsFor(svc);
    const dependsOn = balancer && svc !== balancer ? [...svc.dependsOn, balancer.name] : svc.dependsOn;
    const containers: DesiredContainer[] = [];
    const jobs: DesiredJob[] = [];
    const upgradeAfter: UpgradeExec[] = [];
    for (const template of svc.containers.filter((c) => matches(c.when, g))) {
      const group = hostsFor(svc, template);
      if (!group.length) throw emptyGroup(deployment, svc, template, template.group ?? svc.group);
      const placed = placedOn(svc, template);
      if (placed.length < group.length) warnings.push(`${template.name} runs on ${placed.join(', ')} only, not on ${group.slice(placed.length).join(', ')}: ${template.firstHostOnly!.why}`);
      for (const host of placed) {
        const context = hostContext(host);
        const def = resolveStrings(template, context);
        const files = renderFiles(svc, def, host, context, input.overrides);
        const spec = containerSpec(def, deployment, imageRef(input.images, def.image), 'COPY_ALWAYS');
        const live = liveFiles(def);
        containers.push({
          host,
          service: svc.name,
          name: def.name,
          spec,
          files,
          specHash: hashOf(spec),
          configHash: hashOf(files),
          ...(live ? { liveFiles: live } : {}),
          ...(def.after ? { after: def.after } : {}),
          ...(def.rollout || (balancer && svc.frontends?.some((fe) => fe.container === def.name || fe.check?.container === def.name)) ? { rollout: def.rollout ?? 'rolling' } : {}),
          ...(def.rolloutGate ? { rolloutGate: def.rolloutGate } : {}),
          ...(def.rollsWith ? { rollsWith: def.rollsWith } : {}),
          ...(def.stopTimeoutSeconds ? { stopTimeoutSeconds: def.stopTimeoutSeconds } : {}),
          ...(def.handOff && placed.length > 1 ? { handOff: def.handOff } : {}),
          ...(balancer ? balancedAs(svc, def.name, host) : {}),
          address: at.api(host),
          ports: (def.ports ?? []).map(Number),
          ...needsFacts(at, spec, files),
        });
      }
    }
    // One-shot jobs run once per deployment, on the service's first host.
    const jobHost = hosts[0];
    if (jobHost !== undefined) {
      const context = hostContext(jobHost);
      if (svc.databases?.length) jobs.push(databaseJob(svc, jobHost, deployment, input.images, shared.database_address));
      if (svc.keystone) jobs.push(keystoneJob(svc, jobHost, deployment, input.images, context));
      if (input.upgrade) {
        // The schema expands with the new code before the service's own jobs (its db sync) and containers.
        for (const step of svc.upgrade?.before ?? []) jobs.push(upgradeJob(svc, step, jobHost, context, deployment, input));
        const across = releaseNamed(input.upgrade.from).name !== releaseNamed(g.openstack_release).name;
        const checks = svc.upgrade?.checks ?? [];
        for (const step of checks.filter((c) => !(across && c.newSchema))) upgradeChecks.push(upgradeJob(svc, step, jobHost, context, deployment, input));
        for (const step of [...checks.filter((c) => across && c.newSchema), ...(svc.upgrade?.after ?? [])]) {
          const on = step.everyHost ? [...new Set(containers.filter((c) => c.name === step.container).map((c) => c.host))] : [jobHost];
          for (const host of on) {
            upgradeAfter.push({
              host,
              name: upgradeStepName(svc.name, step.name),
              container: step.container,
              command: step.command,
              ...(step.user ? { user: step.user } : {}),
              ...(step.retrySeconds ? { retrySeconds: step.retrySeconds } : {}),
            });
          }
        }
      }
      for (const job of svc.jobs ?? []) jobs.push(serviceJob(svc, job, jobHost, context, deployment, input));
    }
    const teardown: DesiredJob[] = [];
    if (svc.hostSetup) {
      const setupHosts = new Set(containers.filter((c) => svc.hostSetup!.containers.includes(c.name)).map((c) => c.host));
      for (const host of setupHosts) {
        const context = hostContext(host);
        // Only the containers planned there say whether the setup is still in place (a `when` may leave some out).
        const served = containers.filter((c) => c.host === host && svc.hostSetup!.containers.includes(c.name)).map((c) => c.name);
        jobs.unshift({ ...hostJob(svc, 'setup', host, context, deployment, input.images), whileDown: served });
        teardown.push(hostJob(svc, 'teardown', host, context, deployment, input.images));
      }
    }
    for (const job of [...jobs, ...teardown]) Object.assign(job, needsFacts(at, job.spec, job.files));
    if (containers.length || jobs.length) services.push({ service: svc.name, dependsOn, containers, jobs, teardown, ...(upgradeAfter.length ? { upgradeAfter } : {}) });
  }
  // Host setup of services that are off: undone where they would run (they may have run before).
  const retiredTeardown = catalog
    .filter((svc) => svc.hostSetup && !enabled.includes(svc))
    .flatMap((svc) => {
      const hosts = new Set(svc.containers.filter((c) => svc.hostSetup!.containers.includes(c.name)).flatMap((c) => hostsFor(svc, c)));
      return [...hosts].map((host) => {
        const job = hostJob(svc, 'teardown', host, hostContext(host), deployment, input.images);
        // A service that is off needs no address: only unreachable hosts are marked, nothing is refused.
        return Object.assign(job, needsFacts(undefined, job.spec, job.files));
      });
    });
  const volumes: Record<string, string[]> = {};
  for (const s of services) {
    for (const c of [...s.containers, ...s.jobs]) {
      volumes[c.host] = [...new Set([...(volumes[c.host] ?? []), ...namedVolumes(c.spec)])].sort();
    }
  }
  return {
    services,
    hosts: deployment.hosts.map((h) => h.name),
    hostnames: Object.fromEntries(Object.entries(input.facts).map(([h, f]) => [h, f.hostname])),
    configRoot: g.node_config_directory,
    identityUrl: shared.identity_url,
    retiredTeardown,
    volumes,
    warnings,
    ...(balancer ? { loadBalancers: balancerHosts.map((host) => ({ host, container: 'haproxy' })) } : {}),
    ...(input.upgrade ? { upgradeChecks } : {}),
  };
}

/** The haproxy backends a container serves as a server (named after its inventory host). */
function balancedAs(svc: ServiceDef, container: string, host: string): Pick<DesiredContainer, 'balanced'> {
  // A restart of the container that answers a frontend's health check takes the server out as well.
  const backends = (svc.frontends ?? [])
    .filter((fe) => fe.container === container || fe.check?.container === container)
    .map((fe) => ({ backend: fe.name, server: host, ...(fe.container === container ? {} : { checks: fe.container }) }));
  return backends.length ? { balanced: backends } : {};
}

/**
 * What haproxy.cfg and keepalived.conf are rendered from: every enabled service's frontends with
 * their servers (named by inventory host, so berth can drain one without facts), the VIPs, the
 * loadbalancer hosts and each one's VRRP priority (inventory order, highest first).
 */
function loadBalancerContext(
  enabled: readonly ServiceDef[],
  balancerHosts: string[],
  at: Addressing,
  placedOn: (svc: ServiceDef, container: ContainerDef) => string[],
  g: Deployment['globals'],
): object {
  const frontends = enabled.flatMap((svc) =>
    (svc.frontends ?? []).map((fe) => {
      const container = svc.containers.find((c) => c.name === fe.container);
      if (!container) throw new Error(`catalog: frontend ${fe.name} of ${svc.name} names unknown container ${fe.container}`);
      const context = { globals: g };
      return {
        name: fe.name,
        mode: fe.mode,
        port: renderInline(fe.port, context),
        check: { path: fe.check?.path ?? '/', ...(fe.check?.port ? { port: renderInline(fe.check.port, context) } : {}) },
        ...(fe.timeout ? { timeout: fe.timeout } : {}),
        servers: placedOn(svc, container).map((h, i) => ({ name: h, address: at.api(h), backup: fe.activeBackup === true && i > 0 })),
      };
    }),
  );
  return {
    vip: at.vip,
    external_vip: g.kolla_external_vip_address,
    frontends,
    peers: balancerHosts.map((h) => ({ name: h, address: at.api(h) })),
    priority: Object.fromEntries(balancerHosts.map((h, i) => [h, 250 - i])),
  };
}

/** Hosts whose unknown facts (they were unreachable) went into a rendered spec or file. */
function needsFacts(at: Addressing | undefined, spec: ContainerSpec, files: Record<string, string>): { needsFactsOf?: string[] } {
  const rendered = canonicalJson({ spec, files });
  at?.check(rendered);
  const hosts = unknownHostsIn(rendered);
  return hosts.length ? { needsFactsOf: hosts } : {};
}

/** An enabled service's container whose group has no host: exit 2, saying which group to fill. */
function emptyGroup(d: Deployment, svc: ServiceDef, container: ContainerDef, group: string): InputError {
  const sources = leafGroups(d.inventory, group);
  const via = sources.length && sources.join() !== group ? ` (it takes its hosts from ${sources.map((s) => `[${s}]`).join(', ')})` : '';
  return new InputError(
    `${d.inventory.path}: group "${group}" has no host${via}, but ${svc.name} (${svc.enableKey} in globals.yml) runs ${container.name} there`,
    `add a host under [${sources[0] ?? group}] in ${d.inventory.path}, or set ${svc.enableKey}: "no" in globals.yml`,
  );
}

/** The groups at the bottom of a group's :children tree: where its hosts would be listed. */
function leafGroups(inv: Inventory, group: string): string[] {
  const leaves: string[] = [];
  const seen = new Set<string>();
  const walk = (name: string): void => {
    if (seen.has(name)) return;
    seen.add(name);
    const g = inv.groups.get(name);
    if (!g || !g.children.length) leaves.push(name);
    else g.children.forEach(walk);
  };
  walk(group);
  return leaves;
}

/**
 * With the userspace datapath between hosts, each Open vSwitch agent host's tunnel address moves
 * onto bridge br-tunnel (neutron's host setup): on the API interface that would take the host's
 * own address, and its routes, away from it.
 */
function assertTunnelInterfaces(deployment: Deployment, byName: Map<string, Deployment['hosts'][number]>): void {
  const g = deployment.globals;
  const agents = hostsOf(deployment.inventory, 'neutron-openvswitch-agent');
  if (!g.enable_neutron || g.neutron_plugin_agent !== 'openvswitch' || g.ovs_datapath_type !== 'netdev' || agents.length < 2) return;
  for (const name of agents) {
    const h = byName.get(name)!;
    if (h.interfaces.tunnel !== h.interfaces.api) continue;
    throw new InputError(
      `${deployment.inventory.path}:${h.line}: host "${name}": tunnel_interface ${h.interfaces.tunnel} is also its api_interface; ` +
        'with ovs_datapath_type netdev between hosts, berth moves the tunnel address onto bridge br-tunnel, which would take the address and routes of the API interface',
      'give the host an interface for tunnels only: tunnel_interface=IFACE on its line or in [<group>:vars] (or globals.yml)',
    );
  }
}

/** The named volumes a container mounts (`name:/path`), not host paths. */
export function namedVolumes(spec: ContainerSpec): string[] {
  return spec.volumes.map((v) => v.split(':')[0]!).filter((v) => !v.startsWith('/'));
}

/** The files of a container whose change needs no restart, and what applies them instead. */
function liveFiles(def: ContainerDef): DesiredContainer['liveFiles'] {
  const live = def.configFiles.filter((f) => f.onChange !== undefined && f.onChange !== 'restart');
  if (!live.length) return undefined;
  return Object.fromEntries(live.map((f) => [posix.basename(f.template).replace(/\.j2$/, ''), f.onChange as 'nothing' | { exec: string; user?: string }]));
}

/** Whether a container's `when` holds for these globals (no `when`: always). */
function matches(when: ContainerDef['when'], globals: object): boolean {
  return Object.entries(when ?? {}).every(([key, values]) => values.includes((globals as Record<string, string | boolean>)[key]!));
}

/** The catalog's short strings (command, healthcheck, environment) may use the template context. */
function resolveStrings(def: ContainerDef, context: object): ContainerDef {
  return {
    ...def,
    command: renderInline(def.command, context),
    healthcheck: { ...def.healthcheck, test: renderInline(def.healthcheck.test, context) },
    ...(def.rolloutGate ? { rolloutGate: renderInline(def.rolloutGate, context) } : {}),
    ...(def.handOff ? { handOff: { ...def.handOff, holds: renderInline(def.handOff.holds, context) } } : {}),
    ports: (def.ports ?? []).map((p) => renderInline(p, context)),
    volumes: (def.volumes ?? []).map((v) => renderInline(v, context)),
    environment: Object.fromEntries(Object.entries(def.environment ?? {}).map(([k, v]) => [k, renderInline(v, context)])),
  };
}

function renderFiles(
  svc: ServiceDef,
  def: ContainerDef,
  host: string,
  context: object,
  overrides: Record<string, string>,
): Record<string, string> {
  const files: Record<string, string> = {};
  const configFiles = def.configFiles.map((f) => {
    const name = posix.basename(f.template).replace(/\.j2$/, '');
    let text = renderTemplate(f.template, { ...context, container: def.name });
    if (f.iniOverrides) text = mergeIni([{ source: f.template, text }, ...overrideLayers(overrides, svc.name, def.name, host, name)]);
    files[name] = text;
    return { source: `${CONFIG_MOUNT}/${name}`, dest: f.dest, owner: f.owner, perm: f.perm };
  });
  files['config.json'] = JSON.stringify(
    { command: def.command, config_files: configFiles, permissions: def.permissions ?? [] },
    null,
    2,
  ) + '\n';
  return files;
}

/** kolla-ansible's layers, from the override files the config layer read. */
function overrideLayers(overrides: Record<string, string>, service: string, container: string, host: string, file: string): IniLayer[] {
  return overrideLayerPaths(service, container, host, file)
    .filter((p) => overrides[p] !== undefined)
    .map((p) => ({ source: `config/${p}`, text: overrides[p]! }));
}

function containerSpec(def: ContainerDef, d: Deployment, image: string, strategy: string): ContainerSpec {
  return {
    image,
    environment: { KOLLA_CONFIG_STRATEGY: strategy, KOLLA_SERVICE_NAME: def.name, ...(def.environment ?? {}) },
    volumes: [
      `${posix.join(d.globals.node_config_directory, def.name)}:${CONFIG_MOUNT}:ro`,
      '/etc/localtime:/etc/localtime:ro',
      'kolla_logs:/var/log/kolla',
      ...(def.volumes ?? []),
    ],
    capAdd: def.capAdd ?? [],
    ...(def.writableProcSys ? { writableProcSys: true as const } : {}),
    ...(def.devices?.length ? { devices: def.devices } : {}),
    healthcheck: {
      test: def.healthcheck.test,
      intervalSeconds: def.healthcheck.intervalSeconds ?? 30,
      retries: def.healthcheck.retries ?? 3,
      startPeriodSeconds: def.healthcheck.startPeriodSeconds ?? 5,
      timeoutSeconds: 30,
    },
    networkMode: 'host',
    restartPolicy: 'unless-stopped',
  };
}

function serviceJob(
  svc: ServiceDef,
  job: JobDef,
  host: string,
  context: object,
  d: Deployment,
  input: PlanInput,
): DesiredJob {
  const template = svc.containers.find((c) => c.name === job.container && matches(c.when, d.globals));
  if (!template) throw new Error(`catalog: job ${job.name} of ${svc.name} names unknown container ${job.container}`);
  const def = resolveStrings(
    { ...template, name: job.name, environment: { ...(template.environment ?? {}), ...job.environment } },
    context,
  );
  const files = renderFiles(svc, def, host, context, input.overrides);
  const spec = { ...containerSpec(def, d, imageRef(input.images, def.image), 'COPY_ALWAYS'), restartPolicy: 'no' as const };
  const counted = job.inputs ? Object.fromEntries(job.inputs.map((f) => [f, files[f]])) : files;
  return { host, service: svc.name, name: job.name, phase: job.phase, spec, files, inputsHash: hashOf({ spec, counted }) };
}

/** The container name of a service's upgrade step (a job, or the name of an exec in the recap). */
export function upgradeStepName(service: string, step: string): string {
  return `${service}_upgrade_${step}`;
}

/** Whether a container is an upgrade step's (see upgradeStepName). */
export function isUpgradeStep(name: string): boolean {
  return /^[a-z0-9]+_upgrade_[a-z0-9_]+$/.test(name);
}

/** An upgrade step as a job: the service's container, its config files, the step's command in config.json. */
function upgradeJob(svc: ServiceDef, step: UpgradeCommandDef, host: string, context: object, d: Deployment, input: PlanInput): DesiredJob {
  const template = svc.containers.find((c) => c.name === step.container && matches(c.when, d.globals));
  if (!template) throw new Error(`catalog: upgrade step ${step.name} of ${svc.name} names unknown container ${step.container}`);
  // Rendered as the container it upgrades: its templates and the operator's overrides see that name.
  const def = resolveStrings({ ...template, command: step.command }, context);
  const files = renderFiles(svc, def, host, context, input.overrides);
  const name = upgradeStepName(svc.name, step.name);
  const spec = { ...containerSpec({ ...def, name }, d, imageRef(input.images, def.image), 'COPY_ALWAYS'), restartPolicy: 'no' as const };
  return { host, service: svc.name, name, phase: 'before', spec, files, inputsHash: hashOf({ spec, files }) };
}

/** The shared database mechanism: a toolbox job creating the service's databases and accounts. */
function databaseJob(svc: ServiceDef, host: string, d: Deployment, images: ImageNaming, dbAddress: string): DesiredJob {
  const sql = svc.databases!.flatMap((db) => {
    const password = sqlEscape(d.passwords[db.passwordKey]!);
    return [
      `CREATE DATABASE IF NOT EXISTS \`${db.name}\`;`,
      `CREATE USER IF NOT EXISTS '${db.user}'@'%' IDENTIFIED BY '${password}';`,
      `ALTER USER '${db.user}'@'%' IDENTIFIED BY '${password}';`,
      `GRANT ALL PRIVILEGES ON \`${db.name}\`.* TO '${db.user}'@'%';`,
    ];
  });
  return toolboxJob(svc, host, d, images, `${svc.name}_database`, {
    command: 'sh -c "mariadb --defaults-extra-file=/etc/berth-job/client.cnf < /etc/berth-job/database.sql"',
    files: {
      'client.cnf': `[client]\nhost = ${dbAddress}\nport = ${d.globals.database_port}\nuser = root\npassword = "${cnfEscape(d.passwords.database_password!)}"\n`,
      'database.sql': [...sql, ''].join('\n'),
    },
  });
}

/** The shared Keystone mechanism: a toolbox job registering the service, endpoints and user. */
function keystoneJob(svc: ServiceDef, host: string, d: Deployment, images: ImageNaming, context: object): DesiredJob {
  const ks = svc.keystone!;
  const g = d.globals;
  const authUrl = (context as { identity_url: string }).identity_url;
  const register = {
    name: ks.name,
    type: ks.type,
    description: ks.description,
    region: g.openstack_region_name,
    endpoints: ks.endpoints.map((e) => ({ interface: e.interface, url: renderInline(e.url, context) })),
    user: ks.user ? { name: ks.user.name, password: d.passwords[ks.user.passwordKey], project: 'service', roles: ks.user.roles } : undefined,
    // Only when set, so a service without them keeps the same job inputs.
    ...(ks.roles?.length ? { roles: ks.roles } : {}),
    ...(ks.domains?.length
      ? {
          domains: ks.domains.map((dom) => ({
            name: dom.name,
            description: dom.description,
            admin: dom.admin ? { name: dom.admin.name, password: d.passwords[dom.admin.passwordKey], role: dom.admin.role } : undefined,
          })),
        }
      : {}),
  };
  const clouds = adminClouds(d, authUrl, 'internal');
  return toolboxJob(svc, host, d, images, `${svc.name}_keystone`, {
    command: 'python3 /etc/berth-job/register.py',
    files: {
      'register.json': JSON.stringify(register, null, 2) + '\n',
      'clouds.yaml': JSON.stringify(clouds, null, 2) + '\n',
      'register.py': renderTemplate('shared/keystone-register.py.j2', {}),
    },
    dests: { 'clouds.yaml': '/etc/openstack/clouds.yaml' },
  });
}

/**
 * The shared host-setup mechanism: the service's setup or teardown script as root, in the host's
 * PID namespace (nsenter reaches the host's mounts) and network, on one host.
 */
function hostJob(svc: ServiceDef, step: 'setup' | 'teardown', host: string, context: object, d: Deployment, images: ImageNaming): DesiredJob {
  const def = svc.hostSetup!;
  const script = `host-${step}.sh`;
  const job = oneShotJob(svc, host, d, images, `${svc.name}_host_${step}`, renderInline(def.image, context), {
    command: `sh /etc/berth-job/${script}`,
    files: { [script]: renderTemplate(step === 'setup' ? def.setup : def.teardown, context) },
    spec: {
      user: 'root',
      pidMode: 'host',
      capAdd: ['SYS_ADMIN', 'SYS_PTRACE', 'NET_ADMIN', 'NET_RAW', ...(def.capAdd ?? [])],
    },
  });
  // The host's named network namespaces, for `ip netns` (bind mounts there are the host's).
  job.spec.volumes.push('/run/netns:/run/netns');
  return job;
}

/** clouds.yaml with the admin credentials, as cloud `berth-admin`: for jobs and for the operator. */
export function adminClouds(d: Deployment, authUrl: string, endpointInterface: 'public' | 'internal'): object {
  const g = d.globals;
  return {
    clouds: {
      'berth-admin': {
        auth: {
          auth_url: authUrl,
          username: g.keystone_admin_user,
          password: d.passwords.keystone_admin_password,
          project_name: g.keystone_admin_project,
          user_domain_name: 'Default',
          project_domain_name: 'Default',
        },
        region_name: g.openstack_region_name,
        interface: endpointInterface,
        identity_api_version: 3,
      },
    },
  };
}

/** A job in the toolbox image whose files land in /etc/berth-job (root, 0600). */
function toolboxJob(
  svc: ServiceDef,
  host: string,
  d: Deployment,
  images: ImageNaming,
  name: string,
  job: { command: string; files: Record<string, string>; dests?: Record<string, string> },
): DesiredJob {
  return oneShotJob(svc, host, d, images, name, 'toolbox', job);
}

/** A one-shot job in `image` whose files land in /etc/berth-job (root, 0600). */
function oneShotJob(
  svc: ServiceDef,
  host: string,
  d: Deployment,
  images: ImageNaming,
  name: string,
  image: string,
  job: { command: string; files: Record<string, string>; dests?: Record<string, string>; spec?: Partial<ContainerSpec> },
): DesiredJob {
  const files = { ...job.files };
  const configFiles = Object.keys(files).map((f) => ({
    source: `${CONFIG_MOUNT}/${f}`,
    dest: job.dests?.[f] ?? `/etc/berth-job/${f}`,
    owner: 'root',
    perm: '0600',
  }));
  files['config.json'] = JSON.stringify({ command: job.command, config_files: configFiles, permissions: [] }, null, 2) + '\n';
  const def: ContainerDef = { name, image, command: job.command, configFiles: [], healthcheck: { test: 'true' } };
  const spec = { ...containerSpec(def, d, imageRef(images, image), 'COPY_ALWAYS'), restartPolicy: 'no' as const, ...job.spec };
  return { host, service: svc.name, name, phase: 'before', spec, files, inputsHash: hashOf({ spec, files }) };
}

/** A RabbitMQ user for definitions.json; the salt derives from the password so plans are stable. */
export function rabbitmqUser(name: string, password: string): { name: string; password_hash: string } {
  const salt = createHmac('sha256', password).update(`berth-rabbitmq-salt:${name}`).digest().subarray(0, 4);
  const digest = createHash('sha256').update(Buffer.concat([salt, Buffer.from(password, 'utf8')])).digest();
  return { name, password_hash: Buffer.concat([salt, digest]).toString('base64') };
}

function sqlEscape(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/'/g, "\\'");
}

function cnfEscape(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
}

export function hashOf(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex');
}

/** JSON with sorted keys, so equal values hash equally whatever their construction order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
