// The desired state: what the plan computes and reconcile converges hosts to. Plain data.

/** What planning needs to know about a host, read off it before planning (kolla-ansible's facts). */
export interface HostFacts {
  /** The host's own name (nova and neutron register under it, RabbitMQ's node name uses it). */
  hostname: string;
  /** IPv4 address of each interface asked for; undefined when it has none or does not exist. */
  addresses: Record<string, string | undefined>;
  /** The prefix length of each of those addresses (its network), where known. */
  prefixes?: Record<string, number | undefined>;
  /** Every interface the host has, for errors that say what there is instead. */
  interfaces: string[];
}

export interface ContainerSpec {
  image: string;
  environment: Record<string, string>;
  /** `source:dest[:ro]`: the config directory, named volumes, host paths. */
  volumes: string[];
  capAdd: string[];
  healthcheck: { test: string; intervalSeconds: number; retries: number; startPeriodSeconds: number; timeoutSeconds: number };
  networkMode: 'host';
  /** Set only when used, so specs without them hash as before. */
  pidMode?: 'host';
  user?: 'root';
  devices?: string[];
  writableProcSys?: true;
  restartPolicy: 'unless-stopped' | 'no';
}

export interface DesiredContainer {
  host: string;
  service: string;
  name: string;
  spec: ContainerSpec;
  /** File name → content, written to <node_config_directory>/<name>/ on the host (0600). */
  files: Record<string, string>;
  specHash: string;
  configHash: string;
  /** Files whose change needs no restart: nothing, or a command that applies it live (see FileChangeAction). */
  liveFiles?: Record<string, 'nothing' | { exec: string; user?: string }>;
  /** Containers of the same service (on any host) that must be healthy before this one starts. */
  after?: string[];
  /** One host at a time: also when created ('serial'), or once a copy runs ('rolling'; see ContainerDef.rollout). */
  rollout?: 'serial' | 'rolling';
  /** Rolls in that container's chain, right before its copy on this host (see ContainerDef.rollsWith). */
  rollsWith?: string;
  /** Must succeed in the container before the next host's copy changes (see ContainerDef.rolloutGate). */
  rolloutGate?: string;
  /** Seconds it may take to stop cleanly (see ContainerDef.stopTimeoutSeconds). */
  stopTimeoutSeconds?: number;
  /** Hands its duty to another copy before it stops (see ContainerDef.handOff); only when it has other copies. */
  handOff?: { holds: string; handOff: string; resume: string };
  /**
   * haproxy backends it is a server of: drained before it restarts, readied after. `checks` names
   * the container that serves the backend when this one only answers haproxy's check for it.
   */
  balanced?: { backend: string; server: string; checks?: string }[];
  /** Address and TCP ports it listens on, for prechecks. */
  address: string;
  ports: number[];
  /** Hosts whose facts its configuration needs but the plan did not have (unreachable): it cannot be rendered truly. */
  needsFactsOf?: string[];
}

export interface DesiredJob {
  host: string;
  service: string;
  name: string;
  phase: 'before' | 'after';
  spec: ContainerSpec;
  files: Record<string, string>;
  /** A job runs when no successful run with this hash exists on its host. */
  inputsHash: string;
  /** It also runs when one of these containers on its host is missing or not running (host setup). */
  whileDown?: string[];
  /** As for containers: hosts whose missing facts its files or spec would need. */
  needsFactsOf?: string[];
}

export interface ServicePlan {
  service: string;
  dependsOn: string[];
  containers: DesiredContainer[];
  jobs: DesiredJob[];
  /** Run by destroy, once per host, after the containers are gone: undo the host setup. */
  teardown: DesiredJob[];
  /** Planned for `berth upgrade` only: commands run in its containers once they are all healthy (contract). */
  upgradeAfter?: UpgradeExec[];
}

/** An upgrade step run in a running container (see UpgradeDef.after). */
export interface UpgradeExec {
  host: string;
  /** `<service>_upgrade_<name>`. */
  name: string;
  container: string;
  command: string;
  user?: string;
  /** Tried again every few seconds until it passes or this many seconds have passed (see UpgradeCommandDef.retrySeconds). */
  retrySeconds?: number;
}

/** What rotating one changed secret does, for `berth plan`. */
export interface SecretRotation {
  key: string;
  how: string;
  /** Set for a secret berth cannot rotate: why, and what the operator should do. */
  refused?: { why: string; hint: string };
}

export interface Plan {
  /** Services in dependency order. */
  services: ServicePlan[];
  /** Every host of the deployment, whether or not something runs on it (disabled services are removed). */
  hosts: string[];
  /** Each host's hostname, from its facts (hosts without facts, being unreachable, are absent). */
  hostnames: Record<string, string>;
  configRoot: string;
  /** Keystone's public URL, for clouds.yaml and Tempest. */
  identityUrl: string;
  /**
   * Teardown jobs of services with host setup that are not enabled, on the hosts they would run
   * on: a deploy runs one where the service's containers are being removed, destroy runs them all.
   */
  retiredTeardown: DesiredJob[];
  /** Named volumes each host's containers and jobs use (made with the deployment's labels before them). */
  volumes: Record<string, string[]>;
  /** What the operator should know about where things run (a container on fewer hosts than its group). */
  warnings: string[];
  /** The haproxy containers in front of the services, when the deployment has a load balancer. */
  loadBalancers?: { host: string; container: string }[];
  /** Planned for `berth upgrade` only: one-shot checks of the new release, run before any change. */
  upgradeChecks?: DesiredJob[];
}

export const LABEL = {
  managed: 'berth.managed',
  service: 'berth.service',
  container: 'berth.container',
  /** container (a service), job (one-shot), tool (a toolbox or tempest run), volume. */
  kind: 'berth.kind',
  image: 'berth.image',
  spec: 'berth.spec',
  specHash: 'berth.spec-hash',
  configHash: 'berth.config-hash',
  inputsHash: 'berth.inputs-hash',
  /** The deployment's id (config dir's deployment-id): whose object this is. */
  deployment: 'berth.deployment',
} as const;
