// What the HA suite and bench/ha.ts read off an HA cloud on test hosts: who holds the VIP, each
// Galera node's status, how many RabbitMQ nodes run; and a poll for a condition.
import { inHost, type TestHost } from './hosts.js';

/** The hosts whose eth0 holds `vip` now. */
export function vipHolders(hosts: readonly TestHost[], vip: string): TestHost[] {
  return hosts.filter((h) => inHost(h, 'ip -4 -o addr show dev eth0').stdout.includes(` ${vip}/`));
}

/** `SHOW STATUS LIKE 'wsrep_%'` of the Galera node on a host (through its unix socket); empty when it does not answer. */
export function galeraStatus(h: TestHost): Record<string, string> {
  const r = inHost(h, `docker exec mariadb mariadb --protocol=socket -sNe "SHOW STATUS LIKE 'wsrep_%'"`);
  return Object.fromEntries(r.stdout.split('\n').filter((l) => l.includes('\t')).map((l) => l.split('\t') as [string, string]));
}

/** The RabbitMQ nodes the host's node sees running (0 when it does not answer). */
export function rabbitRunning(h: TestHost): number {
  const r = inHost(h, `docker exec rabbitmq sh -c "rabbitmqctl -q cluster_status --formatter json | jq '.running_nodes | length'"`);
  return Number(r.stdout.trim()) || 0;
}

/** Polls `check` until it holds; returns how long that took. Throws after `timeoutMs`. */
export async function until(what: string, check: () => boolean, timeoutMs = 300_000, everyMs = 2000): Promise<number> {
  const t0 = Date.now();
  while (!check()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`${what}: not after ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return Date.now() - t0;
}
