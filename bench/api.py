#!/usr/bin/env python3
"""The CMDB over the HTTP API at fleet size: one master with its API on,
a brine-swarm of 10,000 minions in its inventory, on SQLite and then on
PostgreSQL (a throwaway server, as bench/cluster.py starts one).

Needs the release binaries (`cargo build --release -p brine-cli`) and, for
the PostgreSQL run, Debian's PostgreSQL. Python 3 stdlib only; the client
trusts only the master's CA (ca.crt), as a real one would.

Measured, per store:
  latency      sequential requests on one keep-alive HTTPS connection,
               --requests each (default 200): p50/p90/p99/max and the
               response size, for
                 GET /minions                          the whole list
                 GET /minions?tgt=G@role:web           a compound filter
                 GET /inventory/query                  compound target,
                     fields=id,osrelease,mem_total,ipv4
                 ... &group_by=osrelease               counts
                 ... &format=csv                       CSV export
  cli          `brine-run inventory.query ... --out table`: wall time,
               --cli-runs times (process start, login over the socket,
               the runner, the table)
  history      --hours (default 24) "hours" of grain changes on every minion: each round is
               one fleet-wide `grains.setvals` job changing app_version,
               kernelrelease and a deploy id (as a deploy and a kernel
               update would), which the minions send to the master as
               their new grains. Then the history table's size on disk
               (SQLite: dbstat pages of the table and its indexes;
               PostgreSQL: pg_total_relation_size) divided by the fleet:
               bytes per minion per day, and rows per minion (with
               fewer than 24 hours: the measured bytes per change times
               24 changes a day).
"""
import argparse
import http.client
import json
import os
import sqlite3
import ssl
import statistics
import subprocess
import sys
import time
import urllib.parse

import cluster
import scale

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PASSWORD = "bench-admin-pw"
COMPOUND = "G@role:web and bench-0[0-4]*"
FIELDS = "id,osrelease,mem_total,ipv4"


def load():
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


class ApiBench(scale.Bench):
    def __init__(self, a, store_url=None):
        super().__init__(a)
        self.api_port = scale.free_port()
        hashed = subprocess.run([self.bin("brine-master"), "--hash-password"], input=PASSWORD + "\n",
                                capture_output=True, text=True, check=True).stdout.strip()
        with open(os.path.join(self.mconf, "master"), "a") as f:
            f.write(f"api_port: {self.api_port}\napi_users:\n  bench:\n"
                    f"    password_hash: '{hashed}'\n    admin: true\n")
            if store_url:
                f.write(f"store: {store_url}\n")
        self.conn = None
        self.token = None

    # ---- HTTPS ------------------------------------------------------------------
    def connect(self):
        ca = None
        for d, _, files in os.walk(self.mroot):
            if "ca.crt" in files:
                ca = os.path.join(d, "ca.crt")
                break
        if not ca:
            sys.exit("bench: no ca.crt under the master's root")
        ctx = ssl.create_default_context(cafile=ca)
        self.conn = http.client.HTTPSConnection("127.0.0.1", self.api_port, context=ctx, timeout=120)

    def request(self, method, path, body=None):
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=json.dumps(body) if body is not None else None,
                                  headers=headers)
                resp = self.conn.getresponse()
                return resp.status, resp.read()
            except (http.client.HTTPException, ConnectionError):
                if attempt:
                    raise
                self.connect()

    def login(self):
        for _ in range(100):
            try:
                code, body = self.request("POST", "/login", {"username": "bench", "password": PASSWORD})
                if code == 200:
                    self.token = json.loads(body)["token"]
                    return
            except (OSError, http.client.HTTPException):
                self.connect()
            time.sleep(0.2)
        sys.exit("bench: could not log in to the API")

    def get_json(self, path):
        code, body = self.request("GET", path)
        if code != 200:
            sys.exit(f"bench: GET {path}: {code} {body[:300]!r}")
        return json.loads(body)

    # ---- phases -----------------------------------------------------------------
    def wait_inventory(self, n, limit):
        """Until every minion of the fleet has grains in the inventory."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < limit:
            rows = self.get_json("/inventory/query?" + urllib.parse.urlencode({"group_by": "role"}))
            have = sum(r["count"] for r in rows if r.get("role") is not None)
            if have >= n:
                return time.monotonic() - t0
            time.sleep(1)
        return None

    def latency(self, label, path, check):
        times, size = [], 0
        code, body = self.request("GET", path)  # warm: first use of the path
        if code != 200 or not check(body):
            sys.exit(f"bench: {label}: {code} {body[:300]!r}")
        t_cpu = self.master_ticks()
        for _ in range(self.a.requests):
            t0 = time.perf_counter()
            code, body = self.request("GET", path)
            times.append((time.perf_counter() - t0) * 1000)
            if code != 200:
                sys.exit(f"bench: {label}: {code}")
            size = len(body)
        cpu_ms = (self.master_ticks() - t_cpu) / scale.TICK / self.a.requests * 1000
        self.row(label, self.a.count, p50_ms=round(statistics.median(times), 1),
                 p90_ms=round(scale.pct(times, 90), 1), p99_ms=round(scale.pct(times, 99), 1),
                 max_ms=round(max(times), 1), bytes=size, master_cpu_ms_per_req=round(cpu_ms, 1),
                 load=load())

    def cli(self):
        argv = [self.bin("brine-run"), "-c", self.mconf, "inventory.query", COMPOUND,
                f"fields={FIELDS}", "--out", "table"]
        times, lines = [], 0
        for _ in range(self.a.cli_runs):
            t0 = time.perf_counter()
            p = subprocess.run(argv, capture_output=True, text=True)
            times.append((time.perf_counter() - t0) * 1000)
            if p.returncode != 0:
                sys.exit(f"bench: brine-run: {p.stderr[:300]}")
            lines = p.stdout.count("\n")
        self.row("cli-table", self.a.count, p50_ms=round(statistics.median(times), 1),
                 p90_ms=round(scale.pct(times, 90), 1), max_ms=round(max(times), 1),
                 lines=lines, load=load())

    def history_size(self, pg):
        """(bytes, rows) of the history table with its indexes."""
        if pg:
            out = subprocess.run(
                [os.path.join(pg.bin, "psql"), "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres",
                 "-d", "brine", "-At", "-c",
                 "SELECT pg_total_relation_size('grains_history'), count(*) FROM grains_history"],
                capture_output=True, text=True, check=True).stdout.strip()
            size, rows = out.split("|")
            return int(size), int(rows)
        db = None
        for d, _, files in os.walk(self.mroot):
            if "brine.db" in files:
                db = os.path.join(d, "brine.db")
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            size = con.execute("SELECT sum(pgsize) FROM dbstat WHERE name IN "
                               "('grains_history', 'grains_history_id', 'grains_history_at')").fetchone()[0]
            rows = con.execute("SELECT count(*) FROM grains_history").fetchone()[0]
        finally:
            con.close()
        return int(size or 0), rows

    def settle_history(self, pg, want_rows, limit=300):
        """Waits until the history has `want_rows` rows (the writes are queued)."""
        t0 = time.monotonic()
        last = None
        while time.monotonic() - t0 < limit:
            size, rows = self.history_size(pg)
            if rows >= want_rows or (last == rows and rows and time.monotonic() - t0 > 30):
                return size, rows
            last = rows
            time.sleep(2)
        return self.history_size(pg)

    def history(self, pg):
        n = self.a.count
        size0, rows0 = self.settle_history(pg, n)
        t0 = time.monotonic()
        ok_rounds = 0
        hours = self.a.hours
        for hour in range(hours):
            grains = {"app_version": f"2.{hour}.0", "kernelrelease": f"6.1.0-{hour + 10}-amd64",
                      "deploy_id": f"d-{1000 + hour}"}
            _, data = self.brine("*", "grains.setvals", json.dumps(grains), timeout=300)
            got = self.returned(data, lambda v: isinstance(v, dict))
            ok_rounds += got == n
            print(f"# hour {hour}: {got}/{n} minions set their grains", flush=True)
        took = time.monotonic() - t0
        size1, rows1 = self.settle_history(pg, rows0 + hours * n)
        rows = rows1 - rows0
        per_row = (size1 - size0) / max(1, rows)
        # a day is 24 hourly changes: what one change costs, times 24
        # (exactly the measured size when --hours 24)
        self.row("history", n, rounds=hours, full_rounds=ok_rounds, secs_per_round=round(took / hours, 1),
                 rows_per_minion=round(rows / n, 2), bytes_per_row=round(per_row),
                 bytes_per_minion_day=round(per_row * 24 * rows / max(1, hours * n)),
                 first_report_bytes_per_minion=round(size0 / n))

    def profile(self, out):
        """perf record of the master while it answers GET /minions and a
        compound query, --requests of each (for finding what is slow)."""
        perf = subprocess.Popen(["perf", "record", "-F", "499", "--call-graph", "dwarf,16384", "-o", out, "-p",
                                 ",".join(str(p) for p in self.master_pids())],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
        q = urllib.parse.urlencode({"tgt": COMPOUND, "fields": FIELDS})
        for _ in range(self.a.requests):
            self.request("GET", "/minions")
            self.request("GET", "/inventory/query?" + q)
        perf.send_signal(2)
        perf.wait()
        print(f"# perf data: {out}", flush=True)

    def run_store(self, pg):
        a = self.a
        n = a.count
        self.start_master()
        self.start_swarm(n)
        self.connect()
        self.login()
        took = self.wait_inventory(n, a.enroll_limit)
        if took is None:
            sys.exit("bench: not every minion reached the inventory")
        self.row("inventory", n, all_in_s=round(took, 1), master_rss_mib=round(self.master_rss() / 1024))
        if a.profile:
            self.profile(a.profile)
            return
        ok_rows = lambda want: lambda b: len(json.loads(b)) == want
        web = sum(1 for i in range(n) if i % 3 == 0)
        sel = sum(1 for i in range(n) if i % 3 == 0 and i < 5000)
        q = urllib.parse.urlencode
        self.latency("minions", "/minions", ok_rows(n))
        self.latency("minions-web", "/minions?" + q({"tgt": "G@role:web"}), ok_rows(web))
        self.latency("query", "/inventory/query?" + q({"tgt": COMPOUND, "fields": FIELDS}), ok_rows(sel))
        self.latency("query-group", "/inventory/query?" + q({"tgt": COMPOUND, "fields": FIELDS,
                                                              "group_by": "osrelease"}),
                     lambda b: sum(r["count"] for r in json.loads(b)) == sel)
        self.latency("query-csv", "/inventory/query?" + q({"tgt": COMPOUND, "fields": FIELDS, "format": "csv"}),
                     lambda b: b.count(b"\n") == sel + 1)
        if a.page:
            self.latency("minions-page", "/minions?" + q({"limit": a.page, "offset": 5000}), ok_rows(a.page))
        self.cli()
        if not a.no_history:
            self.history(pg)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bindir", default=os.path.join(
        os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release"))
    ap.add_argument("--count", type=int, default=10000, help="fleet size (default 10000)")
    ap.add_argument("--requests", type=int, default=200, help="requests of each kind")
    ap.add_argument("--cli-runs", type=int, default=20)
    ap.add_argument("--enroll-limit", type=float, default=300)
    ap.add_argument("--page", type=int, default=0, help="also GET /minions?limit=PAGE&offset=5000")
    ap.add_argument("--stores", default="sqlite,postgres")
    ap.add_argument("--profile", metavar="PERF_DATA", help="only record a perf profile of the master")
    ap.add_argument("--hours", type=int, default=24, help="rounds of grain changes (one an hour)")
    ap.add_argument("--no-history", action="store_true")
    ap.add_argument("--json", default=os.path.join(HERE, "api-results.json"))
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    a = ap.parse_args()
    for b in ("brine-master", "brine-swarm", "brine", "brine-run"):
        if not os.path.exists(os.path.join(a.bindir, b)):
            sys.exit(f"bench: {a.bindir}/{b} missing: cargo build --release -p brine-cli")
    commit = scale.commit_of(ROOT)
    print(f"# brine API/CMDB bench, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, commit {commit}, "
          f"{os.cpu_count()} cores, fleet {a.count}, load {load()}", flush=True)
    rows = []
    for store in a.stores.split(","):
        print(f"# store: {store}", flush=True)
        pg = cluster.Postgres() if store == "postgres" else None
        b = ApiBench(a, pg.url if pg else None)
        try:
            b.run_store(pg)
        finally:
            b.stop()
            if pg:
                pg.stop()
        rows += [{"store": store, **r} for r in b.rows]
    scale.write_results(a.json, commit, a.count, rows)
    print(f"\n{'store':9} {'what':13} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8} {'bytes':>9}")
    for r in rows:
        if "p50_ms" in r:
            print(f"{r['store']:9} {r['phase']:13} {r['p50_ms']:>8} {r['p90_ms']:>8} {r.get('p99_ms', ''):>8} "
                  f"{r['max_ms']:>8} {r.get('bytes', r.get('lines', '')):>9}")


if __name__ == "__main__":
    main()
