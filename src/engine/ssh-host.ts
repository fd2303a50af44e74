// A host reached over SSH: the Docker API through its connection's channels (DockerHost does the
// rest, as for the local host), files through ScriptFiles' shell scripts run in exec channels of
// the same connection. Config directories are root's (0700, files 0600), hence root or `sudo -n`.
import type { Duplex } from 'node:stream';
import { Engine } from './docker.js';
import { DockerHost } from './docker-host.js';
import { ScriptFiles } from './script-files.js';
import { SshConnection, type SshTarget } from './ssh.js';

export { parseHostFacts } from './script-files.js';

export class SshHost extends DockerHost {
  readonly ssh: SshConnection;

  constructor(target: SshTarget, ssh = new SshConnection(target)) {
    super(target.name, new Engine({ agent: ssh.dockerAgent }), new ScriptFiles(ssh, `host ${target.name}`));
    this.ssh = ssh;
  }

  override connectLoopback(port: number): Promise<Duplex> {
    return this.ssh.connectLoopback(port);
  }

  override exposeLoopback(port: number, connect: () => Promise<Duplex>): Promise<{ close(): Promise<void> }> {
    return this.ssh.exposeLoopback(port, connect);
  }

  override close(): Promise<void> {
    return this.ssh.close();
  }
}
