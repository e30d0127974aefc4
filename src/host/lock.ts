/**
 * One etcdadm at a time per host: commands that change the host take /run/etcdadm.lock (created with O_EXCL, holding
 * the owner's PID and command). A lock whose owner is gone (crashed, SIGKILLed, or before a reboot: /run is a tmpfs)
 * is taken over; a live owner makes the second command fail at once, naming the owner.
 */
import { constants } from 'node:fs';
import { open, readFile, unlink, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { EtcdadmError } from '../errors.js';

export interface HostLock {
  release(): Promise<void>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Start time of a process (field 22 of /proc/PID/stat), to tell a live owner from a reused PID. */
async function startTime(pid: number): Promise<string | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (!stat) return undefined;
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

export async function acquireHostLock(path: string, command: string): Promise<HostLock> {
  await mkdir(dirname(path), { recursive: true });
  const me = `${process.pid} ${(await startTime(process.pid)) ?? '0'} ${command}\n`;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644);
      await fh.writeFile(me);
      await fh.close();
      return {
        async release() {
          const text = await readFile(path, 'utf8').catch(() => '');
          if (text === me) await unlink(path).catch(() => undefined);
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const held = (await readFile(path, 'utf8').catch(() => '')).trim();
    const [pidText, started, ...cmd] = held.split(' ');
    const pid = Number(pidText);
    const owned = Number.isInteger(pid) && pid > 0 && alive(pid) && (await startTime(pid)) === started;
    if (owned)
      throw new EtcdadmError(`another etcdadm command is changing this host: PID ${pid} (${cmd.join(' ') || 'unknown'}) holds ${path}`, {
        hint: 'wait for it to finish; if that process is gone, remove the lock file',
      });
    await unlink(path).catch(() => undefined); // a crashed owner's lock: take it over
  }
  throw new EtcdadmError(`cannot take the lock ${path}`, { hint: 'another etcdadm command keeps taking it; try again' });
}
