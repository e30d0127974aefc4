import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Code, ConnectError } from '@connectrpc/connect';
import { EtcdadmError } from '../../src/errors.js';
import {
  DialTimeoutError,
  ETCD_ERRORS,
  EtcdClientError,
  isLearnerNotReady,
  isMemberNotFound,
  isMemberNotLearner,
  isNotSupportedForLearner,
  isPeerURLExists,
  isPermissionDenied,
  isTlsError,
  isTooManyLearners,
  isUnavailable,
  isUnhealthyCluster,
  isUnreachable,
  transportFailure,
  unreachableError,
  wrapError,
} from '../../src/etcd/errors.js';

const EP = 'https://10.0.0.1:2379';

/** An etcd answer as @connectrpc/connect raises it (gRPC status from the server). */
function server(message: string, code: Code): ConnectError {
  return new ConnectError(message, code);
}

/** A Node.js network/TLS failure wrapped the way @connectrpc/connect-node wraps it. */
function nodeFailure(code: string, message: string, connectCode = Code.Unavailable): ConnectError {
  const cause = Object.assign(new Error(message), { code });
  return new ConnectError(message, connectCode, undefined, undefined, cause);
}

/** What @grpc/grpc-js (another client) would raise: numeric code and `details`. */
function grpcJs(code: number, details: string): Error {
  return Object.assign(new Error(`${code} STATUS: ${details}`), { code, details });
}

describe('etcd error classifiers', () => {
  const cases: [string, (e: unknown) => boolean, string, Code][] = [
    ['isUnhealthyCluster', isUnhealthyCluster, 'etcdserver: unhealthy cluster', Code.Unavailable],
    ['isLearnerNotReady', isLearnerNotReady, 'etcdserver: can only promote a learner member which is in sync with leader', Code.FailedPrecondition],
    ['isTooManyLearners', isTooManyLearners, 'etcdserver: too many learner members in cluster', Code.FailedPrecondition],
    ['isMemberNotFound', isMemberNotFound, 'etcdserver: member not found', Code.NotFound],
    ['isPeerURLExists', isPeerURLExists, 'etcdserver: Peer URLs already exists', Code.FailedPrecondition],
    ['isNotSupportedForLearner', isNotSupportedForLearner, 'etcdserver: rpc not supported for learner', Code.Unavailable],
    ['isMemberNotLearner', isMemberNotLearner, 'etcdserver: can only promote a learner member', Code.FailedPrecondition],
    ['isPermissionDenied', isPermissionDenied, 'etcdserver: permission denied', Code.PermissionDenied],
  ];

  for (const [name, classify, message, code] of cases) {
    test(`${name} recognizes "${message}" raw, wrapped, nested and from grpc-js`, () => {
      const raw = server(message, code);
      const wrapped = wrapError(raw, EP, 'Op');
      const nested = new EtcdadmError('cannot join the cluster', { cause: wrapped });
      assert.equal(classify(raw), true, 'raw ConnectError');
      assert.equal(classify(wrapped), true, 'EtcdClientError');
      assert.equal(classify(nested), true, 'EtcdadmError with cause');
      assert.equal(classify(grpcJs(code, message)), true, 'grpc-js');
      assert.equal(classify(new Error(message)), true, 'plain Error');
    });
  }

  test('each classifier is false for the other etcd errors', () => {
    for (const [name, classify] of cases) {
      for (const [other, , message, code] of cases) {
        if (other === name) continue;
        // (note "can only promote a learner member" is a prefix of the learner-not-ready text: still distinct)
        assert.equal(classify(server(message, code)), false, `${name} on ${other}`);
      }
    }
  });

  test('the exact etcd texts are the ones etcd 3.4/3.5 send', () => {
    assert.equal(ETCD_ERRORS.unhealthy, 'etcdserver: unhealthy cluster');
    assert.equal(ETCD_ERRORS.learnerNotReady, 'etcdserver: can only promote a learner member which is in sync with leader');
    assert.equal(ETCD_ERRORS.tooManyLearners, 'etcdserver: too many learner members in cluster');
    assert.equal(ETCD_ERRORS.peerURLExists, 'etcdserver: Peer URLs already exists');
  });

  test('nothing matches unrelated errors or non-errors', () => {
    for (const classify of [isUnhealthyCluster, isLearnerNotReady, isTooManyLearners, isMemberNotFound, isPeerURLExists, isPermissionDenied, isUnavailable, isTlsError, isUnreachable]) {
      assert.equal(classify(new Error('boom')), false);
      assert.equal(classify(undefined), false);
      assert.equal(classify(null), false);
      assert.equal(classify('etcdserver: key not found'), false);
    }
  });

  test('isUnavailable: no leader, quorum lost, deadlines, unreachable; not unhealthy/learner/TLS', () => {
    assert.equal(isUnavailable(server('etcdserver: no leader', Code.Unavailable)), true);
    assert.equal(isUnavailable(server('etcdserver: request timed out', Code.Unavailable)), true);
    assert.equal(isUnavailable(server('etcdserver: request timed out, possibly due to previous leader failure', Code.Unavailable)), true);
    assert.equal(isUnavailable(server('etcdserver: leader changed', Code.Unavailable)), true);
    assert.equal(isUnavailable(server('context deadline exceeded', Code.DeadlineExceeded)), true);
    assert.equal(isUnavailable(grpcJs(14, 'etcdserver: no leader')), true);
    assert.equal(isUnavailable(wrapError(nodeFailure('ECONNREFUSED', 'connect ECONNREFUSED 10.0.0.1:2379'), EP, 'Range')), true);
    assert.equal(isUnavailable(wrapError(new ConnectError('the operation timed out', Code.DeadlineExceeded), EP, 'Range', {}, 5000)), true);
    assert.equal(isUnavailable(server('etcdserver: unhealthy cluster', Code.Unavailable)), false);
    assert.equal(isUnavailable(server('etcdserver: rpc not supported for learner', Code.Unavailable)), false);
    assert.equal(isUnavailable(nodeFailure('UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unable to verify the first certificate', Code.Internal)), false);
    assert.equal(isUnavailable(server('etcdserver: member not found', Code.NotFound)), false);
  });

  test('isPermissionDenied also by gRPC code', () => {
    assert.equal(isPermissionDenied(server('whatever the text', Code.PermissionDenied)), true);
    assert.equal(isPermissionDenied(server('etcdserver: user name not found', Code.FailedPrecondition)), false);
  });

  test('isTlsError / isUnreachable on raw Node failures and on wrapped ones', () => {
    const tls = nodeFailure('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', 'error:0A000418:SSL routines:ssl3_read_bytes:tlsv1 alert unknown ca', Code.Internal);
    const refused = nodeFailure('ECONNREFUSED', 'connect ECONNREFUSED 10.0.0.1:2379');
    assert.equal(isTlsError(tls), true);
    assert.equal(isTlsError(wrapError(tls, EP, 'Range')), true);
    assert.equal(isUnreachable(tls), false);
    assert.equal(isUnreachable(refused), true);
    assert.equal(isUnreachable(new EtcdadmError('outer', { cause: wrapError(refused, EP, 'Range') })), true);
    assert.equal(isTlsError(refused), false);
    assert.equal(isUnreachable(wrapError(new DialTimeoutError(300), EP, 'dial')), true);
  });
});

describe('wrapError: one clear line with what, why and a hint', () => {
  test('connection refused', () => {
    const raw = nodeFailure('ECONNREFUSED', 'connect ECONNREFUSED 10.0.0.1:2379');
    const e = wrapError(raw, EP, 'MemberList');
    assert.ok(e instanceof EtcdadmError && e instanceof EtcdClientError);
    assert.equal(e.message, 'cannot reach etcd at https://10.0.0.1:2379: connection refused');
    assert.equal(e.kind, 'unreachable');
    assert.equal(e.endpoint, EP);
    assert.match(e.hint ?? '', /etcd is running/);
    assert.equal(e.cause, raw);
    assert.doesNotMatch(e.oneLine(), /\n/);
  });

  test('dial timeout says after how long', () => {
    const e = wrapError(new DialTimeoutError(2000), EP, 'dial');
    assert.equal(e.message, 'cannot reach etcd at https://10.0.0.1:2379: timed out after 2000ms');
    assert.equal(e.kind, 'unreachable');
  });

  test('unknown CA names the CA file and says the cluster CA must be that one', () => {
    const raw = nodeFailure('UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unable to verify the first certificate', Code.Internal);
    const e = wrapError(raw, EP, 'dial', { caFile: '/etc/etcd/pki/ca.crt' });
    assert.equal(e.kind, 'tls');
    assert.match(e.message, /^cannot reach etcd at https:\/\/10\.0\.0\.1:2379: TLS: certificate signed by unknown authority/);
    assert.match(e.message, /\/etc\/etcd\/pki\/ca\.crt/);
    assert.match(e.hint ?? '', /the cluster's CA must be the one at \/etc\/etcd\/pki\/ca\.crt/);
    const noFile = wrapError(raw, EP, 'dial');
    assert.match(noFile.message, /TLS: certificate signed by unknown authority$/);
  });

  test('client certificate rejected by etcd', () => {
    const raw = nodeFailure(
      'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
      '802C65DC037F0000:error:0A000418:SSL routines:ssl3_read_bytes:tlsv1 alert unknown ca:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:1601:SSL alert number 48\n',
      Code.Internal,
    );
    const e = wrapError(raw, EP, 'Range', { certFile: '/etc/etcd/pki/etcdadm-client.crt' });
    assert.equal(e.message, 'cannot reach etcd at https://10.0.0.1:2379: TLS: etcd rejected the client certificate (tlsv1 alert unknown ca)');
    assert.match(e.hint ?? '', /etcdadm-client\.crt/);
    assert.doesNotMatch(e.oneLine(), /\n/);
  });

  test('hostname not in the certificate', () => {
    const raw = nodeFailure('ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames: IP: 10.0.0.1 is not in the cert's list: 10.0.0.2", Code.Internal);
    const e = wrapError(raw, EP, 'Range');
    assert.match(e.message, /TLS: the server certificate is not valid for 10\.0\.0\.1/);
    assert.match(e.hint ?? '', /subject alternative names/);
  });

  test('plain http against a TLS port is a protocol error, not an etcd answer', () => {
    const raw = new ConnectError('http/2 stream closed with error code CANCEL (0x8)', Code.Canceled);
    const e = wrapError(raw, 'http://10.0.0.1:2379', 'MemberList');
    assert.equal(e.kind, 'protocol');
    assert.match(e.message, /^cannot reach etcd at http:\/\/10\.0\.0\.1:2379: the endpoint did not answer as an etcd gRPC server/);
    assert.match(e.hint ?? '', /https/);
  });

  test('request deadline', () => {
    const e = wrapError(new ConnectError('the operation timed out', Code.DeadlineExceeded), EP, 'MemberList', {}, 5000);
    assert.equal(e.message, 'etcd at https://10.0.0.1:2379 did not answer MemberList within 5000ms');
    assert.equal(e.kind, 'timeout');
  });

  test('etcd answers keep the etcd text and get a hint', () => {
    const e = wrapError(server('etcdserver: too many learner members in cluster', Code.FailedPrecondition), EP, 'MemberAdd');
    assert.equal(e.message, 'etcd MemberAdd failed at https://10.0.0.1:2379: etcdserver: too many learner members in cluster');
    assert.equal(e.kind, 'server');
    assert.equal(e.grpcCode, Code.FailedPrecondition);
    assert.equal(e.etcdMessage, 'etcdserver: too many learner members in cluster');
    assert.match(e.hint ?? '', /one learner at a time/);
  });

  test('an EtcdClientError is not wrapped twice', () => {
    const e = wrapError(server('etcdserver: no leader', Code.Unavailable), EP, 'Range');
    assert.equal(wrapError(e, 'https://other:2379', 'Other'), e);
  });
});

describe('transportFailure', () => {
  test('is undefined for etcd answers', () => {
    assert.equal(transportFailure(server('etcdserver: unhealthy cluster', Code.Unavailable)), undefined);
    assert.equal(transportFailure(server('etcdserver: no leader', Code.Unavailable)), undefined);
  });

  test('refused and TLS handshakes are surely not sent; a reset may have been', () => {
    assert.equal(transportFailure(nodeFailure('ECONNREFUSED', 'connect ECONNREFUSED'))?.notSent, true);
    assert.equal(transportFailure(nodeFailure('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 'tlsv13 alert certificate required', Code.Internal))?.notSent, true);
    assert.equal(transportFailure(nodeFailure('ECONNRESET', 'read ECONNRESET', Code.Aborted))?.notSent, false);
  });
});

describe('unreachableError', () => {
  test('one endpoint: its own error', () => {
    const one = wrapError(nodeFailure('ECONNREFUSED', 'x'), EP, 'dial');
    assert.equal(unreachableError([{ endpoint: EP, error: one }]), one);
  });

  test('several endpoints: one line naming each and why; TLS hint wins', () => {
    const a = wrapError(nodeFailure('ECONNREFUSED', 'x'), 'https://10.0.0.1:2379', 'dial');
    const b = wrapError(nodeFailure('UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'y', Code.Internal), 'https://10.0.0.2:2379', 'dial', { caFile: '/ca.crt' });
    const e = unreachableError([
      { endpoint: 'https://10.0.0.1:2379', error: a },
      { endpoint: 'https://10.0.0.2:2379', error: b },
    ]);
    assert.match(e.message, /^cannot reach etcd at any of 2 endpoints: https:\/\/10\.0\.0\.1:2379 \(connection refused\); https:\/\/10\.0\.0\.2:2379 \(TLS: certificate signed by unknown authority/);
    assert.match(e.hint ?? '', /\/ca\.crt/);
    assert.equal(isTlsError(e), true);
    assert.doesNotMatch(e.oneLine(), /\n/);
  });
});
