// haproxy's runtime state, driven through its admin socket (`docker exec` into each loadbalancer
// host's haproxy): a container that is about to restart is drained first, so requests in flight
// finish and new ones go to the other servers, and readied after it is healthy, once haproxy's
// own checks see it up. Drained, not put in maintenance: haproxy kills the sessions of a server
// that goes into maintenance (on-marked-down shutdown-sessions), also those still waiting for it
// to accept. A run killed between the two leaves a server drained: every deploy first readies the
// servers it finds drained or in maintenance.
import { isUnreachable, type Host } from '../engine/host.js';

export const HAPROXY_SOCKET = '/var/lib/kolla/haproxy/haproxy.sock';

export interface ServerRef {
  backend: string;
  server: string;
}

export interface ServerStat extends ServerRef {
  /** UP, DOWN, MAINT, DRAIN, "UP 1/2" (going down), "no check"... */
  status: string;
  /** The last health check's result: L7OK, L4OK, L4CON, ... ('' when it has none yet). */
  check: string;
  /** Sessions open now. */
  sessions: number;
}

/** `show stat` (CSV whose first line is `# pxname,svname,...`) → one row per server. */
export function parseStat(csv: string): ServerStat[] {
  const lines = csv.split('\n').filter((l) => l.trim() !== '');
  const header = lines[0]?.replace(/^#\s*/, '').split(',') ?? [];
  const col = (name: string): number => header.indexOf(name);
  const [px, sv, scur, status, check] = [col('pxname'), col('svname'), col('scur'), col('status'), col('check_status')];
  if (px < 0 || sv < 0 || scur < 0 || status < 0 || check < 0) throw new Error(`haproxy's show stat has an unexpected header: ${lines[0] ?? '(empty)'}`);
  return lines
    .slice(1)
    .map((l) => l.split(','))
    .filter((f) => f[sv] !== 'FRONTEND' && f[sv] !== 'BACKEND')
    .map((f) => ({ backend: f[px]!, server: f[sv]!, status: f[status]!, check: f[check] ?? '', sessions: Number(f[scur]) || 0 }));
}

/** `show servers state` → the servers drained or in maintenance at runtime (admin state bits 0x8, 0x1). */
export function serversSetAside(state: string): ServerRef[] {
  const lines = state.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
  // Line 0 is the format version; the columns: be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state ...
  return lines
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length > 6 && (Number(f[6]) & 0x9) !== 0)
    .map((f) => ({ backend: f[1]!, server: f[3]! }));
}

export interface Balancer {
  host: string;
  container: string;
}

export class LoadBalancers {
  constructor(
    private readonly balancers: readonly Balancer[],
    private readonly hosts: ReadonlyMap<string, Host>,
    /** Hosts berth cannot reach now: their haproxy serves nobody berth could steer. */
    private readonly unreachable: ReadonlyMap<string, string>,
  ) {}

  /** Stops new connections to the servers and waits (at most `timeoutMs`) for open ones to end. */
  async drain(servers: readonly ServerRef[], timeoutMs = 30_000): Promise<void> {
    if (!servers.length) return;
    await this.each(async (h, c) => {
      await command(h, c, servers.map((s) => `set server ${s.backend}/${s.server} state drain`));
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const open = parseStat(await command(h, c, ['show stat'])).filter((st) => servers.some((s) => s.backend === st.backend && s.server === st.server) && st.sessions > 0);
        if (!open.length) return;
        await sleep(250);
      }
    });
  }

  /** Returns the servers to service and waits until every haproxy's checks see those of `waitFor` up. */
  async ready(servers: readonly ServerRef[], waitFor: readonly ServerRef[] = servers, timeoutMs = 60_000): Promise<void> {
    if (!servers.length) return;
    await this.each(async (h, c, name) => {
      await command(h, c, servers.map((s) => `set server ${s.backend}/${s.server} state ready`));
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const stats = parseStat(await command(h, c, ['show stat']));
        // Right after `ready` a server reads UP with its old failing check ("UP 1/2", L4CON): up
        // means UP with a passed check.
        const down = waitFor.filter((s) => !stats.some((st) => st.backend === s.backend && st.server === s.server && st.status === 'UP' && /^L[467]OK/.test(st.check)));
        if (!down.length) return;
        if (Date.now() > deadline) {
          throw new Error(`haproxy on ${name} does not see ${down.map((s) => `${s.backend}/${s.server}`).join(', ')} up after ${timeoutMs / 1000} s`);
        }
        await sleep(500);
      }
    });
  }

  /** Readies every server a killed run left drained (or in maintenance); returns them. */
  async readyLeftovers(): Promise<ServerRef[]> {
    const found: ServerRef[] = [];
    await this.each(async (h, c) => {
      const stuck = serversSetAside(await command(h, c, ['show servers state']));
      if (!stuck.length) return;
      found.push(...stuck);
      await command(h, c, stuck.map((s) => `set server ${s.backend}/${s.server} state ready`));
    });
    return found;
  }

  /** Every reachable loadbalancer whose haproxy runs; an unreachable one is skipped. */
  private async each(fn: (host: Host, container: string, name: string) => Promise<void>): Promise<void> {
    await Promise.all(
      this.balancers
        .filter((b) => !this.unreachable.has(b.host))
        .map(async (b) => {
          const host = this.hosts.get(b.host);
          if (!host || !(await host.inspect(b.container).catch(() => undefined))?.running) return;
          try {
            await fn(host, b.container, b.host);
          } catch (err) {
            if (!isUnreachable(err)) throw err;
          }
        }),
    );
  }
}

/** Runs haproxy admin commands (one line, `;`-separated) and returns the answer. */
async function command(host: Host, container: string, commands: string[]): Promise<string> {
  // Server and backend names are inventory names and catalog names: no quote can appear in them.
  const line = commands.join('; ');
  const r = await host.exec(container, ['sh', '-c', `echo '${line}' | socat -t 5 stdio unix-connect:${HAPROXY_SOCKET}`], undefined, 30_000);
  if (r.code !== 0) throw new Error(`haproxy's admin socket: ${line}: exit ${r.code}: ${r.output.trim()}`);
  return r.output;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
