#!/usr/bin/env bash
# The benchmark of docs/BENCHMARKS.md: this server and the reference peers, side by side in one
# run, with the same load generator. Each server is pinned to CPU 0, chat-bench to CPU 1.
#
#   a  fixed load: 1 room x 500 clients, 10 senders, 100 msg/s, 100-byte text (50,000 dlv/s)
#   b  many rooms: 1,000 rooms x 10 clients, 1 sender each, 1,000 msg/s in all
#   c  capacity: ramp on a's room from 50 msg/s, x1.2 per 5 s step, p99 <= 50 ms, loss 0, with
#      the server capped at 25% of a core (cgroup v1 cpu: period 10 ms, quota 2.5 ms)
#   d  idle: 10,000 connections joined over 100 rooms: RSS per connection, connects per second
#   floor: ../shared/floor, the kernel's cost per delivery, measured after every run of a;
#          bench/floor-b.c the same in b's shape (1,000 rooms x 10), after every run of b
# Every scenario runs ROUNDS times, the servers interleaved; the summary gives each figure's
# median and its ratio to the best peer round by round.
#
# usage: bench/run.sh [NAME...]   NAME: server (SQLite history, the default), server-memory,
#                                 either with -tls (wss://, a self-signed certificate),
#                                 bun, node-ws, deno, go-gorilla (default: all but -tls)
# env:   OUT=DIR    results (default bench/results/<UTC time>)
#        ROUNDS=N   rounds of every scenario (default 3);  QUICK=1: short runs, to test the script
#        BIN=path   the chat-server binary (default target/release/chat-server)
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
gcc -O2 -o "$out/floor-b" "$root/bench/floor-b.c"
{ uname -r; nproc; grep -m1 'model name' /proc/cpuinfo; git -C "$root" rev-parse HEAD; } >"$out/machine.txt"

# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
trap stop_server EXIT

# run NAME FILE TIMEOUT ARGS...: one chat-bench run; its JSON line goes to FILE.json.
run() {
  local name="$1" file="$2" limit="$3"
  shift 3
  local cmd=(taskset -c 1 "$bench" "$@" --pid "$server_pid" --json --quiet)
  echo "timeout $limit ${cmd[*]}" >>"$out/commands.txt"
  log "$name ${file#"$name".}"
  timeout "$limit" "${cmd[@]}" >"$out/$file.json" || log "$name $file failed or timed out"
}

# floor FILE LIMIT PROGRAM ARGS...: a kernel floor (../shared/floor, floor-b) on CPU 0; its
# output goes to FILE.floor.txt.
floor() {
  local file="$1" limit="$2"
  shift 2
  echo "timeout $limit taskset -c 0 $*" >>"$out/commands.txt"
  timeout "$limit" taskset -c 0 "$@" >"$out/$file.floor.txt" 2>&1 || true
}

a_args=(--rooms 1 --clients 500 --senders 10 --size 100 --warmup "$warm")
port=9180

# measure NAME ROUND: every scenario against NAME once; files are NAME.<scenario><round>.*
measure() {
  local name="$1" r="$2"
  port=$((port + 1))
  start_server "$name" "$port" || return 0
  run "$name" "$name.d$r" 240 idle --url "$server_url" --conns "$conns" --rooms 100 "${tls_args[@]}"
  stop_server
  start_server "$name" "$port" || return 0
  run "$name" "$name.a$r" 120 fanout --url "$server_url" "${a_args[@]}" --rate 100 \
    --duration "$dur" "${tls_args[@]}"
  floor "$name.a$r" 60 "$out/floor" 500 5
  run "$name" "$name.b$r" 240 fanout --url "$server_url" --rooms 1000 --clients 10 --senders 1 \
    --size 100 --warmup "$warm" --rate 1000 --duration "$dur" "${tls_args[@]}"
  stop_server
  floor "$name.b$r" 120 "$out/floor-b" 1000 10 1000 5
  port=$((port + 1))
  start_server "$name" "$port" || return 0
  cap_server "$cgroup"
  run "$name" "$name.c$r" 900 ramp --url "$server_url" "${a_args[@]}" --start 50 --factor 1.2 \
    --step-secs "$step" --p99-ms 50 --svg "$out/$name.c$r.svg" "${tls_args[@]}"
  stop_server
}

# Rounds interleave the servers, in reverse order every other round, so that the machine's
# drift (±20% within minutes here) touches them alike; summary.py compares round by round.
for round in $(seq "$rounds"); do
  if ((round % 2)); then
    for ((i = 0; i < ${#names[@]}; i++)); do measure "${names[i]}" "$round"; done
  else
    for ((i = ${#names[@]} - 1; i >= 0; i--)); do measure "${names[i]}" "$round"; done
  fi
done
rmdir "$cgroup" 2>/dev/null || true

python3 "$root/bench/summary.py" "$out" | tee "$out/summary.md"
log "results in $out"
