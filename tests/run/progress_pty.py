#!/usr/bin/env python3
"""progress_pty.py - the live progress line of `volley run` on a pseudo-
terminal of 60, 80 and 200 columns (tools/runstatus.c; docs/running.md).

For each width a run of short jobs, three of which fail, is started on a
pty of that size; its output is replayed on a small terminal model (\\r,
\\n, ESC[K, wrapping at the last column) and the test asserts:
  - every redraw of the progress line fits in width - 1 columns;
  - it shows the percent and the elapsed time;
  - the screen at the end holds exactly one progress line (the last), and
    no other row is a piece of one (a wrapped line leaves such a stale row
    at every redraw);
  - each failure is announced above the line, with its stderr;
  - 'waiting for capacity' never shows when only -j holds jobs back, and
    shows when jobs wait for memory (--memory smaller than two jobs).
Every process it starts is ended by pid, also when a check fails.
The jobs wait for a file (the gate) that the test creates once it has
seen on the terminal what it checks for (two redraws; 'waiting for
capacity'), so no check depends on how many ticks fit in the run's time.
"""
import fcntl
import os
import pty
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time

VOLLEY = os.environ.get("VOLLEY_BIN")
if not VOLLEY:
    sys.exit("VOLLEY_BIN must name the volley binary")

FAILS = []


def check(name, cond, detail=""):
    if cond:
        print("ok:", name)
    else:
        print("FAIL:", name, detail)
        FAILS.append(name)


def run_on_pty(args, cwd, cols, rows=50, gate=None, ready=None):
    """Runs args on a pty of cols x rows; returns (exit code, raw bytes).
    gate: a file made once ready(output so far) holds, or after 60 s (a
    hang: the check of what ready looks for then fails)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    env = dict(os.environ)
    env.pop("COLUMNS", None)  # the width must come from the terminal
    env["TERM"] = "xterm"
    p = subprocess.Popen(args, cwd=cwd, stdin=slave, stdout=slave, stderr=slave, env=env,
                         start_new_session=True)
    os.close(slave)
    out = bytearray()
    deadline = time.monotonic() + 60
    try:
        while True:
            if gate and not os.path.exists(gate) and (
                    ready(out.decode("utf-8", "replace")) or time.monotonic() > deadline):
                open(gate, "w").close()
            r, _, _ = select.select([master], [], [], 120)
            if not r:
                break  # nothing for 2 minutes: the finally below ends it
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break  # EIO: every writer of the pty is gone
            if not chunk:
                break
            out += chunk
        rc = p.wait(timeout=60)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        os.close(master)
    return rc, out.decode("utf-8", "replace")


def screen_of(text, cols):
    """The rows left on a terminal of cols columns after text: \\r, \\n,
    ESC[K, and wrapping when a character is written past the last column
    (the pending-wrap rule of xterm)."""
    rows = [[]]
    row, col = 0, 0
    pending = False
    i = 0
    while i < len(text):
        ch = text[i]
        if text.startswith("\x1b[K", i):
            del rows[row][col:]
            i += 3
            continue
        if ch == "\r":
            col, pending = 0, False
        elif ch == "\n":
            row += 1
            pending = False
            if row == len(rows):
                rows.append([])
        else:
            if pending:
                row += 1
                col, pending = 0, False
                if row == len(rows):
                    rows.append([])
            line = rows[row]
            while len(line) < col:
                line.append(" ")
            if col < len(line):
                line[col] = ch
            else:
                line.append(ch)
            col += 1
            if col == cols:
                col, pending = cols - 1, True
        i += 1
    return ["".join(r).rstrip() for r in rows]


PROGRESS = re.compile(r"^\[ *\d+%\] \d+/\d+ done")
DONE = re.compile(r"\d+/\d+ done")


def draws_of(out):
    """The redraws of the progress line in out."""
    draws = [d.replace("\x1b[K", "") for d in re.split(r"[\r\n]", out)]
    return [d for d in draws if DONE.search(d) and not d.startswith("volley:")]


def one_width(tmp, cols):
    wf = os.path.join(tmp, "wf%d.yaml" % cols)
    gate = os.path.join(tmp, "go%d" % cols)  # the jobs run in tmp
    with open(wf, "w") as f:
        f.write("""name: pty
jobs:
  - name: "short_{i:02d}"
    command: "while [ ! -e go%d ]; do sleep 0.02; done; sleep 0.08"
    parameters: {i: "1:24"}
  - name: "bad_with_a_rather_long_name_to_see_wrapping_{k}"
    command: "echo this went wrong {k} >&2; exit {k}"
    parameters: {k: "1:3"}
""" % cols)
    rundir = os.path.join(tmp, "run%d" % cols)
    rc, out = run_on_pty([VOLLEY, "run", wf, "--run-dir", rundir, "-j", "2", "--progress"],
                         tmp, cols, gate=gate, ready=lambda o: len(draws_of(o)) >= 2)
    check("%d: exit 1 (a job failed), got %d" % (cols, rc), rc == 1, out[-500:])
    # each redraw: a piece between \r and \n that says "N/M done"
    draws = draws_of(out)
    check("%d: the line was drawn (%d times)" % (cols, len(draws)), len(draws) >= 2, out[-500:])
    too_long = [d for d in draws if len(d) > cols - 1]
    check("%d: every redraw fits in %d columns" % (cols, cols - 1), not too_long, too_long[:3])
    check("%d: percent and elapsed" % cols,
          all(PROGRESS.match(d) and "elapsed" in d for d in draws), draws[:3])
    check("%d: no 'waiting for capacity' (only -j holds jobs back)" % cols,
          "waiting for capacity" not in out)
    rows = screen_of(out, cols)
    prog = [r for r in rows if DONE.search(r) and not r.startswith("volley:")]
    check("%d: one progress line left on the screen" % cols, len(prog) == 1, prog)
    check("%d: ... the last one, at 100%%" % cols, prog and prog[0].startswith("[100%] 27/27"),
          prog)
    # nothing left of a redrawn line: only the progress line says "elapsed"
    # or "%]" (a wrapped one leaves its tail, or its head, on a row)
    stale = [r for r in rows if r not in prog and ("elapsed" in r or "%]" in r or "ETA" in r)]
    check("%d: no stale piece of a progress line" % cols, not stale, stale)
    for k in (1, 2, 3):
        name = "bad_with_a_rather_long_name_to_see_wrapping_%d" % k
        check("%d: failure %d announced with its stderr" % (cols, k),
              ("volley: job '%s' failed, exit %d, attempt 1" % (name, k)) in out and
              ("  | this went wrong %d" % k) in out)
    # announced once each, as it ended (not again in the summary)
    check("%d: each announced once" % cols,
          out.count("this went wrong 1") == 1, out.count("this went wrong 1"))


def capacity(tmp):
    wf = os.path.join(tmp, "mem.yaml")
    with open(wf, "w") as f:
        f.write("""name: mem
resource_requirements:
  - {name: big, num_cpus: 1, memory: 60m}
jobs:
  - name: "m_{i}"
    command: "while [ ! -e gomem ]; do sleep 0.02; done; sleep 0.05"
    parameters: {i: "1:6"}
    resource_requirements: big
""")
    for cols in (200, 60):
        rundir = os.path.join(tmp, "mem%d" % cols)
        gate = os.path.join(tmp, "gomem")
        if os.path.exists(gate):
            os.unlink(gate)
        # the jobs go on once the line said some wait (the 200-column one
        # has room for it; the 60-column one once a redraw came)
        want = (lambda o: re.search(r"\d+ waiting for capacity", o)) if cols == 200 else (
            lambda o: len(draws_of(o)) >= 2)
        rc, out = run_on_pty([VOLLEY, "run", wf, "--run-dir", rundir, "-j", "4", "--memory",
                              "100m", "--progress"], tmp, cols, gate=gate, ready=want)
        check("memory %d: exit 0, got %d" % (cols, rc), rc == 0, out[-500:])
        draws = draws_of(out)
        check("memory %d: never more than one running" % cols,
              all(" 2 running" not in d for d in draws), draws[:5])
        check("memory %d: every redraw fits" % cols, all(len(d) < cols for d in draws),
              [d for d in draws if len(d) >= cols][:3])
        rows = screen_of(out, cols)
        prog = [r for r in rows if DONE.search(r) and not r.startswith("volley:")]
        check("memory %d: one progress line left, no stale piece" % cols, len(prog) == 1 and
              not [r for r in rows if r not in prog and ("ETA" in r or "elapsed" in r)], rows)
        if cols == 200:  # the longest line: every part fits
            check("memory: 'waiting for capacity' while jobs wait for memory",
                  re.search(r"\d+ waiting for capacity", out) is not None, out[-800:])


def main():
    tmp = tempfile.mkdtemp(prefix="volley-pty-")
    try:
        for cols in (60, 80, 200):
            one_width(tmp, cols)
        capacity(tmp)
    finally:
        # the arenas of the runs are removed by the runs; a failed one's by id
        for d in os.listdir(tmp):
            db = os.path.join(tmp, d, "volley.db")
            if os.path.exists(db):
                try:
                    import sqlite3
                    c = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
                    rid = c.execute("select hex(run_id) from run").fetchone()[0].lower()
                    c.close()
                    p = "/dev/shm/volley-" + rid
                    if os.path.exists(p):
                        os.unlink(p)
                except Exception:
                    pass
        shutil.rmtree(tmp, ignore_errors=True)
    print("progress_pty: %d failed" % len(FAILS))
    sys.exit(1 if FAILS else 0)


if __name__ == "__main__":
    main()
