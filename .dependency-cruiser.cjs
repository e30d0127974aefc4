/**
 * The dependency rules of src/, checked by `npm test` (scripts/check-deps.sh) with dependency-cruiser:
 *
 * - The Host is the only way to touch a machine: node:fs, node:child_process and the tar package are imported only
 *   under src/host/ (LocalHost and its primitives; host/operator.ts is the one place that reads the operator's own
 *   files: --config, bundles, credentials, snapshots named on the command line).
 * - The layers of README "Architecture": cli → phases → run → concerns → host, never upwards. The concerns are
 *   cluster, release, pki, service, initsystem, etcd, snapshot, s3, backup, config and adopt; errors.ts, log/ and util/ are
 *   below everything. Within host/, only the host record (record.ts: its settings are the configuration schema's)
 *   and the dedicated-directory rules (dirs.ts: etcdadm's own paths and PKI file names) look at a concern.
 */
const CONCERNS = '^src/(cluster|release|pki|service|initsystem|etcd|snapshot|s3|backup|config|adopt)/';

module.exports = {
  forbidden: [
    {
      name: 'machine-access-outside-host',
      comment: 'node:fs, node:child_process and tar touch a machine: only src/host/ may import them (go through the Host)',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/host/' },
      to: { path: '^(node:)?(fs|fs/promises|child_process)$|(^|/)node_modules/tar/' },
    },
    {
      name: 'nothing-imports-cli',
      comment: 'cli/ is the top layer',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/cli/' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'phases-only-from-cli',
      comment: 'phases are run by the runner for a command of cli/; nothing below them imports them',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(cli|phases)/' },
      to: { path: '^src/phases/' },
    },
    {
      name: 'run-only-from-above',
      comment: 'the runner and the run context are used by phases and cli only',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(cli|phases|run)/' },
      to: { path: '^src/run/' },
    },
    {
      name: 'host-below-concerns',
      comment: 'host/ is the lowest layer above errors, log and util: it knows no concern (record.ts and dirs.ts excepted, see above)',
      severity: 'error',
      from: { path: '^src/host/', pathNot: '^src/host/(record|dirs)\\.ts$' },
      to: { path: CONCERNS, pathNot: '^src/config/(types|defaults)\\.ts$' },
    },
    {
      name: 'base-below-everything',
      comment: 'errors.ts, log/ and util/ import nothing of etcdadm but each other',
      severity: 'error',
      from: { path: '^src/(errors\\.ts|log/|util/)' },
      to: { path: '^src/', pathNot: '^src/(errors\\.ts|log/|util/|host/host\\.ts)' },
    },
    {
      name: 'no-circular',
      comment: 'import cycles hide the layering',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true, dependencyTypesNot: ['type-only'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
