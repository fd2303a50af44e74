// Which hosts a run acts on, and how many at once: --limit (Ansible's pattern, resolved to hosts),
// hosts found unreachable (before planning or during the run), --forks. Pure decisions, plus a
// small gate that bounds the hosts being worked on at the same time.
import type { Plan } from '../plan/types.js';

export interface Scope {
  /** Hosts --limit selects; undefined: every host. */
  limit?: ReadonlySet<string>;
  /** Unreachable hosts and why; hosts found unreachable during the run are added. */
  unreachable: Map<string, string>;
}

export function inLimit(scope: Pick<Scope, 'limit'>, host: string): boolean {
  return scope.limit === undefined || scope.limit.has(host);
}

/**
 * Why a step cannot run although its host is in the limit: its host is unreachable, or its
 * configuration needs the facts (addresses, hostname) of an unreachable host.
 */
export function skipReason(scope: Scope, step: { host: string; needsFactsOf?: string[] }): string | undefined {
  const own = scope.unreachable.get(step.host);
  if (own !== undefined) return `host ${step.host} is unreachable: ${own}`;
  const others = (step.needsFactsOf ?? []).filter((h) => h !== step.host);
  if (others.length) return `its configuration needs the address or name of ${others.join(', ')}, unreachable`;
  return undefined;
}

/**
 * What --limit leaves out of the services it touches (kolla-ansible's docs warn the same): their
 * containers and jobs on other hosts are neither checked nor changed, and the services they
 * depend on are assumed to be up.
 */
export function limitWarnings(plan: Plan, limit: ReadonlySet<string> | undefined): string[] {
  if (limit === undefined) return [];
  const touched = plan.services.filter((s) => [...s.containers, ...s.jobs].some((c) => limit.has(c.host)));
  const partly = touched
    .map((s) => ({ service: s.service, outside: [...new Set([...s.containers, ...s.jobs].map((c) => c.host).filter((h) => !limit.has(h)))] }))
    .filter((s) => s.outside.length);
  const assumed = plan.services.filter((s) => !touched.includes(s) && touched.some((t) => t.dependsOn.includes(s.service))).map((s) => s.service);
  const warnings: string[] = [];
  if (partly.length) {
    warnings.push(
      `--limit leaves out part of ${partly.map((s) => `${s.service} (on ${s.outside.join(', ')})`).join(', ')}: ` +
        'what runs there is neither checked nor changed, so a change that concerns it too (a new peer address, a rotated secret, a new compute host to map into its cell) waits for a run that includes those hosts',
    );
  }
  if (assumed.length) warnings.push(`--limit leaves out ${assumed.join(', ')}, which the services it touches depend on: they are assumed to be up`);
  return warnings;
}

/**
 * At most `size` distinct hosts worked on at once (Ansible's forks); any number of steps on a host
 * that already holds a place go ahead. A step holds no place while it waits for other steps, so
 * steps waiting for each other across hosts cannot deadlock.
 */
export class HostGate {
  private readonly active = new Map<string, number>();
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new Error(`HostGate: size must be a positive integer, got ${size}`);
  }

  async run<T>(host: string, fn: () => Promise<T>): Promise<T> {
    while (!this.active.has(host) && this.active.size >= this.size) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active.set(host, (this.active.get(host) ?? 0) + 1);
    try {
      return await fn();
    } finally {
      const left = this.active.get(host)! - 1;
      if (left) this.active.set(host, left);
      else {
        this.active.delete(host);
        // Everyone waiting looks again: one of them may be for a host that is now active.
        for (const wake of this.waiting.splice(0)) wake();
      }
    }
  }

  /** Hosts being worked on now (for tests). */
  get busy(): string[] {
    return [...this.active.keys()];
  }
}
