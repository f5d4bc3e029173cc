#!/usr/bin/env python3
"""test.ping latency to honest minions while the master is attacked.

Starts one brine-master and --minions brine-minion processes on 127.0.0.1
under a temporary root_dir (auto_accept), measures `brine '*' test.ping`
(--pings runs) on the quiet master, then again while each attack below runs
from this process, and prints one Markdown table: median and p95 latency, the
ratio to the quiet master, failed pings, and the master's peak RSS.

Attacks (all before authentication, all on loopback):
  zmtp-64gib    publish port: ZMTP greeting + READY, then a frame header
                claiming 64 GiB, on a new connection as fast as possible
  subscriptions publish port: 1 KiB subscriptions as fast as possible,
                reconnecting whenever the master drops the peer
  tls-16mib     request port: 150 concurrent TLS connections without a
                certificate, each announcing a 16 MiB frame and streaming it
  idle-conns    9,000 idle TCP connections to each port, held open
  garbage       request port: random bytes instead of TLS, as fast as possible

Python 3 stdlib only. Every attack is bounded in time (--seconds per phase)
and stops by itself.
"""
import argparse
import os
import resource
import shutil
import socket
import ssl
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


from proc import free_port, rss_kib


def greeting():
    g = bytes([0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0x7F, 3, 0]) + b"NULL".ljust(20, b"\0") + b"\0"
    return g.ljust(64, b"\0")


def ready(kind):
    body = b"\x05READY" + b"\x0bSocket-Type" + struct.pack(">I", len(kind)) + kind
    return bytes([0x04, len(body)]) + body


class Fleet:
    def __init__(self, bindir, n, workdir):
        self.bindir, self.n = bindir, n
        self.root = tempfile.mkdtemp(prefix="brine-floods-", dir=workdir)
        self.pub, self.ret = free_port(), free_port()
        self.procs = []
        mroot = os.path.join(self.root, "master")
        os.makedirs(os.path.join(mroot, "conf"))
        with open(os.path.join(mroot, "conf", "master"), "w") as f:
            f.write(f"id: master0\ninterface: 127.0.0.1\npublish_port: {self.pub}\nret_port: {self.ret}\n"
                    f"root_dir: {mroot}\nauto_accept: true\ntimeout: 10\n")
        self.mconf = os.path.join(mroot, "conf")
        self.master = self.spawn("brine-master", self.mconf, os.path.join(mroot, "master.log"))
        sock = os.path.join(mroot, "var/run/brine/master/master.sock")
        deadline = time.time() + 20
        while not os.path.exists(sock):
            if time.time() > deadline:
                sys.exit("master did not start")
            time.sleep(0.05)
        for i in range(n):
            mid = f"m{i}"
            r = os.path.join(self.root, "minions", mid)
            os.makedirs(os.path.join(r, "conf"))
            with open(os.path.join(r, "conf", "minion"), "w") as f:
                f.write(f"id: {mid}\nmaster: 127.0.0.1\nmaster_port: {self.ret}\npublish_port: {self.pub}\n"
                        f"root_dir: {r}\nacceptance_wait_time: 1\nrecon_default: 200\nrecon_max: 1000\n")
            self.spawn("brine-minion", os.path.join(r, "conf"), os.path.join(r, "minion.log"))
        deadline = time.time() + 60
        while self.ping()[1] != n:
            if time.time() > deadline:
                sys.exit("minions did not all answer")
            time.sleep(0.2)

    def spawn(self, name, conf, log):
        out = open(log, "w")
        p = subprocess.Popen([os.path.join(self.bindir, name), "-c", conf, "-l", "warning"],
                             stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        self.procs.append(p)
        return p

    def ping(self):
        t0 = time.perf_counter()
        p = subprocess.run([os.path.join(self.bindir, "brine"), "-c", self.mconf, "--out", "json", "--static",
                            "-t", "10", "*", "test.ping"], capture_output=True, text=True)
        dt = time.perf_counter() - t0
        answered = p.stdout.count(": true")
        return dt, answered

    def stop(self):
        for p in self.procs:
            p.kill()
        for p in self.procs:
            p.wait()
        shutil.rmtree(self.root, ignore_errors=True)


# ---- attacks: each runs until `stop` is set ---------------------------------

def zmtp_64gib(port, stop):
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.sendall(greeting() + ready(b"SUB") + bytes([0x02]) + struct.pack(">Q", 64 << 30))
                s.recv(4096)
        except OSError:
            pass


def subscriptions(port, stop):
    topic = b"\x01" + b"x" * 1024
    frame = bytes([0x02]) + struct.pack(">Q", len(topic)) + topic
    batch = frame * 256
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.sendall(greeting() + ready(b"SUB"))
                while not stop.is_set():
                    s.sendall(batch)
        except OSError:
            pass


def tls_16mib(port, stop, conns=150):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    chunk = b"\x85" * 65536

    def one():
        while not stop.is_set():
            try:
                raw = socket.create_connection(("127.0.0.1", port), timeout=5)
                with ctx.wrap_socket(raw, server_hostname="brine-master") as s:
                    s.sendall(struct.pack(">I", 16 * 1024 * 1024))
                    sent = 0
                    while not stop.is_set() and sent < 16 * 1024 * 1024:
                        s.sendall(chunk)
                        sent += len(chunk)
            except (OSError, ssl.SSLError):
                time.sleep(0.05)

    threads = [threading.Thread(target=one, daemon=True) for _ in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def idle_conns(ports, stop, per_port=9000):
    held = []
    for port in ports:
        for _ in range(per_port):
            if stop.is_set():
                break
            try:
                held.append(socket.create_connection(("127.0.0.1", port), timeout=0.5))
            except OSError:
                pass
    stop.wait()
    for s in held:
        s.close()


def garbage(port, stop):
    junk = os.urandom(4096)
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.sendall(junk)
        except OSError:
            pass


def measure(fleet, pings, settle):
    time.sleep(settle)
    lat, failed, peak = [], 0, rss_kib(fleet.master.pid)
    for _ in range(pings):
        dt, answered = fleet.ping()
        peak = max(peak, rss_kib(fleet.master.pid))
        if answered == fleet.n:
            lat.append(dt)
        else:
            failed += 1
    return lat, failed, peak


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bindir", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release"))
    ap.add_argument("--minions", type=int, default=5)
    ap.add_argument("--pings", type=int, default=20)
    ap.add_argument("--settle", type=float, default=2.0, help="seconds an attack runs before measuring")
    ap.add_argument("--workdir", default="/tmp")
    ap.add_argument("--only", default="", help="comma-separated attack names")
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    fleet = Fleet(a.bindir, a.minions, a.workdir)
    attacks = {
        "zmtp-64gib": lambda stop: zmtp_64gib(fleet.pub, stop),
        "subscriptions": lambda stop: subscriptions(fleet.pub, stop),
        "tls-16mib": lambda stop: tls_16mib(fleet.ret, stop),
        "idle-conns": lambda stop: idle_conns([fleet.ret, fleet.pub], stop),
        "garbage": lambda stop: garbage(fleet.ret, stop),
    }
    only = [x for x in a.only.split(",") if x]
    rows = []
    try:
        quiet = measure(fleet, a.pings, 0)
        rows.append(("quiet", quiet))
        for name, run in attacks.items():
            if only and name not in only:
                continue
            stop = threading.Event()
            t = threading.Thread(target=run, args=(stop,), daemon=True)
            t.start()
            res = measure(fleet, a.pings, a.settle)
            stop.set()
            t.join(timeout=30)
            alive = fleet.master.poll() is None
            rows.append((name if alive else name + " (MASTER DIED)", res))
            if not alive:
                break
            time.sleep(1)
    finally:
        fleet.stop()
    q = statistics.median(rows[0][1][0]) if rows[0][1][0] else float("nan")
    print(f"\n{a.minions} minions, {a.pings} pings per phase, attack running {a.settle} s before and during measurement\n")
    print("| phase | median ms | p95 ms | x quiet | failed pings | master peak RSS MiB |")
    print("|---|---|---|---|---|---|")
    for name, (lat, failed, peak) in rows:
        if lat:
            med = statistics.median(lat)
            p95 = sorted(lat)[max(0, int(len(lat) * 0.95) - 1)]
            print(f"| {name} | {med*1000:.1f} | {p95*1000:.1f} | {med/q:.2f} | {failed} | {peak/1024:.1f} |")
        else:
            print(f"| {name} | - | - | - | {failed} | {peak/1024:.1f} |")


if __name__ == "__main__":
    main()
