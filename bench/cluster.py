#!/usr/bin/env python3
"""Brine's masters as a cluster, at fleet size, on this one machine.

Two masters (127.0.0.1 and 127.0.0.2, same ports) share one PostgreSQL
database (a throwaway server started here, from Debian's packages) and one
CA (brine-key --export-ca / --import-ca). Two brine-swarm processes hold
the fleet: the first half lists only master A, the second half only master
B, as a fleet too large for every minion to connect to every master would.

Needs the release binaries (`cargo build --release -p brine-cli`) and
PostgreSQL (`apt-get install postgresql`); runs as root or as a user that
may run initdb.

Phases (each prints a table row; all rows also go to --json):
  enroll       both halves enroll (autosign) until every minion answers
               test.ping from master A (the second half through B's relay)
  ping-a       test.ping from master A to the whole fleet: median, p95,
               every return counted (half of them relayed by B)
  ping-b       the same from master B
  key-delete   a key deleted on master B: time until master A has cut that
               minion's session (from A's log)
  restart-a    master A killed (SIGKILL) and started again: time until every
               minion of its half answers through it again, then a
               test.ping from A to the whole fleet with returns counted
"""

import argparse
import datetime
import glob
import os
import pwd
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import scale

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def pg_bin():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return os.path.dirname(found[-1])
    path = shutil.which("initdb")
    if path:
        return os.path.dirname(path)
    sys.exit("bench: PostgreSQL not installed (apt-get install postgresql)")


class Postgres:
    """A throwaway server: trust on 127.0.0.1, fsync off, removed at stop."""

    def __init__(self):
        self.bin = pg_bin()
        self.dir = tempfile.mkdtemp(prefix="brine-cluster-pg-")
        self.port = scale.free_port()
        self.as_user = []
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        data = os.path.join(self.dir, "data")
        self.run(["initdb", "-D", data, "-U", "postgres", "--auth=trust"])
        self.run(["pg_ctl", "-D", data, "-l", os.path.join(self.dir, "log"), "-w", "-o",
                  f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                  "-c synchronous_commit=off -c max_connections=200", "start"])
        self.run(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-q",
                  "-c", "CREATE DATABASE brine"])
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/brine"

    def run(self, argv):
        argv = self.as_user + [os.path.join(self.bin, argv[0])] + argv[1:]
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self):
        try:
            self.run(["pg_ctl", "-D", os.path.join(self.dir, "data"), "-m", "immediate", "stop"])
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


class Master:
    def __init__(self, bench, name, address):
        self.b, self.name, self.address = bench, name, address
        self.root = os.path.join(bench.work, name)
        self.conf = os.path.join(self.root, "conf")
        self.log = os.path.join(self.root, "master.log")
        os.makedirs(self.conf)
        with open(os.path.join(self.root, "autosign.conf"), "w") as f:
            f.write("bench-*\n")
        with open(os.path.join(self.conf, "master"), "w") as f:
            f.write(f"id: {name}\ninterface: {address}\npublish_port: {bench.pub}\n"
                    f"ret_port: {bench.ret}\nroot_dir: {self.root}\n"
                    f"autosign_file: {self.root}/autosign.conf\ntimeout: 60\n"
                    f"store: {bench.pg.url}\n")
        self.proc = None

    def bin(self, name):
        return os.path.join(self.b.a.bindir, name)

    def start(self):
        log = open(self.log, "a")
        self.proc = subprocess.Popen([self.bin("brine-master"), "-c", self.conf, "-l", "info"],
                                     stdout=log, stderr=log)
        sock = os.path.join(self.root, "var/run/brine/master/master.sock")
        for _ in range(400):
            if os.path.exists(sock) and self.proc.poll() is None:
                return
            time.sleep(0.05)
        sys.exit(f"bench: master {self.name} did not start; see {self.log}")

    def kill(self):
        if self.proc:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            sock = os.path.join(self.root, "var/run/brine/master/master.sock")
            if os.path.exists(sock):
                os.unlink(sock)
            self.proc = None

    def stop(self):
        if self.proc:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.proc = None

    def brine(self, target, fun, *args, timeout=30, flag=None):
        return scale.run_brine(self.b.a.bindir, self.conf, target, fun, *args, timeout=timeout, flag=flag)


class ClusterBench:
    def __init__(self, a):
        self.a = a
        self.work = tempfile.mkdtemp(prefix="brine-cluster-")
        self.shm = tempfile.mkdtemp(prefix="brine-cluster-", dir="/dev/shm")
        self.pub, self.ret = scale.free_port(), scale.free_port()
        self.pg = Postgres()
        self.ma = Master(self, "master-a", "127.0.0.1")
        self.mb = Master(self, "master-b", "127.0.0.2")
        self.swarms = []
        self.rows = []

    def swarm(self, master, first, count, net):
        conf = os.path.join(self.work, f"swarm-{master.name}")
        os.makedirs(conf, exist_ok=True)
        with open(os.path.join(conf, "minion"), "w") as f:
            f.write(f"master: {master.address}\nmaster_port: {self.ret}\npublish_port: {self.pub}\n"
                    f"root_dir: {self.shm}/{master.name}\nacceptance_wait_time: 1\n"
                    "acceptance_wait_time_max: 5\n")
        log = open(os.path.join(self.work, f"swarm-{master.name}.log"), "a")
        self.swarms.append(subprocess.Popen(
            [master.bin("brine-swarm"), "-c", conf, "--count", str(count), "--first", str(first),
             "--width", "5", "--id-prefix", "bench-", "--grain", "role=web,db,cache",
             "--source-net", net],
            stdout=log, stderr=log, start_new_session=True))

    def row(self, phase, n, **fields):
        r = {"phase": phase, "n": n, **fields}
        self.rows.append(r)
        cells = " ".join(f"{k}={v}" for k, v in fields.items())
        print(f"{phase:12} {n:>6} {cells}", flush=True)

    def wait_all(self, master, target, n, limit):
        t0 = time.monotonic()
        while time.monotonic() - t0 < limit:
            _, data = master.brine(target, "test.ping", timeout=3)
            if scale.Bench.returned(data, lambda v: v is True) == n:
                return time.monotonic() - t0
            time.sleep(0.5)
        return None

    def timed(self, phase, master, n):
        times, counts = [], []
        for _ in range(self.a.runs):
            secs, data = master.brine("bench-*", "test.ping", timeout=60)
            times.append(secs)
            counts.append(scale.Bench.returned(data, lambda v: v is True))
        self.row(phase, n, median_s=round(statistics.median(times), 3),
                 p95_s=round(scale.pct(times, 95), 3), returns=f"{min(counts)}..{max(counts)}/{n}",
                 lost=sum(n - c for c in counts))

    def run(self):
        a = self.a
        n = a.count
        half = n // 2
        self.ma.start()
        export = os.path.join(self.work, "ca.pem")
        subprocess.run([self.ma.bin("brine-key"), "-c", self.ma.conf, "--export-ca", export],
                       check=True, stdout=subprocess.DEVNULL)
        subprocess.run([self.mb.bin("brine-key"), "-c", self.mb.conf, "--import-ca", export],
                       check=True, stdout=subprocess.DEVNULL)
        self.mb.start()
        t0 = time.monotonic()
        self.swarm(self.ma, 0, half, "127.3.0.1")
        self.swarm(self.mb, half, n - half, "127.4.0.1")
        took = self.wait_all(self.ma, "bench-*", n, a.limit * 4)
        self.row("enroll", n, all_answering_from_a_s=round(took, 1) if took else "no")
        self.timed("ping-a", self.ma, n)
        self.timed("ping-b", self.mb, n)
        # a key deleted on B, cut on A
        victim = "bench-00007"
        before = datetime.datetime.now(datetime.timezone.utc)
        subprocess.run([self.mb.bin("brine-key"), "-c", self.mb.conf, "-d", victim, "-y"],
                       check=True, stdout=subprocess.DEVNULL)
        cut = None
        for _ in range(200):
            with open(self.ma.log) as f:
                for line in f:
                    if "key deleted on another master" in line and victim in line:
                        stamp = line.split()[0].rstrip("Z")
                        cut = datetime.datetime.fromisoformat(stamp).replace(
                            tzinfo=datetime.timezone.utc)
            if cut:
                break
            time.sleep(0.05)
        self.row("key-delete", 1, cut_on_other_master_ms=round((cut - before).total_seconds() * 1000, 1)
                 if cut else "never")
        # the deleted minion enrolls again (autosign); wait for the fleet
        self.wait_all(self.ma, "bench-*", n, a.limit)
        # master A killed and restarted under its half
        self.ma.kill()
        time.sleep(2)
        self.ma.start()
        first_half = "bench-0[0-4]???" if n == 10000 else "bench-*"
        want = half if n == 10000 else n
        took = self.wait_all(self.ma, first_half, want, a.limit * 2)
        self.row("restart-a", half, all_back_s=round(took, 2) if took else f">{a.limit * 2}")
        self.timed("ping-a", self.ma, n)

    def stop(self):
        for s in self.swarms:
            try:
                os.killpg(s.pid, signal.SIGTERM)
                s.wait(timeout=20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        for m in (self.ma, self.mb):
            m.stop()
        self.pg.stop()
        shutil.rmtree(self.shm, ignore_errors=True)
        if not self.a.keep:
            shutil.rmtree(self.work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bindir", default=os.path.join(
        os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release"))
    ap.add_argument("--count", type=int, default=10000, help="fleet size, split over the two masters")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--limit", type=float, default=60, help="seconds a reconnect may take")
    ap.add_argument("--json", default=os.path.join(HERE, "cluster-results.json"))
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    commit = scale.commit_of(ROOT)
    print(f"# brine cluster bench, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, commit {commit}, "
          f"{os.cpu_count()} cores, fleet {a.count} over 2 masters", flush=True)
    b = ClusterBench(a)
    try:
        b.run()
    finally:
        b.stop()
    scale.write_results(a.json, commit, a.count, b.rows)


if __name__ == "__main__":
    main()
