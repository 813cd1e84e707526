#!/usr/bin/env bash
# One scenario of bench/run.sh against one server, for side-by-side checks and profiling:
#
#   bench/one.sh NAME SCENARIO     NAME: server | server-memory | a peer (bun, node-ws, ...)
#                                  SCENARIO: a | b | c | d  (as in bench/run.sh)
# env:  BIN=path      the chat-server binary (default target/release/chat-server), to compare builds
#       STAT=secs     count the server's sendmsg/sendto/pwrite/fcntl/futex calls and context switches
#       PERF=secs     perf record the server (to /tmp/chat-one/perf.data); CG=... its call-graph option
#       DELAY=secs    when STAT/PERF start (default 5 s into the run)
# The server runs pinned to CPU 0, chat-bench to CPU 1; only 127.0.0.1 is used; all bounded.
set -uo pipefail
name=$1 scenario=$2
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bench="$root/target/release/chat-bench" bin="${BIN:-$root/target/release/chat-server}"
port=$((9300 + RANDOM % 500)) url="ws://127.0.0.1:$port/ws" out=/tmp/chat-one
mkdir -p "$out"
case $name in
  server|server-memory)
    backend=sqlite; [[ $name == server-memory ]] && backend=memory
    rm -rf "$out/data"
    CHAT__HISTORY__BACKEND=$backend CHAT__HISTORY__PATH="$out/data/chat.db" \
      CHAT__LIMITS__MESSAGES_PER_SEC=1000000 CHAT__LIMITS__BURST=1000000 \
      CHAT__SERVER__MAX_CONNECTIONS=20000 CHAT__LOG__LEVEL=warn \
      taskset -c 0 "$bin" --listen "127.0.0.1:$port" >"$out/server.log" 2>&1 &
    ;;
  *) taskset -c 0 "$root/../shared/peers/run.sh" "$name" "$port" >"$out/server.log" 2>&1 & ;;
esac
launched=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
pid=$(pgrep -P "$launched" | head -1); pid=${pid:-$launched}
a_args=(--rooms 1 --clients 500 --senders 10 --size 100 --warmup 2)
cgroup=/sys/fs/cgroup/cpu/chat-one
case $scenario in
  a) args=(fanout --url "$url" "${a_args[@]}" --rate 100 --duration 10) ;;
  b) args=(fanout --url "$url" --rooms 1000 --clients 10 --senders 1 --size 100 --warmup 2 --rate 1000 --duration 10) ;;
  c) mkdir -p "$cgroup"; echo 10000 >"$cgroup/cpu.cfs_period_us"; echo 2500 >"$cgroup/cpu.cfs_quota_us"
     for task in /proc/"$pid"/task/*; do echo "${task##*/}" >"$cgroup/tasks"; done
     args=(ramp --url "$url" "${a_args[@]}" --start 50 --factor 1.2 --step-secs 5 --p99-ms 50) ;;
  d) args=(idle --url "$url" --conns 10000 --rooms 100) ;;
  *) echo "unknown scenario $scenario" >&2; kill "$pid"; exit 2 ;;
esac
watchers=()
if [[ -n "${STAT:-}" ]]; then
  (sleep "${DELAY:-5}"; perf stat -e syscalls:sys_enter_sendmsg,syscalls:sys_enter_sendto,syscalls:sys_enter_pwrite64,syscalls:sys_enter_fcntl,syscalls:sys_enter_futex,context-switches \
    -p "$pid" -- sleep "$STAT" 2>"$out/stat.txt") & watchers+=($!)
fi
if [[ -n "${PERF:-}" ]]; then
  (sleep "${DELAY:-5}"; perf record -q -e cpu-clock ${CG:--g} -p "$pid" -o "$out/perf.data" -- sleep "$PERF" >/dev/null 2>&1) & watchers+=($!)
fi
echo "taskset -c 1 $bench ${args[*]} --pid $pid" >&2
timeout 600 taskset -c 1 "$bench" "${args[@]}" --pid "$pid" --quiet
for w in "${watchers[@]}"; do wait "$w"; done
[[ -n "${STAT:-}" ]] && grep -E 'syscalls|context' "$out/stat.txt"
kill "$pid" "$launched" 2>/dev/null; wait "$launched" 2>/dev/null
[[ $scenario == c ]] && rmdir "$cgroup" 2>/dev/null
true
