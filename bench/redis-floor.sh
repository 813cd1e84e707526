#!/usr/bin/env bash
# Redis's own CPU per stored and published message (issue 24's goal: ≤ 1.5 µs), for the bare
# minimum a durable chat needs (per message an XADD to a capped stream, per room part of a
# call one PUBLISH; pipelined, or in one script call) beside append.lua itself, fed the same
# calls (same messages per call, same rooms per call), without the nodes in between.
#
#   bench/redis-floor.sh
# env:  SHAPES="1/1 5/4 ..."   calls to measure, each "messages per call/rooms per call"
#       MESSAGES=n             messages per generator per measurement (default 20000)
#       ROUNDS=n               rounds, every shape and mode once per round (default 2)
#       MODES="pipe script ours"
#       XADD_ALONE=0           skip the last measurement (redis-benchmark, an XADD per command)
#       APPEND=path            the script measured as "ours" (default crates/broker-redis/src/append.lua)
#       BEFORE=path            another append.lua, measured as mode "before" beside "ours" (add it to MODES)
# A private redis-server (appendonly yes, appendfsync everysec, as bench/nodes.sh starts it)
# on a free port of 127.0.0.1, pinned to CPU 0; two generators (two nodes, each waiting for
# its answer before its next call) and two subscribers to every room's channel (the two
# nodes' pub/sub connections) on CPU 1. Redis's CPU is `used_cpu_sys + used_cpu_user` of
# `INFO cpu` before and after each measurement. Every process it starts is stopped on exit.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
shapes=${SHAPES:-"1/1 5/4 20/10 50/50 256/50 256/1"}
messages=${MESSAGES:-20000} rounds=${ROUNDS:-2} modes=${MODES:-"pipe script ours"}
append=${APPEND:-$root/crates/broker-redis/src/append.lua}
rooms=50
out=$(mktemp -d /tmp/redis-floor.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$out"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
port=$(free_port)
cli() { redis-cli -p "$port" "$@"; }
redis_cpu() { cli info cpu | awk -F: '/^used_cpu_(sys|user):/ { s += $2 } END { printf "%.6f", s }'; }
redis_sys() { cli info cpu | awk -F: '/^used_cpu_sys:/ { printf "%.6f", $2 }'; }
# usec_per_call of a command since the last CONFIG RESETSTAT
usec_per_call() { cli info commandstats | awk -F'[=,:]' -v c="cmdstat_$1" '$1 == c { print $7 }'; }

taskset -c 0 redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly yes \
  --appendfsync everysec --dir "$out" --logfile "$out/redis.log" &
pids+=($!)
wait_port "$port" || { echo "redis-server did not start" >&2; exit 1; }
echo "== redis-server $(redis-server --version | awk '{ print $3 }') on 127.0.0.1:$port, CPU 0; generators and subscribers on CPU 1; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

# Two subscribers to every mode's rooms' channels.
channels=()
for mode in $modes; do for r in $(seq 0 $((rooms - 1))); do channels+=("floor-$mode:{r$r}"); done; done
for _ in 1 2; do
  taskset -c 1 redis-cli -p "$port" subscribe "${channels[@]}" >/dev/null &
  pids+=($!)
done
until [ "$(cli pubsub numsub "${channels[0]}" | tail -1)" = 2 ]; do sleep 0.1; done

printf "%-6s %-7s %6s %7s %9s %9s %12s %12s\n" mode shape calls msgs "cpu s" "sys s" "us/message" "cmd us/call"
for round in $(seq "$rounds"); do
  for shape in $shapes; do
    per_call=${shape%/*} rooms_per_call=${shape#*/}
    calls=$(( (messages + per_call - 1) / per_call ))
    for mode in $modes; do
      cli config resetstat >/dev/null
      before=$(redis_cpu) sys_before=$(redis_sys)
      gens=()
      for _ in 1 2; do
        if [ "$mode" = before ]; then py_mode=ours script=$BEFORE; else py_mode=$mode script=$append; fi
        taskset -c 1 timeout 300 python3 "$root/bench/redis-floor.py" "$port" "$py_mode" "$calls" \
          "$per_call" "$rooms_per_call" "$rooms" "floor-$mode" "$script" &
        gens+=($!)
      done
      failed=0
      for gen in "${gens[@]}"; do wait "$gen" || failed=1; done
      [ "$failed" = 0 ] || { echo "a generator failed ($mode $shape)" >&2; exit 1; }
      after=$(redis_cpu) sys_after=$(redis_sys)
      cmd=xadd
      [ "$mode" = pipe ] || cmd=evalsha
      awk -v m="$mode" -v s="$shape" -v c="$((2 * calls))" -v n="$((2 * calls * per_call))" \
        -v a="$before" -v b="$after" -v sa="$sys_before" -v sb="$sys_after" \
        -v u="$(usec_per_call $cmd) ($cmd)" 'BEGIN {
          printf "%-6s %-7s %6d %7d %9.3f %9.3f %12.2f %12s\n", m, s, c, n, b - a, sb - sa, (b - a) * 1e6 / n, u }'
    done
  done
done
[ "${XADD_ALONE:-1}" = 1 ] || exit 0
echo "== redis-benchmark, one XADD per command (capped stream, 100-byte field), 2 clients, -P 1 and -P 64:"
for pipeline in 1 64; do
  cli config resetstat >/dev/null
  before=$(redis_cpu)
  taskset -c 1 redis-benchmark -p "$port" -c 2 -n 100000 -P "$pipeline" -q \
    XADD "floor-bench:{b}" MAXLEN 10000 '*' d "$(printf 'x%.0s' $(seq 100))" >/dev/null
  awk -v p="$pipeline" -v a="$before" -v b="$(redis_cpu)" -v u="$(usec_per_call xadd)" \
    'BEGIN { printf "   -P %-3d %.3f s CPU for 100000 XADD: %.2f us each (%s us inside XADD)\n", p, b - a, (b - a) * 10, u }'
done
