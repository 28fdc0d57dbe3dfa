#!/usr/bin/env bash
# A RabbitMQ cluster of private nodes on loopback, for development and the cluster tests (built on
# broker/rabbitmq.sh: each node has its own name, ports and directory; they share an Erlang cookie).
#
#   broker/cluster.sh start [N]      boot N nodes (default 3, or the cluster's size), join them, print the URL list
#   broker/cluster.sh stop           stop every node cleanly (rabbitmqctl stop), data kept
#   broker/cluster.sh kill NODE      SIGKILL node NODE (1..N): a crash
#   broker/cluster.sh stop-node NODE stop node NODE cleanly
#   broker/cluster.sh start-node NODE boot node NODE again (it rejoins the cluster)
#   broker/cluster.sh status [N]     the nodes running and the cluster's view (exit 1 when a node is down)
#   broker/cluster.sh urls [N]       the amqp:// URL list, comma-separated (for LOGPIPE_AMQP_URL)
#   broker/cluster.sh leader QUEUE   the number of the node that leads a quorum queue
#   broker/cluster.sh ctl NODE ...   rabbitmqctl against node NODE
#   broker/cluster.sh partition NODE cut node NODE off from the other nodes (their Erlang distribution traffic is
#                                    dropped, no reset, no FIN) while clients still reach every node (needs root)
#   broker/cluster.sh heal           remove the cut
#   broker/cluster.sh wipe           kill every node, remove any cut and delete their directories
#
#   LOGPIPE_CLUSTER_NAME   node name prefix (default: cluster -> logpipe-cluster-1@localhost, ...)
#   LOGPIPE_CLUSTER_PORT   AMQP port of node 1 (default 5800); node k listens on PORT+k-1, management on +10000
#   LOGPIPE_BROKER_PLUGINS as for rabbitmq.sh ("management" by default; "none" boots faster)
#   LOGPIPE_CLUSTER_NET_TICKTIME  Erlang's net_ticktime of every node (default 60, RabbitMQ's): how soon a cut
#                          node is noticed; the cluster test uses 8
#
# Clusters of three nodes or more handle a partition with pause_minority: a node that sees fewer than half
# of the cluster pauses (closes its client connections and listeners) until it sees a majority again, so
# clients move to the majority. Node k's outgoing distribution connections come from 127.0.0.(k+1) (rabbitmq.sh
# LOGPIPE_BROKER_DIST_SOURCE), which is what `partition` filters on.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
name=${LOGPIPE_CLUSTER_NAME:-cluster}
base=${LOGPIPE_CLUSTER_PORT:-5800}
state="/tmp/logpipe-$name.size"

die() { echo "cluster.sh: $*" >&2; exit 1; }
size() { if [ -s "$state" ]; then cat "$state"; else echo "${1:-3}"; fi; }
node_port() { echo $((base + $1 - 1)); }
node_name() { echo "logpipe-$name-$1@localhost"; }
cookie_file="/tmp/logpipe-$name.cookie"
make_cookie() {
  # One cookie per cluster, kept beside the size file (the nodes and rabbitmqctl read it from each node's HOME).
  # Made once, before the nodes boot in parallel.
  [ -s "$cookie_file" ] || (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$cookie_file.tmp" && mv "$cookie_file.tmp" "$cookie_file")
}
cookie() { cat "$cookie_file" 2>/dev/null || true; }
# pause_minority from three nodes up: in a cluster of two, the node left after the other stops would pause too.
partition_handling() { if [ "$(size)" -ge 3 ]; then echo "cluster_partition_handling = pause_minority"; fi; }
node() {
  local k=$1; shift
  LOGPIPE_BROKER_NAME="$name-$k" LOGPIPE_BROKER_PORT=$(node_port "$k") LOGPIPE_BROKER_COOKIE=$(cookie) \
    LOGPIPE_BROKER_DIST_SOURCE="127.0.0.$((k + 1))" LOGPIPE_BROKER_NET_TICKTIME="${LOGPIPE_CLUSTER_NET_TICKTIME:-}" \
    LOGPIPE_BROKER_CONF_EXTRA="$(partition_handling)" \
    bash "$here/rabbitmq.sh" "$@"
}
# The cut lives in a chain of its own, jumped to from INPUT: removing it removes every rule of the cut.
chain="LP-$name"
heal() {
  iptables -w -D INPUT -i lo -j "$chain" 2>/dev/null || true
  iptables -w -F "$chain" 2>/dev/null || true
  iptables -w -X "$chain" 2>/dev/null || true
}
partition() {
  local cut=$1 n; n=$(size)
  command -v iptables > /dev/null || die "partition needs iptables (apt-get install -y iptables) and root"
  heal
  iptables -w -N "$chain"
  iptables -w -I INPUT -i lo -j "$chain"
  local cut_source="127.0.0.$((cut + 1))" cut_dist=$(($(node_port "$cut") + 20000))
  for k in $(seq 1 "$n"); do
    [ "$k" = "$cut" ] && continue
    local source="127.0.0.$((k + 1))" dist=$(($(node_port "$k") + 20000))
    # The cut node's connections to node k, both ways; node k's connections to the cut node, both ways.
    iptables -w -A "$chain" -p tcp -s "$cut_source" --dport "$dist" -j DROP
    iptables -w -A "$chain" -p tcp -d "$cut_source" --sport "$dist" -j DROP
    iptables -w -A "$chain" -p tcp -s "$source" --dport "$cut_dist" -j DROP
    iptables -w -A "$chain" -p tcp -d "$source" --sport "$cut_dist" -j DROP
  done
}
check_node() { [[ "$1" =~ ^[0-9]+$ ]] && [ "$1" -ge 1 ] && [ "$1" -le "$(size)" ] || die "no node $1 (nodes are 1 to $(size))"; }
urls() {
  local n; n=$(size "${1:-}"); local list=""
  for k in $(seq 1 "$n"); do list+="${list:+,}amqp://guest:guest@127.0.0.1:$(node_port "$k")/"; done
  echo "$list"
}

start() {
  local n; n=$(size "${1:-}")
  [ "$n" -ge 1 ] || die "a cluster needs at least one node"
  echo "$n" > "$state"
  make_cookie
  # Boot every node at once (each takes seconds), then join nodes 2..N to node 1 if they are not members yet.
  local pids=()
  for k in $(seq 1 "$n"); do node "$k" start > "/tmp/logpipe-$name-$k.start.log" 2>&1 & pids+=($!); done
  local failed=0
  for k in $(seq 1 "$n"); do wait "${pids[$((k - 1))]}" || { cat "/tmp/logpipe-$name-$k.start.log" >&2; failed=1; }; done
  [ "$failed" = 0 ] || die "a node failed to boot"
  local first; first=$(node_name 1)
  for k in $(seq 2 "$n"); do
    if ! node "$k" ctl cluster_status --formatter json 2>/dev/null | grep -q "\"$first\""; then
      node "$k" ctl stop_app > /dev/null
      node "$k" ctl reset > /dev/null
      node "$k" ctl join_cluster "$first" > /dev/null
      node "$k" ctl start_app > /dev/null
    fi
  done
  node 1 ctl await_online_nodes "$n" --timeout 60 > /dev/null 2>&1 || true
  echo "cluster $name: $n nodes running"
  urls
}

case "${1:-}" in
  start) start "${2:-}" ;;
  stop) for k in $(seq 1 "$(size)"); do node "$k" stop; done ;;
  kill) [ -n "${2:-}" ] || die "usage: $0 kill NODE"; check_node "$2"; node "$2" kill ;;
  stop-node) [ -n "${2:-}" ] || die "usage: $0 stop-node NODE"; check_node "$2"; node "$2" stop ;;
  start-node) [ -n "${2:-}" ] || die "usage: $0 start-node NODE"; check_node "$2"; node "$2" start ;;
  status)
    down=0
    for k in $(seq 1 "$(size "${2:-}")"); do
      if node "$k" status; then echo "node $k $(node_name "$k") running on 127.0.0.1:$(node_port "$k")"; else echo "node $k $(node_name "$k") down"; down=1; fi
    done
    exit $down ;;
  urls) urls "${2:-}" ;;
  leader)
    [ -n "${2:-}" ] || die "usage: $0 leader QUEUE"
    for k in $(seq 1 "$(size)"); do
      if node "$k" status; then
        leader=$(node "$k" ctl list_queues name leader --quiet --no-table-headers 2>/dev/null | awk -v q="$2" '$1 == q { print $2 }')
        [ -n "$leader" ] || die "no quorum queue $2"
        for j in $(seq 1 "$(size)"); do [ "$leader" = "$(node_name "$j")" ] && { echo "$j"; exit 0; }; done
        die "queue $2 is led by $leader, not a node of this cluster"
      fi
    done
    die "no node is running" ;;
  ctl) [ -n "${2:-}" ] || die "usage: $0 ctl NODE arguments"; check_node "$2"; k=$2; shift 2; node "$k" ctl "$@" ;;
  partition) [ -n "${2:-}" ] || die "usage: $0 partition NODE"; check_node "$2"; partition "$2" ;;
  heal) heal ;;
  wipe)
    heal
    for k in $(seq 1 "$(size)"); do node "$k" wipe; done
    rm -f "$state" "$cookie_file" ;;
  *) echo "usage: $0 start [N]|stop|kill NODE|stop-node NODE|start-node NODE|status [N]|urls [N]|leader QUEUE|ctl NODE ...|partition NODE|heal|wipe" >&2; exit 2 ;;
esac
