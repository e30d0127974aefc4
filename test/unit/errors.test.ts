import assert from 'node:assert/strict';
import { rename } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { systemError } from '../../src/errors.js';

describe('failed system calls as one line: what, where, what to do', () => {
  it('a real ENOENT from the kernel', async () => {
    const err = await rename('/nonexistent-etcdadm-a', '/tmp/nonexistent-etcdadm-b').then(() => undefined, (e: unknown) => e);
    assert.equal(systemError(err)?.oneLine(), 'rename /nonexistent-etcdadm-a to /tmp/nonexistent-etcdadm-b failed: no such file or directory. A directory on that path does not exist: check the path');
  });
  it('a busy mount point, a full disk, a read-only filesystem each say what to do', () => {
    const e = (code: string, message: string) => Object.assign(new Error(`${code}: ${message}, rename '/var/lib/etcd' -> '/var/lib/etcd.bak'`), { code, syscall: 'rename', path: '/var/lib/etcd', dest: '/var/lib/etcd.bak' });
    assert.match(systemError(e('EBUSY', 'resource busy or locked'))!.oneLine(), /^rename \/var\/lib\/etcd to \/var\/lib\/etcd\.bak failed: resource busy or locked\. It is in use \(a mount point/);
    assert.match(systemError(e('ENOSPC', 'no space left on device'))!.oneLine(), /Free space on that filesystem/);
    assert.match(systemError(e('EROFS', 'read-only file system'))!.oneLine(), /filesystem is read-only/);
    assert.equal(systemError(new Error('plain')), undefined);
  });
});
