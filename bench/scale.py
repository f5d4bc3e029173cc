#!/usr/bin/env python3
"""Brine at fleet size: one master and a brine-swarm of up to 10,000 minions.

Needs the release binaries (`cargo build --release -p brine-cli`). Runs on
loopback under a temporary directory; the swarm's minions keep their
root_dir on /dev/shm (tmpfs), as each real host has a disk of its own: ten
thousand minions fsyncing one disk would measure the disk, not Brine.

Phases (each prints a table row; all rows also go to --json):
  enroll       first start: every minion generates a key and enrolls
               (autosign_file, the master's normal accept path)
  storm N      N minions started at once with keys in hand, until every one
               answered test.ping (N = 1,000 and 10,000)
  ping N       test.ping to N minions of the fleet (glob on the id), --runs
               times: median, p95, returns counted every run
  grains N     grains.items to N
  cmd N        cmd.run 'echo hi' to 1,000 (forks real shells on this machine)
  grain-third  G@role:web over the fleet (a third, by the swarm's template)
  state N      state.apply of a small SLS (file.managed from a template,
               cmd.run with unless) to 1,000
  sustained    test.ping to 1,000 back to back for --sustain seconds:
               jobs/s, every return counted
  idle         master CPU over --idle seconds with the fleet connected
  restart      the master stopped and started under the fleet: time until
               every minion answers through it again
Master figures are the master process plus its publisher process(es).
"""
import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TICK = os.sysconf("SC_CLK_TCK")


from proc import free_port, rss_kib, cpu_ticks, children_of


def run_brine(bindir, conf, target, fun, *args, timeout=30, flag=None):
    """`brine --out json` against the master configured in `conf`: seconds
    taken and the parsed returns ({} when nothing was printed)."""
    argv = [os.path.join(bindir, "brine"), "-c", conf, "-t", str(timeout), "--out", "json", "--static"]
    if flag:
        argv.append(flag)
    argv += [target, fun, *args]
    t0 = time.monotonic()
    p = subprocess.run(argv, capture_output=True, text=True)
    secs = time.monotonic() - t0
    try:
        data = json.loads(p.stdout) if p.stdout.strip() else {}
    except json.JSONDecodeError:
        data = {}
    return secs, data


def commit_of(root):
    return subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip()


def write_results(path, commit, count, rows):
    with open(path, "w") as f:
        json.dump({"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "commit": commit,
                   "machine": {"nproc": os.cpu_count(), "kernel": platform.release()},
                   "count": count, "rows": rows}, f, indent=2)
    print(f"# written: {path}")


def pct(values, p):
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(round(p / 100 * (len(v) - 1)))))
    return v[k]


class Bench:
    def __init__(self, a):
        self.a = a
        self.bindir = a.bindir
        self.work = tempfile.mkdtemp(prefix="brine-scale-")
        self.shm = tempfile.mkdtemp(prefix="brine-scale-", dir="/dev/shm")
        self.pub, self.ret = free_port(), free_port()
        self.mroot = os.path.join(self.work, "master")
        self.mconf = os.path.join(self.mroot, "conf")
        os.makedirs(self.mconf)
        os.makedirs(os.path.join(self.mroot, "srv"))
        with open(os.path.join(self.mroot, "autosign.conf"), "w") as f:
            f.write("bench-*\n")
        with open(os.path.join(self.mconf, "master"), "w") as f:
            f.write(f"id: bench-master\ninterface: 127.0.0.1\npublish_port: {self.pub}\n"
                    f"ret_port: {self.ret}\nroot_dir: {self.mroot}\n"
                    f"autosign_file: {self.mroot}/autosign.conf\ntimeout: 60\n"
                    f"file_roots: {{base: [{self.mroot}/srv]}}\n")
        out = os.path.join(self.shm, "out")
        os.makedirs(out)
        with open(os.path.join(self.mroot, "srv", "small.sls"), "w") as f:
            f.write("conf:\n  file.managed:\n"
                    f"    - name: {out}/{{{{ grains['id'] }}}}.conf\n"
                    "    - source: salt://small.conf.j2\n    - template: jinja\n"
                    "once:\n  cmd.run:\n"
                    f"    - name: touch {out}/{{{{ grains['id'] }}}}.done\n"
                    f"    - unless: test -e {out}/{{{{ grains['id'] }}}}.done\n")
        with open(os.path.join(self.mroot, "srv", "small.conf.j2"), "w") as f:
            f.write("role={{ grains['role'] }} id={{ grains['id'] }}\n")
        self.sconf = os.path.join(self.work, "swarm")
        os.makedirs(self.sconf)
        with open(os.path.join(self.sconf, "minion"), "w") as f:
            f.write(f"master: 127.0.0.1\nmaster_port: {self.ret}\npublish_port: {self.pub}\n"
                    f"root_dir: {self.shm}/root\nacceptance_wait_time: 1\n"
                    "acceptance_wait_time_max: 5\n")
        self.master = None
        self.swarm = None
        self.rows = []

    def bin(self, name):
        return os.path.join(self.bindir, name)

    def start_master(self):
        log = open(os.path.join(self.work, "master.log"), "a")
        self.master = subprocess.Popen([self.bin("brine-master"), "-c", self.mconf, "-l", "warning"],
                                       stdout=log, stderr=log)
        sock = os.path.join(self.mroot, "var/run/brine/master/master.sock")
        for _ in range(200):
            if os.path.exists(sock):
                return
            time.sleep(0.05)
        sys.exit("bench: the master did not start; see " + log.name)

    def master_pids(self):
        return [self.master.pid] + children_of(self.master.pid)

    def master_rss(self):
        return sum(rss_kib(p) for p in self.master_pids())

    def master_ticks(self):
        return sum(cpu_ticks(p) for p in self.master_pids())

    def start_swarm(self, n):
        log = open(os.path.join(self.work, "swarm.log"), "a")
        self.swarm = subprocess.Popen(
            [self.bin("brine-swarm"), "-c", self.sconf, "--count", str(n), "--width", "5",
             "--id-prefix", "bench-", "--grain", "role=web,db,cache", "--source-net", "127.3.0.1"],
            stdout=log, stderr=log, start_new_session=True)

    def stop_swarm(self):
        if self.swarm:
            os.killpg(self.swarm.pid, signal.SIGTERM)
            self.swarm.wait()
            self.swarm = None
            time.sleep(1)

    def swarm_rss(self):
        if not self.swarm:
            return 0
        pids = [self.swarm.pid] + children_of(self.swarm.pid)
        return sum(rss_kib(p) for p in pids)

    def brine(self, target, fun, *args, timeout=30, flag=None):
        return run_brine(self.bindir, self.mconf, target, fun, *args, timeout=timeout, flag=flag)

    @staticmethod
    def returned(data, ok=lambda v: True):
        return sum(1 for v in data.values()
                   if ok(v) and not (isinstance(v, str) and v.startswith("Minion did not return")))

    def target(self, n):
        # ids are bench-00000 ...: the first n of the fleet by glob
        digits = len(str(n - 1)) if n > 1 else 1
        return "bench-" + "0" * (5 - digits) + "?" * digits

    def wait_all(self, n, limit):
        t0 = time.monotonic()
        tgt = self.target(n)
        while time.monotonic() - t0 < limit:
            _, data = self.brine(tgt, "test.ping", timeout=2)
            if self.returned(data, lambda v: v is True) == n:
                return time.monotonic() - t0
            time.sleep(0.5)
        return None

    def row(self, phase, n, **fields):
        r = {"phase": phase, "n": n, **fields}
        self.rows.append(r)
        cells = " ".join(f"{k}={v}" for k, v in fields.items())
        print(f"{phase:12} {n:>6} {cells}", flush=True)

    def timed_jobs(self, phase, n, fun, args=(), runs=None, ok=lambda v: True):
        runs = runs or self.a.runs
        times, counts = [], []
        t0 = self.master_ticks()
        for _ in range(runs):
            secs, data = self.brine(self.target(n), fun, *args, timeout=120)
            times.append(secs)
            counts.append(self.returned(data, ok))
        cpu = (self.master_ticks() - t0) / TICK / runs
        self.row(phase, n, median_s=round(statistics.median(times), 3), p95_s=round(pct(times, 95), 3),
                 returns=f"{min(counts)}..{max(counts)}/{n}", lost=sum(n - c for c in counts),
                 master_cpu_s_per_job=round(cpu, 3), master_rss_mib=round(self.master_rss() / 1024))

    def run(self):
        a = self.a
        self.start_master()
        n = a.count
        # enrollment: keys generated, certificates issued (the normal path)
        t0 = time.monotonic()
        self.start_swarm(n)
        took = self.wait_all(n, a.storm_limit * 4)
        self.row("enroll", n, all_answering_s=round(took, 1) if took else "no")
        self.stop_swarm()
        # connect storms with keys in hand
        for m in sorted({min(1000, n), n}):
            self.start_swarm(m)
            took = self.wait_all(m, a.storm_limit)
            self.row("storm", m, all_answering_s=round(took, 2) if took else f">{a.storm_limit}",
                     master_rss_mib=round(self.master_rss() / 1024))
            if m != n:
                self.stop_swarm()
        # the whole fleet is connected from here on
        for m in [x for x in (100, 1000, 10000) if x <= n]:
            self.timed_jobs("ping", m, "test.ping", ok=lambda v: v is True)
        for m in [x for x in (1000, 10000) if x <= n]:
            self.timed_jobs("grains", m, "grains.items", runs=3, ok=lambda v: isinstance(v, dict))
        self.timed_jobs("cmd", min(1000, n), "cmd.run", ("echo hi",), runs=3, ok=lambda v: v == "hi")
        want = sum(1 for i in range(n) if i % 3 == 0)
        secs, data = self.brine("role:web", "test.ping", timeout=60, flag="-G")
        self.row("grain-third", n, secs=round(secs, 3), returns=f"{self.returned(data)}/{want}",
                 exact=sorted(data) == sorted(f"bench-{i:05d}" for i in range(n) if i % 3 == 0))
        self.timed_jobs("state", min(1000, n), "state.apply", ("small",), runs=3,
                        ok=lambda v: isinstance(v, dict) and all(
                            isinstance(s, dict) and s.get("result") is True for s in v.values()))
        # sustained pings to 1,000
        m = min(1000, n)
        t0, jobs, returns, t_cpu = time.monotonic(), 0, 0, self.master_ticks()
        while time.monotonic() - t0 < a.sustain:
            _, data = self.brine(self.target(m), "test.ping", timeout=30)
            jobs += 1
            returns += self.returned(data, lambda v: v is True)
        secs = time.monotonic() - t0
        self.row("sustained", m, jobs_per_s=round(jobs / secs, 2), returns=f"{returns}/{jobs * m}",
                 lost=jobs * m - returns, master_cpu_pct=round(100 * (self.master_ticks() - t_cpu) / TICK / secs, 1))
        # idle
        t_cpu = self.master_ticks()
        time.sleep(a.idle)
        self.row("idle", n, master_cpu_pct=round(100 * (self.master_ticks() - t_cpu) / TICK / a.idle, 2),
                 master_rss_mib=round(self.master_rss() / 1024),
                 swarm_kib_per_minion=round(self.swarm_rss() / n, 1))
        # the master restarted under the whole fleet: every minion notices,
        # backs off with jitter and reconnects
        self.master.send_signal(signal.SIGTERM)
        self.master.wait(timeout=30)
        self.start_master()
        took = self.wait_all(n, a.storm_limit)
        self.row("restart", n, all_back_s=round(took, 2) if took else f">{a.storm_limit}",
                 master_rss_mib=round(self.master_rss() / 1024))

    def stop(self):
        self.stop_swarm()
        if self.master:
            self.master.send_signal(signal.SIGTERM)
            try:
                self.master.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.master.kill()
        shutil.rmtree(self.shm, ignore_errors=True)
        if not self.a.keep:
            shutil.rmtree(self.work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bindir", default=os.path.join(
        os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release"))
    ap.add_argument("--count", type=int, default=10000, help="fleet size (default 10000)")
    ap.add_argument("--runs", type=int, default=10, help="runs of each timed job")
    ap.add_argument("--storm-limit", type=float, default=60, help="seconds a storm may take")
    ap.add_argument("--sustain", type=float, default=30)
    ap.add_argument("--idle", type=float, default=60)
    ap.add_argument("--json", default=os.path.join(HERE, "scale-results.json"))
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    a = ap.parse_args()
    for b in ("brine-master", "brine-swarm", "brine"):
        if not os.path.exists(os.path.join(a.bindir, b)):
            sys.exit(f"bench: {a.bindir}/{b} missing: cargo build --release -p brine-cli")
    commit = commit_of(ROOT)
    print(f"# brine scale bench, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, commit {commit}, "
          f"{os.cpu_count()} cores, fleet {a.count}", flush=True)
    b = Bench(a)
    try:
        b.run()
    finally:
        b.stop()
    write_results(a.json, commit, a.count, b.rows)


if __name__ == "__main__":
    main()
