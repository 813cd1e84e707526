#!/usr/bin/env bash
# Several nodes (issue 24): scenario a (one room of 500 members, 10 senders at 100 msg/s each,
# 100-byte texts) with the room's members spread over NODES nodes sharing one Redis, then the
# same against one node alone (SQLite history), side by side.
#
#   bench/nodes.sh [NODES]        NODES: nodes sharing the room (default 2)
# env:  BIN=path     the chat-server binary (default target/release/chat-server)
#       BENCH=path   chat-bench (default target/release/chat-bench)
#       DURATION=s   measured seconds per run (default 10)
#       RATE=n       messages/s in all (default 100: scenario a); ROOMS=n, CLIENTS=n (per room),
#                    SENDERS=n (per room) change the shape (default 1, 500, 10). A high RATE over
#                    many rooms is what Redis's cost per message needs (its fixed cost, the
#                    nodes' heartbeats and probes, is printed alone first: IDLE=s, default 5)
#       ALONE=0      skip the run against one node alone
# Starts a private redis-server (appendonly yes, appendfsync everysec) on a free port in a
# temporary folder; only 127.0.0.1 is used; every process it starts is stopped on exit.
# Prints each run's chat-bench report, then per run: the CPU seconds of the nodes (from
# /proc/PID/stat), of Redis (INFO cpu, before and after) and Redis's CPU per message it stored
# and published (its XADD count: one script call stores and publishes a batch of them).
set -uo pipefail
nodes=${1:-2}
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin=${BIN:-$root/target/release/chat-server} bench=${BENCH:-$root/target/release/chat-bench}
duration=${DURATION:-10} rate=${RATE:-100} rooms=${ROOMS:-1} clients=${CLIENTS:-500}
senders=${SENDERS:-10} idle=${IDLE:-5} alone=${ALONE:-1}
out=$(mktemp -d /tmp/chat-nodes.XXXXXX)
pids=() redis_pid=""
cleanup() {
  for pid in "${pids[@]}" $redis_pid; do kill "$pid" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$out"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_secs() { # utime + stime of a process, in seconds
  awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat"
}
redis_cpu() { redis-cli -p "$redis_port" info cpu | awk -F: '/^used_cpu_(sys|user):/ { s += $2 } END { print s }'; }
redis_sys() { redis-cli -p "$redis_port" info cpu | awk -F: '/^used_cpu_sys:/ { print $2 + 0 }'; }
# calls of a command, from INFO commandstats (0 before its first call)
redis_memory() { redis-cli -p "$redis_port" info memory | awk -F: '/^used_memory:/ { print $2 + 0 }'; }
redis_calls() { redis-cli -p "$redis_port" info commandstats | awk -F'[=,:]' -v c="cmdstat_$1" '$1 == c { n = $3 } END { print n + 0 }'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly yes --appendfsync everysec \
  --dir "$out" --logfile "$out/redis.log" &
redis_pid=$!
wait_port "$redis_port" || { echo "redis-server did not start" >&2; exit 1; }

# start_node PORT KIND: a node (KIND redis or local) on PORT; appends its pid to pids.
start_node() {
  CHAT__BROKER__KIND=$2 CHAT__BROKER__REDIS_URL="redis://127.0.0.1:$redis_port" \
    CHAT__HISTORY__PATH="$out/chat-$1.db" CHAT__LIMITS__MESSAGES_PER_SEC=1000000 \
    CHAT__LIMITS__BURST=1000000 CHAT__SERVER__MAX_CONNECTIONS=20000 CHAT__LOG__LEVEL=warn \
    "$bin" --listen "127.0.0.1:$1" >"$out/node-$1.log" 2>&1 &
  pids+=($!)
  wait_port "$1" || { echo "node on $1 did not start" >&2; exit 1; }
}

# run LABEL URL...: scenario a against the URLs; prints the report and the CPU it cost.
run() {
  local label=$1; shift
  local urls=() node_pids=("${pids[@]}")
  for url in "$@"; do urls+=(--url "$url"); done
  local before=() r_cpu r_pub
  for pid in "${node_pids[@]}"; do before+=("$(cpu_secs "$pid")"); done
  r_cpu=$(redis_cpu) r_sys=$(redis_sys) r_pub=$(redis_calls xadd) r_calls=$(redis_calls evalsha)
  local shape=(--rooms "$rooms" --clients "$clients" --senders "$senders" --size 100 --rate "$rate")
  echo "== $label: $bench fanout ${urls[*]} ${shape[*]} --warmup 2 --duration $duration"
  timeout 600 "$bench" fanout "${urls[@]}" "${shape[@]}" --warmup 2 --duration "$duration" --quiet
  local total=0 i=0
  for pid in "${node_pids[@]}"; do
    total=$(awk -v a="$total" -v b="$(cpu_secs "$pid")" -v c="${before[$i]}" 'BEGIN { print a + b - c }')
    i=$((i + 1))
  done
  local r_cpu2 r_pub2 r_calls2
  r_cpu2=$(redis_cpu) r_pub2=$(redis_calls xadd) r_calls2=$(redis_calls evalsha)
  awk -v n="$total" -v r1="$r_cpu" -v r2="$r_cpu2" -v p1="${r_pub:-0}" -v p2="${r_pub2:-0}" \
    -v c1="$r_calls" -v c2="$r_calls2" -v s1="$r_sys" -v s2="$(redis_sys)" -v l="$label" 'BEGIN {
    printf "== %s: nodes %.2f s CPU, redis %.2f s CPU (%.2f s of it system), %d messages stored in redis by %d script calls", l, n, r2 - r1, s2 - s1, p2 - p1, c2 - c1
    if (p2 > p1) printf ", redis %.2f us CPU per message", (r2 - r1) * 1e6 / (p2 - p1)
    printf "\n" }'
}

urls=()
for _ in $(seq "$nodes"); do port=$(free_port); start_node "$port" redis; urls+=("ws://127.0.0.1:$port/ws"); done
sleep 1
r_mem=$(redis_memory) r_idle=$(redis_cpu)
sleep "$idle"
awk -v a="$r_idle" -v b="$(redis_cpu)" -v s="$idle" -v n="$nodes" \
  'BEGIN { printf "== redis with %d idle nodes: %.1f ms CPU per second (heartbeats, probes)\n", n, (b - a) * 1000 / s }'
run "$nodes nodes over redis" "${urls[@]}"
echo "== redis's own time per call (INFO commandstats, inside the command, no I/O):"
redis-cli -p "$redis_port" info commandstats | grep '^cmdstat_' | sort -t= -k3 -n -r | head -12 | sed 's/^/   /'
awk -v a="$r_mem" -v b="$(redis_memory)" -v r="$rooms" -v n="$(redis-cli -p "$redis_port" info commandstats | awk -F'[=,:]' '$1 == "cmdstat_xadd" { print $3 }')" \
  'BEGIN { printf "== redis used_memory grew %.1f MiB for %d rooms and the %d messages stored (what retention kept of them stays)\n", (b - a) / 1048576, r, n }'
for pid in "${pids[@]}"; do kill "$pid"; done; wait "${pids[@]}" 2>/dev/null; pids=()
[ "$alone" = 1 ] || exit 0
port=$(free_port); start_node "$port" local
run "1 node alone (sqlite)" "ws://127.0.0.1:$port/ws"
