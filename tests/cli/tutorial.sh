#!/usr/bin/env bash
# tutorial.sh - the README's first workflow, as a user would follow it:
# the YAML in the README is examples/tutorial.yaml, the commands give what
# the README shows (validate's summary, the failed report, the dry run,
# the reload that runs report alone, reset --downstream, runs).
. "$(dirname "$0")/watch_lib.sh"
src=${VOLLEY_SRC:?}
cd "$tmp" || exit 1
# the README's YAML block is the example file (its comment lines aside)
python3 - "$src" > readme.yaml << 'PY'
import re, sys
t = open(sys.argv[1] + "/README.md").read()
print(re.search(r"```yaml\n(name: sweep\n.*?)```", t, re.S).group(1), end="")
PY
check readme_is_example "" "$(grep -v '^#' "$src/examples/tutorial.yaml" | diff - readme.yaml)"
# the same workflow, without the sleeps
sed 's/sleep 2; //' "$src/examples/tutorial.yaml" > sweep.yaml
check validate "sweep.yaml: 14 jobs, 24 dependencies, 0 files, 1 resource classes" \
  "$("$bin" validate sweep.yaml 2>&1)"
"$bin" run sweep.yaml -j 4 --quiet > run.out 2> run.err
check run_exit 1 $?
check run_says_report 1 "$(grep -c "job 'report' failed, exit 2, attempt 1" run.err)"
check logs_report "sort: cannot read: 'out/models_*.txt': No such file or directory" \
  "$("$bin" logs report --stderr 2> /dev/null)"
sed -i 's/models_/model_/' sweep.yaml
"$bin" resume --reload --dry-run > dry.out 2> /dev/null
check dry_run "would run 1 of 14 jobs:|  report	command changed|would keep 13 completed jobs as they are" \
  "$(sed -n '2,4p' dry.out | tr '\n' '|' | sed 's/|$//')"
"$bin" resume --reload --quiet > rl.out 2> rl.err
check reload_exit 0 $?
check reload_says 1 "$(grep -c "reloaded .*sweep.yaml: 1 changed, 0 new, 0 downstream of them, 0 removed" rl.err)"
check report_written "lr=0.001 seed=3 loss=1" "$(head -1 out/report.txt)"
check reset_says 1 "$("$bin" reset train_0.1_s1 --downstream 2> /dev/null | grep -c 'reset 2 jobs of .*: train_0.1_s1 report')"
"$bin" resume --quiet 2> /dev/null
check resume_exit 0 $?
check runs_finished "finished 14/14 0" "$("$bin" runs | awk 'NR == 2 {print $2, $3, $4}')"
d=$(ls -d "$tmp"/volley-runs/*)
run_dirs+=("$d")
"$bin" report > /dev/null 2>&1
check report_exit 0 $?
check report_page 1 "$(ls "$d"/report.html 2> /dev/null | wc -l)"
check report_resources 0 "$("$bin" report --resources > /dev/null 2>&1; echo $?)"
finish
