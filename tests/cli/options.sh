#!/usr/bin/env bash
# options.sh - help that cannot drift: every option each command's getopt
# table accepts (tools/cmd_<name>.c, tools/runopts.h; short options from
# the optstring) is in its `volley CMD --help` (one line, with a default),
# in the man page (dist/volley.1, rendered by man), in the bash completion
# (dist/volley.bash, run in bash: what it offers after `volley CMD -`) and
# in the zsh completion (dist/_volley, read; `zsh -n` when zsh is there),
# and nothing more; every command is in each of them. The bash completion
# also offers a run's job names after `volley logs DIR`.
set -u
bin=${VOLLEY_BIN:?VOLLEY_BIN must name the volley binary}
src=${VOLLEY_SRC:?VOLLEY_SRC must name the source tree}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
if command -v zsh > /dev/null; then
  zsh -n "$src/dist/_volley" || { echo "FAIL: dist/_volley: zsh -n"; exit 1; }
else
  echo "note: zsh is not installed: dist/_volley is read, not parsed by zsh"
fi
# a run, for the job names
printf 'name: o\njobs:\n  - {name: alpha, command: "true"}\n  - {name: beta, command: "true"}\n' > o.yaml
"$bin" run o.yaml --run-dir orun --quiet 2> /dev/null || { echo "FAIL: the run"; exit 1; }
id=$(python3 -c 'import sqlite3; print(sqlite3.connect("file:orun/volley.db?mode=ro", uri=True).execute("select lower(hex(run_id)) from run").fetchone()[0])')
trap 'rm -f "/dev/shm/volley-$id"; rm -rf "$tmp"' EXIT

# what the bash completion offers: bash_offers WORD... (the last is the one completed)
bash_offers() {
  PATH="$(dirname "$bin"):$PATH" bash -c '
    source "$1"; shift
    COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    _volley; printf "%s\n" "${COMPREPLY[@]}"' bash "$src/dist/volley.bash" "$@" | sort -u | tr '\n' ' '
}
export -f bash_offers
export bin src

python3 - "$bin" "$src" << 'PY'
import os, re, subprocess, sys

binary, src = sys.argv[1], sys.argv[2]
fails = []

def read(p):
    with open(os.path.join(src, p)) as f:
        return f.read()

# --- the code: commands, and each one's options
main = read("tools/main.c")
table = main[main.index("cli_cmds[] = {"):main.index("SUPERVISOR_WORKER_CMD, ")]
commands = re.findall(r'\{"([a-z]+)", "', table)
runopts_h = read("tools/runopts.h")
macro = runopts_h[runopts_h.index("#define RUNOPTS_LONGOPTS"):]
macro = macro[:macro.index("int runopts_parse")].replace("\\\n", " ")

def entries(text):
    """(name, val) of the getopt_long entries in text."""
    return re.findall(r'\{\s*"([a-z][a-z-]*)",\s*\w+_argument,\s*NULL,\s*([^}\s]+)\s*\}', text)

code = {}
for cmd in commands:
    c = read("tools/cmd_%s.c" % cmd)
    opts = entries(c)
    if "RUNOPTS_LONGOPTS" in c:
        opts += entries(macro)
    names = {"--" + n for n, _ in opts}
    m = re.search(r'getopt_long\(argc, argv, "([^"]*)"', c)
    for letter in re.findall(r"[a-zA-Z]", m.group(1) if m else ""):
        longs = [n for n, v in opts if v == "'%s'" % letter]
        if not longs:
            fails.append("%s: -%s in the optstring has no long option" % (cmd, letter))
        names.add("-" + letter)
    code[cmd] = names

# --- --help: the option lines of the "options:" block
def help_opts(text):
    out = set()
    if "\noptions:" not in text:
        return out
    for line in text.split("\noptions:", 1)[1].split("\n\n", 1)[0].splitlines():
        m = re.match(r"\s+(-[^ ].*?)(?:\s{2,}|$)", line)
        if m:
            out |= set(re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", m.group(1)))
    return out

for cmd in commands:
    r = subprocess.run([binary, cmd, "--help"], capture_output=True, text=True)
    if r.returncode != 0:
        fails.append("%s --help: exit %d" % (cmd, r.returncode))
    got = help_opts(r.stdout)
    if got != code[cmd]:
        fails.append("%s --help: missing %s, not in the code %s" % (
            cmd, sorted(code[cmd] - got), sorted(got - code[cmd])))
    # one line per option, with its default, at most 100 columns
    block = r.stdout.split("\noptions:", 1)[-1].split("\n\n", 1)[0]
    for line in block.splitlines()[1:]:
        if not re.match(r"  -", line):
            fails.append("%s --help: an option takes more than one line: %s" % (cmd, line.strip()))
        elif "(default: " not in line:
            fails.append("%s --help: no default for: %s" % (cmd, line.strip()))
        if len(line) > 100:
            fails.append("%s --help: wider than 100 columns: %s" % (cmd, line.strip()))
top = subprocess.run([binary, "--help"], capture_output=True, text=True).stdout
for cmd in commands:
    if not re.search(r"^  %s\s" % cmd, top, re.M):
        fails.append("volley --help does not list %s" % cmd)

# --- the man page, rendered
man = subprocess.run(["man", "-l", os.path.join(src, "dist/volley.1")], capture_output=True,
                     text=True, env=dict(os.environ, MANWIDTH="200", MAN_KEEP_FORMATTING="")).stdout
man = re.sub(r".\x08", "", man)
sections = {}
cur = None
for line in man.splitlines():
    m = re.match(r"   volley ([a-z]+)\b", line)
    if m:
        cur = m.group(1)
        sections[cur] = set()
        continue
    if re.match(r"\S", line):
        cur = None
    m = re.match(r"       (-[^ ].*?)(?:\s{2,}|$)", line)
    if cur and m:
        sections[cur] |= set(re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", m.group(1)))
for cmd in commands:
    if cmd not in sections:
        fails.append("man page: no section for volley %s" % cmd)
    elif sections[cmd] != code[cmd]:
        fails.append("man page, volley %s: missing %s, not in the code %s" % (
            cmd, sorted(code[cmd] - sections[cmd]), sorted(sections[cmd] - code[cmd])))
for what in ("EXIT STATUS", "ENVIRONMENT", "WORKFLOW FILE", "VOLLEY_JOB_NAME", "130"):
    if what not in man:
        fails.append("man page: no %s" % what)

# --- bash: what the completion offers
def offers(*words):
    r = subprocess.run(["bash", "-c", 'bash_offers "$@"', "bash"] + list(words),
                       capture_output=True, text=True)
    return set(r.stdout.split())
cmds_offered = offers("volley", "")
for cmd in commands:
    if cmd not in cmds_offered:
        fails.append("bash completion: does not offer the command %s" % cmd)
    got = offers("volley", cmd, "-") - {"--help"}
    if got != code[cmd]:
        fails.append("bash completion, volley %s -: missing %s, not in the code %s" % (
            cmd, sorted(code[cmd] - got), sorted(got - code[cmd])))
jobs = offers("volley", "logs", "orun", "")
if jobs != {"alpha", "beta"}:
    fails.append("bash completion, volley logs DIR: offers %s, not the run's jobs" % sorted(jobs))
if offers("volley", "logs", "orun", "al") != {"alpha"}:
    fails.append("bash completion, volley logs DIR al: not alpha")
if offers("volley", "jobs", "--state", "fa") != {"failed"}:
    fails.append("bash completion, --state fa: not failed")

# --- zsh: the option specs of each command's block
z = read("dist/_volley")
zrun = set(re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)(?=[+=\[}])", z[z.index("runopts=("):z.index("local -a states")]))
zcmds = set(re.findall(r"^\s+'([a-z]+):", z, re.M))
for cmd in commands:
    if cmd not in zcmds:
        fails.append("zsh completion: does not describe the command %s" % cmd)
    m = re.search(r"^    %s\)\n(.*?)\n      ;;" % cmd, z, re.M | re.S)
    if not m:
        fails.append("zsh completion: no block for %s" % cmd)
        continue
    block = m.group(1)
    got = set(re.findall(r"['\"})](--?[a-z][a-z-]*)(?=[+=\[])", block))
    got |= set(re.findall(r"\{(--?[a-z][a-z-]*)[+=]?,", block))
    got |= set(re.findall(r",(--?[a-z][a-z-]*)[+=]?\}", block))
    if "$runopts" in block:
        got |= zrun
    if got != code[cmd]:
        fails.append("zsh completion, volley %s: missing %s, not in the code %s" % (
            cmd, sorted(code[cmd] - got), sorted(got - code[cmd])))

for f in fails:
    print("FAIL: " + f)
total = sum(len(v) for v in code.values())
print("options.sh: %d commands, %d options; %d problems" % (len(commands), total, len(fails)))
sys.exit(1 if fails else 0)
PY
