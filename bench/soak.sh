#!/usr/bin/env bash
# A soak of a release build of this server (SQLite history, the defaults a user gets but the
# per-connection send rate and max_connections, as in lib.sh): CONNS clients for DURATION
# seconds, STABLE_PCT of them joined the whole time, the others cycling connect, join, send,
# leave, disconnect. Prints a line every 10 s on stderr, then chat-bench's report: server RSS
# over time (flat within 10% after warm-up?), open fds at start and end, the stable members'
# loss, connect failures.
#
#   bench/soak.sh                         10,000 clients, 10 minutes
#   CONNS=2000 DURATION=60 bench/soak.sh  smaller
# env:  BIN=path  the chat-server binary (default target/release/chat-server)
#       CONNS (10000), DURATION (600 s), WARMUP (60 s), ROOMS (500), STABLE_PCT (20)
#       JSON=1    chat-bench's JSON line instead of its text (the samples included)
# The server runs pinned to CPU 0, chat-bench to CPU 1; only 127.0.0.1 is used; bounded by
# DURATION and timeout.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bench="$root/target/release/chat-bench" peers="${PEERS:-$root/../shared/peers}"
port=$((9300 + RANDOM % 500)) url="ws://127.0.0.1:$port/ws" out=/tmp/chat-soak
mkdir -p "$out"
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
trap stop_server EXIT
duration=${DURATION:-600}
start_server server "$port" || exit 1
args=(soak --url "$url" --conns "${CONNS:-10000}" --duration "$duration" --warmup "${WARMUP:-60}"
  --rooms "${ROOMS:-500}" --stable-pct "${STABLE_PCT:-20}" --pid "$server_pid")
[[ -n "${JSON:-}" ]] && args+=(--json)
echo "taskset -c 1 $bench ${args[*]}" >&2
timeout $((duration + 600)) taskset -c 1 "$bench" "${args[@]}"
stop_server
