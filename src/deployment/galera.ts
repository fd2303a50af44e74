// berth mariadb-recovery: a Galera cluster whose nodes all stopped (power loss, every controller
// killed) has no Primary component, and no node may start one by itself unless Galera marked it
// safe. Recovery reads each node's last committed position (grastate.dat, or `mariadbd
// --wsrep-recover` where the crash left seqno -1), bootstraps from the most advanced node, and
// rejoins the others one by one. It refuses, before changing anything, whenever the cluster still
// runs or it cannot tell which node is safe: a bootstrap from a stale node loses what the others
// committed after it.
import { posix } from 'node:path';
import { InputError } from '../config/errors.js';
import type { Host } from '../engine/host.js';
import type { DesiredContainer } from '../plan/types.js';
import { waitHealthy } from '../reconcile/deploy.js';
import type { DeploymentContext } from './context.js';

const ZERO_UUID = '00000000-0000-0000-0000-000000000000';

/** What one node's data says (or why it could not be read). */
export interface NodeState {
  host: string;
  /** Cluster id of its data; undefined: no data at all (a node that never joined, or an empty volume). */
  uuid?: string;
  /** Last committed transaction; -1: unknown. */
  seqno: number;
  safeToBootstrap: boolean;
  /** Where seqno came from. */
  source: 'grastate.dat' | 'wsrep-recover' | 'none';
}

export interface RecoveryChoice {
  bootstrap: string;
  /** The others, in the order they rejoin. */
  rejoin: string[];
}

/**
 * The node to bootstrap from: the highest seqno among the nodes with data, all of one cluster; on a
 * tie the one Galera marked safe, else the first in inventory order. Throws InputError with the
 * figures when the choice is not safe to make.
 */
export function chooseBootstrapNode(states: readonly NodeState[]): RecoveryChoice {
  const figures = states.map(describeState).join('; ');
  const withData = states.filter((s) => s.uuid !== undefined && s.uuid !== ZERO_UUID);
  if (!withData.length) throw new InputError(`no Galera node has data to recover from (${figures})`, 'berth deploy bootstraps a new cluster on empty nodes');
  const clusters = [...new Set(withData.map((s) => s.uuid))];
  if (clusters.length > 1) {
    throw new InputError(
      `the nodes hold data of ${clusters.length} different clusters, so berth cannot tell which is the cloud's (${figures})`,
      'find which cluster holds the current data (its newest rows), keep that node\'s volume, empty the others\' mariadb volumes, then run berth mariadb-recovery again',
    );
  }
  const unknown = withData.filter((s) => s.seqno < 0);
  if (unknown.length) {
    throw new InputError(
      `the last committed position of ${unknown.map((s) => s.host).join(', ')} is unknown, so berth cannot tell which node is the most advanced (${figures})`,
      'look at the error log of mariadbd --wsrep-recover on that host (berth logs mariadb), or restore a backup with berth mariadb-restore',
    );
  }
  const best = Math.max(...withData.map((s) => s.seqno));
  const top = withData.filter((s) => s.seqno === best);
  const chosen = top.find((s) => s.safeToBootstrap) ?? top[0]!;
  return { bootstrap: chosen.host, rejoin: states.map((s) => s.host).filter((h) => h !== chosen.host) };
}

export function describeState(s: NodeState): string {
  if (s.uuid === undefined) return `${s.host}: no data`;
  return `${s.host}: cluster ${s.uuid} seqno ${s.seqno} (${s.source})${s.safeToBootstrap ? ', safe_to_bootstrap' : ''}`;
}

/** `berth:` lines of the state script → a NodeState. */
export function parseNodeState(host: string, output: string): NodeState {
  const line = (key: string): string[] | undefined => {
    const m = new RegExp(`^berth:${key}(?: (.*))?$`, 'm').exec(output);
    return m ? (m[1] ?? '').trim().split(/\s+/).filter((w) => w !== '') : undefined;
  };
  const grastate = line('grastate');
  if (!grastate || !grastate.length) return { host, seqno: -1, safeToBootstrap: false, source: 'none' };
  const [uuid, seqno, safe] = grastate;
  const state: NodeState = { host, uuid, seqno: Number(seqno ?? -1), safeToBootstrap: safe === '1', source: 'grastate.dat' };
  const recovered = line('recovered')?.[0];
  if (state.seqno < 0 && recovered) {
    // uuid:seqno, as the error log's "WSREP: Recovered position" prints it.
    const m = /^([0-9a-f-]{36}):(-?\d+)$/.exec(recovered);
    if (m) return { ...state, uuid: m[1], seqno: Number(m[2]), source: 'wsrep-recover' };
  }
  return state;
}

// Runs in the node's image, as mysql, on its data volume with its configuration put in place.
const STATE_SCRIPT = `set -u
g=/var/lib/mysql/grastate.dat
if [ ! -f "$g" ]; then echo berth:grastate; exit 0; fi
field() { sed -n "s/^$1: *//p" "$g"; }
echo "berth:grastate $(field uuid) $(field seqno) $(field safe_to_bootstrap)"
if [ "$(field seqno)" = "-1" ]; then
  mariadbd --wsrep-recover --log-error=/tmp/recover.log >/dev/null 2>&1 || true
  echo "berth:recovered $(sed -n 's/.*WSREP: Recovered position: *\\([^ ]*\\).*/\\1/p' /tmp/recover.log | tail -n 1)"
  tail -n 5 /tmp/recover.log
fi
`;

const MARK_SAFE_SCRIPT = `set -eu
sed -i 's/^safe_to_bootstrap: .*/safe_to_bootstrap: 1/' /var/lib/mysql/grastate.dat
grep -q '^safe_to_bootstrap: 1' /var/lib/mysql/grastate.dat
`;

export interface RecoveryReport {
  states: NodeState[];
  choice: RecoveryChoice;
}

/** Galera's view from a running node: undefined when the server does not answer. */
export async function liveStatus(host: Host): Promise<Record<string, string> | undefined> {
  const r = await host
    .exec('mariadb', ['sh', '-c', `mariadb --protocol=socket -sNe "SHOW STATUS WHERE Variable_name IN ('wsrep_cluster_status', 'wsrep_cluster_size', 'wsrep_local_state_comment')"`], undefined, 30_000)
    .catch(() => undefined);
  if (!r || r.code !== 0) return undefined;
  return Object.fromEntries(r.output.split('\n').filter((l) => l.includes('\t')).map((l) => l.split('\t') as [string, string]));
}

/** The planned MariaDB servers (Galera nodes when more than one), in inventory order. */
export function mariadbNodes(ctx: DeploymentContext): DesiredContainer[] {
  return ctx.plan.services.find((s) => s.service === 'mariadb')?.containers.filter((c) => c.name === 'mariadb') ?? [];
}

/** Refused, naming them, when some nodes cannot be reached: what berth does to the database needs every node. */
export function assertNodesReachable(ctx: DeploymentContext, nodes: readonly DesiredContainer[], why: string): void {
  const lost = nodes.filter((n) => ctx.unreachable.has(n.host));
  if (!lost.length) return;
  throw new InputError(
    `${lost.map((n) => `${n.host} (${ctx.unreachable.get(n.host)})`).join(', ')} cannot be reached: ${why}`,
    'bring the host back and run the command again',
  );
}

export async function recoverGalera(ctx: DeploymentContext, say: (line: string) => void): Promise<RecoveryReport> {
  const nodes = mariadbNodes(ctx);
  if (nodes.length < 2) {
    throw new InputError(
      `MariaDB is not a Galera cluster here (${nodes.length} host${nodes.length === 1 ? '' : 's'} in [mariadb]): there is nothing to recover`,
      'berth deploy starts a stopped MariaDB',
    );
  }
  assertNodesReachable(ctx, nodes, "without every node's position berth cannot tell which one is the most advanced");
  const hostOf = (n: DesiredContainer): Host => ctx.hosts.get(n.host)!;

  // 1. Refused while any node is in a Primary component: the cluster runs, and a node that is down joins it by itself.
  for (const n of nodes) {
    const live = await liveStatus(hostOf(n));
    if (live?.wsrep_cluster_status === 'Primary') {
      throw new InputError(
        `the Galera cluster is running: ${n.host} is in its Primary component (${live.wsrep_cluster_size ?? '?'} nodes, ${live.wsrep_local_state_comment ?? '?'}); recovery would only take it down`,
        'nothing to recover: a node that is down joins the running cluster when it starts (berth deploy starts it)',
      );
    }
  }

  // 2. Every node stopped, then each one's position read off its own data.
  for (const n of nodes) {
    const state = await hostOf(n).inspect('mariadb');
    if (state?.running) {
      say(`${n.host}: stopping mariadb (no Primary component: it cannot serve)`);
      await hostOf(n).stop('mariadb', n.stopTimeoutSeconds);
    }
  }
  const states: NodeState[] = [];
  for (const n of nodes) {
    const r = await nodeTool(ctx, n, STATE_SCRIPT);
    const state = parseNodeState(n.host, r.output);
    say(describeState(state));
    states.push(state);
  }

  // 3. The most advanced node bootstraps; the others join it one at a time.
  const choice = chooseBootstrapNode(states);
  const first = nodes.find((n) => n.host === choice.bootstrap)!;
  say(`${first.host}: bootstrapping the cluster from it (the most advanced node)`);
  const marked = await nodeTool(ctx, first, MARK_SAFE_SCRIPT);
  if (marked.code !== 0) throw new Error(`${first.host}: could not mark its grastate.dat safe to bootstrap: ${marked.output.trim()}`);
  await startSynced(ctx, first, say);
  for (const host of choice.rejoin) await startSynced(ctx, nodes.find((n) => n.host === host)!, say);
  return { states, choice };
}

/** Starts a node's mariadb and waits until its healthcheck passes (a Galera node: Synced). */
export async function startSynced(ctx: DeploymentContext, node: DesiredContainer, say: (line: string) => void): Promise<void> {
  const host = ctx.hosts.get(node.host)!;
  const t0 = Date.now();
  const deadline = t0 + 15 * 60_000;
  await host.start('mariadb');
  // A joiner may fail its first state transfer and be restarted by Docker (seen: "SST script passed
  // bogus GTID" when the donor moved on meanwhile); the next one succeeds.
  for (;;) {
    try {
      await waitHealthy(host, node, Math.max(1000, deadline - Date.now()));
      break;
    } catch (err) {
      if (Date.now() > deadline || !(await host.inspect('mariadb'))) throw err;
      say(`${node.host}: not Synced yet (${(err as Error).message.split('\n')[0]}); waiting for Docker to restart it`);
      await new Promise((r) => setTimeout(r, 5000));
      if (!(await host.inspect('mariadb'))?.running) await host.start('mariadb').catch(() => undefined);
    }
  }
  say(`${node.host}: Synced (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
}

/** A script in a throwaway container of the node's image, with its volumes and configuration in place, as mysql. */
export function nodeTool(ctx: DeploymentContext, node: DesiredContainer, script: string, volumes = ['mariadb']): Promise<{ code: number; output: string }> {
  return ctx.hosts.get(node.host)!.runTool({
    image: node.spec.image,
    cmd: ['sh', '-c', `kolla_set_configs >/dev/null || exit 1\n${script}`],
    files: [],
    labels: ctx.toolLabels,
    env: { KOLLA_CONFIG_STRATEGY: 'COPY_ALWAYS' },
    volumes: [`${posix.join(ctx.plan.configRoot, node.name)}:/var/lib/kolla/config_files:ro`, ...node.spec.volumes.filter((v) => volumes.includes(v.split(':')[0]!))],
    timeoutMs: 10 * 60_000,
  });
}
