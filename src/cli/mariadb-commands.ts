// The database's own operator commands: mariadb-recovery (a Galera cluster that stopped all at
// once). Each holds the deployment lock: no deploy may restart MariaDB while they work.
import type { Command } from '@commander-js/extra-typings';
import { recoverGalera } from '../deployment/galera.js';
import { contextWithWarnings, lock } from './deploy-commands.js';

type Globals = { configDir: string };

export function registerMariadbCommands(program: Command<[], Globals & { debug: boolean }>): void {
  program
    .command('mariadb-recovery')
    .description('bring back a Galera cluster whose nodes all stopped: bootstrap from the most advanced node, rejoin the others (refused while the cluster runs)')
    .action(async () => {
      const ctx = await contextWithWarnings(program.opts().configDir);
      const held = lock(ctx, 'berth mariadb-recovery');
      try {
        const t0 = Date.now();
        const { choice } = await recoverGalera(ctx, (line) => console.log(line));
        console.log(`recovered: bootstrapped from ${choice.bootstrap}, ${choice.rejoin.join(', ')} rejoined, in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      } finally {
        held.release();
      }
    });
}
