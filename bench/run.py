#!/usr/bin/env python3
"""Brine fleet benchmark, optionally beside the real Salt in the same run.

For each N in --sizes: start one brine-master and N brine-minion processes on
127.0.0.1 under a temporary root_dir (auto_accept, like Salt's bench fleet),
then measure
  startup     launching the N minions (all at once) until all answered test.ping
  test.ping   wall time of `brine '*' test.ping --out json --static` (1 warm-up + --repeat)
  cmd.run     the same with `cmd.run 'echo hi'`
  memory      RSS and PSS of the master and of the minions at idle (/proc/PID/smaps_rollup)
  state.apply for N in --state-sizes: `brine '*' state.apply bench50` of the tree in
              ../shared/bench/salt/states/ (master file_roots; pillar gives each minion
              its own bench_root), --state-runs times with every root wiped first and
              as many converged
and masterless: `brine-call --local state.apply bench50 pillar='{"bench_root": ..}'`
--local-runs times on a fresh root and as many converged.
Every run must have all N minions answering; every state run must give 50
states, all result True, with the changes Salt makes (46 on a fresh root, 0
converged); a run that does not is an error naming the failing states.
With --salt, runs ../shared/bench/salt/run.sh with the same sizes and counts
and prints both side by side with ratios (Salt time / Brine time, Salt memory
/ Brine memory). --only picks the fleet (ping/cmd/memory) or the state phases.
Prints Markdown tables; writes all samples as JSON. Python 3 stdlib only.
"""
import argparse
import json
import os
import platform
import resource
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SALT_BENCH = os.path.join(ROOT, "..", "shared", "bench", "salt")
STATES = os.path.join(SALT_BENCH, "states")
HZ = os.sysconf("SC_CLK_TCK")
STATE_CLI_TIMEOUT = 600

# bench50 has 50 states; on a fresh root Salt 3008.5 changes all of them but
# these four (nothing to remove, or a test state with nothing watched changing),
# and a converged run changes none. Brine must do the same.
BENCH50_STATES = 50
BENCH50_UNCHANGED_WHEN_FRESH = {"bench-legacy-absent", "bench-verify-dirs", "bench-nop", "bench-ready"}


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def mem_kb(pid):
    """(rss_kb, pss_kb) of one process from smaps_rollup."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except FileNotFoundError:
        pass
    return rss, pss


def stats(samples):
    s = sorted(samples)
    p95 = s[min(len(s) - 1, max(0, int(round(0.95 * len(s) + 0.5)) - 1))]
    return {"n": len(s), "median_s": statistics.median(s), "p95_s": p95, "min_s": s[0], "samples": samples}


class Fleet:
    def __init__(self, bindir, n, workdir):
        self.bindir = bindir
        self.n = n
        self.dir = tempfile.mkdtemp(prefix=f"brine-bench-{n}-", dir=workdir)
        self.pub, self.ret = free_port(), free_port()
        self.procs = {}
        self.ids = [f"bench-{i:04d}" for i in range(1, n + 1)]
        self.roots = os.path.join(self.dir, "roots")
        mconf = os.path.join(self.dir, "master", "conf")
        os.makedirs(mconf)
        pillar = os.path.join(self.dir, "pillar")
        os.makedirs(pillar)
        # the same pillar as Salt's fleet.sh: each minion applies bench50 under its own root
        with open(os.path.join(pillar, "top.sls"), "w") as f:
            f.write("base:\n  'bench-*':\n    - bench\n")
        with open(os.path.join(pillar, "bench.sls"), "w") as f:
            f.write(f"bench_root: {self.roots}/{{{{ grains['id'] }}}}\n")
        with open(os.path.join(mconf, "master"), "w") as f:
            f.write(f"id: bench-master\ninterface: 127.0.0.1\npublish_port: {self.pub}\n"
                    f"ret_port: {self.ret}\nroot_dir: {self.dir}/master\nauto_accept: true\n"
                    f"file_roots:\n  base:\n    - {STATES}\npillar_roots:\n  base:\n    - {pillar}\n")
        self.mconf = mconf

    def start_master(self):
        log_f = open(os.path.join(self.dir, "master.log"), "w")
        self.procs["master"] = subprocess.Popen([os.path.join(self.bindir, "brine-master"), "-c", self.mconf],
                                                stdout=log_f, stderr=log_f)
        sock = os.path.join(self.dir, "master", "var/run/brine/master/master.sock")
        deadline = time.time() + 30
        while not os.path.exists(sock):
            if time.time() > deadline or self.procs["master"].poll() is not None:
                raise RuntimeError("master did not start; see " + self.dir + "/master.log")
            time.sleep(0.02)

    def start_minions(self):
        for mid in self.ids:
            root = os.path.join(self.dir, "minions", mid)
            conf = os.path.join(root, "conf")
            os.makedirs(conf)
            with open(os.path.join(conf, "minion"), "w") as f:
                f.write(f"id: {mid}\nmaster: 127.0.0.1\nmaster_port: {self.ret}\npublish_port: {self.pub}\n"
                        f"root_dir: {root}\nacceptance_wait_time: 1\n")
        t0 = time.perf_counter()
        for mid in self.ids:
            root = os.path.join(self.dir, "minions", mid)
            log_f = open(os.path.join(root, "minion.log"), "w")
            self.procs[mid] = subprocess.Popen([os.path.join(self.bindir, "brine-minion"), "-c",
                                                os.path.join(root, "conf")], stdout=log_f, stderr=log_f)
        return t0

    def brine_argv(self, *args, timeout=5):
        return [os.path.join(self.bindir, "brine"), "-c", self.mconf, "-t", str(timeout), "--out", "json",
                "--static", *args]

    def brine(self, *args, timeout=5):
        argv = self.brine_argv(*args, timeout=timeout)
        t0 = time.perf_counter()
        p = subprocess.run(argv, capture_output=True, text=True)
        dt = time.perf_counter() - t0
        try:
            data = json.loads(p.stdout) if p.stdout.strip() else {}
        except json.JSONDecodeError:
            data = {}
        return dt, data, p

    def stop(self):
        for name, p in self.procs.items():
            if p.poll() is None:
                p.terminate()
        for name, p in self.procs.items():
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class BenchError(Exception):
    pass


# ---------------------------------------------------------------- CPU accounting
def _busy_jiffies():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system (idle iowait) irq softirq steal
    return v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)


def _proc_jiffies(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                data = f.read()
        except OSError:
            continue
        rest = data[data.rindex(")") + 2:].split()
        total += sum(int(x) for x in rest[11:15])  # utime stime cutime cstime
    return total


class CpuWindow:
    """CPU seconds burnt during a phase by processes that are not the benchmark's
    (neither this script, its CLI children, nor the fleet's daemons): the same
    figure as Salt's script records, so a shared machine shows in the JSON."""

    def __init__(self, daemon_pids=()):
        self.pids = list(daemon_pids)
        self.t0 = time.monotonic()
        self.busy0 = _busy_jiffies()
        self.daemons0 = _proc_jiffies(self.pids)
        self.own0 = self._own()

    @staticmethod
    def _own():
        a = resource.getrusage(resource.RUSAGE_SELF)
        b = resource.getrusage(resource.RUSAGE_CHILDREN)
        return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime

    def close(self):
        busy = (_busy_jiffies() - self.busy0) / HZ
        ours = (_proc_jiffies(self.pids) - self.daemons0) / HZ + self._own() - self.own0
        return {"wall_s": round(time.monotonic() - self.t0, 2), "cpu_busy_s": round(busy, 2),
                "cpu_ours_s": round(ours, 2), "cpu_foreign_s": round(max(0.0, busy - ours), 2)}


# ---------------------------------------------------------------- state runs
def state_check(ret, ids, fresh, repro):
    """Check one state.apply bench50 return ({minion: {state_key: result}}); raise
    BenchError naming the failing states; return {minion: number of changed states}."""
    changed_by = {}
    for mid in ids:
        r = ret.get(mid)
        if not isinstance(r, dict):
            raise BenchError(f"state.apply bench50 on {mid} returned no state results: "
                             f"{json.dumps(r)[:1500]}\n  reproduce: {repro}")
        bad, changed, unchanged = [], set(), set()
        for key, st in r.items():
            sid = st.get("__id__") if isinstance(st, dict) else None
            sid = sid or (key.split("_|-")[1] if key.count("_|-") >= 3 else key)
            if not isinstance(st, dict) or st.get("result") is not True:
                comment = st.get("comment") if isinstance(st, dict) else st
                bad.append(f"{sid} ({key}): result {st.get('result') if isinstance(st, dict) else None!r}, "
                           f"comment {json.dumps(comment)[:400]}")
            (changed if isinstance(st, dict) and st.get("changes") else unchanged).add(sid)
        if bad:
            raise BenchError(f"state.apply bench50 on {mid}: {len(bad)} of {len(r)} states failed:\n    "
                             + "\n    ".join(bad[:10]) + f"\n  reproduce: {repro}")
        if len(r) != BENCH50_STATES:
            raise BenchError(f"state.apply bench50 on {mid}: {len(r)} states, expected {BENCH50_STATES}"
                             f"\n  reproduce: {repro}")
        if fresh:
            extra = sorted(unchanged - BENCH50_UNCHANGED_WHEN_FRESH)
            missing = sorted(BENCH50_UNCHANGED_WHEN_FRESH - unchanged)
            if extra or missing:
                raise BenchError(f"state.apply bench50 on {mid}, fresh root: {len(changed)} of {len(r)} "
                                 f"states changed, Salt changes {BENCH50_STATES - len(BENCH50_UNCHANGED_WHEN_FRESH)}; "
                                 f"unchanged where Salt changes: {extra}; changed where Salt does not: {missing}"
                                 f"\n  reproduce: {repro}")
        elif changed:
            raise BenchError(f"state.apply bench50 on {mid}, converged: expected no changes, "
                             f"got changes from {sorted(changed)}\n  reproduce: {repro}")
        changed_by[mid] = len(changed)
    return changed_by


def state_runs(argv, runs, ids, fresh, wipe, daemon_pids=()):
    """Time `runs` state.apply calls (wiping the roots first when fresh); check each."""
    repro = " ".join(shlex.quote(x) for x in argv)
    times, changed = [], set()
    cw = CpuWindow(daemon_pids)
    for _ in range(runs):
        if fresh:
            wipe()
        t0 = time.perf_counter()
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=STATE_CLI_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise BenchError(f"no answer within {STATE_CLI_TIMEOUT}s\n  reproduce: {repro}")
        dt = time.perf_counter() - t0
        try:
            ret = json.loads(p.stdout)
        except json.JSONDecodeError:
            raise BenchError(f"output is not JSON (rc {p.returncode}): {p.stdout[-800:]} {p.stderr[-800:]}"
                             f"\n  reproduce: {repro}")
        changed |= set(state_check(ret, ids, fresh, repro).values())
        times.append(dt)
    st = stats(times)
    st["changed_states"] = sorted(changed)
    st["cpu"] = cw.close()
    return st


def bench_local(a):
    """Masterless, as Salt's script does it: a minion config with file_client local
    and file_roots on the bench states, pillar bench_root on the command line."""
    ldir = tempfile.mkdtemp(prefix="brine-bench-local-", dir=a.workdir)
    try:
        conf = os.path.join(ldir, "conf")
        broot = os.path.join(ldir, "bench-root")
        os.makedirs(conf)
        with open(os.path.join(conf, "minion"), "w") as f:
            f.write(f"id: bench-local\nfile_client: local\nroot_dir: {ldir}/root\n"
                    f"file_roots:\n  base:\n    - {STATES}\n")
        argv = [os.path.join(a.bindir, "brine-call"), "-c", conf, "--local", "state.apply", "bench50",
                "pillar=" + json.dumps({"bench_root": broot}), "--out", "json"]
        wipe = lambda: shutil.rmtree(broot, ignore_errors=True)
        res = {}
        log(f"brine-call --local state.apply bench50 x{a.local_runs} on a fresh root")
        res["state_apply_fresh"] = state_runs(argv, a.local_runs, ["local"], True, wipe)
        log(f"  median {res['state_apply_fresh']['median_s']:.3f}s")
        log(f"brine-call --local state.apply bench50 x{a.local_runs} converged")
        res["state_apply_converged"] = state_runs(argv, a.local_runs, ["local"], False, wipe)
        log(f"  median {res['state_apply_converged']['median_s']:.3f}s")
        return res
    finally:
        shutil.rmtree(ldir, ignore_errors=True)


# ---------------------------------------------------------------- fleet
def bench_fleet(a, n, with_fleet, with_states):
    f = Fleet(a.bindir, n, a.workdir)
    res = {"n": n}
    try:
        f.start_master()
        t0 = f.start_minions()
        deadline = time.time() + 60 + 3 * n
        answered = set()
        while True:
            _, data, _ = f.brine("*", "test.ping", timeout=2)
            answered |= {k for k, v in data.items() if v is True}
            if answered >= set(f.ids):
                break
            if time.time() > deadline:
                raise BenchError(f"only {len(answered)} of {n} minions came up")
            time.sleep(0.05)
        res["startup_s"] = time.perf_counter() - t0

        if with_fleet:
            for name, args, want in (("test_ping", ["*", "test.ping"], True),
                                     ("cmd_run", ["*", "cmd.run", "echo hi"], "hi")):
                samples = []
                for i in range(a.repeat + 1):
                    dt, data, p = f.brine(*args)
                    ok = all(data.get(m) == want for m in f.ids)
                    if not ok:
                        raise BenchError(f"{name}: not all minions answered {want!r}: rc={p.returncode} {p.stderr[:300]}")
                    if i > 0:
                        samples.append(dt)
                res[name] = stats(samples)
                log(f"N={n} {name}: median {res[name]['median_s']:.3f}s")
            time.sleep(a.idle_wait)
            mrss, mpss = mem_kb(f.procs["master"].pid)
            per = [mem_kb(f.procs[m].pid) for m in f.ids]
            res["master_mem"] = {"rss_kb": mrss, "pss_kb": mpss}
            res["minion_mem"] = {"one_rss_kb": per[0][0], "one_pss_kb": per[0][1],
                                 "mean_rss_kb": round(statistics.fmean(x[0] for x in per)),
                                 "mean_pss_kb": round(statistics.fmean(x[1] for x in per))}

        if with_states:
            def wipe():
                shutil.rmtree(f.roots, ignore_errors=True)
                os.makedirs(f.roots)

            argv = f.brine_argv("*", "state.apply", "bench50", timeout=STATE_CLI_TIMEOUT)
            daemons = [p.pid for p in f.procs.values()]
            try:  # a state failure must not lose the fleet figures above
                log(f"N={n}: state.apply bench50 x{a.state_runs} on fresh roots")
                res["state_apply_fresh"] = state_runs(argv, a.state_runs, f.ids, True, wipe, daemons)
                log(f"  median {res['state_apply_fresh']['median_s']:.3f}s")
                log(f"N={n}: state.apply bench50 x{a.state_runs} converged")
                res["state_apply_converged"] = state_runs(argv, a.state_runs, f.ids, False, wipe, daemons)
                log(f"  median {res['state_apply_converged']['median_s']:.3f}s")
            except BenchError as e:
                log(f"N={n}: state.apply FAILED: {e}")
                res["state_error"] = str(e)
    finally:
        f.stop()
    return res


# ---------------------------------------------------------------- report
def fmt(st):
    return f"{st['median_s']:.3f} / {st['p95_s']:.3f}"


def mib(kb):
    return f"{kb / 1024:.1f}"


def ratio(s, b):
    return f"{s / b:.1f}x" if b else "-"


def report(brine, salt):
    salt_by_n = {r["n"]: r for r in (salt or {}).get("fleet", []) if "cmd_run" in r}
    out = ["Times: wall seconds of one CLI call, median / p95 of the runs (after 1 warm-up); "
           "memory: MiB at idle. Ratio = Salt / Brine (higher is better for Brine).", ""]
    out.append("| N | tool | startup (all answered ping) | test.ping | cmd.run 'echo hi' | master RSS / PSS | minion RSS / PSS (mean) |")
    out.append("|---|---|---|---|---|---|---|")
    for r in brine:
        n = r["n"]
        if "error" in r:
            out.append(f"| {n} | Brine | FAILED: {r['error'][:120]} ||||")
            continue
        mm, mi = r["master_mem"], r["minion_mem"]
        out.append(f"| {n} | Brine | {r['startup_s']:.2f} | {fmt(r['test_ping'])} | {fmt(r['cmd_run'])} "
                   f"| {mib(mm['rss_kb'])} / {mib(mm['pss_kb'])} | {mib(mi['mean_rss_kb'])} / {mib(mi['mean_pss_kb'])} |")
        s = salt_by_n.get(n)
        if s:
            sm, si = s["master_mem"], s["minion_mem"]
            out.append(f"| {n} | Salt | {s['startup_s']:.2f} | {fmt(s['test_ping'])} | {fmt(s['cmd_run'])} "
                       f"| {mib(sm['rss_kb'])} / {mib(sm['pss_kb'] or 0)} | {mib(si['mean_rss_kb'])} / {mib(si['mean_pss_kb'])} |")
            out.append(f"| {n} | ratio | {ratio(s['startup_s'], r['startup_s'])} "
                       f"| {ratio(s['test_ping']['median_s'], r['test_ping']['median_s'])} "
                       f"| {ratio(s['cmd_run']['median_s'], r['cmd_run']['median_s'])} "
                       f"| {ratio(sm['rss_kb'], mm['rss_kb'])} | {ratio(si['mean_rss_kb'], mi['mean_rss_kb'])} |")
        elif salt is not None:
            out.append(f"| {n} | Salt | (no result) ||||||")
    return "\n".join(out)


def state_cell(res, key):
    """'median / p95 (changed)' of one state phase, or why there is none."""
    if res is None:
        return "-", None
    if "error" in res or "state_error" in res:
        return "FAILED (see below)", None
    st = res.get(key)
    if not st:
        return "-", None
    # Salt's script records the count on fresh runs only; converged runs it fails unless 0
    counts = st.get("changed_states") or ([0] if key == "state_apply_converged" else [])
    changed = "/".join(str(c) for c in counts) or "?"
    return f"{st['median_s']:.3f} / {st['p95_s']:.3f} ({changed})", st["median_s"]


def state_report(a, local, fleet, salt):
    out = [f"Times: wall seconds of one CLI call, median / p95; masterless {a.local_runs} runs per "
           f"mode, fleet {a.state_runs} runs per mode, no warm-up; fresh = bench_root wiped before "
           "each run, converged = the same root again. In brackets: states changed per run (of 50). "
           "Ratio = Salt median / Brine median.", ""]
    out.append("| phase | Brine | Salt | ratio |")
    out.append("|---|---|---|---|")
    salt_local = (salt or {}).get("local") if salt is not None else None
    if salt is not None and salt_local is None:
        salt_local = {"error": "no result"}
    salt_fleet = {r["n"]: r for r in (salt or {}).get("fleet", [])}
    rows = []
    if local is not None:
        rows.append(("`brine-call --local` / `salt-call --local` state.apply bench50", local, salt_local))
    for r in fleet:
        s = salt_fleet.get(r["n"]) if salt is not None else None
        if salt is not None and s is None:
            s = {"error": "no result"}
        rows.append((f"`'*' state.apply bench50`, master + {r['n']} minions", r, s))
    for label, b, s in rows:
        for key, mode in (("state_apply_fresh", "fresh root"), ("state_apply_converged", "converged")):
            bc, bm = state_cell(b, key)
            sc, sm = state_cell(s, key) if salt is not None else ("(not run)", None)
            out.append(f"| {label}, {mode} | {bc} | {sc} | {ratio(sm, bm) if sm and bm else '-'} |")
    errors = [f"- Brine {what}: {r.get('error') or r.get('state_error')}" for what, r in
              [("masterless", local)] + [(f"N={r['n']}", r) for r in fleet]
              if r and ("error" in r or "state_error" in r)]
    errors += [f"- Salt N={r['n']}: {r['error']}" for r in salt_fleet.values() if "error" in r]
    if errors:
        out += ["", "Errors:", ""] + errors
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="3,10,50")
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--state-sizes", default="10", help="fleet sizes (of --sizes) that also run state.apply")
    ap.add_argument("--state-runs", type=int, default=5, help="fleet state.apply runs per mode")
    ap.add_argument("--local-runs", type=int, default=5, help="masterless state.apply runs per mode")
    ap.add_argument("--only", choices=["fleet", "states"],
                    help="fleet: startup, ping, cmd.run, memory; states: the state.apply phases")
    ap.add_argument("--bindir", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release"),
                    help="where brine, brine-master, brine-minion, brine-call are (e.g. target/debug)")
    ap.add_argument("--workdir", default="/tmp/brine-bench")
    ap.add_argument("--idle-wait", type=float, default=3.0)
    ap.add_argument("--salt", action="store_true", help="also run ../shared/bench/salt/run.sh with the same sizes and counts")
    ap.add_argument("--json", default="/tmp/brine-bench/bench.json")
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    for b in ("brine", "brine-master", "brine-minion", "brine-call"):
        if not os.path.exists(os.path.join(a.bindir, b)):
            sys.exit(f"bench: {a.bindir}/{b} missing: cargo build --release -p brine-cli")
    with_fleet = a.only != "states"
    with_states = a.only != "fleet"
    state_sizes = {int(x) for x in a.state_sizes.split(",") if x} if with_states else set()
    sizes = [int(x) for x in a.sizes.split(",") if x]
    if not with_fleet:
        sizes = [n for n in sizes if n in state_sizes]
    failed = False
    results = []
    for n in sizes:
        log(f"N={n}: starting fleet")
        try:
            results.append(bench_fleet(a, n, with_fleet, n in state_sizes))
            failed |= "state_error" in results[-1]
        except (BenchError, RuntimeError) as e:
            log(f"N={n}: FAILED: {e}")
            results.append({"n": n, "error": str(e)})
            failed = True
    local = None
    if with_states:
        try:
            local = bench_local(a)
        except BenchError as e:
            log(f"masterless: FAILED: {e}")
            local = {"error": str(e)}
            failed = True
    salt = None
    if a.salt:
        sjson = os.path.join(a.workdir, "salt.json")
        log("running the real Salt with the same sizes (shared/bench/salt/run.sh)")
        argv = [os.path.join(SALT_BENCH, "run.sh"), "--sizes", ",".join(map(str, sizes)),
                # with --only states Salt's script still pings first: keep that short
                "--repeat", str(a.repeat if with_fleet else 1),
                "--state-sizes", ",".join(map(str, sorted(state_sizes))) or "0",
                "--state-runs", str(a.state_runs), "--local-runs", str(a.local_runs),
                "--json", sjson, "--workdir", os.path.join(a.workdir, "salt")]
        if not with_states:
            argv.append("--skip-local")
        if sizes or with_states:
            if os.path.exists(sjson):
                os.remove(sjson)
            if not sizes:  # masterless only: run.sh wants a size; a fleet of 1 is the cheapest
                argv[argv.index("--sizes") + 1] = "1"
            subprocess.run(argv, check=False, stdout=sys.stderr)  # its own tables: keep stdout ours
        try:
            with open(sjson) as f:
                salt = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            log(f"no Salt results: {e}")
            salt = {}
    with open("/proc/meminfo") as f:
        memtotal = int(f.readline().split()[1])
    doc = {"date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "machine": {"nproc": os.cpu_count(), "mem_total_kb": memtotal, "kernel": platform.release(),
                       "loadavg_at_end": os.getloadavg()},
           "params": vars(a), "brine": results, "brine_local": local, "salt": salt}
    with open(a.json, "w") as f:
        json.dump(doc, f, indent=1)
    if with_fleet:
        print(report(results, salt))
    if with_states:
        if with_fleet:
            print()
        print(state_report(a, local, [r for r in results if r["n"] in state_sizes], salt))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
