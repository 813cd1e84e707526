#!/usr/bin/env bash
# The benchmark of docs/BENCHMARKS.md: this server and the reference peers, side by side in one
# run, with the same load generator. Each server is pinned to CPU 0, chat-bench to CPU 1.
#
#   a  fixed load: 1 room x 500 clients, 10 senders, 100 msg/s, 100-byte text (50,000 dlv/s)
#   b  many rooms: 1,000 rooms x 10 clients, 1 sender each, 1,000 msg/s in all
#   c  capacity: ramp on a's room from 50 msg/s, x1.2 per 5 s step, p99 <= 50 ms, loss 0, with
#      the server capped at 25% of a core (cgroup v1 cpu: period 10 ms, quota 2.5 ms); three
#      rounds, servers interleaved, medians compared
#   d  idle: 10,000 connections joined over 100 rooms: RSS per connection, connects per second
#   floor: ../shared/floor, the kernel's cost per delivery, measured after every run of a
#
# usage: bench/run.sh [NAME...]   NAME: server (SQLite history, the default), server-memory,
#                                 bun, node-ws, deno, go-gorilla (default: all of them)
# env:   OUT=DIR    results (default bench/results/<UTC time>)
#        ROUNDS=N   rounds of c (default 3);  QUICK=1: short runs, to test the script
# Every run is bounded by `timeout`; only 127.0.0.1 is targeted.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
peers="${PEERS:-$root/../shared/peers}"
out="${OUT:-$root/bench/results/$(date -u +%Y%m%dT%H%M%SZ)}"
bench="$root/target/release/chat-bench"
names=("$@")
((${#names[@]})) || names=(server server-memory bun node-ws deno go-gorilla)
rounds="${ROUNDS:-3}"
if [[ -n "${QUICK:-}" ]]; then dur=3 warm=1 step=2 conns=2000; else dur=10 warm=2 step=5 conns=10000; fi
cgroup=/sys/fs/cgroup/cpu/chat-bench

log() { echo "run.sh: $*" >&2; }

mkdir -p "$out"
log "building chat-server and chat-bench (release)"
(cd "$root" && cargo build --release --locked -q -p chat-server -p chat-bench)
for name in "${names[@]}"; do
  [[ "$name" == server* ]] && continue
  log "installing the reference peers"; "$peers/setup.sh" >"$out/peers-setup.log" 2>&1; break
done
gcc -O2 -o "$out/floor" "$root/../shared/floor/floor.c"
{ uname -r; nproc; grep -m1 'model name' /proc/cpuinfo; git -C "$root" rev-parse HEAD; } >"$out/machine.txt"

server_pid=""
stop_server() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$server_pid" 2>/dev/null || true
  fi
  server_pid=""
}
trap stop_server EXIT

# start_server NAME PORT: pinned to CPU 0; waits until the port accepts.
start_server() {
  local name="$1" port="$2"
  case "$name" in
    server|server-memory)
      local backend=sqlite; [[ "$name" == server-memory ]] && backend=memory
      rm -rf "$out/data"
      # The defaults a user gets, except the per-connection rate limit (a sender here sends
      # 10 msg/s in a and more in c).
      CHAT__HISTORY__BACKEND=$backend CHAT__HISTORY__PATH="$out/data/chat.db" \
        CHAT__LIMITS__MESSAGES_PER_SEC=1000000 CHAT__LIMITS__BURST=1000000 \
        CHAT__SERVER__MAX_CONNECTIONS=20000 CHAT__LOG__LEVEL=warn \
        taskset -c 0 "$root/target/release/chat-server" --listen "127.0.0.1:$port" \
        >"$out/$name.server.log" 2>&1 &
      ;;
    *) taskset -c 0 "$peers/run.sh" "$name" "$port" >"$out/$name.server.log" 2>&1 & ;;
  esac
  server_pid=$!
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  log "$name did not start listening on $port (see $out/$name.server.log)"
  return 1
}

# run NAME FILE TIMEOUT ARGS...: one chat-bench run; its JSON line goes to FILE.json.
run() {
  local name="$1" file="$2" limit="$3"
  shift 3
  local cmd=(taskset -c 1 "$bench" "$@" --pid "$server_pid" --json --quiet)
  echo "timeout $limit ${cmd[*]}" >>"$out/commands.txt"
  log "$name ${file#"$name".}"
  timeout "$limit" "${cmd[@]}" >"$out/$file.json" || log "$name $file failed or timed out"
}

floor() {
  local file="$1"
  echo "taskset -c 0 $out/floor 500 5" >>"$out/commands.txt"
  timeout 60 taskset -c 0 "$out/floor" 500 5 >"$out/$file.floor.txt" 2>&1 || true
}

cap_server() {
  mkdir -p "$cgroup"
  echo 10000 >"$cgroup/cpu.cfs_period_us"
  echo 2500 >"$cgroup/cpu.cfs_quota_us"
  # Every thread of the server (Go and Bun run several).
  for task in /proc/"$server_pid"/task/*; do echo "${task##*/}" >"$cgroup/tasks"; done
}

a_args=(--rooms 1 --clients 500 --senders 10 --size 100 --warmup "$warm")
port=9180
for name in "${names[@]}"; do
  port=$((port + 1)); url="ws://127.0.0.1:$port/ws"
  start_server "$name" "$port" || continue
  run "$name" "$name.d" 240 idle --url "$url" --conns "$conns" --rooms 100
  stop_server
  start_server "$name" "$port" || continue
  run "$name" "$name.a" 120 fanout --url "$url" "${a_args[@]}" --rate 100 --duration "$dur"
  floor "$name.a"
  run "$name" "$name.b" 240 fanout --url "$url" --rooms 1000 --clients 10 --senders 1 \
    --size 100 --warmup "$warm" --rate 1000 --duration "$dur"
  stop_server
done
for round in $(seq "$rounds"); do
  for name in "${names[@]}"; do
    port=$((port + 1)); url="ws://127.0.0.1:$port/ws"
    start_server "$name" "$port" || continue
    cap_server
    run "$name" "$name.c$round" 900 ramp --url "$url" "${a_args[@]}" --start 50 --factor 1.2 \
      --step-secs "$step" --p99-ms 50 --svg "$out/$name.c$round.svg"
    stop_server
  done
done
rmdir "$cgroup" 2>/dev/null || true

python3 "$root/bench/summary.py" "$out" | tee "$out/summary.md"
log "results in $out"
