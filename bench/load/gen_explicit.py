#!/usr/bin/env python3
"""gen_explicit.py N FILE - writes a workflow that lists N jobs explicitly
(no parameters): job_i depends on job_{i-1} for odd i. The shape of a file
another tool generated. Used to measure what reading YAML costs per job
when the file itself is large (the event API vs a document tree)."""
import sys


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    n = int(sys.argv[1])
    with open(sys.argv[2], "w") as f:
        f.write(f"name: explicit_{n}\njobs:\n")
        for i in range(n):
            f.write(f"  - name: job_{i}\n    command: echo {i}\n")
            if i % 2:
                f.write(f"    depends_on: [job_{i - 1}]\n")


if __name__ == "__main__":
    main()
