#!/usr/bin/env python3
"""report_browser.py - `volley report`'s page in a real browser: Debian's
chromium, headless (docs/report.md).

Four pages, each loaded twice (--dump-dom after the page's script ran,
then --screenshot, kept in $VOLLEY_ARTIFACTS):
  failures  a real run with failing, canceled and retried jobs at -j 2;
  live      a real run while a job still runs (the page is a snapshot);
  requeued  a run stopped at its deadline (exit 75) and resumed: two
            allocations, listed, the second marked on the timeline;
  100k      a 100,003-job run written by bench/report/report_fixture at
            -j 8 (a real one takes a minute here), binned;
and for each: no console message and no error caught by the page, the
summary the page drew equals `volley status --json`, the timeline has one
lane per slot (the most jobs at once: -j), drawn. The page records what it
drew in <pre id="volley-selftest"> (tools/report.html).

Exit 77 (skipped) with a message when chromium is not installed; CI
installs it (make deps). Every process started here is ended by pid.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

VOLLEY = os.environ.get("VOLLEY_BIN")
FIXTURE = os.environ.get("REPORT_FIXTURE")
ART = os.environ.get("VOLLEY_ARTIFACTS")
if not VOLLEY or not FIXTURE:
    sys.exit("VOLLEY_BIN and REPORT_FIXTURE must be set (ctest sets them)")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if not CHROMIUM:
    print("SKIP: chromium is not installed (`make deps` installs Debian's chromium); "
          "the report's browser test did not run")
    sys.exit(77)

FAILS = []
STARTED = []  # Popen objects of runs in the background, each leading its own session


def check(name, cond, detail=""):
    if cond:
        print("ok:", name)
    else:
        print("FAIL:", name, str(detail)[:2000])
        FAILS.append(name)


def chromium(tmp, url, *mode):
    """Runs headless chromium on url; returns (stdout, stderr)."""
    prof = tempfile.mkdtemp(prefix="chromium-", dir=tmp)
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--user-data-dir=" + prof, "--enable-logging=stderr", "--v=0",
            "--window-size=1300,2200"] + list(mode) + [url]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True)
    try:
        out, err = p.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        check("chromium ended within 2 minutes on " + url, False)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    shutil.rmtree(prof, ignore_errors=True)
    return out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def volley(*args, ok=(0,)):
    p = subprocess.run([VOLLEY] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode not in ok:
        check("volley %s: exit %d" % (" ".join(args), p.returncode), False, p.stderr)
    return p.stdout.decode(), p.stderr.decode()


def selftest(dom):
    m = re.search(r'<pre id="volley-selftest"[^>]*>(.*?)</pre>', dom, re.S)
    if not m:
        return None
    text = m.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">")
    return json.loads(text.replace("&amp;", "&"))


def page(tmp, tag, rundir, lanes, mode):
    """Writes the report of rundir, loads it, checks it; keeps a screenshot."""
    out, err = volley("report", rundir)
    html = os.path.join(rundir, "report.html")
    check("%s: report written (%s)" % (tag, err.strip()), os.path.exists(html))
    st = json.loads(volley("status", rundir, "--json")[0])
    url = "file://" + html
    dom, log = chromium(tmp, url, "--dump-dom")
    consoles = [l for l in log.splitlines() if "CONSOLE" in l]
    check("%s: no console message" % tag, not consoles, consoles)
    t = selftest(dom)
    check("%s: the page ran to its end" % tag, t is not None and 'data-rendered="1"' in dom,
          dom[-1500:])
    if t is None:
        return
    check("%s: no error in the page" % tag, t["errors"] == [], t["errors"])
    s = t.get("summary", {})
    check("%s: summary total/done/phase as status --json" % tag,
          (s.get("total"), s.get("done"), s.get("phase")) == (st["total"], st["done"], st["phase"]),
          (s, st))
    check("%s: limits backend as status --json" % tag, s.get("limits") == st.get("limits"),
          (s.get("limits"), st.get("limits")))
    check("%s: summary states as status --json" % tag, s.get("states") == st["states"],
          (s.get("states"), st["states"]))
    check("%s: %d lanes, one per slot (got %s)" % (tag, lanes, t.get("lanes")),
          t.get("lanes") == lanes)
    check("%s: each lane drawn (%s of them)" % (tag, t.get("rows_drawn")),
          t.get("rows_drawn") == lanes)
    check("%s: timeline mode %s" % (tag, mode), t.get("timeline_mode") == mode, t)
    shot = os.path.join(ART or tmp, "report-%s.png" % tag)
    if ART:
        os.makedirs(ART, exist_ok=True)
    chromium(tmp, url, "--screenshot=" + shot)
    check("%s: screenshot %s" % (tag, shot), os.path.getsize(shot) > 10000 if
          os.path.exists(shot) else False)
    return t


def failures(tmp):
    wf = os.path.join(tmp, "fail.yaml")
    with open(wf, "w") as f:
        f.write("""name: failures
failure_handlers:
  - name: again
    rules:
      - {exit_codes: [75], max_retries: 1}
jobs:
  - name: "ok_{i:02d}"
    command: "sleep 0.02"
    parameters: {i: "1:20"}
  - name: "bad_{k}"
    command: "echo '<script>alert(1)</script> went wrong {k}' >&2; exit {k}"
    parameters: {k: "1:3"}
  - {name: after_bad, command: "true", depends_on: [bad_1]}
  - {name: retried, command: "exit 75", failure_handler: again}
""")
    rundir = os.path.join(tmp, "failures")
    volley("run", wf, "--run-dir", rundir, "-j", "2", "--quiet", ok=(1,))
    t = page(tmp, "failures", rundir, 2, "jobs")
    # a real run records its backend: the page names it, not "not recorded"
    check("failures: a backend recorded (%s)" % (t or {}).get("summary", {}).get("limits"),
          (t or {}).get("summary", {}).get("limits") in ("cgroup2", "cgroup1", "none"))
    html = open(os.path.join(rundir, "report.html")).read()
    # a job's output cannot end the data's <script>: '<' is escaped
    check("failures: output with </script> stays inside the data",
          "</script> went wrong" not in html and "\\u003c/script> went wrong" in html)


def live(tmp):
    wf = os.path.join(tmp, "live.yaml")
    gate = os.path.join(tmp, "go")
    with open(wf, "w") as f:
        f.write("""name: live
jobs:
  - {name: first, command: "true"}
  - {name: waits, command: "while [ ! -e %s ]; do sleep 0.05; done"}
  - {name: later, command: "true", depends_on: [waits]}
""" % gate)
    rundir = os.path.join(tmp, "live")
    p = subprocess.Popen([VOLLEY, "run", wf, "--run-dir", rundir, "-j", "1", "--quiet",
                          "--checkpoint-interval", "0.1"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    STARTED.append(p)
    deadline = time.time() + 60
    st = {}
    while time.time() < deadline:
        try:
            st = json.loads(volley("status", rundir, "--json", ok=(0, 3))[0] or "{}")
        except ValueError:
            st = {}
        if st.get("live") and st.get("states", {}).get("running") == 1 and st.get("done") == 1:
            break
        time.sleep(0.05)
    check("live: the run is live with one job running", st.get("live") is True, st)
    t = page(tmp, "live", rundir, 1, "jobs")
    dom = open(os.path.join(rundir, "report.html")).read()
    check("live: the page says it is a snapshot", '"live":true' in dom)
    open(gate, "w").close()
    check("live: the run ends", p.wait(timeout=60) == 0)


def requeued(tmp):
    """Two allocations: a deadline parks the long job (exit 75), a resume
    runs it; the page lists both and marks where the second began."""
    wf = os.path.join(tmp, "requeued.yaml")
    with open(wf, "w") as f:
        f.write("""name: requeued
resource_requirements:
  - {name: short, runtime: PT5S}
  - {name: long, runtime: PT1M}
jobs:
  - {name: first, command: "sleep 0.2", resource_requirements: short}
  - {name: second, command: "sleep 0.2", resource_requirements: long}
""")
    rundir = os.path.join(tmp, "requeued")
    volley("run", wf, "--run-dir", rundir, "-j", "1", "--quiet", "--deadline", "+30s", ok=(75,))
    volley("resume", rundir, "--quiet")
    t = page(tmp, "requeued", rundir, 1, "jobs")
    if t:
        check("requeued: both allocations listed (%s)" % t.get("allocations"),
              t.get("allocations") == 2)
        check("requeued: the second marked on the timeline (%s)" % t.get("allocation_lines"),
              t.get("allocation_lines") == 1)


def big(tmp):
    wf = os.path.join(tmp, "big.yaml")
    with open(wf, "w") as f:
        f.write("""name: big
resource_requirements:
  - {name: minimal, num_cpus: 1, memory: 100m, runtime: PT1M}
jobs:
  - name: "stage1_{i:05d}"
    command: "true"
    parameters: {i: "0:49999"}
    resource_requirements: minimal
  - name: gate
    command: "true"
    depends_on_regexes: ["^stage1_"]
    cancel_on_blocking_job_failure: false
  - name: "stage2_{i:05d}"
    command: "true"
    parameters: {i: "0:49999"}
    depends_on: [gate]
    resource_requirements: minimal
  - {name: tail1, command: "true", depends_on: [gate]}
  - {name: tail2, command: "true", depends_on: [gate]}
""")
    rundir = os.path.join(tmp, "big")
    p = subprocess.run([FIXTURE, wf, rundir, "--lanes", "8", "--dur", "0.001:0.003",
                        "--fail-every", "997", "--class", "minimal:20m:70m:0.8"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    check("100k: the fixture is written", p.returncode == 0, p.stderr)
    t = page(tmp, "100k", rundir, 8, "bins")
    if t:
        print("100k: rendered in %s ms" % t.get("render_ms"))


def main():
    tmp = tempfile.mkdtemp(prefix="volley-browser-")
    try:
        failures(tmp)
        live(tmp)
        requeued(tmp)
        big(tmp)
    finally:
        for p in STARTED:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait()
        for d in os.listdir(tmp):
            db = os.path.join(tmp, d, "volley.db")
            if os.path.exists(db):
                import sqlite3
                try:
                    c = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
                    rid = c.execute("select hex(run_id) from run").fetchone()[0].lower()
                    c.close()
                    if os.path.exists("/dev/shm/volley-" + rid):
                        os.unlink("/dev/shm/volley-" + rid)
                except Exception:
                    pass
        shutil.rmtree(tmp, ignore_errors=True)
    print("report_browser: %d failed" % len(FAILS))
    sys.exit(1 if FAILS else 0)


if __name__ == "__main__":
    main()
