// The database's own operator commands: mariadb-recovery (a Galera cluster that stopped all at
// once), mariadb-backup and mariadb-restore. Each holds the deployment lock: no deploy may restart
// MariaDB while they work.
import type { Command } from '@commander-js/extra-typings';
import { InputError } from '../config/errors.js';
import { recoverGalera } from '../deployment/galera.js';
import { backupMariadb, restoreMariadb } from '../deployment/mariadb-backup.js';
import { formatBytes } from '../ui/format.js';
import type { DeploymentContext } from '../deployment/context.js';
import { contextWithWarnings, lock } from './deploy-commands.js';

type Globals = { configDir: string };

export function registerMariadbCommands(program: Command<[], Globals & { debug: boolean }>): void {
  const locked = async (command: string, work: (ctx: DeploymentContext, t0: number) => Promise<void>): Promise<void> => {
    const ctx = await contextWithWarnings(program.opts().configDir);
    const held = lock(ctx, `berth ${command}`);
    try {
      await work(ctx, Date.now());
    } finally {
      held.release();
    }
  };
  const seconds = (t0: number): string => `${((Date.now() - t0) / 1000).toFixed(1)} s`;

  program
    .command('mariadb-recovery')
    .description('bring back a Galera cluster whose nodes all stopped: bootstrap from the most advanced node, rejoin the others (refused while the cluster runs)')
    .action(() =>
      locked('mariadb-recovery', async (ctx, t0) => {
        const { choice } = await recoverGalera(ctx, (line) => console.log(line));
        console.log(`recovered: bootstrapped from ${choice.bootstrap}, ${choice.rejoin.join(', ')} rejoined, in ${seconds(t0)}`);
      }),
    );

  program
    .command('mariadb-backup')
    .description('a full backup of MariaDB (mariadb-backup, hot), kept in the mariadb_backup volume of the node it was taken on')
    .option('--to <dir>', 'also copy it into a new directory inside <dir> on this machine (0700)')
    .action((o) =>
      locked('mariadb-backup', async (ctx, t0) => {
        const r = await backupMariadb(ctx, { to: o.to }, (line) => console.log(line));
        console.log(`backup ${r.id}: ${formatBytes(r.bytes)} on ${r.host}${r.copiedTo ? `, copied to ${r.copiedTo}` : ''}, in ${seconds(t0)}`);
      }),
    );

  program
    .command('mariadb-restore')
    .argument('<backup-id>', 'as berth mariadb-backup printed it (mariadb-YYYYMMDDTHHMMSSZ)')
    .description('put a backup back: every node stops, the one holding it restores and bootstraps, the others rejoin with a full copy')
    .option('--yes-i-really-really-mean-it', 'confirm: everything written since the backup is lost', false)
    .action((id, o) => {
      if (!o.yesIReallyReallyMeanIt) throw new InputError(`mariadb-restore replaces the whole database with backup ${id}: everything written since is lost`, 'rerun with --yes-i-really-really-mean-it');
      return locked('mariadb-restore', async (ctx, t0) => {
        const r = await restoreMariadb(ctx, id, (line) => console.log(line));
        console.log(`restored ${id} from ${r.host} in ${seconds(t0)}`);
      });
    });
}
