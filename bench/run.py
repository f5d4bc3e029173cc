#!/usr/bin/env python3
"""Brine fleet benchmark, optionally beside the real Salt in the same run.

For each N in --sizes: start one brine-master and N brine-minion processes on
127.0.0.1 under a temporary root_dir (auto_accept, like Salt's bench fleet),
then measure
  startup     launching the N minions (all at once) until all answered test.ping
  test.ping   wall time of `brine '*' test.ping --out json --static` (1 warm-up + --repeat)
  cmd.run     the same with `cmd.run 'echo hi'`
  memory      RSS and PSS of the master and of the minions at idle (/proc/PID/smaps_rollup)
Every run must have all N minions answering. With --salt, runs
../shared/bench/salt/run.sh with the same sizes and prints both side by side
with ratios (Salt time / Brine time, Salt memory / Brine memory).
Prints a Markdown table; writes all samples as JSON. Python 3 stdlib only.
"""
import argparse
import json
import os
import platform
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
        mconf = os.path.join(self.dir, "master", "conf")
        os.makedirs(mconf)
        with open(os.path.join(mconf, "master"), "w") as f:
            f.write(f"id: bench-master\ninterface: 127.0.0.1\npublish_port: {self.pub}\n"
                    f"ret_port: {self.ret}\nroot_dir: {self.dir}/master\nauto_accept: true\n")
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

    def brine(self, *args, timeout=5):
        argv = [os.path.join(self.bindir, "brine"), "-c", self.mconf, "-t", str(timeout), "--out", "json",
                "--static", *args]
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


def bench_fleet(a, n):
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
                raise RuntimeError(f"only {len(answered)} of {n} minions came up")
            time.sleep(0.05)
        res["startup_s"] = time.perf_counter() - t0

        for name, args, want in (("test_ping", ["*", "test.ping"], True),
                                 ("cmd_run", ["*", "cmd.run", "echo hi"], "hi")):
            samples = []
            for i in range(a.repeat + 1):
                dt, data, p = f.brine(*args)
                ok = all(data.get(m) == want for m in f.ids)
                if not ok:
                    raise RuntimeError(f"{name}: not all minions answered {want!r}: rc={p.returncode} {p.stderr[:300]}")
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
    finally:
        f.stop()
    return res


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


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="3,10,50")
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--bindir", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release"))
    ap.add_argument("--workdir", default="/tmp/brine-bench")
    ap.add_argument("--idle-wait", type=float, default=3.0)
    ap.add_argument("--salt", action="store_true", help="also run ../shared/bench/salt/run.sh with the same sizes")
    ap.add_argument("--json", default="/tmp/brine-bench/bench.json")
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    for b in ("brine", "brine-master", "brine-minion"):
        if not os.path.exists(os.path.join(a.bindir, b)):
            sys.exit(f"bench: {a.bindir}/{b} missing: cargo build --release --bins")
    sizes = [int(x) for x in a.sizes.split(",") if x]
    results = []
    for n in sizes:
        log(f"N={n}: starting fleet")
        try:
            results.append(bench_fleet(a, n))
        except RuntimeError as e:
            log(f"N={n}: FAILED: {e}")
            results.append({"n": n, "error": str(e)})
    salt = None
    if a.salt:
        sjson = os.path.join(a.workdir, "salt.json")
        log("running the real Salt with the same sizes (shared/bench/salt/run.sh)")
        subprocess.run([os.path.join(SALT_BENCH, "run.sh"), "--sizes", a.sizes, "--repeat", str(a.repeat),
                        "--state-sizes", "0", "--skip-local", "--json", sjson,
                        "--workdir", os.path.join(a.workdir, "salt")], check=False)
        try:
            with open(sjson) as f:
                salt = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            log(f"no Salt results: {e}")
            salt = {}
    with open("/proc/meminfo") as f:
        memtotal = int(f.readline().split()[1])
    doc = {"date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "machine": {"nproc": os.cpu_count(), "mem_total_kb": memtotal, "kernel": platform.release()},
           "params": vars(a), "brine": results, "salt": salt}
    with open(a.json, "w") as f:
        json.dump(doc, f, indent=1)
    print(report(results, salt))


if __name__ == "__main__":
    main()
