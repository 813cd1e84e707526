#!/usr/bin/env bash
# The server's own work per message (or change), counted by callgrind: instructions and simulated cache
# misses in user space, the same from run to run whatever else the machine is doing. For
# comparing two builds where CPU time cannot tell 10% apart (a shared machine, and a server
# whose CPU is mostly the kernel's). It says nothing of the kernel's part.
#
#   bench/callgrind.sh [a|b]     scenario's shape (default b), at a rate valgrind keeps up with:
#                                b: 1,000 rooms x 10 clients, 1 sender each, 200 msg/s in all
#                                a: 1 room x 500 clients, 10 senders, 4 msg/s in all
# env:  BIN=path   the chat-server binary (default target/release/chat-server)
#       RATE=n     messages/s instead of the default;  WIN=secs  the counted window (10)
#       OUT=dir    where callgrind.out.* and the logs go (default /tmp/chat-callgrind/<scenario>)
#       BACKEND=sqlite   the default durable history (in OUT/data) instead of memory
#       TLS=1      the server over wss:// with a self-signed certificate (OUT/tls), to set
#                  beside a plain run of the same shape: TLS's own work per delivery
#       CHANGES=edit|react|mix   every other turn of a sender changes its latest message
#                  (chat-bench --changes): the rate and "per event" count sends and changes
#                  alike, as the server's chat_messages_total does (every stored event)
# The server runs under valgrind on CPU 0, chat-bench on CPU 1; once every client has joined
# and a few seconds have passed, callgrind counts WIN seconds (callgrind_control -i), and
# /metrics gives the messages and deliveries of that window. Read the profile with
# `callgrind_annotate --inclusive=yes OUT/callgrind.out.<pid>`. Bounded: the generator stops by
# itself, every wait has a limit.
set -uo pipefail
scenario=${1:-b}
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"  # tls_files
win=${WIN:-10} port=$((9700 + RANDOM % 100)) out=${OUT:-/tmp/chat-callgrind/$scenario}
case $scenario in
  b) shape=(--rooms 1000 --clients 10 --senders 1) rate=${RATE:-200} conns=10000 ;;
  a) shape=(--rooms 1 --clients 500 --senders 10) rate=${RATE:-4} conns=500 ;;
  *) echo "usage: bench/callgrind.sh [a|b]" >&2; exit 2 ;;
esac
command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind is not installed" >&2; exit 1; }
ulimit -n 20000
mkdir -p "$out" && rm -rf "$out"/callgrind.out.* "$out/data"
url="ws://127.0.0.1:$port/ws" metrics_url="127.0.0.1:$port/metrics" tls_env=() tls_args=()
if [[ "${TLS:-}" == 1 ]]; then
  # A new certificate each run: tls_files keeps one it finds, and they last a day.
  rm -rf "$out/tls"
  tls_files || { echo "callgrind.sh: openssl could not make a certificate" >&2; exit 1; }
  tls_env=(CHAT__SERVER__TLS_CERT="$out/tls/cert.pem" CHAT__SERVER__TLS_KEY="$out/tls/key.pem")
  url="wss://localhost:$port/ws" metrics_url="https://127.0.0.1:$port/metrics"
  tls_args=(--ca-cert "$out/tls/cert.pem")
fi

env "${tls_env[@]}" CHAT__HISTORY__BACKEND=${BACKEND:-memory} CHAT__HISTORY__PATH="$out/data/chat.db" \
  CHAT__LIMITS__MESSAGES_PER_SEC=1000000 CHAT__LIMITS__BURST=1000000 \
  CHAT__SERVER__MAX_CONNECTIONS=20000 CHAT__LOG__LEVEL=warn \
  taskset -c 0 valgrind --tool=callgrind --cache-sim=yes --instr-atstart=no \
  --callgrind-out-file="$out/callgrind.out.%p" "${BIN:-$root/target/release/chat-server}" \
  --listen "127.0.0.1:$port" >"$out/server.log" 2>&1 &
vg=$!
trap 'kill $vg 2>/dev/null' EXIT
# metric NAME [TEXT]: a counter or gauge from /metrics (or from TEXT, fetched once before).
metric() {
  local text="${2-$(curl -sk --max-time 5 "$metrics_url")}"
  awk -v k="$1" '$1 == k {printf "%d", $2}' <<<"$text"
}
for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.2; done

timeout 900 taskset -c 1 "$root/target/release/chat-bench" fanout --url "$url" "${tls_args[@]}" \
  "${shape[@]}" ${CHANGES:+--changes "$CHANGES"} --size 100 --warmup 2 --rate "$rate" \
  --duration $((win + 20)) --quiet \
  >"$out/bench.txt" 2>&1 &
bench=$!
for _ in $(seq 1200); do
  [[ "$(metric chat_connections)" == "$conns" ]] && break
  kill -0 $bench 2>/dev/null || break
  sleep 0.5
done
sleep 5
before=$(curl -sk --max-time 5 "$metrics_url")
callgrind_control -i on $vg >/dev/null
sleep "$win"
callgrind_control -i off $vg >/dev/null
after=$(curl -sk --max-time 5 "$metrics_url")
wait $bench
grep -E '^(connect|messages|deliveries|order|events)' "$out/bench.txt"
callgrind_control -d $vg >/dev/null
kill $vg; wait $vg; trap - EXIT

file=$(ls -S "$out"/callgrind.out.* | head -1)
messages=$(($(metric chat_messages_total "$after") - $(metric chat_messages_total "$before")))
deliveries=$(($(metric chat_deliveries_total "$after") - $(metric chat_deliveries_total "$before")))
python3 - "$file" "$messages" "$deliveries" "$scenario" "${CHANGES:-}" <<'EOF'
import sys
path, messages, deliveries, scenario, changes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
lines = open(path).read().splitlines()
events = next(l for l in lines if l.startswith("events:")).split()[1:]
totals = [int(x) for x in next(l for l in lines if l.startswith("totals:")).split()[1:]]
count = dict(zip(events, totals))
if messages <= 0:
    sys.exit("callgrind.sh: no message was published in the window")
shown = ["Ir", "I1mr", "D1mr", "D1mw", "DLmr", "DLmw"]
# chat_messages_total counts every stored event: a plain message or a change.
event = "event" if changes else "message"
kinds = f" (messages and {changes} changes)" if changes else ""
print(f"{scenario}: {messages:,} {event}s{kinds}, {deliveries:,} deliveries counted ({path})")
for unit, n in ((event, messages), ("delivery", deliveries)):
    print(f"per {unit:<8} " + "  ".join(f"{e} {count[e] / n:,.{0 if unit != 'delivery' else 1}f}" for e in shown))
EOF
