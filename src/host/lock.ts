/**
 * One etcdadm at a time per host: commands that change the host take /run/etcdadm.lock (created with O_EXCL, holding
 * the owner's PID, its start time and its command). A lock whose owner is gone — exited, SIGKILLed, a zombie that
 * nobody reaped (containers whose PID 1 does not reap orphans), a reused PID, or any owner before a reboot (/run is
 * a tmpfs) — is taken over; a live owner makes the second command fail at once, naming the owner.
 */
import { constants } from 'node:fs';
import { open, readFile, unlink, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { EtcdadmError } from '../errors.js';
import type { HostLock } from './host.js';

/** A process's state letter and start time (fields 3 and 22 of /proc/PID/stat); undefined when it does not exist. */
async function procStat(pid: number): Promise<{ state: string; started: string } | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (!stat) return undefined;
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state: rest[0] ?? '', started: rest[19] ?? '' };
}

/** Whether the process that wrote `pid started` still runs: same start time, and not a zombie (Z) or dead (X). */
export async function ownerAlive(pid: number, started: string | undefined): Promise<boolean> {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  const st = await procStat(pid);
  return st !== undefined && st.started === started && st.state !== 'Z' && st.state !== 'X';
}

export async function acquireHostLock(path: string, command: string): Promise<HostLock> {
  await mkdir(dirname(path), { recursive: true });
  const me = `${process.pid} ${(await procStat(process.pid))?.started ?? '0'} ${command}\n`;
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
    if (await ownerAlive(pid, started))
      throw new EtcdadmError(`another etcdadm command is changing this host: PID ${pid} (${cmd.join(' ') || 'unknown'}) holds ${path}`, {
        hint: 'wait for it to finish; if that process is gone, remove the lock file',
      });
    await unlink(path).catch(() => undefined); // a crashed owner's lock: take it over
  }
  throw new EtcdadmError(`cannot take the lock ${path}`, { hint: 'another etcdadm command keeps taking it; try again' });
}
