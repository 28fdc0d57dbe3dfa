#!/usr/bin/env bash
# A private Docker engine for the compose test: Debian's dockerd (docker.io), as root, with its own data root,
# exec root and socket, so it never shares state with a system engine.
#
#   scripts/compose/engine.sh start    start it (or reuse it when it is already running: it is ours) and wait
#                                      until it answers; exit 1 naming the other engine if a dockerd that is not
#                                      ours runs (two engines fight over the docker0 bridge)
#   scripts/compose/engine.sh stop     stop it (SIGTERM: it stops its containers first), wait until it is gone
#   scripts/compose/engine.sh status   exit 0 when it answers
#   scripts/compose/engine.sh host     print its DOCKER_HOST (unix://…)
#
#   LOGPIPE_DOCKER_DIR   its directory (default /var/lib/logpipe-docker): data/ (images, volumes; kept between
#                        runs so the stand-in images and the build cache are reused), exec/, docker.sock,
#                        dockerd.pid, dockerd.log
#
# Use it by hand: export DOCKER_HOST=$(bash scripts/compose/engine.sh host); /usr/bin/docker images
set -euo pipefail

dir=${LOGPIPE_DOCKER_DIR:-/var/lib/logpipe-docker}
socket="$dir/docker.sock"
pidfile="$dir/dockerd.pid"
log="$dir/dockerd.log"
export DOCKER_HOST="unix://$socket"

die() { echo "engine.sh: $*" >&2; exit 1; }
# Debian's client (docker.io), the engine's own version; /usr/local/bin/docker, where a machine has one, may
# be another client.
docker() { /usr/bin/docker "$@"; }

our_pid() { [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2> /dev/null && cat "$pidfile"; }
answers() { docker version --format '{{.Server.Version}}' > /dev/null 2>&1; }

# Every dockerd on the machine that is not ours.
foreign_engines() {
  local ours="" pid
  ours=$(our_pid || true)
  for pid in $(pgrep -x dockerd || true); do
    [ "$pid" = "$ours" ] || echo "$pid"
  done
}

start() {
  [ "$(id -u)" -eq 0 ] || die "the private engine runs as root"
  [ -x /usr/sbin/dockerd ] || die "dockerd is not installed (scripts/setup.sh installs docker.io)"
  local others
  others=$(foreign_engines)
  if [ -n "$others" ]; then
    for pid in $others; do echo "engine.sh: a Docker engine that is not this script's runs: pid $pid: $(tr '\0' ' ' < "/proc/$pid/cmdline")" >&2; done
    die "two engines on one machine fight over the docker0 bridge and iptables; stop that one first (this script never touches it)"
  fi
  if our_pid > /dev/null && answers; then
    echo "engine.sh: the private engine is already running (pid $(our_pid)), DOCKER_HOST=$DOCKER_HOST"
    return 0
  fi
  mkdir -p "$dir/data" "$dir/exec"
  rm -f "$socket" "$pidfile"
  setsid /usr/sbin/dockerd --data-root "$dir/data" --exec-root "$dir/exec" -H "unix://$socket" --pidfile "$pidfile" \
    > "$log" 2>&1 < /dev/null &
  local launcher=$! deadline=$((SECONDS + 60))
  until answers; do
    if ! kill -0 "$launcher" 2> /dev/null; then
      tail -n 30 "$log" >&2
      die "dockerd exited while starting (log above, $log)"
    fi
    [ $SECONDS -lt $deadline ] || { tail -n 30 "$log" >&2; die "dockerd did not answer within 60 s ($log)"; }
    sleep 0.2
  done
  echo "engine.sh: private engine $(docker version --format '{{.Server.Version}}') started (pid $(cat "$pidfile")), DOCKER_HOST=$DOCKER_HOST"
}

stop() {
  local pid
  pid=$(our_pid) || { echo "engine.sh: the private engine is not running"; return 0; }
  kill -TERM "$pid"
  local deadline=$((SECONDS + 60))
  while kill -0 "$pid" 2> /dev/null; do
    if [ $SECONDS -ge $deadline ]; then
      echo "engine.sh: dockerd $pid still running 60 s after SIGTERM; SIGKILL" >&2
      kill -KILL "$pid" 2> /dev/null || true
      break
    fi
    sleep 0.2
  done
  rm -f "$pidfile"
  echo "engine.sh: private engine stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) our_pid > /dev/null && answers ;;
  host) echo "$DOCKER_HOST" ;;
  *) echo "usage: $0 start|stop|status|host" >&2; exit 2 ;;
esac
