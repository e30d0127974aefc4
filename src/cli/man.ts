/**
 * Man pages (roff, section 1) from the command tree (cli/tree.ts), the same definitions `--help` prints: one page
 * per command and subcommand — etcdadm(1), etcdadm-init(1), etcdadm-certs-renew(1) … — where a `phase` command's
 * page describes each of its phases (they are not pages of their own). Pure.
 */
import { walkTree, type CliCommand, type CliFlag } from './tree.js';

export interface ManPage {
  /** e.g. "etcdadm-init": the file is <name>.1 */
  name: string;
  text: string;
}

/** Text for roff: backslashes and hyphens escaped, no line starting with a control character. */
function esc(s: string): string {
  return s
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .split('\n')
    .map((l) => (/^[.']/.test(l) ? `\\&${l}` : l))
    .join('\n');
}

function flagLine(f: CliFlag): string {
  const names = [f.short, f.long].filter((x): x is string => !!x).map((n) => `\\fB${esc(n)}\\fR`).join(', ');
  const value = f.value ? (f.optionalValue ? ` [\\fI${esc(f.value)}\\fR]` : ` \\fI${esc(f.value)}\\fR`) : '';
  return `${names}${value}`;
}

function flagText(f: CliFlag): string {
  const extra = [f.choices ? `one of: ${f.choices.join(', ')}` : '', f.defaultValue !== undefined ? `default: ${f.defaultValue}` : ''].filter(Boolean).join('; ');
  return esc(f.description + (extra ? ` (${extra})` : ''));
}

function page(path: string[], cmd: CliCommand, root: CliCommand, meta: { version: string; date: string }): ManPage {
  const name = ['etcdadm', ...path].join('-');
  const words = ['etcdadm', ...path].join(' ');
  const args = cmd.args.map((a) => (a.required ? `<${a.name}${a.variadic ? '...' : ''}>` : `[${a.name}${a.variadic ? '...' : ''}]`)).join(' ');
  const out: string[] = [
    `.TH ${name.toUpperCase().replace(/-/g, '\\-')} 1 "${meta.date}" "etcdadm ${esc(meta.version)}" "etcdadm Manual"`,
    '.SH NAME',
    `${esc(name)} \\- ${esc(cmd.summary || root.summary)}`,
    '.SH SYNOPSIS',
    `.B ${esc(words)}`,
    esc(`[options]${cmd.commands.length ? ' [command]' : ''}${args ? ` ${args}` : ''}`),
    '.SH DESCRIPTION',
    ...cmd.description.split(/\n\n+/).flatMap((para, i) => [...(i ? ['.PP'] : []), esc(para)]),
  ];
  if (cmd.args.some((a) => a.description)) {
    out.push('.SH ARGUMENTS');
    for (const a of cmd.args) out.push('.TP', `\\fI${esc(a.name)}\\fR`, esc(a.description));
  }
  const isPhaseList = path[path.length - 1] === 'phase';
  if (cmd.commands.length) {
    out.push(isPhaseList ? '.SH PHASES' : '.SH COMMANDS', ...(isPhaseList ? ['Run in this order by the command itself; each can be run alone:'] : []));
    for (const c of cmd.commands) out.push('.TP', `\\fB${esc(c.name)}\\fR`, esc(isPhaseList ? c.description : c.summary));
  }
  out.push('.SH OPTIONS');
  for (const f of cmd.flags) out.push('.TP', flagLine(f), flagText(f));
  if (path.length) {
    out.push('.SH GLOBAL OPTIONS');
    for (const f of root.flags.filter((g) => g.long !== '--help')) out.push('.TP', flagLine(f), flagText(f));
  }
  if (cmd.examples.length) out.push('.SH EXAMPLES', '.nf', '.RS 4', ...cmd.examples.map(esc), '.RE', '.fi');
  const see = [
    ...(path.length ? [['etcdadm', ...path.slice(0, -1)].join('-')] : []),
    ...(isPhaseList ? [] : cmd.commands.map((c) => `${name}-${c.name}`)),
  ];
  if (see.length) out.push('.SH SEE ALSO', see.map((s, i) => `.BR ${esc(s)} (1)${i < see.length - 1 ? ',' : ''}`).join('\n'));
  return { name, text: `${out.join('\n')}\n` };
}

/** Every page: the commands and subcommands, not the individual phases (their `phase` page lists them). */
export function manPages(root: CliCommand, meta: { version: string; date: string }): ManPage[] {
  const pages: ManPage[] = [];
  for (const [path, cmd] of walkTree(root)) {
    if (path.length >= 2 && path[path.length - 2] === 'phase') continue;
    pages.push(page(path, cmd, root, meta));
  }
  return pages;
}
