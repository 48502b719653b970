#!/bin/sh
# demo.sh BUILD_DIR - a broker and three agents on this machine, driven
# through the CLI: status, tasks spread over the nodes, a crash with the
# failover and the re-routing of the crashed node's task, a hang detected by
# the heartbeat timeout, recovery.  Everything it starts it stops, and its
# temporary folder is removed, however it ends.
set -eu

bin=$(cd "${1:-build}/bin" && pwd)
conf_src=$(cd "$(dirname "$0")/../broker-config" && pwd)/dev.conf
tmp=$(mktemp -d "${TMPDIR:-/tmp}/distribux-demo.XXXXXX")
pids=""

cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    for p in $pids; do wait "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# A free loopback port: let mosquitto try a few at random.
for try in 1 2 3 4 5 6 7 8; do
    port=$(( 20000 + $(od -An -N2 -tu2 /dev/urandom) % 40000 ))
    sed -e "s/^listener 1883 127.0.0.1/listener $port 127.0.0.1/" \
        -e "s|^persistence_location .*|persistence_location $tmp/|" \
        "$conf_src" > "$tmp/mosquitto.conf"
    mosquitto -c "$tmp/mosquitto.conf" > "$tmp/broker.log" 2>&1 &
    bpid=$!
    ok=""
    for i in $(seq 50); do
        if mosquitto_pub -h 127.0.0.1 -p "$port" -t distribux/ping -n 2>/dev/null; then
            ok=1; break
        fi
        kill -0 "$bpid" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$ok" ] && break
    kill "$bpid" 2>/dev/null || true
done
[ -n "$ok" ] || { echo "demo: could not start mosquitto" >&2; exit 1; }
pids="$bpid"
broker="tcp://127.0.0.1:$port"
export DX_BROKER="$broker" DX_CLUSTER=demo
dx() { echo "\$ distribux $*"; "$bin/distribux" "$@"; }

say "Mosquitto on $broker; starting three agents"
for id in 1 2 3; do
    "$bin/distribux-agent" --id "$id" --name "press-$id" --broker "$broker" \
        --cluster demo --data-dir "$tmp/node$id" > "$tmp/node$id.log" 2>&1 &
    pids="$pids $!"
done
sleep 2
"$bin/distribux" events > "$tmp/events.log" 2>&1 &
pids="$pids $!"
sleep 0.3

say "The cluster"
dx status

say "Three tasks of 4 s each: the leader spreads them over the nodes"
dx submit --kind sleep --ms 4000 --count 3
sleep 0.5
dx tasks

say "Node 3, the leader, crashes (the broker fires its will); its task is re-routed"
dx fail 3
sleep 1
dx status
dx tasks

say "Node 2 hangs: its socket stays open, its heartbeats stop"
dx hang 2 --for 3
sleep 1.5
dx status

say "Both come back; the highest id leads again (Bully), with a new term"
dx recover 3
sleep 3
dx status

say "Every task finished exactly once"
dx tasks

say "What the cluster reported on ${DX_CLUSTER}'s events topic"
cat "$tmp/events.log"
