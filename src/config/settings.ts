/**
 * Settings layers: the defaults, then a configuration file or the host record, then flags — each a partial document
 * validated by the one schema (document.ts), each able to name where a value came from when it is wrong (a flag, a
 * file and line, the record). `mergeSettings` lays them over the defaults; `checkMerged` runs the schema once more on
 * the result, so that a rule spanning layers (a file's extraArgs and a flag's --version) is enforced the same way.
 */
import * as v from 'valibot';
import { EtcdadmError } from '../errors.js';
import {
  CONFIG_API_VERSION,
  DEFAULT_DOCUMENT_VALUES,
  configDocumentSchema,
  describeValue,
  formatPath,
  type DocumentPath,
  type SchemaOptions,
} from './document.js';
import type { Settings } from './types.js';

export type PartialSettings = { [S in keyof Settings]?: { -readonly [F in keyof Settings[S]]?: Settings[S][F] } };

export interface SettingsLayer {
  /** "flags", a file path, the record's path: for messages. */
  readonly name: string;
  readonly values: PartialSettings;
  /** The one-line error for a problem with the value at `path` of this layer. */
  problem(path: DocumentPath, message: string): EtcdadmError;
}

export interface SchemaProblem {
  path: DocumentPath;
  message: string;
  /** The problem is the key itself (unknown or forbidden), not its value. */
  atKey: boolean;
}

/** `values` through the schema: its output (normalized: versions without "v", paths without trailing "/") and problems. */
export function parseSettings(values: PartialSettings, options: SchemaOptions = {}): { output: PartialSettings; problems: SchemaProblem[] } {
  const doc = { apiVersion: CONFIG_API_VERSION, kind: 'JoinConfiguration', ...stripUndefined(values) };
  const r = v.safeParse(configDocumentSchema(options), doc, { abortEarly: false });
  if (r.success) {
    const { apiVersion: _a, kind: _k, ...output } = r.output;
    return { output: output as PartialSettings, problems: [] };
  }
  return {
    output: values,
    problems: r.issues.map((issue) => {
      const items = issue.path ?? [];
      return {
        path: items.map((it) => it.key as string | number),
        message: issue.message,
        atKey: items.length > 0 && items[items.length - 1]!.origin === 'key',
      };
    }),
  };
}

/** What the schema finds wrong with `values` (a partial or complete settings document), in document order. */
export function schemaProblems(values: PartialSettings, options: SchemaOptions = {}): SchemaProblem[] {
  return parseSettings(values, options).problems;
}

/** The values of a layer without unset (undefined) fields and empty sections. */
export function stripUndefined(values: PartialSettings): PartialSettings {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [section, fields] of Object.entries(values)) {
    if (typeof fields !== 'object' || fields === null) continue;
    const kept = Object.fromEntries(Object.entries(fields as Record<string, unknown>).filter(([, x]) => x !== undefined));
    if (Object.keys(kept).length > 0) out[section] = kept;
  }
  return out as PartialSettings;
}

/** The value a layer sets at `path` (section.field[...]), undefined when it does not set it. */
export function valueAt(values: PartialSettings, path: DocumentPath): unknown {
  let cur: unknown = values;
  for (const k of path) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<string | number, unknown>)[k];
  }
  return cur;
}

/**
 * A layer of values that a caller names key by key (flags): validated at once by the schema, the first problem
 * reported as `invalid <name> "<value>": <reason>` (exit code 2).
 */
export function namedLayer(name: string, values: PartialSettings, nameOf: (path: DocumentPath) => string, options: SchemaOptions = {}): SettingsLayer {
  const given = stripUndefined(values);
  const layer: SettingsLayer = {
    name,
    values: given,
    problem(path, message) {
      const field = path.slice(0, 2);
      const value = valueAt(given, field);
      return new EtcdadmError(`invalid ${nameOf(field)} ${describeValue(Array.isArray(value) ? value.join(',') : value)}: ${message}`, {
        hint: `run 'etcdadm <command> --help' for the accepted values`,
        exitCode: 2,
      });
    },
  };
  const { output, problems } = parseSettings(given, options);
  if (problems[0]) throw layer.problem(problems[0].path, problems[0].message);
  return { ...layer, values: stripUndefined(output) };
}

/** The defaults with each layer's set fields laid over them, later layers winning; a deep, unfrozen copy. */
export function mergeSettings(layers: readonly SettingsLayer[]): Settings {
  const out = structuredClone(DEFAULT_DOCUMENT_VALUES) as unknown as Record<string, Record<string, unknown>>;
  for (const layer of layers) {
    for (const [section, fields] of Object.entries(layer.values)) {
      for (const [k, x] of Object.entries(fields as Record<string, unknown>)) if (x !== undefined) out[section]![k] = structuredClone(x);
    }
  }
  return out as unknown as Settings;
}

/**
 * The schema run on the merged settings (cross-field rules across layers); the first problem is reported by the
 * layer with the highest precedence that sets the field, or as a problem of the defaults.
 */
export function checkMerged(settings: Settings, layers: readonly SettingsLayer[], options: SchemaOptions = {}): void {
  const first = schemaProblems(settings as PartialSettings, options)[0];
  if (!first) return;
  const field = first.path.slice(0, 2);
  const owner = [...layers].reverse().find((l) => valueAt(l.values, field) !== undefined);
  if (owner) throw owner.problem(first.path, first.message);
  throw new EtcdadmError(`${formatPath(first.path)}: ${first.message}`, { hint: 'set the field in --config', exitCode: 2 });
}
