import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { formatInfo, type MemberInfo } from '../../src/cli/output.js';

const info: MemberInfo = {
  id: '8e9e05c52164694d',
  name: 'etcd-a',
  peerURLs: ['https://10.0.0.1:2380'],
  clientURLs: ['https://10.0.0.1:2379'],
  isLearner: false,
  clusterId: 'cdf818194e3a8c32',
};

describe('etcdadm info output', () => {
  it('prints JSON by default, and YAML, both round-tripping', () => {
    assert.deepEqual(JSON.parse(formatInfo(info, 'json')), info);
    assert.deepEqual(parse(formatInfo(info, 'yaml')), info);
  });
  it('prints an aligned table', () => {
    assert.equal(
      formatInfo(info, 'table'),
      [
        'ID           8e9e05c52164694d',
        'NAME         etcd-a',
        'PEER URLS    https://10.0.0.1:2380',
        'CLIENT URLS  https://10.0.0.1:2379',
        'IS LEARNER   false',
        'CLUSTER ID   cdf818194e3a8c32',
      ].join('\n'),
    );
  });
});
