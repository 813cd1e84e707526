#!/usr/bin/env bash
# The instructions Redis runs per message (user space, counted by callgrind: the same on every
# run, whatever else the machine does) for one shape of call, the rooms' keys warmed first.
#
#   bench/redis-floor-callgrind.sh MODE SHAPE [MESSAGES]
# MODE and SHAPE as in bench/redis-floor.sh (pipe, script or ours; "messages per call/rooms per
# call"); MESSAGES measured (default 2048) after WARM (env, default 20000) unmeasured ones, so
# that the resend ids' sets are past their small encoding, as on a busy Redis. APPEND=path the
# script measured as "ours" (default crates/broker-redis/src/append.lua). One generator and one
# subscriber; a private redis-server under valgrind on a free port of 127.0.0.1, stopped after.
set -u
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mode=$1 shape=$2 messages=${3:-2048} warm=${WARM:-20000}
append=${APPEND:-$root/crates/broker-redis/src/append.lua}
per=${shape%/*} rpc=${shape#*/}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
dir=$(mktemp -d /tmp/redis-floor-cg.XXXXXX)
valgrind --tool=callgrind --callgrind-out-file="$dir/cg.out" redis-server --port "$port" \
  --bind 127.0.0.1 --save "" --appendonly yes --appendfsync everysec --dir "$dir" \
  --logfile "$dir/log" >/dev/null 2>"$dir/valgrind.log" &
vg=$!
sub=""
trap 'kill $sub 2>/dev/null; redis-cli -p "$port" shutdown nosave >/dev/null 2>&1; wait $vg 2>/dev/null; rm -rf "$dir"' EXIT
until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.2; done
redis-cli -p "$port" subscribe "cg-$mode:{r0}" >/dev/null &
sub=$!
gen() { python3 "$root/bench/redis-floor.py" "$port" "$mode" "$1" "$per" "$rpc" 50 "cg-$mode" "$append"; }
gen $(( (warm + per - 1) / per )) || exit 1
callgrind_control -z "$vg" >/dev/null
gen $(( messages / per )) || exit 1
callgrind_control -d "$vg" >/dev/null
sleep 0.5
ir=$(grep -h '^summary:' "$(ls -t "$dir"/cg.out* | head -1)" | awk '{ print $2 }')
echo "$mode $shape $(basename "$append"): $(( ir / (messages / per * per) )) instructions per message"
