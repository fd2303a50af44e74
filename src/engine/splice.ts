// Two streams joined both ways (a forwarded port's connection and the registry's): when either
// side ends or fails, the other is ended too, so no connection is left half-open.
import type { Duplex } from 'node:stream';

export function splice(a: Duplex, b: Duplex): void {
  a.pipe(b);
  b.pipe(a);
  const close = (): void => {
    a.destroy();
    b.destroy();
  };
  for (const s of [a, b]) {
    s.on('error', close);
    s.on('close', close);
  }
}
