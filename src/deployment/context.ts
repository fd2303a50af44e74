// Everything a deploy-side command needs, loaded once: the validated deployment, the plan, and a
// connection to each host. Bad input stops here, before any host is touched.
import { hostname } from 'node:os';
import { catalog, catalogSecrets } from '../catalog/index.js';
import { loadBuildConfig, type BuildConfig } from '../config/build-config.js';
import { loadDeployment, type Deployment } from '../config/deployment.js';
import { EngineError } from '../engine/docker.js';
import { LocalHost } from '../engine/host.js';
import { readOverrideFiles } from '../config/overrides.js';
import { EXTERNAL_VETH, plan } from '../plan/plan.js';
import type { Plan } from '../plan/types.js';

export interface DeploymentContext {
  deployment: Deployment;
  warnings: string[];
  build: BuildConfig;
  plan: Plan;
  hosts: Map<string, LocalHost>;
  /** Values that must never be printed. */
  secrets: string[];
}

/** The per-service inventory groups a kolla-ansible inventory may hold hosts in directly. */
const serviceGroups = catalog.map((s) => s.name);

export function loadContext(configDir: string): DeploymentContext {
  const { deployment, warnings } = loadDeployment(configDir, {
    requiredSecrets: catalogSecrets().map((s) => s.name),
    knownGroups: serviceGroups,
  });
  const g = deployment.globals;
  if (g.enable_neutron && g.neutron_external_interface === undefined) {
    warnings.push(
      `neutron_external_interface is not set: berth creates a veth pair ${EXTERNAL_VETH}/${EXTERNAL_VETH}-host on each network host ` +
        'for the flat provider network physnet1 (its traffic stays on that host); set it to a spare interface to reach a real network',
    );
  }
  const build = loadBuildConfig(configDir);
  const hostnames: Record<string, string> = {};
  for (const h of deployment.hosts) {
    if (h.connection !== 'local') {
      throw new EngineError(
        `host ${h.name} is reached over SSH, which this version of berth cannot do yet`,
        'deploy to this machine: ansible_connection=local in the inventory',
      );
    }
    hostnames[h.name] = hostname();
  }
  const desired = plan({ deployment, overrides: readOverrideFiles(configDir), images: build, hostnames }, catalog);
  const hosts = new Map(deployment.hosts.map((h) => [h.name, new LocalHost(h.name)]));
  return { deployment, warnings, build, plan: desired, hosts, secrets: Object.values(deployment.passwords) };
}
