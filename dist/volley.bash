# bash completion for volley (installed by `make install` as
# share/bash-completion/completions/volley). Written by hand from the
# options the code accepts; tests/cli/options.sh checks it against them.

# The options of one command, one string.
_volley_opts() {
    local runopts="-j --jobs --workers --cpus --memory --gpus --checkpoint-interval --kill-grace --quiet --progress --halt-on-failure --max-failures --max-pids --bind-cpus --no-limits --limits-backend --deadline"
    case $1 in
    validate) echo "--json" ;;
    graph) echo "--format" ;;
    run) echo "--run-dir --resume $runopts" ;;
    resume) echo "--retry-failed --from-snapshot --reload --dry-run $runopts" ;;
    runs) echo "--json" ;;
    status) echo "--json" ;;
    jobs) echo "--state --name --json" ;;
    logs) echo "--stderr --recovery --notes --attempt -f --follow --action" ;;
    cancel) echo "" ;;
    reset) echo "--downstream --name --failed" ;;
    events) echo "-f --follow" ;;
    report) echo "-o --output --open --resources --json" ;;
    bench) echo "--mode --shape --jobs --workers --reps --runners --fanout --seed --limits --json --csv --plot --quick --full --order" ;;
    esac
}

# True if option $2 of command $1 takes a value.
_volley_takes_value() {
    case $2 in
    --format | --run-dir | -j | --workers | --cpus | --memory | --gpus | --checkpoint-interval | \
        --kill-grace | --state | --name | --attempt | --mode | --shape | --reps | --runners | \
        --fanout | --seed | --csv | --plot | --max-failures | --max-pids | --limits-backend | \
        --limits | --deadline | -o | --output) return 0 ;;
    --jobs) return 0 ;; # run and resume: -j; bench: jobs per cell
    esac
    return 1
}

# Job names of the run in directory $1 (the latest run if empty), when
# that is cheap: at most 2 s, else none.
_volley_job_names() {
    local dir=$1
    if [ -n "$dir" ]; then
        timeout 2 volley jobs "$dir" 2> /dev/null | cut -f1
    else
        timeout 2 volley jobs 2> /dev/null | cut -f1
    fi
}

_volley() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
    local cmds="validate graph run resume runs status jobs logs cancel reset events report bench help"
    COMPREPLY=()
    if [ "$COMP_CWORD" -eq 1 ]; then
        COMPREPLY=($(compgen -W "$cmds --help --version" -- "$cur"))
        return
    fi
    local cmd=${COMP_WORDS[1]}
    if [ "$cmd" = help ]; then
        COMPREPLY=($(compgen -W "$cmds" -- "$cur"))
        return
    fi
    # an option's value
    case $prev in
    --format) COMPREPLY=($(compgen -W "dot json" -- "$cur")); return ;;
    --state) COMPREPLY=($(compgen -W "blocked ready running completed failed terminated canceled" -- "$cur")); return ;;
    --mode) COMPREPLY=($(compgen -W "noexec process" -- "$cur")); return ;;
    --shape) COMPREPLY=($(compgen -W "flat barrier chain tree random" -- "$cur")); return ;;
    --runners) COMPREPLY=($(compgen -W "volley limit make ninja" -- "$cur")); return ;;
    --limits-backend) COMPREPLY=($(compgen -W "auto cgroup2 cgroup1 none" -- "$cur")); return ;;
    --limits) COMPREPLY=($(compgen -W "none track on" -- "$cur")); return ;;
    --run-dir | --csv | --plot | -o | --output) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    esac
    if _volley_takes_value "$cmd" "$prev"; then
        return # a number, a size, a pattern: nothing to offer
    fi
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$(_volley_opts "$cmd") --help" -- "$cur"))
        return
    fi
    # the arguments before this one that are not options nor their values
    local args=() i w
    for ((i = 2; i < COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        if [[ $w == -* ]]; then
            _volley_takes_value "$cmd" "$w" && [[ $w != *=* ]] && ((i++))
            continue
        fi
        args+=("$w")
    done
    case $cmd in
    validate | graph | run)
        [ ${#args[@]} -eq 0 ] &&
            COMPREPLY=($(compgen -f -X '!*.@(yaml|yml|json|json5)' -- "$cur") $(compgen -d -- "$cur"))
        ;;
    runs | status | jobs | events | resume | report)
        [ ${#args[@]} -eq 0 ] && COMPREPLY=($(compgen -d -- "$cur"))
        ;;
    logs | cancel | reset)
        # DIR JOB...: after a run directory, its jobs; first, a run
        # directory or a job of the latest run
        if [ ${#args[@]} -ge 1 ] && [ -f "${args[0]}/volley.db" ]; then
            [ "$cmd" = logs ] && [ ${#args[@]} -ge 2 ] && return
            COMPREPLY=($(compgen -W "$(_volley_job_names "${args[0]}")" -- "$cur"))
        elif [ ${#args[@]} -eq 0 ]; then
            COMPREPLY=($(compgen -d -- "$cur") $(compgen -W "$(_volley_job_names "")" -- "$cur"))
        elif [ "$cmd" != logs ]; then
            COMPREPLY=($(compgen -W "$(_volley_job_names "")" -- "$cur"))
        fi
        ;;
    esac
}
complete -F _volley volley
