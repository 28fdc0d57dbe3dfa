#!/usr/bin/env bash
# Start, stop or inspect a private SecantusDB server: an independent MongoDB-wire-protocol server (PyPI
# `SecantusDB`, WiredTiger storage), NOT MongoDB. It is the MongoDB server of logpipe's tests, installed pinned
# by `scripts/setup.sh --test` into .build/secantus-venv.
#
#   scripts/secantus.sh start       boot the server (if not running) and wait until it answers
#   scripts/secantus.sh stop        stop it (SIGTERM, then SIGKILL after 10 s), data kept
#   scripts/secantus.sh kill        SIGKILL it (a crash, for fault tests)
#   scripts/secantus.sh status      exit 0 when it is running and its port is open, 1 otherwise
#   scripts/secantus.sh url         print the URI of the application user (readWriteAnyDatabase, dbAdminAnyDatabase)
#   scripts/secantus.sh admin-url   print the URI of the root user (configureFailPoint, createUser, replSetStepDown)
#   scripts/secantus.sh wipe        kill it and delete its directory
#
# It listens on 127.0.0.1 only, with its own port and directory, and always runs with `--auth` (SCRAM-SHA-256)
# and `--enable-test-commands` (configureFailPoint, for fault injection). On the first start it boots once
# without --auth to create two users with random passwords (kept in the directory, mode 600), then restarts
# with --auth: `logpipe` for the store and `logpipe-root` for the tests' fault injection.
#
#   LOGPIPE_SECANTUS_NAME       (default dev) the directory is /tmp/logpipe-secantus-NAME
#   LOGPIPE_SECANTUS_PORT       (default 27817)
#   LOGPIPE_SECANTUS_DIR        data, log, configuration, passwords (default /tmp/logpipe-secantus-NAME)
#   LOGPIPE_SECANTUS_TLS_DIR    serve TLS only, with ca.pem, server.pem and server-key.pem from this directory
#                               (scripts/make-test-certs.sh writes one); the URIs then name localhost, tls=true
#                               and tlsCAFile
#   LOGPIPE_SECANTUS_TLS_PEER   with TLS: "required" refuses clients without a certificate from ca.pem;
#                               "optional" (default) checks one only when given
#   LOGPIPE_SECANTUS_LISTEN     the address it listens on (default 127.0.0.1); the network-fault tests run it inside
#                               a network namespace of their own (scripts/netfaults/netlab.py) with 0.0.0.0, which
#                               there is the namespace's loopback and the test's veth only
#   LOGPIPE_SECANTUS_HOST       the host the URIs name (default 127.0.0.1; the namespace's veth address there)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$root/.build/secantus-venv"
name=${LOGPIPE_SECANTUS_NAME:-dev}
port=${LOGPIPE_SECANTUS_PORT:-27817}
dir=${LOGPIPE_SECANTUS_DIR:-/tmp/logpipe-secantus-$name}
tls_dir=${LOGPIPE_SECANTUS_TLS_DIR:-}
listen=${LOGPIPE_SECANTUS_LISTEN:-127.0.0.1}
url_host=${LOGPIPE_SECANTUS_HOST:-127.0.0.1}

die() { echo "secantus.sh: $*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }
server_pid() { [ -s "$dir/secantusd.pid" ] && cat "$dir/secantusd.pid"; }
alive() { local pid; pid=$(server_pid) && kill -0 "$pid" 2>/dev/null; }

write_config() {
  mkdir -p "$dir/data"
  {
    echo "# written by scripts/secantus.sh for the private server $name"
    if [ -n "$tls_dir" ]; then
      echo "[tls]"
      echo "cert_file = \"$tls_dir/server.pem\""
      echo "key_file = \"$tls_dir/server-key.pem\""
      echo "ca_file = \"$tls_dir/ca.pem\""
      if [ "${LOGPIPE_SECANTUS_TLS_PEER:-optional}" = required ]; then echo "require_client_cert = true"; fi
    fi
  } > "$dir/secantusd.toml"
}

# Boots the server with the given extra flags and waits for its port; the configuration file is explicit, so no
# secantusd.toml of the working directory or of $HOME is read.
boot() {
  [ -x "$venv/bin/secantusd-py" ] || die "SecantusDB is not installed in $venv: run scripts/setup.sh --test"
  setsid "$venv/bin/secantusd-py" --config "$dir/secantusd.toml" --host "$listen" --port "$port" \
    --storage-path "$dir/data" --log-level WARNING "$@" >> "$dir/secantusd.log" 2>&1 < /dev/null &
  local pid=$! deadline=$((SECONDS + 60))
  echo "$pid" > "$dir/secantusd.pid"
  until port_open; do
    kill -0 "$pid" 2>/dev/null || { tail -n 30 "$dir/secantusd.log" >&2; die "the server failed to start (see $dir/secantusd.log)"; }
    [ $SECONDS -lt $deadline ] || { tail -n 30 "$dir/secantusd.log" >&2; die "the server did not open port $port within 60 s"; }
    sleep 0.1
  done
}

halt() {
  local signal=$1 pid
  pid=$(server_pid) || return 0
  kill "-$signal" "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 10))
  while kill -0 "$pid" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then kill -KILL "$pid" 2>/dev/null || true; fi
    sleep 0.05
  done
  rm -f "$dir/secantusd.pid"
}

# The two users, once per directory: created over a plain, unauthenticated boot (SecantusDB provisions users
# only without --auth), which is then stopped.
create_users() {
  [ -s "$dir/users.created" ] && return 0
  umask 077
  od -An -tx1 -N16 /dev/urandom | tr -d ' \n' > "$dir/app.password"
  od -An -tx1 -N16 /dev/urandom | tr -d ' \n' > "$dir/root.password"
  local tls_saved=$tls_dir
  tls_dir=""
  write_config
  boot
  /usr/bin/python3 "$root/scripts/secantus_users.py" "$port" "$dir"
  halt TERM
  tls_dir=$tls_saved
  date -u +%FT%TZ > "$dir/users.created"
}

start() {
  if alive && port_open; then echo "SecantusDB $name already running on 127.0.0.1:$port"; return 0; fi
  port_open && die "port $port is already taken by another process; set LOGPIPE_SECANTUS_PORT"
  mkdir -p "$dir"
  create_users
  write_config
  boot --auth --enable-test-commands
  echo "SecantusDB $name ready on 127.0.0.1:$port (an independent MongoDB-wire-protocol server, not MongoDB)"
}

# The URI of a user: with TLS the host is localhost (the name in the test certificates).
uri() {
  local user=$1 file=$2
  [ -s "$dir/$file" ] || die "no users yet in $dir: run scripts/secantus.sh start"
  local host=$url_host options="directConnection=true&authSource=admin"
  if [ -n "$tls_dir" ]; then host=localhost options="$options&tls=true&tlsCAFile=$tls_dir/ca.pem"; fi
  echo "mongodb://$user:$(cat "$dir/$file")@$host:$port/?$options"
}

case "${1:-}" in
  start) start ;;
  stop) alive && { halt TERM; echo "SecantusDB $name stopped"; } || echo "SecantusDB $name is not running" ;;
  kill) halt KILL; echo "SecantusDB $name killed" ;;
  status) alive && port_open ;;
  url) uri logpipe app.password ;;
  admin-url) uri logpipe-root root.password ;;
  wipe) halt KILL; rm -rf "$dir"; echo "SecantusDB $name wiped" ;;
  *) echo "usage: $0 start|stop|kill|status|url|admin-url|wipe" >&2; exit 2 ;;
esac
