import type { EndpointDef } from './types.js';

/** The same URL on Keystone's public, internal and admin interfaces: how every berth service registers (one API address per host, no separate admin network). */
export function atEveryInterface(url: string): EndpointDef[] {
  return (['public', 'internal', 'admin'] as const).map((iface) => ({ interface: iface, url }));
}
