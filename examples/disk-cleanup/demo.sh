#!/usr/bin/env bash
# The disk clean-up example, end to end on one machine: a master and a
# minion on loopback under a temporary root, the minion's diskusage beacon
# set below the current usage of / so that it crosses on its first check,
# the reactor applying the clean-up state on that minion (it deletes an
# old file from a scratch directory, nothing else) and sending the alert
# to a webhook this script runs. Prints the events, the alert and the
# state's result, then stops everything it started (by PID).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

source examples/lib.sh
demo_setup disk-demo
pub=$(free_port); ret=$(free_port); hook=$(free_port)

# The webhook: prints each alert it receives and writes it to alerts.log.
python3 - "$hook" "$dir/alerts.log" <<'PY' &
import http.server, sys
port, out = int(sys.argv[1]), sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        open(out, "ab").write(body + b"\n")
        self.send_response(200); self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
PY
pids+=($!)

mkdir -p "$dir/srv/reactor" "$dir/master/conf" "$dir/scratch"
cp examples/disk-cleanup/reactor/disk-cleanup.sls "$dir/srv/reactor/"
cp examples/disk-cleanup/states/disk-cleanup.sls "$dir/srv/"
# An old file the clean-up must remove, and a new one it must keep.
touch -d '10 days ago' "$dir/scratch/old.log"; touch "$dir/scratch/new.log"
sed -e "s#http://127.0.0.1:9000/alerts#http://127.0.0.1:$hook/alerts#" \
    -e "s#/etc/brine/alert.json.j2#$PWD/examples/disk-cleanup/alert.json.j2#" \
    examples/disk-cleanup/master.conf > "$dir/master/conf/master"
cat >> "$dir/master/conf/master" <<YAML
id: demo-master
interface: 127.0.0.1
publish_port: $pub
ret_port: $ret
root_dir: $dir/master
auto_accept: true
file_roots:
  base:
    - $dir/srv
YAML
"$bin/brine-master" -c "$dir/master/conf" -l info 2> "$dir/master.log" &
pids+=($!)
until [ -S "$dir/master/var/run/brine/master/master.sock" ]; do sleep 0.2; done

"$bin/brine-run" -c "$dir/master/conf" state.event 'brine/*' > "$dir/events.log" &
pids+=($!)

used=$(df --output=pcent / | tail -1 | tr -dc 0-9)
threshold=$(( used > 1 ? used - 1 : 0 ))
mkdir -p "$dir/web1/conf"
cat > "$dir/web1/conf/minion" <<YAML
id: web1
master: 127.0.0.1
master_port: $ret
publish_port: $pub
root_dir: $dir/web1
acceptance_wait_time: 1
grains:
  owner: team-web
  appcode: SHOP
  cleanup_dirs: [$dir/scratch]
  cleanup_system: false
beacons:
  diskusage:
    - '/': '${threshold}%'
    - interval: 2
YAML
echo "==> / is ${used}% used; web1's diskusage beacon fires above ${threshold}%"
"$bin/brine-minion" -c "$dir/web1/conf" -l info 2> "$dir/web1.log" &
pids+=($!)

echo "==> waiting for the beacon, the reaction and the alert"
for _ in $(seq 1 120); do
    if [ -s "$dir/alerts.log" ] && [ ! -e "$dir/scratch/old.log" ]; then break; fi
    sleep 0.5
done
echo "--- events on the master's bus (beacon, reaction's job) ---"
grep -E 'brine/beacon/|brine/job/.*/(new|ret)' "$dir/events.log" | cut -c1-240 || true
echo "--- the alert the webhook received ---"
cat "$dir/alerts.log" 2>/dev/null || echo "(none)"
echo "--- the scratch directory after the clean-up ---"
ls "$dir/scratch"
if [ -s "$dir/alerts.log" ] && [ ! -e "$dir/scratch/old.log" ] && [ -e "$dir/scratch/new.log" ]; then
    echo "==> OK: the beacon crossed, the reactor cleaned web1 and sent the alert"
else
    echo "==> FAILED; the master's log:" >&2; tail -30 "$dir/master.log" >&2; exit 1
fi
