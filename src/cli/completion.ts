/**
 * Shell completion scripts for bash, zsh and fish, generated from the command tree (cli/tree.ts). Each script
 * carries the same four tables, keyed by command path ("etcdadm", "etcdadm init", "etcdadm init phase"):
 * subcommands, flags, the flags that take a value, and the choices of enum flags. One small function per shell
 * walks the words typed so far through those tables: after `etcdadm init phase ` it offers the phase names, after
 * `--output ` the output formats, after `-` the flags of the command (and the global ones). Pure.
 */
import { EtcdadmError } from '../errors.js';
import { walkTree, type CliCommand, type CliFlag } from './tree.js';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

interface Tables {
  subs: Map<string, string[]>;
  flags: Map<string, string[]>;
  vals: Map<string, string[]>;
  choices: Map<string, string[]>;
}

const TOKEN = /^[A-Za-z0-9._:/@+-]+$/;

/** Every word a script carries is a plain token: nothing to quote for any shell, nothing a shell could run. */
function token(word: string): string {
  if (!TOKEN.test(word)) throw new EtcdadmError(`completion: "${word}" is not a plain word`, { exitCode: 1 });
  return word;
}

const names = (f: CliFlag) => [f.short, f.long].filter((x): x is string => !!x).map(token);

export function completionTables(root: CliCommand): Tables {
  const t: Tables = { subs: new Map(), flags: new Map(), vals: new Map(), choices: new Map() };
  for (const [path, cmd] of walkTree(root)) {
    const key = ['etcdadm', ...path].join(' ');
    t.subs.set(key, cmd.commands.map((c) => token(c.name)));
    t.flags.set(key, cmd.flags.flatMap(names));
    t.vals.set(key, cmd.flags.filter((f) => f.value && !f.optionalValue).flatMap(names));
    for (const f of cmd.flags) if (f.choices) for (const n of names(f)) t.choices.set(`${key}|${n}`, f.choices.map(token));
  }
  return t;
}

function entries(m: Map<string, string[]>): [string, string][] {
  return [...m].filter(([, v]) => v.length > 0).map(([k, v]) => [k, v.join(' ')]);
}

function bash(t: Tables): string {
  const table = (name: string, m: Map<string, string[]>) => `_etcdadm_${name}=(\n${entries(m).map(([k, v]) => `  ['${k}']='${v}'`).join('\n')}\n)`;
  return `# bash completion for etcdadm (etcdadm completion bash)
# source <(etcdadm completion bash)   or   etcdadm completion bash > /etc/bash_completion.d/etcdadm
declare -gA _etcdadm_subs _etcdadm_flags _etcdadm_vals _etcdadm_choices
${table('subs', t.subs)}
${table('flags', t.flags)}
${table('vals', t.vals)}
${table('choices', t.choices)}

_etcdadm() {
  local cur=\${COMP_WORDS[COMP_CWORD]} p=etcdadm w i want=
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=\${COMP_WORDS[i]}
    if [[ $w == -* ]]; then
      if [[ " \${_etcdadm_vals[$p]} \${_etcdadm_vals[etcdadm]} " == *" $w "* ]]; then
        if ((i + 1 == COMP_CWORD)); then want=$w; fi
        ((i++))
      fi
    elif [[ " \${_etcdadm_subs[$p]} " == *" $w "* ]]; then
      p="$p $w"
    fi
  done
  if [[ -n $want ]]; then
    local c=\${_etcdadm_choices["$p|$want"]:-\${_etcdadm_choices["etcdadm|$want"]}}
    if [[ -n $c ]]; then COMPREPLY=($(compgen -W "$c" -- "$cur")); else COMPREPLY=($(compgen -f -- "$cur")); fi
  elif [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "\${_etcdadm_flags[$p]} \${_etcdadm_flags[etcdadm]}" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "\${_etcdadm_subs[$p]}" -- "$cur"))
  fi
}
complete -F _etcdadm etcdadm
`;
}

function zsh(t: Tables): string {
  const table = (name: string, m: Map<string, string[]>) => `_etcdadm_${name}=(\n${entries(m).map(([k, v]) => `  '${k}' '${v}'`).join('\n')}\n)`;
  return `#compdef etcdadm
# zsh completion for etcdadm (etcdadm completion zsh)
# source <(etcdadm completion zsh)   or   etcdadm completion zsh > "\${fpath[1]}/_etcdadm"
typeset -gA _etcdadm_subs _etcdadm_flags _etcdadm_vals _etcdadm_choices
${table('subs', t.subs)}
${table('flags', t.flags)}
${table('vals', t.vals)}
${table('choices', t.choices)}

_etcdadm() {
  local p=etcdadm w i want= cur=\${words[CURRENT]}
  for ((i = 2; i < CURRENT; i++)); do
    w=\${words[i]}
    if [[ $w == -* ]]; then
      if [[ " \${_etcdadm_vals[$p]} \${_etcdadm_vals[etcdadm]} " == *" $w "* ]]; then
        if ((i + 1 == CURRENT)); then want=$w; fi
        ((i++))
      fi
    elif [[ " \${_etcdadm_subs[$p]} " == *" $w "* ]]; then
      p="$p $w"
    fi
  done
  if [[ -n $want ]]; then
    local c=\${_etcdadm_choices[$p|$want]:-\${_etcdadm_choices[etcdadm|$want]}}
    if [[ -n $c ]]; then compadd -- \${=c}; else _files; fi
  elif [[ $cur == -* ]]; then
    compadd -- \${=_etcdadm_flags[$p]} \${=_etcdadm_flags[etcdadm]}
  else
    compadd -- \${=_etcdadm_subs[$p]}
  fi
}

if [[ \${funcstack[1]} == _etcdadm ]]; then _etcdadm "$@"; else compdef _etcdadm etcdadm; fi
`;
}

function fish(t: Tables): string {
  const fn = (name: string, m: Map<string, string[]>) =>
    `function __etcdadm_${name}\n    switch $argv[1]\n${entries(m).map(([k, v]) => `        case '${k}'\n            string split ' ' -- '${v}'`).join('\n')}\n    end\nend`;
  return `# fish completion for etcdadm (etcdadm completion fish)
# etcdadm completion fish | source   or   etcdadm completion fish > ~/.config/fish/completions/etcdadm.fish
${fn('subs', t.subs)}
${fn('flags', t.flags)}
${fn('vals', t.vals)}
${fn('choices', t.choices)}

function __etcdadm_complete
    set -l tokens (commandline -opc)
    set -l cur (commandline -ct)
    set -l p etcdadm
    set -l want
    set -l skip 0
    for w in $tokens[2..-1]
        if test $skip = 1
            set skip 0
            set want
            continue
        end
        if string match -q -- '-*' $w
            if contains -- $w (__etcdadm_vals $p) (__etcdadm_vals etcdadm)
                set skip 1
                set want $w
            end
        else if contains -- $w (__etcdadm_subs $p)
            set p "$p $w"
        end
    end
    if test $skip = 1
        set -l c (__etcdadm_choices "$p|$want")
        test -n "$c"; or set c (__etcdadm_choices "etcdadm|$want")
        if test -n "$c"
            printf '%s\\n' $c
        else
            __fish_complete_path $cur
        end
    else if string match -q -- '-*' $cur
        __etcdadm_flags $p
        __etcdadm_flags etcdadm
    else
        __etcdadm_subs $p
    end
end

complete -c etcdadm -f -a '(__etcdadm_complete)'
`;
}

export function completionScript(shell: Shell, root: CliCommand): string {
  const t = completionTables(root);
  return shell === 'bash' ? bash(t) : shell === 'zsh' ? zsh(t) : fish(t);
}
