/**
 * Errors of the etcd client: turning transport, TLS and etcd server failures into one-line EtcdadmErrors, and
 * classifying errors (raw ConnectError, grpc-js-like `{code, details}`, plain Error, or our wrapped EtcdClientError,
 * at any depth of the `cause` chain) so that callers can decide on retries.
 *
 * etcd's server error texts (api/v3rpc/rpctypes/error.go, identical in 3.4 and 3.5) are matched exactly.
 */
import { Code, ConnectError } from '@connectrpc/connect';
import { EtcdadmError } from '../errors.js';

/** Exact etcd server error messages (the gRPC status message). */
export const ETCD_ERRORS = {
  unhealthy: 'etcdserver: unhealthy cluster',
  learnerNotReady: 'etcdserver: can only promote a learner member which is in sync with leader',
  memberNotLearner: 'etcdserver: can only promote a learner member',
  tooManyLearners: 'etcdserver: too many learner members in cluster',
  memberNotFound: 'etcdserver: member not found',
  memberExists: 'etcdserver: member ID already exist',
  peerURLExists: 'etcdserver: Peer URLs already exists',
  notEnoughStarted: 'etcdserver: re-configuration failed due to not enough started members',
  badURLs: 'etcdserver: given member URLs are invalid',
  permissionDenied: 'etcdserver: permission denied',
  invalidAuthToken: 'etcdserver: invalid auth token',
  noLeader: 'etcdserver: no leader',
  notLeader: 'etcdserver: not leader',
  leaderChanged: 'etcdserver: leader changed',
  stopped: 'etcdserver: server stopped',
  /** Prefix of "request timed out", "... possibly due to previous leader failure", "... possibly due to connection lost". */
  timedOut: 'etcdserver: request timed out',
  notSupportedForLearner: 'etcdserver: rpc not supported for learner',
  badLeaderTransferee: 'etcdserver: bad leader transferee',
  noSpace: 'etcdserver: mvcc: database space exceeded',
  corrupt: 'etcdserver: corrupt cluster',
} as const;

export type EtcdErrorKind =
  /** Could not connect: refused, dial timeout, reset, DNS. */
  | 'unreachable'
  /** TLS handshake or certificate problem, on either side. */
  | 'tls'
  /** The endpoint answered, but not as a gRPC server (wrong scheme or port). */
  | 'protocol'
  /** No answer within the request timeout. */
  | 'timeout'
  /** etcd answered with an error status. */
  | 'server';

/** An EtcdadmError from the etcd client, with what the classifiers need. */
export class EtcdClientError extends EtcdadmError {
  readonly kind: EtcdErrorKind;
  /** The endpoint that failed (the first one when all failed). */
  readonly endpoint: string | undefined;
  /** gRPC status code (numbering as @connectrpc/connect's Code), when there was one. */
  readonly grpcCode: number | undefined;
  /** etcd's own error message (e.g. "etcdserver: unhealthy cluster") for kind "server". */
  readonly etcdMessage: string | undefined;

  constructor(
    message: string,
    details: {
      kind: EtcdErrorKind;
      endpoint?: string;
      grpcCode?: number;
      etcdMessage?: string;
      hint?: string;
      cause?: unknown;
    },
  ) {
    super(message, { hint: details.hint, cause: details.cause });
    this.name = 'EtcdClientError';
    this.kind = details.kind;
    this.endpoint = details.endpoint;
    this.grpcCode = details.grpcCode;
    this.etcdMessage = details.etcdMessage;
  }
}

// ------------------------------------------------------------------ looking into errors

function causes(err: unknown): unknown[] {
  const out: unknown[] = [];
  let cur: unknown = err;
  for (let i = 0; cur !== undefined && cur !== null && i < 12 && !out.includes(cur); i++) {
    out.push(cur);
    cur = typeof cur === 'object' && 'cause' in cur ? (cur as { cause?: unknown }).cause : undefined;
  }
  return out;
}

/** The etcd/gRPC status messages found in the error chain (ConnectError.rawMessage, grpc-js `details`, messages). */
function statusMessages(err: unknown): string[] {
  const out: string[] = [];
  for (const e of causes(err)) {
    if (e instanceof EtcdClientError) {
      if (e.etcdMessage) out.push(e.etcdMessage);
    } else if (e instanceof ConnectError) {
      out.push(e.rawMessage);
    } else if (typeof e === 'object' && e !== null) {
      const d = (e as { details?: unknown }).details;
      if (typeof d === 'string') out.push(d);
      const m = (e as { message?: unknown }).message;
      if (typeof m === 'string') out.push(m);
    } else if (typeof e === 'string') {
      out.push(e);
    }
  }
  return out;
}

/** The gRPC status codes found in the error chain. */
function statusCodes(err: unknown): number[] {
  const out: number[] = [];
  for (const e of causes(err)) {
    if (e instanceof EtcdClientError) {
      if (e.grpcCode !== undefined) out.push(e.grpcCode);
    } else if (e instanceof ConnectError) {
      out.push(e.code);
    } else if (typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'number') {
      out.push((e as { code: number }).code);
    }
  }
  return out;
}

/** Node.js error codes (`ECONNREFUSED`, `ERR_SSL_...`, `UNABLE_TO_VERIFY_LEAF_SIGNATURE`) in the error chain. */
export function nodeErrorCodes(err: unknown): string[] {
  const out: string[] = [];
  for (const e of causes(err)) {
    if (typeof e === 'object' && e !== null && !(e instanceof ConnectError)) {
      const c = (e as { code?: unknown }).code;
      if (typeof c === 'string') out.push(c);
    }
  }
  return out;
}

function hasMessage(err: unknown, text: string): boolean {
  return statusMessages(err).some((m) => m.includes(text));
}

function kindOf(err: unknown): EtcdErrorKind | undefined {
  for (const e of causes(err)) if (e instanceof EtcdClientError) return e.kind;
  return undefined;
}

// ------------------------------------------------------------------ classifiers

/** "etcdserver: unhealthy cluster": a membership change was refused because not all members are connected (retry). */
export function isUnhealthyCluster(err: unknown): boolean {
  return hasMessage(err, ETCD_ERRORS.unhealthy);
}

/** "etcdserver: can only promote a learner member which is in sync with leader": the learner is catching up (retry). */
export function isLearnerNotReady(err: unknown): boolean {
  return hasMessage(err, ETCD_ERRORS.learnerNotReady);
}

/** "etcdserver: can only promote a learner member" (exactly): the member is already a voter. */
export function isMemberNotLearner(err: unknown): boolean {
  return statusMessages(err).some((m) => m === ETCD_ERRORS.memberNotLearner || m.endsWith(`: ${ETCD_ERRORS.memberNotLearner}`));
}

/** "etcdserver: too many learner members in cluster": etcd allows one learner at a time. */
export function isTooManyLearners(err: unknown): boolean {
  return hasMessage(err, ETCD_ERRORS.tooManyLearners);
}

/** "etcdserver: member not found". */
export function isMemberNotFound(err: unknown): boolean {
  return hasMessage(err, ETCD_ERRORS.memberNotFound);
}

/**
 * "etcdserver: member ID already exist". etcd derives a new member's ID from its peer URLs and the current time, so
 * adding the same peer URLs twice within a second fails with this rather than with isPeerURLExists.
 */
export function isMemberExists(err: unknown): boolean {
  return hasMessage(err, ETCD_ERRORS.memberExists);
}

/** "etcdserver: Peer URLs already exists": a member with one of these peer URLs is already in the cluster. */
export function isPeerURLExists(err: unknown): boolean {
  return hasMessage(err, ETCD_ERRORS.peerURLExists);
}

/** "etcdserver: rpc not supported for learner": the endpoint is a learner (use a voting member). */
export function isNotSupportedForLearner(err: unknown): boolean {
  return hasMessage(err, ETCD_ERRORS.notSupportedForLearner);
}

/** "etcdserver: mvcc: database space exceeded": the NOSPACE alarm is active and etcd refuses every write. */
export function isNoSpace(err: unknown): boolean {
  return hasMessage(err, ETCD_ERRORS.noSpace);
}

/** "etcdserver: permission denied" or gRPC PERMISSION_DENIED (auth is enabled and this client may not do that). */
export function isPermissionDenied(err: unknown): boolean {
  return hasMessage(err, ETCD_ERRORS.permissionDenied) || statusCodes(err).includes(Code.PermissionDenied);
}

/** A TLS handshake or certificate failure (either side rejected the other); retrying will not help. */
export function isTlsError(err: unknown): boolean {
  if (kindOf(err) === 'tls') return true;
  return nodeErrorCodes(err).some(isTlsCode);
}

/** No connection could be made (refused, dial timeout, reset, DNS), TLS excluded. */
export function isUnreachable(err: unknown): boolean {
  const k = kindOf(err);
  if (k !== undefined) return k === 'unreachable';
  return nodeErrorCodes(err).some((c) => NET_CODES.has(c));
}

/**
 * The cluster (or the endpoint) cannot serve right now, and a retry later may succeed: no leader, quorum lost
 * ("request timed out"), leader changed, server stopped, a deadline exceeded, or no endpoint reachable.
 * Not true for "unhealthy cluster" or "rpc not supported for learner" (see their own classifiers), nor for TLS errors.
 */
export function isUnavailable(err: unknown): boolean {
  if (isUnhealthyCluster(err) || isNotSupportedForLearner(err) || isTlsError(err)) return false;
  if (kindOf(err) === 'timeout' || isUnreachable(err)) return true;
  const msgs = statusMessages(err);
  const texts = [ETCD_ERRORS.noLeader, ETCD_ERRORS.leaderChanged, ETCD_ERRORS.stopped, ETCD_ERRORS.timedOut];
  if (msgs.some((m) => texts.some((t) => m.includes(t)) || m.includes('context deadline exceeded'))) return true;
  const codes = statusCodes(err);
  return codes.includes(Code.Unavailable) || codes.includes(Code.DeadlineExceeded);
}

// ------------------------------------------------------------------ describing failures

const NET_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN', 'EADDRNOTAVAIL',
  'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'ECONNABORTED', 'ERR_ETCD_DIAL_TIMEOUT',
  'ERR_HTTP2_SESSION_ERROR', 'ERR_HTTP2_GOAWAY_SESSION', 'ERR_HTTP2_STREAM_CANCEL', 'ERR_HTTP2_ERROR',
  'ERR_HTTP2_INVALID_SESSION', 'ERR_HTTP2_PING_CANCEL',
]);

const UNKNOWN_CA_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_SIGNATURE_FAILURE', 'CERT_UNTRUSTED',
]);

function isTlsCode(code: string): boolean {
  return (
    code.startsWith('ERR_SSL_') ||
    code.startsWith('ERR_TLS_') ||
    code.startsWith('CERT_') ||
    UNKNOWN_CA_CODES.has(code) ||
    code === 'ERR_OSSL_PEM_NO_START_LINE' ||
    code.startsWith('ERR_OSSL_')
  );
}

/** Thrown by the client's dial when the connection does not open in time (carried as a cause). */
export class DialTimeoutError extends Error {
  readonly code = 'ERR_ETCD_DIAL_TIMEOUT';
  constructor(readonly timeoutMs: number) {
    super(`timed out after ${timeoutMs}ms`);
    this.name = 'DialTimeoutError';
  }
}

export interface TlsNames {
  caFile?: string;
  certFile?: string;
}

export interface FailureReason {
  kind: EtcdErrorKind;
  /** Why, short, e.g. "connection refused" or "TLS: certificate signed by unknown authority". */
  why: string;
  hint: string;
  /** The request surely never reached etcd's gRPC server (safe to send elsewhere, even when not idempotent). */
  notSent: boolean;
}

/** The short OpenSSL reason in a Node TLS error ("tlsv1 alert unknown ca"), or the message. */
function sslReason(message: string): string {
  const m = /SSL routines:[^:]*:([^:]+)/.exec(message);
  return (m ? m[1]! : message).trim();
}

/**
 * Why a connection-level failure happened, in words, or undefined when `err` is not a transport/TLS/protocol error
 * (i.e. it is an answer of etcd).
 */
export function transportFailure(err: unknown, tls: TlsNames = {}, host = ''): FailureReason | undefined {
  const codes = nodeErrorCodes(err);
  const all = causes(err);
  const tlsCode = codes.find(isTlsCode);
  if (tlsCode !== undefined) {
    const msg = (all.find((e) => (e as { code?: unknown })?.code === tlsCode) as Error | undefined)?.message ?? tlsCode;
    return { kind: 'tls', notSent: true, ...describeTls(tlsCode, msg, tls, host) };
  }
  if (codes.includes('ERR_ETCD_DIAL_TIMEOUT')) {
    const t = all.find((e) => e instanceof DialTimeoutError) as DialTimeoutError | undefined;
    return {
      kind: 'unreachable',
      notSent: true,
      why: `timed out after ${t?.timeoutMs ?? '?'}ms`,
      hint: 'check the address and port, that etcd is running there, and that no firewall drops the traffic',
    };
  }
  const net = codes.find((c) => NET_CODES.has(c));
  if (net !== undefined) {
    switch (net) {
      case 'ECONNREFUSED':
        return {
          kind: 'unreachable',
          notSent: true,
          why: 'connection refused',
          hint: 'check that etcd is running and listens on this address and port (systemctl status etcd; ss -ltn)',
        };
      case 'ENOTFOUND':
      case 'EAI_AGAIN':
        return { kind: 'unreachable', notSent: true, why: 'cannot resolve the host name', hint: 'check the endpoint host name or use an IP address' };
      case 'EHOSTUNREACH':
      case 'ENETUNREACH':
      case 'EHOSTDOWN':
      case 'ENETDOWN':
        return { kind: 'unreachable', notSent: true, why: 'no route to host', hint: 'check the address and the network between this host and etcd' };
      case 'ETIMEDOUT':
        return { kind: 'unreachable', notSent: true, why: 'connection timed out', hint: 'check the address and port, and that no firewall drops the traffic' };
      default:
        return {
          kind: 'unreachable',
          notSent: false,
          why: `connection lost (${net})`,
          hint: "check etcd's log on that host; a scheme or TLS mismatch can also cause this",
        };
    }
  }
  // The HTTP/2 stream was torn down without a gRPC status: the peer is not a gRPC server (e.g. http:// to a TLS port).
  for (const e of all) {
    if (e instanceof ConnectError && !e.rawMessage.startsWith('etcdserver:')) {
      const raw = e.rawMessage;
      if (/http\/2 stream closed|HTTP \d{3}|unexpected content type|protocol error|missing trailer|invalid.*frame/i.test(raw)) {
        return {
          kind: 'protocol',
          notSent: false,
          why: `the endpoint did not answer as an etcd gRPC server (${raw})`,
          hint: "check the scheme (https:// when etcd has TLS) and that the port is etcd's client port",
        };
      }
    }
  }
  return undefined;
}

function describeTls(code: string, message: string, tls: TlsNames, host: string): { why: string; hint: string } {
  if (UNKNOWN_CA_CODES.has(code)) {
    return tls.caFile
      ? {
          why: `TLS: certificate signed by unknown authority (the server certificate is not issued by the CA in ${tls.caFile})`,
          hint: `the cluster's CA must be the one at ${tls.caFile}: pass the CA that signed the etcd server certificates, or re-issue them from this CA`,
        }
      : {
          why: 'TLS: certificate signed by unknown authority',
          hint: 'pass the CA certificate that signed the etcd server certificates',
        };
  }
  switch (code) {
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return {
        why: `TLS: the server certificate is not valid for ${host || 'this address'} (${message})`,
        hint: 'the etcd server certificate must list the address you connect to in its subject alternative names: re-issue it or use a listed address',
      };
    case 'CERT_HAS_EXPIRED':
      return { why: 'TLS: the server certificate has expired', hint: 'renew the etcd server certificates' };
    case 'CERT_NOT_YET_VALID':
      return { why: 'TLS: the server certificate is not yet valid', hint: 'check the clocks of this host and of the etcd hosts' };
    case 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA':
    case 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE':
    case 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN':
    case 'ERR_SSL_TLSV1_ALERT_DECRYPT_ERROR':
      return {
        why: `TLS: etcd rejected the client certificate (${sslReason(message)})`,
        hint:
          'the client certificate must be signed by the CA that etcd trusts (its --trusted-ca-file)' +
          (tls.certFile ? `; check ${tls.certFile}` : ''),
      };
    case 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED':
      return {
        why: 'TLS: etcd requires a client certificate and none was sent',
        hint: 'pass a client certificate and key signed by the cluster CA',
      };
    case 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED':
      return { why: 'TLS: etcd rejected the client certificate as expired', hint: 'renew the client certificate' };
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
    case 'ERR_SSL_PACKET_LENGTH_TOO_LONG':
    case 'ERR_SSL_HTTP_REQUEST':
      return {
        why: `TLS: the endpoint does not speak TLS (${sslReason(message)})`,
        hint: "use http:// for an endpoint without TLS, or check etcd's --listen-client-urls",
      };
    default:
      if (code.startsWith('ERR_OSSL_') || code === 'ERR_OSSL_PEM_NO_START_LINE') {
        return {
          why: `TLS: cannot use the client TLS files (${sslReason(message)})`,
          hint: 'check that the CA, certificate and key files are PEM and that the key matches the certificate',
        };
      }
      return { why: `TLS: ${sslReason(message)}`, hint: 'check the CA, client certificate and key given to etcdadm' };
  }
}

/** A hint for a known etcd server error message. */
export function serverHint(etcdMessage: string): string | undefined {
  const m = etcdMessage;
  if (m.includes(ETCD_ERRORS.unhealthy)) {
    return 'etcd refuses membership changes until every member has been connected for a few seconds: retry shortly, or fix the member that is down';
  }
  if (m.includes(ETCD_ERRORS.learnerNotReady)) return 'the learner has not caught up with the leader yet: retry in a few seconds';
  if (m === ETCD_ERRORS.memberNotLearner || m.endsWith(ETCD_ERRORS.memberNotLearner)) return 'the member is already a voting member';
  if (m.includes(ETCD_ERRORS.tooManyLearners)) return 'etcd allows one learner at a time: promote or remove the existing learner first';
  if (m.includes(ETCD_ERRORS.memberNotFound)) return 'no member has this ID (already removed?): check `etcdctl member list`';
  if (m.includes(ETCD_ERRORS.memberExists)) return 'a member with this ID (derived from the peer URLs) is already in the cluster: check `etcdctl member list`';
  if (m.includes(ETCD_ERRORS.peerURLExists)) return 'a member with this peer URL is already in the cluster: remove it first, or reuse it';
  if (m.includes(ETCD_ERRORS.notEnoughStarted)) return 'too few members are started for this change to be safe: start the stopped members first';
  if (m.includes(ETCD_ERRORS.noLeader) || m.includes(ETCD_ERRORS.timedOut) || m.includes(ETCD_ERRORS.leaderChanged)) {
    return 'the cluster has no working leader: check that a majority of the members are running and can reach each other';
  }
  if (m.includes(ETCD_ERRORS.notSupportedForLearner)) return 'this endpoint is a learner: use the endpoint of a voting member';
  if (m.includes(ETCD_ERRORS.notLeader)) return "send this request to the leader's endpoint";
  if (m.includes(ETCD_ERRORS.badLeaderTransferee)) return 'the new leader must be a started voting member other than the current leader';
  if (m.includes(ETCD_ERRORS.permissionDenied) || m.includes(ETCD_ERRORS.invalidAuthToken)) {
    return 'etcd auth is enabled and this client may not do that';
  }
  if (m.includes(ETCD_ERRORS.noSpace)) return 'the NOSPACE alarm is active: compact and defragment, then disarm the alarm';
  return undefined;
}

/**
 * Wraps the failure of `op` on `endpoint` into an EtcdClientError (the original stays as `cause`).
 * `timeoutMs` is the request deadline, for the "did not answer within" message.
 */
export function wrapError(err: unknown, endpoint: string, op: string, tls: TlsNames = {}, timeoutMs?: number): EtcdClientError {
  if (err instanceof EtcdClientError) return err;
  const host = safeHost(endpoint);
  const t = transportFailure(err, tls, host);
  if (t) {
    return new EtcdClientError(`cannot reach etcd at ${endpoint}: ${t.why}`, { kind: t.kind, endpoint, hint: t.hint, cause: err });
  }
  const ce = causes(err).find((e) => e instanceof ConnectError) as ConnectError | undefined;
  if (ce && ce.code === Code.DeadlineExceeded) {
    return new EtcdClientError(
      `etcd at ${endpoint} did not answer ${op} within ${timeoutMs ?? '?'}ms`,
      {
        kind: 'timeout',
        endpoint,
        grpcCode: ce.code,
        hint: 'the cluster may have lost quorum or the member may be overloaded: check that a majority of members run',
        cause: err,
      },
    );
  }
  if (ce) {
    const raw = ce.rawMessage;
    return new EtcdClientError(`etcd ${op} failed at ${endpoint}: ${raw}`, {
      kind: 'server',
      endpoint,
      grpcCode: ce.code,
      etcdMessage: raw,
      hint: serverHint(raw),
      cause: err,
    });
  }
  const msg = err instanceof Error ? err.message : String(err);
  return new EtcdClientError(`etcd ${op} failed at ${endpoint}: ${msg}`, { kind: 'server', endpoint, etcdMessage: msg, cause: err });
}

/** The error for "no endpoint could be used": one line naming each endpoint and why. */
export function unreachableError(failures: { endpoint: string; error: EtcdClientError }[]): EtcdClientError {
  const first = failures[0];
  if (!first) return new EtcdClientError('no etcd endpoint given', { kind: 'unreachable', hint: 'pass at least one endpoint' });
  if (failures.length === 1) return first.error;
  const parts = failures.map((f) => `${f.endpoint} (${f.error.message.replace(`cannot reach etcd at ${f.endpoint}: `, '')})`);
  const tlsFailure = failures.find((f) => f.error.kind === 'tls');
  const chosen = tlsFailure ?? first;
  const kind: EtcdErrorKind = failures.every((f) => f.error.kind === chosen.error.kind) ? chosen.error.kind : 'unreachable';
  return new EtcdClientError(`cannot reach etcd at any of ${failures.length} endpoints: ${parts.join('; ')}`, {
    kind,
    endpoint: first.endpoint,
    grpcCode: chosen.error.grpcCode,
    etcdMessage: chosen.error.etcdMessage,
    hint: chosen.error.hint,
    cause: chosen.error,
  });
}

function safeHost(endpoint: string): string {
  try {
    return new URL(endpoint).hostname;
  } catch {
    return endpoint;
  }
}
