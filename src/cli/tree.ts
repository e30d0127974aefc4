/**
 * The command line as data: every command, subcommand, flag (with the choices of enum flags) and argument, read
 * from the commander definitions `--help` prints. Completion scripts and man pages are generated from it, so the
 * three never disagree. Pure: a program in, plain JSON-able data out.
 */
import type { Command, Option } from '@commander-js/extra-typings';

export interface CliFlag {
  /** '-o' / '--output' as declared (either may be absent). */
  short?: string;
  long?: string;
  /** 'format' for `--output <format>`; absent for a switch. */
  value?: string;
  /** The value may be left out (`--watch [seconds]`). */
  optionalValue?: boolean;
  choices?: string[];
  description: string;
  defaultValue?: string;
}

export interface CliArgument {
  name: string;
  required: boolean;
  variadic: boolean;
  description: string;
}

export interface CliCommand {
  name: string;
  /** The first line of its description (`summary` where one is set). */
  summary: string;
  description: string;
  flags: CliFlag[];
  args: CliArgument[];
  commands: CliCommand[];
  /** Examples shown after the help text, one command line each. */
  examples: string[];
}

type AnyCommand = Command<any, any, any>;

function flagOf(o: Option): CliFlag {
  const value = /[<[]([^>\]]+)[>\]]/.exec(o.flags)?.[1];
  const f: CliFlag = { description: o.description };
  if (o.short) f.short = o.short;
  if (o.long) f.long = o.long;
  if (value) f.value = value;
  if (o.optional) f.optionalValue = true;
  if (o.argChoices?.length) f.choices = [...o.argChoices];
  if (o.defaultValue !== undefined && typeof o.defaultValue !== 'object' && o.defaultValue !== false) f.defaultValue = String(o.defaultValue);
  return f;
}

const HELP_FLAG: CliFlag = { short: '-h', long: '--help', description: 'display help for command' };

/** The text commander shows after the help: the lines under "Example:". */
function examplesOf(cmd: AnyCommand): string[] {
  let text = '';
  cmd.configureOutput({ writeOut: (s) => (text += s), writeErr: () => {} });
  try {
    cmd.outputHelp();
  } finally {
    cmd.configureOutput({});
  }
  const at = text.lastIndexOf('\nExample:\n');
  if (at < 0) return [];
  const lines: string[] = [];
  for (const line of text.slice(at + '\nExample:\n'.length).split('\n')) {
    if (!line.startsWith('  ')) break;
    lines.push(line.trim());
  }
  return lines;
}

export function describeCommand(cmd: AnyCommand): CliCommand {
  const description = cmd.description();
  return {
    name: cmd.name(),
    summary: cmd.summary() || description.split('\n')[0]!,
    description,
    flags: [...cmd.options.filter((o) => !o.hidden).map(flagOf), HELP_FLAG],
    args: cmd.registeredArguments.map((a) => ({ name: a.name(), required: a.required, variadic: a.variadic, description: a.description })),
    commands: cmd.commands.filter((c) => c.name() !== 'help').map((c) => describeCommand(c as AnyCommand)),
    examples: examplesOf(cmd),
  };
}

/** Every command path under `root` ('' for the root itself), depth first, with its node. */
export function* walkTree(root: CliCommand, path: string[] = []): Generator<[string[], CliCommand]> {
  yield [path, root];
  for (const c of root.commands) yield* walkTree(c, [...path, c.name]);
}

/** The tree without long texts (descriptions, examples): what completion needs, small enough to embed. */
export function compactTree(c: CliCommand): CliCommand {
  return {
    name: c.name,
    summary: '',
    description: '',
    flags: c.flags.map((f) => ({ ...f, description: '', defaultValue: undefined })).map((f) => JSON.parse(JSON.stringify(f)) as CliFlag),
    args: c.args.map((a) => ({ ...a, description: '' })),
    commands: c.commands.map(compactTree),
    examples: [],
  };
}
