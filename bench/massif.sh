#!/usr/bin/env bash
# The server's live heap per idle connection, by valgrind's massif: the same from run to run
# whatever else the machine does (RSS moves with the allocator's pages; this counts bytes).
#
#   bench/massif.sh [N]     N idle connections over 10 rooms (default 1000), plain ws://
# env:  TLS=1      over wss:// with a self-signed certificate (OUT/tls), to set beside plain
#       BIN=path   the chat-server binary (default target/release/chat-server)
#       OUT=dir    where the snapshots and logs go (default /tmp/chat-massif/plain or tls)
#       THRESHOLD=pct  the smallest allocation site the snapshot names (massif's --threshold, 1.0)
# The server (memory history) runs under massif on CPU 0, chat-bench on CPU 1. A detailed
# snapshot of the live heap is taken (vgdb) before the clients connect and once all of them
# have joined and are idle; the script prints (after - before) / N and the largest allocation
# sites of the second snapshot (`ms_print OUT/after.massif` shows the whole tree). Bounded:
# every wait has a limit.
set -uo pipefail
conns=${1:-1000}
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"  # tls_files
kind=plain; [[ "${TLS:-}" == 1 ]] && kind=tls
port=$((9800 + RANDOM % 100)) out=${OUT:-/tmp/chat-massif/$kind}
command -v valgrind >/dev/null || { echo "massif.sh: valgrind is not installed" >&2; exit 1; }
ulimit -n 20000
mkdir -p "$out" && rm -f "$out"/*.massif "$out"/massif.out.*
url="ws://127.0.0.1:$port/ws" tls_env=() tls_args=()
if [[ $kind == tls ]]; then
  # A new certificate each run: tls_files keeps one it finds, and they last a day.
  rm -rf "$out/tls"
  tls_files || { echo "massif.sh: openssl could not make a certificate" >&2; exit 1; }
  tls_env=(CHAT__SERVER__TLS_CERT="$out/tls/cert.pem" CHAT__SERVER__TLS_KEY="$out/tls/key.pem")
  url="wss://localhost:$port/ws" tls_args=(--ca-cert "$out/tls/cert.pem")
fi
env "${tls_env[@]}" CHAT__HISTORY__BACKEND=memory CHAT__SERVER__MAX_CONNECTIONS=20000 \
  CHAT__LOG__LEVEL=warn taskset -c 0 valgrind --tool=massif --vgdb=yes --threshold="${THRESHOLD:-1.0}" \
  --massif-out-file="$out/massif.out.%p" "${BIN:-$root/target/release/chat-server}" \
  --listen "127.0.0.1:$port" >"$out/server.log" 2>&1 &
vg=$!
trap 'kill $vg 2>/dev/null' EXIT
for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.2; done
# heap FILE: the live heap (useful + extra) of the detailed snapshot in FILE.
heap() { awk -F= '/^mem_heap_B/ {b=$2} /^mem_heap_extra_B/ {e=$2} END {print b + e}' "$1"; }
timeout 60 vgdb --pid="$vg" detailed_snapshot "$out/before.massif" >/dev/null
# The clients stay connected for `settle` seconds after the last join: the snapshot is taken
# in that window, once the report's first line (the connect phase's end) appears.
timeout 900 taskset -c 1 "$root/target/release/chat-bench" idle --url "$url" "${tls_args[@]}" \
  --conns "$conns" --rooms 10 --settle 60 --quiet >"$out/bench.txt" 2>&1 &
bench=$!
for _ in $(seq 1800); do
  joined=$(ss -tn state established "( sport = :$port )" | tail -n +2 | wc -l)
  (( joined >= conns )) && break
  sleep 0.5
done
sleep 10
timeout 60 vgdb --pid="$vg" detailed_snapshot "$out/after.massif" >/dev/null
before=$(heap "$out/before.massif") after=$(heap "$out/after.massif")
echo "massif $kind: $conns connections; live heap before $before B, after $after B: $(( (after - before) / conns )) B per connection"
ms_print --threshold=2 "$out/after.massif" | grep -E '^[ |]*->' | head -40
kill "$bench" 2>/dev/null
wait "$bench" 2>/dev/null
true
