/**
 * `etcdadm host-agent`: the far end of SshHost (ssh.ts). Started over ssh on the managed host (as root, or under
 * `sudo -n`), it reads requests on stdin and answers on stdout (the protocol: ssh-rpc.ts), doing each with this
 * machine's LocalHost — so a remote host keeps every promise of the Host contract exactly as a local one does (the
 * same atomic writes, the same lock, the same exec). It holds locks, open reads and open writes by handle between
 * requests; when stdin ends (the operator's etcdadm is done, or its connection is gone) it aborts the writes left
 * open, releases its locks and exits.
 *
 * Nothing else may write to stdout: it is the protocol. Loaded only by `etcdadm host-agent`.
 */
import type { Readable, Writable } from 'node:stream';
import { EtcdadmError } from '../errors.js';
import type { ExtractOptions, FileWriter, HostLock } from './host.js';
import { LocalHost } from './local.js';
import { encodeMessage, errorToWire, LineSplitter, PROTOCOL_VERSION, decodeRequest, type Hello, type Method, type Request, type Response } from './ssh-rpc.js';

type Entry = { path: string; type: string; linkpath?: string };
const entryKey = (e: Entry) => JSON.stringify([e.path, e.type, e.linkpath ?? null]);

export async function serveAgent(input: Readable, output: Writable, host = new LocalHost()): Promise<void> {
  let nextHandle = 1;
  const locks = new Map<number, HostLock>();
  const readers = new Map<number, AsyncIterator<Uint8Array>>();
  const writers = new Map<number, FileWriter>();

  // one writer of stdout, honouring its backpressure
  let outBusy = Promise.resolve();
  const send = (msg: Response): Promise<void> => {
    const line = encodeMessage(msg);
    outBusy = outBusy.then(
      () =>
        new Promise<void>((resolve) => {
          if (output.write(line)) resolve();
          else output.once('drain', resolve);
        }),
    );
    return outBusy;
  };

  const handle = <T>(map: Map<number, T>, h: unknown, what: string): T => {
    const v = map.get(h as number);
    if (v === undefined) throw new Error(`host agent: no open ${what} ${String(h)}`);
    return v;
  };

  const opt = <T>(v: unknown): T | undefined => (v === null ? undefined : (v as T));

  /** Each request's work. Synchronous up to its first await: requests start in the order they arrived. */
  const methods: Record<Method, (...a: any[]) => unknown> = {
    facts: () => host.facts(),
    read: (p: string) => host.read(p),
    readBytes: (p: string) => host.readBytes(p),
    readRange: (p: string, off: number, len: number) => host.readRange(p, off, len),
    write: (p: string, data: string | Uint8Array, o?: object) => host.write(p, data, opt(o)),
    exists: (p: string) => host.exists(p),
    stat: (p: string) => host.stat(p),
    list: (p: string) => host.list(p),
    mkdir: (p: string, mode: number) => host.mkdir(p, mode),
    mkdtemp: (prefix: string) => host.mkdtemp(prefix),
    remove: (p: string) => host.remove(p),
    removeTree: (p: string) => host.removeTree(p),
    rename: (a: string, b: string) => host.rename(a, b),
    chmod: (p: string, mode: number) => host.chmod(p, mode),
    chown: (p: string, who: { name: string; uid: number; gid: number }) => host.chown(p, who),
    chownTree: (p: string, who: { name: string; uid: number; gid: number }) => host.chownTree(p, who),
    symlink: (target: string, p: string) => host.symlink(target, p),
    readlink: (p: string) => host.readlink(p),
    realpath: (p: string) => host.realpath(p),
    writeProblem: (p: string) => host.writeProblem(p),
    freeBytes: (p: string) => host.freeBytes(p),
    treeBytes: (p: string) => host.treeBytes(p),
    copyTree: (a: string, b: string, mode: number, o?: { link?: boolean }) => host.copyTree(a, b, mode, opt(o)),
    exec: (cmd: string, args: string[], o?: object) => host.exec(cmd, args, opt(o)),
    lookupUser: (name: string) => host.lookupUser(name),
    portInUse: (h: string, port: number) => host.portInUse(h, port),
    etcdadmCommand: () => host.etcdadmCommand(),
    lock: async (p: string, command: string) => {
      const l = await host.lock(p, command);
      const h = nextHandle++;
      locks.set(h, l);
      return h;
    },
    unlock: async (h: number) => {
      const l = handle(locks, h, 'lock');
      locks.delete(h);
      await l.release();
    },
    readOpen: (p: string, range?: { start?: number; end?: number }) => {
      const h = nextHandle++;
      readers.set(h, host.readStream(p, opt(range) ?? {})[Symbol.asyncIterator]());
      return h;
    },
    readNext: async (h: number) => {
      const r = await handle(readers, h, 'read').next();
      if (r.done) {
        readers.delete(h);
        return null;
      }
      return r.value;
    },
    readClose: async (h: number) => {
      const it = readers.get(h);
      readers.delete(h);
      await it?.return?.();
    },
    writeOpen: async (p: string, o: { mode: number; exclusive?: boolean }) => {
      const w = await host.writeStream(p, o);
      const h = nextHandle++;
      writers.set(h, w);
      return { handle: h, tempPath: w.tempPath };
    },
    writeChunk: (h: number, bytes: Uint8Array) => {
      const w = handle(writers, h, 'write');
      // written now (in arrival order); answered once the file's sink takes more
      if (w.sink.write(bytes)) return undefined;
      return new Promise<void>((resolve, reject) => {
        const done = (err?: Error) => {
          w.sink.off('drain', ok);
          w.sink.off('error', done);
          w.sink.off('close', ok);
          if (err) reject(err);
          else resolve();
        };
        const ok = () => done();
        w.sink.once('drain', ok).once('error', done).once('close', ok);
      });
    },
    writeCommit: async (h: number) => {
      const w = handle(writers, h, 'write');
      writers.delete(h);
      return w.commit();
    },
    writeAbort: async (h: number) => {
      const w = writers.get(h);
      writers.delete(h);
      await w?.abort();
    },
    archiveEntries: async (archive: string) => (await import('./archive.js')).listLocal(archive),
    extract: (archive: string, dest: string, strip: number, listed: [Entry, string | null][]) => {
      const verdict = new Map(listed.map(([e, why]) => [entryKey(e), why]));
      const opts: ExtractOptions = {
        strip,
        refuse: (e) => {
          const why = verdict.get(entryKey(e));
          if (why === undefined) return `${e.path}: not in the archive when it was checked`;
          return why ?? undefined;
        },
      };
      return host.extract(archive, dest, opts);
    },
  };

  /** Requests not answered yet: stdin's end waits for them (a client may send its last request and close). */
  const inflight = new Set<Promise<void>>();
  const serve = (req: Request): void => {
    let result: unknown;
    try {
      result = methods[req.m](...req.a);
    } catch (err) {
      void send({ id: req.id, ok: false, e: errorToWire(err) });
      return;
    }
    const answered: Promise<void> = Promise.resolve(result)
      .then(
        (v) => send({ id: req.id, ok: true, v }),
        (err: unknown) => send({ id: req.id, ok: false, e: errorToWire(err) }),
      )
      .finally(() => inflight.delete(answered));
    inflight.add(answered);
  };

  const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
  const hello: Hello = { protocol: PROTOCOL_VERSION, pid: process.pid, uid, privileged: host.isPrivileged() };
  await send({ id: 0, ok: true, v: hello });

  const lines = new LineSplitter();
  await new Promise<void>((resolve, reject) => {
    input.on('data', (chunk: Buffer) => {
      let got: string[];
      try {
        got = lines.push(chunk);
      } catch (err) {
        reject(err);
        return;
      }
      for (const line of got) {
        if (!line) continue;
        let req: Request;
        try {
          req = decodeRequest(line);
        } catch (err) {
          // a request with a readable id is answered with the error (a newer client's method, say); one without
          // cannot be answered: the peer is not the client this agent speaks to
          const id = (() => {
            try {
              return (JSON.parse(line) as { id?: unknown }).id;
            } catch {
              return undefined;
            }
          })();
          if (typeof id === 'number' && Number.isSafeInteger(id) && id > 0) {
            void send({ id, ok: false, e: errorToWire(new EtcdadmError(`${(err as Error).message} (the etcdadm agent here is older or newer than its client)`, { hint: 'install the same etcdadm version on the host as on the operator\'s machine' })) });
            continue;
          }
          reject(err);
          return;
        }
        serve(req);
      }
    });
    input.on('end', resolve);
    input.on('close', resolve);
    input.on('error', reject);
  }).finally(async () => {
    while (inflight.size) await Promise.allSettled([...inflight]);
    for (const w of writers.values()) await w.abort().catch(() => undefined);
    for (const it of readers.values()) await it.return?.().catch(() => undefined);
    for (const l of locks.values()) await l.release().catch(() => undefined);
    await outBusy;
  });
}
