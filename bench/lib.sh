# Shared by the bench scripts (sourced): start, cap and stop the server under test, and a test
# certificate (tls_files; callgrind.sh and massif.sh use only that).
# Needs: root (the repository), peers (../shared/peers), out (a folder for logs and data).
# BIN=path picks the chat-server binary (default: the release build).

server_pid="" server_url="" tls_args=()

# tls_files: makes $out/tls/{cert,key}.pem once, a self-signed P-256 certificate for
# localhost valid for a day.
tls_files() {
  [[ -s "$out/tls/cert.pem" ]] && return 0
  mkdir -p "$out/tls"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -addext basicConstraints=critical,CA:FALSE -addext extendedKeyUsage=serverAuth \
    -keyout "$out/tls/key.pem" -out "$out/tls/cert.pem" 2>/dev/null
}

# start_server NAME PORT: starts NAME pinned to CPU 0 and waits until the port accepts; sets
# server_pid, server_url (what chat-bench connects to) and tls_args (chat-bench's arguments
# for it). NAME: server (SQLite history), server-memory, either with -tls (wss:// only, with a
# certificate of tls_files that chat-bench trusts with --ca-cert), or a peer of $peers/run.sh
# (which execs the server, so the PID is the server's).
start_server() {
  local name="$1" port="$2"
  server_url="ws://127.0.0.1:$port/ws" tls_args=()
  case "$name" in
    server|server-memory|server-tls|server-memory-tls)
      local backend=sqlite; [[ "$name" == server-memory* ]] && backend=memory
      local tls_env=()
      if [[ "$name" == *-tls ]]; then
        tls_files || { echo "openssl could not make a certificate" >&2; return 1; }
        tls_env=(CHAT__SERVER__TLS_CERT="$out/tls/cert.pem" CHAT__SERVER__TLS_KEY="$out/tls/key.pem")
        server_url="wss://localhost:$port/ws" tls_args=(--ca-cert "$out/tls/cert.pem")
      fi
      rm -rf "$out/data"
      # The defaults a user gets, except the per-connection rate limit (a sender here sends
      # 10 msg/s in a and more in c).
      env "${tls_env[@]}" CHAT__HISTORY__BACKEND=$backend CHAT__HISTORY__PATH="$out/data/chat.db" \
        CHAT__LIMITS__MESSAGES_PER_SEC=1000000 CHAT__LIMITS__BURST=1000000 \
        CHAT__SERVER__MAX_CONNECTIONS=20000 CHAT__LOG__LEVEL=warn \
        taskset -c 0 "${BIN:-$root/target/release/chat-server}" --listen "127.0.0.1:$port" \
        >"$out/$name.server.log" 2>&1 &
      ;;
    *) taskset -c 0 "$peers/run.sh" "$name" "$port" >"$out/$name.server.log" 2>&1 & ;;
  esac
  server_pid=$!
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "$name did not start listening on $port (see $out/$name.server.log)" >&2
  return 1
}

# stop_server: ends the server started last (SIGTERM, then SIGKILL after 10 s).
stop_server() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$server_pid" 2>/dev/null || true
  fi
  server_pid=""
}

# cap_server CGROUP [QUOTA_US]: puts every thread of the server (Go and Bun run several) into
# the cgroup v1 cpu group CGROUP, capped at QUOTA_US per 10 ms period (default 2500: 25% of a
# core).
cap_server() {
  local cgroup="$1" quota="${2:-2500}"
  mkdir -p "$cgroup"
  echo 10000 >"$cgroup/cpu.cfs_period_us"
  echo "$quota" >"$cgroup/cpu.cfs_quota_us"
  for task in /proc/"$server_pid"/task/*; do echo "${task##*/}" >"$cgroup/tasks"; done
}
