#!/usr/bin/env python3
"""The master's event bus under a fleet (issue 14): one master and a
brine-swarm of N minions (default 1,000) sending events over their real TLS
sessions, with a consumer (`brine-run state.event`) attached.

Needs the release binaries (`cargo build --release -p brine-cli --bins`);
builds nothing. Runs on loopback under a temporary directory (the swarm's
root_dir on /dev/shm); keys auto-accepted.

Phases (each prints a table; everything also goes to --json):
  throughput   for each per-minion rate in --rates, the swarm sends
               `bench/event/r<rate>` events for --settle + --window seconds:
               events/s offered (the swarm's own count) and delivered to the
               consumer in the window, minion-to-consumer latency (a sample
               of events, `sent_at` against the time the line is read), the
               consumer's EventsMissed total, events lost without a report
               (sent - delivered - missed, counted over the whole phase
               after a drain), master CPU and RSS.
  reactor      the master has a reactor rule (`bench/react` runs
               local.test.ping on the sending minion); the swarm sends
               `bench/react` at --react-rate per minion for --react-window
               seconds: latency from the event's `_stamp` to the `_stamp` of
               the `brine/job/<jid>/new` it caused (both the master's clock),
               p50/p99; "reactor not available" when no job follows.
  memory       a flapping diskusage beacon on every minion (one event per
               --beacon-interval s, alternately above and below 90 %) for
               --duration seconds: master RSS (VmRSS of the master and its
               publisher) every 10 s.
Choose phases with --phases (default all three).
"""
import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TICK = os.sysconf("SC_CLK_TCK")
SWARM_LINE = re.compile(r"brine-swarm: events pid=(\d+) sent=(\d+) beacons=(\d+) unsent=(\d+)")


from proc import free_port, rss_kib, cpu_ticks, children_of


def loadavg():
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def pct(values, p):
    v = sorted(values)
    if not v:
        return None
    k = max(0, min(len(v) - 1, int(round(p / 100 * (len(v) - 1)))))
    return v[k]


def stamp_secs(stamp):
    """Salt's `_stamp` (ISO 8601, UTC, no offset) as Unix seconds."""
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=timezone.utc).timestamp()


def split_event(line):
    """(tag, json text) of one line of `brine-run state.event`: Salt prints
    `tag<TAB>{json}`; a whole-JSON line {"tag", "data"} is read too."""
    line = line.rstrip("\n")
    if line.startswith("{"):
        try:
            obj = json.loads(line)
            return obj.get("tag", ""), obj.get("data")
        except ValueError:
            return "", None
    parts = line.split(None, 1)
    if not parts:
        return "", None
    return parts[0], parts[1] if len(parts) > 1 else ""


MISSED_LINE = re.compile(r"(\d+) events were dropped before this reader got them")


def missed_in(line):
    """The count of an EventsMissed report (brine-run prints them on
    stderr), if `line` is one."""
    m = MISSED_LINE.search(line)
    return int(m.group(1)) if m else None


class Consumer:
    """`brine-run state.event`, its stdout read by a thread: lines counted
    per tag, missed reports (on its stderr) summed, a sample of lines kept for latency and
    every line whose tag a phase asks for kept whole."""

    def __init__(self, argv, log):
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     bufsize=1 << 16)
        self.lock = threading.Lock()
        self.counts = {}
        self.missed = 0
        self.lines = 0
        self.sample_every = 50
        self.samples = []        # (tag, json text, time read)
        self.keep = ()           # tag prefixes kept whole
        self.kept = []           # (tag, json text, time read)
        self.log = log
        threading.Thread(target=self.read_out, daemon=True).start()
        threading.Thread(target=self.read_err, daemon=True).start()

    def read_out(self):
        for line in self.proc.stdout:
            now = time.time()
            with self.lock:
                self.lines += 1
                tag, rest = split_event(line)
                self.counts[tag] = self.counts.get(tag, 0) + 1
                if self.lines % self.sample_every == 0:
                    self.samples.append((tag, rest, now))
                if self.keep and tag.startswith(self.keep):
                    self.kept.append((tag, rest, now))

    def read_err(self):
        for line in self.proc.stderr:
            m = missed_in(line)
            with self.lock:
                if m is not None:
                    self.missed += m
            self.log.write(line)
            self.log.flush()

    def count(self, tag):
        with self.lock:
            return self.counts.get(tag, 0)

    def count_prefix(self, prefix):
        with self.lock:
            return sum(n for t, n in self.counts.items() if t.startswith(prefix))

    def take_samples(self):
        with self.lock:
            s, self.samples = self.samples, []
            return s

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Swarm:
    """A brine-swarm whose stderr is read for its event counts."""

    def __init__(self, argv, log):
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.PIPE, text=True,
                                     start_new_session=True)
        self.lock = threading.Lock()
        self.per_pid = {}        # pid -> (sent, beacons, unsent)
        self.reports = []        # (time, sent, beacons, unsent) totals
        self.log = log
        threading.Thread(target=self.read_err, daemon=True).start()

    def read_err(self):
        for line in self.proc.stderr:
            m = SWARM_LINE.search(line)
            if not m:
                self.log.write(line)
                self.log.flush()
                continue
            with self.lock:
                self.per_pid[m.group(1)] = tuple(int(x) for x in m.groups()[1:])
                tot = [sum(v[i] for v in self.per_pid.values()) for i in range(3)]
                self.reports.append((time.monotonic(), *tot))

    def totals(self):
        with self.lock:
            return tuple(sum(v[i] for v in self.per_pid.values()) for i in range(3))

    def rate_between(self, t0, t1, col=1):
        """Per second of column `col` (1 sent, 2 beacons) between the
        reports nearest t0 and t1."""
        with self.lock:
            r = [x for x in self.reports if t0 - 3 <= x[0] <= t1 + 3]
        if len(r) < 2 or r[-1][0] <= r[0][0]:
            return None
        return (r[-1][col] - r[0][col]) / (r[-1][0] - r[0][0])

    def pids(self):
        return [self.proc.pid] + children_of(self.proc.pid)

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        time.sleep(0.5)  # the reader thread sees the final counts


class Bench:
    def __init__(self, a):
        self.a = a
        self.work = tempfile.mkdtemp(prefix="brine-events-")
        self.shm = tempfile.mkdtemp(prefix="brine-events-", dir="/dev/shm")
        self.pub, self.ret = free_port(), free_port()
        self.mroot = os.path.join(self.work, "master")
        self.mconf = os.path.join(self.mroot, "conf")
        os.makedirs(self.mconf)
        react = os.path.join(self.mroot, "reactor", "react.sls")
        os.makedirs(os.path.dirname(react))
        with open(react, "w") as f:
            f.write("ping:\n  local.test.ping:\n    - tgt: \"{{ data['id'] }}\"\n")
        extra = ""
        if a.event_rate_limit is not None:
            extra += f"minion_event_rate: {a.event_rate_limit}\n"
        with open(os.path.join(self.mconf, "master"), "w") as f:
            f.write(f"id: bench-master\ninterface: 127.0.0.1\npublish_port: {self.pub}\n"
                    f"ret_port: {self.ret}\nroot_dir: {self.mroot}\nauto_accept: True\n"
                    f"timeout: 60\nreactor:\n  - 'bench/react':\n    - {react}\n" + extra)
        self.sconf = os.path.join(self.work, "swarm")
        os.makedirs(self.sconf)
        with open(os.path.join(self.sconf, "minion"), "w") as f:
            f.write(f"master: 127.0.0.1\nmaster_port: {self.ret}\npublish_port: {self.pub}\n"
                    f"root_dir: {self.shm}/root\nacceptance_wait_time: 1\n"
                    "acceptance_wait_time_max: 5\n")
        self.logs = open(os.path.join(self.work, "bench.log"), "a")
        self.master = None
        self.swarm = None
        self.consumer = None
        self.results = {}

    def bin(self, name):
        return os.path.join(self.a.bindir, name)

    def start_master(self):
        self.master = subprocess.Popen([self.bin("brine-master"), "-c", self.mconf, "-l", "warning"],
                                       stdout=self.logs, stderr=self.logs)
        sock = os.path.join(self.mroot, "var/run/brine/master/master.sock")
        for _ in range(200):
            if os.path.exists(sock):
                return
            time.sleep(0.05)
        sys.exit(f"bench: the master did not start; see {self.logs.name}")

    def master_pids(self):
        return [self.master.pid] + children_of(self.master.pid)

    def master_rss_mib(self):
        return round(sum(rss_kib(p) for p in self.master_pids()) / 1024, 1)

    def master_ticks(self):
        return sum(cpu_ticks(p) for p in self.master_pids())

    def start_consumer(self):
        self.consumer = Consumer([self.bin("brine-run"), "-c", self.mconf, "state.event"], self.logs)
        time.sleep(1)
        if self.consumer.proc.poll() is not None:
            sys.exit(f"bench: `brine-run state.event` ended at once (rc {self.consumer.proc.returncode}); "
                     f"see {self.logs.name}")

    def start_swarm(self, *extra):
        argv = [self.bin("brine-swarm"), "-c", self.sconf, "--count", str(self.a.count),
                "--id-prefix", "bench-", "--source-net", "127.4.0.1", *extra]
        self.swarm = Swarm(argv, self.logs)

    def stop_swarm(self):
        if self.swarm:
            self.swarm.stop()

    def drain(self):
        """After the swarm stopped: until the consumer has read nothing new
        (no event, no missed report) for --drain seconds (at most 60 s), so
        that events still on their way are not counted as lost."""
        t0, last, quiet_since = time.monotonic(), None, time.monotonic()
        while time.monotonic() - t0 < 60:
            with self.consumer.lock:
                now = (self.consumer.lines, self.consumer.missed)
            if now != last:
                last, quiet_since = now, time.monotonic()
            elif time.monotonic() - quiet_since >= self.a.drain:
                return
            time.sleep(0.2)

    def ping_all(self, limit):
        """Seconds until every minion answered test.ping, None past `limit`."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < limit:
            p = subprocess.run([self.bin("brine"), "-c", self.mconf, "-t", "5", "--out", "json", "--static",
                                "bench-*", "test.ping"], capture_output=True, text=True)
            try:
                data = json.loads(p.stdout) if p.stdout.strip() else {}
            except ValueError:
                data = {}
            if sum(1 for v in data.values() if v is True) == self.a.count:
                return time.monotonic() - t0
            time.sleep(1)
        return None

    def wait_sending(self, limit=120):
        """Until every swarm process reported and the count grows."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < limit:
            if self.swarm.proc.poll() is not None:
                sys.exit(f"bench: brine-swarm ended; see {self.logs.name}")
            s = self.swarm.totals()
            if s[0] + s[1] > 0:
                return
            time.sleep(0.5)
        sys.exit("bench: the swarm sent nothing")

    def enroll(self):
        """First start: keys made and accepted, so the phases start with
        keys in hand."""
        self.start_swarm()
        took = self.ping_all(self.a.connect_limit)
        self.stop_swarm()
        if took is None:
            sys.exit(f"bench: not every minion answered within {self.a.connect_limit} s")
        print(f"# enrolled {self.a.count} minions, all answering in {took:.1f} s", flush=True)
        self.results["enroll_s"] = round(took, 1)

    # -- phases --------------------------------------------------------

    def throughput(self):
        a = self.a
        rows = []
        print("\n## throughput: events through the bus to one consumer", flush=True)
        print(f"| rate/minion | offered ev/s | delivered ev/s | latency p50 / p99 ms | missed (reported) "
              f"| lost unreported | sent / delivered (phase) | unsent | master CPU % | swarm / consumer / bench CPU % "
              f"| master RSS MiB | load |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for rate in a.rates:
            tag = f"bench/event/r{rate:g}"
            missed0 = self.consumer.missed
            self.start_swarm("--event-rate", str(rate), "--event-tag", tag)
            self.wait_sending()
            time.sleep(a.settle)
            self.consumer.take_samples()
            others = {"swarm": self.swarm.pids(), "consumer": [self.consumer.proc.pid], "bench": [os.getpid()]}
            t0, c0, cpu0 = time.monotonic(), self.consumer.count(tag), self.master_ticks()
            other0 = {k: sum(cpu_ticks(p) for p in v) for k, v in others.items()}
            time.sleep(a.window)
            t1, c1, cpu1 = time.monotonic(), self.consumer.count(tag), self.master_ticks()
            other_pct = {k: round(100 * (sum(cpu_ticks(p) for p in v) - other0[k]) / TICK / (t1 - t0))
                         for k, v in others.items()}
            rss, load = self.master_rss_mib(), loadavg()
            lat = [(now - json.loads(rest)["data"]["sent_at"]) * 1000
                   for t, rest, now in self.consumer.take_samples() if t == tag and rest]
            self.stop_swarm()
            self.drain()
            sent, _, unsent = self.swarm.totals()
            delivered_all = self.consumer.count(tag)
            missed = self.consumer.missed - missed0
            offered = self.swarm.rate_between(t0, t1)
            row = {"rate_per_minion": rate, "offered_per_s": round(offered) if offered else None,
                   "delivered_per_s": round((c1 - c0) / (t1 - t0)),
                   "latency_ms_p50": round(pct(lat, 50), 1) if lat else None,
                   "latency_ms_p99": round(pct(lat, 99), 1) if lat else None,
                   "missed_reported": missed, "lost_unreported": max(0, sent - delivered_all - missed),
                   "sent": sent, "delivered": delivered_all, "unsent": unsent,
                   "master_cpu_pct": round(100 * (cpu1 - cpu0) / TICK / (t1 - t0), 1),
                   "master_rss_mib": rss, "load1": load,
                   **{f"{k}_cpu_pct": v for k, v in other_pct.items()}}
            rows.append(row)
            print(f"| {rate:g} | {row['offered_per_s']} | {row['delivered_per_s']} | "
                  f"{row['latency_ms_p50']} / {row['latency_ms_p99']} | {missed} | {row['lost_unreported']} | "
                  f"{sent} / {delivered_all} | {unsent} | {row['master_cpu_pct']} | {other_pct['swarm']} / "
                  f"{other_pct['consumer']} / {other_pct['bench']} | {rss} | {load} |", flush=True)
        self.results["throughput"] = rows

    def reactor(self):
        a = self.a
        print("\n## reactor: event `_stamp` to `brine/job/<jid>/new` `_stamp`", flush=True)
        with self.consumer.lock:
            self.consumer.keep = ("bench/react", "brine/job/")
            self.consumer.kept = []
        self.start_swarm("--event-rate", str(a.react_rate), "--event-tag", "bench/react")
        self.wait_sending()
        time.sleep(a.react_window)
        self.stop_swarm()
        self.drain()
        with self.consumer.lock:
            kept, self.consumer.kept, self.consumer.keep = self.consumer.kept, [], ()
        events, jobs = [], []
        for tag, rest, _ in kept:
            try:
                data = json.loads(rest)
            except (ValueError, TypeError):
                continue
            if tag == "bench/react":
                events.append((stamp_secs(data["_stamp"]), data.get("id")))
            elif tag.endswith("/new") and data.get("fun") == "test.ping":
                jobs.append((stamp_secs(data["_stamp"]), data.get("tgt")))
        # each event's reaction: the first later job on the same minion
        # that no earlier event took
        jobs.sort()
        used = set()
        lat = []
        for stamp, mid in sorted(events):
            for i, (js, tgt) in enumerate(jobs):
                if i not in used and tgt == mid and js >= stamp:
                    used.add(i)
                    lat.append((js - stamp) * 1000)
                    break
        row = {"events": len(events), "jobs": len(jobs), "reacted": len(lat), "load1": loadavg()}
        if not lat:
            row["result"] = "reactor not available"
            print(f"reactor not available: {len(events)} bench/react events, no brine/job/*/new "
                  f"(test.ping to the sender) followed", flush=True)
        else:
            row.update(p50_ms=round(pct(lat, 50), 2), p99_ms=round(pct(lat, 99), 2), max_ms=round(max(lat), 2))
            print("| events | reactions matched | p50 ms | p99 ms | max ms | load |")
            print("|---|---|---|---|---|---|")
            print(f"| {len(events)} | {len(lat)} | {row['p50_ms']} | {row['p99_ms']} | {row['max_ms']} | "
                  f"{row['load1']} |", flush=True)
        self.results["reactor"] = row

    def memory(self):
        a = self.a
        print(f"\n## memory: flapping beacon on {a.count} minions for {a.duration:g} s", flush=True)
        print("| t s | master RSS MiB | beacon events delivered | ev/s (last 10 s) | missed (reported) | load |")
        print("|---|---|---|---|---|---|")
        tag = "brine/beacon/"
        missed0, base = self.consumer.missed, self.consumer.count_prefix(tag)
        rows = [{"t": 0, "master_rss_mib": self.master_rss_mib(), "delivered": 0, "load1": loadavg()}]
        self.start_swarm("--flap-beacon", "--beacon-interval", str(a.beacon_interval))
        self.wait_sending()
        t0 = time.monotonic()
        last = (t0, 0)
        print(f"| before | {rows[0]['master_rss_mib']} | 0 | | | {rows[0]['load1']} |", flush=True)
        while time.monotonic() - t0 < a.duration:
            time.sleep(max(0.0, t0 + 10 * len(rows) - time.monotonic()))
            now = time.monotonic()
            d = self.consumer.count_prefix(tag) - base
            r = {"t": round(now - t0), "master_rss_mib": self.master_rss_mib(), "delivered": d,
                 "per_s": round((d - last[1]) / (now - last[0])), "missed": self.consumer.missed - missed0,
                 "load1": loadavg()}
            last = (now, d)
            rows.append(r)
            print(f"| {r['t']} | {r['master_rss_mib']} | {d} | {r['per_s']} | {r['missed']} | {r['load1']} |",
                  flush=True)
        self.stop_swarm()
        self.drain()
        _, beacons, unsent = self.swarm.totals()
        delivered = self.consumer.count_prefix(tag) - base
        missed = self.consumer.missed - missed0
        rss = [r["master_rss_mib"] for r in rows[1:]]
        summary = {"sent": beacons, "delivered": delivered, "missed_reported": missed, "unsent": unsent,
                   "lost_unreported": max(0, beacons - delivered - missed),
                   "rss_min_mib": min(rss) if rss else None, "rss_max_mib": max(rss) if rss else None,
                   "rss_last_mib": rss[-1] if rss else None, "rss_after_stop_mib": self.master_rss_mib()}
        print(f"beacon events sent {beacons}, delivered {delivered}, missed (reported) {missed}, "
              f"lost unreported {summary['lost_unreported']}, unsent {unsent}; master RSS "
              f"{summary['rss_min_mib']}..{summary['rss_max_mib']} MiB, last {summary['rss_last_mib']}, "
              f"after the swarm stopped {summary['rss_after_stop_mib']}", flush=True)
        self.results["memory"] = {"samples": rows, **summary}

    def run(self):
        self.start_master()
        self.enroll()
        self.start_consumer()
        if "throughput" in self.a.phases:
            self.throughput()
        if "reactor" in self.a.phases:
            self.reactor()
        if "memory" in self.a.phases:
            self.memory()

    def stop(self):
        self.stop_swarm()
        if self.consumer:
            self.consumer.stop()
        if self.master:
            self.master.send_signal(signal.SIGTERM)
            try:
                self.master.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.master.kill()
        shutil.rmtree(self.shm, ignore_errors=True)
        if not self.a.keep:
            shutil.rmtree(self.work, ignore_errors=True)
        else:
            print(f"# kept: {self.work}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bindir", default=os.path.join(
        os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release"))
    ap.add_argument("--count", type=int, default=1000, help="minions (default 1000)")
    ap.add_argument("--phases", default="throughput,reactor,memory")
    ap.add_argument("--rates", default="1,5,10,20",
                    help="events per second per minion, one throughput row each")
    ap.add_argument("--settle", type=float, default=10, help="seconds sending before a window")
    ap.add_argument("--window", type=float, default=30, help="seconds measured per rate")
    ap.add_argument("--drain", type=float, default=3, help="seconds without a new event that end a phase after the swarm stops")
    ap.add_argument("--react-rate", type=float, default=0.01,
                    help="bench/react events per second per minion (each starts a job)")
    ap.add_argument("--react-window", type=float, default=30)
    ap.add_argument("--duration", type=float, default=600, help="seconds of the memory run")
    ap.add_argument("--beacon-interval", type=float, default=1.0)
    ap.add_argument("--event-rate-limit", type=float, default=None,
                    help="the master's minion_event_rate (default: the master's default)")
    ap.add_argument("--connect-limit", type=float, default=180)
    ap.add_argument("--json", default=None, help="also write the results here")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    a = ap.parse_args()
    a.rates = [float(r) for r in a.rates.split(",") if r]
    a.phases = set(a.phases.split(","))
    for b in ("brine-master", "brine-swarm", "brine", "brine-run"):
        if not os.path.exists(os.path.join(a.bindir, b)):
            sys.exit(f"bench: {a.bindir}/{b} missing: cargo build --release -p brine-cli --bins")
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    print(f"# brine events bench, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, commit {commit}, "
          f"{os.cpu_count()} cores, load {loadavg()}, {a.count} minions, bindir {a.bindir}", flush=True)
    b = Bench(a)
    try:
        b.run()
    finally:
        b.stop()
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "commit": commit,
                       "machine": {"nproc": os.cpu_count(), "kernel": platform.release()},
                       "args": {k: (sorted(v) if isinstance(v, set) else v) for k, v in vars(a).items()},
                       **b.results}, f, indent=2)
        print(f"# written: {a.json}")


if __name__ == "__main__":
    main()
