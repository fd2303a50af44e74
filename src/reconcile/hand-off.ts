// Duties one copy of a container holds for all its copies (the VIP: see ContainerDef.handOff). A
// rolling change replaces the holder last and makes it hand the duty off first, so the duty moves
// once, to a copy that already runs the new version, and never sits on a copy that is going down.
import type { Host } from '../engine/host.js';
import type { DesiredContainer } from '../plan/types.js';

const HAND_OFF_TIMEOUT_MS = 30_000;

function run(host: Host, c: DesiredContainer, command: string): Promise<{ code: number; output: string }> {
  return host.exec(c.name, ['sh', '-c', command], 'root', 30_000);
}

/** Whether the copy on its host holds the duty now (a copy that does not run, or cannot be asked, holds nothing berth can move). */
export async function holdsDuty(host: Host, c: DesiredContainer): Promise<boolean> {
  return (await run(host, c, c.handOff!.holds).catch(() => ({ code: -1 }))).code === 0;
}

/**
 * Makes the running copy give its duty to another copy, when it holds it, and waits until it no
 * longer does. When no other copy takes it in time, the copy takes the duty back and this throws:
 * replacing it then would leave nobody holding it.
 */
export async function handOff(host: Host, c: DesiredContainer): Promise<void> {
  if (!(await holdsDuty(host, c))) return;
  const r = await run(host, c, c.handOff!.handOff);
  if (r.code !== 0) throw new Error(`handing off its duty failed (exit ${r.code}): ${r.output.trim()}`);
  const deadline = Date.now() + HAND_OFF_TIMEOUT_MS;
  while (await holdsDuty(host, c)) {
    if (Date.now() > deadline) {
      await resume(host, c);
      throw new Error(`no other copy took over its duty (${c.handOff!.holds}) within ${HAND_OFF_TIMEOUT_MS / 1000} s; it was left in place`);
    }
    await new Promise((res) => setTimeout(res, 200));
  }
}

/** Lets the copy hold the duty again (idempotent). */
export async function resume(host: Host, c: DesiredContainer): Promise<void> {
  const r = await run(host, c, c.handOff!.resume);
  if (r.code !== 0) throw new Error(`taking part again after the hand-off failed (exit ${r.code}): ${r.output.trim()}`);
}

/**
 * Converges the copies of one container one at a time, each time choosing a copy that does not
 * hold the duty while another is left: the holder is asked when its turn would come, not at the
 * start, since an earlier change (haproxy's, for keepalived) may have moved the duty. After a copy
 * fails, the rest are `stopped` instead of changed (they keep serving).
 */
export function rollHolderLast<R>(
  copies: readonly DesiredContainer[],
  holds: (c: DesiredContainer) => Promise<boolean>,
  converge: (c: DesiredContainer) => Promise<R>,
  failed: (r: R) => boolean,
  stopped: (c: DesiredContainer, at: DesiredContainer) => R,
): Map<DesiredContainer, Promise<R>> {
  const settle = new Map<DesiredContainer, { resolve: (r: R) => void; reject: (err: unknown) => void }>();
  const results = new Map(copies.map((c) => [c, new Promise<R>((resolve, reject) => settle.set(c, { resolve, reject }))]));
  const left = [...copies];
  let current: DesiredContainer | undefined;
  void (async () => {
    let failedAt: DesiredContainer | undefined;
    while (left.length) {
      let next = left[0]!;
      if (!failedAt && left.length > 1) {
        for (const c of left) {
          if (!(await holds(c))) {
            next = c;
            break;
          }
        }
      }
      left.splice(left.indexOf(next), 1);
      current = next;
      const r = failedAt ? stopped(next, failedAt) : await converge(next);
      if (!failedAt && failed(r)) failedAt = next;
      settle.get(next)!.resolve(r);
    }
  })().catch((err: unknown) => {
    for (const c of [...(current ? [current] : []), ...left]) settle.get(c)!.reject(err);
  });
  return results;
}
