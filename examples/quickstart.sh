#!/usr/bin/env bash
# Brine's main job on one machine: build, start a master and three minions on
# loopback under a temporary root_dir, accept their keys, run commands, a
# grain-targeted job, grains.items and jobs.lookup_jid, apply the example
# state tree (examples/states, pillar from examples/pillar) through the master
# (dry run, real run, converged run) and once masterless with brine-call,
# then stop everything it started (by PID) and remove the directory. States
# write only under the temporary directory (grain srv_root).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

source examples/lib.sh
demo_setup quickstart
pub=$(free_port); ret=$(free_port)

mkdir -p "$dir/master/conf"
cat > "$dir/master/conf/master" <<YAML
id: quickstart-master
interface: 127.0.0.1
publish_port: $pub
ret_port: $ret
root_dir: $dir/master
file_roots:
  base:
    - $PWD/examples/states
pillar_roots:
  base:
    - $PWD/examples/pillar
YAML
"$bin/brine-master" -c "$dir/master/conf" -l info 2> "$dir/master.log" &
pids+=($!)

declare -A roles=([web1]=web [web2]=web [db1]=db)
for id in web1 web2 db1; do
    mkdir -p "$dir/$id/conf"
    cat > "$dir/$id/conf/minion" <<YAML
id: $id
master: 127.0.0.1
master_port: $ret
publish_port: $pub
root_dir: $dir/$id
acceptance_wait_time: 1
grains:
  role: ${roles[$id]}
  owner: team-${roles[$id]}
  srv_root: $dir/$id/srv
YAML
    "$bin/brine-minion" -c "$dir/$id/conf" 2> "$dir/$id.log" &
    pids+=($!)
done

c=(-c "$dir/master/conf")
run() { echo; echo "\$ $*"; "$@"; }

echo "==> waiting for three key requests"
for _ in $(seq 100); do
    n=$("$bin/brine-key" "${c[@]}" -l pre 2>/dev/null | grep -c -E '^(web|db)' || true)
    [[ $n -ge 3 ]] && break
    sleep 0.1
done
run "$bin/brine-key" "${c[@]}" -L
run "$bin/brine-key" "${c[@]}" -A -y
for _ in $(seq 100); do
    "$bin/brine" "${c[@]}" -t 1 '*' test.ping --out json --static 2>/dev/null | grep -q db1 && \
    [[ $("$bin/brine" "${c[@]}" -t 1 '*' test.ping --out txt 2>/dev/null | grep -c True) -ge 3 ]] && break
    sleep 0.1
done

run "$bin/brine" "${c[@]}" '*' test.ping
run "$bin/brine" "${c[@]}" '*' cmd.run 'uptime'
run "$bin/brine" "${c[@]}" -G 'role:web' cmd.run 'echo served by $(hostname)'
run "$bin/brine" "${c[@]}" -C 'G@role:db or web1' grains.item os os_family num_cpus role owner
run "$bin/brine" "${c[@]}" db1 grains.items --out yaml
out=$("$bin/brine" "${c[@]}" --async '*' cmd.run 'echo from the job cache')
echo; echo "\$ brine --async '*' cmd.run 'echo from the job cache'"; echo "$out"
jid=${out##* }
sleep 1
run "$bin/brine-run" "${c[@]}" jobs.lookup_jid "$jid"
run "$bin/brine-run" "${c[@]}" manage.status

echo; echo "==> states: examples/states through the master's file server"
run "$bin/brine" "${c[@]}" '*' state.show_top
run "$bin/brine" "${c[@]}" -G 'role:web' state.apply test=True --state-output=terse
run "$bin/brine" "${c[@]}" '*' state.apply
run "$bin/brine" "${c[@]}" '*' state.apply --state-output=changes
run cat "$dir/web1/srv/etc/site.conf"
run "$bin/brine" "${c[@]}" web1 pillar.get web:port

echo; echo "==> masterless: the same tree with brine-call --local"
mkdir -p "$dir/local/conf"
cat > "$dir/local/conf/minion" <<YAML
id: laptop
root_dir: $dir/local
grains:
  role: db
  srv_root: $dir/local/srv
YAML
run "$bin/brine-call" -c "$dir/local/conf" --local --file-root examples/states \
    --pillar-root examples/pillar state.apply db pillar='{"db": {"max_connections": 50}}'
run cat "$dir/local/srv/etc/db.json"
echo
echo "==> done; stopping the master and minions"
