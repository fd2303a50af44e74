// berth mariadb-backup and mariadb-restore: a full, prepared backup with Debian's mariadb-backup,
// taken inside a running MariaDB container (next to its data, through the unix socket, as the
// backup account whose password is in a 0600 option file), kept in the host's mariadb_backup
// volume and optionally copied to a directory on the deployment host. Restore puts one back on
// the node that holds it and, for Galera, bootstraps the cluster from it; the other nodes' data is
// emptied so they take a full copy of the restored state when they rejoin.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../config/errors.js';
import type { DesiredContainer } from '../plan/types.js';
import type { DeploymentContext } from './context.js';
import { assertNodesReachable, liveStatus, mariadbNodes, nodeTool, startSynced } from './galera.js';

/** Backup ids are made by berth: `mariadb-YYYYMMDDTHHMMSSZ`. */
const BACKUP_ID = /^mariadb-\d{8}T\d{6}Z$/;

export interface BackupReport {
  id: string;
  host: string;
  bytes: number;
  /** Where --to copied it, on the deployment host. */
  copiedTo?: string;
}

export function backupId(now = new Date()): string {
  return `mariadb-${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}`;
}

/**
 * The node a backup is taken on: a Galera node that is Synced, the last in inventory order (haproxy
 * sends clients to the first); a single server when it answers.
 */
async function sourceNode(ctx: DeploymentContext, nodes: readonly DesiredContainer[]): Promise<DesiredContainer> {
  const galera = nodes.length > 1;
  const states: string[] = [];
  for (const n of [...nodes].reverse()) {
    if (ctx.unreachable.has(n.host)) {
      states.push(`${n.host}: unreachable`);
      continue;
    }
    const live = await liveStatus(ctx.hosts.get(n.host)!);
    if (live && (!galera || live.wsrep_local_state_comment === 'Synced')) return n;
    states.push(`${n.host}: ${live ? `not Synced (${live.wsrep_local_state_comment ?? '?'})` : 'not answering'}`);
  }
  throw new InputError(`no MariaDB server can take a backup now (${states.join('; ')})`, galera ? 'berth check says which nodes are down; berth mariadb-recovery brings back a cluster that stopped' : 'berth deploy starts MariaDB');
}

export async function backupMariadb(ctx: DeploymentContext, opts: { to?: string }, say: (line: string) => void): Promise<BackupReport> {
  const nodes = mariadbNodes(ctx);
  if (!nodes.length) throw new InputError('MariaDB is not deployed here (enable_mariadb, or no host in [mariadb])');
  if (opts.to !== undefined && !existsSync(opts.to)) throw new InputError(`--to ${opts.to}: no such directory`, 'make it first (berth writes the backup into a new directory inside it, 0700)');
  const node = await sourceNode(ctx, nodes);
  const host = ctx.hosts.get(node.host)!;
  const id = backupId();
  say(`${node.host}: backing up into volume mariadb_backup as ${id}`);
  const script = `set -eu
d=/backup/${id}
log=/backup/${id}.log
run() { "$@" >>"$log" 2>&1 || { tail -n 20 "$log"; exit 1; }; }
run mariadb-backup --defaults-extra-file=/etc/mysql/backup.cnf --backup${nodes.length > 1 ? ' --galera-info' : ''} --target-dir="$d"
run mariadb-backup --prepare --target-dir="$d"
echo "berth:bytes $(du -sb "$d" | cut -f1)"
`;
  const r = await host.exec(node.name, ['sh', '-c', script], undefined, 60 * 60_000);
  if (r.code !== 0) throw new Error(`${node.host}: mariadb-backup failed (exit ${r.code}):\n    ${r.output.trim().split('\n').join('\n    ')}`);
  const bytes = Number(/^berth:bytes (\d+)$/m.exec(r.output)?.[1] ?? 0);
  const report: BackupReport = { id, host: node.host, bytes };
  if (opts.to !== undefined) {
    const into = join(opts.to, id);
    say(`${node.host}: copying ${id} to ${into} on this machine`);
    const copy = await host.runTool({
      image: node.spec.image,
      cmd: ['true'],
      files: [],
      labels: ctx.toolLabels,
      volumes: node.spec.volumes.filter((v) => v.startsWith('mariadb_backup:')),
      collect: { from: `/backup/${id}`, into },
      timeoutMs: 60 * 60_000,
    });
    if (copy.code !== 0) throw new Error(`${node.host}: copying the backup out failed: ${copy.output.trim()}`);
    report.copiedTo = into;
  }
  return report;
}

export async function restoreMariadb(ctx: DeploymentContext, id: string, say: (line: string) => void): Promise<{ host: string }> {
  if (!BACKUP_ID.test(id)) throw new InputError(`"${id}" is not a backup id (mariadb-YYYYMMDDTHHMMSSZ, as berth mariadb-backup prints)`);
  const nodes = mariadbNodes(ctx);
  if (!nodes.length) throw new InputError('MariaDB is not deployed here (enable_mariadb, or no host in [mariadb])');
  assertNodesReachable(ctx, nodes, 'a restore replaces the data of every node');
  const galera = nodes.length > 1;

  // The node whose mariadb_backup volume holds it.
  let source: DesiredContainer | undefined;
  const listed: string[] = [];
  for (const n of nodes) {
    // MariaDB 11 names mariadb-backup's own files mariadb_backup_*; 10.11 (Zed) xtrabackup_*.
    const r = await nodeTool(ctx, n, `ls /backup; if [ -f /backup/${id}/mariadb_backup_checkpoints ] || [ -f /backup/${id}/xtrabackup_checkpoints ]; then echo berth:has; fi`, ['mariadb_backup']);
    if (/^berth:has$/m.test(r.output)) source ??= n;
    listed.push(`${n.host}: ${r.output.split('\n').filter((l) => BACKUP_ID.test(l.trim())).join(', ') || 'none'}`);
  }
  if (!source) throw new InputError(`no node holds backup ${id} (backups: ${listed.join('; ')})`, 'name one of those');

  for (const n of nodes) {
    const host = ctx.hosts.get(n.host)!;
    if ((await host.inspect(n.name))?.running) {
      say(`${n.host}: stopping mariadb`);
      await host.stop(n.name, n.stopTimeoutSeconds);
    }
  }
  // Galera: the restored node starts a new cluster from the backup's position; the others, emptied,
  // take a full copy of it (their own data is newer than the backup and would not fit).
  const restore = `set -eu
find /var/lib/mysql -mindepth 1 -delete
mariadb-backup --copy-back --target-dir=/backup/${id} --datadir=/var/lib/mysql >/tmp/restore.log 2>&1 || { tail -n 20 /tmp/restore.log; exit 1; }
${galera ? `pos=$(cut -d' ' -f1 /backup/${id}/mariadb_backup_galera_info 2>/dev/null || cut -d' ' -f1 /backup/${id}/xtrabackup_galera_info)
printf '# GALERA saved state\\nversion: 2.1\\nuuid: %s\\nseqno: %s\\nsafe_to_bootstrap: 1\\n' "\${pos%%:*}" "\${pos##*:}" >/var/lib/mysql/grastate.dat` : ''}
echo berth:restored
`;
  say(`${source.host}: restoring ${id}`);
  const r = await nodeTool(ctx, source, restore, ['mariadb', 'mariadb_backup']);
  if (r.code !== 0 || !/^berth:restored$/m.test(r.output)) throw new Error(`${source.host}: restoring ${id} failed: ${r.output.trim()}`);
  for (const n of nodes.filter((x) => x !== source)) {
    say(`${n.host}: emptying its data (it takes a full copy of the restored state when it rejoins)`);
    const wiped = await nodeTool(ctx, n, 'find /var/lib/mysql -mindepth 1 -delete && echo berth:empty');
    if (wiped.code !== 0 || !/^berth:empty$/m.test(wiped.output)) throw new Error(`${n.host}: emptying its data failed: ${wiped.output.trim()}`);
  }
  await startSynced(ctx, source, say);
  for (const n of nodes.filter((x) => x !== source)) await startSynced(ctx, n, say);
  return { host: source.host };
}
