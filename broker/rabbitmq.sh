#!/usr/bin/env bash
# Start, stop or inspect a private RabbitMQ node built from Debian's rabbitmq-server.
#
#   broker/rabbitmq.sh start     boot the node (if not running) and wait until it accepts AMQP
#   broker/rabbitmq.sh stop      stop it cleanly (rabbitmqctl stop), data kept
#   broker/rabbitmq.sh kill      SIGKILL the Erlang VM (a crash, for fault tests)
#   broker/rabbitmq.sh status    exit 0 when the node answers, 1 otherwise
#   broker/rabbitmq.sh url       print the amqp:// URL of the node
#   broker/rabbitmq.sh wipe      stop the node and delete its directory
#   broker/rabbitmq.sh ctl ...   run rabbitmqctl against the node (e.g. ctl list_queues name messages)
#
# The node listens on 127.0.0.1 only, with its own node name, ports and data directory, so it never
# touches a system RabbitMQ and several nodes (development, tests) can run side by side.
#
#   LOGPIPE_BROKER_NAME     node name prefix            (default: dev -> logpipe-dev@localhost)
#   LOGPIPE_BROKER_PORT     AMQP port                   (default: 5682); management = PORT+10000,
#                           Prometheus = PORT+10100, Erlang distribution = PORT+20000
#   LOGPIPE_BROKER_DIR      data, logs, config, cookie  (default: /tmp/logpipe-broker-NAME)
#   LOGPIPE_BROKER_COOKIE   Erlang cookie to use (the nodes of a cluster share one; broker/cluster.sh sets it)
#   LOGPIPE_BROKER_PLUGINS  "management" (UI + Prometheus, default) or "none" (boots faster); both enable the
#                           consistent-hash exchange (LOGPIPE_WORK_SHARDS)
#   LOGPIPE_BROKER_TLS_PORT a TLS (amqps) listener on this port too, with LOGPIPE_BROKER_TLS_DIR holding ca.pem,
#                           server.pem and server-key.pem (scripts/make-test-certs.sh writes such a directory);
#                           LOGPIPE_BROKER_TLS_PEER=required refuses clients without a certificate from that CA
#                           (fail_if_no_peer_cert), "optional" (default) checks one only when given
#   LOGPIPE_BROKER_LISTEN   the AMQP listener's address (default 127.0.0.1). The network-fault tests run the node
#                           inside a network namespace of their own (scripts/netfaults/netlab.py) with 0.0.0.0:
#                           there that is the namespace's loopback and the test's veth, nothing else
#   LOGPIPE_BROKER_HOST     the host `url` names (default 127.0.0.1; the namespace's veth address in those tests)
#   LOGPIPE_BROKER_DIST_SOURCE  a loopback address (127.0.0.2, ...) the node's outgoing Erlang distribution
#                           connections come from, so a test can cut one node of a cluster off from the others with
#                           packet filter rules on those addresses (broker/cluster.sh partition)
#   LOGPIPE_BROKER_NET_TICKTIME  Erlang's net_ticktime in seconds (RabbitMQ's default 60): a silent peer is declared
#                           down after 0.75 to 1.25 times it
#   LOGPIPE_BROKER_CONF_EXTRA    lines appended to the node's rabbitmq.conf (broker/cluster.sh: the partition handling)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
name=${LOGPIPE_BROKER_NAME:-dev}
port=${LOGPIPE_BROKER_PORT:-5682}
dir=${LOGPIPE_BROKER_DIR:-/tmp/logpipe-broker-$name}
listen=${LOGPIPE_BROKER_LISTEN:-127.0.0.1}
host=${LOGPIPE_BROKER_HOST:-127.0.0.1}
plugins=${LOGPIPE_BROKER_PLUGINS:-management}
node="logpipe-$name@localhost"
mgmt_port=$((port + 10000))
prom_port=$((port + 10100))
dist_port=$((port + 20000))
bin=/usr/lib/rabbitmq/bin

die() { echo "rabbitmq.sh: $*" >&2; exit 1; }

[ -x "$bin/rabbitmq-server" ] || die "rabbitmq-server is not installed (apt-get install -y rabbitmq-server)"

export HOME="$dir"
export RABBITMQ_NODENAME="$node"
export RABBITMQ_NODE_IP_ADDRESS="$listen"
export RABBITMQ_NODE_PORT="$port"
export RABBITMQ_DIST_PORT="$dist_port"
export RABBITMQ_MNESIA_BASE="$dir/mnesia"
export RABBITMQ_LOG_BASE="$dir/log"
export RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf"
export RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins"
export RABBITMQ_PID_FILE="$dir/rabbitmq.pid"
export RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf"
export RABBITMQ_ADVANCED_CONFIG_FILE="$dir/advanced.config"
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
export ERL_EPMD_ADDRESS=127.0.0.1

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }
beam_pid() { [ -s "$RABBITMQ_PID_FILE" ] && cat "$RABBITMQ_PID_FILE"; }
alive() { local pid; pid=$(beam_pid) && kill -0 "$pid" 2>/dev/null; }
ctl() { "$bin/rabbitmqctl" -n "$node" "$@"; }

write_config() {
  mkdir -p "$dir/log" "$dir/mnesia"
  if [ -n "${LOGPIPE_BROKER_COOKIE:-}" ]; then
    rm -f "$dir/.erlang.cookie"
    printf '%s' "$LOGPIPE_BROKER_COOKIE" > "$dir/.erlang.cookie"
    chmod 400 "$dir/.erlang.cookie"
  fi
  : > "$RABBITMQ_CONF_ENV_FILE"
  {
    cat "$here/rabbitmq.conf"
    echo
    echo "## appended by broker/rabbitmq.sh for the private node $node"
    echo "listeners.tcp.default = $listen:$port"
    # guest may log in only over loopback; a node in a test's own namespace is reached through the test's veth.
    if [ "$listen" = 127.0.0.1 ]; then echo "loopback_users.guest = true"; else echo "loopback_users.guest = false"; fi
    if [ -n "${LOGPIPE_BROKER_TLS_PORT:-}" ]; then
      local tls_dir=${LOGPIPE_BROKER_TLS_DIR:?LOGPIPE_BROKER_TLS_DIR must name the directory of ca.pem, server.pem, server-key.pem}
      echo "listeners.ssl.default = 127.0.0.1:$LOGPIPE_BROKER_TLS_PORT"
      echo "ssl_options.cacertfile = $tls_dir/ca.pem"
      echo "ssl_options.certfile = $tls_dir/server.pem"
      echo "ssl_options.keyfile = $tls_dir/server-key.pem"
      echo "ssl_options.verify = verify_peer"
      if [ "${LOGPIPE_BROKER_TLS_PEER:-optional}" = required ]; then
        echo "ssl_options.fail_if_no_peer_cert = true"
      else
        echo "ssl_options.fail_if_no_peer_cert = false"
      fi
    fi
    if [ "$plugins" != none ]; then
      echo "management.tcp.ip = 127.0.0.1"
      echo "management.tcp.port = $mgmt_port"
      echo "prometheus.tcp.ip = 127.0.0.1"
      echo "prometheus.tcp.port = $prom_port"
    fi
    if [ -n "${LOGPIPE_BROKER_CONF_EXTRA:-}" ]; then printf '%s\n' "$LOGPIPE_BROKER_CONF_EXTRA"; fi
  } > "$RABBITMQ_CONFIG_FILE"
  # Kernel settings of the Erlang VM, which rabbitmq.conf cannot hold.
  local kernel=()
  if [ -n "${LOGPIPE_BROKER_DIST_SOURCE:-}" ]; then
    local octets
    case "$LOGPIPE_BROKER_DIST_SOURCE" in
      127.*.*.*) octets=${LOGPIPE_BROKER_DIST_SOURCE//./,} ;;
      *) die "LOGPIPE_BROKER_DIST_SOURCE must be a loopback address (127.x.y.z)" ;;
    esac
    local octet
    for octet in ${octets//,/ }; do
      case "$octet" in *[!0-9]*) die "LOGPIPE_BROKER_DIST_SOURCE must be a loopback address (127.x.y.z)" ;; esac
      [ -n "$octet" ] || die "LOGPIPE_BROKER_DIST_SOURCE must be a loopback address (127.x.y.z)"
      [ "$octet" -le 255 ] || die "LOGPIPE_BROKER_DIST_SOURCE must be a loopback address (127.x.y.z)"
    done
    kernel+=("{inet_dist_connect_options, [{ip, {$octets}}]}")
  fi
  if [ -n "${LOGPIPE_BROKER_NET_TICKTIME:-}" ]; then
    case "$LOGPIPE_BROKER_NET_TICKTIME" in
      *[!0-9]*) die "LOGPIPE_BROKER_NET_TICKTIME must be a number of seconds" ;;
    esac
    [ "$LOGPIPE_BROKER_NET_TICKTIME" -ge 1 ] || die "LOGPIPE_BROKER_NET_TICKTIME must be at least 1 second"
    kernel+=("{net_ticktime, $LOGPIPE_BROKER_NET_TICKTIME}")
  fi
  if [ ${#kernel[@]} -gt 0 ]; then
    echo "[{kernel, [$(IFS=,; echo "${kernel[*]}")]}]." > "$RABBITMQ_ADVANCED_CONFIG_FILE"
  else
    echo "[]." > "$RABBITMQ_ADVANCED_CONFIG_FILE"
  fi
  if [ "$plugins" = none ]; then
    echo "[rabbitmq_consistent_hash_exchange]." > "$RABBITMQ_ENABLED_PLUGINS_FILE"
  else
    cp "$here/enabled_plugins" "$RABBITMQ_ENABLED_PLUGINS_FILE"
  fi
}

start() {
  if alive && port_open; then echo "$node already running on 127.0.0.1:$port"; return 0; fi
  port_open && die "port $port is already taken by another process; set LOGPIPE_BROKER_PORT"
  write_config
  rm -f "$RABBITMQ_PID_FILE"
  setsid "$bin/rabbitmq-server" > "$dir/log/console.log" 2>&1 < /dev/null &
  local launcher=$! deadline=$((SECONDS + 90))
  until port_open; do
    kill -0 "$launcher" 2>/dev/null || { tail -n 40 "$dir/log/console.log" >&2; die "$node failed to boot (see $dir/log)"; }
    [ $SECONDS -lt $deadline ] || { tail -n 40 "$dir/log/console.log" >&2; die "$node did not open port $port within 90 s"; }
    sleep 0.2
  done
  ctl await_startup --timeout 60 > /dev/null || die "$node did not finish booting (see $dir/log)"
  echo "$node ready: amqp://guest:guest@127.0.0.1:$port/  management: http://127.0.0.1:$mgmt_port/ (guest/guest)"
}

stop() {
  alive || { echo "$node is not running"; return 0; }
  local pid; pid=$(beam_pid)
  ctl stop "$RABBITMQ_PID_FILE" > /dev/null 2>&1 || kill -9 "$pid" 2>/dev/null || true
  echo "$node stopped"
}

crash() {
  local pid; pid=$(beam_pid) || { echo "$node is not running"; return 0; }
  kill -9 "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 10))
  while kill -0 "$pid" 2>/dev/null; do [ $SECONDS -lt $deadline ] || die "VM $pid survived SIGKILL"; sleep 0.05; done
  echo "$node killed"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  kill) crash ;;
  status) alive && port_open ;;
  url) echo "amqp://guest:guest@$host:$port/" ;;
  wipe) crash > /dev/null; rm -rf "$dir"; echo "$node wiped" ;;
  ctl) shift; ctl "$@" ;;
  *) echo "usage: $0 start|stop|kill|status|url|wipe|ctl <rabbitmqctl arguments>" >&2; exit 2 ;;
esac
