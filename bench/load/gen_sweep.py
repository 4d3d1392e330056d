#!/usr/bin/env python3
"""gen_sweep.py N DIR - writes DIR/sweep.yaml (a volley workflow of N jobs)
and DIR/build.ninja (the same DAG for ninja), for the load benchmark.

The workflow is the shape torc users write for sweeps: a parameterized
stage (prep_i), a second stage depending per instance (train_i on prep_i),
and a regex barrier (report waits for every train_i):
  jobs  = N (N/2 prep, N/2 - 1 train, 1 report)
  edges = 2 * (N/2 - 1)
The YAML is a few lines whatever N is; the build.ninja spells every edge
out, since ninja has no parameters (that is the comparison: what each tool
must read and resolve to know the same DAG).
"""
import os
import sys


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    n = int(sys.argv[1])
    out = sys.argv[2]
    os.makedirs(out, exist_ok=True)
    half = n // 2
    ntrain = n - half - 1
    width = len(str(half))
    with open(os.path.join(out, "sweep.yaml"), "w") as f:
        f.write(f"""name: sweep_{n}
description: load benchmark, {n} jobs
jobs:
  - name: "prep_{{i:0{width}d}}"
    command: "echo prep {{i}} > /dev/null"
    parameters: {{i: "0:{half - 1}"}}
  - name: "train_{{i:0{width}d}}"
    command: "echo train {{i}} > /dev/null"
    parameters: {{i: "0:{ntrain - 1}"}}
    depends_on: ["prep_{{i:0{width}d}}"]
  - name: report
    command: "echo report"
    depends_on_regexes: ["^train_\\\\d+$"]
""")
    with open(os.path.join(out, "build.ninja"), "w") as f:
        w = f.write
        w("rule r\n  command = $cmd\n")
        for i in range(half):
            w(f"build prep_{i:0{width}d}: r\n  cmd = echo prep {i} > /dev/null\n")
        for i in range(ntrain):
            w(f"build train_{i:0{width}d}: r prep_{i:0{width}d}\n"
              f"  cmd = echo train {i} > /dev/null\n")
        w("build report: r")
        for i in range(ntrain):
            w(f" train_{i:0{width}d}")
        w("\n  cmd = echo report\n")


if __name__ == "__main__":
    main()
