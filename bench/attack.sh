#!/usr/bin/env bash
# The hostile clients of issue 23 against a release build of this server (SQLite history, the
# defaults a user gets but the per-connection send rate, as in lib.sh), each against a fresh
# server so its RSS is the attack's alone; prints chat-bench's text report of each.
#
#   bench/attack.sh                 every run below, in this order
#   bench/attack.sh flood rooms     some of them
# runs:  flood           10,000 messages of 4,096 control characters, then a client that never
#                        reads sends 1,000 history (limit 200) and 8 join since 0, while a calm
#                        room (20 members, 50 msg/s) is measured; default request rate limit
#        flood-unlimited the same with limits.requests_* raised: only the outbound byte bound
#                        (ws.outbound_queue_bytes) stands in the way
#        rooms           one connection joins and leaves 200,000 distinct rooms (requests_*
#                        raised, so the rate limit is not what stops it)
#        presence        one client toggles join/leave 20,000 times in a room of 5 members;
#                        default request rate limit
#        presence-unlimited  the same with requests_* raised: only held presence merging
# env:  BIN=path  the chat-server binary (default target/release/chat-server)
#       QUICK=1   small sizes, to test the script
#       ARGS="..." more chat-bench attack options (e.g. ARGS="--history-requests 0 --since-joins 0"
#                 for the calm room with the attacker idle)
# The server runs pinned to CPU 0, chat-bench to CPU 1; only 127.0.0.1 is used; every run is
# bounded (chat-bench's own deadlines, and timeout).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bench="$root/target/release/chat-bench" peers="${PEERS:-$root/../shared/peers}"
out=/tmp/chat-attack
mkdir -p "$out"
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
trap stop_server EXIT
runs=("$@")
[[ ${#runs[@]} -eq 0 ]] && runs=(flood flood-unlimited rooms presence presence-unlimited)
sizes=()
[[ -n "${QUICK:-}" ]] && sizes=(--messages 500 --duration 5 --rooms 5000 --toggles 1000)

for run in "${runs[@]}"; do
  case $run in
    flood) only=flood unlimited= ;;
    flood-unlimited) only=flood unlimited=1 ;;
    rooms) only=rooms unlimited=1 ;;
    presence) only=presence unlimited= ;;
    presence-unlimited) only=presence unlimited=1 ;;
    *) echo "unknown run $run" >&2; exit 2 ;;
  esac
  port=$((9300 + RANDOM % 500)) url="ws://127.0.0.1:$port/ws"
  if [[ -n $unlimited ]]; then
    export CHAT__LIMITS__REQUESTS_PER_SEC=1000000 CHAT__LIMITS__REQUESTS_BURST=1000000
  else
    unset CHAT__LIMITS__REQUESTS_PER_SEC CHAT__LIMITS__REQUESTS_BURST
  fi
  start_server server "$port" || exit 1
  # shellcheck disable=SC2206 # ARGS is split into words on purpose
  args=(attack --url "$url" --only "$only" "${sizes[@]}" ${ARGS:-} --pid "$server_pid" --quiet)
  echo "== $run: ${unlimited:+CHAT__LIMITS__REQUESTS_PER_SEC=1000000 CHAT__LIMITS__REQUESTS_BURST=1000000 }taskset -c 1 $bench ${args[*]}" >&2
  timeout 900 taskset -c 1 "$bench" "${args[@]}"
  stop_server
done
