#!/usr/bin/env bash
# Benchmarks chat servers with chat-bench, one server at a time: idle connections first (so the
# RSS "before" is a fresh process), then fan-out shape a (1 room x 500 clients, 10 senders,
# 100 msg/s), shape b (1000 rooms x 10 clients, 1 sender each, 1000 msg/s), and a short ramp.
# The server is pinned to CPU 0 and the generator to CPU 1; every run is under `timeout`, and
# only 127.0.0.1 is ever targeted.
#
# usage: bench/run.sh [NAME...]     NAME: go-gorilla | node-ws | bun | deno | server
#                                   (default: go-gorilla node-ws)
# env:   OUT=DIR          results (default bench/results/<UTC time>): one JSON line per run,
#                         commands.txt, the ramp SVGs, server logs
#        SERVER_CMD=CMD   how to start our server for NAME "server", in the foreground on
#                         127.0.0.1:$PORT (PORT is exported), e.g.
#                         SERVER_CMD='target/release/chat-server --listen 127.0.0.1:$PORT'
#        PEERS=DIR        the reference peers (default ../shared/peers beside the repo)
#        QUICK=1          shorter runs (smoke test of the script itself)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
peers="${PEERS:-$root/../shared/peers}"
out="${OUT:-$root/bench/results/$(date -u +%Y%m%dT%H%M%SZ)}"
bench="$root/target/release/chat-bench"
names=("$@")
((${#names[@]})) || names=(go-gorilla node-ws)

if [[ -n "${QUICK:-}" ]]; then
  dur=3 warm=1 step=2 steps=4 conns=2000
else
  dur=10 warm=2 step=5 steps=12 conns=10000
fi

log() { echo "run.sh: $*" >&2; }

mkdir -p "$out"
log "building chat-bench"
(cd "$root" && cargo build --release -q -p chat-bench)

server_pid=""
stop_server() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$server_pid" 2>/dev/null || true
  fi
  server_pid=""
}
trap stop_server EXIT

# start_server NAME PORT: starts it pinned to CPU 0 and waits until the port accepts.
start_server() {
  local name="$1" port="$2"
  if [[ "$name" == server ]]; then
    [[ -n "${SERVER_CMD:-}" ]] || { log "NAME server needs SERVER_CMD"; return 1; }
    PORT="$port" taskset -c 0 bash -c "exec $SERVER_CMD" >"$out/$name.server.log" 2>&1 &
  else
    taskset -c 0 "$peers/run.sh" "$name" "$port" >"$out/$name.server.log" 2>&1 &
  fi
  server_pid=$!
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  log "$name did not start listening on $port (see $out/$name.server.log)"
  return 1
}

# run NAME SCENARIO TIMEOUT ARGS...: one chat-bench run, its JSON line kept.
run() {
  local name="$1" scenario="$2" limit="$3"
  shift 3
  local cmd=(taskset -c 1 "$bench" "$@" --pid "$server_pid" --json --quiet)
  echo "timeout $limit ${cmd[*]}" >>"$out/commands.txt"
  log "$name $scenario"
  if ! timeout "$limit" "${cmd[@]}" >"$out/$name.$scenario.json"; then
    log "$name $scenario failed or timed out"
  fi
}

port=9180
for name in "${names[@]}"; do
  port=$((port + 1))
  url="ws://127.0.0.1:$port/ws"
  start_server "$name" "$port" || continue
  run "$name" idle 180 idle --url "$url" --conns "$conns" --rooms 100
  run "$name" fanout-a 120 fanout --url "$url" --rooms 1 --clients 500 --senders 10 \
    --rate 100 --size 100 --warmup "$warm" --duration "$dur"
  run "$name" fanout-b 180 fanout --url "$url" --rooms 1000 --clients 10 --senders 1 \
    --rate 1000 --size 100 --warmup "$warm" --duration "$dur"
  run "$name" ramp 600 ramp --url "$url" --rooms 1 --clients 500 --senders 10 --size 100 \
    --start 50 --factor 1.3 --step-secs "$step" --max-steps "$steps" --p99-ms 50 \
    --svg "$out/$name.ramp.svg"
  stop_server
done

python3 "$root/bench/summary.py" "$out"
log "results in $out"
