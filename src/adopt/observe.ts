/**
 * What is on a host without a record, for legacy.ts to judge: the files etcdadm v0.1.x writes (read through the
 * Host, nothing written), the keys' algorithms, `etcd --version`, and the running member over the etcdctl client
 * certificate (a short, bounded ask: a member that is down leaves `member` unset).
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { parse } from 'yaml';
import { EtcdClient } from '../etcd/client.js';
import type { Host } from '../host/host.js';
import { LEGACY_PATHS, parseLegacyEnv, versionIn, type KeyFacts, type LegacyObservation } from './legacy.js';

const ASK_MS = 2000;

function keyFacts(pem: string | undefined): KeyFacts | undefined {
  if (!pem) return undefined;
  try {
    const k = createPrivateKey(pem);
    const d = k.asymmetricKeyDetails ?? {};
    return { type: k.asymmetricKeyType ?? 'unknown', ...(d.modulusLength ? { bits: d.modulusLength } : {}), ...(d.namedCurve ? { curve: d.namedCurve } : {}) };
  } catch {
    return { type: 'unreadable' };
  }
}

/** The static Pod of v0.1.x's kubelet mode: its etcd container's command, env and image, and the hostPath volumes. */
function podOf(path: string, text: string): LegacyObservation['pod'] {
  try {
    const doc = parse(text) as { spec?: { containers?: { image?: string; command?: string[]; env?: { name: string; value?: string }[] }[]; volumes?: { hostPath?: { path?: string } }[] } };
    const c = doc.spec?.containers?.[0];
    return {
      path,
      image: c?.image ?? '',
      command: c?.command ?? [],
      env: Object.fromEntries((c?.env ?? []).map((e) => [e.name, e.value ?? ''])),
      hostPaths: (doc.spec?.volumes ?? []).map((v) => v.hostPath?.path ?? '').filter(Boolean),
    };
  } catch {
    return { path, image: '', command: [], env: {}, hostPaths: [] };
  }
}

/** Read what a v0.1.x host has. `versionFlag`: --etcd-version, for when nothing here tells the version. */
export async function observeLegacy(host: Host, opts: { versionFlag?: string } = {}): Promise<LegacyObservation> {
  const [envFile, unit, manifest, etcdctlEnv] = await Promise.all([
    host.read(LEGACY_PATHS.envFile),
    host.read(LEGACY_PATHS.unitFile),
    host.read(LEGACY_PATHS.podManifestFile),
    host.read(LEGACY_PATHS.etcdctlEnvFile),
  ]);
  const pod = manifest !== undefined ? podOf(LEGACY_PATHS.podManifestFile, manifest) : undefined;
  const env = pod ? pod.env : parseLegacyEnv(envFile ?? '');
  const exec = /^ExecStart=(\S+)\/etcd\s*$/m.exec(unit ?? '');
  const installDir = exec?.[1];
  const certsDir = env.ETCD_CERT_FILE?.replace(/\/[^/]*$/, '');

  const certs: LegacyObservation['certs'] = {};
  let caPem: string | undefined;
  if (certsDir) {
    await Promise.all(
      ['ca', 'server', 'peer', 'etcdctl-etcd-client'].map(async (n) => {
        const [crt, key] = await Promise.all([host.read(`${certsDir}/${n}.crt`), host.read(`${certsDir}/${n}.key`)]);
        if (n === 'ca') caPem = crt;
        const k = keyFacts(key);
        certs[n] = { cert: crt !== undefined, ...(k ? { key: k } : {}) };
      }),
    );
  }
  const [wrapper, binaryVersion, member] = await Promise.all([
    installDir ? host.read(`${installDir}/etcdctl.sh`) : undefined,
    installDir ? etcdVersion(host, `${installDir}/etcd`) : undefined,
    certsDir && caPem ? askMember(host, certsDir, caPem, env) : undefined,
  ]);
  let caFingerprint: string | undefined;
  try {
    caFingerprint = caPem ? new X509Certificate(caPem).fingerprint256 : undefined;
  } catch {
    caFingerprint = undefined;
  }
  return {
    ...(envFile !== undefined ? { envFile } : {}),
    ...(unit !== undefined ? { unit } : {}),
    ...(pod ? { pod } : {}),
    ...(etcdctlEnv !== undefined ? { etcdctlEnv } : {}),
    ...(wrapper !== undefined ? { wrapper } : {}),
    certs,
    ...(binaryVersion ? { binaryVersion } : {}),
    ...(member ? { member } : {}),
    ...(caFingerprint ? { caFingerprint } : {}),
    ...(opts.versionFlag ? { versionFlag: opts.versionFlag } : {}),
  };
}

async function etcdVersion(host: Host, binary: string): Promise<string | undefined> {
  if (!(await host.exists(binary))) return undefined;
  const r = await host.exec(binary, ['--version'], { timeoutMs: 5000 }).catch(() => undefined);
  return r && r.code === 0 ? versionIn(r.stdout) : undefined;
}

/** The member this host runs, asked at its loopback client URL (else its advertised one) with the etcdctl certificate. */
async function askMember(host: Host, certsDir: string, ca: string, env: Record<string, string>): Promise<LegacyObservation['member']> {
  const [cert, key] = await Promise.all([host.read(`${certsDir}/etcdctl-etcd-client.crt`), host.read(`${certsDir}/etcdctl-etcd-client.key`)]);
  if (!cert || !key) return undefined;
  const urls = (env.ETCD_LISTEN_CLIENT_URLS ?? '').split(',').filter(Boolean);
  const local = urls.find((u) => /\/\/(127\.0\.0\.1|localhost|\[::1\])[:/]/.test(u)) ?? (env.ETCD_ADVERTISE_CLIENT_URLS ?? '').split(',')[0];
  if (!local) return undefined;
  let client: EtcdClient | undefined;
  try {
    client = EtcdClient.create({ endpoints: [local], tls: { ca, cert, key, caFile: `${certsDir}/ca.crt`, certFile: `${certsDir}/etcdctl-etcd-client.crt` }, dialTimeoutMs: ASK_MS, requestTimeoutMs: ASK_MS });
    const [st, list] = await Promise.all([client.status(), client.memberList(false)]);
    const me = list.members.find((m) => m.id === st.memberId);
    return {
      id: st.memberIdHex,
      clusterId: list.clusterIdHex,
      version: st.version,
      clientURLs: me?.clientURLs ?? [],
      clusterEndpoints: list.members.flatMap((m) => m.clientURLs.slice(0, 1)),
    };
  } catch {
    return undefined;
  } finally {
    client?.close();
  }
}
