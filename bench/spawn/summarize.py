#!/usr/bin/env python3
"""summarize.py RESULTS [--quiet MAX] - medians, bests and ratios of
run_bench.sh's lines; with --quiet, repetitions whose worst line saw other
processes use more than MAX of a CPU (0.25 = a quarter) are left out.

Per repetition and K: the limit is the best spawn_probe placement; each
engine and make line is divided by the limit (and the engine by make) of
the SAME repetition; then the ratios are summarized across repetitions.
"""
import statistics
import sys
from collections import defaultdict


def parse(path):
    rows = []
    for line in open(path):
        line = line.strip()
        if not line.startswith("tag="):
            continue
        kv = dict(f.split("=", 1) for f in line.split() if "=" in f)
        rows.append(kv)
    return rows


def name(r):
    if r.get("probe"):
        return "probe %s%s" % (r["mode"], " pin%s%s" % (r["pin"], "+reset" if r["reset"] == "1" else "")
                              if r["pin"] != "-1" else "")
    if r.get("engine") == "make":
        return "make %s" % r["shape"]
    return "engine %s%s" % (r["shape"], " pin%s" % r["pin"] if r.get("pin", "-1") != "-1" else "")


def fmt(vals, f="%.2f"):
    if not vals:
        return "-"
    return (f + " (best " + f + ", n=%d)") % (statistics.median(vals), max(vals), len(vals))


def contention(rs):
    """Largest share of one CPU that other processes used during a line."""
    worst = 0.0
    for r in rs:
        if "foreign_cpu_s" in r and float(r["wall_s"]) > 0:
            worst = max(worst, float(r["foreign_cpu_s"]) / float(r["wall_s"]))
    return worst


def main():
    rows = parse(sys.argv[1])
    quiet_only = "--quiet" in sys.argv
    limit = float(sys.argv[sys.argv.index("--quiet") + 1]) if quiet_only else None
    by = defaultdict(list)  # (rep, k) -> rows
    for r in rows:
        by[(r["tag"], r["k"])].append(r)
    for key in sorted(by):
        c = contention(by[key])
        print("repetition %s K=%s: contention %.2f (others' CPU / wall, worst line)%s" % (
            key[0], key[1], c, "  EXCLUDED" if quiet_only and c > limit else ""))
    if quiet_only:
        by = {key: rs for key, rs in by.items() if contention(rs) <= limit}
    ks = sorted({k for _, k in by}, key=int)
    for k in ks:
        print("\n== K=%s" % k)
        rates = defaultdict(list)
        runner = defaultdict(list)
        ratios = defaultdict(list)
        lat = defaultdict(list)
        foreign = []
        for (rep, kk), rs in sorted(by.items()):
            if kk != k:
                continue
            probes = [r for r in rs if r.get("probe")]
            top = max(float(r["rate"]) for r in probes) if probes else None
            limit_row = max(probes, key=lambda r: float(r["rate"])) if probes else None
            # jobs free to run on every CPU: not the probe whose children stay pinned
            free = [r for r in probes if r["pin"] == "-1" or r.get("reset") == "1"]
            free_top = max(float(r["rate"]) for r in free) if free else None
            named = {}
            for r in rs:
                nm = name(r)
                named[nm] = r
                rates[nm].append(float(r["rate"]))
                if "runner_us" in r:
                    runner[nm].append(float(r["runner_us"]))
                if "foreign_cpu_s" in r:
                    foreign.append(float(r["foreign_cpu_s"]))
                if "exit_to_spawn_p99_us" in r:
                    for f in ("exit_to_spawn_p50_us", "exit_to_spawn_p99_us", "end_to_spawn_p99_us"):
                        lat[f].append(float(r[f]))
            if top:
                ratios["limit placement: " + name(limit_row)].append(1.0)
                for nm, r in named.items():
                    if nm.startswith("engine") or nm.startswith("make"):
                        ratios[nm + " / limit"].append(float(r["rate"]) / top)
                        ratios[nm + " / limit, jobs on all CPUs"].append(
                            float(r["rate"]) / free_top)
                for shape in ("flat", "rounds"):
                    mk = named.get("make " + shape)
                    for suffix in ("", " pin0"):
                        en = named.get("engine " + shape + suffix)
                        if mk and en:
                            ratios["engine %s%s / make %s" % (shape, suffix, shape)].append(
                                float(en["rate"]) / float(mk["rate"]))
                best_probe_cpu = min(float(r["runner_us"]) for r in probes)
                for nm, r in named.items():
                    if nm.startswith("engine") and "runner_us" in r:
                        ratios[nm + " runner CPU / probe's best"].append(
                            float(r["runner_us"]) / best_probe_cpu)
        print("rates (jobs/s), median (best):")
        for nm in sorted(rates):
            print("  %-28s %s" % (nm, fmt(rates[nm], "%.1f")))
        print("runner CPU per job (us), median (best = lowest is not shown; values):")
        for nm in sorted(runner):
            print("  %-28s median %.1f  min %.1f  max %.1f" % (
                nm, statistics.median(runner[nm]), min(runner[nm]), max(runner[nm])))
        print("ratios, per repetition then median (best):")
        for nm in sorted(ratios):
            if nm.startswith("limit placement"):
                print("  %-44s chosen in %d repetitions" % (nm, len(ratios[nm])))
            else:
                print("  %-44s %s" % (nm, fmt(ratios[nm], "%.3f")))
        for f in sorted(lat):
            print("  chain %-28s median %.1f  best %.1f  worst %.1f" % (
                f, statistics.median(lat[f]), min(lat[f]), max(lat[f])))
        if foreign:
            print("  contention: foreign CPU per run median %.2f s, max %.2f s" % (
                statistics.median(foreign), max(foreign)))


if __name__ == "__main__":
    main()
