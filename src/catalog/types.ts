// What a service is, as data. Shared mechanisms (database creation, RabbitMQ users, Keystone
// registration, bootstrap jobs, healthchecks, ordering) read these fields; no service has its own
// code path.

export interface SecretDef {
  /** Key in passwords.yml. */
  name: string;
  kind: 'password' | 'fernet';
  /** How a changed value reaches the cloud, as `berth plan` says it (the shared mechanisms say their own). */
  rotation?: string;
  /** A value berth cannot change on a running cloud: a deploy with a new one stops before any change. */
  cannotRotate?: { why: string; hint: string };
}

export interface ConfigFileDef {
  /** Template under templates/, rendered with the plan's context. */
  template: string;
  /** Where kolla_set_configs puts it inside the container. */
  dest: string;
  owner: string;
  perm: string;
  /** Merge the operator's INI overrides (config/global.conf, config/<service>.conf, ...) into it. */
  iniOverrides?: boolean;
  /**
   * What a change of this file needs in the running container: a restart (the default); nothing
   * (only a job reads it); or `exec`, a shell command run in the container that applies it live
   * (as `user`, default the image's), so a password changes without taking the service down.
   */
  onChange?: FileChangeAction;
}

export type FileChangeAction = 'restart' | 'nothing' | { exec: string; user?: string };

export interface HealthcheckDef {
  /** Shell command run inside the container (Docker's CMD-SHELL). */
  test: string;
  intervalSeconds?: number;
  retries?: number;
  startPeriodSeconds?: number;
}

export interface ContainerDef {
  name: string;
  /** Image name in the image tree (images/<name>). */
  image: string;
  /** The service's start command, written into config.json. */
  command: string;
  configFiles: ConfigFileDef[];
  /** Named volumes and host paths, `source:dest[:ro]`. */
  volumes?: string[];
  /** Paths kolla_set_configs must chown at start (log and state directories). */
  permissions?: { path: string; owner: string; recurse?: boolean }[];
  healthcheck: HealthcheckDef;
  /** TCP ports it listens on (templated), for prechecks. */
  ports?: string[];
  capAdd?: string[];
  /** /proc/sys writable (Docker keeps it read-only): for sysctls inside the network namespaces an agent makes. */
  writableProcSys?: boolean;
  /** Extra, non-secret environment. */
  environment?: Record<string, string>;
  /** Planned only when every named globals.yml setting has one of the listed values (nova_libvirt with nova_compute_virt_type qemu or kvm). */
  when?: Record<string, readonly (string | boolean)[]>;
  /** Host devices passed in (/dev/net/tun, /dev/kvm). */
  devices?: string[];
  /** Containers of the same service that must be healthy first (agents after their server). */
  after?: string[];
  /** Inventory group whose hosts run this container, when not the service's (nova-compute; one of the service's `groups`). */
  group?: string;
  /**
   * Only on the first host of its group while `when` (a template) renders "true", for the reason
   * `why` (glance's file store on a local volume: an image is a file on one host). The plan warns
   * when that leaves hosts of the group without it.
   */
  firstHostOnly?: { when: string; why: string };
  /**
   * How its copies on several hosts change. 'rolling': one host at a time once a copy runs, each
   * healthy before the next (fresh copies start together), so the service never stops as a whole;
   * what haproxy serves (a frontend's container) rolls without saying so. 'serial': one host at a
   * time, in inventory order, even when created (Galera: the first node bootstraps the cluster the
   * others join). Otherwise every host's copy changes at once (agents, computes: no host waits for
   * another).
   */
  rollout?: 'serial' | 'rolling';
  /**
   * Changes in the one-host-at-a-time chain of that container of its service, on each host right
   * before it, after the previous host's copy of it (Galera's clustercheck with its node: taking
   * the check down takes the node out of haproxy, so never while another node is out; and a new
   * node is seen up only once its check answers).
   */
  rollsWith?: string;
  /**
   * A shell command that must succeed in the container, after it is healthy, before the next
   * host's copy changes in a rolling change (RabbitMQ: every node of the cluster running again).
   */
  rolloutGate?: string;
  /** How long it may take to stop cleanly before Docker kills it (default 10 s). */
  stopTimeoutSeconds?: number;
  /**
   * A duty the copy on one host holds for all the copies (keepalived beside haproxy: the VIP). In a
   * rolling change the holder changes last; before it stops, `handOff` (run in it) makes the duty
   * move, and berth waits until `holds` (also run in it) fails. `resume` runs in the new copy once
   * it is healthy, and in every copy at the start of a deploy (a run killed in between).
   */
  handOff?: HandOffDef;
}

export interface HandOffDef {
  /** Succeeds while this host holds the duty (templated). */
  holds: string;
  handOff: string;
  resume: string;
}

/**
 * A port of the service that haproxy serves on the VIP (when the deployment has a load balancer),
 * from every host running `container`, each checked for health.
 */
export interface FrontendDef {
  /** haproxy's name for the frontend and its backend. */
  name: string;
  /** The container whose hosts are the backend's servers. */
  container: string;
  /** Port on the VIP and on each server (templated). */
  port: string;
  mode: 'http' | 'tcp';
  /** One server takes all connections, the others wait as backups (Galera: no conflicting writes). */
  activeBackup?: boolean;
  /**
   * http: the path asked for (any status below 400 is healthy). tcp: the port of an HTTP health
   * answer, else a connect; `container` answers it when not the served one (Galera's
   * clustercheck), and its restart takes the server out like the served one's: it rolls, drained.
   */
  check?: { path?: string; port?: string; container?: string };
  /** Idle timeout of client and server sides for long-lived connections (database). */
  timeout?: string;
}

/** A one-shot container run to completion when its inputs change (db sync, bootstrap). */
export interface JobDef {
  name: string;
  /** Which container's image and config files the job uses. */
  container: string;
  /** Environment that selects the image's one-shot step (KOLLA_BOOTSTRAP=1). */
  environment: Record<string, string>;
  /** 'before' runs before the service's containers start; 'after' once they are healthy. */
  phase: 'before' | 'after';
  /** Config files whose change reruns the job (default: all). The image and environment always count. */
  inputs?: string[];
}

/** A command of an upgrade step, run with the service's own config files and image. */
export interface UpgradeCommandDef {
  /** Short name; the step's container is `<service>_upgrade_<name>`. */
  name: string;
  /** Whose image and config files it uses. */
  container: string;
  command: string;
  /** For `after` steps, run in the container as this user (default the image's). */
  user?: string;
  /** For `after` steps: in every copy of the container, one host at a time (MariaDB's own tables on each node), not only the first. */
  everyHost?: boolean;
  /**
   * For `checks`: it reads the database through the new release's models, which an older
   * release's schema cannot answer (nova-status on Zed's tables). Across releases it runs once the
   * service's new code runs instead, as its first `after` step: a failure then rolls back.
   */
  newSchema?: boolean;
  /**
   * For `after` steps: tried again every 5 s until it passes or this many seconds have passed, for
   * what settles only after its container is healthy (a compute records its new version once its
   * driver is up, and nova-status reads that).
   */
  retrySeconds?: number;
}

/**
 * An upgrade's steps for one service, in kolla-ansible's spirit: the old code keeps running while
 * the schema expands; it contracts once only new code runs.
 */
export interface UpgradeDef {
  /**
   * Before any change to the cloud, in a one-shot container of the new image with the new config
   * (`nova-status upgrade check`): a failure stops the upgrade before the backup.
   */
  checks?: UpgradeCommandDef[];
  /** One-shot containers of the new image with the new config, before the service's containers change. */
  before?: UpgradeCommandDef[];
  /** Run in the service's new container on its first host once every copy is healthy (contract, online data migrations). */
  after?: UpgradeCommandDef[];
  /**
   * State that `release` and later cannot take over from an earlier release (RabbitMQ 4.0 and the
   * Mnesia of 3.x): an upgrade that crosses it stops `container` on every host and sets `path`
   * aside as `<path>.before-<release>`, so the new version starts afresh (what it needs is in its
   * configuration); a rollback puts it back.
   */
  freshState?: {
    release: string;
    container: string;
    path: string;
    /**
     * Services that stop with it, marked by this field of theirs (`rabbitmqUser`: RabbitMQ's
     * clients), so that no old one declares its queues, with the old release's arguments, in the
     * fresh state before its own upgrade (the new one's declarations would then be refused).
     */
    clientsHave?: 'rabbitmqUser' | 'databases';
  };
}

export interface DatabaseDef {
  name: string;
  user: string;
  /** Key in passwords.yml; accounts named twice must use the same key. */
  passwordKey: string;
}

export interface EndpointDef {
  interface: 'public' | 'internal' | 'admin';
  /** URL template, e.g. `http://{{ api_address }}:9292`. */
  url: string;
}

export interface ServiceDef {
  name: string;
  /** globals.yml key that enables it. */
  enableKey: string;
  /**
   * Inventory group whose hosts run its containers (unless a container names its own) and whose
   * first host runs its one-shot jobs and serves its API without a load balancer.
   */
  group: string;
  /**
   * The service's inventory groups with their default children, as kolla-ansible's multinode
   * inventory writes them (`[nova-compute:children]\ncompute`). An inventory that defines one of
   * these groups places the service its own way; one that does not gets the default.
   */
  groups: Record<string, readonly string[]>;
  /** Services that must be healthy before this one starts. */
  dependsOn: string[];
  /** Every other enabled service depends on it (the load balancer: clients reach everything through the VIP). */
  precedesAll?: boolean;
  /** Ports haproxy serves on the VIP for this service. */
  frontends?: FrontendDef[];
  containers: ContainerDef[];
  jobs?: JobDef[];
  secrets?: SecretDef[];
  /** Databases, each with an account holding all privileges on it, created before the jobs run. */
  databases?: DatabaseDef[];
  /** A RabbitMQ account for the service's messaging. */
  rabbitmqUser?: { user: string; passwordKey: string };
  /**
   * Host state the named containers need and a reboot forgets (mounts, interfaces): `setup` (a
   * script template) runs as root in the host's PID and network namespaces, in `image`, on every
   * host of those containers before they are created or started there, and again when its inputs
   * change or one of them is down there. `teardown` undoes it all, run by `berth destroy`.
   * `image` may use the template context (neutron's runs in the image of the planned mechanism's
   * agent, which has that mechanism's tools); `capAdd` adds capabilities to the usual host-setup ones.
   */
  hostSetup?: { image: string; setup: string; teardown: string; containers: string[]; capAdd?: string[] };
  /** What `berth upgrade` runs for it besides replacing its containers (database schema steps). */
  upgrade?: UpgradeDef;
  /** Keystone service, endpoints and service user, registered once Keystone is up. */
  keystone?: {
    type: string;
    name: string;
    description: string;
    endpoints: EndpointDef[];
    user?: { name: string; passwordKey: string; roles: string[] };
    /** More roles the service needs to exist (heat's heat_stack_owner, heat_stack_user). */
    roles?: string[];
    /** Domains the service owns, each with an optional admin user holding a role on it (heat's stack domain). */
    domains?: KeystoneDomainDef[];
  };
}

export interface KeystoneDomainDef {
  name: string;
  description: string;
  /** A user created in that domain with `role` on it; its password is a passwords.yml key. */
  admin?: { name: string; passwordKey: string; role: string };
}
