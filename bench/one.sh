#!/usr/bin/env bash
# One scenario of bench/run.sh against one server, for side-by-side checks and profiling:
#
#   bench/one.sh NAME SCENARIO     NAME: server | server-memory | either with -tls (wss://) |
#                                  a peer (bun, node-ws, ...)
#                                  SCENARIO: a | b | c | d  (as in bench/run.sh)
# env:  BIN=path      the chat-server binary (default target/release/chat-server), to compare builds
#       STAT=secs     count the server's sendmsg/sendto/pwrite/fcntl/futex calls and context switches
#       PERF=secs     perf record the server (to /tmp/chat-one/perf.data); CG=... its call-graph option
#       DELAY=secs    when STAT/PERF start (default 5 s into the run)
#       CAP_US=us     c's CPU quota per 10 ms period (default 2500: 25% of a core; 10000: none),
#                     for machines where a write costs so much that 25% fails the first step;
#                     with d, caps the server too (uncapped by default), so that the connect
#                     rate is the server's and not the generator's
# The server runs pinned to CPU 0, chat-bench to CPU 1; only 127.0.0.1 is used; all bounded.
set -uo pipefail
name=$1 scenario=$2
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bench="$root/target/release/chat-bench" peers="${PEERS:-$root/../shared/peers}"
port=$((9300 + RANDOM % 500)) out=/tmp/chat-one
mkdir -p "$out"
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
trap stop_server EXIT
start_server "$name" "$port" || exit 1
pid=$server_pid url=$server_url
a_args=(--rooms 1 --clients 500 --senders 10 --size 100 --warmup 2 "${tls_args[@]}")
cgroup=/sys/fs/cgroup/cpu/chat-one
case $scenario in
  a) args=(fanout --url "$url" "${a_args[@]}" --rate 100 --duration 10) ;;
  b) args=(fanout --url "$url" --rooms 1000 --clients 10 --senders 1 --size 100 --warmup 2 --rate 1000 --duration 10 "${tls_args[@]}") ;;
  c) cap_server "$cgroup" "${CAP_US:-2500}"
     args=(ramp --url "$url" "${a_args[@]}" --start 50 --factor 1.2 --step-secs 5 --p99-ms 50) ;;
  d) [[ -n "${CAP_US:-}" ]] && cap_server "$cgroup" "$CAP_US"
     args=(idle --url "$url" --conns 10000 --rooms 100 "${tls_args[@]}") ;;
  *) echo "unknown scenario $scenario" >&2; exit 2 ;;
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
stop_server
[[ -d $cgroup ]] && rmdir "$cgroup" 2>/dev/null
true
